-- Colour tables: rios.write's color_table, rios.open's r:color_table,
-- rios.rat.set_color_table / get_color_table, the built-in ramps; checked
-- with gdalinfo -json's colorTable entries and colour interpretation.
local H = require("support.helpers")
local rios = require("rios")
local ramps = require("rios.ramps")

local function classes(dtype, rows, cols, fn)
  local a = rios.array(dtype, 1, rows, cols)
  for r = 0, rows - 1 do
    for c = 0, cols - 1 do a.data[r * cols + c] = fn(r, c) end
  end
  return a
end

local function gdal_band(path, b)
  return H.gdalinfo(path).bands[b or 1]
end

describe("colour tables", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  it("writes a table of class colours that GDAL reads as a Palette band (GTiff)", function()
    local path = dir .. "/classes.tif"
    local a = classes("uint8", 10, 12, function(r, c) return (r + c) % 4 end)
    rios.write(path, a, { thematic = true, stats = true, color_table = {
      [1] = { 230, 25, 75 }, [2] = { 60, 180, 75 }, [3] = { 0, 130, 200, 255 } } })
    local b = gdal_band(path)
    assert.are.equal("Palette", b.colorInterpretation)
    assert.are.equal("RGB", b.colorTable.palette)
    local e = b.colorTable.entries
    assert.are.same({ 230, 25, 75, 255 }, e[2])
    assert.are.same({ 60, 180, 75, 255 }, e[3])
    assert.are.same({ 0, 130, 200, 255 }, e[4])
    -- the statistics and the classes are still as written
    assert.are.equal(3, b.maximum)
    assert.are.same(H.array_bytes(a), H.raw_bytes(path))
    -- rios.open gives the same table back
    local r = rios.open(path)
    local ct = r:color_table()
    r:close()
    assert.are.same({ 230, 25, 75, 255 }, ct[1])
    assert.are.same({ 0, 130, 200, 255 }, ct[3])
    assert.are.equal(#e, #ct + 1)   -- every entry, from value 0
  end)

  it("keeps alpha and leaves values not listed transparent (HFA)", function()
    local path = dir .. "/classes.img"
    local a = classes("uint16", 6, 6, function(r) return r end)
    rios.write(path, a, { driver = "HFA", thematic = true,
                          color_table = { [2] = { 10, 20, 30, 128 }, [5] = { 1, 2, 3 } } })
    local b = gdal_band(path)
    assert.are.equal("Palette", b.colorInterpretation)
    local e = b.colorTable.entries
    assert.are.equal(6, b.colorTable.count)
    assert.are.same({ 0, 0, 0, 0 }, e[1])
    assert.are.same({ 10, 20, 30, 128 }, e[3])
    assert.are.same({ 0, 0, 0, 0 }, e[4])
    assert.are.same({ 1, 2, 3, 255 }, e[6])
  end)

  it("spreads a named ramp over the data's values, nodata transparent", function()
    local path = dir .. "/ramp.tif"
    local a = classes("uint8", 4, 50, function(_, c) return c == 0 and 255 or 10 + c end)
    rios.write(path, a, { nodata = 255, color_table = "viridis" })
    local b = gdal_band(path)
    assert.are.equal("Palette", b.colorInterpretation)
    local e = b.colorTable.entries
    -- values 11..59: the ramp's first colour at 11 and its last at 59
    assert.are.same({ 68, 1, 84, 255 }, e[12])
    assert.are.same({ 253, 231, 37, 255 }, e[60])
    local mr, mg, mb = ramps.at("viridis", 0.5)
    assert.are.same({ mr, mg, mb, 255 }, e[36])   -- value 35, half way
    assert.are.same({ 0, 0, 0, 0 }, e[256])       -- nodata (GTiff keeps 256 entries)
    -- a range of its own, for an index such as NDVI scaled to 0..200
    local p2 = dir .. "/ndvi.img"
    rios.write(p2, classes("uint8", 2, 201, function(_, c) return c end), {
      driver = "HFA", color_table = { ramp = "rdylgn", min = 0, max = 200 } })
    local e2 = gdal_band(p2).colorTable.entries
    assert.are.same({ 215, 48, 39, 255 }, e2[1])
    assert.are.same({ 255, 255, 191, 255 }, e2[101])
    assert.are.same({ 26, 152, 80, 255 }, e2[201])
  end)

  it("has the ramps the issue asks for, each from its first colour to its last", function()
    for _, name in ipairs({ "grey", "viridis", "terrain", "rdylgn", "rdbu" }) do
      assert.truthy(ramps.lookup(name), name)
      local r0, g0, b0 = ramps.at(name, 0)
      local r1, g1, b1 = ramps.at(name, 1)
      assert.is_true(r0 ~= r1 or g0 ~= g1 or b0 ~= b1, name)
    end
    assert.are.same({ 0, 0, 0 }, { ramps.at("grey", 0) })
    assert.are.same({ 255, 255, 255 }, { ramps.at("gray", 1) })
    assert.are.same({ 128, 128, 128 }, { ramps.at("grey", 128 / 255) })
  end)

  it("sets and reads the table of an existing file with rios.rat", function()
    local path = dir .. "/existing.tif"
    H.make_raster(path, "uint8", 1, 8, 8, function(_, r) return r % 3 end)
    assert.is_nil(rios.rat.get_color_table(path))
    assert.are.equal("Gray", gdal_band(path).colorInterpretation)
    rios.rat.set_color_table(path, { [0] = { 0, 0, 0 }, [1] = { 255, 0, 0 }, [2] = { 0, 0, 255 } })
    local b = gdal_band(path)
    assert.are.equal("Palette", b.colorInterpretation)
    assert.are.same({ 255, 0, 0, 255 }, b.colorTable.entries[2])
    assert.are.same({ 0, 0, 255, 255 }, rios.rat.get_color_table(path)[2])
    -- a ramp by name spreads over the file's own values (0..2 here)
    rios.rat.set_color_table(path, "grey")
    local e = gdal_band(path).colorTable.entries
    assert.are.same({ { 0, 0, 0, 255 }, { 128, 128, 128, 255 }, { 255, 255, 255, 255 } },
                    { e[1], e[2], e[3] })
  end)

  it("refuses what the file cannot keep before anything is written", function()
    local keep = dir .. "/keep.tif"
    H.make_raster(keep, "uint8", 1, 4, 4, function() return 7 end)
    local before = H.raw_bytes(keep)
    local cases = {
      { "rios.write(arg[1], rios.array('int16', 1, 4, 4), {color_table = 'viridis'})",
        "a GeoTIFF keeps a colour table only in a uint8 or uint16 band, not int16" },
      { "rios.write(arg[1], rios.array('uint8', 1, 4, 4), {color_table = {[1] = {1, 2, 3, 100}}})",
        "a GeoTIFF palette keeps no alpha, and entry 1 has alpha 100" },
      { "rios.write(arg[1], rios.array('uint8', 3, 4, 4), {color_table = {[1] = {1, 2, 3}}})",
        "a GeoTIFF keeps a colour table only in a single-band file, not one of 3 bands" },
      { "rios.write(arg[1], rios.array('float32', 1, 4, 4), {color_table = 'grey', driver = 'HFA'})",
        "a colour table needs a band of pixel values 0 and up" },
      { "rios.write(arg[1], rios.array('uint8', 1, 4, 4), {color_table = {[256] = {1, 2, 3}}})",
        "a uint8 band cannot have a colour table of 257 entries" },
      { "rios.write(arg[1], rios.array('uint8', 1, 4, 4), {color_table = 'plasma'})",
        'color_table "plasma" is not a ramp (one of classes, grey, rdbu, rdylgn, terrain, viridis)' },
      { "rios.write(arg[1], rios.array('uint8', 1, 4, 4), {color_table = {[1] = {300, 0, 0}}})",
        "color_table [1] must be {r, g, b [, a]} of whole numbers 0..255" },
      { "rios.rat.set_color_table(arg[1], {[1] = {1, 2, 3, 9}})",
        "a GeoTIFF palette keeps no alpha, and entry 1 has alpha 9" },
      { "rios.rat.set_color_table(arg[1], 'grey', 2)", "has no band 2 (it has 1)" },
      { "rios.rat.get_color_table(arg[1] .. '.nothing')",
        "rios.rat.get_color_table: " .. keep .. ".nothing: cannot open as a raster" },
    }
    for _, case in ipairs(cases) do
      local status, _, err = H.run_script(dir, "bad.lua", "local rios = require('rios')\n"
                                          .. case[1] .. "\n", { keep })
      assert.are.equal(1, status, case[1])
      assert.truthy(err:find("^bad%.lua:2: "), err)
      assert.truthy(err:find(keep, 1, true), err)
      assert.truthy(err:find(case[2], 1, true), err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    end
    assert.are.equal(before, H.raw_bytes(keep))
    assert.is_nil(gdal_band(keep).colorTable)
  end)
end)
