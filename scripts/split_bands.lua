-- split_bands.lua: write each band of a raster to a file of its own,
-- PREFIX_1.tif, PREFIX_2.tif, ...
--
--   ./rios-lua scripts/split_bands.lua in.tif PREFIX
--
-- Shows a list of outputs under one name (outputs.bands is a list of
-- arrays, one per file), and rios.open to learn the band count first.
local rios = require("rios")

local in_file, prefix = arg[1], arg[2]
if not prefix then
  io.stderr:write("usage: rios-lua scripts/split_bands.lua in.tif PREFIX\n")
  os.exit(1)
end

local r = rios.open(in_file)
local nbands = r.bands
r:close()

local out_files = {}
for b = 1, nbands do out_files[b] = prefix .. "_" .. b .. ".tif" end

local function split(info, inputs, outputs)
  local img = inputs.img
  local n = img.rows * img.cols
  local list = {}
  for b = 1, nbands do
    local one = img:like(img.dtype, 1)
    local src, dst = img.data, one.data
    local first = (b - 1) * n
    for i = 0, n - 1 do dst[i] = src[first + i] end
    list[b] = one
  end
  outputs.bands = list
end

rios.apply(split, { img = in_file }, { bands = out_files })
print("wrote " .. table.concat(out_files, " "))
