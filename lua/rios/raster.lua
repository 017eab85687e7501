-- rios.raster: whole rasters outside rios.apply, for exploring and for
-- making test data: rios.open(path) -> a raster object, r:read{...} -> an
-- array; rios.write(path, array, opts) writes an array as a new raster.
local base = require("rios.base")
local array = require("rios.array")
local controls = require("rios.controls")
local inputs = require("rios.inputs")
local ffi, C = base.ffi, base.C

local M = {}

local Raster = {}
Raster.__index = Raster

-- rios.open(path): the file stays open until r:close() or collection.
function M.open(path)
  if type(path) ~= "string" then error("rios.open: path must be a string", 2) end
  local rec = { path = path }
  local ok, err = pcall(inputs.open, rec, "")
  if not ok then error(err, 2) end
  return setmetatable({
    path = path, cols = rec.cols, rows = rec.rows, bands = rec.nbands, dtype = rec.dtype,
    transform = rec.transform, projection = rec.projection, nodata = rec.nodata,
    rec = rec,
  }, Raster)
end

function Raster:close()
  inputs.close(self.rec)
end

-- r:read{band = b or bands = {...}, window = {xoff, yoff, xsize, ysize}}:
-- a new array (all bands of the whole raster by default).
function Raster:read(opts)
  opts = opts or {}
  local bands = opts.bands or (opts.band and { opts.band })
  if not bands then
    bands = {}
    for b = 1, self.bands do bands[b] = b end
  end
  local w = opts.window or { 0, 0, self.cols, self.rows }
  local xoff, yoff, xsize, ysize = w[1], w[2], w[3], w[4]
  if self.rec.raster == nil then error("r:read: " .. self.path .. " is closed", 2) end
  local a = array.new(self.dtype, #bands, ysize, xsize)
  local list = ffi.new("int[?]", #bands, bands)
  if C.rl_ffi_raster_read(self.rec.raster, xoff, yoff, xsize, ysize, #bands, list, a.data,
                          base.dtype_code[self.dtype], base.err) ~= 0 then
    error(base.errmsg(), 2)
  end
  return a
end

function Raster:__tostring()
  return string.format("%s: %d cols x %d rows, %d band(s) of %s", self.path, self.cols,
                       self.rows, self.bands, self.dtype)
end

-- rios.write(path, arr, opts): write arr as a new raster. opts (all
-- optional): transform (GDAL's six numbers; default pixel coordinates),
-- projection (WKT or "EPSG:n"), driver, creation_options, nodata,
-- layer_names, thematic, stats (true: statistics, histogram and overviews
-- as rios.apply writes them; default false).
function M.write(path, arr, opts)
  if not array.is_array(arr) then error("rios.write: second argument must be an array", 2) end
  opts = opts or {}
  local driver = opts.driver or "GTiff"
  local co = opts.creation_options or controls.creation_options_for(driver)
  local copts = ffi.new("const char *[?]", #co + 1)
  for i = 1, #co do copts[i - 1] = co[i] end
  local names
  if opts.layer_names then
    names = ffi.new("const char *[?]", #opts.layer_names + 1)
    for i = 1, #opts.layer_names do names[i - 1] = opts.layer_names[i] end
  end
  local proj = opts.projection or ""
  if proj:match("^EPSG:%d+$") then proj = M.wkt_from_epsg(proj) end
  local t = ffi.new("double[6]", opts.transform or { 0, 1, 0, 0, 0, -1 })
  local o = C.rl_ffi_output_create(path, driver, arr.cols, arr.rows, arr.bands,
                                   base.dtype_code[arr.dtype], t, proj, copts,
                                   opts.nodata and 1 or 0, opts.nodata or 0, names,
                                   opts.thematic and 1 or 0, base.err)
  if o == nil then error(base.errmsg(), 2) end
  if not opts.stats then C.rl_ffi_output_gather(o, 0, 0) end
  local data, row_stride, band_rows = array.layout(arr)
  local ok = data ~= nil and C.rl_ffi_output_write(o, 0, 0, arr.cols, arr.rows, data,
                                                   row_stride, band_rows, 0, base.err) == 0
  if data == nil then ffi.copy(base.err.msg, "rios.write: give a:copy() of this view") end
  if ok then
    local fo = ffi.new("rl_finish_opts")
    local all = opts.stats and 0 or 1
    fo.omit_basic_stats, fo.omit_histogram, fo.omit_pyramids = all, all, all
    fo.thematic = opts.thematic and 1 or 0
    local levels = { 4, 8, 16, 32, 64, 128, 256, 512 }
    fo.noverview_levels = #levels
    for i = 1, #levels do fo.overview_levels[i - 1] = levels[i] end
    fo.overview_min_dim = 128
    ok = C.rl_ffi_output_finish(o, fo, ffi.new("rl_finish_times"), base.err) == 0
  end
  local msg = not ok and base.errmsg()
  C.rl_ffi_output_close(o)
  if not ok then error(msg, 2) end
end

function M.wkt_from_epsg(code)
  local p = C.rl_ffi_wkt_from_user_input(code, base.err)
  if p == nil then error(base.errmsg(), 3) end
  local s = ffi.string(p)
  C.rl_ffi_heap_free(p)
  return s
end

return M
