-- What rios.apply leaves in its outputs: statistics, histogram, overviews,
-- nodata, band names and thematic layers, read back with gdalinfo.
local H = require("support.helpers")

-- Direct statistics of a Lua list of values, skipping `ignore`.
local function direct_stats(values, ignore)
  local n, s, mn, mx = 0, 0, math.huge, -math.huge
  for _, v in ipairs(values) do
    if v ~= ignore then
      n, s = n + 1, s + v
      mn, mx = math.min(mn, v), math.max(mx, v)
    end
  end
  local mean, ss = s / n, 0
  for _, v in ipairs(values) do
    if v ~= ignore then ss = ss + (v - mean) ^ 2 end
  end
  return { min = mn, max = mx, mean = mean, std = math.sqrt(ss / n), n = n }
end

local function close(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-9) * math.max(1, math.abs(b))
end

-- Writes `values` (a function of r, c) through rios.apply as dtype into
-- out.tif, rows x cols, with extra controls. Returns the list of values.
local function job(dir, dtype, rows, cols, expr, controls)
  H.make_raster(dir .. "/in.tif", "int32", 1, rows, cols, function(_, r, c) return r * cols + c end)
  local status, _, err = H.run_script(dir, "job.lua", string.format([[
    local rios = require("rios")
    rios.apply(function(info, inputs, outputs)
      local k = inputs.k
      local o = k:like("%s")
      for i = 0, k.rows * k.cols - 1 do
        local v = k.data[i]
        o.data[i] = %s
      end
      outputs.out = o
    end, { k = "in.tif" }, { out = "out.tif" }, nil, %s)
  ]], dtype, expr, controls or "nil"))
  assert.are.equal(0, status, err)
end

describe("outputs", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(H.cleanup)

  it("get statistics, histogram and overviews equal to a direct computation (float)", function()
    local rows, cols = 600, 530
    job(dir, "float32", rows, cols, "math.sin(v * 0.001) * 50 + (v % 7)",
        "{ window_xsize = 128, window_ysize = 100 }")
    local a = H.read(dir .. "/out.tif")
    local values = {}
    for i = 0, rows * cols - 1 do values[i + 1] = a.data[i] end
    local want = direct_stats(values)
    local info = H.gdalinfo(dir .. "/out.tif", "-hist")
    local b = info.bands[1]
    local md = b.metadata[""]
    assert.is_true(close(tonumber(md.STATISTICS_MINIMUM), want.min, 1e-12))
    assert.is_true(close(tonumber(md.STATISTICS_MAXIMUM), want.max, 1e-12))
    assert.is_true(close(tonumber(md.STATISTICS_MEAN), want.mean, 1e-10))
    assert.is_true(close(tonumber(md.STATISTICS_STDDEV), want.std, 1e-10))
    -- 256 equal bins from min to max, the maximum in the last one; a value
    -- within one fine bin (1/16384 of the range) of an edge may be counted
    -- in the neighbouring bin (README: Statistics)
    assert.are.equal(256, b.histogram.count)
    local width, tol = (want.max - want.min) / 256, (want.max - want.min) / 16384
    local counts, near = {}, {}
    for i = 1, 256 do counts[i], near[i] = 0, 0 end
    for _, v in ipairs(values) do
      local k = math.min(math.floor((v - want.min) / width), 255)
      counts[k + 1] = counts[k + 1] + 1
      local off = (v - want.min) - k * width
      if off < tol and k > 0 then near[k + 1], near[k] = near[k + 1] + 1, near[k] + 1 end
      if width - off < tol and k < 255 then
        near[k + 1], near[k + 2] = near[k + 1] + 1, near[k + 2] + 1
      end
    end
    local total = 0
    for i = 1, 256 do
      total = total + b.histogram.buckets[i]
      assert.is_true(math.abs(b.histogram.buckets[i] - counts[i]) <= near[i],
                     "bin " .. i .. ": " .. b.histogram.buckets[i] .. " against " .. counts[i])
    end
    assert.are.equal(#values, total)
    assert.are.equal("linear", md.STATISTICS_HISTOBINFUNCTION)
    assert.are.equal("256", md.STATISTICS_HISTONUMBINS)
    -- overviews at 4 (600 / 4 = 150 >= 128); 8 would leave 66
    assert.are.equal(1, #b.overviews)
    assert.are.same({ 133, 150 }, b.overviews[1].size)
  end)

  it("count every integer value, ignore stats_ignore, and keep nodata", function()
    local rows, cols = 90, 70
    job(dir, "int16", rows, cols, "(v % 50) - 20", "{ stats_ignore = -20, window_xsize = 32 }")
    local values = {}
    for k = 0, rows * cols - 1 do values[#values + 1] = (k % 50) - 20 end
    local want = direct_stats(values, -20)
    local info = H.gdalinfo(dir .. "/out.tif", "-hist")
    local b = info.bands[1]
    local md = b.metadata[""]
    assert.are.equal(-20, b.noDataValue)
    assert.are.equal(want.min, tonumber(md.STATISTICS_MINIMUM))
    assert.is_true(close(tonumber(md.STATISTICS_MEAN), want.mean, 1e-12))
    assert.is_true(close(tonumber(md.STATISTICS_STDDEV), want.std, 1e-12))
    assert.are.equal("-20", md.STATISTICS_EXCLUDEDVALUES)
    -- one bin per value from -19 to 29
    assert.are.equal("direct", md.STATISTICS_HISTOBINFUNCTION)
    assert.are.equal("-19", md.STATISTICS_HISTOMIN)
    assert.are.equal("29", md.STATISTICS_HISTOMAX)
    assert.are.equal(49, b.histogram.count)
    local per = rows * cols / 50
    for i = 1, 49 do assert.are.equal(per, b.histogram.buckets[i]) end
    assert.are.equal("5", md.STATISTICS_MEDIAN)   -- first value whose running count reaches half
    -- too small for any overview (90 / 4 < 128)
    assert.is_nil(b.overviews)
  end)

  it("thematic: LAYER_TYPE, a bin per class from 0, nearest-neighbour overviews", function()
    local rows, cols = 520, 600
    job(dir, "uint8", rows, cols, "3 + math.floor(v / 997) % 5",
        "{ thematic = true, layer_names = { 'classes' } }")
    local info = H.gdalinfo(dir .. "/out.tif", "-hist")
    local b = info.bands[1]
    local md = b.metadata[""]
    assert.are.equal("thematic", md.LAYER_TYPE)
    assert.are.equal("classes", b.description)
    assert.are.equal("0", md.STATISTICS_HISTOMIN)
    assert.are.equal("7", md.STATISTICS_HISTOMAX)
    assert.are.equal(8, b.histogram.count)
    assert.are.same({ 0, 0, 0 }, { b.histogram.buckets[1], b.histogram.buckets[2],
                                   b.histogram.buckets[3] })
    assert.are.same({ 150, 130 }, b.overviews[1].size)
    -- nearest neighbour: every overview pixel is one of the classes
    local d = H.tmpdir()
    assert.are.equal(0, (H.run("gdal_translate -q -ovr 0 " .. dir .. "/out.tif " .. d .. "/ov.tif")))
    local ov = H.read(d .. "/ov.tif")
    for i = 0, ov.rows * ov.cols - 1 do
      local v = ov.data[i]
      assert.is_true(v >= 3 and v <= 7, "overview value " .. v .. " is not a class")
    end
  end)

  it("omits statistics, histogram and overviews when asked", function()
    job(dir, "float64", 600, 600, "v",
        "{ omit_basic_stats = true, omit_histogram = true, omit_pyramids = true }")
    local info = H.gdalinfo(dir .. "/out.tif")
    local b = info.bands[1]
    local md = b.metadata[""] or {}
    assert.is_nil(md.STATISTICS_MEAN)
    assert.is_nil(md.STATISTICS_HISTOBINVALUES)
    assert.is_nil(b.overviews)
  end)

  it("writes nothing about statistics when every pixel is nodata", function()
    job(dir, "uint16", 40, 40, "7", "{ stats_ignore = 7 }")
    local md = H.gdalinfo(dir .. "/out.tif").bands[1].metadata[""] or {}
    assert.is_nil(md.STATISTICS_MEAN)
    assert.is_nil(md.STATISTICS_HISTOBINVALUES)
  end)

  it("takes per-output driver and options from per_image", function()
    H.make_raster(dir .. "/in.tif", "uint8", 1, 30, 30, function(_, r, c) return r + c end)
    local status, _, err = H.run_script(dir, "job.lua", [[
      local rios = require("rios")
      rios.apply(function(info, inputs, outputs)
        outputs.a = inputs.k
        outputs.b = inputs.k
      end, { k = "in.tif" }, { a = "a.img", b = "b.tif" }, nil,
         { per_image = { a = { driver = "HFA", stats_ignore = 0 },
                         b = { creation_options = { "COMPRESS=DEFLATE" }, layer_names = { "x" } } } })
    ]])
    assert.are.equal(0, status, err)
    local a = H.gdalinfo(dir .. "/a.img")
    assert.are.equal("HFA", a.driverShortName)
    assert.are.equal(0, a.bands[1].noDataValue)
    local b = H.gdalinfo(dir .. "/b.tif")
    assert.are.equal("DEFLATE", b.metadata.IMAGE_STRUCTURE.COMPRESSION)
    assert.are.equal("x", b.bands[1].description)
    assert.is_nil(b.bands[1].noDataValue)
  end)
end)
