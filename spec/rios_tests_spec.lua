-- RIOS's own tests of attribute tables and colour tables (rios/riostests:
-- testrat, testratapplier, testcolortable, testratstats, RIOS 2.0.9), the
-- same scenarios and checks written for rios-lua. As in RIOS, the files are
-- Erdas Imagine (HFA) on a 10 m grid in EPSG:28355.
local H = require("support.helpers")
local rios = require("rios")

local GRID = { transform = { 500000, 10, 0, 7000000, 0, -10 }, projection = "EPSG:28355" }

local function grid(opts)
  for k, v in pairs(GRID) do opts[k] = v end
  opts.driver = opts.driver or "HFA"
  return opts
end

-- RIOS's test image: 100 rows x 1 column of uint8, all 1 but rows 1..9
-- (1..9) and rows 50..99 (0).
local function test_pixels()
  local a = rios.array("uint8", 1, 100, 1)
  for r = 0, 99 do
    a.data[r] = (r >= 1 and r < 10) and r or (r >= 50 and 0 or 1)
  end
  return a
end

-- The attribute values RIOS puts in its table: row + 10, and 500 in row 0
-- (a row for lots of values no pixel has).
local function rat_values(n)
  local a = rios.array("int32", 1, 1, n)
  for i = 0, n - 1 do a.data[i] = i + 10 end
  a.data[0] = 500
  return a
end

local function same_values(a, b, n, what)
  for i = 0, n - 1 do
    assert.are.equal(tonumber(a.data and a.data[i] or a[i + 1]),
                     tonumber(b.data and b.data[i] or b[i + 1]), what .. " row " .. i)
  end
end

describe("RIOS's tests, ported", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  -- testrat: columns written with each kind of value read back the same.
  it("testrat", function()
    local img = dir .. "/test.img"
    rios.write(img, test_pixels(), grid({ thematic = true }))
    local values = rat_values(100)
    local as_strings = {}
    for i = 0, 99 do as_strings[i + 1] = tostring(values.data[i]) end
    local columns = {
      { "Int32", values },
      { "Float32", values:astype("float32") },
      { "Unicode", as_strings },
      { "String", as_strings },
    }
    for _, c in ipairs(columns) do
      rios.rat.write_column(img, c[1], c[2])
      local back = rios.rat.read_column(img, c[1])
      if type(c[2][1]) == "string" then
        -- read back as strings, and as the numbers they stand for
        for i = 1, 100 do
          assert.are.equal(as_strings[i], back[i], c[1] .. " row " .. (i - 1))
          assert.are.equal(values.data[i - 1], tonumber(back[i]))
        end
      else
        same_values(values, back, 100, c[1])
      end
    end
    -- each made as GDAL's integer, real and string columns
    assert.are.same({ "int", "float", "string", "string" },
                    { rios.rat.column_type(img, "Int32"), rios.rat.column_type(img, "Float32"),
                      rios.rat.column_type(img, "Unicode"), rios.rat.column_type(img, "String") })
    -- a string column read as strings gives the bytes written
    rios.rat.write_column(img, "Bstring", as_strings)
    local s = rios.rat.read_column(img, "Bstring")
    for i = 1, 100 do assert.are.equal(as_strings[i], s[i]) end
  end)

  -- testratapplier's test file: thematic, statistics with 0 ignored, and a
  -- "Value" column of n rows.
  local function applier_file(path, with_rat, n)
    rios.write(path, test_pixels(), grid({ thematic = true, stats = true, nodata = 0 }))
    if with_rat then rios.rat.write_column(path, "Value", rat_values(n or 100)) end
  end

  describe("testratapplier", function()
    local img
    before_each(function()
      img = dir .. "/test.img"
      applier_file(img, true)
    end)

    it("testOutputSameFile", function()
      rios.ratapply(function(_, inputs, outputs)
        outputs.img.sqrd = inputs.img.Value ^ 2
      end, { img = img }, { img = img }, nil, { block_len = 5 })
      local col, sqrd = rios.rat.read_column(img, "Value"), rios.rat.read_column(img, "sqrd")
      assert.are.equal(col.cols, sqrd.cols)
      for i = 0, col.cols - 1 do assert.are.equal(col.data[i] ^ 2, sqrd.data[i]) end
    end)

    it("testDifferentOutput", function()
      local img2 = dir .. "/test2.img"
      applier_file(img2, false)
      rios.ratapply(function(_, inputs, outputs)
        outputs.outimg.sqrd = inputs.img.Value ^ 2
      end, { img = img }, { outimg = img2 }, nil, { block_len = 3 })
      local col, sqrd = rios.rat.read_column(img, "Value"), rios.rat.read_column(img2, "sqrd")
      assert.are.equal(col.cols, sqrd.cols)
      for i = 0, col.cols - 1 do assert.are.equal(col.data[i] ^ 2, sqrd.data[i]) end
    end)

    it("testReduceRat", function()
      -- the raster copied with every pixel value halved (odd values go to
      -- the even one below, halved), written by rios.apply as HFA...
      local img3 = dir .. "/test3.img"
      rios.apply(function(_, inputs, outputs)
        local inp = inputs.inimg
        local out = inp:like()
        for i = 0, inp.rows * inp.cols - 1 do out.data[i] = bit.rshift(inp.data[i], 1) end
        outputs.outimg = out
      end, { inimg = img }, { outimg = img3 }, nil, { driver = "HFA" })
      -- ...and its table: only the even rows of the input's
      rios.ratapply(function(info, inputs, outputs)
        local v, even = inputs.img.Value, {}
        for i = 0, info.nrows - 1 do
          if (info.start_row + i) % 2 == 0 then even[#even + 1] = v.data[i] end
        end
        outputs.outimg.Value = even
      end, { img = img }, { outimg = img3 }, nil, { block_len = 3 })
      local col = rios.rat.read_column(img, "Value")
      local reduced = rios.rat.read_column(img3, "Value")
      local n = math.ceil(col.cols / 2)
      assert.is_true(reduced.cols >= n)
      for k = 0, n - 1 do assert.are.equal(col.data[2 * k], reduced.data[k], "row " .. k) end
    end)

    it("testNewRat", function()
      local img4 = dir .. "/test4.img"
      applier_file(img4, false)
      rios.ratapply(function(info, _, outputs)
        local a = rios.array("uint32", 1, 1, info.nrows)
        for i = 0, info.nrows - 1 do a.data[i] = info.start_row + i end
        outputs.outimg.newCol = a
      end, {}, { outimg = img4 }, nil, { block_len = 3, row_count = 256 })
      local col = rios.rat.read_column(img4, "newCol")
      assert.are.equal(256, col.cols)
      for i = 0, 255 do assert.are.equal(i, col.data[i]) end
    end)

    it("testStringDType", function()
      rios.ratapply(function(info, inputs, outputs)
        local v, s = inputs.img.Value, {}
        for i = 0, info.nrows - 1 do s[i + 1] = tostring(v.data[i]) end
        outputs.img.StrValue = s
      end, { img = img }, { img = img }, nil, { block_len = 5 })
      local col, str = rios.rat.read_column(img, "Value"), rios.rat.read_column(img, "StrValue")
      for i = 0, col.cols - 1 do assert.are.equal(tostring(col.data[i]), str[i + 1]) end
      -- and read back in blocks, as strings
      local checks = { type_ok = true, values_ok = true }
      rios.ratapply(function(info, inputs, _, other)
        local v, s = inputs.img.Value, inputs.img.StrValue
        other.type_ok = other.type_ok and type(s) == "table" and type(s[1]) == "string"
                        and #s == info.nrows
        for i = 0, info.nrows - 1 do
          if s[i + 1] ~= tostring(v.data[i]) or tonumber(s[i + 1]) ~= v.data[i] then
            other.values_ok = false
          end
        end
      end, { img = img }, { img = img }, checks, { block_len = 5 })
      assert.is_true(checks.type_ok)
      assert.is_true(checks.values_ok)
    end)
  end)

  -- testcolortable: a colour table set on a thematic file reads back the same.
  it("testcolortable", function()
    local img = dir .. "/test.img"
    rios.write(img, rios.array("uint8", 1, 500, 500), grid({ thematic = true }))
    -- value, red, green, blue, opacity
    local given = { { 0, 0, 0, 0, 0 }, { 1, 255, 0, 0, 0 }, { 2, 0, 255, 0, 0 },
                    { 3, 0, 0, 255, 0 } }
    local ct = {}
    for _, row in ipairs(given) do ct[row[1]] = { row[2], row[3], row[4], row[5] } end
    rios.rat.set_color_table(img, ct)
    local back = rios.rat.get_color_table(img)
    for _, row in ipairs(given) do
      local e = back[row[1]]
      assert.are.same(row, { row[1], e[1], e[2], e[3], e[4] })
    end
  end)

  -- testratstats: statistics of a column, weighted by the pixel counts the
  -- statistics put in the table, match those of the pixels' values.
  it("testratstats", function()
    local img = dir .. "/test.img"
    local pixels = test_pixels()
    rios.write(img, pixels, grid({ thematic = true, stats = true, nodata = 0 }))
    local values = rios.array("float64", 1, 1, 100)
    for i = 0, 99 do values.data[i] = i * i end
    values.data[0] = 500
    rios.rat.write_column(img, "Value", values)
    local s = rios.rat.stats(img, "Value")

    -- the image of the values, without the null pixels
    local vals = {}
    for r = 0, 99 do
      local dn = pixels.data[r]
      if dn ~= 0 then vals[#vals + 1] = values.data[dn] end
    end
    local sum, mn, mx = 0, math.huge, -math.huge
    for _, v in ipairs(vals) do
      sum = sum + v
      mn, mx = math.min(mn, v), math.max(mx, v)
    end
    local mean = sum / #vals
    local ss = 0
    for _, v in ipairs(vals) do ss = ss + (v - mean) ^ 2 end
    local tol = 0.000001
    assert.is_true(math.abs(s.mean - mean) < tol, s.mean .. " vs " .. mean)
    assert.is_true(math.abs(s.stddev - math.sqrt(ss / #vals)) < tol)
    assert.is_true(math.abs(s.min - mn) < tol)
    assert.is_true(math.abs(s.max - mx) < tol)
    assert.is_true(math.abs(s.sum - sum) < tol)
  end)
end)
