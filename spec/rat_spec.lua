-- rios.rat: raster attribute tables written and read on real files (GTiff,
-- whose tables live in .aux.xml, and HFA, which keeps them in the file),
-- checked with gdalinfo -json's "rat" (column names, types, usages, rows).
local H = require("support.helpers")
local rios = require("rios")

-- A thematic uint8 raster of 100 x 1 pixels: values 1..9 in rows 1..9, 1
-- elsewhere in the first half, 0 (nodata) in the second.
local function thematic_file(path, driver, stats)
  return H.make_raster(path, "uint8", 1, 100, 1, function(_, r)
    if r >= 1 and r < 10 then return r end
    return r >= 50 and 0 or 1
  end, { driver = driver, thematic = true, stats = stats, nodata = 0 })
end

-- gdalinfo -json's table: {fields = {{name, type, usage}...}, rows = {{...}...}}.
local function gdal_rat(path)
  local rat = H.gdalinfo(path).rat
  if not rat then return nil end
  local fields = {}
  for i, f in ipairs(rat.fieldDefn) do fields[i] = { f.name, f.type, f.usage } end
  local rows = {}
  for i, r in ipairs(rat.row or {}) do rows[i] = r.f end
  return { fields = fields, rows = rows }
end

local function values(n, fn)
  local t = {}
  for i = 0, n - 1 do t[i + 1] = fn(i) end
  return t
end

describe("rios.rat", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  for _, driver in ipairs({ "GTiff", "HFA" }) do
    local ext = driver == "GTiff" and ".tif" or ".img"

    it("writes int, float and string columns that GDAL reads back (" .. driver .. ")", function()
      local path = dir .. "/classes" .. ext
      thematic_file(path, driver)
      local ints = values(100, function(i) return i == 0 and 500 or i + 10 end)
      rios.rat.write_column(path, "Count", ints)
      local fl = rios.array("float64", 1, 1, 100)
      for i = 0, 99 do fl.data[i] = i * 0.25 - 3 end
      rios.rat.write_column(path, "Score", fl)
      -- HFA keeps a column of usage Name as "Class_Names"
      local label = driver == "HFA" and "Class_Names" or "Label"
      rios.rat.write_column(path, label, values(100, function(i) return "class " .. i end),
                            { usage = "Name" })
      local g = gdal_rat(path)
      assert.are.same({ { "Count", 0, 0 }, { "Score", 1, 0 }, { label, 2, 2 } }, g.fields)
      -- a uint8 band's table has a row for every possible value
      assert.are.equal(256, #g.rows)
      assert.are.same({ 500, -3, "class 0" }, g.rows[1])
      assert.are.same({ 109, 99 * 0.25 - 3, "class 99" }, g.rows[100])
      assert.are.same({ 0, 0, "" }, g.rows[256])

      -- and rios reads the same values, as arrays and a list
      local c = rios.rat.read_column(path, "Count")
      assert.are.same({ "int32", 1, 1, 256 }, { c.dtype, c.bands, c.rows, c.cols })
      for i = 0, 99 do assert.are.equal(ints[i + 1], c.data[i]) end
      local s = rios.rat.read_column(path, "Score")
      assert.are.equal("float64", s.dtype)
      for i = 0, 99 do assert.are.equal(i * 0.25 - 3, s.data[i]) end
      local names = rios.rat.read_column(path, label)
      assert.are.equal(256, #names)
      assert.are.equal("class 42", names[43])
      assert.are.same({ "Count", "Score", label }, rios.rat.column_names(path))
      assert.are.same({ { name = "Count", type = "int", usage = "Generic" },
                        { name = "Score", type = "float", usage = "Generic" },
                        { name = label, type = "string", usage = "Name" } },
                      rios.rat.columns(path))
      assert.are.equal("Name", rios.rat.column_usage(path, label))
      assert.are.equal("float", rios.rat.column_type(path, "Score"))
      assert.are.equal(256, rios.rat.row_count(path))
    end)

    it("replaces a column's values and keeps the others (" .. driver .. ")", function()
      local path = dir .. "/r" .. ext
      thematic_file(path, driver)
      rios.rat.write_column(path, "A", values(10, function(i) return i end))
      rios.rat.write_column(path, "B", values(10, function(i) return -i end))
      rios.rat.write_column(path, "A", values(5, function(i) return 100 + i end))
      local g = gdal_rat(path)
      assert.are.same({ { "A", 0, 0 }, { "B", 0, 0 } }, g.fields)
      assert.are.same({ 100, 0 }, g.rows[1])
      assert.are.same({ 104, -4 }, g.rows[5])
      assert.are.same({ 5, -5 }, g.rows[6])   -- rows past the new values kept
      -- a part of a column, from a row
      rios.rat.write_column(path, "B", { 7, 8 }, { start = 3 })
      local b = rios.rat.read_column(path, "B")
      assert.are.same({ 0, -1, -2, 7, 8, -5 }, { b.data[0], b.data[1], b.data[2], b.data[3],
                                                  b.data[4], b.data[5] })
    end)
  end

  it("follows RIOS's conventions for the histogram and colour columns", function()
    local path = dir .. "/conv.tif"
    thematic_file(path, "GTiff")
    rios.rat.write_histogram(path, { 50, 41, 1, 1, 1, 1, 1, 1, 1, 1 })
    rios.rat.write_color_columns(path, { [1] = { 255, 0, 0 }, [2] = { 0, 128, 0, 100 } })
    local g = gdal_rat(path)
    -- GFT_Real/GFU_PixelCount for the histogram; GFT_Integer and
    -- GFU_Red/Green/Blue/Alpha for the colours
    assert.are.same({ { "Histogram", 1, 1 }, { "Red", 0, 6 }, { "Green", 0, 7 }, { "Blue", 0, 8 },
                      { "Alpha", 0, 9 } }, g.fields)
    assert.are.same({ 50, 0, 0, 0, 0 }, g.rows[1])
    assert.are.same({ 41, 255, 0, 0, 255 }, g.rows[2])
    assert.are.same({ 1, 0, 128, 0, 100 }, g.rows[3])
    local info = H.gdalinfo(path)
    assert.are.equal(0, info.rat.row[1].index)
    local ct = rios.rat.read_color_columns(path)
    assert.are.same({ 255, 0, 0, 255 }, ct[1])
    assert.are.same({ 0, 128, 0, 100 }, ct[2])
    assert.are.same({ 0, 0, 0, 0 }, ct[0])
    -- a column named Red with other values is still an integer colour column
    rios.rat.write_column(path, "Red", { 9, 8, 7 })
    assert.are.equal("Red", rios.rat.column_usage(path, "Red"))
  end)

  it("gives the histogram-weighted statistics of a column, leaving out the nodata row", function()
    local path = dir .. "/stats.img"
    thematic_file(path, "HFA", true)
    -- the histogram HFA stores from the statistics is the table's pixel count
    assert.are.equal("PixelCount", rios.rat.column_usage(path, "Histogram"))
    local v = values(100, function(i) return i == 0 and 500 or i * i end)
    rios.rat.write_column(path, "Value", v, { type = "float" })
    local s = rios.rat.stats(path, "Value")
    -- pixels: value 1 (42 of them: rows 0, 1 and 10..49) and
    -- values 2..9 once each; value 0 is nodata
    local px = {}
    for _ = 1, 42 do px[#px + 1] = 1 end
    for k = 2, 9 do px[#px + 1] = k * k end
    local sum, ss = 0, 0
    for _, x in ipairs(px) do sum = sum + x end
    local mean = sum / #px
    for _, x in ipairs(px) do ss = ss + (x - mean) ^ 2 end
    assert.are.equal(#px, s.count)
    assert.are.equal(sum, s.sum)
    assert.is_true(math.abs(s.mean - mean) < 1e-9)
    assert.is_true(math.abs(s.stddev - math.sqrt(ss / #px)) < 1e-9)
    assert.are.same({ 1, 81 }, { s.min, s.max })
    local u = rios.rat.stats(path, "Value", { histogram_weighted = false })
    assert.are.equal(255, u.count)   -- every row but the nodata one
    assert.are.equal(0, u.min)
  end)

  it("keeps one table open for many calls with rios.rat.open", function()
    local path = dir .. "/open.tif"
    thematic_file(path, "GTiff")
    local t = rios.rat.open(path, { update = true })
    t:set_row_count(20)
    t:write_column("X", values(20, function(i) return i * 2 end))
    t:write_column("Y", rios.array("int16", 1, 4, 5):fill(-7))
    assert.are.same({ "X", "Y" }, t:column_names())
    assert.are.equal(20, t:row_count())
    local x = t:read_column("X", 5, 3)
    assert.are.same({ 3, 10, 12, 14 }, { x.cols, x.data[0], x.data[1], x.data[2] })
    assert.are.equal("int", t:column_type("Y"))
    t:close()
    -- written back to the .aux.xml on close
    local g = gdal_rat(path)
    assert.are.equal(20, #g.rows)
    assert.are.same({ 38, -7 }, g.rows[20])
    local r = rios.rat.open(path)
    local ok, err = pcall(r.write_column, r, "Z", { 1 })
    assert.is_false(ok)
    assert.truthy(err:find("was opened for reading", 1, true), err)
    r:close()
  end)

  it("says which file and column in one line when something is wrong", function()
    local path = dir .. "/bad.tif"
    thematic_file(path, "GTiff")
    rios.rat.write_column(path, "Count", { 1, 2, 3 })
    local before = H.gdalinfo(path).rat
    local cases = {
      { "rios.rat.read_column(arg[1], 'Nope')",
        'rios.rat.read_column: ' .. path .. ' band 1 has no column "Nope" (it has Count)' },
      { "rios.rat.write_column(arg[1], 'Count', {1.5, 2})",
        'column "Count" holds integers; row 0 would get 1.5' },
      { "rios.rat.write_column(arg[1], 'Count', {'a'})", 'holds numbers, not strings' },
      { "rios.rat.write_column(arg[1], 'Mixed', {1, 'a'})", "mixes numbers and strings" },
      { "rios.rat.write_column(arg[1], 'Big', {3e9}, {type = 'int'})",
        'column "Big" holds integers; row 0 would get 3000000000' },
      { "rios.rat.write_column(arg[1], 'U', {1}, {usage = 'Colour'})", "usage must be one of" },
      { "rios.rat.read_column(arg[1], 'Count', 2)", "has no band 2 (it has 1)" },
      { "rios.rat.column_names(arg[1] .. '.missing')", "rios.rat.column_names: " .. path
        .. ".missing: cannot open as a raster" },
    }
    for _, case in ipairs(cases) do
      local status, _, err = H.run_script(dir, "bad.lua", "local rios = require('rios')\n"
                                          .. case[1] .. "\n", { path })
      assert.are.equal(1, status, case[1])
      assert.truthy(err:find("^bad%.lua:2: "), err)
      assert.truthy(err:find(case[2], 1, true), err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)   -- one line
    end
    -- nothing was changed by the failed writes ("Big" was made by none)
    assert.are.same(before, H.gdalinfo(path).rat)
  end)

  it("says under which name HFA keeps a column of a colour usage, and reads it as 0..255", function()
    local path = dir .. "/hfa.img"
    thematic_file(path, "HFA")
    local ok, err = pcall(rios.rat.write_column, path, "Shade", { 1, 2 }, { usage = "Green" })
    assert.is_false(ok)
    assert.truthy(err:find('the HFA driver keeps a column of usage 7 as "Green", not "Shade"; '
                           .. 'write it under that name', 1, true), err)
    -- HFA keeps colours as 0..1 in the file; GDAL (and rios) give them as 0..255
    rios.rat.write_column(path, "Green", { 10, 255 })
    local g = rios.rat.read_column(path, "Green")
    assert.are.same({ "int32", 10, 255 }, { g.dtype, g.data[0], g.data[1] })
    local rows = gdal_rat(path).rows
    assert.are.same({ 10 }, rows[1])
    assert.are.same({ 255 }, rows[2])
  end)
end)
