-- rios.apply end to end on real GeoTIFFs: lists, otherargs, overlap, window
-- sizes, footprints.
local rios = require("rios")
local H = require("support.helpers")

local function run_ok(dir, source)
  local status, out, err = H.run_script(dir, "job.lua", source)
  assert.are.equal(0, status, err)
  return out
end

describe("rios.apply", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(H.cleanup)

  it("takes list inputs and gives list outputs", function()
    local a = {}
    for i = 1, 3 do
      a[i] = H.make_raster(dir .. "/in" .. i .. ".tif", "int16", 1, 40, 30,
                           function(_, r, c) return i * 100 + r - c end)
    end
    run_ok(dir, [[
      local rios = require("rios")
      rios.apply(function(info, inputs, outputs)
        local imgs = inputs.imgs
        assert(#imgs == 3)
        local sum, diff = imgs[1]:like("int32"), imgs[1]:like("int32")
        local n = imgs[1].rows * imgs[1].cols
        for i = 0, n - 1 do
          sum.data[i] = imgs[1].data[i] + imgs[2].data[i] + imgs[3].data[i]
          diff.data[i] = imgs[3].data[i] - imgs[1].data[i]
        end
        outputs.parts = { sum, diff }
      end, { imgs = { "in1.tif", "in2.tif", "in3.tif" } },
         { parts = { "sum.tif", "diff.tif" } }, nil, { window_xsize = 16, window_ysize = 16 })
    ]])
    local sum, diff = H.read(dir .. "/sum.tif"), H.read(dir .. "/diff.tif")
    assert.are.equal("int32", sum.dtype)
    for i = 0, 40 * 30 - 1 do
      assert.are.equal(a[1].data[i] + a[2].data[i] + a[3].data[i], sum.data[i])
      assert.are.equal(200, diff.data[i])
    end
  end)

  it("keeps otherargs across blocks: a whole-raster sum equals a direct one", function()
    local a = H.make_raster(dir .. "/in.tif", "float32", 2, 75, 61,
                            function(b, r, c) return (b + 1) * (r * 0.5 - c * 0.25) end)
    local out = run_ok(dir, [[
      local rios = require("rios")
      local other = { total = 0, blocks = 0 }
      local result = rios.apply(function(info, inputs, outputs, otherargs)
        local img = inputs.img
        local s = 0
        for i = 0, img.bands * img.rows * img.cols - 1 do s = s + img.data[i] end
        otherargs.total = otherargs.total + s
        otherargs.blocks = otherargs.blocks + 1
      end, { img = "in.tif" }, {}, other, { window_xsize = 20, window_ysize = 32 })
      assert(result.otherargs_list[1] == other)
      print(string.format("%.17g %d", other.total, other.blocks))
    ]])
    local direct = 0
    for i = 0, 2 * 75 * 61 - 1 do direct = direct + a.data[i] end
    local total, blocks = out:match("(%S+) (%d+)")
    assert.are.equal(4 * 3, tonumber(blocks))
    assert.is_true(math.abs(tonumber(total) - direct) <= 1e-9 * math.abs(direct) + 1e-9)
  end)

  it("gives a 3x3 mean with overlap 1 equal across block seams to a whole-array one", function()
    local rows, cols = 53, 70   -- not multiples of the 16 x 16 window
    local a = H.make_raster(dir .. "/in.tif", "float32", 1, rows, cols,
                            function(_, r, c) return (r * 31 + c * 17) % 23 end)
    run_ok(dir, [[
      local rios = require("rios")
      rios.apply(function(info, inputs, outputs)
        local img = inputs.img
        assert(info:overlap() == 1)
        local out = img:like()
        local R, C, s, o = img.rows, img.cols, img.data, out.data
        for r = 1, R - 2 do
          for c = 1, C - 2 do
            local t = 0
            for dr = -1, 1 do for dc = -1, 1 do t = t + s[(r + dr) * C + c + dc] end end
            o[r * C + c] = t / 9
          end
        end
        outputs.mean = out
      end, { img = "in.tif" }, { mean = "mean.tif" }, nil,
         { window_xsize = 16, window_ysize = 16, overlap = 1 })
    ]])
    local m = H.read(dir .. "/mean.tif")
    assert.are.equal(cols, m.cols)
    assert.are.equal(rows, m.rows)
    local f = require("ffi").new("float[1]")
    for r = 0, rows - 1 do
      for c = 0, cols - 1 do
        local t = 0
        for dr = -1, 1 do
          for dc = -1, 1 do
            local rr, cc = r + dr, c + dc
            if rr >= 0 and rr < rows and cc >= 0 and cc < cols then   -- outside: 0
              t = t + a.data[rr * cols + cc]
            end
          end
        end
        f[0] = t / 9
        assert.are.equal(f[0], m.data[r * cols + c])
      end
    end
  end)

  for _, w in ipairs({ { 1, 1 }, { 1000, 700 } }) do
    it("works with a " .. w[1] .. "x" .. w[2] .. " window", function()
      local a = H.make_raster(dir .. "/in.tif", "uint8", 1, 9, 7,
                              function(_, r, c) return r * 7 + c end)
      local out = run_ok(dir, string.format([[
        local rios = require("rios")
        local n = 0
        rios.apply(function(info, inputs, outputs)
          n = n + 1
          local o = inputs.img:like("uint16")
          for i = 0, o.rows * o.cols - 1 do o.data[i] = inputs.img.data[i] * 2 end
          outputs.out = o
        end, { img = "in.tif" }, { out = "out.tif" }, nil,
           { window_xsize = %d, window_ysize = %d })
        print(n)
      ]], w[1], w[2]))
      assert.are.equal(w[1] == 1 and 63 or 1, tonumber(out))
      local o = H.read(dir .. "/out.tif")
      for i = 0, 62 do assert.are.equal(2 * a.data[i], o.data[i]) end
    end)
  end

  describe("footprints", function()
    -- a: 20 x 30 at (500000, 6000000); b: shifted 5 columns east, 4 rows south.
    local function make_pair()
      H.make_raster(dir .. "/a.tif", "int16", 1, 20, 30, function() return 1 end,
                    { transform = { 500000, 10, 0, 6000000, 0, -10 } })
      H.make_raster(dir .. "/b.tif", "int16", 1, 20, 30, function() return 2 end,
                    { transform = { 500050, 10, 0, 5999960, 0, -10 }, nodata = -9 })
    end
    local job = [[
      local rios = require("rios")
      local r = rios.apply(function(info, inputs, outputs)
        local a, b = inputs.a, inputs.b
        local o = a:like()
        for i = 0, a.rows * a.cols - 1 do o.data[i] = a.data[i] * 10 + b.data[i] end
        outputs.o = o
      end, { a = "a.tif", b = "b.tif" }, { o = "o.tif" }, nil,
         { footprint = "%s", window_xsize = 8, window_ysize = 8 })
      local g = r.working_grid
      print(g.cols, g.rows, g.transform[1], g.transform[4])
    ]]

    it("intersection: only where both inputs are", function()
      make_pair()
      local out = run_ok(dir, job:format("intersection"))
      assert.are.equal("25\t16\t500050\t5999960\n", out)
      local o = H.read(dir .. "/o.tif")
      for i = 0, 25 * 16 - 1 do assert.are.equal(12, o.data[i]) end
      local info = H.gdalinfo(dir .. "/o.tif")
      assert.are.same({ 500050, 10, 0, 5999960, 0, -10 }, info.geoTransform)
    end)

    it("union: everywhere, each input's nodata (else 0) outside it", function()
      make_pair()
      local out = run_ok(dir, job:format("union"))
      assert.are.equal("35\t24\t500000\t6000000\n", out)
      local o = H.read(dir .. "/o.tif")
      for r = 0, 23 do
        for c = 0, 34 do
          local ina = r < 20 and c < 30
          local inb = r >= 4 and c >= 5
          local want = (ina and 10 or 0) + (inb and 2 or -9)
          assert.are.equal(want, o.data[r * 35 + c], "at row " .. r .. " col " .. c)
        end
      end
    end)
  end)

  it("replaces an existing output file", function()
    H.make_raster(dir .. "/in.tif", "uint8", 1, 5, 5, function() return 3 end)
    H.make_raster(dir .. "/out.tif", "float64", 2, 50, 50, function() return 9 end)
    run_ok(dir, [[
      require("rios").apply(function(info, inputs, outputs) outputs.o = inputs.img end,
        { img = "in.tif" }, { o = "out.tif" })
    ]])
    local o = rios.open(dir .. "/out.tif")
    assert.are.same({ "uint8", 1, 5 }, { o.dtype, o.bands, o.cols })
    o:close()
  end)
end)
