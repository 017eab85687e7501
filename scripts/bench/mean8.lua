-- Bench case: the mean of a list of int16 rasters into float32, with the
-- array library (add in place, then one scaled copy).
-- rios-lua mean8.lua out.tif in1.tif in2.tif ...
local rios = require("rios")

local function mean(_, inputs, outputs)
  local list = inputs.imgs
  local acc = list[1]:astype("float32")
  for i = 2, #list do acc:add(list[i], acc) end
  outputs.out = acc:mul(1 / #list, acc)
end

local files = {}
for i = 2, #arg do files[#files + 1] = arg[i] end
rios.apply(mean, { imgs = files }, { out = arg[1] }, nil,
           { omit_pyramids = true, omit_basic_stats = true, omit_histogram = true,
             progress = false })
