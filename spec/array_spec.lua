-- rios.array: every operation on every dtype, on contiguous arrays and on
-- views (windows and bands), with and without nodata. Expected values come
-- from plain Lua written here (the conversion rule included), never from
-- the library under test.
local ffi = require("ffi")
local rios = require("rios")
local H = require("support.helpers")

local dtypes = rios.dtypes
local ranges = {
  int8 = { -128, 127 }, uint8 = { 0, 255 }, int16 = { -32768, 32767 },
  uint16 = { 0, 65535 }, int32 = { -2147483648, 2147483647 }, uint32 = { 0, 4294967295 },
}
local function is_float(d) return d == "float32" or d == "float64" end

-- The documented rule for storing a number into dtype: floats keep it
-- (float32 rounds to single precision); integers: NaN -> 0, clamp to the
-- range, round to nearest with ties to even.
local f32 = ffi.new("float[1]")
local function expect_store(dtype, v)
  if dtype == "float64" then return v end
  if dtype == "float32" then f32[0] = v return f32[0] end
  local r = ranges[dtype]
  if v ~= v then return 0 end
  if v <= r[1] then return r[1] end
  if v >= r[2] then return r[2] end
  local f = math.floor(v)
  local d = v - f
  if d > 0.5 or (d == 0.5 and f % 2 ~= 0) then f = f + 1 end
  return f
end

local function same(x, y)
  if x ~= x and y ~= y then return true end
  return x == y
end

-- Every element of a (x, y 0-based, band b 1-based) against want(x, y, b).
local function check_all(a, want, what)
  for b = 1, a.bands do
    for y = 0, a.rows - 1 do
      for x = 0, a.cols - 1 do
        local got, exp = a:get(x, y, b), want(x, y, b)
        if not same(got, exp) then
          error(string.format("%s: element (x %d, y %d, band %d) is %s, expected %s", what, x,
                              y, b, tostring(got), tostring(exp)), 2)
        end
      end
    end
  end
end

-- Values that fit every dtype's range loosely (clamped by set for unsigned
-- and small types): some negative, some fractional for floats.
local function value(dtype, x, y, b, salt)
  local v = ((b * 7 + (y + 1) * 5 + (x + 1) * 3 + (salt or 0)) % 23) - (ranges[dtype] and ranges[dtype][1] == 0
                                                             and 0 or 9)
  if is_float(dtype) then v = v + 0.25 end
  return v
end

local function filled(dtype, bands, rows, cols, salt)
  local a = rios.array(dtype, bands, rows, cols)
  for b = 1, bands do
    for y = 0, rows - 1 do
      for x = 0, cols - 1 do a:set(x, y, value(dtype, x, y, b, salt), b) end
    end
  end
  return a
end

-- The same values as filled(), inside a bigger parent: returns the window
-- view (cols 2.., rows 1.., 0-based) and the parent.
local function windowed(dtype, bands, rows, cols, salt)
  local p = rios.array(dtype, bands, rows + 3, cols + 4)
  p:fill(ranges[dtype] and ranges[dtype][2] or 999)
  local w = p:window(2, 1, cols, rows)
  for b = 1, bands do
    for y = 0, rows - 1 do
      for x = 0, cols - 1 do w:set(x, y, value(dtype, x, y, b, salt), b) end
    end
  end
  return w, p
end

-- The parent's elements outside the window {xoff, yoff, cols, rows} still
-- hold the fill value.
local function outside_untouched(p, xoff, yoff, cols, rows, fillv)
  for b = 1, p.bands do
    for y = 0, p.rows - 1 do
      for x = 0, p.cols - 1 do
        local inside = y >= yoff and y < yoff + rows and x >= xoff and x < xoff + cols
        if not inside then assert.are.equal(fillv, p:get(x, y, b)) end
      end
    end
  end
end

local B, R, Cc = 2, 5, 7
local layouts = {
  contiguous = function(dtype, salt) return filled(dtype, B, R, Cc, salt) end,
  window = function(dtype, salt) return (windowed(dtype, B, R, Cc, salt)) end,
}

describe("rios.array", function()
  after_each(function() H.cleanup() end)

  describe("layout and views", function()
    it("keeps the contiguous contract: band-major data, 0-based", function()
      for _, d in ipairs(dtypes) do
        local a = filled(d, B, R, Cc)
        assert.is_true(a:is_contiguous())
        assert.are.equal(Cc, a.row_stride)
        assert.are.equal(R * Cc, a.band_stride)
        check_all(a, function(x, y, b)
          return a.data[((b - 1) * a.rows + y) * a.cols + x]
        end, d)
      end
    end)

    it("a:band(b) is 1-based, contiguous and shares memory", function()
      for _, d in ipairs(dtypes) do
        local a = filled(d, 3, R, Cc)
        local v = a:band(2)
        assert.are.equal(1, v.bands)
        assert.is_true(v:is_contiguous())
        check_all(v, function(x, y) return a:get(x, y, 2) end, d)
        v:set(0, 0, 3)
        assert.are.equal(3, a:get(0, 0, 2))
        local ok, err = pcall(a.band, a, 4)
        assert.is_false(ok)
        assert.truthy(err:find("band (1-based) must be a whole number from 1 to 3, got 4", 1, true))
      end
    end)

    it("a:window(xoff, yoff, xsize, ysize) is a strided view sharing memory", function()
      for _, d in ipairs(dtypes) do
        local p = filled(d, B, 6, 9)
        local w = p:window(2, 1, 4, 3)
        assert.is_false(w:is_contiguous())
        assert.are.same({ B, 3, 4 }, { w.bands, w.rows, w.cols })
        assert.are.equal(9, w.row_stride)
        assert.are.equal(54, w.band_stride)
        check_all(w, function(x, y, b) return p:get(x + 2, y + 1, b) end, d)
        -- the same window given as a table, as r:read takes it
        check_all(p:window{ 2, 1, 4, 3 }, function(x, y, b) return p:get(x + 2, y + 1, b) end, d)
        -- raw access through the strides
        assert.are.equal(p:get(5, 3, 2), w.data[1 * w.band_stride + 2 * w.row_stride + 3])
        w:set(3, 2, 5, 2)
        assert.are.equal(5, p:get(5, 3, 2))
        -- a window of a window, and a band of a window
        local ww = w:window(1, 1, 2, 2)
        check_all(ww, function(x, y, b) return p:get(x + 3, y + 2, b) end, d .. " nested")
        local wb = w:band(2)
        check_all(wb, function(x, y) return p:get(x + 2, y + 1, 2) end, d .. " band")
        -- a full-width window of one band is contiguous again
        assert.is_true(p:band(1):window(0, 1, 9, 3):is_contiguous())
      end
    end)

    it("refuses windows outside the array", function()
      local a = rios.array("uint8", 1, 4, 4)
      local ok, err = pcall(a.window, a, -1, 0, 1, 1)
      assert.is_false(ok)
      assert.truthy(err:find("xoff (0-based) must be a whole number from 0 to 3, got -1", 1, true),
                    err)
      ok, err = pcall(a.window, a, 0, 4, 1, 1)
      assert.is_false(ok)
      assert.truthy(err:find("yoff (0-based) must be a whole number from 0 to 3, got 4", 1, true),
                    err)
      ok, err = pcall(a.window, a, 1, 1, 4, 3)
      assert.is_false(ok)
      assert.truthy(err:find("xsize must be a whole number from 1 to 3, got 4", 1, true), err)
      ok, err = pcall(a.window, a, 1, 1, 3, 4)
      assert.is_false(ok)
      assert.truthy(err:find("ysize must be a whole number from 1 to 3, got 4", 1, true), err)
    end)
  end)

  describe("checked access", function()
    it("get and set take x, y (0-based) and a band (1-based), and errors print the "
       .. "position and the shape", function()
      for _, d in ipairs(dtypes) do
        local a = rios.array(d, 2, 3, 4)
        a:set(3, 2, 7, 2)
        assert.are.equal(7, a.data[23])
        assert.are.equal(7, a:get(3, 2, 2))
        a:set(1, 0, 9, 1)
        assert.are.equal(9, a.data[1])
        local ok, err = pcall(a.get, a, 0, 3, 1)
        assert.is_false(ok)
        assert.truthy(err:find("a:get: (x 0, y 3, band 1) is outside the array of 2 bands x "
                               .. "3 rows x 4 cols (x 0..3, y 0..2, band 1..2)", 1, true), err)
        ok, err = pcall(a.set, a, 0, 0, 1, 0)
        assert.is_false(ok)
        assert.truthy(err:find("a:set: (x 0, y 0, band 0)", 1, true), err)
        ok, err = pcall(a.get, a, 4, 0, 1)
        assert.is_false(ok)
        assert.truthy(err:find("(x 4, y 0, band 1)", 1, true), err)
        ok, err = pcall(a.get, a, 0, 1.5, 1)
        assert.is_false(ok)
        assert.truthy(err:find("y 1.5", 1, true), err)
        -- the band may be left out only when there is one
        ok, err = pcall(a.get, a, 0, 0)
        assert.is_false(ok)
        assert.truthy(err:find("a:get: the array has 2 bands: give the band, a:get(x, y, band)",
                               1, true), err)
        local one = rios.array(d, 1, 3, 4)
        one:set(3, 1, 5)
        assert.are.equal(5, one.data[7])
        assert.are.equal(5, one:get(3, 1))
      end
    end)

    it("the error points at the caller's line", function()
      local dir = H.tmpdir()
      local status, _, err = H.run_script(dir, "idx.lua",
        "local rios = require('rios')\nlocal a = rios.array('int16', 1, 2, 2)\n"
        .. "print(a:get(0, 2))\n")
      assert.are.equal(1, status)
      assert.truthy(err:match("^idx%.lua:3: a:get: %(x 0, y 2, band 1%)"), err)
    end)

    it("set stores by the conversion rule for every dtype", function()
      local probes = { 0, 1.5, 2.5, -1.5, -2.5, 3.49, 300, -300, 70000, -70000, 5e9, -5e9,
                       0 / 0, 1 / 0, -1 / 0 }
      for _, d in ipairs(dtypes) do
        local a = rios.array(d, 1, 1, 1)
        for _, v in ipairs(probes) do
          a:set(0, 0, v)
          assert.is_true(same(expect_store(d, v), a:get(0, 0)),
                         d .. " " .. tostring(v) .. " -> " .. tostring(a:get(0, 0)))
        end
      end
    end)
  end)

  for lname, make in pairs(layouts) do
    describe("on " .. lname .. " arrays", function()
      it("fill sets every element by the conversion rule", function()
        for _, d in ipairs(dtypes) do
          for _, v in ipairs({ 0, 7, -3.5, 1e12, 0 / 0 }) do
            local a = make(d)
            assert.are.equal(a, a:fill(v))
            check_all(a, function() return expect_store(d, v) end, d .. " fill " .. v)
          end
        end
      end)

      it("fill, copy and in-place operations touch nothing outside a window", function()
        for _, d in ipairs(dtypes) do
          local w, p = windowed(d, B, R, Cc)
          local top = ranges[d] and ranges[d][2] or 999
          w:fill(1)
          w:add(1, w)
          w:mul(w, w)
          outside_untouched(p, 2, 1, Cc, R, top)
          check_all(w, function() return 4 end, d)
        end
      end)

      it("copy makes a contiguous array with the same values", function()
        for _, d in ipairs(dtypes) do
          local a = make(d)
          local c = a:copy()
          assert.is_true(c:is_contiguous())
          assert.are.equal(d, c.dtype)
          check_all(c, function(x, y, b) return a:get(x, y, b) end, d)
          c:set(0, 0, 1, 1)
          a:set(0, 0, 2, 1)
          assert.are.equal(1, c:get(0, 0, 1))
        end
      end)

      it("astype converts between every pair of dtypes without wrapping", function()
        for _, from in ipairs(dtypes) do
          local a = make(from)
          if is_float(from) then
            a:set(0, 0, 1e10, 1)
            a:set(1, 0, -1e10, 1)
            a:set(2, 0, 0 / 0, 1)
            a:set(3, 0, 2.5, 1)
            a:set(4, 0, -0.5, 1)
          end
          for _, to in ipairs(dtypes) do
            local t = a:astype(to)
            assert.are.equal(to, t.dtype)
            check_all(t, function(x, y, b) return expect_store(to, a:get(x, y, b)) end,
                      from .. " -> " .. to)
          end
        end
      end)

      local ops = {
        add = function(x, y) return x + y end,
        sub = function(x, y) return x - y end,
        mul = function(x, y) return x * y end,
        div = function(x, y) return x / y end,
        pow = function(x, y) return x ^ y end,
        minimum = function(x, y) return math.min(x, y) end,
        maximum = function(x, y) return math.max(x, y) end,
      }
      local always_float = { div = true, pow = true }

      it("arithmetic between arrays gives the promoted dtype, saturating integers", function()
        for _, d in ipairs(dtypes) do
          for name, f in pairs(ops) do
            local a, b = make(d, 0), make(d, 5)
            local res = a[name](a, b)
            local rd = always_float[name] and not is_float(d) and "float64" or d
            assert.are.equal(rd, res.dtype, name .. " " .. d)
            check_all(res, function(x, y, bb)
              return expect_store(rd, f(a:get(x, y, bb), b:get(x, y, bb)))
            end, d .. " " .. name)
            -- the operands are unchanged
            check_all(a, function(x, y, bb) return expect_store(d, value(d, x, y, bb, 0)) end,
                      d .. " " .. name .. " operand")
          end
        end
      end)

      it("arithmetic with a number, new and in place", function()
        for _, d in ipairs(dtypes) do
          for name, f in pairs(ops) do
            for _, s in ipairs({ 3, 2.5 }) do
              local a = make(d)
              local res = a[name](a, s)
              local rd = (always_float[name] or s ~= math.floor(s)) and not is_float(d)
                         and "float64" or d
              assert.are.equal(rd, res.dtype)
              check_all(res, function(x, y, bb) return expect_store(rd, f(a:get(x, y, bb), s)) end,
                        d .. " " .. name .. " " .. s)
              local before = a:copy()
              local same_arr = a[name](a, s, a)
              assert.are.equal(a, same_arr)
              check_all(a, function(x, y, bb)
                return expect_store(d, f(before:get(x, y, bb), s))
              end, d .. " " .. name .. " in place")
            end
          end
        end
      end)

      it("mixed dtypes promote as numpy does (int64 becomes float64)", function()
        local cases = {
          { "uint8", "int8", "int16" }, { "int16", "uint16", "int32" },
          { "int32", "uint32", "float64" }, { "uint8", "float32", "float32" },
          { "int32", "float32", "float64" }, { "float32", "float64", "float64" },
          { "uint8", "uint16", "uint16" },
        }
        for _, cs in ipairs(cases) do
          local a, b = make(cs[1]), make(cs[2])
          local res = a + b
          assert.are.equal(cs[3], res.dtype, cs[1] .. "+" .. cs[2])
          check_all(res, function(x, y, bb) return expect_store(cs[3], a:get(x, y, bb)
                                                                + b:get(x, y, bb)) end,
                    cs[1] .. "+" .. cs[2])
        end
      end)

      it("a 1-band operand applies to every band", function()
        for _, d in ipairs(dtypes) do
          local a = make(d)
          local one = filled(d, 1, R, Cc, 3)
          local res = a:add(one)
          check_all(res, function(x, y, bb)
            return expect_store(d, a:get(x, y, bb) + one:get(x, y))
          end, d)
        end
      end)

      it("operators make new arrays", function()
        for _, d in ipairs(dtypes) do
          local a = make(d)
          local res = 10 - a * 2
          check_all(res, function(x, y, bb)
            return expect_store(res.dtype, 10 - expect_store(d, a:get(x, y, bb) * 2))
          end, d)
          local neg = -a
          check_all(neg, function(x, y, bb) return expect_store(neg.dtype, -a:get(x, y, bb)) end,
                    d .. " unm")
          assert.is_true(neg.dtype == d or not ranges[d] or ranges[d][1] == 0)
        end
      end)

      it("comparisons give a uint8 mask and where selects", function()
        local cmp = { lt = function(x, y) return x < y end, le = function(x, y) return x <= y end,
                      gt = function(x, y) return x > y end, ge = function(x, y) return x >= y end,
                      eq = function(x, y) return x == y end, ne = function(x, y) return x ~= y end }
        for _, d in ipairs(dtypes) do
          local a, b = make(d, 0), make(d, 2)
          for name, f in pairs(cmp) do
            for _, rhs in ipairs({ b, 4 }) do
              local m = a[name](a, rhs)
              assert.are.equal("uint8", m.dtype)
              check_all(m, function(x, y, bb)
                local w = type(rhs) == "number" and rhs or rhs:get(x, y, bb)
                return f(a:get(x, y, bb), w) and 1 or 0
              end, d .. " " .. name)
            end
          end
          local m = a:gt(b)
          local w = rios.where(m, a, b)
          check_all(w, function(x, y, bb) return math.max(a:get(x, y, bb), b:get(x, y, bb)) end,
                    d .. " where")
          local w2 = rios.where(m, 1, a)
          check_all(w2, function(x, y, bb)
            return m:get(x, y, bb) ~= 0 and 1 or a:get(x, y, bb)
          end, d .. " where scalar")
          local w3 = rios.where(m, 0.5, 0)
          assert.are.equal("float64", w3.dtype)
          check_all(w3, function(x, y, bb) return m:get(x, y, bb) ~= 0 and 0.5 or 0 end, d)
        end
      end)

      it("NaN compares false and reductions skip it", function()
        for _, d in ipairs({ "float32", "float64" }) do
          local a = make(d)
          a:set(0, 0, 0 / 0, 1)
          assert.are.equal(0, a:eq(a):get(0, 0, 1))
          assert.are.equal(1, a:ne(a):get(0, 0, 1))
          assert.are.equal(a:size() - 1, a:count())
          assert.is_true(a:sum() == a:sum())
        end
      end)

      it("reductions match plain Lua, with and without nodata", function()
        for _, d in ipairs(dtypes) do
          local a = make(d)
          local nodata = a:get(1, 1, 1)
          for _, nd in ipairs({ false, true }) do
            local n, s, mn, mx = 0, 0, math.huge, -math.huge
            local vals = {}
            for bb = 1, B do
              for y = 0, R - 1 do
                for x = 0, Cc - 1 do
                  local v = a:get(x, y, bb)
                  if not nd or v ~= nodata then
                    n, s = n + 1, s + v
                    mn, mx = math.min(mn, v), math.max(mx, v)
                    vals[#vals + 1] = v
                  end
                end
              end
            end
            local arg = nd and nodata or nil
            local mean = s / n
            local ss = 0
            for _, v in ipairs(vals) do ss = ss + (v - mean) ^ 2 end
            assert.are.equal(n, a:count(arg))
            assert.is_true(math.abs(s - a:sum(arg)) < 1e-9, d)
            assert.are.equal(mn, a:min(arg))
            assert.are.equal(mx, a:max(arg))
            assert.is_true(math.abs(mean - a:mean(arg)) < 1e-9, d)
            assert.is_true(math.abs(math.sqrt(ss / n) - a:std(arg)) < 1e-9, d)
            if nd then assert.is_true(n < a:size()) end
          end
          -- nothing counted
          local z = rios.array(d, 1, 2, 2)
          assert.are.equal(0, z:count(0))
          assert.are.equal(0, z:sum(0))
          assert.is_nil(z:min(0))
          assert.is_nil(z:max(0))
          assert.is_nil(z:mean(0))
          assert.is_nil(z:std(0))
        end
      end)

      it("histogram counts equal-width bins over [lo, hi], skipping nodata", function()
        for _, d in ipairs(dtypes) do
          local a = make(d)
          local lo, hi, nbins = a:min(), a:max(), 5
          for _, nd in ipairs({ false, true }) do
            local nodata = nd and a:get(0, 0, 1) or nil
            local want = { 0, 0, 0, 0, 0 }
            for bb = 1, B do
              for y = 0, R - 1 do
                for x = 0, Cc - 1 do
                  local v = a:get(x, y, bb)
                  if v ~= nodata then
                    local k = math.floor((v - lo) / (hi - lo) * nbins) + 1
                    if k > nbins then k = nbins end
                    want[k] = want[k] + 1
                  end
                end
              end
            end
            assert.are.same(want, a:histogram(nbins, lo, hi, nodata), d)
          end
          -- values outside [lo, hi] are not counted
          local h = a:histogram(2, lo, (lo + hi) / 2)
          assert.is_true(h[1] + h[2] < a:size())
        end
      end)

      it("map and map2 apply a Lua function per element", function()
        for _, d in ipairs(dtypes) do
          local a, b = make(d, 0), make(d, 4)
          local m = a:map(function(v) return v * 3 - 1 end)
          assert.are.equal(d, m.dtype)
          check_all(m, function(x, y, bb) return expect_store(d, a:get(x, y, bb) * 3 - 1) end, d)
          local mf = a:map(function(v) return v / 4 end, "float64")
          check_all(mf, function(x, y, bb) return a:get(x, y, bb) / 4 end, d .. " to float64")
          local m2 = a:map2(function(v, w) return v > w and v or w * 2 end, b)
          check_all(m2, function(x, y, bb)
            local v, w = a:get(x, y, bb), b:get(x, y, bb)
            return expect_store(d, v > w and v or w * 2)
          end, d .. " map2")
          local into = a:like("float32")
          assert.are.equal(into, a:map2(function(v, w) return v - w end, b, into))
        end
      end)

      it("tostring gives shape, dtype and a summary", function()
        for _, d in ipairs(dtypes) do
          local a = make(d)
          local s = tostring(a)
          assert.truthy(s:find("rios.array(" .. d .. ", 2 x 5 x 7", 1, true), s)
          assert.truthy(s:find(string.format("min=%.6g max=%.6g", a:min(), a:max()), 1, true), s)
          if lname == "window" then assert.truthy(s:find(", view)", 1, true), s) end
        end
      end)
    end)
  end

  describe("mistakes", function()
    it("shape mismatches name both shapes", function()
      local a, b = rios.array("int16", 2, 3, 4), rios.array("int16", 2, 3, 5)
      local ok, err = pcall(a.add, a, b)
      assert.is_false(ok)
      assert.truthy(err:find("a:add: the operand has shape 2 x 3 x 5 but the array is "
                             .. "2 x 3 x 4", 1, true), err)
      ok, err = pcall(a.add, a, "x")
      assert.is_false(ok)
      assert.truthy(err:find("must be an array or a number, got string", 1, true), err)
      ok, err = pcall(a.add, a, 1, 5)
      assert.is_false(ok)
      assert.truthy(err:find("a:add: out must be an array, got number", 1, true), err)
      ok, err = pcall(a.add, a, 1, rios.array("int16", 1, 3, 4))
      assert.is_false(ok)
      assert.truthy(err:find("a:add: out has shape 1 x 3 x 4 but the result is 2 x 3 x 4",
                             1, true), err)
      ok, err = pcall(a.astype, a, "int64")
      assert.is_false(ok)
      assert.truthy(err:find("unknown dtype int64", 1, true), err)
      ok, err = pcall(a.histogram, a, 4, 2, 1)
      assert.is_false(ok)
      assert.truthy(err:find("needs lo < hi", 1, true), err)
    end)
  end)

  describe("in rios.apply", function()
    it("writes window views and band views as outputs, and releases views of block arrays",
       function()
      local dir = H.tmpdir()
      H.make_raster(dir .. "/in.tif", "int16", 2, 40, 50, function(b, r, c)
        return b * 1000 + r * 10 + c % 10
      end)
      local status, out, err = H.run_script(dir, "views.lua", [[
local rios = require("rios")
local kept = {}
rios.apply(function(info, inputs, outputs)
  local a = inputs.img
  -- a bigger array whose centre window is the block: the output is a view
  local big = rios.array("int16", a.bands, a.rows + 4, a.cols + 6)
  local w = big:window(3, 2, a.cols, a.rows)
  a:copy(w)
  w:add(1, w)
  outputs.win = w
  outputs.b2 = big:band(2):window(3, 2, a.cols, a.rows)
  kept[#kept + 1] = w
end, { img = "in.tif" }, { win = "win.tif", b2 = "b2.tif" }, nil,
  { window_xsize = 16, window_ysize = 16 })
print(pcall(function() return kept[1].data end))
]])
      assert.are.equal(0, status, err)
      assert.truthy(out:find("released when that block was written", 1, true), out)
      local src = H.read(dir .. "/in.tif")
      local win = H.read(dir .. "/win.tif")
      local b2 = H.read(dir .. "/b2.tif")
      assert.are.same({ 2, 40, 50 }, { win.bands, win.rows, win.cols })
      check_all(win, function(x, y, b) return src:get(x, y, b) + 1 end, "win")
      check_all(b2, function(x, y) return src:get(x, y, 2) + 1 end, "b2")
    end)

    it("generates kernels once per dtype signature, not per block", function()
      local dir = H.tmpdir()
      H.make_raster(dir .. "/in.tif", "float32", 1, 64, 64, function(_, r, c) return r + c end)
      local status, out, err = H.run_script(dir, "k.lua", [[
local rios = require("rios")
local kernels = require("rios.kernels")
local counts = {}
rios.apply(function(info, inputs, outputs)
  local a = inputs.img
  outputs.out = a:mul(2):add(a):astype("int16")
  counts[#counts + 1] = kernels.count()
end, { img = "in.tif" }, { out = "out.tif" }, nil, { window_xsize = 16, window_ysize = 16 })
print(#counts, counts[1], counts[#counts])
]])
      assert.are.equal(0, status, err)
      local n, first, last = out:match("^(%d+)\t(%d+)\t(%d+)")
      assert.are.equal("16", n)
      assert.are.equal(first, last)
    end)
  end)
end)
