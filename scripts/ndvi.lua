-- ndvi.lua: the normalised difference vegetation index of a red and a
-- near-infrared raster, (nir - red) / (nir + red), as float32.
--
--   ./rios-lua scripts/ndvi.lua red.tif nir.tif ndvi.tif
--
-- Shows the smallest complete rios-lua job: name the files, write a block
-- function with a plain loop over `data`, and print the timing report.
local rios = require("rios")

local red_file, nir_file, out_file = arg[1], arg[2], arg[3]
if not out_file then
  io.stderr:write("usage: rios-lua scripts/ndvi.lua red.tif nir.tif ndvi.tif\n")
  os.exit(1)
end

local function ndvi(info, inputs, outputs)
  local red, nir = inputs.red, inputs.nir
  local out = red:like("float32")
  local r, n, o = red.data, nir.data, out.data
  for i = 0, red.rows * red.cols - 1 do
    local sum = n[i] + r[i]
    o[i] = sum == 0 and 0 or (n[i] - r[i]) / sum
  end
  outputs.ndvi = out
end

local result = rios.apply(ndvi, { red = red_file, nir = nir_file }, { ndvi = out_file })
print("wrote " .. out_file)
print(result.timings:report())
