-- mean_of_files.lua: the per-pixel mean of any number of single-band
-- rasters, as float32.
--
--   ./rios-lua scripts/mean_of_files.lua mean.tif in1.tif in2.tif [in3.tif ...]
--
-- Shows a list of inputs under one name: inputs.imgs is a Lua list of
-- arrays, one per file, in the order given. Every pixel counts, nodata
-- too (this script is also the 8-file bench case); to skip nodata use
-- rios.reduce(inputs.imgs, "mean", { nodata = ... }) as README shows.
local rios = require("rios")

local out_file = arg[1]
local files = { select(2, ...) }
if not out_file or #files == 0 then
  io.stderr:write("usage: rios-lua scripts/mean_of_files.lua mean.tif in1.tif [in2.tif ...]\n")
  os.exit(1)
end

local function mean(info, inputs, outputs)
  local imgs = inputs.imgs
  local out = imgs[1]:like("float32", 1)
  local od, n = out.data, out.rows * out.cols
  for k = 1, #imgs do
    local d = imgs[k].data
    for i = 0, n - 1 do od[i] = od[i] + d[i] end
  end
  local scale = 1 / #imgs
  for i = 0, n - 1 do od[i] = od[i] * scale end
  outputs.mean = out
end

rios.apply(mean, { imgs = files }, { mean = out_file })
print("wrote " .. out_file .. " from " .. #files .. " files")
