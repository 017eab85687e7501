-- rios.outputs: output rasters of one apply. A file is created when its
-- first block arrives (type and band count from that array), written block
-- by block from the array's own buffer, and finished with statistics, a
-- histogram and overviews.
local base = require("rios.base")
local array = require("rios.array")
local files = require("rios.files")
local finishing = require("rios.finishing")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

-- Out-parameters, made once.
local output_out = ffi.new("rios_output *[1]")
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
    fail(string.format("has %d rows x %d cols but the block needs %d rows x %d cols%s", v.rows, v.cols,
                       info.rows + 2 * ov, info.cols + 2 * ov,
                       ov > 0 and (" (with the overlap of " .. ov .. " on each side)") or ""))
  end
  return v
end

-- The file was created from the first block's array: every later block
-- must give the same dtype and bands. label: the block's, for the message.
function M.check_same(rec, arr, where, label)
  if rec.dtype and (arr.dtype ~= rec.dtype or arr.bands ~= rec.bands) then
    base.raise(where, string.format("output '%s' is %s with %s but the file was created "
                                    .. "as %s with %s in block %s", files.label(rec),
                                    arr.dtype, base.count(arr.bands, "band"), rec.dtype,
                                    base.count(rec.bands, "band"), label))
  end
end


local tempdir_out = ffi.new("rios_tempdir *[1]")
local name_buf = ffi.new("char[4096]")

-- Driver "COG" (GDAL writes it only as a copy of a whole raster): the
-- blocks go into a temporary GeoTIFF in a private folder beside the file
-- (the same file system), removed however the run ends (M.close) and by the
-- runtime on SIGINT/SIGTERM; finishing copies it with the COG driver
-- (rios_ffi_cog_copy). Returns the folder (removed when collected, too)
-- and the GeoTIFF's path, or nil and a message.
function M.cog_temp(path)
  local dir = path:match("^(.*)/[^/]*$") or "."
  if dir == "" then dir = "/" end
  if C.rios_ffi_tempdir_new(dir, tempdir_out, base.err) ~= OK then return nil, base.errmsg() end
  local folder = ffi.gc(tempdir_out[0], C.rios_ffi_tempdir_remove)
  tempdir_out[0] = nil
  if C.rios_ffi_tempdir_name(folder, "cog", ".tif", name_buf, 4096, base.err) ~= OK then
    local msg = base.errmsg()
    C.rios_ffi_tempdir_remove(ffi.gc(folder, nil))
    return nil, msg
  end
  return folder, ffi.string(name_buf)
end

function M.cog_remove(folder)
  if folder ~= nil then C.rios_ffi_tempdir_remove(ffi.gc(folder, nil)) end
end

-- c: the run's controls (what the writes gather follows the omit_* keys).
function M.create(rec, arr, grid, where, c)
  local s = rec.settings
  finishing.check_target(rec, arr.dtype, arr.bands, where)
  local path, driver, opts, keep = rec.path, s.driver, string_array(s.creation_options)
  if driver == "COG" then
    local folder, temp = M.cog_temp(rec.path)
    if not folder then base.raise(where, "output '" .. files.label(rec) .. "': " .. temp) end
    rec.cog_dir = folder
    path, driver, opts = temp, "GTiff", C.rios_ffi_cog_temp_options()
  end
  rec.write_path = path
  local names, keep2 = string_array(s.layer_names)
  local t = ffi.new("double[6]", grid.transform)
  local rc = C.rios_ffi_output_create(path, driver, grid.cols, grid.rows, arr.bands,
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
    -- a ramp by its name needs the data's range, which the statistics keep
    local stats = not c.omit_basic_stats or finishing.needs_range(s.color_table)
    C.rios_ffi_output_gather(o, stats and 1 or 0, c.omit_histogram and 0 or 1)
    rec.gathered = stats or not c.omit_histogram
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

local function close_handle(rec)
  if rec.handle ~= nil then
    C.rios_ffi_output_close(ffi.gc(rec.handle, nil))
    rec.handle = nil
  end
end

-- The colour table and controls.before_close (rios.finishing), then
-- statistics, histogram, overviews, then close; a COG output is then
-- copied from its temporary GeoTIFF. Adds to timers.
function M.finish(rec, c, timers, where, grid)
  if rec.handle == nil then return end
  finishing.apply_color_table(rec, where)
  local t = finishing.before_close(rec, grid, where)
  if t then timers:add("beforeclose", t) end
  local s = rec.settings
  local fo = finish_opts(c, s)
  local ok = C.rios_ffi_output_finish(rec.handle, fo, times, base.err) == OK
  local msg = not ok and base.errmsg()
  if not c.omit_pyramids then timers:add("pyramids", times.pyramids) end
  if not c.omit_basic_stats then timers:add("basicstats", times.basicstats) end
  if not c.omit_histogram then timers:add("histogram", times.histogram) end
  close_handle(rec)
  if ok and rec.cog_dir ~= nil then
    -- dst: the path the final file is written at
    local dst = rec.path
    local t0 = C.rios_ffi_now()
    local opts, keep = string_array(s.creation_options)
    ok = C.rios_ffi_cog_copy(rec.write_path, dst, opts, base.err) == OK
    local _ = keep
    msg = not ok and base.errmsg()
    timers:add("cog", C.rios_ffi_now() - t0)
  end
  M.close(rec)
  if not ok then base.raise(where, "output '" .. files.label(rec) .. "': " .. msg) end
end

-- Release what rec holds, however the run ends: the open file, and the
-- temporary GeoTIFF of a COG output with its folder.
function M.close(rec)
  close_handle(rec)
  M.cog_remove(rec.cog_dir)
  rec.cog_dir = nil
end

return M
