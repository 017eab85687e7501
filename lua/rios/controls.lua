-- rios.controls: the controls table of rios.apply. Defaults (some from
-- RIOS's environment variables), checks, and per-output settings. Every key
-- is known here: an unknown key is an error, never silently ignored.
local base = require("rios.base")
local ffi, C = base.ffi, base.C

local M = {}

-- Creation options per driver when the script gives none (as RIOS).
local default_creation_options = {
  GTiff = { "TILED=YES", "COMPRESS=LZW", "INTERLEAVE=BAND", "BIGTIFF=IF_SAFER" },
  HFA = { "COMPRESSED=TRUE", "IGNOREUTM=TRUE" },
  KEA = {},
  -- the COG driver's (rios.outputs writes the blocks to a temporary GTiff)
  COG = { "COMPRESS=LZW", "BIGTIFF=IF_SAFER" },
}

-- key -> checker. A checker returns nil when the value is fine, else what is
-- wrong with it.
-- Sizes in pixels are C ints in the runtime; larger values are refused
-- here, and rios.apply checks what the block buffers would take.
local MAX_PIXELS = 2 ^ 30
M.MAX_PIXELS = MAX_PIXELS

local function whole(min, max)
  return function(v)
    if type(v) ~= "number" or v ~= math.floor(v) or v < min or (max and v > max) then
      return "must be a whole number >= " .. min .. (max and (" and <= " .. max) or "")
    end
  end
end
local function boolean(v)
  if type(v) ~= "boolean" then return "must be true or false" end
end
local function string_(v)
  if type(v) ~= "string" then return "must be a string" end
end
local function number_or_nil(v)
  if v ~= nil and type(v) ~= "number" then return "must be a number or nil" end
end
local function string_list(v)
  if type(v) ~= "table" then return "must be a list of strings" end
  for i, s in ipairs(v) do
    if type(s) ~= "string" then return "must be a list of strings (item " .. i .. " is not)" end
  end
end
local function one_of(...)
  local allowed = { ... }
  return function(v)
    for _, a in ipairs(allowed) do if v == a then return nil end end
    return "must be one of \"" .. table.concat(allowed, "\", \"") .. "\""
  end
end
local function level_list(v)
  if type(v) ~= "table" then return "must be a list of whole numbers >= 2" end
  for _, n in ipairs(v) do
    if type(n) ~= "number" or n ~= math.floor(n) or n < 2 then
      return "must be a list of whole numbers >= 2"
    end
  end
end

-- A colour table as rios.colortable takes it: a table of entries, a ramp's
-- name or {ramp =, min =, max =}; its entries are checked per output
-- (outputs.check_color_table), where the message can name the output.
local function color_table(v)
  if type(v) ~= "table" and type(v) ~= "string" then
    return "must be a table {[value] = {r, g, b [, a]}} or the name of a ramp"
  end
end
local function function_(v)
  if type(v) ~= "function" then return "must be a function(ds)" end
end

-- Keys that may stand for one output in per_image (and at the top level for
-- all of them).
local image_keys = {
  driver = string_,
  creation_options = string_list,
  stats_ignore = number_or_nil,
  thematic = boolean,
  layer_names = string_list,
  color_table = color_table,
  before_close = function_,
}

local function number_or_list(v)
  if type(v) == "number" then return nil end
  if type(v) ~= "table" or #v == 0 then return "must be a number or a list of numbers (one per band)" end
  for i = 1, #v do
    if type(v[i]) ~= "number" then return "must be a number or a list of numbers (item " .. i .. " is not)" end
  end
end
local function band_list(v)
  if type(v) ~= "table" or #v == 0 then return "must be a list of band numbers (1-based)" end
  for i = 1, #v do
    local n = v[i]
    if type(n) ~= "number" or n ~= math.floor(n) or n < 1 then
      return "must be a list of band numbers (1-based; item " .. i .. " is not)"
    end
  end
end
local function layer(v)
  if type(v) == "string" then return nil end
  if type(v) ~= "number" or v ~= math.floor(v) or v < 0 then
    return "must be a layer index (0-based) or a layer name"
  end
end
local function number_(v)
  if type(v) ~= "number" then return "must be a number" end
end
local function pixgrid(v)
  if type(v) ~= "table" then return "must be a table { projection =, transform =, rows =, cols = }" end
  for k in pairs(v) do
    if k ~= "projection" and k ~= "transform" and k ~= "rows" and k ~= "cols" then
      return "has an unknown key '" .. tostring(k) .. "' (it takes projection, transform, rows, cols)"
    end
  end
  if type(v.projection) ~= "string" then return "needs projection (WKT or \"EPSG:n\")" end
  local t = v.transform
  if type(t) ~= "table" or #t ~= 6 then return "needs transform, GDAL's six geotransform numbers" end
  for i = 1, 6 do
    if type(t[i]) ~= "number" then return "needs transform, GDAL's six geotransform numbers" end
  end
  if t[3] ~= 0 or t[5] ~= 0 or t[2] <= 0 or t[6] >= 0 then
    return "transform must be north up, without rotation"
  end
  for _, k in ipairs({ "rows", "cols" }) do
    local n = v[k]
    if type(n) ~= "number" or n ~= math.floor(n) or n < 1 then return "needs " .. k .. ", a whole number >= 1" end
  end
end

-- Resampling methods of GDAL's warper that gdalwarp -r takes.
M.resample_methods = { "near", "bilinear", "cubic", "cubicspline", "lanczos", "average", "mode",
                       "min", "max", "med", "q1", "q3" }

-- Keys that may stand for one input in per_image (and at the top level for
-- all of them), with their defaults.
local input_keys = {
  resample_method = one_of(unpack(M.resample_methods)),
  input_nodata = number_or_list,
  layer_selection = band_list,
  burn_value = number_,
  burn_attribute = string_,
  vector_null = number_,
  filter_sql = string_,
  all_touched = boolean,
  vector_datatype = one_of(unpack(base.dtypes)),
  vector_layer = layer,
}
local input_defaults = {
  resample_method = "near", burn_value = 1, vector_null = 0, all_touched = false,
  vector_datatype = "uint8", vector_layer = 0,
}

local checks = {
  reference_image = string_,
  reference_pixgrid = pixgrid,
  files_for_extent = string_list,
  window_xsize = whole(1),
  window_ysize = whole(1),
  overlap = whole(0, MAX_PIXELS),
  footprint = one_of("intersection", "union", "reference"),
  omit_pyramids = boolean,
  omit_basic_stats = boolean,
  omit_histogram = boolean,
  overview_levels = level_list,
  overview_min_dim = whole(1),
  overview_aggtype = string_,
  progress = boolean,
  tempdir = string_,
  check = boolean,   -- bounds-checked data in the block function (rios.array)
  -- checked in full by rios.concurrency
  concurrency = function(v)
    if type(v) ~= "table" then return "must be a table (see controls.concurrency)" end
  end,
  merge_otherargs = function(v)
    if type(v) ~= "function" then return "must be a function(into, from)" end
  end,
}
for k, f in pairs(image_keys) do checks[k] = f end
for k, f in pairs(input_keys) do checks[k] = f end

-- RIOS reads its variables with Python's int(): digits with an optional
-- sign and surrounding blanks; anything else is an error naming the variable.
local function env_error(where, name, value, why)
  base.raise(where, "environment variable " .. name .. "='" .. value .. "' " .. why)
end

local function parse_int(s)
  local t = s:match("^%s*([+-]?%d+)%s*$")
  return t and tonumber(t)
end

local function env_int(name, min, where, max)
  local s = os.getenv(name)
  if s == nil or s == "" then return nil end
  local n = parse_int(s)
  if not n or n < min or (max and n > max) then
    env_error(where, name, s, "must be a whole number >= " .. min
              .. (max and (" and <= " .. max) or ""))
  end
  return n
end

-- GDAL's resampling methods for overviews (gdaladdo -r).
local aggtypes = { NEAREST = true, AVERAGE = true, RMS = true, BILINEAR = true, GAUSS = true,
                   CUBIC = true, CUBICSPLINE = true, LANCZOS = true, AVERAGE_MAGPHASE = true,
                   MODE = true }

-- The overview defaults live in the runtime (rios_ffi_finish_defaults);
-- overview_aggtype nil there means AVERAGE, NEAREST for thematic outputs.
local overview_defaults = ffi.new("rios_finish_opts")
C.rios_ffi_finish_defaults(overview_defaults)

local can_create = ffi.new("int[1]")  -- an out-parameter, made once

-- A new list of the default overview levels.
local function default_overview_levels()
  local levels = {}
  for i = 1, overview_defaults.noverview_levels do
    levels[i] = overview_defaults.overview_levels[i - 1]
  end
  return levels
end

-- The defaults, with RIOS's environment variables applied.
function M.defaults(where)
  local d = {
    window_xsize = 256, window_ysize = 256, overlap = 0, footprint = "intersection",
    driver = "GTiff", creation_options = nil, stats_ignore = nil, thematic = false,
    layer_names = nil, omit_pyramids = false, omit_basic_stats = false,
    omit_histogram = false, overview_levels = default_overview_levels(),
    overview_min_dim = overview_defaults.overview_min_dim, overview_aggtype = nil,
    progress = nil, tempdir = ".", check = false,
  }
  local drv = os.getenv("RIOS_DFLT_DRIVER")
  if drv and drv ~= "" then
    -- COG copies a whole raster; rios.outputs writes it through a GTiff
    if drv ~= "COG" and (C.rios_ffi_driver_can_create(drv, can_create, base.err) ~= base.OK
                         or can_create[0] == 0) then
      env_error(where, "RIOS_DFLT_DRIVER", drv, "is not a GDAL driver that can create files")
    end
    d.driver = drv
  end
  local fp = os.getenv("RIOS_DFLT_FOOTPRINT")
  if fp and fp ~= "" then
    local n = parse_int(fp)
    d.footprint = ({ [0] = "intersection", [1] = "union", [2] = "reference" })[n]
    if not d.footprint then
      env_error(where, "RIOS_DFLT_FOOTPRINT", fp,
                "must be 0 (intersection), 1 (union) or 2 (reference)")
    end
  end
  -- Where a size came from, for messages about what it would take.
  d.origin = {}
  for key, name in pairs({ window_xsize = "RIOS_DFLT_BLOCKXSIZE",
                           window_ysize = "RIOS_DFLT_BLOCKYSIZE", overlap = "RIOS_DFLT_OVERLAP" }) do
    local n = env_int(name, key == "overlap" and 0 or 1, where,
                      key == "overlap" and MAX_PIXELS or nil)
    if n then
      d[key] = n
      d.origin[key] = "environment variable " .. name
    end
  end
  d.overview_min_dim = env_int("RIOS_DFLT_MINOVERLEVELDIM", 1, where) or d.overview_min_dim
  local levels = os.getenv("RIOS_DFLT_OVERVIEWLEVELS")
  if levels and levels ~= "" then
    local list = {}
    for item in (levels .. ","):gmatch("([^,]*),") do
      local n = parse_int(item)
      if not n or n < 2 then
        env_error(where, "RIOS_DFLT_OVERVIEWLEVELS", levels,
                  "must be whole numbers >= 2 separated by commas")
      end
      list[#list + 1] = n
    end
    d.overview_levels = list
  end
  local agg = os.getenv("RIOS_DFLT_OVERVIEWAGGTYPE")
  if agg and agg ~= "" then
    if not aggtypes[agg:upper()] then
      env_error(where, "RIOS_DFLT_OVERVIEWAGGTYPE", agg, "is not a GDAL overview resampling "
                .. "(NEAREST, AVERAGE, RMS, BILINEAR, GAUSS, CUBIC, CUBICSPLINE, LANCZOS, "
                .. "AVERAGE_MAGPHASE, MODE)")
    end
    d.overview_aggtype = agg:upper()
  end
  return d
end

local function split_options(s)
  local list = {}
  if s ~= "None" then
    for opt in s:gmatch("%S+") do list[#list + 1] = opt end
  end
  return list
end

-- Creation options for a driver, as RIOS picks them: RIOS_DFLT_CREOPT_<driver>
-- if set ("None": none); else, for the default driver (RIOS_DFLT_DRIVER)
-- when it is not GTiff, RIOS_DFLT_DRIVEROPTIONS if set; else ours.
function M.creation_options_for(driver)
  local env = os.getenv("RIOS_DFLT_CREOPT_" .. driver)
  if env then return split_options(env) end
  local generic = os.getenv("RIOS_DFLT_DRIVEROPTIONS")
  if generic and driver ~= "GTiff" and driver == os.getenv("RIOS_DFLT_DRIVER") then
    return split_options(generic)
  end
  return default_creation_options[driver] or {}
end

local function check_value(where, label, key, value, checker)
  local problem = checker(value)
  if problem then
    base.raise(where, label .. " key '" .. key .. "' " .. problem .. ", got "
               .. (type(value) == "string" and ("'" .. value .. "'") or tostring(value)))
  end
end

local ffi = base.ffi
local drv_name, drv_found, drv_create = ffi.new("rios_text"), ffi.new("int[1]"), ffi.new("int[1]")

-- The settings of one output file: its name's settings, with the driver
-- GDAL's own tools would choose for the file's extension when the user
-- named none (.tif GTiff, .img HFA, ...; an extension no driver claims
-- keeps the default, GTiff). A driver that cannot write a file block by
-- block (PNG, JPEG: GDAL writes those only as a copy of a whole raster)
-- or a VRT is refused in one line. label: the output's name in messages.
-- Extensions that name a raster format whose GDAL driver is an optional
-- plugin: without the driver the file would silently become a GeoTIFF
-- under a name that says otherwise, so it is refused.
local missing_drivers = {
  kea = "KEA", h5 = "HDF5", hdf5 = "HDF5", he5 = "HDF5", hdf = "HDF4", nc = "netCDF",
  jp2 = "JPEG2000", ecw = "ECW", sid = "MrSID", grib = "GRIB", grb = "GRIB", grb2 = "GRIB",
}
-- Drivers that can create a file but not one rios-lua can write block by
-- block with its bands' metadata, with the reason.
local refused_drivers = {
  netCDF = "which rios-lua cannot write block by block (GDAL's netCDF driver refuses "
           .. "the band metadata rios-lua sets on a new file)",
}

function M.for_file(settings, path, label, where)
  local s = settings
  if not s.driver_given then
    base.C.rios_ffi_driver_for_path(path, drv_name, drv_found, drv_create, base.err)
    local ext = (path:match("%.([%w]+)$") or ""):lower()
    if drv_found[0] == 0 and missing_drivers[ext] then
      base.raise(where, "output '" .. label .. "': " .. path .. " names a " .. missing_drivers[ext]
                 .. " file, but this GDAL has no " .. missing_drivers[ext] .. " driver; give a "
                 .. ".tif (or set controls.driver)")
    end
    if drv_found[0] == 1 then
      local name = ffi.string(drv_name.s)
      if refused_drivers[name] then
        base.raise(where, "output '" .. label .. "': " .. path .. " is a " .. name .. " file, "
                   .. refused_drivers[name] .. "; write a .tif and convert it with "
                   .. "gdal_translate (or set controls.driver)")
      end
      if name == "VRT" then
        base.raise(where, "output '" .. label .. "': " .. path .. " is a VRT, which describes "
                   .. "other files and holds no pixels of its own; give a .tif (or set "
                   .. "controls.driver)")
      end
      if drv_create[0] == 0 then
        base.raise(where, "output '" .. label .. "': " .. path .. " is a " .. name .. " file, "
                   .. "which GDAL writes only as a copy of a whole raster, not block by block; "
                   .. "write a .tif and convert it with gdal_translate (or set controls.driver)")
      end
      if name ~= s.driver then
        local copy = {}
        for k, v in pairs(s) do copy[k] = v end
        copy.driver = name
        if not s.options_given then copy.creation_options = M.creation_options_for(name) end
        s = copy
      end
    end
  end
  return s
end

-- Merge the user's controls over the defaults and check every key.
-- names: set of input and output names (for per_image). Returns the
-- resolved controls with .per_output[name] settings for each output.
function M.resolve(user, outnames, innames, where)
  if user ~= nil and type(user) ~= "table" then
    base.raise(where, "rios.apply: controls must be a table, got " .. type(user))
  end
  user = user or {}
  local c = M.defaults(where)
  for key, value in pairs(user) do
    if type(key) ~= "string" then
      base.raise(where, "controls key " .. tostring(key) .. " is not a string")
    end
    if key ~= "per_image" then
      local checker = checks[key]
      if not checker then
        base.raise(where, "unknown controls key '" .. key .. "'")
      end
      check_value(where, "controls", key, value, checker)
      c[key] = value
      c.origin[key] = nil
    end
  end
  local per_image = user.per_image or {}
  if type(per_image) ~= "table" then
    base.raise(where, "controls key 'per_image' must be a table of name = { settings }")
  end
  for name, settings in pairs(per_image) do
    if not outnames[name] and not innames[name] then
      base.raise(where, "controls.per_image names '" .. tostring(name)
                 .. "', which is not an input or output")
    end
    if type(settings) ~= "table" then
      base.raise(where, "controls.per_image." .. name .. " must be a table")
    end
    for key, value in pairs(settings) do
      local keys = innames[name] and input_keys or image_keys
      local checker = keys[key]
      if not checker then
        local other = innames[name] and image_keys[key] and " (that key is for outputs; '"
                      .. name .. "' is an input)"
                      or outnames[name] and input_keys[key] and " (that key is for inputs; '"
                      .. name .. "' is an output)" or ""
        base.raise(where, "unknown controls.per_image." .. name .. " key '" .. tostring(key)
                   .. "'" .. other)
      end
      check_value(where, "controls.per_image." .. name, key, value, checker)
    end
  end
  c.per_output = {}
  local env_driver = os.getenv("RIOS_DFLT_DRIVER")
  for name in pairs(outnames) do
    local s = {}
    local own = per_image[name] or {}
    for key in pairs(image_keys) do
      if own[key] ~= nil then s[key] = own[key] else s[key] = c[key] end
    end
    -- a driver the user named (controls, per_image, RIOS_DFLT_DRIVER) is
    -- kept; else each output file's extension chooses it (M.for_file)
    -- where the nodata came from, for a message refusing it (rios.outputs)
    s.stats_ignore_key = own.stats_ignore ~= nil and ("controls.per_image." .. name .. ".stats_ignore")
                         or "controls.stats_ignore"
    s.driver_given = own.driver ~= nil or user.driver ~= nil
                     or (env_driver ~= nil and env_driver ~= "")
    s.options_given = s.creation_options ~= nil
    s.creation_options = s.creation_options or M.creation_options_for(s.driver)
    c.per_output[name] = s
  end
  c.per_input = {}
  for name in pairs(innames) do
    local s = {}
    local own = per_image[name] or {}
    for key in pairs(input_keys) do
      if own[key] ~= nil then s[key] = own[key]
      elseif c[key] ~= nil then s[key] = c[key]
      else s[key] = input_defaults[key] end
    end
    c.per_input[name] = s
  end
  -- c.progress stays nil unless set: rios.progress then shows the line when
  -- stderr is a terminal.
  return c
end

return M
