-- rios.open and the raster object a person explores with: what it says about
-- a file (checked against gdalinfo), reads of windows and overviews
-- (checked against gdal_translate), statistics stored or computed.
local H = require("support.helpers")
local rios = require("rios")

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

describe("rios.open", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  it("describes a raster as gdalinfo does", function()
    local path = dir .. "/a.tif"
    H.make_raster(path, "int16", 2, 30, 40, function(b, r, c) return b * 100 + r - c end,
                  { nodata = -999, layer_names = { "first", "second" } })
    local r = rios.open(path)
    local g = H.gdalinfo(path)
    assert.are.equal("GTiff", r.driver)
    assert.are.equal(g.size[1], r.cols)
    assert.are.equal(g.size[2], r.rows)
    assert.are.equal(#g.bands, r.bands)
    assert.are.equal("int16", r.dtype)
    assert.are.same(g.geoTransform, r.transform)
    assert.are.same({ 10, -10 }, r.pixel_size)
    assert.are.equal("WGS 84 / UTM zone 55S (EPSG:32755)", r.projection_name)
    assert.are.same({ -999, -999 }, r.nodata)
    assert.are.same({ "first", "second" }, r.band_names)
    assert.are.equal(g.metadata[""].AREA_OR_POINT, r:metadata().AREA_OR_POINT)
    assert.are.same({}, r:overviews())
    r:close()
  end)

  it("reads a window of one band and of chosen bands", function()
    local path = dir .. "/a.tif"
    local function value(b, row, col) return b * 1000 + row * 50 + col end
    H.make_raster(path, "int32", 3, 20, 25, value)
    local r = rios.open(path)
    local a = r:read{ band = 2, window = { 5, 3, 10, 4 } }
    assert.are.same({ 1, 4, 10, "int32" }, { a.bands, a.rows, a.cols, a.dtype })
    for row = 0, 3 do
      for col = 0, 9 do
        assert.are.equal(value(1, row + 3, col + 5), a.data[row * 10 + col])
      end
    end
    local b = r:read{ bands = { 3, 1 } }
    assert.are.equal(value(2, 19, 24), b.data[(0 * 20 + 19) * 25 + 24])
    assert.are.equal(value(0, 7, 2), b.data[(1 * 20 + 7) * 25 + 2])
  end)

  it("reads an overview, matching gdal_translate -ovr", function()
    local path = dir .. "/big.tif"
    H.make_raster(path, "uint8", 1, 520, 530, function(_, r, c) return (r * 3 + c * 7) % 251 end,
                  { stats = true })
    local r = rios.open(path)
    local g = H.gdalinfo(path)
    local ovs = r:overviews()
    assert.are.equal(#g.bands[1].overviews, #ovs)
    assert.truthy(#ovs >= 1)
    assert.are.same(g.bands[1].overviews[1].size, ovs[1])
    local a = r:read{ overview = 1 }
    assert.are.same({ 1, ovs[1][2], ovs[1][1] }, { a.bands, a.rows, a.cols })
    local status, _, err = H.run("gdal_translate -q -ovr 0 -of ENVI " .. H.q(path) .. " "
                                 .. H.q(dir .. "/ov.img"))
    assert.are.equal(0, status, err)
    local f = assert(io.open(dir .. "/ov.img", "rb"))
    local want = f:read("*a")
    f:close()
    assert.are.equal(want, require("ffi").string(a.data, a:nbytes()))
    -- a window of the overview
    local w = r:read{ overview = 1, window = { 10, 20, 5, 6 } }
    assert.are.equal(a.data[20 * a.cols + 10], w.data[0])
    assert.are.equal(a.data[25 * a.cols + 14], w.data[5 * 5 + 4])
  end)

  it("gives the stored statistics, or computes them without writing beside the file", function()
    local stored = dir .. "/stored.tif"
    H.make_raster(stored, "float32", 1, 16, 16, function(_, r, c) return r * 0.5 + c end,
                  { stats = true })
    local g = H.gdalinfo(stored)
    local r = rios.open(stored)
    local s = r:stats(1)
    assert.are.equal(g.bands[1].minimum, s.min)
    assert.are.equal(g.bands[1].maximum, s.max)
    assert.are.equal(g.bands[1].mean, s.mean)

    local plain = dir .. "/plain.tif"
    local vals = {}
    H.make_raster(plain, "int16", 2, 12, 9, function(b, row, col)
      local v = (row * 9 + col) % 7 == 0 and -1 or b * 10 + row * col
      if b == 1 and v ~= -1 then vals[#vals + 1] = v end
      return v
    end, { nodata = -1 })
    local p = rios.open(plain)
    assert.is_nil(p:stored_stats(2))
    local n, sum, mn, mx = #vals, 0, math.huge, -math.huge
    for _, v in ipairs(vals) do
      sum = sum + v
      mn, mx = math.min(mn, v), math.max(mx, v)
    end
    local mean, ss = sum / n, 0
    for _, v in ipairs(vals) do ss = ss + (v - mean) ^ 2 end
    local c = p:stats(2)
    assert.are.equal(mn, c.min)
    assert.are.equal(mx, c.max)
    assert.is_true(math.abs(c.mean - mean) < 1e-9)
    assert.is_true(math.abs(c.stddev - math.sqrt(ss / n)) < 1e-9)
    local all = p:stats()
    assert.are.equal(2, #all)
    assert.are.same(c, all[2])
    p:close()
    assert.is_false(exists(plain .. ".aux.xml"))
  end)

  it("summarises itself in a few lines", function()
    local path = dir .. "/a.tif"
    H.make_raster(path, "uint8", 1, 8, 6, function(_, r, c) return r + c end,
                  { nodata = 255, stats = true })
    local r = rios.open(path)
    local s = tostring(r)
    assert.are.equal(path .. " (GTiff)", s:match("^[^\n]+"))
    assert.truthy(s:find("\n  6 cols x 8 rows, 1 band of uint8\n", 1, true), s)
    assert.truthy(s:find("\n  band 1: nodata 255; min 0  max 12  mean 6", 1, true), s)
    assert.truthy(s:find("\n  overviews: none\n", 1, true), s)
    r:close()
    assert.truthy(tostring(r):find("(closed)", 1, true))
  end)

  it("reports mistakes in one line naming the file", function()
    local path = dir .. "/a.tif"
    H.make_raster(path, "uint8", 2, 8, 8, function() return 1 end)
    local script = "local rios = require('rios')\nlocal r = rios.open(arg[1])\n"
    local cases = {
      { "rios.open(arg[1] .. '.nope')", "cannot open as a raster" },
      { "r:read{band = 3}", "r:read: " .. path .. " has no band 3 (it has 2)" },
      { "r:read{overview = 1}", "r:read: " .. path .. " has no overview 1 (it has 0)" },
      { "r:stats(0)", "r:stats: " .. path .. " has no band 0 (it has 2)" },
      { "r:close() r:read()", "r:read: " .. path .. " is closed" },
      { "r:read{window = {0, 0, 4}}", "r:read: window must be {xoff, yoff, xsize, ysize}" },
      { "r:read{bands = 2}", "r:read: bands must be a list" },
    }
    for _, case in ipairs(cases) do
      local status, _, err = H.run_script(dir, "bad.lua", script .. case[1] .. "\n", { path })
      assert.are.equal(1, status)
      assert.truthy(err:find("^bad%.lua:3: "), err)
      assert.truthy(err:find(case[2], 1, true), err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    end
  end)
end)
