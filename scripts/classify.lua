-- classify.lua: a per-pixel decision tree on red and near-infrared bands
-- into a thematic map of classes:
--   1 water      (nir below red)
--   2 bare       (NDVI below 0.2)
--   3 sparse     (NDVI below 0.5)
--   4 dense      (the rest)
-- and 0 where either input is 0 (no data).
--
--   ./rios-lua scripts/classify.lua red.tif nir.tif classes.tif
--
-- Shows a thematic output: controls.thematic (LAYER_TYPE=thematic, one
-- histogram bin per class, nearest-neighbour overviews), layer_names, and
-- 0 as the output's nodata through stats_ignore.
local rios = require("rios")

local red_file, nir_file, out_file = arg[1], arg[2], arg[3]
if not out_file then
  io.stderr:write("usage: rios-lua scripts/classify.lua red.tif nir.tif classes.tif\n")
  os.exit(1)
end

local function classify(info, inputs, outputs)
  local red, nir = inputs.red, inputs.nir
  local out = red:like("uint8", 1)
  local r, n, o = red.data, nir.data, out.data
  for i = 0, red.rows * red.cols - 1 do
    local x, y = r[i], n[i]
    local class
    if x == 0 or y == 0 then
      class = 0
    elseif y < x then
      class = 1
    else
      local ndvi = (y - x) / (y + x)
      if ndvi < 0.2 then
        class = 2
      elseif ndvi < 0.5 then
        class = 3
      else
        class = 4
      end
    end
    o[i] = class
  end
  outputs.classes = out
end

rios.apply(classify, { red = red_file, nir = nir_file }, { classes = out_file }, nil,
           { thematic = true, layer_names = { "class" }, stats_ignore = 0 })
print("wrote " .. out_file)
