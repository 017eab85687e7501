-- rios.quicklook(raster_or_array, "out.png" [, opts]): a PNG preview a
-- person can open.
--
-- opts (all optional):
--   bands   = {3, 2, 1}: three bands as red, green, blue, or one band as grey
--             (default {1, 2, 3} when there are three bands or more, else {1})
--   stretch = "2%": each band's values between its 2nd and 98th percentile
--             map linearly onto 0..255 (clipped outside); "N%" for another
--             N, "minmax" for the full range, or {low, high} for the same
--             fixed range on every band
--   size    = 1024: the preview's larger side in pixels at most; a smaller
--             raster keeps its own size. Rasters are read at that size
--             (nearest neighbour), which GDAL takes from the overviews when
--             the file has them, so a big raster is quick
--   nodata  = v: for an array, the value that is transparent (a raster's
--             own per-band nodata is used)
-- A pixel is transparent when any of the chosen bands is nodata or NaN
-- there. The percentiles are those of the preview's pixels. Returns the
-- PNG's cols and rows.
local base = require("rios.base")
local array = require("rios.array")
local raster = require("rios.raster")
local ffi, C = base.ffi, base.C

local M = {}

local where_of = base.where

local function fail(msg)
  base.raise(where_of(3), "rios.quicklook: " .. msg)
end

-- The percent (0..49) of a stretch, false for a fixed {low, high}, or nil
-- when the stretch is not one of those.
local function parse_stretch(s)
  if s == nil then return 2 end
  if s == "minmax" then return 0 end
  if type(s) == "string" then
    local p = tonumber(s:match("^%s*([%d%.]+)%s*%%%s*$"))
    if p and p >= 0 and p < 50 then return p end
  elseif type(s) == "table" and type(s[1]) == "number" and type(s[2]) == "number"
         and s[2] > s[1] then
    return false
  end
  return nil
end

-- The low and high value of band b of a (0-based) over the valid pixels.
local function band_range(a, b, valid, nvalid, percent)
  local n = a.rows * a.cols
  local vals = ffi.new("double[?]", math.max(nvalid, 1))
  local d, k = a.data, 0
  for i = 0, n - 1 do
    if valid[i] ~= 0 then
      vals[k] = d[b * n + i]
      k = k + 1
    end
  end
  C.rios_ffi_sort_doubles(vals, k)
  local cut = percent / 100 * (k - 1)
  return vals[math.floor(cut + 0.5)], vals[math.floor((k - 1) - cut + 0.5)]
end

-- Nearest-neighbour resample of an array to cols x rows (the same pixel
-- centres GDAL picks).
local function resample(a, cols, rows)
  if cols == a.cols and rows == a.rows then return a end
  local out = array.new(a.dtype, a.bands, rows, cols)
  local src, dst = a.data, out.data
  for b = 0, a.bands - 1 do
    for r = 0, rows - 1 do
      local sr = math.floor((r + 0.5) * a.rows / rows)
      for c = 0, cols - 1 do
        local sc = math.floor((c + 0.5) * a.cols / cols)
        dst[(b * rows + r) * cols + c] = src[(b * a.rows + sr) * a.cols + sc]
      end
    end
  end
  return out
end

local function preview_size(cols, rows, size)
  local big = math.max(cols, rows)
  if big <= size then return cols, rows end
  local scale = size / big
  return math.max(1, math.floor(cols * scale + 0.5)), math.max(1, math.floor(rows * scale + 0.5))
end

function M.quicklook(src, path, opts)
  opts = opts or {}
  if type(path) ~= "string" then fail("the second argument must be the PNG's file name") end
  if type(opts) ~= "table" then fail("the options must be a table") end
  local is_raster = getmetatable(src) == raster.Raster
  if not is_raster and not array.is_array(src) then
    fail("the first argument must be a raster (rios.open) or an array, got " .. type(src))
  end
  local nbands = src.bands
  local bands = opts.bands or (nbands >= 3 and { 1, 2, 3 } or { 1 })
  if type(bands) ~= "table" or (#bands ~= 1 and #bands ~= 3) then
    fail("bands must list 1 band (grey) or 3 bands (red, green, blue)")
  end
  for _, b in ipairs(bands) do
    if type(b) ~= "number" or b < 1 or b > nbands or b ~= math.floor(b) then
      fail("there is no band " .. tostring(b) .. " (it has " .. nbands .. ")")
    end
  end
  local percent = parse_stretch(opts.stretch)
  if percent == nil then
    fail("stretch must be \"N%\" (0 <= N < 50), \"minmax\" or {low, high}, got "
         .. tostring(opts.stretch))
  end
  local size = opts.size or 1024
  if type(size) ~= "number" or size < 1 then fail("size must be a number >= 1") end
  local cols, rows = preview_size(src.cols, src.rows, size)

  -- The chosen bands at preview size, and each band's nodata.
  local a, nodata = nil, {}
  if is_raster then
    a = raster.read_scaled(src, bands, cols, rows)
    for i, b in ipairs(bands) do nodata[i] = src.nodata[b] end
  else
    local pick = array.new(src.dtype, #bands, src.rows, src.cols)
    local n = src.rows * src.cols
    for i, b in ipairs(bands) do
      ffi.copy(pick.data + (i - 1) * n, src.data + (b - 1) * n, n * base.dtype_size[src.dtype])
      nodata[i] = opts.nodata
    end
    a = resample(pick, cols, rows)
  end

  local n = rows * cols
  local nb = #bands
  local valid = ffi.new("uint8_t[?]", n)
  local nvalid = 0
  local d = a.data
  for i = 0, n - 1 do
    local ok = 1
    for b = 0, nb - 1 do
      local v = d[b * n + i]
      if v ~= v or v == nodata[b + 1] then ok = 0 end
    end
    valid[i] = ok
    nvalid = nvalid + ok
  end

  local out = ffi.new("uint8_t[?]", (nb + 1) * n)
  for b = 0, nb - 1 do
    local lo, hi
    if percent then
      if nvalid > 0 then lo, hi = band_range(a, b, valid, nvalid, percent) else lo, hi = 0, 1 end
    else
      lo, hi = opts.stretch[1], opts.stretch[2]
    end
    local scale = hi > lo and 255 / (hi - lo) or 0
    for i = 0, n - 1 do
      if valid[i] ~= 0 then
        local v = d[b * n + i]
        local s
        if scale == 0 then
          s = v > lo and 255 or 0
        else
          s = math.floor((v - lo) * scale + 0.5)
          if s < 0 then s = 0 elseif s > 255 then s = 255 end
        end
        out[b * n + i] = s
      end
    end
  end
  for i = 0, n - 1 do out[nb * n + i] = valid[i] ~= 0 and 255 or 0 end
  if C.rios_ffi_png_write(path, out, nb + 1, rows, cols, base.err) ~= base.OK then
    base.raise(where_of(2), "rios.quicklook: " .. base.errmsg())
  end
  return cols, rows
end

return M
