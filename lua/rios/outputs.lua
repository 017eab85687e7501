-- rios.outputs: output rasters of one apply. A file is created when its
-- first block arrives (type and band count from that array), written block
-- by block from the array's own buffer, and finished with statistics, a
-- histogram and overviews.
local base = require("rios.base")
local array = require("rios.array")
local files = require("rios.files")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

-- Out-parameters, made once.
local output_out = ffi.new("rios_output *[1]")
local nodata_out = ffi.new("double[1]")
local times = ffi.new("rios_finish_times")

local function string_array(list)
  local n = list and #list or 0
  local arr = ffi.new("const char *[?]", n + 1)
  for i = 1, n do arr[i - 1] = list[i] end
  arr[n] = nil
  return arr, list  -- keep list alive with arr
end

-- Check what the block function put in outputs for rec's name; returns the
-- array for rec. block: "(row r, col c)" label maker.
function M.array_for(rec, outputs, info, where)
  local v = outputs[rec.name]
  local label = files.label(rec)
  local function fail(why)
    base.raise(where, "output '" .. label .. "' " .. why .. " in block " .. info:label())
  end
  if rec.index then
    if type(v) ~= "table" or getmetatable(v) == array.mt then
      if v == nil then fail("was not set (it needs a list of " .. rec.count .. " arrays)") end
      fail("must be a list of " .. rec.count .. " arrays, got "
           .. (array.is_array(v) and "one array" or type(v)))
    end
    v = v[rec.index]
  end
  if v == nil then fail("was not set by the block function") end
  if not array.is_array(v) then
    fail("must be a rios array, got " .. type(v))
  end
  if v.data == nil then fail("holds an array that was already released") end
  local ov = info.ov
  if v.rows ~= info.rows + 2 * ov or v.cols ~= info.cols + 2 * ov then
    fail(string.format("has %d rows x %d cols but the block needs %d x %d%s", v.rows, v.cols,
                       info.rows + 2 * ov, info.cols + 2 * ov,
                       ov > 0 and (" (with the overlap of " .. ov .. " on each side)") or ""))
  end
  return v
end

-- The file was created from the first block's array: every later block
-- must give the same dtype and bands. label: the block's, for the message.
function M.check_same(rec, arr, where, label)
  if rec.dtype and (arr.dtype ~= rec.dtype or arr.bands ~= rec.bands) then
    base.raise(where, string.format("output '%s' is %s with %d bands but the file was created "
                                    .. "as %s with %d bands in block %s", files.label(rec),
                                    arr.dtype, arr.bands, rec.dtype, rec.bands, label))
  end
end


-- c: the run's controls (what the writes gather follows the omit_* keys).
function M.create(rec, arr, grid, where, c)
  local s = rec.settings
  -- The nodata must be a value the output's pixels can hold exactly (GDAL
  -- would store it clamped or rounded); refused before the file is made.
  if s.stats_ignore ~= nil and C.rios_ffi_dtype_nodata(base.dtype_code[arr.dtype], s.stats_ignore,
                                                        nodata_out, base.err) ~= OK then
    base.raise(where, string.format("output '%s' (%s) cannot have %s as its nodata: %s",
                                    files.label(rec), rec.path, s.stats_ignore_key or "stats_ignore",
                                    base.errmsg()))
  end
  local opts, keep = string_array(s.creation_options)
  local names, keep2 = string_array(s.layer_names)
  local t = ffi.new("double[6]", grid.transform)
  local rc = C.rios_ffi_output_create(rec.path, s.driver, grid.cols, grid.rows, arr.bands,
                                      base.dtype_code[arr.dtype], t, grid.projection, opts,
                                      s.stats_ignore ~= nil and 1 or 0, s.stats_ignore or 0,
                                      s.layer_names and names or nil, s.thematic and 1 or 0,
                                      output_out, base.err)
  local _ = keep, keep2
  if rc ~= OK then base.raise(where, "output '" .. files.label(rec) .. "': " .. base.errmsg()) end
  local o = output_out[0]
  output_out[0] = nil
  rec.handle = ffi.gc(o, C.rios_ffi_output_close)
  if c then
    C.rios_ffi_output_gather(o, c.omit_basic_stats and 0 or 1, c.omit_histogram and 0 or 1)
    if C.rios_ffi_output_overviews(o, M.finish_opts(c, s), base.err) ~= OK then
      base.raise(where, "output '" .. files.label(rec) .. "': " .. base.errmsg())
    end
  end
  rec.dtype, rec.bands = arr.dtype, arr.bands
end

-- Write the centre of arr (its margin is the overlap) at block b's place.
-- A view (a:window) is written from its parent's memory with its strides.
function M.write(rec, arr, b, ov, err)
  local data, row_stride, band_rows = array.layout(arr)
  if data == nil then
    return nil, "output '" .. files.label(rec) .. "' is a view whose bands are not a whole "
                .. "number of rows apart; give a:copy()"
  end
  if C.rios_ffi_output_write(rec.handle, b.xoff, b.yoff, b.cols, b.rows, data,
                           row_stride, band_rows, ov, err) ~= OK then
    return nil, ffi.string(err.msg)
  end
  return true
end

local function finish_opts(c, s)
  local fo = ffi.new("rios_finish_opts")
  fo.omit_basic_stats = c.omit_basic_stats and 1 or 0
  fo.omit_histogram = c.omit_histogram and 1 or 0
  fo.omit_pyramids = c.omit_pyramids and 1 or 0
  fo.thematic = s.thematic and 1 or 0
  local n = math.min(#c.overview_levels, ffi.sizeof(fo.overview_levels) / ffi.sizeof("int"))
  fo.noverview_levels = n
  for i = 1, n do fo.overview_levels[i - 1] = c.overview_levels[i] end
  fo.overview_min_dim = c.overview_min_dim
  fo.overview_aggtype = c.overview_aggtype
  return fo
end
M.finish_opts = finish_opts

-- Statistics, histogram, overviews, then close. Adds to timers.
function M.finish(rec, c, timers, where)
  if rec.handle == nil then return end
  local fo = finish_opts(c, rec.settings)
  local ok = C.rios_ffi_output_finish(rec.handle, fo, times, base.err) == OK
  local msg = not ok and base.errmsg()
  if not c.omit_pyramids then timers:add("pyramids", times.pyramids) end
  if not c.omit_basic_stats then timers:add("basicstats", times.basicstats) end
  if not c.omit_histogram then timers:add("histogram", times.histogram) end
  M.close(rec)
  if not ok then base.raise(where, "output '" .. files.label(rec) .. "': " .. msg) end
end

function M.close(rec)
  if rec.handle ~= nil then
    C.rios_ffi_output_close(ffi.gc(rec.handle, nil))
    rec.handle = nil
  end
end

return M
