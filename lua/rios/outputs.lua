-- rios.outputs: output rasters of one apply. Before anything is opened,
-- the paths are checked (check_paths). A file is created when its first
-- block arrives (type and band count from that array), in a private folder
-- beside its path (runtime/outfile.c), written block by block from the
-- array's own buffer, finished with statistics, a histogram and overviews
-- and sealed (closed, every write checked); when every output of the run
-- is sealed they are committed: moved over their paths. An output closed
-- without a commit leaves its path as it was.
local base = require("rios.base")
local array = require("rios.array")
local files = require("rios.files")
local finishing = require("rios.finishing")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

-- Out-parameters, made once.
local output_out = ffi.new("rios_output *[1]")
local nodata_out = ffi.new("double[1]")
local times = ffi.new("rios_finish_times")
local facts_out = ffi.new("rios_path_facts")
local kind_out, driver_out = ffi.new("int[1]"), ffi.new("rios_text")

-- What is at path: rios_path_facts as a table, plus, when something is
-- there, what GDAL makes of it (kind: "raster", "vector" or nil; driver).
local function path_facts(path, where, label)
  if C.rios_ffi_path_facts(path, facts_out, base.err) ~= OK then
    base.raise(where, "rios.apply: output '" .. label .. "': " .. base.errmsg())
  end
  local f = facts_out
  local t = { exists = f.exists ~= 0, is_dir = f.is_dir ~= 0, is_file = f.is_file ~= 0,
              size = tonumber(f.size), id = tostring(f.dev) .. ":" .. tostring(f.ino),
              folder = ffi.string(f.folder), folder_why = ffi.string(f.folder_why),
              canonical = ffi.string(f.canonical) }
  if t.exists then
    C.rios_ffi_dataset_kind(path, kind_out, driver_out, base.err)
    t.kind = ({ "raster", "vector" })[kind_out[0]]
    t.driver = ffi.string(driver_out.s)
  end
  return t
end

-- Refuse, in one line naming the output (and the other name), every
-- output path that cannot be written without harm, before anything is
-- opened: an output in a folder that cannot take it, at a folder, at a
-- file that is not a raster (an empty file is replaced), at the same file
-- as an input or as another output, however spelled. Nothing is changed.
function M.check_paths(ins, outs, where)
  local function refuse(rec, why)
    base.raise(where, "rios.apply: output '" .. files.label(rec) .. "' (" .. rec.path .. ") "
               .. why)
  end
  local in_ids = {}
  for _, rec in ipairs(ins) do
    local f = facts_out
    if type(rec.path) == "string" and rec.path ~= ""
       and C.rios_ffi_path_facts(rec.path, f, base.err) == OK and f.exists ~= 0 then
      local id = tostring(f.dev) .. ":" .. tostring(f.ino)
      in_ids[id] = in_ids[id] or rec
    end
  end
  local by_id, by_name = {}, {}
  for _, rec in ipairs(outs) do
    if rec.path:sub(1, 4) == "/vsi" then
      refuse(rec, "is on a GDAL virtual file system; outputs are written to files on disk")
    end
    local f = path_facts(rec.path, where, files.label(rec))
    if f.exists then
      local input = in_ids[f.id]
      if input then
        refuse(rec, "is the same file as input '" .. files.label(input) .. "' (" .. input.path
               .. "); write the output to another file")
      end
      if f.is_dir then
        refuse(rec, "is a folder" .. (f.kind and (" (GDAL opens it as a " .. f.kind
               .. " dataset, driver " .. f.driver .. ")") or "") .. "; an output must be a file")
      end
      if not f.is_file then
        refuse(rec, "is not a regular file; an output must be a file")
      end
      if f.kind == "vector" then
        refuse(rec, "is a vector dataset (" .. f.driver .. "), not a raster; rios-lua "
               .. "replaces only rasters")
      end
      if f.kind ~= "raster" and f.size > 0 then
        refuse(rec, "exists and is not a raster GDAL can open; rios-lua replaces only rasters "
               .. "(remove it to write there)")
      end
    end
    if f.folder_why ~= "" then
      refuse(rec, "cannot be written: its folder " .. f.folder .. ": " .. f.folder_why)
    end
    local other = by_name[f.canonical] or (f.exists and by_id[f.id])
    if other then
      base.raise(where, "rios.apply: outputs '" .. files.label(other) .. "' (" .. other.path
                 .. ") and '" .. files.label(rec) .. "' (" .. rec.path .. ") are the same file")
    end
    by_name[f.canonical] = rec
    if f.exists then by_id[f.id] = rec end
  end
end

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


-- c: the run's controls (what the writes gather follows the omit_* keys).
function M.create(rec, arr, grid, where, c)
  local s = rec.settings
  finishing.check_target(rec, arr.dtype, arr.bands, where)
  -- The nodata must be a value the output's pixels can hold exactly (GDAL
  -- would store it clamped or rounded); refused before the file is made.
  if s.stats_ignore ~= nil and C.rios_ffi_dtype_nodata(base.dtype_code[arr.dtype], s.stats_ignore,
                                                        nodata_out, base.err) ~= OK then
    base.raise(where, string.format("output '%s' (%s) cannot have %s as its nodata: %s",
                                    files.label(rec), rec.path, s.stats_ignore_key or "stats_ignore",
                                    base.errmsg()))
  end
  local path, driver, opts, keep = rec.path, s.driver, string_array(s.creation_options)
  -- Driver "COG" (GDAL writes it only as a copy of a whole raster): the
  -- blocks go into a tiled GeoTIFF, which finishing copies with the COG
  -- driver (rios_ffi_output_cog), all in the output's private folder.
  if driver == "COG" then
    driver, opts = "GTiff", C.rios_ffi_cog_temp_options()
    rec.cog = true
  end
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
-- Returns true, or nil and what went wrong (the caller names the output).
function M.write(rec, arr, b, ov, err)
  local data, row_stride, band_rows = array.layout(arr)
  if data == nil then
    return nil, "the array is a view whose bands are not a whole number of rows apart; give "
                .. "a:copy()"
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
-- statistics, histogram, overviews, then seal (close, checked); a COG
-- output is then copied from its GeoTIFF. Adds to timers. The file stays in
-- its private folder until commit_all.
function M.finish(rec, c, timers, where, grid)
  if rec.handle == nil then return end
  finishing.apply_color_table(rec, where)
  local t = finishing.before_close(rec, grid, where)
  if t then timers:add("beforeclose", t) end
  local s = rec.settings
  local fo = finish_opts(c, s)
  local ok = C.rios_ffi_output_finish(rec.handle, fo, times, base.err) == OK
  if not c.omit_pyramids then timers:add("pyramids", times.pyramids) end
  if not c.omit_basic_stats then timers:add("basicstats", times.basicstats) end
  if not c.omit_histogram then timers:add("histogram", times.histogram) end
  ok = ok and C.rios_ffi_output_seal(rec.handle, base.err) == OK
  if ok and rec.cog then
    local t0 = C.rios_ffi_now()
    local opts, keep = string_array(s.creation_options)
    ok = C.rios_ffi_output_cog(rec.handle, opts, base.err) == OK
    local _ = keep
    timers:add("cog", C.rios_ffi_now() - t0)
  end
  if not ok then base.raise(where, "output '" .. files.label(rec) .. "': " .. base.errmsg()) end
end

-- Move every sealed output over its path, in order, with SIGINT/SIGTERM/
-- SIGHUP held back until all have moved (a signal then ends the process,
-- the outputs written). A failure names the output, and those already
-- moved.
function M.commit_all(outs, where)
  C.rios_ffi_signals_defer(1)
  local done = {}
  for _, rec in ipairs(outs) do
    if rec.handle ~= nil and C.rios_ffi_output_commit(rec.handle, base.err) ~= OK then
      local msg = base.errmsg()
      C.rios_ffi_signals_defer(0)
      base.raise(where, "output '" .. files.label(rec) .. "': " .. msg
                 .. (#done > 0 and ("; already in place: " .. table.concat(done, ", ")) or ""))
    end
    done[#done + 1] = rec.path
  end
  C.rios_ffi_signals_defer(0)
end

-- Release the output, however the run ends: what was not committed is
-- removed with its private folder.
function M.close(rec)
  close_handle(rec)
end

return M
