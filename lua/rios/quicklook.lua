-- rios.quicklook(src, "out.png" [, opts]): a PNG preview a person can open.
-- src is a path, a raster (rios.open) or an array.
--
-- opts (all optional):
--   bands   = {3, 2, 1}: three bands as red, green, blue, or one band
--             (default {1, 2, 3} when there are three bands or more, else {1})
--   stretch = "2%": each band's values between its 2nd and 98th percentile
--             map linearly onto the colours (clipped outside); "N%" for
--             another N, "minmax" for the full range, or {low, high} for the
--             same fixed range on every band
--   ramp    = "viridis": one band's stretched values through a colour ramp
--             (rios.ramps: grey, viridis, terrain, rdylgn, rdbu, classes)
--             instead of grey
--   legend  = true: a bar under one stretched band with the ramp from the
--             low value (left) to the high one (right), both written under it
--   color_table = {[v] = {r, g, b [, a]}}: one band's classes in these
--             colours (a raster's own colour table is used when it has one)
--   size    = 1024: the preview's larger side in pixels at most; a smaller
--             raster keeps its own size. Rasters are read at that size
--             (nearest neighbour), which GDAL takes from the overviews when
--             the file has them, so a big raster is quick
--   nodata  = v: for an array, the value that is transparent (a raster's
--             own per-band nodata is used)
--
-- One band is drawn as classes when it has a colour table (or color_table
-- is given): each value in its entry's colour, values the table lacks
-- transparent; a thematic band (LAYER_TYPE=thematic) without one takes the
-- "classes" colours in turn. Giving stretch or ramp draws it stretched
-- instead. A pixel is transparent when any of the chosen bands is nodata or
-- NaN there. The percentiles are those of the preview's pixels. Returns the
-- PNG's cols and rows (with the legend, when there is one).
local base = require("rios.base")
local array = require("rios.array")
local raster = require("rios.raster")
local ramps = require("rios.ramps")
local colortable = require("rios.colortable")
local ffi, C = base.ffi, base.C

local M = {}

local where_of = base.where
local floor = math.floor

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
  return vals[floor(cut + 0.5)], vals[floor((k - 1) - cut + 0.5)]
end

-- Nearest-neighbour resample of an array to cols x rows (the same pixel
-- centres GDAL picks).
local function resample(a, cols, rows)
  if cols == a.cols and rows == a.rows then return a end
  local out = array.new(a.dtype, a.bands, rows, cols)
  local src, dst = a.data, out.data
  for b = 0, a.bands - 1 do
    for r = 0, rows - 1 do
      local sr = floor((r + 0.5) * a.rows / rows)
      for c = 0, cols - 1 do
        local sc = floor((c + 0.5) * a.cols / cols)
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
  return math.max(1, floor(cols * scale + 0.5)), math.max(1, floor(rows * scale + 0.5))
end

-- A 3 x 5 pixel font for the legend's numbers, one string of 15 "0"/"1"
-- per character, row after row.
local font = {
  ["0"] = "111101101101111", ["1"] = "010110010010111", ["2"] = "111001111100111",
  ["3"] = "111001111001111", ["4"] = "101101111001001", ["5"] = "111100111001111",
  ["6"] = "111100111101111", ["7"] = "111001001001001", ["8"] = "111101111101111",
  ["9"] = "111101111001111", ["-"] = "000000111000000", ["."] = "000000000000010",
  ["e"] = "000111111100111", ["+"] = "000010111010000",
}

local function label_of(v)
  local s = string.format("%.4g", v)
  return (s:gsub("e%+0*", "e"):gsub("e%-0*", "e-"))
end

local function text_width(s, scale) return (#s * 4 - 1) * scale end

-- Draw s into the RGBA canvas (band-major, W x H) at x, y in black.
local function draw_text(canvas, W, H, s, x, y, scale)
  local n = W * H
  for k = 1, #s do
    local g = font[s:sub(k, k)]
    if g then
      for gy = 0, 4 do
        for gx = 0, 2 do
          if g:byte(gy * 3 + gx + 1) == 49 then
            for sy = 0, scale - 1 do
              for sx = 0, scale - 1 do
                local px, py = x + (k - 1) * 4 * scale + gx * scale + sx, y + gy * scale + sy
                if px >= 0 and px < W and py >= 0 and py < H then
                  local i = py * W + px
                  canvas[i], canvas[n + i], canvas[2 * n + i] = 0, 0, 0
                  canvas[3 * n + i] = 255
                end
              end
            end
          end
        end
      end
    end
  end
end

-- The legend's layout for an image cols wide: canvas width, legend height
-- and the pieces' places.
local function legend_layout(cols, lo_text, hi_text)
  local scale = cols >= 200 and 2 or 1
  local m = 2 * scale
  local need = text_width(lo_text, scale) + text_width(hi_text, scale) + 6 * scale + 2 * m
  local W = math.max(cols, need, 24)
  local bar_h, text_h = 8 * scale, 5 * scale
  return { W = W, height = m + bar_h + m + text_h + m, scale = scale, m = m, bar_h = bar_h }
end

-- The RGB lookup (3 bytes per step, 256 steps) of grey or a ramp.
local function lut_of(ramp)
  local t = ramps.lut(ramp or "grey")
  local lut = ffi.new("uint8_t[768]")
  for i = 1, 768 do lut[i - 1] = t[i] end
  return lut
end

function M.quicklook(src, path, opts)
  local where = where_of(2)
  local function fail(msg) base.raise(where, "rios.quicklook: " .. msg) end
  opts = opts or {}
  if type(path) ~= "string" then fail("the second argument must be the PNG's file name") end
  if type(opts) ~= "table" then fail("the options must be a table") end
  if type(src) == "string" then
    local r = raster.open_at(src, where, "rios.quicklook: ")
    local ok2, w, h = pcall(M.draw, r, path, opts, where)
    r:close()
    if not ok2 then error(w, 0) end
    return w, h
  end
  return M.draw(src, path, opts, where)
end

function M.draw(src, path, opts, where)
  local function fail(msg) base.raise(where, "rios.quicklook: " .. msg) end
  local is_raster = getmetatable(src) == raster.Raster
  if not is_raster and not array.is_array(src) then
    fail("the first argument must be a file name, a raster (rios.open) or an array, got "
         .. type(src))
  end
  local nbands = src.bands
  local bands = opts.bands or (nbands >= 3 and { 1, 2, 3 } or { 1 })
  if type(bands) ~= "table" or (#bands ~= 1 and #bands ~= 3) then
    fail("bands must list 1 band (grey) or 3 bands (red, green, blue)")
  end
  for _, b in ipairs(bands) do
    if type(b) ~= "number" or b < 1 or b > nbands or b ~= floor(b) then
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
  if opts.ramp ~= nil and not ramps.lookup(opts.ramp) then
    fail("ramp must be one of " .. table.concat(ramps.names(), ", ") .. ", got "
         .. tostring(opts.ramp))
  end
  if opts.legend ~= nil and type(opts.legend) ~= "boolean" then
    fail("legend must be true or false")
  end
  if #bands == 3 and (opts.ramp or opts.legend or opts.color_table) then
    fail("ramp, legend and color_table are for one band, not three")
  end

  -- How one band is drawn: as classes (a colour table, or a thematic
  -- band's class colours) unless a stretch or ramp is asked for.
  local classes, auto_classes
  if #bands == 1 and opts.ramp == nil and opts.stretch == nil then
    if opts.color_table ~= nil then
      if type(opts.color_table) ~= "table" or opts.color_table.ramp ~= nil then
        fail("color_table must be a table {[value] = {r, g, b [, a]}}; for a ramp give ramp =")
      end
      local n, rgba = colortable.encode(opts.color_table,
                                        { fname = "rios.quicklook", where = where })
      classes = { n = n, rgba = rgba }
    elseif is_raster then
      local ct = src:color_table(bands[1])
      if ct then
        local n = 0
        for k in pairs(ct) do if k + 1 > n then n = k + 1 end end
        local rgba = ffi.new("uint8_t[?]", 4 * n)
        for k, e in pairs(ct) do
          for j = 1, 4 do rgba[4 * k + j - 1] = e[j] end
        end
        classes = { n = n, rgba = rgba }
      elseif src:metadata(bands[1]).LAYER_TYPE == "thematic" then
        auto_classes = true
      end
    end
  end
  if opts.legend and (classes or auto_classes) then
    fail("legend is drawn for a stretched band; this one is drawn as classes (give "
         .. "stretch or ramp to stretch it)")
  end

  local cols, rows = preview_size(src.cols, src.rows, size)

  -- The chosen bands at preview size, and each band's nodata.
  local a, nodata = nil, {}
  if is_raster then
    a = raster.read_scaled(src, bands, cols, rows)
    for i, b in ipairs(bands) do nodata[i] = src.nodata[b] end
  else
    local pick = array.new(src.dtype, #bands, src.rows, src.cols)
    local n = src.rows * src.cols
    local whole = src:is_contiguous() and src or src:copy()
    for i, b in ipairs(bands) do
      ffi.copy(pick.data + (i - 1) * n, whole.data + (b - 1) * n, n * base.dtype_size[src.dtype])
      nodata[i] = opts.nodata
    end
    a = resample(pick, cols, rows)
  end
  -- compared as the preview's pixels hold it (a float32 band's 0.52 is
  -- (float)0.52); one they cannot hold matches none
  for i = 1, #bands do nodata[i] = array.pixel_nodata(a.dtype, nodata[i]) end

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

  if classes or auto_classes then
    local out = ffi.new("uint8_t[?]", 4 * n)
    for i = 0, n - 1 do
      if valid[i] ~= 0 then
        local v = tonumber(d[i])
        if auto_classes then
          if v == floor(v) then
            out[i], out[n + i], out[2 * n + i] = ramps.class("classes", v)
            out[3 * n + i] = 255
          end
        elseif v == floor(v) and v >= 0 and v < classes.n then
          local e = classes.rgba + 4 * v
          out[i], out[n + i], out[2 * n + i], out[3 * n + i] = e[0], e[1], e[2], e[3]
        end
      end
    end
    if C.rios_ffi_png_write(path, out, 4, rows, cols, base.err) ~= base.OK then
      fail(base.errmsg())
    end
    return cols, rows
  end

  -- Stretched: each band's values onto 0..255.
  local steps = ffi.new("uint8_t[?]", nb * n)
  local lo1, hi1
  for b = 0, nb - 1 do
    local lo, hi
    if percent then
      if nvalid > 0 then lo, hi = band_range(a, b, valid, nvalid, percent) else lo, hi = 0, 1 end
    else
      lo, hi = opts.stretch[1], opts.stretch[2]
    end
    if b == 0 then lo1, hi1 = lo, hi end
    local scale = hi > lo and 255 / (hi - lo) or 0
    for i = 0, n - 1 do
      if valid[i] ~= 0 then
        local v = d[b * n + i]
        local s
        if scale == 0 then
          s = v > lo and 255 or 0
        else
          s = floor((v - lo) * scale + 0.5)
          if s < 0 then s = 0 elseif s > 255 then s = 255 end
        end
        steps[b * n + i] = s
      end
    end
  end

  if nb == 3 or (opts.ramp == nil and not opts.legend) then
    -- RGB, or grey: the steps themselves, and an alpha band.
    local out = ffi.new("uint8_t[?]", (nb + 1) * n)
    ffi.copy(out, steps, nb * n)
    for i = 0, n - 1 do out[nb * n + i] = valid[i] ~= 0 and 255 or 0 end
    if C.rios_ffi_png_write(path, out, nb + 1, rows, cols, base.err) ~= base.OK then
      fail(base.errmsg())
    end
    return cols, rows
  end

  -- One band through a ramp (grey too, when a legend is asked for): RGBA,
  -- with the legend under the image.
  local lut = lut_of(opts.ramp)
  local W, H, lay = cols, rows, nil
  local lo_text, hi_text
  if opts.legend then
    lo_text, hi_text = label_of(lo1), label_of(hi1)
    lay = legend_layout(cols, lo_text, hi_text)
    W, H = lay.W, rows + lay.height
  end
  local N = W * H
  local out = ffi.new("uint8_t[?]", 4 * N)
  for r = 0, rows - 1 do
    for c = 0, cols - 1 do
      local i, o = r * cols + c, r * W + c
      if valid[i] ~= 0 then
        local s = 3 * steps[i]
        out[o], out[N + o], out[2 * N + o], out[3 * N + o] = lut[s], lut[s + 1], lut[s + 2], 255
      end
    end
  end
  if lay then
    -- white under the legend, the bar from the ramp's first colour to its
    -- last, and the values at its two ends
    for y = rows, H - 1 do
      for x = 0, W - 1 do
        local o = y * W + x
        out[o], out[N + o], out[2 * N + o], out[3 * N + o] = 255, 255, 255, 255
      end
    end
    local x0, x1 = lay.m, W - lay.m - 1
    local y0 = rows + lay.m
    for x = x0, x1 do
      local s = 3 * floor((x - x0) * 255 / math.max(1, x1 - x0) + 0.5)
      for y = y0, y0 + lay.bar_h - 1 do
        local o = y * W + x
        out[o], out[N + o], out[2 * N + o] = lut[s], lut[s + 1], lut[s + 2]
      end
    end
    local ty = y0 + lay.bar_h + lay.m
    draw_text(out, W, H, lo_text, lay.m, ty, lay.scale)
    draw_text(out, W, H, hi_text, W - lay.m - text_width(hi_text, lay.scale), ty, lay.scale)
  end
  if C.rios_ffi_png_write(path, out, 4, H, W, base.err) ~= base.OK then fail(base.errmsg()) end
  return W, H
end

return M
