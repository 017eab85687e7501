-- Statistics and histograms of outputs, gathered in one pass while blocks
-- are written: exact statistics for every dtype, the histogram of 32-bit and
-- float data through the fine histogram (exact for values away from bin
-- edges, whatever order the blocks bring their ranges in), omitted ones
-- absent from the file.
local rios = require("rios")
local H = require("support.helpers")

local function band_meta(path)
  local info = H.gdalinfo(path)
  return info.bands[1].metadata[""] or {}
end

local function histogram_of(meta)
  local t = {}
  for n in meta.STATISTICS_HISTOBINVALUES:gmatch("(%d+)|") do t[#t + 1] = tonumber(n) end
  return t
end

-- Run a block function that fills each output block with fn(x, y) (grid
-- column and row), on a grid of cols x rows in blocks of 32.
local function run(dir, dtype, cols, rows, body, controls)
  H.make_raster(dir .. "/in.tif", "uint8", 1, rows, cols, function() return 1 end)
  local status, _, err = H.run_script(dir, "out.lua", string.format([[
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
  local out = inputs.img:like(%q)
  local d = out.data
  for r = 0, out.rows - 1 do
    for c = 0, out.cols - 1 do
      local x, y = info.xoff + c, info.yoff + r
      d[r * out.cols + c] = (function() %s end)()
    end
  end
  outputs.out = out
end, { img = "in.tif" }, { out = "out.tif" }, nil, %s)
]], dtype, body, controls or "{ window_xsize = 32, window_ysize = 32 }"))
  assert.are.equal(0, status, err)
  return H.read(dir .. "/out.tif")
end

-- Exact statistics from the file's values, skipping NaN and nodata.
local function exact(a, nodata)
  local n, s, mn, mx, vals = 0, 0, math.huge, -math.huge, {}
  for i = 0, a:size() - 1 do
    local v = a.data[i]
    if v == v and v ~= nodata then
      n, s = n + 1, s + v
      mn, mx = math.min(mn, v), math.max(mx, v)
      vals[n] = v
    end
  end
  local mean = s / n
  local ss = 0
  for i = 1, n do ss = ss + (vals[i] - mean) ^ 2 end
  return { n = n, min = mn, max = mx, mean = mean, sd = math.sqrt(ss / n), vals = vals }
end

local function close(a, b, tol)
  return math.abs(a - b) <= tol * math.max(1, math.abs(a), math.abs(b))
end

describe("output statistics and histogram", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  for _, dtype in ipairs({ "int8", "uint8", "int16", "uint16", "int32", "uint32", "float32",
                           "float64" }) do
    it("are exact for " .. dtype, function()
      local signed = dtype:sub(1, 1) == "i" or dtype:sub(1, 1) == "f"
      -- the range widens from block to block (narrow first)
      local a = run(dir, dtype, 96, 80, string.format(
        "local v = (x * 7 + y * 3) %% (5 + x + y) return %s", signed and "v - 20" or "v"))
      local meta = band_meta(dir .. "/out.tif")
      local e = exact(a)
      assert.is_true(close(e.min, tonumber(meta.STATISTICS_MINIMUM), 1e-12))
      assert.is_true(close(e.max, tonumber(meta.STATISTICS_MAXIMUM), 1e-12))
      assert.is_true(close(e.mean, tonumber(meta.STATISTICS_MEAN), 1e-12))
      assert.is_true(close(e.sd, tonumber(meta.STATISTICS_STDDEV), 1e-12))
      local h = histogram_of(meta)
      local total = 0
      for _, c in ipairs(h) do total = total + c end
      assert.are.equal(e.n, total)
      -- integer data of a small range: one bin per value, exact counts
      if dtype ~= "float32" and dtype ~= "float64" then
        assert.are.equal("direct", meta.STATISTICS_HISTOBINFUNCTION)
        local lo = tonumber(meta.STATISTICS_HISTOMIN)   -- the lowest value (RIOS)
        local want = {}
        for i = 1, #h do want[i] = 0 end
        for _, v in ipairs(e.vals) do want[v - lo + 1] = want[v - lo + 1] + 1 end
        assert.are.same(want, h)
      end
    end)
  end

  for _, dtype in ipairs({ "float32", "float64", "int32", "uint32" }) do
    it("counts values at bin centres exactly for " .. dtype .. " as the range grows", function()
      -- min 0 and max 256*w, both in the last blocks; every other value the
      -- centre of bin k, where k comes from the block, starting mid-range,
      -- so the range grows both ways block by block.
      local w = (dtype == "float32" or dtype == "float64") and 0.37 or 1000
      local a = run(dir, dtype, 128, 96, string.format([[
if x == 100 and y == 90 then return 0 end
if x == 127 and y == 95 then return 256 * %s end
local blk = math.floor(x / 32) + 4 * math.floor(y / 32)
local k = (128 + blk * 21 + (x * 5 + y) %% 11) %% 256
return (k + 0.5) * %s
]], w, w))
      local meta = band_meta(dir .. "/out.tif")
      assert.are.equal("linear", meta.STATISTICS_HISTOBINFUNCTION)
      assert.are.equal(0, tonumber(meta.STATISTICS_HISTOMIN))
      assert.is_true(close(256 * w, tonumber(meta.STATISTICS_HISTOMAX), 1e-7))
      local h = histogram_of(meta)
      assert.are.equal(256, #h)
      local want = {}
      for i = 1, 256 do want[i] = 0 end
      local mx = tonumber(meta.STATISTICS_HISTOMAX)
      for i = 0, a:size() - 1 do
        local v = a.data[i]
        local k = math.min(255, math.floor(v / mx * 256))
        want[k + 1] = want[k + 1] + 1
      end
      assert.are.same(want, h)
    end)
  end

  it("keeps each float value within one fine bin of its exact bin", function()
    local a = run(dir, "float64", 160, 96, [[
local v = math.sin(x * 12.9898 + y * 78.233) * 43758.5453
v = v - math.floor(v)
return (v - 0.5) * (1 + x * y) + 1e6
]])
    local meta = band_meta(dir .. "/out.tif")
    local e = exact(a)
    local h = histogram_of(meta)
    local lo, hi = tonumber(meta.STATISTICS_HISTOMIN), tonumber(meta.STATISTICS_HISTOMAX)
    assert.is_true(close(e.min, lo, 1e-12) and close(e.max, hi, 1e-12))
    local width = (hi - lo) / 256
    local tol = (hi - lo) / 16384
    local want, near = {}, {}
    for i = 1, 256 do want[i], near[i] = 0, 0 end
    for _, v in ipairs(e.vals) do
      local k = math.min(255, math.floor((v - lo) / width))
      want[k + 1] = want[k + 1] + 1
      local off = (v - lo) - k * width
      if off < tol and k > 0 then near[k + 1] = near[k + 1] + 1; near[k] = near[k] + 1 end
      if width - off < tol and k < 255 then near[k + 1] = near[k + 1] + 1; near[k + 2] = near[k + 2] + 1 end
    end
    local total, moved = 0, 0
    for i = 1, 256 do
      total = total + h[i]
      assert.is_true(math.abs(h[i] - want[i]) <= near[i],
                     string.format("bin %d: %d, exact %d, near an edge %d", i, h[i], want[i], near[i]))
      moved = moved + math.abs(h[i] - want[i])
    end
    assert.are.equal(e.n, total)
    assert.is_true(moved <= e.n / 100)
  end)

  it("skip nodata, NaN, and count infinities in the end bins", function()
    local a = run(dir, "float32", 64, 64, [[
if x == 3 and y == 3 then return 0/0 end
if x == 5 and y == 9 then return 1/0 end
if x == 6 and y == 9 then return -1/0 end
if x % 5 == 0 then return -999 end
return x + y * 0.5
]], "{ window_xsize = 32, window_ysize = 32, stats_ignore = -999 }")
    local meta = band_meta(dir .. "/out.tif")
    local n = 0
    for i = 0, a:size() - 1 do
      local v = a.data[i]
      if v == v and v ~= -999 then n = n + 1 end
    end
    local h = histogram_of(meta)
    local total = 0
    for _, c in ipairs(h) do total = total + c end
    assert.are.equal(n, total)
    assert.is_true(h[1] >= 1 and h[256] >= 1)
  end)

  it("omitted statistics and histogram are not in the file", function()
    run(dir, "float32", 64, 64, "return x + y",
        "{ window_xsize = 32, window_ysize = 32, omit_basic_stats = true, omit_histogram = true }")
    local meta = band_meta(dir .. "/out.tif")
    assert.is_nil(meta.STATISTICS_MEAN)
    assert.is_nil(meta.STATISTICS_HISTOBINVALUES)
    run(dir, "float32", 64, 64, "return x + y",
        "{ window_xsize = 32, window_ysize = 32, omit_basic_stats = true }")
    meta = band_meta(dir .. "/out.tif")
    assert.is_nil(meta.STATISTICS_MEAN)
    assert.truthy(meta.STATISTICS_HISTOBINVALUES)
  end)

  it("rios.write keeps its stats option", function()
    local arr = rios.array("float32", 1, 10, 10)
    for i = 0, 99 do arr.data[i] = i end
    rios.write(dir .. "/w.tif", arr, { stats = true })
    local meta = band_meta(dir .. "/w.tif")
    assert.are.equal(49.5, tonumber(meta.STATISTICS_MEAN))
    rios.write(dir .. "/n.tif", arr)
    assert.is_nil(band_meta(dir .. "/n.tif").STATISTICS_MEAN)
  end)
end)
