-- Bench case: the computation of rasterio's concurrency example, as a plain
-- Lua block function: every value goes through 2000 dependent float
-- additions and the rows of each 128x128 block are reversed.
-- rios-lua rasterio_example.lua in.tif out.tif
local rios = require("rios")

local function compute(_, inputs, outputs)
  local a = inputs.img
  local out = a:like()
  local src, dst = a.data, out.data
  local rows, cols = a.rows, a.cols
  for b = 0, a.bands - 1 do
    for r = 0, rows - 1 do
      local si = (b * rows + r) * cols
      local di = (b * rows + rows - 1 - r) * cols
      for c = 0, cols - 1 do
        local val = src[si + c]
        for _ = 1, 2000 do val = val + 1.0 end
        dst[di + c] = val - 2000.0
      end
    end
  end
  outputs.out = out
end

rios.apply(compute, { img = arg[1] }, { out = arg[2] }, nil,
           { window_xsize = 128, window_ysize = 128, omit_pyramids = true,
             omit_basic_stats = true, omit_histogram = true, progress = false })
