-- filter3x3.lua: a 3x3 mean filter (each pixel becomes the mean of itself
-- and its eight neighbours), as float32.
--
--   ./rios-lua scripts/filter3x3.lua in.tif smooth.tif
--
-- Shows controls.overlap: with an overlap of 1 every input array carries one
-- extra pixel on each side (outside the raster: the input's nodata, else 0),
-- so a neighbourhood never stops at a block's edge. The output array has the
-- same margin; only its centre is written. Nodata pixels are averaged like
-- any other (this script is also the 3x3 bench case); see
-- scripts/band_maths_nodata.lua for masking them.
local rios = require("rios")

local in_file, out_file = arg[1], arg[2]
if not out_file then
  io.stderr:write("usage: rios-lua scripts/filter3x3.lua in.tif smooth.tif\n")
  os.exit(1)
end

local function smooth(info, inputs, outputs)
  local img = inputs.img
  local rows, cols = img.rows, img.cols      -- the block plus 1 on each side
  local out = img:like("float32", 1)
  local s, o = img.data, out.data
  for r = 1, rows - 2 do
    for c = 1, cols - 2 do
      local sum = 0
      for dr = -1, 1 do
        local row = (r + dr) * cols + c
        sum = sum + s[row - 1] + s[row] + s[row + 1]
      end
      o[r * cols + c] = sum / 9
    end
  end
  outputs.smooth = out
end

rios.apply(smooth, { img = in_file }, { smooth = out_file }, nil, { overlap = 1 })
print("wrote " .. out_file)
