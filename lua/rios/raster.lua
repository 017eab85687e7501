-- rios.raster: whole rasters outside rios.apply, for exploring and for
-- making test data: rios.open(path) -> a raster object, r:read{...} -> an
-- array; rios.write(path, array, opts) writes an array as a new raster.
local base = require("rios.base")
local array = require("rios.array")
local controls = require("rios.controls")
local inputs = require("rios.inputs")
local colortable = require("rios.colortable")
local outputs = require("rios.outputs")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

local Raster = {}
Raster.__index = Raster
M.Raster = Raster

-- Out-parameters, made once.
local stats4 = ffi.new("double[4]")
local text = ffi.new("rios_text")
local MAX_OVERVIEWS = 32
local ovsizes = ffi.new("int[?]", 2 * MAX_OVERVIEWS)
local int_out = ffi.new("int[1]")
local str_out = ffi.new("const char *[1]")
local output_out = ffi.new("rios_output *[1]")
local times = ffi.new("rios_finish_times")

local where_of = base.where

-- rios.open(path): a raster object. Fields: path, driver, cols, rows, bands,
-- dtype, transform (GDAL's six numbers), projection (WKT), projection_name,
-- pixel_size ({x, y}), nodata (per band, nil where none), band_names (per
-- band, "" where none). The file stays open until r:close() or collection.
function M.open(path)
  return M.open_at(path, where_of(2), "")
end

-- rios.open for other modules: errors start with where (the user's
-- "file:line: ") and prefix (the function the user called, "fn: ").
function M.open_at(path, where, prefix)
  if type(path) ~= "string" then
    base.raise(where, (prefix ~= "" and prefix or "rios.open: ") .. "path must be a string, got "
               .. type(path))
  end
  local rec = { path = path }
  inputs.open(rec, where .. prefix)
  local r = rec.raster
  local names = {}
  for b = 1, rec.nbands do
    if C.rios_ffi_raster_band_description(r, b, str_out, base.err) ~= OK then
      inputs.close(rec)
      base.raise(where, (prefix ~= "" and prefix or "rios.open: ") .. base.errmsg())
    end
    names[b] = ffi.string(str_out[0])
  end
  local projection_name = "(a projection GDAL cannot read)"
  if C.rios_ffi_projection_name(rec.projection, text, base.err) == OK then
    projection_name = ffi.string(text.s)
  end
  local t = rec.transform
  return setmetatable({
    path = path, driver = ffi.string(C.rios_ffi_raster_driver(r)), cols = rec.cols,
    rows = rec.rows, bands = rec.nbands, dtype = rec.dtype, transform = t,
    projection = rec.projection, projection_name = projection_name,
    pixel_size = { t[2], t[6] }, nodata = rec.nodata, band_names = names, rec = rec,
  }, Raster)
end

function Raster:close()
  inputs.close(self.rec)
end

local function open_handle(self, fname)
  if self.rec.raster == nil then
    base.raise(where_of(3), fname .. ": " .. self.path .. " is closed")
  end
  return self.rec.raster
end

local function check_band(self, fname, b)
  if type(b) ~= "number" or b ~= math.floor(b) or b < 1 or b > self.bands then
    base.raise(where_of(3), string.format("%s: %s has no band %s (it has %d)", fname, self.path,
                                          tostring(b), self.bands))
  end
end

-- r:overviews([band]): a list of {cols, rows}, one per overview of the band
-- (default 1), largest first as GDAL lists them.
function Raster:overviews(band)
  local r = open_handle(self, "r:overviews")
  band = band or 1
  check_band(self, "r:overviews", band)
  if C.rios_ffi_raster_overviews(r, band, ovsizes, MAX_OVERVIEWS, int_out, base.err) ~= OK then
    base.raise(where_of(2), "r:overviews: " .. base.errmsg())
  end
  local n = int_out[0]
  local list = {}
  for i = 0, math.min(n, MAX_OVERVIEWS) - 1 do
    list[i + 1] = { ovsizes[2 * i], ovsizes[2 * i + 1] }
  end
  return list
end

-- r:metadata([band]): the default-domain metadata of the file (band nil or
-- 0) or of a band, as a table of key = value.
function Raster:metadata(band)
  local r = open_handle(self, "r:metadata")
  band = band or 0
  if band ~= 0 then check_band(self, "r:metadata", band) end
  local md, i = {}, 0
  while true do
    if C.rios_ffi_raster_metadata(r, band, i, str_out, base.err) ~= OK then
      base.raise(where_of(2), "r:metadata: " .. base.errmsg())
    end
    if str_out[0] == nil then break end
    local item = ffi.string(str_out[0])
    local k, v = item:match("^([^=]*)=(.*)$")
    if k then md[k] = v else md[item] = "" end
    i = i + 1
  end
  return md
end

-- r:color_table([band]): the band's (default 1) colour table as
-- { [value] = {r, g, b, a} } for every entry from value 0, or nil when it
-- has none.
function Raster:color_table(band)
  local r = open_handle(self, "r:color_table")
  band = band or 1
  check_band(self, "r:color_table", band)
  return colortable.read(r, band, where_of(2))
end

local function stats_of(self, band, compute)
  if C.rios_ffi_raster_stats(self.rec.raster, band, compute and 1 or 0, int_out, stats4,
                             base.err) ~= OK then
    base.raise(where_of(3), "r:stats: " .. base.errmsg())
  end
  if int_out[0] == 0 then return nil end
  return { min = stats4[0], max = stats4[1], mean = stats4[2], stddev = stats4[3] }
end

-- The statistics stored in the file for a band ({min, max, mean, stddev}),
-- or nil.
function Raster:stored_stats(band)
  open_handle(self, "r:stored_stats")
  check_band(self, "r:stored_stats", band)
  return stats_of(self, band, false)
end

-- r:stats([band]): {min, max, mean, stddev} of a band (nodata and NaN left
-- out): the file's stored statistics, else computed from every pixel
-- (nothing is written). Without a band, a list with one entry per band. A
-- band whose pixels are all nodata gives nil.
function Raster:stats(band)
  open_handle(self, "r:stats")
  if band == nil then
    local all = {}
    for b = 1, self.bands do
      all[b] = stats_of(self, b, false) or stats_of(self, b, true) or false
    end
    return all
  end
  check_band(self, "r:stats", band)
  return stats_of(self, band, false) or stats_of(self, band, true)
end

-- r:read{band = b or bands = {...}, window = {xoff, yoff, xsize, ysize},
-- overview = n}: a new array, all bands of the whole raster by default. The
-- window follows README's "Positions and windows" (0-based, x first). With
-- overview = n (1 = the first, largest, overview) the window is in that
-- overview's pixels. Without an overview a window may reach past the edge
-- (filled with the band's nodata, else 0).
function Raster:read(opts)
  local r = open_handle(self, "r:read")
  opts = opts or {}
  if type(opts) ~= "table" then
    base.raise(where_of(2), "r:read: the argument must be a table like {band = 1}")
  end
  local bands = opts.bands or (opts.band and { opts.band })
  if not bands then
    bands = {}
    for b = 1, self.bands do bands[b] = b end
  end
  if type(bands) ~= "table" or #bands == 0 then
    base.raise(where_of(2), "r:read: bands must be a list of band numbers like {3, 2, 1}")
  end
  for _, b in ipairs(bands) do check_band(self, "r:read", b) end
  local ov = opts.overview or 0
  local cols, rows = self.cols, self.rows
  if ov ~= 0 then
    local list = self:overviews(bands[1])
    if type(ov) ~= "number" or ov ~= math.floor(ov) or ov < 1 or not list[ov] then
      base.raise(where_of(2), string.format("r:read: %s has no overview %s (it has %d)",
                                            self.path, tostring(ov), #list))
    end
    cols, rows = list[ov][1], list[ov][2]
  end
  local w = opts.window or { 0, 0, cols, rows }
  local whole = function(v, min)
    return type(v) == "number" and v == math.floor(v) and v >= min
  end
  if type(w) ~= "table" or not (whole(w[1], -math.huge) and whole(w[2], -math.huge)
                                and whole(w[3], 1) and whole(w[4], 1)) then
    base.raise(where_of(2), "r:read: window must be {xoff, yoff, xsize, ysize} (0-based, x "
               .. "first) in whole pixels, with sizes of at least 1")
  end
  local xoff, yoff, xsize, ysize = w[1], w[2], w[3], w[4]
  local a = array.new(self.dtype, #bands, ysize, xsize)
  local list = ffi.new("int[?]", #bands, bands)
  local status
  if ov == 0 then
    status = C.rios_ffi_raster_read(r, xoff, yoff, xsize, ysize, #bands, list, a.data,
                                  base.dtype_code[self.dtype], base.err)
  else
    status = C.rios_ffi_raster_read_scaled(r, ov, xoff, yoff, xsize, ysize, xsize, ysize, #bands,
                                         list, a.data, base.dtype_code[self.dtype], base.err)
  end
  if status ~= OK then base.raise(where_of(2), "r:read: " .. base.errmsg()) end
  return a
end

-- The whole raster's bands resampled (nearest neighbour) to cols x rows;
-- GDAL reads from the overviews when the file has them. For quicklooks.
function M.read_scaled(self, bands, cols, rows)
  local r = open_handle(self, "rios.quicklook")
  local a = array.new(self.dtype, #bands, rows, cols)
  local list = ffi.new("int[?]", #bands, bands)
  if C.rios_ffi_raster_read_scaled(r, 0, 0, 0, self.cols, self.rows, cols, rows, #bands, list,
                                 a.data, base.dtype_code[self.dtype], base.err) ~= OK then
    base.raise(where_of(3), "rios.quicklook: " .. base.errmsg())
  end
  return a
end

local function num(v)
  if v == math.floor(v) and math.abs(v) < 1e15 then return string.format("%d", v) end
  return string.format("%.6g", v)
end

M.max_summary_bands = 10

-- tostring(r): a one-screen summary.
function Raster:__tostring()
  local lines = { string.format("%s (%s)", self.path, self.driver) }
  lines[2] = string.format("  %d cols x %d rows, %d band%s of %s", self.cols, self.rows,
                           self.bands, self.bands == 1 and "" or "s", self.dtype)
  if self.rec.raster == nil then
    lines[#lines + 1] = "  (closed)"
    return table.concat(lines, "\n")
  end
  local t = self.transform
  lines[#lines + 1] = "  projection: " .. (self.projection_name ~= "" and self.projection_name
                                           or "none")
  lines[#lines + 1] = string.format("  origin (%s, %s), pixel size %s x %s%s", num(t[1]),
                                    num(t[4]), num(t[2]), num(t[6]),
                                    (t[3] ~= 0 or t[5] ~= 0) and " (rotated)" or "")
  local ovs = self:overviews(1)
  local ovtext = {}
  for i, o in ipairs(ovs) do ovtext[i] = o[1] .. "x" .. o[2] end
  lines[#lines + 1] = "  overviews: " .. (#ovs > 0 and table.concat(ovtext, ", ") or "none")
  for b = 1, math.min(self.bands, M.max_summary_bands) do
    local name = self.band_names[b] ~= "" and (" \"" .. self.band_names[b] .. "\"") or ""
    local nd = self.nodata[b] and ("nodata " .. num(self.nodata[b])) or "no nodata"
    local s = stats_of(self, b, false)
    local st = s and string.format("min %s  max %s  mean %s  stddev %s", num(s.min), num(s.max),
                                   num(s.mean), num(s.stddev))
               or ("no statistics stored (r:stats(" .. b .. ") computes them)")
    lines[#lines + 1] = string.format("  band %d%s: %s; %s", b, name, nd, st)
  end
  if self.bands > M.max_summary_bands then
    lines[#lines + 1] = string.format("  ... and %d more bands", self.bands - M.max_summary_bands)
  end
  local md, keys = self:metadata(), {}
  for k in pairs(md) do keys[#keys + 1] = k end
  table.sort(keys)
  if #keys > 0 then
    local shown = {}
    for i = 1, math.min(#keys, 4) do shown[i] = keys[i] .. "=" .. md[keys[i]] end
    lines[#lines + 1] = "  metadata: " .. table.concat(shown, ", ")
                        .. (#keys > 4 and (", ... (" .. #keys .. " items, r:metadata())") or "")
  end
  return table.concat(lines, "\n")
end

-- rios.write(path, arr, opts): write arr as a new raster. opts (all
-- optional): transform (GDAL's six numbers; default pixel coordinates),
-- projection (WKT or "EPSG:n"), driver, creation_options, nodata,
-- layer_names, thematic, stats (true: statistics, histogram and overviews
-- as rios.apply writes them; default false), color_table (band 1's, see
-- rios/colortable.lua; checked before anything is written, set once the
-- file is complete).
function M.write(path, arr, opts)
  if not array.is_array(arr) then error("rios.write: second argument must be an array", 2) end
  opts = opts or {}
  local driver = opts.driver or "GTiff"
  if not opts.driver then
    -- as rios.apply's outputs: the file's extension chooses the driver
    local s = controls.for_file({ driver = "GTiff", driver_given = false, options_given = true },
                                path, "rios.write", where_of(2))
    driver = s.driver
  end
  local ct_n, ct_rgba
  if opts.color_table ~= nil then
    local where = where_of(2)
    local band1 = arr:band(1)
    local lo, hi
    if type(opts.color_table) == "string" or type(opts.color_table) == "table" then
      lo, hi = band1:min(opts.nodata), band1:max(opts.nodata)
    end
    ct_n, ct_rgba = colortable.encode(opts.color_table, {
      fname = "rios.write: " .. tostring(path), where = where, lo = lo, hi = hi,
      nodata = opts.nodata })
    colortable.check_target("rios.write: " .. tostring(path), where, driver, arr.dtype, arr.bands,
                            ct_n, ct_rgba)
  end
  local co = opts.creation_options or controls.creation_options_for(driver)
  local copts = ffi.new("const char *[?]", #co + 1)
  for i = 1, #co do copts[i - 1] = co[i] end
  -- a COG is written as a GeoTIFF and copied (rios.outputs)
  local cog_opts
  if driver == "COG" then driver, cog_opts, copts = "GTiff", copts, C.rios_ffi_cog_temp_options() end
  local names
  if opts.layer_names then
    names = ffi.new("const char *[?]", #opts.layer_names + 1)
    for i = 1, #opts.layer_names do names[i - 1] = opts.layer_names[i] end
  end
  local proj = opts.projection or ""
  if proj:match("^EPSG:%d+$") then proj = M.wkt_from_epsg(proj) end
  local t = ffi.new("double[6]", opts.transform or { 0, 1, 0, 0, 0, -1 })
  if C.rios_ffi_output_create(path, driver, arr.cols, arr.rows, arr.bands,
                             base.dtype_code[arr.dtype], t, proj, copts,
                             opts.nodata and 1 or 0, opts.nodata or 0, names,
                             opts.thematic and 1 or 0, output_out, base.err) ~= OK then
    error(base.errmsg(), 2)
  end
  local o = output_out[0]
  output_out[0] = nil
  if not opts.stats then C.rios_ffi_output_gather(o, 0, 0) end
  local data, row_stride, band_rows = array.layout(arr)
  local ok = data ~= nil and C.rios_ffi_output_write(o, 0, 0, arr.cols, arr.rows, data,
                                                     row_stride, band_rows, 0, base.err) == OK
  if data == nil then ffi.copy(base.err.msg, "rios.write: give a:copy() of this view") end
  if ok and ct_n then
    ok = C.rios_ffi_output_set_color_table(o, 1, ct_n, ct_rgba, base.err) == OK
  end
  if ok then
    local fo = ffi.new("rios_finish_opts")
    C.rios_ffi_finish_defaults(fo)
    local all = opts.stats and 0 or 1
    fo.omit_basic_stats, fo.omit_histogram, fo.omit_pyramids = all, all, all
    fo.thematic = opts.thematic and 1 or 0
    ok = C.rios_ffi_output_finish(o, fo, times, base.err) == OK
  end
  -- written beside path, then moved over it: a failure leaves path as it was
  ok = ok and C.rios_ffi_output_seal(o, base.err) == OK
  if ok and cog_opts then ok = C.rios_ffi_output_cog(o, cog_opts, base.err) == OK end
  if ok then
    C.rios_ffi_signals_defer(1)
    ok = C.rios_ffi_output_commit(o, base.err) == OK
    C.rios_ffi_signals_defer(0)
  end
  local msg = not ok and base.errmsg()
  C.rios_ffi_output_close(o)
  -- a signal held back while the file moved into place ends the process now
  if C.rios_ffi_signal_pending() ~= 0 then C.rios_ffi_signal_resume(0) end
  if not ok then error(msg, 2) end
end

function M.wkt_from_epsg(code)
  if C.rios_ffi_wkt_from_user_input(code, base.str_out, base.err) ~= OK then
    error(base.errmsg(), 3)
  end
  return base.take_string()
end

return M
