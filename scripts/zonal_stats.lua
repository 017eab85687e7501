-- zonal_stats.lua: statistics of a raster within polygons (zonal
-- statistics): the number of pixels, mean, minimum and maximum of the
-- values under each zone, as CSV on standard output.
--
--   ./rios-lua scripts/zonal_stats.lua values.tif zones.gpkg ATTRIBUTE
--
-- zones is any vector GDAL reads (or a raster of zone numbers); the vector
-- is burned onto the values' grid with each polygon's ATTRIBUTE (a whole
-- number >= 1; 0 is "no zone"). Shows a vector input, sums gathered in
-- otherargs, and controls.merge_otherargs: run with compute workers
-- (-j N), each worker sums into its own copy of otherargs, and the merge
-- adds the copies up, so the CSV is the same at any scale.
local rios = require("rios")

local values_file, zones_file, attribute = arg[1], arg[2], arg[3]
if not zones_file then
  io.stderr:write("usage: rios-lua scripts/zonal_stats.lua values.tif zones.gpkg ATTRIBUTE\n")
  os.exit(1)
end

-- acc[zone] = { n, sum, min, max }
local function gather(info, inputs, outputs, acc)
  local v, z = inputs.values, inputs.zones
  local vd, zd = v.data, z.data
  local nodata = info:nodata_for(v, 1)
  for i = 0, v.rows * v.cols - 1 do
    local zone, x = zd[i], vd[i]
    if zone ~= 0 and x ~= nodata then
      local s = acc[zone]
      if not s then
        s = { 0, 0, x, x }
        acc[zone] = s
      end
      s[1], s[2] = s[1] + 1, s[2] + x
      if x < s[3] then s[3] = x end
      if x > s[4] then s[4] = x end
    end
  end
end

local acc = {}
rios.apply(gather, { values = values_file, zones = zones_file }, {}, acc, {
  vector_datatype = "int32",
  burn_attribute = attribute,
  merge_otherargs = function(into, from)
    for zone, s in pairs(from) do
      local t = into[zone]
      if not t then
        into[zone] = { s[1], s[2], s[3], s[4] }
      else
        t[1], t[2] = t[1] + s[1], t[2] + s[2]
        t[3], t[4] = math.min(t[3], s[3]), math.max(t[4], s[4])
      end
    end
  end,
})

local zones = {}
for zone in pairs(acc) do zones[#zones + 1] = zone end
table.sort(zones)
print("zone,pixels,mean,min,max")
for _, zone in ipairs(zones) do
  local s = acc[zone]
  print(string.format("%d,%d,%.6f,%.17g,%.17g", zone, s[1], s[2] / s[1], s[3], s[4]))
end
