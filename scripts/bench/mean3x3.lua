-- Bench case: 3x3 mean with an overlap of 1 on a float32 raster.
-- rios-lua mean3x3.lua in.tif out.tif
local rios = require("rios")

local function mean3x3(_, inputs, outputs)
  local a = inputs.img
  local out = a:like()
  local src, dst = a.data, out.data
  local rows, cols = a.rows, a.cols
  for r = 1, rows - 2 do
    local up, mid, down = (r - 1) * cols, r * cols, (r + 1) * cols
    for c = 1, cols - 2 do
      local s = src[up + c - 1] + src[up + c] + src[up + c + 1]
              + src[mid + c - 1] + src[mid + c] + src[mid + c + 1]
              + src[down + c - 1] + src[down + c] + src[down + c + 1]
      dst[mid + c] = s / 9
    end
  end
  outputs.out = out
end

rios.apply(mean3x3, { img = arg[1] }, { out = arg[2] }, nil,
           { overlap = 1, omit_pyramids = true, omit_basic_stats = true,
             omit_histogram = true, progress = false })
