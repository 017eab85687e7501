-- spec/support/cases.lua: what the concurrency specs of every kind of
-- worker share: running rios-lua, the matrix script and its inputs, and
-- reading its outputs back.
local H = require("support.helpers")

local M = {}

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
M.slurp = slurp

-- Run rios-lua with options before the script; a hang becomes a failure.
function M.run(dir, opts, script, args)
  local argstr = ""
  for _, a in ipairs(args or {}) do argstr = argstr .. " " .. H.q(a) end
  return H.run("cd " .. H.q(dir) .. " && timeout 60 " .. H.q(H.exe) .. " " .. (opts or "") .. " "
               .. script .. argstr)
end

function M.write(dir, name, source)
  local f = assert(io.open(dir .. "/" .. name, "w"))
  f:write(source)
  f:close()
end

-- The script of the matrix: two single inputs and a list input of
-- different types, an overlap, two outputs (one a list), a lookup table
-- built before apply (an upvalue each worker rebuilds), per-block counts in
-- otherargs. Concurrency comes from the command line, or with arg[4] =
-- KIND (arg[5] = "read": workers read their own input) from controls.
M.matrix_script = [[
local rios = require("rios")
local out1, out2, out3 = arg[1], arg[2], arg[3]
local scale = {}
for b = 0, 1 do scale[b] = (b + 2) * 0.5 end
local otherargs = { blocks = 0, pixels = 0, sum = 0, workers_seen = 0 }
local result = rios.apply(function(info, inputs, outputs, oa)
  local a, b, l1, l2 = inputs.a, inputs.b, inputs.l[1], inputs.l[2]
  local n = a.rows * a.cols
  local f = a:like("float32", 2)
  local s = b:like("int32", 1)
  local d = l1:like("uint16", 1)
  for band = 0, 1 do
    for i = 0, n - 1 do
      f.data[band * n + i] = a.data[i] * scale[band] + b.data[band * n + i] / 7
    end
  end
  for i = 0, n - 1 do
    s.data[i] = b.data[i] - b.data[n + i]
    d.data[i] = l1.data[i] + 3 * l2.data[i]
    oa.sum = oa.sum + a.data[i]
  end
  local cols, rows = info:block_size()
  oa.blocks = oa.blocks + 1
  oa.pixels = oa.pixels + cols * rows
  if rios.is_worker() then oa.workers_seen = 1 end
  outputs.f = f
  outputs.pair = { s, d }
end, { a = "a.tif", b = "b.tif", l = { "l1.tif", "l2.tif" } },
   { f = out1, pair = { out2, out3 } }, otherargs,
   { window_xsize = 48, window_ysize = 40, overlap = 2,
     concurrency = arg[4] and { kind = arg[4], compute_workers = 2, read_workers = 1,
                                compute_workers_read = arg[5] == "read" } or nil,
     merge_otherargs = function(into, from)
       into.blocks = into.blocks + from.blocks
       into.pixels = into.pixels + from.pixels
       into.sum = into.sum + from.sum
       into.workers_seen = into.workers_seen + from.workers_seen
     end })
local counts = {}
for i, oa in ipairs(result.otherargs_list) do counts[i] = oa.blocks end
print(#result.otherargs_list, table.concat(counts, ","), otherargs.blocks, otherargs.pixels,
      otherargs.sum, otherargs.workers_seen)
]]

function M.make_matrix_inputs(dir)
  H.make_raster(dir .. "/a.tif", "uint8", 1, 130, 150, function(_, r, c) return (r * 7 + c * 3) % 251 end)
  H.make_raster(dir .. "/b.tif", "int16", 2, 130, 150, function(b, r, c) return (r - c) * (b + 1) end)
  H.make_raster(dir .. "/l1.tif", "uint8", 1, 130, 150, function(_, r, c) return (r + c) % 200 end)
  H.make_raster(dir .. "/l2.tif", "uint8", 1, 130, 150, function(_, r, c) return (r * c) % 97 end,
                { nodata = 5 })
end

function M.outputs_of(dir, tag)
  local t = {}
  for _, name in ipairs({ "f", "s", "d" }) do
    local path = dir .. "/" .. name .. "_" .. tag .. ".tif"
    t[name] = slurp(path)
    t[name .. ".aux"] = slurp(path .. ".aux.xml")
    if not t[name] then error("missing output " .. path, 2) end
  end
  return t
end


-- Warped, band-selected and rasterized inputs: ref on a 10 m grid; geo in
-- another projection (warped through a VRT each reader opens itself); rgb
-- with two of its three bands selected; a vector burned into a raster in
-- the run's temporary folder, which the workers read from. Writes the
-- inputs and warped.lua into dir. The script: warped.lua OUT [CONCURRENCY],
-- CONCURRENCY a Lua table constructor for controls.concurrency (none: the
-- command line's).
M.warped_script = [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
  local n = inputs.ref.rows * inputs.ref.cols
  local o = inputs.geo:like("float32", 4)
  for i = 0, n - 1 do
    o.data[i] = inputs.geo.data[i]
    o.data[n + i] = inputs.rgb.data[i]
    o.data[2 * n + i] = inputs.rgb.data[n + i]
    o.data[3 * n + i] = inputs.shapes.data[i] + inputs.ref.data[i]
  end
  outputs.o = o
end, { ref = "ref.tif", geo = "geo.tif", rgb = "rgb.tif", shapes = "shapes.csv" },
   { o = arg[1] }, nil,
   { reference_image = "ref", resample_method = "bilinear", window_xsize = 32,
     window_ysize = 24, overlap = 1,
     concurrency = arg[2] and assert(loadstring("return " .. arg[2]))(),
     per_image = { rgb = { layer_selection = { 3, 1 } }, shapes = { burn_attribute = "v" } } })
]]

function M.make_warped_inputs(dir)
  H.make_raster(dir .. "/ref.tif", "uint8", 1, 60, 70, function(_, r, c) return (r + c) % 200 end)
  H.make_raster(dir .. "/geo.tif", "float32", 1, 60, 60, function(_, r, c) return r * 60 + c end,
                { transform = { 146.9995, 0.0002, 0, -36.1395, 0, -0.0002 },
                  projection = "EPSG:4326" })
  H.make_raster(dir .. "/rgb.tif", "int16", 3, 60, 70,
                function(b, r, c) return b * 1000 + r - c end)
  M.write(dir, "shapes.csv", "WKT,v\n\"POLYGON((500050 5999950,500400 5999950,500400 5999600,"
          .. "500050 5999600,500050 5999950))\",7\n")
  M.write(dir, "warped.lua", M.warped_script)
end

return M
