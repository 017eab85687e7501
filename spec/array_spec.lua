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

-- rios.reduce, checked against values gathered here: the valid values
-- of each element (not NaN, not that array's nodata), sorted by Lua.
local function expect_reduce(op, vals)
  local n = #vals
  if op == "count" then return n end
  if n == 0 then return nil end
  table.sort(vals)
  if op == "median" then
    return n % 2 == 1 and vals[(n + 1) / 2] or (vals[n / 2] + vals[n / 2 + 1]) / 2
  end
  if op == "min" then return vals[1] end
  if op == "max" then return vals[n] end
  return nil
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

      -- numpy's float for sqrt, log and exp (float16 for 8-bit integers,
      -- which rios-lua has not, is float32)
      local float_of = { int8 = "float32", uint8 = "float32", int16 = "float32",
                         uint16 = "float32", int32 = "float64", uint32 = "float64",
                         float32 = "float32", float64 = "float64" }

      it("abs, sqrt, log, exp, floor and ceil, new and into out", function()
        local fns = {
          abs = { math.abs, function(d) return d end },
          sqrt = { math.sqrt, function(d) return float_of[d] end },
          log = { math.log, function(d) return float_of[d] end },
          exp = { math.exp, function(d) return float_of[d] end },
          floor = { math.floor, function(d) return d end },
          ceil = { math.ceil, function(d) return d end },
        }
        for _, d in ipairs(dtypes) do
          local a = make(d)
          if is_float(d) then a:set(1, 1, 0 / 0, 2) end
          for name, fd in pairs(fns) do
            local res = a[name](a)
            assert.are.equal(fd[2](d), res.dtype, name .. " " .. d)
            assert.is_true(res:is_contiguous())
            check_all(res, function(x, y, b) return expect_store(fd[2](d), fd[1](a:get(x, y, b))) end,
                      d .. " " .. name)
            local into = a:like("float64")
            assert.are.equal(into, a[name](a, into))
            check_all(into, function(x, y, b) return fd[1](a:get(x, y, b)) end,
                      d .. " " .. name .. " into float64")
          end
        end
        -- what saturates and what numpy calls NaN and -inf
        local i8 = rios.array("int8", 1, 1, 3)
        i8:set(0, 0, -128); i8:set(1, 0, -5); i8:set(2, 0, 7)
        check_all(i8:abs(), function(x) return ({ 127, 5, 7 })[x + 1] end, "int8 abs")
        local f = rios.array("float64", 1, 1, 3)
        f:set(0, 0, -4); f:set(1, 0, 0); f:set(2, 0, 2.5)
        check_all(f:sqrt(), function(x) return ({ 0 / 0, 0, math.sqrt(2.5) })[x + 1] end, "sqrt")
        check_all(f:log(), function(x) return ({ 0 / 0, -1 / 0, math.log(2.5) })[x + 1] end, "log")
        check_all(f:floor(), function(x) return ({ -4, 0, 2 })[x + 1] end, "floor")
        check_all(f:ceil(), function(x) return ({ -4, 0, 3 })[x + 1] end, "ceil")
      end)

      it("clip(lo, hi) with numbers, arrays and one side open; NaN stays NaN", function()
        local function clip(v, lo, hi)
          if v < lo then v = lo end
          if v > hi then v = hi end
          return v
        end
        for _, d in ipairs(dtypes) do
          local a = make(d)
          if is_float(d) then a:set(2, 3, 0 / 0, 1) end
          local lo = is_float(d) and -2.5 or (ranges[d][1] == 0 and 3 or -2)
          local res = a:clip(lo, 8)
          assert.are.equal(d, res.dtype)
          check_all(res, function(x, y, b) return clip(a:get(x, y, b), lo, 8) end, d .. " clip")
          -- a fraction with an integer array gives float64, as a:add does
          local fr = a:clip(1.5, 9.5)
          assert.are.equal(is_float(d) and d or "float64", fr.dtype)
          check_all(fr, function(x, y, b) return expect_store(fr.dtype, clip(a:get(x, y, b), 1.5,
                                                                             9.5)) end, d)
          -- no lower bound; an array as the upper bound; in place
          local hi = make(d, 4)
          local up = a:clip(nil, hi)
          check_all(up, function(x, y, b) return math.min(a:get(x, y, b), hi:get(x, y, b))
                    + ((a:get(x, y, b) ~= a:get(x, y, b)) and 0 / 0 or 0) end, d .. " hi array")
          local before = a:copy()
          assert.are.equal(a, a:clip(4, nil, a))
          check_all(a, function(x, y, b) return clip(before:get(x, y, b), 4, math.huge) end,
                    d .. " in place")
        end
        local a = rios.array("int16", 1, 2, 2)
        local ok, err = pcall(a.clip, a, 5, 3)
        assert.is_false(ok)
        assert.truthy(err:find("a:clip: lo (5) is greater than hi (3)", 1, true), err)
        ok, err = pcall(a.clip, a)
        assert.is_false(ok)
        assert.truthy(err:find("a:clip: needs lo, hi or both", 1, true), err)
      end)

      it("isnan and the logical operations give uint8 masks", function()
        for _, d in ipairs(dtypes) do
          local a, b = make(d, 0), make(d, 6)
          if is_float(d) then
            a:set(0, 0, 0 / 0, 1)
            a:set(3, 4, 0 / 0, 2)
          end
          local n = a:isnan()
          assert.are.equal("uint8", n.dtype)
          check_all(n, function(x, y, bb) local v = a:get(x, y, bb) return v ~= v and 1 or 0 end,
                    d .. " isnan")
          local p, q = a:gt(2), b:lt(5)
          local truth = function(v) return v ~= 0 end
          local cases = {
            logical_and = function(u, w) return truth(u) and truth(w) end,
            logical_or = function(u, w) return truth(u) or truth(w) end,
          }
          for name, f in pairs(cases) do
            local m = p[name](p, q)
            assert.are.equal("uint8", m.dtype)
            check_all(m, function(x, y, bb) return f(p:get(x, y, bb), q:get(x, y, bb)) and 1 or 0 end,
                      d .. " " .. name)
            -- of any array (0 is false, NaN true) and with a number
            check_all(a[name](a, b), function(x, y, bb)
              return f(a:get(x, y, bb), b:get(x, y, bb)) and 1 or 0
            end, d .. " " .. name .. " of values")
            check_all(a[name](a, 0), function(x, y, bb) return f(a:get(x, y, bb), 0) and 1 or 0 end,
                      d .. " " .. name .. " 0")
          end
          check_all(a:logical_not(), function(x, y, bb) return a:get(x, y, bb) == 0 and 1 or 0 end,
                    d .. " logical_not")
        end
      end)

      local function reduce_want(op, list, nodata, x, y, b)
        local vals, s = {}, 0
        for k, a in ipairs(list) do
          local v = a:get(x, y, b)
          local nd = type(nodata) == "table" and nodata[k] or nodata
          if v == v and v ~= nd then
            vals[#vals + 1] = v
            s = s + v
          end
        end
        if op == "sum" or op == "mean" then
          if #vals == 0 then return nil end
          return op == "sum" and s or s / #vals
        end
        return expect_reduce(op, vals)
      end
      -- numpy's dtypes: nanmedian, nanmean and nansum of integers are
      -- float (float64; sum would be int64, which rios-lua has not), a float
      -- keeps its dtype; min and max keep it; the count is int32 here.
      local function reduce_dtype(op, d)
        if op == "count" then return "int32" end
        if op == "min" or op == "max" or is_float(d) then return d end
        return "float64"
      end
      local reduce_ops = { "median", "mean", "min", "max", "sum", "count" }

      local function check_reduce(op, list, opts, what)
        local d = list[1].dtype
        local res = rios.reduce(list, op, opts)
        local rd = opts.out and opts.out.dtype or reduce_dtype(op, d)
        assert.are.equal(rd, res.dtype, what)
        local nodata = opts.nodata
        local empty = type(nodata) == "table" and nodata[1] or nodata or 0 / 0
        check_all(res, function(x, y, b)
          local v = reduce_want(op, list, nodata, x, y, b)
          if v == nil then v = empty end
          return expect_store(rd, v)
        end, what)
        return res
      end

      it("rios.reduce: median, mean, min, max, sum and count of lists of every length",
         function()
        for _, d in ipairs(dtypes) do
          for _, n in ipairs({ 1, 2, 5, 6, 12, 13, 30 }) do
            local list = {}
            for k = 1, n do
              -- every third array contiguous whatever the layout: strides differ
              list[k] = k % 3 == 0 and filled(d, B, R, Cc, k * 5) or make(d, k * 5)
              if is_float(d) and k % 4 == 1 then list[k]:set(k % Cc, 1, 0 / 0, 2) end
            end
            local nd = list[1]:get(0, 0, 1)
            for _, op in ipairs(reduce_ops) do
              local what = string.format("%s %s of %d (%s)", d, op, n, lname)
              check_reduce(op, list, {}, what)
              check_reduce(op, list, { nodata = nd }, what .. " nodata")
            end
          end
        end
      end)

      it("rios.reduce: a nodata per array, empty elements, out, in place", function()
        for _, d in ipairs(dtypes) do
          for _, n in ipairs({ 3, 6, 15 }) do
            local list, nds = {}, {}
            for k = 1, n do
              list[k] = make(d, k * 3)
              nds[k] = list[k]:get(k % Cc, 2, 1)
              -- element (1, 1) of band 2 is nodata in every array
              list[k]:set(1, 1, nds[k], 2)
              if is_float(d) then list[k]:set(2, 0, 0 / 0, 1) end
            end
            for _, op in ipairs(reduce_ops) do
              local what = string.format("%s %s of %d (%s), nodata per array", d, op, n, lname)
              local res = check_reduce(op, list, { nodata = nds }, what)
              -- nothing valid: the first nodata (count: 0)
              assert.is_true(same(op == "count" and 0 or expect_store(res.dtype, nds[1]),
                                  res:get(1, 1, 2)), what)
              if is_float(d) and n == 3 and op ~= "count" then
                -- NaN in every array and no nodata: NaN
                assert.is_true(rios.reduce(list, op):get(2, 0, 1) ~= rios.reduce(list, op):get(2, 0, 1),
                               what .. " all NaN")
              end
              -- into an out of another dtype, by the conversion rule
              local out = list[1]:like(d == "uint16" and "int16" or "uint16")
              assert.are.equal(out, rios.reduce(list, op, { nodata = nds, out = out }))
              check_reduce(op, list, { nodata = nds, out = out }, what .. " into " .. out.dtype)
            end
            -- in place: the first array is the out
            local first = list[1]:copy()
            local copy = { first }
            for k = 2, n do copy[k] = list[k] end
            local want = check_reduce("max", copy, { nodata = nds, out = rios.array(d, B, R, Cc) },
                                      d .. " max for in place")
            rios.reduce(copy, "max", { nodata = nds, out = first })
            check_all(first, function(x, y, b) return want:get(x, y, b) end, d .. " in place")
          end
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

  describe("rios.reduce", function()
    it("promotes a list of mixed dtypes as numpy does", function()
      local cases = {
        { "uint8", "int8", { median = "float64", min = "int16", sum = "float64", count = "int32" } },
        { "int16", "float32", { median = "float32", min = "float32", sum = "float32" } },
        { "int32", "float32", { median = "float64", max = "float64" } },
        { "uint16", "uint16", { mean = "float64", max = "uint16" } },
      }
      for _, cs in ipairs(cases) do
        local a, b = filled(cs[1], 1, 3, 4, 1), filled(cs[2], 1, 3, 4, 9)
        for op, want in pairs(cs[3]) do
          local res = rios.reduce({ a, b, a }, op)
          assert.are.equal(want, res.dtype, cs[1] .. "+" .. cs[2] .. " " .. op)
          check_all(res, function(x, y)
            local u, w = a:get(x, y), b:get(x, y)
            local t = { u, w, u }
            table.sort(t)
            local v = ({ median = t[2], min = t[1], max = t[3], sum = 2 * u + w,
                         mean = (2 * u + w) / 3, count = 3 })[op]
            return expect_store(want, v)
          end, cs[1] .. "+" .. cs[2] .. " " .. op)
        end
      end
    end)

    it("a median composite of uint16 dates with clouds as nodata 0", function()
      -- 6 dates of 2 x 3 pixels; 0 is cloud
      local dates = {
        { 100, 0, 300, 0, 5, 7 }, { 200, 0, 0, 0, 5, 9 }, { 150, 0, 100, 0, 6, 8 },
        { 0, 0, 200, 0, 5, 7 }, { 120, 0, 0, 0, 4, 7 }, { 0, 40, 0, 0, 6, 65535 },
      }
      local list = {}
      for k, v in ipairs(dates) do
        list[k] = rios.array("uint16", 1, 2, 3)
        for i = 1, 6 do list[k]:set((i - 1) % 3, math.floor((i - 1) / 3), v[i]) end
      end
      local out = rios.array("uint16", 1, 2, 3)
      rios.reduce(list, "median", { nodata = 0, out = out })
      -- 4 valid (100 120 150 200): 135; 1 valid: 40; 3 valid: 200; none: 0;
      -- 6 valid (4 5 5 5 6 6): 5; (7 7 7 8 9 65535): 7.5, ties to even: 8
      assert.are.same({ 135, 40, 200, 0, 5, 8 }, (function()
        local t = {}
        for i = 0, 5 do t[i + 1] = out.data[i] end
        return t
      end)())
      local count = rios.reduce(list, "count", { nodata = 0 })
      assert.are.same({ 4, 1, 3, 0, 6, 6 }, { count.data[0], count.data[1], count.data[2],
                                             count.data[3], count.data[4], count.data[5] })
    end)

    it("refuses what it cannot reduce, in one line naming the mistake", function()
      local a, b = rios.array("int16", 1, 3, 4), rios.array("int16", 2, 3, 4)
      local cases = {
        { { a }, "mode", nil, "the operation must be median, mean, min, max, sum or count, got mode" },
        { a, "sum", nil, "the first argument must be a list of arrays, got one array" },
        { {}, "sum", nil, "the first argument must be a list of arrays, got table" },
        { { a, b }, "sum", nil, "list[2] has shape 2 x 3 x 4 but list[1] is 1 x 3 x 4" },
        { { a, 5 }, "sum", nil, "list[2] must be an array, got number" },
        { { a, a }, "sum", { nodata = { 0 } }, "nodata has 1 values for 2 arrays" },
        { { a, a }, "sum", { nodata = "0" }, "nodata must be a number or a list of numbers" },
        { { a, a }, "sum", { fill = 0 }, "unknown option fill (it takes nodata and out)" },
        { { a, a }, "sum", { out = b }, "out has shape 2 x 3 x 4 but the result is 1 x 3 x 4" },
        { { a, nil, a }, "sum", nil, "list[2] must be an array, got nil" },
        { { a, [3] = a }, "sum", nil, "the list has an entry at 3 beyond its 1 arrays (a list has no holes)" },
      }
      for _, cs in ipairs(cases) do
        local ok, err = pcall(rios.reduce, cs[1], cs[2], cs[3])
        assert.is_false(ok, cs[4])
        assert.truthy(err:find("rios.reduce: " .. cs[4], 1, true), err)
      end
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

    it("rios.reduce makes a median composite and a clear count of real files", function()
      local dir = H.tmpdir()
      local names = {}
      for k = 1, 6 do
        names[k] = "d" .. k .. ".tif"
        -- 0 (nodata) in a different block of cells for each date
        H.make_raster(dir .. "/" .. names[k], "uint16", 1, 40, 50, function(_, r, c)
          if (math.floor(r / 7) + math.floor(c / 9) + k) % 4 == 0 then return 0 end
          -- and one area cloudy on every date
          if r >= 30 and c >= 40 then return 0 end
          return 1000 + (r * 37 + c * 11 + k * 101) % 900
        end, { nodata = 0 })
      end
      local status, _, err = H.run_script(dir, "composite.lua", [[
local rios = require("rios")
local files = {}
for k = 1, 6 do files[k] = "d" .. k .. ".tif" end
rios.apply(function(info, inputs, outputs)
  local dates = inputs.dates
  local nodata = {}
  for k, a in ipairs(dates) do nodata[k] = info:nodata_for(a) end
  outputs.median = rios.reduce(dates, "median", { nodata = nodata, out = dates[1]:like() })
  outputs.clear = rios.reduce(dates, "count", { nodata = 0, out = dates[1]:like("uint8") })
end, { dates = files }, { median = "median.tif", clear = "clear.tif" }, nil,
  { window_xsize = 16, window_ysize = 16, per_image = { median = { stats_ignore = 0 } } })
]])
      assert.are.equal(0, status, err)
      local dates = {}
      for k = 1, 6 do dates[k] = H.read(dir .. "/" .. names[k]) end
      local med, clear = H.read(dir .. "/median.tif"), H.read(dir .. "/clear.tif")
      assert.are.equal("uint16", med.dtype)
      assert.are.equal("uint8", clear.dtype)
      local empty = 0
      check_all(med, function(x, y)
        local vals = {}
        for k = 1, 6 do
          local v = dates[k]:get(x, y)
          if v ~= 0 then vals[#vals + 1] = v end
        end
        if #vals == 0 then
          empty = empty + 1
          return 0
        end
        return expect_store("uint16", expect_reduce("median", vals))
      end, "median composite")
      check_all(clear, function(x, y)
        local n = 0
        for k = 1, 6 do if dates[k]:get(x, y) ~= 0 then n = n + 1 end end
        return n
      end, "clear count")
      assert.are.equal(100, empty)
      assert.are.equal(0, rios.open(dir .. "/median.tif").nodata[1])
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
