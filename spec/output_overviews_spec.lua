-- Overviews built while blocks are written: every level's pixel is the mean
-- of the valid source pixels under it (AVERAGE) or the source pixel at its
-- centre (NEAREST, thematic), checked against values computed here from the
-- full-resolution file, and against GDAL's own AVERAGE on sizes that divide.
local ffi = require("ffi")
local H = require("support.helpers")

-- Overview k (0-based) of band b of path, as a table of rows of numbers,
-- read through gdal_translate (not through rios).
local function overview(dir, path, k, b)
  local out = dir .. "/ovr" .. k .. "_" .. b .. ".img"
  local status, _, err = H.run("gdal_translate -q -of ENVI -ot Float64 -b " .. b .. " -ovr "
                               .. k .. " " .. H.q(path) .. " " .. H.q(out))
  assert.are.equal(0, status, err)
  local info = H.gdalinfo(out)
  local f = assert(io.open(out, "rb"))
  local s = f:read("*a")
  f:close()
  local w, h = info.size[1], info.size[2]
  local p = ffi.cast("const double *", s)
  local t = { w = w, h = h }
  for j = 0, h - 1 do
    t[j + 1] = {}
    for i = 0, w - 1 do t[j + 1][i + 1] = p[j * w + i] end
  end
  local _ = s
  return t
end

local function same(x, y, tol)
  if x ~= x and y ~= y then return true end
  return math.abs(x - y) <= tol * math.max(1, math.abs(x))
end

-- Write out.tif from a block function filling value(b, x, y) in dtype, on a
-- grid of cols x rows, in windows of wx x wy.
local function write(dir, dtype, bands, cols, rows, value, controls)
  H.make_raster(dir .. "/in.tif", "uint8", 1, rows, cols, function() return 0 end)
  local status, _, err = H.run_script(dir, "w.lua", string.format([[
local rios = require("rios")
local function value(b, x, y) %s end
rios.apply(function(info, inputs, outputs)
  local a = inputs.img
  local out = a:like(%q, %d)
  local d, ov = out.data, info:overlap()
  for b = 0, out.bands - 1 do
    for r = 0, out.rows - 1 do
      for c = 0, out.cols - 1 do
        d[(b * out.rows + r) * out.cols + c] = value(b, info.xoff - ov + c, info.yoff - ov + r)
      end
    end
  end
  outputs.out = out
end, { img = "in.tif" }, { out = "out.tif" }, nil, %s)
]], value, dtype, bands, controls))
  assert.are.equal(0, status, err)
  return dir .. "/out.tif"
end

describe("overviews", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  it("are the mean of the valid pixels under them, at every level, any window size",
     function()
    -- 301 x 277 does not divide by the levels; windows of 30 x 50 do not
    -- line up with them either; band 2 has nodata; an overlap margin too.
    local path = write(dir, "int16", 2, 301, 277,
      "if b == 1 and (x + y) % 7 == 0 then return -1 end return (x * 3 + y * 5 + b * 11) % 97",
      "{ window_xsize = 30, window_ysize = 50, overlap = 2, overview_levels = { 4, 8, 16 }, "
      .. "overview_min_dim = 16, stats_ignore = -1 }")
    local full = {}
    for b = 1, 2 do full[b] = overview(dir, path, "NONE", b) end
    local info = H.gdalinfo(path)
    assert.are.equal(3, #info.bands[1].overviews)
    for k, l in ipairs({ 4, 8, 16 }) do
      for b = 1, 2 do
        local o = overview(dir, path, k - 1, b)
        assert.are.equal(math.ceil(301 / l), o.w)
        assert.are.equal(math.ceil(277 / l), o.h)
        for j = 0, o.h - 1 do
          for i = 0, o.w - 1 do
            local s, n = 0, 0
            for y = j * l, math.min((j + 1) * l, 277) - 1 do
              for x = i * l, math.min((i + 1) * l, 301) - 1 do
                local v = full[b][y + 1][x + 1]
                if v ~= -1 then s, n = s + v, n + 1 end
              end
            end
            local want = n > 0 and s / n or -1
            -- the int16 overview holds the mean rounded to an integer
            local got = o[j + 1][i + 1]
            assert.is_true(math.abs(got - want) <= 0.5 + 1e-9,
                           string.format("level %d band %d (%d, %d): %s, expected %s", l, b, i,
                                         j, got, want))
          end
        end
      end
    end
  end)

  it("are the levels RIOS keeps: whole division greater than the minimum, from the list's start", function()
    local function levels(cols, rows, list, min_dim)
      local path = write(dir, "uint8", 1, cols, rows, "return (x + y) % 5",
        string.format("{ window_xsize = 128, window_ysize = 128, overview_levels = { %s }, "
                      .. "overview_min_dim = %d }", table.concat(list, ", "), min_dim))
      local got = {}
      for i, o in ipairs(H.gdalinfo(path).bands[1].overviews or {}) do got[i] = o.size[1] end
      return got
    end
    -- 512 // 4 is 128, not greater than 128: no overview (RIOS's testpyramids)
    assert.are.same({}, levels(512, 520, { 4, 8, 16 }, 128))
    assert.are.same({ 129 }, levels(516, 520, { 4, 8, 16 }, 128))
    -- RIOS counts the levels that qualify and keeps that many from the start
    -- of the list as given: with { 16, 2 } only 2 qualifies, so 16 is kept
    assert.are.same({ 20 }, levels(320, 330, { 16, 2 }, 100))
  end)

  it("match GDAL's AVERAGE when the sizes divide", function()
    local path = write(dir, "float32", 1, 256, 192,
      "return math.sin(x * 0.37) * 100 + y * 0.25",
      "{ window_xsize = 64, window_ysize = 64, overview_levels = { 4, 8 }, overview_min_dim = 8 }")
    local ref = dir .. "/ref.tif"
    assert.are.equal(0, (H.run("gdal_translate -q -co TILED=YES " .. H.q(path) .. " "
                               .. H.q(ref) .. " && gdaladdo -q -r average " .. H.q(ref)
                               .. " 4 8")))
    for k = 0, 1 do
      local a, b = overview(dir, path, k, 1), overview(dir, ref, k, 1)
      assert.are.same({ a.w, a.h }, { b.w, b.h })
      for j = 1, a.h do
        for i = 1, a.w do
          assert.is_true(same(a[j][i], b[j][i], 1e-5),
                         string.format("level %d (%d, %d): %s vs GDAL %s", k, i, j, a[j][i],
                                       b[j][i]))
        end
      end
    end
  end)

  it("of thematic outputs are the pixel at each footprint's centre", function()
    local path = write(dir, "uint8", 1, 130, 101, "return (x * 7 + y * 13) % 23",
      "{ window_xsize = 32, window_ysize = 20, thematic = true, overview_levels = { 4, 8 }, "
      .. "overview_min_dim = 8 }")
    local full = overview(dir, path, "NONE", 1)
    for k, l in ipairs({ 4, 8 }) do
      local o = overview(dir, path, k - 1, 1)
      for j = 0, o.h - 1 do
        for i = 0, o.w - 1 do
          local cy = math.min(j * l + math.floor(l / 2), 100)
          local cx = math.min(i * l + math.floor(l / 2), 129)
          assert.are.equal(full[cy + 1][cx + 1], o[j + 1][i + 1])
        end
      end
    end
  end)

  it("with another resampling are left to GDAL after the last block", function()
    local path = write(dir, "float32", 1, 128, 128, "return x + y",
      "{ window_xsize = 32, window_ysize = 32, overview_levels = { 4 }, overview_min_dim = 8, "
      .. "overview_aggtype = 'NEAREST' }")
    local o = overview(dir, path, 0, 1)
    assert.are.equal(32, o.w)
    -- GDAL's NEAREST picks the pixel at (4i + 2, 4j + 2)
    assert.are.equal(2 + 2, o[1][1])
    local path2 = write(dir, "float32", 1, 128, 128, "return x + y",
      "{ window_xsize = 32, window_ysize = 32, overview_levels = { 4 }, overview_min_dim = 8, "
      .. "overview_aggtype = 'BILINEAR' }")
    assert.are.equal(1, #H.gdalinfo(path2).bands[1].overviews)
  end)
end)
