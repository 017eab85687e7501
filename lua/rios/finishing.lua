-- rios.finishing: what happens to an output after its last block and before
-- its statistics, histogram and overviews are stored: its colour table
-- (controls.color_table) and the script's controls.before_close(ds), which
-- gets a small object on the still-open raster. Both run in the main
-- process, where the writer is, whatever the kind of compute workers.
local base = require("rios.base")
local colortable = require("rios.colortable")
local files = require("rios.files")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

-- Out-parameters, made once.
local found = ffi.new("int[1]")
local lo_out, hi_out = ffi.new("double[1]"), ffi.new("double[1]")
local one_entry = ffi.new("uint8_t[4]")   -- {0, 0, 0, 0}: a table's shape only

-- A ramp given by its name alone is spread over the data's range, known
-- only when the last block is written.
local function needs_range(spec)
  return type(spec) == "string"
         or (type(spec) == "table" and spec.ramp ~= nil and (spec.min == nil or spec.max == nil))
end
M.needs_range = needs_range

local function output_name(rec)
  return "output '" .. files.label(rec) .. "'"
end

-- controls.color_table of an output, checked before any file is touched
-- (its entries, a ramp's name and range); a table that does not depend on
-- the data is encoded now (rec.color_table_n, rec.color_table_rgba).
function M.check(rec, where)
  local spec = rec.settings.color_table
  if spec == nil then return end
  local ctx = { fname = output_name(rec), where = where, nodata = rec.settings.stats_ignore }
  if needs_range(spec) then
    ctx.lo, ctx.hi = 0, 0   -- checks the name; the entries wait for the data
    colortable.encode(spec, ctx)
  else
    rec.color_table_n, rec.color_table_rgba = colortable.encode(spec, ctx)
  end
end

-- Before the file is created from its first block: can a band of this
-- dtype in a file of this many bands, written by the output's driver, keep
-- the table? (A ramp waiting for the data is checked for the dtype, the
-- bands and the driver.)
function M.check_target(rec, dtype, bands, where)
  if rec.settings.color_table == nil then return end
  local n, rgba = rec.color_table_n, rec.color_table_rgba
  if not n then n, rgba = 1, one_entry end
  colortable.check_target(output_name(rec), where, rec.settings.driver, dtype, bands, n, rgba)
end

-- The range of the values written to the given bands (all when nil), over
-- pixels that are not nodata or NaN; nil when there are none.
local function data_range(rec, bands)
  local lo, hi
  for b = 1, rec.bands do
    if not bands or bands[b] then
      if C.rios_ffi_output_range(rec.handle, b, found, lo_out, hi_out, base.err) ~= OK then
        return nil, nil, base.errmsg()
      end
      if found[0] == 1 then
        lo = lo and math.min(lo, lo_out[0]) or lo_out[0]
        hi = hi and math.max(hi, hi_out[0]) or hi_out[0]
      end
    end
  end
  return lo, hi
end

-- Encode spec for rec's bands (a ramp by name over their range).
local function encode_for(rec, spec, fname, where, bands)
  local ctx = { fname = fname, where = where, nodata = rec.settings.stats_ignore }
  if needs_range(spec) then
    local lo, hi, msg = data_range(rec, bands)
    if msg then base.raise(where, fname .. ": " .. msg) end
    if lo == nil and not rec.gathered then
      base.raise(where, fname .. ": a ramp by its name spreads over the data's range, which "
                 .. "omit_basic_stats and omit_histogram left ungathered; give {ramp =, min =, "
                 .. "max =}")
    end
    ctx.lo, ctx.hi = lo, hi
  end
  return colortable.encode(spec, ctx)
end

-- The output's colour table on every band.
function M.apply_color_table(rec, where)
  local spec = rec.settings.color_table
  if spec == nil then return end
  local fname = output_name(rec)
  local n, rgba = rec.color_table_n, rec.color_table_rgba
  if not n then n, rgba = encode_for(rec, spec, fname, where) end
  for b = 1, rec.bands do
    if C.rios_ffi_output_set_color_table(rec.handle, b, n, rgba, base.err) ~= OK then
      base.raise(where, fname .. ": " .. base.errmsg())
    end
  end
end

-- The object controls.before_close gets. Fields: path (the file the
-- output becomes), name (the output's name in outfiles), index (its place
-- in a list of files, or nil), bands, cols, rows, dtype, driver. Methods
-- change the raster before it is finished; each raises a user error at the
-- caller's line.
local Dataset = {}
Dataset.__index = Dataset

local function open_rec(ds, method)
  local rec = rawget(ds, "_rec")
  if rec == nil or rec.handle == nil then
    base.raise(base.where(3), "ds:" .. method .. ": the output '" .. ds.name .. "' is closed "
               .. "(ds can be used only while controls.before_close runs)")
  end
  return rec
end

local function check_band(ds, method, band, where)
  if type(band) ~= "number" or band ~= math.floor(band) or band < 1 or band > ds.bands then
    base.raise(where, "ds:" .. method .. ": band must be a whole number 1.." .. ds.bands
               .. ", got " .. tostring(band))
  end
end

local function fail(where, method)
  base.raise(where, "ds:" .. method .. ": " .. base.errmsg())
end

-- ds:set_metadata(key, value [, band]): a metadata item of the dataset, or
-- of band (1-based); value a string or a number.
function Dataset:set_metadata(key, value, band)
  local where = base.where(2)
  local rec = open_rec(self, "set_metadata")
  if type(key) ~= "string" or key == "" or key:find("=", 1, true) then
    base.raise(where, "ds:set_metadata: key must be a non-empty string without '=', got "
               .. tostring(key))
  end
  if type(value) == "number" then value = string.format("%.17g", value)
  elseif type(value) ~= "string" then
    base.raise(where, "ds:set_metadata: value must be a string or a number, got " .. type(value))
  end
  if band ~= nil then check_band(self, "set_metadata", band, where) end
  if C.rios_ffi_output_set_metadata(rec.handle, band or 0, key, value, base.err) ~= OK then
    fail(where, "set_metadata")
  end
end

-- ds:set_description(band, text): the band's description (its name).
function Dataset:set_description(band, text)
  local where = base.where(2)
  local rec = open_rec(self, "set_description")
  check_band(self, "set_description", band, where)
  if type(text) ~= "string" then
    base.raise(where, "ds:set_description: text must be a string, got " .. type(text))
  end
  if C.rios_ffi_output_set_description(rec.handle, band, text, base.err) ~= OK then
    fail(where, "set_description")
  end
end

-- ds:set_nodata(band, value): the band's nodata value. Statistics,
-- histogram and overviews were gathered as the blocks were written and
-- ignore stats_ignore, whatever is set here.
function Dataset:set_nodata(band, value)
  local where = base.where(2)
  local rec = open_rec(self, "set_nodata")
  check_band(self, "set_nodata", band, where)
  if type(value) ~= "number" then
    base.raise(where, "ds:set_nodata: value must be a number, got " .. type(value))
  end
  if C.rios_ffi_output_set_nodata(rec.handle, band, value, base.err) ~= OK then
    fail(where, "set_nodata")
  end
end

-- ds:set_color_table(band, ct): as controls.color_table (a ramp by name
-- spreads over this band's values).
function Dataset:set_color_table(band, spec)
  local where = base.where(2)
  local rec = open_rec(self, "set_color_table")
  check_band(self, "set_color_table", band, where)
  local n, rgba = encode_for(rec, spec, "ds:set_color_table", where, { [band] = true })
  if C.rios_ffi_output_set_color_table(rec.handle, band, n, rgba, base.err) ~= OK then
    fail(where, "set_color_table")
  end
end

function Dataset:__tostring()
  return string.format("output '%s' (%s, %d x %d, %d bands of %s, %s)",
                       self.index and (self.name .. "[" .. self.index .. "]") or self.name,
                       self.path, self.cols, self.rows, self.bands, self.dtype, self.driver)
end

-- The one line of an error raised in before_close, with its "file:line: "
-- (the user's line) first.
local function one_line(e)
  local text = base.is_user_error(e) and tostring(e) or base.error_text(e)
  return (text:match("^[^\n]*"))
end

-- Call controls.before_close(ds) on rec, still open. A failure inside it
-- is a user error naming the output. Returns the seconds it took.
function M.before_close(rec, grid, where)
  local fn = rec.settings.before_close
  if fn == nil then return nil end
  local ds = setmetatable({ _rec = rec, path = rec.path, name = rec.name, index = rec.index,
                            bands = rec.bands, cols = grid.cols, rows = grid.rows,
                            dtype = rec.dtype, driver = rec.settings.driver }, Dataset)
  local t0 = C.rios_ffi_now()
  local ok, msg = xpcall(fn, one_line, ds)
  ds._rec = nil
  if not ok then
    local at, rest = msg:match("^([^:]+:%d+: )(.*)$")
    base.raise(at or where, output_name(rec) .. ": controls.before_close: " .. (rest or msg))
  end
  return C.rios_ffi_now() - t0
end

return M
