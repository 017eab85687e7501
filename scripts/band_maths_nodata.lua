-- band_maths_nodata.lua: the difference of two rasters, b - a, where a pixel
-- that is nodata in either input is nodata (-9999) in the output.
--
--   ./rios-lua scripts/band_maths_nodata.lua a.tif b.tif diff.tif
--
-- Shows info:nodata_for (each input's own nodata value), a float32 output
-- with its nodata set through controls.stats_ignore, so statistics and
-- histogram leave those pixels out and GDAL and QGIS show them as empty.
local rios = require("rios")

local a_file, b_file, out_file = arg[1], arg[2], arg[3]
if not out_file then
  io.stderr:write("usage: rios-lua scripts/band_maths_nodata.lua a.tif b.tif diff.tif\n")
  os.exit(1)
end

local OUT_NODATA = -9999

local function difference(info, inputs, outputs)
  local a, b = inputs.a, inputs.b
  -- nil when the file has no nodata: then no value is skipped
  local a_nd, b_nd = info:nodata_for(a, 1), info:nodata_for(b, 1)
  local out = a:like("float32", 1)
  local ad, bd, od = a.data, b.data, out.data
  for i = 0, a.rows * a.cols - 1 do
    local x, y = ad[i], bd[i]
    if x == a_nd or y == b_nd then
      od[i] = OUT_NODATA
    else
      od[i] = y - x
    end
  end
  outputs.diff = out
end

rios.apply(difference, { a = a_file, b = b_file }, { diff = out_file }, nil,
           { stats_ignore = OUT_NODATA })
print("wrote " .. out_file)
