-- rios.rat: raster attribute tables (RATs), after RIOS's rat.py. A band's
-- table has one row per pixel value (row 0 is value 0) and named columns of
-- integers, reals or strings, each with a usage (GDAL's GFU_*).
--
--   rios.rat.write_column("classes.img", "Area", areas)   -- an array or a list
--   local names = rios.rat.read_column("classes.img", "Name")
--   local t = rios.rat.open("classes.img", {update = true})   -- many calls, one open
--   t:write_column("Red", reds); t:close()
--
-- Columns come back as rios arrays of 1 band x 1 row x N cols (int32 for
-- integer columns, float64 for real ones; a.data[v] is the value of pixel
-- value v) and as Lua lists for strings (list[v + 1]).
--
-- RIOS's conventions:
--   * "Histogram": the pixel count of each value, a real column of usage
--     PixelCount (write_histogram; stats weights by it);
--   * "Red", "Green", "Blue", "Alpha": integer columns 0..255 of the colour
--     usages (HFA keeps them as 0..1 in the file; GDAL gives them as
--     0..255, as every driver does, so nothing is scaled here);
--   * a uint8 band's table gets 256 rows, one per possible value.
-- A new column named Histogram, Red, Green, Blue or Alpha takes that usage
-- (and type) unless told otherwise; others are Generic.
local base = require("rios.base")
local array = require("rios.array")
local colortable = require("rios.colortable")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

M.types = { int = 0, float = 1, string = 2 }
local type_alias = { integer = "int", real = "float" }
M.type_names = { [0] = "int", [1] = "float", [2] = "string" }
local usage_list = { "Generic", "PixelCount", "Name", "Min", "Max", "MinMax", "Red", "Green",
                     "Blue", "Alpha", "RedMin", "GreenMin", "BlueMin", "AlphaMin", "RedMax",
                     "GreenMax", "BlueMax", "AlphaMax" }
M.usages, M.usage_names = {}, {}
for i, name in ipairs(usage_list) do
  M.usages[name] = i - 1
  M.usage_names[i - 1] = name
end

M.HISTOGRAM = "Histogram"
-- Columns whose name says what they hold (RIOS's conventions).
M.named_columns = {
  Histogram = { type = "float", usage = "PixelCount" },
  Red = { type = "int", usage = "Red" }, Green = { type = "int", usage = "Green" },
  Blue = { type = "int", usage = "Blue" }, Alpha = { type = "int", usage = "Alpha" },
}

local INT_MAX = 2147483647

-- Scratch out-parameters, made once per Lua state.
local handle_out = ffi.new("rios_rat *[1]")
local name_out = ffi.new("const char *[1]")
local int_out = ffi.new("int[3]")
local dbl_out = ffi.new("double[1]")
local dbl4 = ffi.new("double[4]")

local where_of = base.where
local floor = math.floor

local Rat = {}
Rat.__index = Rat
M.Rat = Rat

local function close_quietly(h) C.rios_ffi_rat_close(h, nil) end

local function check_band(fname, where, band)
  if type(band) ~= "number" or band ~= floor(band) or band < 1 then
    base.raise(where, fname .. ": band must be a whole number >= 1, got " .. tostring(band))
  end
end

local function open(fname, where, path, band, update)
  if type(path) ~= "string" then
    base.raise(where, fname .. ": the file must be a path (a string), got " .. type(path))
  end
  band = band or 1
  check_band(fname, where, band)
  if C.rios_ffi_rat_open(path, band, update and 1 or 0, handle_out, base.err) ~= OK then
    base.raise(where, fname .. ": " .. base.errmsg())
  end
  return M.wrap(ffi.gc(handle_out[0], close_quietly), path, band, update)
end

-- rios.rat.open(path [, {band = 1, update = false}]): the table of a band,
-- kept open for many reads and writes; t:close() writes it back.
function M.open(path, opts)
  local where = where_of(2)
  opts = opts or {}
  if type(opts) ~= "table" then
    base.raise(where, "rios.rat.open: the options must be a table like {band = 1, update = true}")
  end
  return open("rios.rat.open", where, path, opts.band, opts.update)
end

-- Internal: a table object around a rios_rat handle the caller made (the
-- output side attaches one to the dataset it is writing with
-- rios_rat_attach, runtime/bandtables.h). The caller closes it (t:close())
-- before it closes the dataset.
function M.wrap(handle, label, band, update)
  return setmetatable({ handle = handle, path = label, band = band, update = update and true },
                      Rat)
end

local function live(self, fname, where)
  if self.handle == nil then
    base.raise(where, fname .. ": the attribute table of " .. self.path .. " is closed")
  end
  return self.handle
end

-- t:close(): write a changed table back (drivers that keep it beside the
-- file, in .aux.xml, need this) and close the file.
function Rat:close()
  local h = self.handle
  if h == nil then return end
  self.handle = nil
  ffi.gc(h, nil)
  if C.rios_ffi_rat_close(h, base.err) ~= OK then
    base.raise(where_of(2), "rios.rat: " .. base.errmsg())
  end
end

-- t:discard(): close without writing a changed table back (after a
-- failure; drivers that write to the file as they go keep what was written).
function Rat:discard()
  local h = self.handle
  if h == nil then return end
  self.handle = nil
  ffi.gc(h, nil)
  C.rios_ffi_rat_discard(h)
end

function Rat:row_count()
  return C.rios_ffi_rat_row_count(live(self, "t:row_count", where_of(2)))
end

-- The band's dtype (nil if rios has none for it), nodata (or nil) and
-- whether it is thematic.
function Rat:band_info()
  local h = live(self, "t:band_info", where_of(2))
  C.rios_ffi_rat_band(h, int_out, int_out + 1, dbl_out, int_out + 2)
  return base.dtypes[int_out[0] + 1], int_out[1] ~= 0 and dbl_out[0] or nil, int_out[2] ~= 0
end

-- t:columns(): a list of {name =, type = "int"|"float"|"string", usage = "Generic"...}.
function Rat:columns()
  local where = where_of(2)
  local h = live(self, "t:columns", where)
  local list = {}
  for i = 0, C.rios_ffi_rat_column_count(h) - 1 do
    if C.rios_ffi_rat_column(h, i, name_out, int_out, int_out + 1, base.err) ~= OK then
      base.raise(where, "rios.rat: " .. base.errmsg())
    end
    list[i + 1] = { name = ffi.string(name_out[0]), type = M.type_names[int_out[0]],
                    usage = M.usage_names[int_out[1]] or tostring(int_out[1]) }
  end
  return list
end

function Rat:column_names()
  local names = {}
  for i, c in ipairs(self:columns()) do names[i] = c.name end
  return names
end

function Rat:has_column(name)
  return C.rios_ffi_rat_find_column(live(self, "t:has_column", where_of(2)), name) >= 0
end

-- index, type code and usage code of a column, or a one-line error.
local function column(self, fname, where, name)
  local h = live(self, fname, where)
  if type(name) ~= "string" then
    base.raise(where, fname .. ": a column name must be a string, got " .. type(name))
  end
  local col = C.rios_ffi_rat_find_column(h, name)
  if col < 0 then
    local have = {}
    for i, c in ipairs(self:columns()) do have[i] = c.name end
    base.raise(where, string.format("%s: %s band %d has no column \"%s\" (%s)", fname, self.path,
                                    self.band, name, #have > 0 and ("it has "
                                    .. table.concat(have, ", ")) or "it has no attribute table"))
  end
  if C.rios_ffi_rat_column(h, col, name_out, int_out, int_out + 1, base.err) ~= OK then
    base.raise(where, fname .. ": " .. base.errmsg())
  end
  return col, int_out[0], int_out[1]
end
M.column_index = column

function Rat:column_type(name)
  local _, t = column(self, "t:column_type", where_of(2), name)
  return M.type_names[t]
end

function Rat:column_usage(name)
  local _, _, u = column(self, "t:column_usage", where_of(2), name)
  return M.usage_names[u] or tostring(u)
end

local function set_row_count(self, fname, where, n)
  if type(n) ~= "number" or n ~= floor(n) or n < 0 or n > INT_MAX then
    base.raise(where, fname .. ": a row count must be a whole number >= 0, got " .. tostring(n))
  end
  if C.rios_ffi_rat_set_row_count(live(self, fname, where), n, base.err) ~= OK then
    base.raise(where, fname .. ": " .. base.errmsg())
  end
end
M.set_row_count_of = set_row_count

function Rat:set_row_count(n)
  set_row_count(self, "t:set_row_count", where_of(2), n)
end

-- Read n rows from start of column (index col, type t, usage u) into a new
-- array or list. Shared with rios.ratapply.
function M.read_rows(self, fname, where, col, t, u, start, n, into)
  local h = self.handle
  if t == 2 then
    local ptrs = ffi.new("char *[?]", n)
    local rc = C.rios_ffi_rat_read_strings(h, col, start, n, ptrs, base.err)
    local list
    if rc == OK then
      list = {}
      for i = 0, n - 1 do list[i + 1] = ffi.string(ptrs[i]) end
    end
    C.rios_ffi_rat_strings_free(ptrs, n)
    if rc ~= OK then base.raise(where, fname .. ": " .. base.errmsg()) end
    return list
  end
  local dtype = t == 0 and "int32" or "float64"
  local a = into
  if a == nil or a.dtype ~= dtype then a = array.new(dtype, 1, 1, n) end
  if C.rios_ffi_rat_read(h, col, start, n, a.data, base.dtype_code[dtype], base.err) ~= OK then
    base.raise(where, fname .. ": " .. base.errmsg())
  end
  return a
end

local function check_rows(fname, where, start, n, rows, what)
  if type(start) ~= "number" or start ~= floor(start) or start < 0 then
    base.raise(where, fname .. ": the first row must be a whole number >= 0 (rows are numbered "
               .. "from 0, as pixel values are), got " .. tostring(start))
  end
  if type(n) ~= "number" or n ~= floor(n) or n < 1 or start + n > rows then
    local last = start + (tonumber(n) or 1) - 1
    base.raise(where, string.format("%s: rows %s to %s are not in the table of %s (%d rows)",
                                    fname, tostring(start), tostring(last), what, rows))
  end
end

-- t:read_column(name [, start [, n]]): rows start .. start + n - 1 (all by
-- default) of a column.
function Rat:read_column(name, start, n)
  local where = where_of(2)
  local col, t, u = column(self, "t:read_column", where, name)
  local rows = C.rios_ffi_rat_row_count(self.handle)
  start = start or 0
  n = n or rows - start
  check_rows("t:read_column", where, start, n, rows,
             self.path .. " band " .. self.band .. " column \"" .. name .. "\"")
  return M.read_rows(self, "t:read_column", where, col, t, u, start, n)
end

local function format_number(v)
  if v == floor(v) and math.abs(v) < 1e15 then return string.format("%d", v) end
  return string.format("%.17g", v)
end

-- What values holds: { kind = "int"|"float"|"string", n =, data =, dtype =,
-- list =, keep = }. Arrays give their elements band after band; lists of
-- numbers are all whole numbers in int32's range (int) or not (float).
function M.values_of(fname, where, values)
  if array.is_array(values) then
    if not values:is_contiguous() then values = values:copy() end
    local float = values.dtype == "float32" or values.dtype == "float64"
    return { kind = float and "float" or "int", n = values.bands * values.rows * values.cols,
             data = values.data, dtype = values.dtype, keep = values }
  end
  if type(values) ~= "table" then
    base.raise(where, fname .. ": the values must be a rios array or a list of numbers or "
               .. "strings, got " .. type(values))
  end
  local n = #values
  if n == 0 then base.raise(where, fname .. ": the list of values is empty") end
  local nnum, nstr, whole = 0, 0, true
  for i = 1, n do
    local v = values[i]
    if type(v) == "number" then
      nnum = nnum + 1
      if not (v == floor(v) and v >= -INT_MAX - 1 and v <= INT_MAX) then whole = false end
    elseif type(v) == "string" then
      nstr = nstr + 1
    else
      base.raise(where, string.format("%s: value [%d] is %s; the list must hold numbers or "
                                      .. "strings, with no gaps", fname, i, type(v)))
    end
  end
  if nnum > 0 and nstr > 0 then
    base.raise(where, fname .. ": the list mixes numbers and strings; give one kind")
  end
  if nstr > 0 then return { kind = "string", n = n, list = values } end
  local a = array.new("float64", 1, 1, n)
  for i = 1, n do a.data[i - 1] = values[i] end
  return { kind = whole and "int" or "float", n = n, data = a.data, dtype = "float64", keep = a,
           list = values }
end

-- Write vals (from M.values_of) into rows start.. of column col (named
-- name, of type t).
function M.write_rows(self, fname, where, name, col, t, start, vals)
  local h = self.handle
  local rc
  if t == 2 then
    local strs = vals.list
    if vals.kind ~= "string" then
      strs = {}
      if vals.list then
        for i = 1, vals.n do strs[i] = format_number(vals.list[i]) end
      else
        for i = 0, vals.n - 1 do strs[i + 1] = format_number(tonumber(vals.data[i])) end
      end
    end
    local ptrs = ffi.new("const char *[?]", vals.n)
    for i = 1, vals.n do ptrs[i - 1] = strs[i] end
    -- strs (or vals.list) keeps the strings ptrs points into alive
    rc = C.rios_ffi_rat_write_strings(h, col, start, vals.n, ptrs, base.err)
  else
    if vals.kind == "string" then
      base.raise(where, string.format("%s: column \"%s\" of %s holds numbers, not strings", fname,
                                      name, self.path))
    end
    rc = C.rios_ffi_rat_write(h, col, start, vals.n, vals.data, base.dtype_code[vals.dtype],
                              base.err)
  end
  if rc ~= OK then base.raise(where, fname .. ": " .. base.errmsg()) end
end

local function type_code(fname, where, name)
  local t = M.types[type_alias[name] or name]
  if not t then
    base.raise(where, fname .. ": type must be \"int\", \"float\" or \"string\", got "
               .. tostring(name))
  end
  return t
end
M.type_code = type_code

local function usage_code(fname, where, name)
  local u = M.usages[name]
  if not u then
    base.raise(where, fname .. ": usage must be one of " .. table.concat(usage_list, ", ")
               .. ", got " .. tostring(name))
  end
  return u
end
M.usage_code = usage_code

-- The index of column name, made (with type from opts, the name's
-- convention or the values, and usage from opts or the name's convention)
-- when the table has none.
function M.find_or_create(self, fname, where, name, kind, opts)
  local h = self.handle
  local col = C.rios_ffi_rat_find_column(h, name)
  if col >= 0 then
    if C.rios_ffi_rat_column(h, col, name_out, int_out, int_out + 1, base.err) ~= OK then
      base.raise(where, fname .. ": " .. base.errmsg())
    end
    local t = int_out[0]
    if opts.type and type_code(fname, where, opts.type) ~= t then
      base.raise(where, string.format("%s: column \"%s\" of %s is %s; it cannot be written as %s",
                                      fname, name, self.path, M.type_names[t], opts.type))
    end
    return col, t
  end
  local conv = M.named_columns[name] or {}
  local t = type_code(fname, where, opts.type or conv.type or kind)
  local u = usage_code(fname, where, opts.usage or conv.usage or "Generic")
  if C.rios_ffi_rat_create_column(h, name, t, u, int_out, base.err) ~= OK then
    base.raise(where, fname .. ": " .. base.errmsg())
  end
  return int_out[0], t
end

-- Grow the table to hold rows up to `needed` (a uint8 band's to 256 rows).
function M.ensure_rows(self, fname, where, needed)
  local h = self.handle
  local rows = C.rios_ffi_rat_row_count(h)
  if rows >= needed then return end
  C.rios_ffi_rat_band(h, int_out, int_out + 1, dbl_out, int_out + 2)
  if int_out[0] == base.dtype_code.uint8 and needed < 256 then needed = 256 end
  set_row_count(self, fname, where, needed)
end

-- t:write_column(name, values [, {start = 0, type =, usage =}]): write
-- values (an array, or a list of numbers or strings) into rows start...,
-- making the column when there is none and growing the table as needed.
function Rat:write_column(name, values, opts)
  local where = where_of(2)
  local fname = "t:write_column"
  live(self, fname, where)
  if type(name) ~= "string" or name == "" then
    base.raise(where, fname .. ": a column name must be a non-empty string")
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    base.raise(where, fname .. ": the options must be a table like {type = \"float\"}")
  end
  local start = opts.start or 0
  if type(start) ~= "number" or start ~= floor(start) or start < 0 then
    base.raise(where, fname .. ": start must be a whole number >= 0, got " .. tostring(start))
  end
  if not self.update then
    base.raise(where, fname .. ": " .. self.path .. " was opened for reading (rios.rat.open "
               .. "with {update = true} to write)")
  end
  local vals = M.values_of(fname, where, values)
  M.ensure_rows(self, fname, where, start + vals.n)
  local col, t = M.find_or_create(self, fname, where, name, vals.kind, opts)
  M.write_rows(self, fname, where, name, col, t, start, vals)
end

-- t:set_linear_binning(row0_min, bin_size): row i holds the values from
-- row0_min + i * bin_size (what a histogram's rows stand for).
function Rat:set_linear_binning(row0_min, bin_size)
  local where = where_of(2)
  if C.rios_ffi_rat_set_linear_binning(live(self, "t:set_linear_binning", where), row0_min,
                                       bin_size, base.err) ~= OK then
    base.raise(where, "t:set_linear_binning: " .. base.errmsg())
  end
end

-- Run fn(t) on the table of band of path and close it (written back when
-- update); the table is discarded, not written, when fn fails.
local function with_table(fname, where, path, band, update, fn)
  local t = open(fname, where, path, band, update)
  local ok, a = pcall(fn, t)
  if not ok then
    t:discard()
    error(a, 0)
  end
  if t.handle ~= nil then
    local h = t.handle
    t.handle = nil
    ffi.gc(h, nil)
    if C.rios_ffi_rat_close(h, base.err) ~= OK then
      base.raise(where, fname .. ": " .. base.errmsg())
    end
  end
  return a
end

-- The functions on a path, after RIOS's rat.py (band 1 by default).

-- rios.rat.column_names(path [, band])
function M.column_names(path, band)
  return with_table("rios.rat.column_names", where_of(2), path, band, false,
                    function(t) return t:column_names() end)
end

-- rios.rat.columns(path [, band]): {name =, type =, usage =} per column.
function M.columns(path, band)
  return with_table("rios.rat.columns", where_of(2), path, band, false,
                    function(t) return t:columns() end)
end

-- rios.rat.row_count(path [, band])
function M.row_count(path, band)
  return with_table("rios.rat.row_count", where_of(2), path, band, false,
                    function(t) return t:row_count() end)
end

-- rios.rat.column_usage(path, name [, band]): "Generic", "PixelCount", "Red"...
function M.column_usage(path, name, band)
  local where = where_of(2)
  return with_table("rios.rat.column_usage", where, path, band, false, function(t)
    local _, _, u = column(t, "rios.rat.column_usage", where, name)
    return M.usage_names[u] or tostring(u)
  end)
end

-- rios.rat.column_type(path, name [, band]): "int", "float" or "string".
function M.column_type(path, name, band)
  local where = where_of(2)
  return with_table("rios.rat.column_type", where, path, band, false, function(t)
    local _, ty = column(t, "rios.rat.column_type", where, name)
    return M.type_names[ty]
  end)
end

-- rios.rat.read_column(path, name [, band]): the whole column.
function M.read_column(path, name, band)
  local where = where_of(2)
  local fname = "rios.rat.read_column"
  return with_table(fname, where, path, band, false, function(t)
    local col, ty, u = column(t, fname, where, name)
    local rows = t:row_count()
    if rows == 0 then
      base.raise(where, string.format("%s: the attribute table of %s band %d has no rows", fname,
                                      path, t.band))
    end
    return M.read_rows(t, fname, where, col, ty, u, 0, rows)
  end)
end

-- rios.rat.write_column(path, name, values [, {band =, type =, usage =, start =}])
function M.write_column(path, name, values, opts)
  local where = where_of(2)
  local fname = "rios.rat.write_column"
  opts = opts or {}
  if type(opts) ~= "table" then
    base.raise(where, fname .. ": the options must be a table like {band = 1, usage = \"Name\"}")
  end
  if type(name) ~= "string" or name == "" then
    base.raise(where, fname .. ": a column name must be a non-empty string")
  end
  local vals = M.values_of(fname, where, values)
  if opts.type then type_code(fname, where, opts.type) end
  if opts.usage then usage_code(fname, where, opts.usage) end
  local start = opts.start or 0
  if type(start) ~= "number" or start ~= floor(start) or start < 0 then
    base.raise(where, fname .. ": start must be a whole number >= 0, got " .. tostring(start))
  end
  with_table(fname, where, path, opts.band, true, function(t)
    M.ensure_rows(t, fname, where, start + vals.n)
    local col, ty = M.find_or_create(t, fname, where, name, vals.kind, opts)
    M.write_rows(t, fname, where, name, col, ty, start, vals)
  end)
end

-- rios.rat.write_histogram(path, counts [, band]): RIOS's "Histogram"
-- column (real, usage PixelCount; row i the count of value i) and the
-- table's binning (row i is value i).
function M.write_histogram(path, counts, band)
  local where = where_of(2)
  local fname = "rios.rat.write_histogram"
  local vals = M.values_of(fname, where, counts)
  if vals.kind == "string" then base.raise(where, fname .. ": counts must be numbers") end
  with_table(fname, where, path, band, true, function(t)
    M.ensure_rows(t, fname, where, vals.n)
    local col, ty = M.find_or_create(t, fname, where, M.HISTOGRAM, "float", {})
    M.write_rows(t, fname, where, M.HISTOGRAM, col, ty, 0, vals)
    if C.rios_ffi_rat_set_linear_binning(t.handle, 0, 1, base.err) ~= OK then
      base.raise(where, fname .. ": " .. base.errmsg())
    end
  end)
end

-- rios.rat.get_color_table(path [, band]): the band's colour table (GDAL's
-- palette) as { [value] = {r, g, b, a} } from value 0, or nil.
function M.get_color_table(path, band)
  local where = where_of(2)
  local fname = "rios.rat.get_color_table"
  band = band or 1
  check_band(fname, where, band)
  local r = require("rios.raster").open_at(path, where, fname .. ": ")
  if band > r.bands then
    r:close()
    base.raise(where, string.format("%s: %s has no band %d (it has %d)", fname, path, band,
                                    r.bands))
  end
  local ok, ct = pcall(colortable.read, r.rec.raster, band, where .. fname .. ": ")
  r:close()
  if not ok then error(ct, 0) end
  return ct
end

-- rios.rat.set_color_table(path, color_table [, band]): set the band's
-- colour table (a table, a ramp name spread over the band's values, or
-- {ramp =, min =, max =}; see rios.write) and make it Palette.
function M.set_color_table(path, ct, band)
  local where = where_of(2)
  local fname = "rios.rat.set_color_table: " .. tostring(path)
  band = band or 1
  check_band(fname, where, band)
  local raster = require("rios.raster")
  if type(path) ~= "string" then base.raise(where, fname .. ": the file must be a path") end
  local r = raster.open_at(path, where, "rios.rat.set_color_table: ")
  if band > r.bands then
    r:close()
    base.raise(where, string.format("%s: has no band %d (it has %d)", fname, band, r.bands))
  end
  -- the stored statistics, else computed ones (int_out[0]: whether found)
  local s, msg = nil, nil
  if C.rios_ffi_raster_stats(r.rec.raster, band, 0, int_out, dbl4, base.err) ~= OK
     or (int_out[0] == 0
         and C.rios_ffi_raster_stats(r.rec.raster, band, 1, int_out, dbl4, base.err) ~= OK) then
    msg = base.errmsg()
  elseif int_out[0] ~= 0 then
    s = { dbl4[0], dbl4[1] }
  end
  local dtype, nbands, driver, nodata = r.dtype, r.bands, r.driver, r.nodata[band]
  r:close()
  if msg then base.raise(where, fname .. ": " .. msg) end
  local lo, hi = s and s[1], s and s[2]
  local n, rgba = colortable.encode(ct, { fname = fname, where = where, lo = lo, hi = hi,
                                          nodata = nodata })
  colortable.check_target(fname, where, driver, dtype, nbands, n, rgba)
  if C.rios_ffi_color_table_write(path, band, n, rgba, base.err) ~= OK then
    base.raise(where, "rios.rat.set_color_table: " .. base.errmsg())
  end
end

local colour_columns = { "Red", "Green", "Blue", "Alpha" }

-- rios.rat.write_color_columns(path, color_table [, band]): the colours as
-- RIOS's Red, Green, Blue and Alpha columns (integers 0..255, colour
-- usages), one row per value; values not given are transparent black. A
-- ramp name alone spreads over rows 0 .. row count - 1.
function M.write_color_columns(path, ct, band)
  local where = where_of(2)
  local fname = "rios.rat.write_color_columns"
  with_table(fname, where, path, band, true, function(t)
    local rows = t:row_count()
    local n, rgba = colortable.encode(ct, { fname = fname .. ": " .. path, where = where, lo = 0,
                                            hi = rows > 0 and rows - 1 or nil })
    local a = array.new("int32", 1, 1, n)
    M.ensure_rows(t, fname, where, n)
    for k = 1, 4 do
      for i = 0, n - 1 do a.data[i] = rgba[4 * i + k - 1] end
      local col, ty = M.find_or_create(t, fname, where, colour_columns[k], "int", {})
      M.write_rows(t, fname, where, colour_columns[k], col, ty, 0,
                   { kind = "int", n = n, data = a.data, dtype = "int32" })
    end
  end)
end

-- rios.rat.read_color_columns(path [, band]): { [row] = {r, g, b, a} } from
-- the Red, Green, Blue (and Alpha, else 255) columns.
function M.read_color_columns(path, band)
  local where = where_of(2)
  local fname = "rios.rat.read_color_columns"
  return with_table(fname, where, path, band, false, function(t)
    local rows = t:row_count()
    if rows == 0 then
      base.raise(where, fname .. ": the attribute table of " .. path .. " has no rows")
    end
    local cols = {}
    for k, name in ipairs(colour_columns) do
      if k < 4 or t:has_column(name) then
        local col, ty, u = column(t, fname, where, name)
        cols[k] = M.read_rows(t, fname, where, col, ty, u, 0, rows)
        if ty == 2 then base.raise(where, fname .. ": column " .. name .. " holds strings") end
      end
    end
    local out = {}
    for i = 0, rows - 1 do
      out[i] = { tonumber(cols[1].data[i]), tonumber(cols[2].data[i]),
                 tonumber(cols[3].data[i]), cols[4] and tonumber(cols[4].data[i]) or 255 }
    end
    return out
  end)
end

local STATS_BLOCK = 10000

-- rios.rat.stats(path, name [, {band = 1, histogram_weighted = true,
-- include_nodata = false}]): {count, sum, mean, stddev, min, max} of a
-- number column, as RIOS's RatStats: each row weighted by its pixel count
-- (the PixelCount column, else "Histogram"), so the figures are those of
-- the image's pixels; the row of the band's nodata value left out. min
-- and max are over rows of weight > 0. stddev is the population one.
function M.stats(path, name, opts)
  local where = where_of(2)
  local fname = "rios.rat.stats"
  opts = opts or {}
  if type(opts) ~= "table" then
    base.raise(where, fname .. ": the options must be a table like {band = 1}")
  end
  local weighted = opts.histogram_weighted ~= false
  return with_table(fname, where, path, opts.band, false, function(t)
    local col, ty = column(t, fname, where, name)
    if ty == 2 then
      base.raise(where, string.format("%s: column \"%s\" of %s holds strings", fname, name, path))
    end
    local hcol
    if weighted then
      local cols = t:columns()
      for i, c in ipairs(cols) do
        if c.usage == "PixelCount" then hcol = i - 1 break end
      end
      if not hcol then hcol = C.rios_ffi_rat_find_column(t.handle, M.HISTOGRAM) end
      if hcol < 0 then
        base.raise(where, string.format("%s: %s band %d has no pixel counts (a PixelCount or "
                                        .. "\"Histogram\" column) to weight by; give "
                                        .. "histogram_weighted = false", fname, path, t.band))
      end
    end
    local _, nodata = t:band_info()
    local skip = (not opts.include_nodata) and nodata or nil
    local rows = t:row_count()
    local vals = array.new("float64", 1, 1, math.min(STATS_BLOCK, math.max(rows, 1)))
    local wts = array.new("float64", 1, 1, vals.cols)
    local count, shift, sum, ssq, mn, mx = 0, nil, 0, 0, nil, nil
    local total = 0
    for start = 0, rows - 1, STATS_BLOCK do
      local n = math.min(STATS_BLOCK, rows - start)
      if C.rios_ffi_rat_read(t.handle, col, start, n, vals.data, base.dtype_code.float64,
                             base.err) ~= OK
         or (hcol and C.rios_ffi_rat_read(t.handle, hcol, start, n, wts.data,
                                          base.dtype_code.float64, base.err) ~= OK) then
        base.raise(where, fname .. ": " .. base.errmsg())
      end
      local v, w = vals.data, wts.data
      for i = 0, n - 1 do
        local row = start + i
        local wi = hcol and w[i] or 1
        if row ~= skip and wi > 0 then
          local x = v[i]
          if shift == nil then shift = x end
          local d = x - shift
          count = count + wi
          total = total + x * wi
          sum = sum + d * wi
          ssq = ssq + d * d * wi
          if mn == nil or x < mn then mn = x end
          if mx == nil or x > mx then mx = x end
        end
      end
    end
    if count == 0 then return { count = 0, sum = 0 } end
    local mean = shift + sum / count
    local var = (ssq - sum * sum / count) / count
    return { count = count, sum = total, mean = mean, stddev = math.sqrt(var > 0 and var or 0),
             min = mn, max = mx }
  end)
end

return M
