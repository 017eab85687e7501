-- whole_stats.lua: a statistic of the whole raster, then a second pass that
-- uses it: the raster's mean, and each pixel's difference from it.
--
--   ./rios-lua scripts/whole_stats.lua in.tif anomaly.tif
--
-- Shows otherargs: a table handed to every block, which keeps what the block
-- function puts in it. The first pass only reads (no outputs) and sums into
-- otherargs; the second reads the mean from its own otherargs. Run with
-- compute workers (-j N), each worker sums into its own copy of otherargs:
-- controls.merge_otherargs adds the copies into the caller's table, so the
-- script prints the same at any scale.
local rios = require("rios")

local in_file, out_file = arg[1], arg[2]
if not out_file then
  io.stderr:write("usage: rios-lua scripts/whole_stats.lua in.tif anomaly.tif\n")
  os.exit(1)
end

local function accumulate(info, inputs, outputs, acc)
  local img = inputs.img
  local d, sum, count = img.data, acc.sum, acc.count
  local nodata = info:nodata_for(img, 1)
  for i = 0, img.rows * img.cols - 1 do
    local v = d[i]
    if v ~= nodata then
      sum = sum + v
      count = count + 1
    end
  end
  acc.sum, acc.count = sum, count
end

local acc = { sum = 0, count = 0 }
rios.apply(accumulate, { img = in_file }, {}, acc, {
  merge_otherargs = function(into, from)
    into.sum, into.count = into.sum + from.sum, into.count + from.count
  end,
})
local mean = acc.sum / acc.count
print(string.format("mean of %d pixels: %.6f", acc.count, mean))

local function anomaly(info, inputs, outputs, other)
  local img = inputs.img
  local out = img:like("float32", 1)
  local d, o, m = img.data, out.data, other.mean
  for i = 0, img.rows * img.cols - 1 do o[i] = d[i] - m end
  outputs.anomaly = out
end

rios.apply(anomaly, { img = in_file }, { anomaly = out_file }, { mean = mean })
print("wrote " .. out_file)
