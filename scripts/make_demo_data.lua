-- make_demo_data.lua: write a small red/NIR GeoTIFF pair to try rios-lua on.
--
--   ./rios-lua scripts/make_demo_data.lua [folder]      (default: demo)
--
-- Makes FOLDER/red.tif and FOLDER/nir.tif: 1000 x 800 uint16 pixels of a
-- made-up scene (vegetation brightening to the east, a river across it),
-- 30 m pixels in UTM zone 55 south. Shows rios.array and rios.write.
local rios = require("rios")

local dir = arg[1] or "demo"
local cols, rows = 1000, 800
assert(os.execute("mkdir -p '" .. dir .. "'") == 0, "cannot make folder " .. dir)

local red = rios.array("uint16", 1, rows, cols)
local nir = red:like()
local rd, nd = red.data, nir.data
for r = 0, rows - 1 do
  local river = math.abs(r - (rows / 2 + 120 * math.sin(r / 90))) < 12
  for c = 0, cols - 1 do
    local i = r * cols + c
    local veg = c / cols                      -- 0 at the west, 1 at the east
    local noise = (r * 7919 + c * 104729) % 97
    if river then
      rd[i], nd[i] = 300 + noise, 150 + noise
    else
      rd[i] = math.floor(1400 - 900 * veg + noise)
      nd[i] = math.floor(1800 + 2600 * veg + noise)
    end
  end
end

local opts = { transform = { 500000, 30, 0, 7000000, 0, -30 }, projection = "EPSG:32755" }
rios.write(dir .. "/red.tif", red, opts)
rios.write(dir .. "/nir.tif", nir, opts)
print("wrote " .. dir .. "/red.tif and " .. dir .. "/nir.tif")
