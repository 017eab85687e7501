-- rios.colortable: colour tables as a script gives them, and as GDAL keeps
-- them (one r, g, b, a entry per pixel value from 0).
--
-- A script gives a colour table as
--   { [value] = {r, g, b [, a]}, ... }   whole numbers 0..255, alpha 255 when
--                                        left out; values not listed are
--                                        transparent black {0, 0, 0, 0}
--   "viridis" (any name in rios.ramps)   the ramp spread over the data's
--                                        values, lowest to highest
--   { ramp = "viridis", min = 0, max = 100 }   the ramp over a given range
-- The nodata value, when there is one, is transparent in a ramp's table.
local base = require("rios.base")
local ramps = require("rios.ramps")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

-- GDAL palettes index pixel values 0..65535 at most (a uint16 band).
M.MAX_ENTRIES = 65536

local floor = math.floor

local function whole(v, lo, hi)
  return type(v) == "number" and v == floor(v) and v >= lo and v <= hi
end

local function ramp_names()
  return table.concat(ramps.names(), ", ")
end

-- The entries of spec as n and a uint8_t[4 * n] of r, g, b, a. ctx: fname
-- (for messages), where ("file:line: "), lo and hi (the data's range, for
-- a ramp given by name alone) and nodata.
function M.encode(spec, ctx)
  local function fail(msg) base.raise(ctx.where, ctx.fname .. ": color_table " .. msg) end
  local entries, n = {}, 0
  local ramp, lo, hi
  if type(spec) == "string" then
    ramp = ramps.lookup(spec)
    if not ramp then fail("\"" .. spec .. "\" is not a ramp (one of " .. ramp_names() .. ")") end
    lo, hi = ctx.lo, ctx.hi
    if lo == nil then fail("\"" .. spec .. "\" needs data to spread over, and there is none") end
  elseif type(spec) == "table" and spec.ramp ~= nil then
    ramp = ramps.lookup(spec.ramp)
    if not ramp then
      fail("ramp \"" .. tostring(spec.ramp) .. "\" is not a ramp (one of " .. ramp_names() .. ")")
    end
    lo, hi = spec.min or ctx.lo, spec.max or ctx.hi
    if type(lo) ~= "number" or type(hi) ~= "number" or hi < lo then
      fail("{ramp = ..., min = lo, max = hi} needs numbers with lo <= hi")
    end
  elseif type(spec) == "table" then
    for k, v in pairs(spec) do
      if not whole(k, 0, M.MAX_ENTRIES - 1) then
        fail("keys must be pixel values 0.." .. (M.MAX_ENTRIES - 1) .. ", got " .. tostring(k))
      end
      if type(v) ~= "table" or (#v ~= 3 and #v ~= 4) or not whole(v[1], 0, 255)
         or not whole(v[2], 0, 255) or not whole(v[3], 0, 255)
         or (v[4] ~= nil and not whole(v[4], 0, 255)) then
        fail("[" .. k .. "] must be {r, g, b [, a]} of whole numbers 0..255")
      end
      entries[k] = v
      if k + 1 > n then n = k + 1 end
    end
    if n == 0 then fail("is empty") end
  else
    fail("must be a table {[value] = {r, g, b [, a]}} or a ramp name (" .. ramp_names() .. ")")
  end
  if ramp then
    local first = math.max(0, math.ceil(lo))
    local last = floor(hi)
    if last < 0 then fail("range " .. lo .. " to " .. hi .. " has no pixel value >= 0") end
    if last > M.MAX_ENTRIES - 1 then
      fail("range up to " .. hi .. " is past the largest value a colour table holds ("
           .. (M.MAX_ENTRIES - 1) .. ")")
    end
    local span = hi - lo
    local qual = ramps.is_qualitative(ramp)
    for v = first, last do
      if v ~= ctx.nodata then
        local r, g, b
        if qual then r, g, b = ramps.class(ramp, v)
        else r, g, b = ramps.at(ramp, span > 0 and (v - lo) / span or 0) end
        entries[v] = { r, g, b, 255 }
      end
    end
    n = last + 1
  end
  local rgba = ffi.new("uint8_t[?]", 4 * n)
  for k, v in pairs(entries) do
    rgba[4 * k], rgba[4 * k + 1], rgba[4 * k + 2] = v[1], v[2], v[3]
    rgba[4 * k + 3] = v[4] or 255
  end
  return n, rgba
end

-- n entries of a uint8_t[4 * n] as { [value] = {r, g, b, a} } from 0.
function M.decode(n, rgba)
  local t = {}
  for i = 0, n - 1 do
    t[i] = { rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2], rgba[4 * i + 3] }
  end
  return t
end

local count = ffi.new("int[1]")

-- The colour table of band b of an open rios_raster handle, decoded, or nil
-- when the band has none. Raises on failure.
function M.read(handle, band, where)
  if C.rios_ffi_raster_color_table(handle, band, 0, nil, count, base.err) ~= OK then
    base.raise(where, base.errmsg())
  end
  local n = count[0]
  if n == 0 then return nil end
  local rgba = ffi.new("uint8_t[?]", 4 * n)
  if C.rios_ffi_raster_color_table(handle, band, n, rgba, count, base.err) ~= OK then
    base.raise(where, base.errmsg())
  end
  return M.decode(math.min(n, count[0]), rgba)
end

-- Check, before anything is written, that a band of this dtype in a file
-- of `bands` bands written by driver can keep these entries (the same
-- check the C side makes when it sets them); fname names the caller.
function M.check_target(fname, where, driver, dtype, bands, n, rgba)
  if C.rios_ffi_color_table_check(driver, base.dtype_code[dtype], bands, n, rgba,
                                  base.err) ~= OK then
    base.raise(where, fname .. ": " .. base.errmsg())
  end
end

return M
