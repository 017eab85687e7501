-- rios.inputs: input rasters of one apply: opening them, putting them on
-- the working grid (M.prepare: warped VRTs, layer selection, input nodata,
-- rasterized vectors), the read buffers the runtime owns, and reading one
-- block of one file straight into its buffer. The arrays handed to the block
-- function wrap those buffers; they are made once per apply and re-pointed
-- at each block, never copied.
--
-- After M.prepare a record's rec.read_name is the dataset name its readers
-- open (the file, VRT XML text, or a rasterized vector in the run's
-- temporary folder) and grid pixel (0, 0) is at its pixel (rec.xshift,
-- rec.yshift); any thread may open its own handle on that name.
local base = require("rios.base")
local array = require("rios.array")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

-- Out-parameters, made once.
local info = ffi.new("rios_raster_info")
local raster_out = ffi.new("rios_raster *[1]")
local has_out, nodata_out = ffi.new("int[1]"), ffi.new("double[1]")
local int_out = ffi.new("int[1]")

local function close_raster(rec)
  if rec.raster ~= nil then
    C.rios_ffi_raster_close(ffi.gc(rec.raster, nil))
    rec.raster = nil
  end
end

-- Describe the dataset open in rec.raster: size, bands, dtype, grid, nodata.
local function describe(rec, where)
  local r = rec.raster
  C.rios_ffi_raster_info(r, info)
  rec.cols, rec.rows, rec.nbands = info.xsize, info.ysize, info.nbands
  rec.dtype = base.dtypes[info.dtype + 1]
  rec.transform = {}
  for i = 0, 5 do rec.transform[i + 1] = info.transform[i] end
  rec.projection = ffi.string(C.rios_ffi_raster_projection(r))
  rec.nodata = {}
  for b = 1, rec.nbands do
    if C.rios_ffi_raster_nodata(r, b, has_out, nodata_out, base.err) ~= OK then
      close_raster(rec)
      base.raise(where, base.errmsg())
    end
    if has_out[0] ~= 0 then rec.nodata[b] = nodata_out[0] end
  end
end

local function open_raster(rec, name, where)
  if C.rios_ffi_raster_open(name, raster_out, base.err) ~= OK then return nil, base.errmsg() end
  rec.raster = ffi.gc(raster_out[0], C.rios_ffi_raster_close)
  raster_out[0] = nil
  describe(rec, where)
  return true
end

-- The layer names of a vector source, or nil when it is not one.
local layer_buf = ffi.new("char[?]", 65536)
local function vector_layers(path, where)
  if C.rios_ffi_vector_layers(path, layer_buf, 65536, int_out, base.err) ~= OK then
    base.raise(where, base.errmsg())
  end
  if int_out[0] == 0 then return nil end
  local names = {}
  for name in ffi.string(layer_buf):gmatch("([^\n]*)\n") do names[#names + 1] = name end
  return names
end

-- Open one record's file and describe it. With allow_vector, a file GDAL
-- opens only as a vector source becomes a vector record (rec.is_vector,
-- rec.layers), rasterized later by M.prepare.
function M.open(rec, where, allow_vector)
  local ok, msg = open_raster(rec, rec.path, where)
  if ok then return rec end
  if allow_vector then
    local layers = vector_layers(rec.path, where)
    if layers then
      rec.is_vector, rec.layers = true, layers
      return rec
    end
  end
  base.raise(where, msg)
end

function M.close(rec)
  close_raster(rec)
end

local function num(v)
  if v ~= v then return "nan" end
  return string.format("%.17g", v)
end

-- A NULL-terminated const char *[] over a list of Lua strings. The list
-- must stay alive while C uses the array (the caller keeps it in a local).
local function argv(list)
  local a = ffi.new("const char *[?]", #list + 1)
  for i = 1, #list do a[i - 1] = list[i] end
  return a
end

-- Whether GDAL reads two projections as the same one.
local function same_projection(a, b, where)
  if C.rios_ffi_same_projection(a, b, int_out, base.err) ~= OK then
    base.raise(where, base.errmsg())
  end
  return int_out[0] ~= 0
end

-- The bands to read (file band numbers, in order) and the nodata value of
-- each (nil where there is none): layer_selection and input_nodata applied.
local function bands_and_nodata(rec, s, label, where)
  local bands = s.layer_selection
  if not bands then
    bands = {}
    for b = 1, rec.nbands do bands[b] = b end
  end
  local nd, list = s.input_nodata, {}
  if type(nd) == "table" and #nd ~= rec.nbands then
    base.raise(where, "controls input_nodata for '" .. label .. "' has " .. #nd
               .. " values but " .. rec.path .. " has " .. base.count(rec.nbands, "band"))
  end
  for i, b in ipairs(bands) do
    if b > rec.nbands then
      base.raise(where, "controls layer_selection for '" .. label .. "' asks for band " .. b
                 .. " but " .. rec.path .. " has " .. rec.nbands)
    end
    if type(nd) == "number" then list[i] = nd
    elseif type(nd) == "table" then list[i] = nd[b]
    else list[i] = rec.nodata[b] end
  end
  return bands, list
end

-- The extent of the working grid grown by the overlap on every side:
-- warped and rasterized inputs cover it, so margins hold real pixels.
local function padded(grid, ov)
  local px, py = ov * grid.xres, ov * grid.yres
  return num(grid.left - px), num(grid.bottom - py), num(grid.right + px), num(grid.top + py)
end

-- Rasterize a vector input onto the (padded) working grid, once per file
-- and set of options in a run.
local function rasterize(rec, grid, s, label, ctx, where)
  local layer, index = s.vector_layer, nil
  if type(layer) == "number" then
    if layer >= #rec.layers then
      base.raise(where, rec.path .. ": has no vector layer " .. layer .. " (it has "
                 .. #rec.layers .. ")")
    end
    index, layer = layer, rec.layers[layer + 1]
  else
    for i, n in ipairs(rec.layers) do
      if n == layer then index = i - 1 end
    end
    if not index then
      base.raise(where, rec.path .. ": has no vector layer named '" .. layer .. "' (it has "
                 .. table.concat(rec.layers, ", ") .. ")")
    end
  end
  local sql, where_clause = s.filter_sql, nil
  if sql and not sql:match("^%s*[Ss][Ee][Ll][Ee][Cc][Tt]%s") then sql, where_clause = nil, sql end
  local src = rec.path
  local filters = {}
  if sql then
    filters = { "-sql", sql }
  else
    if where_clause then filters = { "-where", where_clause } end
    filters[#filters + 1], filters[#filters + 2] = "-l", layer
  end

  -- Vectors in another projection are first carried into the grid's (as
  -- ogr2ogr -t_srs would), since GDALRasterize burns coordinates as they are.
  if C.rios_ffi_vector_layer_wkt(src, index, base.str_out, base.err) ~= OK then
    base.raise(where, rec.path .. ": " .. base.errmsg())
  end
  local wkt = base.take_string()
  local reproject = wkt ~= "" and grid.projection ~= ""
                    and not same_projection(wkt, grid.projection, where)
  local l, b, r, t = padded(grid, ctx.overlap)
  -- Before GDAL 3.7, int8 is Byte flagged SIGNEDBYTE: values are burned as
  -- their byte patterns (an attribute's values cannot be).
  local old_int8 = s.vector_datatype == "int8" and C.rios_ffi_gdal_version() < 3070000
  local function value(v)
    if old_int8 and v < 0 then v = v + 256 end
    return num(v)
  end
  local args = { "-of", "GTiff", "-co", "TILED=YES", "-co", "COMPRESS=DEFLATE",
                 "-te", l, b, r, t, "-tr", num(grid.xres), num(grid.yres),
                 "-ot", base.dtype_gdal[s.vector_datatype],
                 "-init", value(s.vector_null), "-a_nodata", num(s.vector_null) }
  if old_int8 then
    args[#args + 1], args[#args + 2] = "-co", "PIXELTYPE=SIGNEDBYTE"
  end
  if grid.projection ~= "" then args[#args + 1], args[#args + 2] = "-a_srs", grid.projection end
  if s.burn_attribute then
    if old_int8 then
      base.raise(where, "controls for '" .. label .. "': burn_attribute with vector_datatype "
                 .. "int8 needs GDAL 3.7 or later")
    end
    args[#args + 1], args[#args + 2] = "-a", s.burn_attribute
  else
    args[#args + 1], args[#args + 2] = "-burn", value(s.burn_value)
  end
  if s.all_touched then args[#args + 1] = "-at" end
  local key = rec.path .. "\0" .. table.concat(filters, "\0") .. "\0" .. table.concat(args, "\0")
  local done = ctx.rasterized[key]
  if done then return done end

  if reproject then
    local vec = ctx.tempname("vector", ".gpkg")
    local targs = { "-f", "GPKG", "-t_srs", grid.projection, "-nln", "rios_layer" }
    for _, f in ipairs(filters) do targs[#targs + 1] = f end
    -- ogr2ogr takes the layer name as a positional argument, not -l.
    if targs[#targs - 1] == "-l" then targs[#targs - 1], targs[#targs] = targs[#targs], nil end
    if C.rios_ffi_vector_translate(src, vec, argv(targs), base.err) ~= OK then
      base.raise(where, rec.path .. ": input '" .. label .. "': " .. base.errmsg())
    end
    src, filters = vec, { "-l", "rios_layer" }
  end
  for _, f in ipairs(filters) do args[#args + 1] = f end
  local dst = ctx.tempname("vector", ".tif")
  if C.rios_ffi_rasterize(src, dst, argv(args), base.err) ~= OK then
    base.raise(where, rec.path .. ": cannot rasterize input '" .. label .. "': "
               .. base.errmsg())
  end
  ctx.rasterized[key] = dst
  return dst
end

-- Put one opened input onto the working grid: decide the name its readers
-- open (rec.read_name: the file itself, an in-memory VRT's XML text or a
-- rasterized vector), open it, and set rec.xshift/rec.yshift.
-- s: the input's resolved settings (controls.per_input[name]); ctx:
-- { overlap =, tempname = function(stem, suffix), rasterized = {} }.
function M.prepare(rec, grid, s, ctx, where)
  local label = rec.index and (rec.name .. "[" .. rec.index .. "]") or rec.name
  local name = rec.path
  if rec.is_vector then
    name = rasterize(rec, grid, s, label, ctx, where)
    rec.xshift, rec.yshift = ctx.overlap, ctx.overlap
  else
    local bands, nodata = bands_and_nodata(rec, s, label, where)
    if s.layer_selection or s.input_nodata then
      local args = { "-of", "VRT" }
      for _, b in ipairs(bands) do args[#args + 1], args[#args + 2] = "-b", tostring(b) end
      local nd = nil
      if s.input_nodata then nd = ffi.new("double[?]", #bands, nodata) end
      if C.rios_ffi_translate_vrt(name, argv(args), #bands, nd, base.str_out, base.err) ~= OK then
        base.raise(where, rec.path .. ": input '" .. label .. "': " .. base.errmsg())
      end
      name = base.take_string()
    end
    if not rec.aligned then
      local l, b, r, t = padded(grid, ctx.overlap)
      local args = { "-of", "VRT", "-ovr", "NONE", "-r", s.resample_method,
                     "-te", l, b, r, t, "-tr", num(grid.xres), num(grid.yres) }
      if grid.projection ~= "" then
        args[#args + 1], args[#args + 2] = "-t_srs", grid.projection
      end
      local all = true
      for i = 1, #bands do all = all and nodata[i] ~= nil end
      if all then
        local vals = {}
        for i = 1, #bands do vals[i] = num(nodata[i]) end
        local v = table.concat(vals, " ")
        args[#args + 1], args[#args + 2] = "-srcnodata", v
        args[#args + 1], args[#args + 2] = "-dstnodata", v
      end
      if C.rios_ffi_warp_vrt(name, argv(args), base.str_out, base.err) ~= OK then
        base.raise(where, rec.path .. ": input '" .. label .. "': " .. base.errmsg())
      end
      name = base.take_string()
      rec.xshift, rec.yshift = ctx.overlap, ctx.overlap
    end
  end
  rec.read_name = name
  if name ~= rec.path or rec.raster == nil then
    close_raster(rec)
    local ok, msg = open_raster(rec, name, where)
    if not ok then
      base.raise(where, rec.path .. ": input '" .. label .. "' cannot be read on the "
                 .. "working grid: " .. msg:sub(1, 300))
    end
    if C.rios_ffi_raster_set_label(rec.raster, rec.path, base.err) ~= OK then
      base.raise(where, base.errmsg())
    end
  end
end

-- The inputs table the block function sees: name -> array, or name -> list
-- of arrays for a list entry (the records' arrays, made once per run).
-- Reading a name that is not an input is an error that lists the inputs.
function M.block_table(recs)
  local t, names = {}, {}
  for _, rec in ipairs(recs) do
    if rec.index then
      t[rec.name] = t[rec.name] or {}
      t[rec.name][rec.index] = rec.array
    else
      t[rec.name] = rec.array
    end
  end
  for name in pairs(t) do names[#names + 1] = name end
  table.sort(names)
  local list = table.concat(names, ", ")
  return setmetatable(t, { __index = function(_, key)
    base.raise(base.where(2), "inputs has no '" .. tostring(key) .. "' (the inputs are: "
               .. list .. ")")
  end })
end

return M
