-- Exact nodata in every dtype: an output's statistics, histogram and
-- overviews, rios.open's computed statistics and the array operations
-- compare pixels with the nodata value as the dtype stores it (a float32
-- pixel written as 0.52 holds (float)0.52, not the double 0.52), so they
-- leave out exactly the pixels GDAL's own computations leave out; NaN
-- nodata works; a nodata an integer output cannot hold is refused in one
-- line before anything is written. Checked against GDAL on the same files:
-- statistics recomputed by `gdal_translate -stats` on a copy, the histogram
-- with GDAL's GDALGetRasterHistogramEx over our bins, overviews built by
-- `gdaladdo -r average` on a copy.
local ffi = require("ffi")
local H = require("support.helpers")

ffi.cdef [[
void *GDALOpen(const char *path, int access);
void GDALClose(void *ds);
void *GDALGetRasterBand(void *ds, int band);
int GDALGetRasterHistogramEx(void *band, double lo, double hi, int nbuckets,
                             unsigned long long *counts, int include_out_of_range,
                             int approx_ok, void *progress, void *progress_data);
]]
local gdal = ffi.C

local COLS, ROWS = 200, 152  -- divisible by the levels, so GDAL's AVERAGE is a plain mean

-- The value a float32 pixel holds for v.
local function f32(v) return tonumber(ffi.new("float[1]", v)[0]) end

-- Write out.tif (2 bands of dtype, windows of 64 x 64, overviews at 2 and
-- 4) with rios.apply: nodata (a number) where (x*7 + y*3 + b) % 5
-- is 0 and in the top-left 6 x 6 pixels (whose overview pixels are then
-- all nodata), else x * 0.37 + y * 1.3 + b (whole numbers for integers).
local function write(dir, dtype, nodata)
  H.make_raster(dir .. "/in.tif", "uint8", 1, ROWS, COLS, function() return 0 end)
  local status, _, err = H.run_script(dir, "w.lua", string.format([[
local rios = require("rios")
local nodata, integer = %s, %s
rios.apply(function(info, inputs, outputs)
  local o = inputs.a:like(%q, 2)
  local d, n = o.data, o.rows * o.cols
  for b = 0, 1 do
    for r = 0, o.rows - 1 do
      for c = 0, o.cols - 1 do
        local x, y = info.xoff + c, info.yoff + r
        local v = x * 0.37 + y * 1.3 + b
        if integer then v = math.floor(v) end
        if (x * 7 + y * 3 + b) %% 5 == 0 or (x < 6 and y < 6) then v = nodata end
        d[b * n + r * o.cols + c] = v
      end
    end
  end
  outputs.o = o
end, { a = "in.tif" }, { o = "out.tif" }, nil,
   { stats_ignore = nodata, window_xsize = 64, window_ysize = 64, overview_levels = { 2, 4 },
     overview_min_dim = 8 })
]], nodata ~= nodata and "0 / 0" or string.format("%.17g", nodata),
   tostring(not dtype:match("float")), dtype))
  assert.are.equal(0, status, err)
  return dir .. "/out.tif"
end

-- Band b of path (overview k, 0-based, if given) as a flat list of doubles
-- with its width and height, read by gdal_translate (not by rios).
local function pixels(dir, path, b, k)
  local out = dir .. "/px" .. b .. "_" .. tostring(k) .. ".img"
  local status, _, err = H.run("gdal_translate -q -of ENVI -ot Float64 -b " .. b
                               .. (k and (" -ovr " .. k) or "") .. " " .. H.q(path) .. " "
                               .. H.q(out))
  assert.are.equal(0, status, err)
  local info = H.gdalinfo(out)
  local f = assert(io.open(out, "rb"))
  local s = f:read("*a")
  f:close()
  local p = ffi.cast("const double *", s)
  local t = { w = info.size[1], h = info.size[2] }
  for i = 0, t.w * t.h - 1 do t[i + 1] = p[i] end
  return t
end

-- A copy of path whose statistics GDAL computed itself: gdal_translate
-- -stats computes them on its source (storing them beside it, in an
-- .aux.xml that outranks the file's own), so its source is a plain copy,
-- never the file under test.
local function gdal_copy(dir, path)
  local plain, copy = dir .. "/plain.tif", dir .. "/gdal.tif"
  local status, _, err = H.run("cp " .. H.q(path) .. " " .. H.q(plain) .. " && gdal_translate -q "
                               .. "-stats -co TILED=YES " .. H.q(plain) .. " " .. H.q(copy))
  assert.are.equal(0, status, err)
  return copy
end

local function close(a, b, rel)
  return math.abs(a - b) <= rel * math.max(1, math.abs(a), math.abs(b))
end

local function counts_of(meta)
  local t = {}
  for n in meta.STATISTICS_HISTOBINVALUES:gmatch("(%d+)|") do t[#t + 1] = tonumber(n) end
  return t
end

-- The checks every case makes. nd: the nodata; px: as a pixel holds it.
local function check_output(dir, dtype, nd, px)
  local path = write(dir, dtype, nd)
  local ours = H.gdalinfo(path, "-hist")
  local copy = gdal_copy(dir, path)
  local theirs = H.gdalinfo(copy)
  local is_nodata = px ~= px and function(v) return v ~= v end
                    or function(v) return v == px end
  for b = 1, 2 do
    local m, g = ours.bands[b].metadata[""], theirs.bands[b].metadata[""]
    -- statistics: the nodata pixels are left out as GDAL leaves them out
    for _, key in ipairs({ "MINIMUM", "MAXIMUM", "MEAN", "STDDEV" }) do
      local a, e = tonumber(m["STATISTICS_" .. key]), tonumber(g["STATISTICS_" .. key])
      assert.is_true(close(a, e, 1e-9), string.format("%s band %d %s: %s, GDAL %s", dtype, b,
                                                      key, a, e))
    end
    -- the histogram: every valid pixel counted once, none of the nodata,
    -- in the bins GDAL's own histogram over the same range gives
    local counts = counts_of(m)
    local lo, hi = ours.bands[b].histogram.min, ours.bands[b].histogram.max
    local n = #counts
    assert.are.equal(n, tonumber(m.STATISTICS_HISTONUMBINS))
    local ds = gdal.GDALOpen(copy, 0)
    assert.is_true(ds ~= nil)
    local g_counts = ffi.new("unsigned long long[?]", n)
    local rc = gdal.GDALGetRasterHistogramEx(gdal.GDALGetRasterBand(ds, b), lo, hi, n, g_counts,
                                             1, 0, nil, nil)
    gdal.GDALClose(ds)
    assert.are.equal(0, rc)
    local total, g_total, off = 0, 0, 0
    for i = 1, n do
      local c = tonumber(g_counts[i - 1])
      total, g_total = total + counts[i], g_total + c
      off = off + math.abs(counts[i] - c)
    end
    local full = pixels(dir, path, b)
    local valid = 0
    for i = 1, #full do
      if full[i] == full[i] and not is_nodata(full[i]) then valid = valid + 1 end
    end
    assert.are.equal(valid, total, dtype .. " band " .. b .. ": histogram total")
    assert.are.equal(g_total, total, dtype .. " band " .. b .. ": GDAL's histogram total")
    -- (a value within 1/16384 of the range from a bin edge may sit in the
    -- bin next to GDAL's: README "Statistics, histograms and overviews")
    assert.is_true(off <= total / 100, dtype .. " band " .. b .. ": " .. off
                   .. " counts in other bins than GDAL's")
    assert.is_true(close(tonumber(g.STATISTICS_MINIMUM), tonumber(m.STATISTICS_HISTOMIN), 1e-12))
    -- level 2 against gdaladdo -r average on the copy
    local ref = dir .. "/ref.tif"
    assert.are.equal(0, (H.run("cp " .. H.q(copy) .. " " .. H.q(ref) .. " && gdaladdo -q -r average "
                               .. H.q(ref) .. " 2")))
    local o2, r2 = pixels(dir, path, b, 0), pixels(dir, ref, b, 0)
    assert.are.same({ COLS / 2, ROWS / 2 }, { o2.w, o2.h })
    local empty = 0
    for i = 1, #o2 do
      local a, e = o2[i], r2[i]
      if is_nodata(a) then
        empty = empty + 1
        -- GDAL 3.6 averages float64 in float32 and fills with (float)nodata
        assert.is_true(is_nodata(e) or e == f32(nd),
                       string.format("%s band %d level 2 pixel %d: nodata, GDAL %s", dtype, b,
                                     i - 1, e))
      else
        assert.is_true(close(a, e, dtype == "float64" and 1e-6 or 0),
                       string.format("%s band %d level 2 pixel %d: %.17g, GDAL %.17g", dtype, b,
                                     i - 1, a, e))
      end
    end
    assert.are.equal(9, empty)  -- the top-left 3 x 3: only nodata under them
    -- level 4 against the mean of the valid full-resolution pixels
    local o4 = pixels(dir, path, b, 1)
    for j = 0, o4.h - 1 do
      for i = 0, o4.w - 1 do
        local s, c = 0, 0
        for y = j * 4, j * 4 + 3 do
          for x = i * 4, i * 4 + 3 do
            local v = full[y * COLS + x + 1]
            if v == v and not is_nodata(v) then s, c = s + v, c + 1 end
          end
        end
        local got = o4[j * o4.w + i + 1]
        if c == 0 then
          assert.is_true(is_nodata(got), "level 4 pixel " .. i .. ", " .. j .. " is not nodata")
        else
          local want = s / c
          if dtype == "float32" then want = f32(want) end
          if not dtype:match("float") then want = math.floor(want + 0.5) end
          assert.is_true(close(got, want, dtype == "float32" and 1e-6 or 1e-12),
                         string.format("%s band %d level 4 (%d, %d): %.17g, expected %.17g",
                                       dtype, b, i, j, got, want))
        end
      end
    end
  end
  return path
end

describe("exact nodata", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  it("float32 0.52: statistics, histogram and overviews leave out (float)0.52 as GDAL does",
     function()
    check_output(dir, "float32", 0.52, f32(0.52))
  end)

  it("float32 -3.4e38 (not exact in float32)", function()
    check_output(dir, "float32", -3.4e38, f32(-3.4e38))
  end)

  it("float32 and float64 NaN", function()
    check_output(dir, "float32", 0 / 0, 0 / 0)
    H.cleanup()
    dir = H.tmpdir()
    check_output(dir, "float64", 0 / 0, 0 / 0)
  end)

  it("float64 0.1", function()
    check_output(dir, "float64", 0.1, 0.1)
  end)

  it("int16 -999", function()
    check_output(dir, "int16", -999, -999)
  end)

  it("keeps the nodata as given in the file and in STATISTICS_EXCLUDEDVALUES", function()
    local path = write(dir, "float32", 0.52)
    local info = H.gdalinfo(path)
    assert.are.equal(0.52, info.bands[1].noDataValue)
    assert.are.equal(0.52, tonumber(info.bands[1].metadata[""].STATISTICS_EXCLUDEDVALUES))
  end)

  it("refuses a nodata an output's dtype cannot hold, in one line naming the output and key, "
     .. "before anything is written", function()
    local function refuse(dtype, controls, key, why)
      local path = dir .. "/out.tif"
      H.make_raster(path, "uint8", 1, 5, 5, function() return 9 end)   -- the previous output
      local f = assert(io.open(path, "rb"))
      local previous = f:read("*a")
      f:close()
      H.make_raster(dir .. "/in.tif", "uint8", 1, 20, 30, function() return 1 end)
      local status, out, err = H.run_script(dir, "r.lua", string.format([[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.o = inputs.a:like(%q) end,
           { a = "in.tif" }, { o = "out.tif" }, nil, %s)
]], dtype, controls))
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
      assert.truthy(err:find("r.lua:2: output 'o' (out.tif) cannot have " .. key
                             .. " as its nodata: " .. why, 1, true), err)
      f = assert(io.open(path, "rb"))
      assert.is_true(previous == f:read("*a"), "the previous output changed")
      f:close()
    end
    refuse("uint8", "{ stats_ignore = -9999 }", "controls.stats_ignore",
           "-9999 is outside the range of uint8 (0 to 255)")
    refuse("int16", "{ per_image = { o = { stats_ignore = 2.5 } } }",
           "controls.per_image.o.stats_ignore",
           "2.5 is not a whole number (int16 holds whole numbers only)")
    refuse("int32", "{ stats_ignore = 0 / 0 }", "controls.stats_ignore",
           "NaN cannot be stored in int32 (an integer type has no NaN)")
    refuse("float32", "{ stats_ignore = 1e39 }", "controls.stats_ignore",
           "1e+39 is beyond the range of float32")
  end)

  it("rios.write refuses one too, naming the file", function()
    local rios = require("rios")
    local path = dir .. "/w.tif"
    local ok, err = pcall(rios.write, path, rios.array("uint16", 1, 4, 4), { nodata = 70000 })
    assert.is_false(ok)
    assert.truthy(tostring(err):find(path .. ": the nodata value 70000 is outside the range of "
                                     .. "uint16 (0 to 65535)", 1, true), tostring(err))
    assert.is_nil(io.open(path))
  end)

  it("rios.open's computed statistics leave out (float)0.52 as GDAL does", function()
    local rios = require("rios")
    local a = rios.array("float32", 1, 30, 40)
    for i = 0, 30 * 40 - 1 do a.data[i] = i % 3 == 0 and 0.52 or i * 0.25 end
    -- HFA hands back the nodata as the double 0.52 (GDAL's GTiff driver
    -- rounds a float32 band's nodata itself)
    local path = dir .. "/nostats.img"
    rios.write(path, a, { nodata = 0.52 })
    local r = rios.open(path)
    assert.is_nil(r:stored_stats(1))
    local s = r:stats(1)
    r:close()
    local g = H.gdalinfo(gdal_copy(dir, path)).bands[1].metadata[""]
    assert.are.equal(tonumber(g.STATISTICS_MINIMUM), s.min)
    assert.is_true(close(s.mean, tonumber(g.STATISTICS_MEAN), 1e-12))
    assert.is_true(close(s.stddev, tonumber(g.STATISTICS_STDDEV), 1e-12))
  end)

  it("array operations and rios.reduce compare elements with nodata as their dtype holds it",
     function()
    local rios = require("rios")
    local a = rios.array("float32", 1, 2, 3)
    a:fill(0.52)
    a:set(0, 0, 1)
    a:set(1, 0, 3)
    assert.are.equal(2, a:count(0.52))
    assert.are.equal(2, a:mean(0.52))
    assert.are.equal(1, a:min(0.52))
    assert.are.equal(1, a:std(0.52))
    assert.are.same({ 0, 1, 0, 1 }, a:histogram(4, 0, 4, 0.52))
    -- a view (strided loop) too
    assert.are.equal(1, a:window(1, 0, 2, 2):count(0.52))
    local b = rios.array("float32", 1, 2, 3)
    b:fill(2)
    local mean = rios.reduce({ a, b }, "mean", { nodata = 0.52 })
    assert.are.equal(1.5, mean:get(0, 0))
    assert.are.equal(2, mean:get(2, 1))
    assert.are.equal(1, rios.reduce({ a, b }, "count", { nodata = 0.52 }):get(2, 1))
    assert.are.equal(2, rios.reduce({ a, b }, "median", { nodata = 0.52 }):get(2, 1))
    -- NaN nodata; a float32 nodata beyond float32's range and a fraction
    -- for an integer array match nothing
    local n = rios.array("float64", 1, 1, 3)
    n:set(0, 0, 0 / 0)
    n:set(1, 0, 0.1)
    assert.are.equal(2, n:count(0 / 0))
    assert.are.equal(1, n:count(0.1))
    local big = rios.array("float32", 1, 1, 2)
    big:set(0, 0, -3.4e38)
    assert.are.equal(1, big:count(-3.4e38))
    assert.are.equal(2, big:count(1e39))
    local i = rios.array("int16", 1, 1, 3)
    assert.are.equal(3, i:count(2.5))
    assert.are.equal(0, i:count(0))
    assert.are.equal(6, rios.reduce({ i, i }, "count", { nodata = 2.5 }):sum())
  end)
end)
