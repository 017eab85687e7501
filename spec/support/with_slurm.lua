-- spec/support/with_slurm.lua: run one command against a private
-- single-node SLURM on this machine (the one the specs use, see slurm.lua),
-- to try the slurm kind without a cluster. As root, with Debian's slurm-wlm
-- and munge installed (make deps):
--
--   ./rios-lua spec/support/with_slurm.lua ./rios-lua --kind slurm -j 2 \
--       scripts/ndvi.lua red.tif nir.tif ndvi.tif
--
-- The cluster is started, the command runs with SLURM_CONF naming it (so
-- sbatch, squeue and rios-lua's slurm kind reach it and no other), and the
-- cluster is stopped and its folder removed whatever the command did. Exits
-- with the command's status.
local spec_dir = (arg[0]:match("^(.*)/support/[^/]*$") or "spec")
package.path = spec_dir .. "/?.lua;" .. package.path
local H = require("support.helpers")
local slurm = require("support.slurm")

if #arg == 0 then
  io.stderr:write("usage: rios-lua spec/support/with_slurm.lua command [args ...]\n")
  os.exit(2)
end
local words = {}
for i = 1, #arg do words[i] = H.q(arg[i]) end
local ok, prefix = pcall(slurm.env_prefix)
if not ok then
  io.stderr:write("with_slurm: " .. tostring(prefix) .. "\n")
  os.exit(1)
end
local done, how, code = os.execute(prefix .. table.concat(words, " "))
slurm.stop()
local status
if type(done) == "number" then status = done / 256 else status = code or 1 end
if how == "signal" then status = 128 + (code or 0) end
os.exit(status, true)   -- (closing the state frees what cjson holds)
