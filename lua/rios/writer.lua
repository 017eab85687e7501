-- rios.writer: the one writer of a run's outputs. Whoever computed a block
-- (the main thread, or compute workers of any kind through the compute
-- buffer), its outputs reach the files here, in block order, from the main
-- thread: each file is created at its first block (dtype and bands from
-- that block's array), every later block is checked against it, written
-- from the array's own memory with statistics and overviews gathered on the
-- way, and the progress line steps.
local base = require("rios.base")
local files = require("rios.files")
local outputs = require("rios.outputs")
local C = base.C

local Writer = {}
Writer.__index = Writer

local M = {}

-- run: outs, grid, controls, where, info, err, progress.
function M.new(run)
  -- what a signal's line says of the run, until the writer says more
  if run.info then C.rios_ffi_run_progress(0, run.info.nx * run.info.ny, run.info.nx) end
  return setmetatable({ run = run, written = 0 }, Writer)
end

-- Write block b's outputs: arrays[j] for run.outs[j] (checked by the block
-- loop for shape). Raises a user error naming the output and block.
function Writer:write(b, arrays)
  local run = self.run
  local where, ov, err = run.where, run.info.ov, run.err
  for j, rec in ipairs(run.outs) do
    local arr = arrays[j]
    if rec.handle == nil then
      outputs.create(rec, arr, run.grid, where, run.controls)
    else
      outputs.check_same(rec, arr, where, run.info:label())
    end
    local ok, msg = outputs.write(rec, arr, b, ov, err)
    if not ok then
      base.raise(where, "output '" .. files.label(rec) .. "': " .. msg .. " in block "
                 .. run.info:label())
    end
  end
  self.written = self.written + 1
  C.rios_ffi_run_progress(self.written, run.info.nx * run.info.ny, run.info.nx)
  if run.progress then run.progress:step() end
end

return M
