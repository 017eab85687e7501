-- rios.quicklook: PNG previews, read back with GDAL (gdalinfo and
-- gdal_translate), with the stretch worked out here from the pixels.
local H = require("support.helpers")
local rios = require("rios")
local ramps = require("rios.ramps")

-- The PNG's bands as lists of byte values, and its gdalinfo.
local function read_png(path)
  local g = H.gdalinfo(path)
  local raw = H.raw_bytes(path)
  local cols, rows = g.size[1], g.size[2]
  local n = cols * rows
  local bands = {}
  for b = 1, #g.bands do
    local t = {}
    for i = 1, n do t[i] = raw:byte((b - 1) * n + i) end
    bands[b] = t
  end
  return g, bands
end

-- The expected stretch of values (a list) at percent: clip between the
-- values ranked p% from each end, map linearly onto 0..255.
local function stretch(values, valid, percent)
  local sorted = {}
  for i, v in ipairs(values) do
    if valid[i] then sorted[#sorted + 1] = v end
  end
  table.sort(sorted)
  local k = #sorted
  local cut = percent / 100 * (k - 1)
  local lo, hi = sorted[math.floor(cut + 0.5) + 1], sorted[math.floor(k - 1 - cut + 0.5) + 1]
  local out = {}
  for i, v in ipairs(values) do
    if valid[i] then
      local s = math.floor((v - lo) * (255 / (hi - lo)) + 0.5)
      out[i] = math.max(0, math.min(255, s))
    else
      out[i] = 0
    end
  end
  return out, lo, hi
end

describe("rios.quicklook", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  it("writes an RGBA PNG of three bands with a 2% stretch and nodata transparent", function()
    local path = dir .. "/img.tif"
    local rows, cols = 40, 50
    -- band b: a gradient with a few outliers, so the clip matters; nodata
    -- (0) in a corner of band 2 only
    local function value(b, r, c)
      if b == 1 and r < 3 and c < 3 then return 0 end
      if (r * cols + c) % 97 == 0 then return 5000 + b end
      return 100 * (b + 1) + r * 3 + c * (b + 1)
    end
    H.make_raster(path, "int16", 3, rows, cols, value, { nodata = 0 })
    local r = rios.open(path)
    local w, h = rios.quicklook(r, dir .. "/look.png", { bands = { 3, 2, 1 }, stretch = "2%" })
    assert.are.same({ cols, rows }, { w, h })
    local g, png = read_png(dir .. "/look.png")
    assert.are.equal("PNG", g.driverShortName)
    assert.are.same({ cols, rows }, g.size)
    assert.are.same({ "Red", "Green", "Blue", "Alpha" },
                    { g.bands[1].colorInterpretation, g.bands[2].colorInterpretation,
                      g.bands[3].colorInterpretation, g.bands[4].colorInterpretation })
    local valid, values = {}, { {}, {}, {} }
    for row = 0, rows - 1 do
      for col = 0, cols - 1 do
        local i = row * cols + col + 1
        valid[i] = value(1, row, col) ~= 0
        for b = 0, 2 do values[b + 1][i] = value(b, row, col) end
      end
    end
    for out_band, src_band in ipairs({ 3, 2, 1 }) do
      local want = stretch(values[src_band], valid, 2)
      assert.are.same(want, png[out_band])
    end
    for i = 1, rows * cols do
      assert.are.equal(valid[i] and 255 or 0, png[4][i])
    end
    -- the clip is real: the outliers and the low end are saturated
    assert.are.equal(255, png[1][1 + 97])
    assert.are.equal(0, png[1][3 + 1])
  end)

  it("reads a big raster at preview size from its overviews", function()
    local path = dir .. "/big.tif"
    -- 520 / 4 = 130: one overview at the default levels and minimum
    H.make_raster(path, "uint8", 1, 520, 520, function(_, r, c) return (r * 5 + c * 3) % 256 end,
                  { stats = true })
    local r = rios.open(path)
    local ov = r:overviews()[1]
    assert.are.same({ 130, 130 }, ov)
    rios.quicklook(r, dir .. "/small.png", { size = 130, stretch = "minmax" })
    local g, png = read_png(dir .. "/small.png")
    assert.are.same({ 130, 130 }, g.size)
    assert.are.equal(2, #g.bands)  -- grey and alpha
    -- the preview's pixels are the overview's (averaged), not a sample of
    -- the full-resolution pixels
    local a = r:read{ overview = 1 }
    local vals, valid = {}, {}
    for i = 0, 130 * 130 - 1 do
      vals[i + 1] = a.data[i]
      valid[i + 1] = true
    end
    assert.are.same((stretch(vals, valid, 0)), png[1])
    local full = r:read{ band = 1 }
    local differs = false
    for i = 0, 129 do
      if full.data[(i * 4 + 2) * 520 + 2] ~= a.data[i * 130] then differs = true end
    end
    assert.is_true(differs)
  end)

  it("shrinks a raster to fit the size, keeping its shape", function()
    local path = dir .. "/wide.tif"
    H.make_raster(path, "float32", 1, 30, 90, function(_, r, c) return r + c end)
    local w, h = rios.quicklook(rios.open(path), dir .. "/w.png", { size = 45 })
    assert.are.same({ 45, 15 }, { w, h })
    local g = H.gdalinfo(dir .. "/w.png")
    assert.are.same({ 45, 15 }, g.size)
  end)

  it("previews an array, with NaN and a nodata value transparent", function()
    local a = rios.array("float64", 1, 4, 5)
    for i = 0, 19 do a.data[i] = i end
    a.data[3] = 0 / 0
    a.data[7] = -9
    rios.quicklook(a, dir .. "/a.png", { stretch = { 0, 19 }, nodata = -9 })
    local g, png = read_png(dir .. "/a.png")
    assert.are.same({ 5, 4 }, g.size)
    for i = 0, 19 do
      local invalid = i == 3 or i == 7
      assert.are.equal(invalid and 0 or 255, png[2][i + 1])
      if not invalid then
        assert.are.equal(math.floor(i * 255 / 19 + 0.5), png[1][i + 1])
      end
    end
  end)

  it("refuses bad options in one line", function()
    local path = dir .. "/img.tif"
    H.make_raster(path, "uint8", 2, 4, 4, function() return 1 end)
    local cases = {
      { "{bands = {3}}", "rios.quicklook: there is no band 3 (it has 2)" },
      { "{bands = {1, 2}}", "rios.quicklook: bands must list 1 band" },
      { "{stretch = '60%'}", "rios.quicklook: stretch must be" },
    }
    for _, case in ipairs(cases) do
      local status, _, err = H.run_script(dir, "bad.lua", "local rios = require('rios')\n"
        .. "rios.quicklook(rios.open(arg[1]), 'x.png', " .. case[1] .. ")\n", { path })
      assert.are.equal(1, status)
      assert.truthy(err:find("^bad%.lua:2: rios%.quicklook: "), err)
      assert.truthy(err:find(case[2], 1, true), err)
    end
  end)

  it("takes a path as well as a raster", function()
    local path = dir .. "/img.tif"
    H.make_raster(path, "int16", 1, 30, 40, function(_, r, c) return r * 7 - c * 3 end)
    local w, h = rios.quicklook(path, dir .. "/by_path.png")
    assert.are.same({ 40, 30 }, { w, h })
    rios.quicklook(rios.open(path), dir .. "/by_raster.png")
    assert.are.equal(H.raw_bytes(dir .. "/by_raster.png"), H.raw_bytes(dir .. "/by_path.png"))
    local status, _, err = H.run_script(dir, "missing.lua", "local rios = require('rios')\n"
      .. "rios.quicklook('nothing.tif', 'x.png')\n")
    assert.are.equal(1, status)
    assert.truthy(err:find("^missing%.lua:2: rios%.quicklook: nothing%.tif: cannot open"), err)
  end)

  it("draws a raster with a colour table in its class colours, nodata transparent", function()
    local path = dir .. "/classes.tif"
    local rows, cols = 12, 16
    local function class(r, c) return (r * cols + c) % 8 end   -- 0 is nodata
    local ct = { [1] = { 230, 25, 75 }, [2] = { 60, 180, 75 }, [3] = { 255, 225, 25 },
                 [4] = { 0, 130, 200 }, [5] = { 245, 130, 48 }, [6] = { 145, 30, 180 },
                 [7] = { 255, 255, 255 } }
    H.make_raster(path, "uint8", 1, rows, cols, function(_, r, c) return class(r, c) end,
                  { thematic = true, nodata = 0, color_table = ct })
    rios.quicklook(path, dir .. "/classes.png")
    local g, png = read_png(dir .. "/classes.png")
    assert.are.equal(4, #g.bands)
    for r = 0, rows - 1 do
      for c = 0, cols - 1 do
        local i, v = r * cols + c + 1, class(r, c)
        if v == 0 then
          assert.are.equal(0, png[4][i])
        else
          -- class 7 is white, and opaque: not the same as nodata
          assert.are.same({ ct[v][1], ct[v][2], ct[v][3], 255 },
                          { png[1][i], png[2][i], png[3][i], png[4][i] })
        end
      end
    end
  end)

  it("gives a thematic raster without a colour table distinct class colours", function()
    local path = dir .. "/them.tif"
    H.make_raster(path, "uint8", 1, 4, 10, function(_, _, c) return c end,
                  { thematic = true, nodata = 0 })
    rios.quicklook(path, dir .. "/them.png")
    local _, png = read_png(dir .. "/them.png")
    local seen = {}
    for c = 1, 9 do
      local i = c + 1
      assert.are.equal(255, png[4][i])
      local rgb = png[1][i] .. "," .. png[2][i] .. "," .. png[3][i]
      assert.is_nil(seen[rgb], rgb)
      seen[rgb] = true
      assert.are.same({ ramps.class("classes", c) }, { png[1][i], png[2][i], png[3][i] })
    end
    assert.are.equal(0, png[4][1])
  end)

  it("maps one band through a named ramp, its ends in the ramp's end colours", function()
    local a = rios.array("float32", 1, 5, 21)
    for r = 0, 4 do
      for c = 0, 20 do a.data[r * 21 + c] = -0.2 + c * 0.05 end
    end
    rios.quicklook(a, dir .. "/ndvi.png", { ramp = "rdylgn", stretch = "minmax" })
    local g, png = read_png(dir .. "/ndvi.png")
    assert.are.same({ 21, 5 }, g.size)
    assert.are.equal(4, #g.bands)
    assert.are.same({ 215, 48, 39, 255 }, { png[1][1], png[2][1], png[3][1], png[4][1] })
    assert.are.same({ 26, 152, 80, 255 }, { png[1][21], png[2][21], png[3][21], png[4][21] })
    local mr, mg, mb = ramps.at("rdylgn", 128 / 255)   -- the middle column: step 128
    assert.are.same({ mr, mg, mb }, { png[1][11], png[2][11], png[3][11] })
    -- viridis on a raster file, nodata transparent
    local path = dir .. "/v.tif"
    H.make_raster(path, "uint16", 1, 3, 30, function(_, _, c) return c end, { nodata = 0 })
    rios.quicklook(path, dir .. "/v.png", { ramp = "viridis", stretch = { 1, 29 } })
    local _, v = read_png(dir .. "/v.png")
    assert.are.equal(0, v[4][1])
    assert.are.same({ 68, 1, 84 }, { v[1][2], v[2][2], v[3][2] })
    assert.are.same({ 253, 231, 37 }, { v[1][30], v[2][30], v[3][30] })
  end)

  it("draws a legend bar with the ramp and the value range under the image", function()
    local a = rios.array("float64", 1, 40, 300)
    for r = 0, 39 do
      for c = 0, 299 do a.data[r * 300 + c] = c / 299 * 1.5 - 0.5 end
    end
    local w, h = rios.quicklook(a, dir .. "/legend.png", { ramp = "viridis", stretch = "minmax",
                                                           legend = true })
    local g, png = read_png(dir .. "/legend.png")
    assert.are.same({ w, h }, g.size)
    assert.are.equal(300, w)
    assert.is_true(h > 40 + 20, "the legend adds rows under the image: " .. h)
    -- the image is as without a legend
    rios.quicklook(a, dir .. "/plain.png", { ramp = "viridis", stretch = "minmax" })
    local _, plain = read_png(dir .. "/plain.png")
    for i = 1, 40 * 300, 97 do assert.are.equal(plain[2][i], png[2][i]) end
    -- under it: an opaque white band, a bar from the ramp's first colour to
    -- its last, and black figures (-0.5 at the left, 1 at the right)
    local function px(x, y)
      local i = y * w + x + 1
      return { png[1][i], png[2][i], png[3][i], png[4][i] }
    end
    local bar_row
    for y = 40, h - 1 do
      local p = px(150, y)
      if not (p[1] == 255 and p[2] == 255 and p[3] == 255) then bar_row = y break end
    end
    assert.truthy(bar_row, "a bar under the image")
    local first, last
    for x = 0, w - 1 do
      local p = px(x, bar_row)
      if not (p[1] == 255 and p[2] == 255 and p[3] == 255) then
        first = first or p
        last = p
      end
    end
    assert.are.same({ 68, 1, 84, 255 }, first)
    assert.are.same({ 253, 231, 37, 255 }, last)
    assert.are.same({ 255, 255, 255, 255 }, px(150, h - 1))
    local black_left, black_right = 0, 0
    for y = bar_row, h - 1 do
      for x = 0, w - 1 do
        local p = px(x, y)
        if p[1] == 0 and p[2] == 0 and p[3] == 0 and p[4] == 255 then
          if x < w / 2 then black_left = black_left + 1 else black_right = black_right + 1 end
        end
      end
    end
    assert.is_true(black_left > 10 and black_right > 5, black_left .. " " .. black_right)
    -- no legend for a class map
    local status, _, err = H.run_script(dir, "bad.lua", "local rios = require('rios')\n"
      .. "rios.quicklook(rios.array('uint8', 1, 2, 2), 'x.png', {color_table = {[0] = {1, 2, 3}}, "
      .. "legend = true})\n")
    assert.are.equal(1, status)
    assert.truthy(err:find("bad.lua:2: rios.quicklook: legend is drawn for a stretched band", 1,
                           true), err)
  end)
end)
