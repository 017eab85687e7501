-- rios.kernels: the loops behind the array operations, generated as Lua
-- source once per operation and dtype signature and cached (the ctype cache
-- of Torch7's generic/ files, done with loadstring). Each signature gets its
-- own function prototype, so LuaJIT traces each loop for one element type
-- and never mixes types in one trace.
--
-- Every kernel walks bands x rows x cols with a stride per operand:
--   element (b, r, c) of operand x is x[b * xbs + r * xrs + c]
-- A caller whose operands are all contiguous passes the shape (1, 1, n), so
-- the whole array is one flat inner loop: the fast path.
--
-- Storing a number into an integer dtype (the one conversion rule of
-- rios.array): NaN becomes 0, the value is clamped to the dtype's range and
-- rounded to the nearest integer, ties to even (as C's rint). Integer
-- results never wrap.
local M = {}

local cache = {}

-- The range of each integer dtype (nil for floats).
M.range = {
  int8 = { -128, 127 }, uint8 = { 0, 255 }, int16 = { -32768, 32767 },
  uint16 = { 0, 65535 }, int32 = { -2147483648, 2147483647 },
  uint32 = { 0, 4294967295 },
}

local function is_float(dtype)
  return dtype == "float32" or dtype == "float64"
end
M.is_float = is_float

-- "How a value of dtype `from` (or of arithmetic: `from` = "number") is
-- stored into `to`": the code that turns v into the stored value.
--   none:  v is stored as it is (floats; integers that always fit)
--   clamp: integers that may not fit
--   full:  fractions or NaN may occur
local function conversion(to, from)
  if is_float(to) then return "none" end
  if from == "number" or is_float(from) then return "full" end
  local rt, rf = M.range[to], M.range[from]
  if rf[1] >= rt[1] and rf[2] <= rt[2] then return "none" end
  return "clamp"
end
M.conversion = conversion

-- Lua statements that store local v at o[oi + c].
local function store_code(conv, dtype)
  if conv == "none" then return "o[oi + c] = v" end
  local r = M.range[dtype]
  local s = string.format("if v < %d then v = %d elseif v > %d then v = %d end ",
                          r[1], r[1], r[2], r[2])
  if conv == "clamp" then return s .. "o[oi + c] = v" end
  return "if v ~= v then v = 0 end " .. s ..
         "o[oi + c] = (v + 6755399441055744) - 6755399441055744"
end

-- The value to store for number v in dtype (outside kernels: fill, set).
function M.convert(dtype, v)
  local r = M.range[dtype]
  if not r then return v end
  if v ~= v then return 0 end
  if v < r[1] then return r[1] end
  if v > r[2] then return r[2] end
  return (v + 6755399441055744) - 6755399441055744
end

local function compile(key, src)
  local chunk, err = loadstring(src, "=rios.kernel " .. key)
  if not chunk then error("rios.kernels: bad kernel " .. key .. ": " .. err .. "\n" .. src) end
  return chunk()
end

-- The source of a kernel: a function of params whose loop visits every
-- element of the arrays named in `arrays` (each with NAMEbs and NAMErs
-- strides among the params) and runs `body` with NAMEi + c the element's
-- index in NAME. One loop level only, so LuaJIT traces it as one loop with
-- no nested-loop aborts: a contiguous call (nb = nr = 1) takes the flat
-- loop; a strided one walks rows and bands with counters in the same loop.
local function loop_source(params, arrays, pre, body, post)
  local zero, bases, band_step, row_step = {}, {}, {}, {}
  for i, a in ipairs(arrays) do
    zero[i] = "0"
    bases[i] = a .. "b"
    band_step[#band_step + 1] = string.format("%sb = %sb + %sbs; %si = %sb", a, a, a, a, a)
    row_step[#row_step + 1] = string.format("%si = %si + %srs", a, a, a)
  end
  local idx = {}
  for i, a in ipairs(arrays) do idx[i] = a .. "i" end
  return table.concat({
    "local floor = math.floor",
    "return function(" .. params .. ")",
    "  " .. pre,
    "  local " .. table.concat(idx, ", ") .. " = " .. table.concat(zero, ", "),
    "  if nb == 1 and nr == 1 then",
    "    for c = 0, nc - 1 do",
    "      " .. body,
    "    end",
    "  else",
    "    local " .. table.concat(bases, ", ") .. " = " .. table.concat(zero, ", "),
    "    local c, r = 0, 0",
    "    for _ = 1, nb * nr * nc do",
    "      " .. body,
    "      c = c + 1",
    "      if c == nc then",
    "        c = 0",
    "        r = r + 1",
    "        if r == nr then",
    "          r = 0",
    "          " .. table.concat(band_step, "; "),
    "        else",
    "          " .. table.concat(row_step, "; "),
    "        end",
    "      end",
    "    end",
    "  end",
    "  " .. post,
    "end",
  }, "\n")
end

-- An elementwise kernel. operands: list of "a" (an array, read as
-- NAME[NAMEi + c]) or "s" (a number, read as NAME) for the names x, y, m;
-- expr: the value in terms of X, Y, M (replaced by the element reads) and
-- fn (an extra argument, for map); conv/dtype: how v is stored.
-- The kernel is f(nb, nr, nc, o, obs, ors, x, xbs, xrs, y, ybs, yrs, m, mbs,
-- mrs, fn).
function M.elementwise(key, names, kinds, expr, conv, dtype)
  local full = key .. "|" .. table.concat(kinds, ",") .. "|" .. conv .. "|" .. dtype
  local f = cache[full]
  if f then return f end
  local arrays, body = { "o" }, expr
  for i, name in ipairs(names) do
    local up = name:upper()
    if kinds[i] == "a" then
      arrays[#arrays + 1] = name
      body = body:gsub(up, name .. "[" .. name .. "i + c]")
    else
      body = body:gsub(up, name)
    end
  end
  local src = loop_source("nb, nr, nc, o, obs, ors, x, xbs, xrs, y, ybs, yrs, m, mbs, mrs, fn",
                          arrays, "", "local v = " .. body .. "; " .. store_code(conv, dtype), "")
  f = compile(full, src)
  cache[full] = f
  return f
end

local function valid_cond(dtype, has_nodata)
  if is_float(dtype) then
    return has_nodata and "v == v and v ~= nodata" or "v == v"
  end
  return has_nodata and "v ~= nodata" or nil
end

local function reduction(full, params, pre, acc, cond, post)
  local f = cache[full]
  if f then return f end
  local body = "local v = x[xi + c]; "
               .. (cond and ("if " .. cond .. " then " .. acc .. " end") or acc)
  f = compile(full, loop_source(params, { "x" }, pre, body, post))
  cache[full] = f
  return f
end

-- Count, sum, min and max of the values that are not NaN and not nodata.
-- f(nb, nr, nc, x, xbs, xrs, nodata) -> n, sum, min, max.
function M.stats(dtype, has_nodata)
  return reduction("stats|" .. dtype .. "|" .. tostring(has_nodata),
                   "nb, nr, nc, x, xbs, xrs, nodata",
                   "local n, s, mn, mx = 0, 0, math.huge, -math.huge",
                   "n = n + 1; s = s + v; if v < mn then mn = v end; if v > mx then mx = v end",
                   valid_cond(dtype, has_nodata), "return n, s, mn, mx")
end

-- Sum of squared deviations from mean of the valid values (std's second
-- pass). f(nb, nr, nc, x, xbs, xrs, nodata, mean) -> sum.
function M.sumsq(dtype, has_nodata)
  return reduction("sumsq|" .. dtype .. "|" .. tostring(has_nodata),
                   "nb, nr, nc, x, xbs, xrs, nodata, mean", "local s = 0",
                   "local d = v - mean; s = s + d * d", valid_cond(dtype, has_nodata),
                   "return s")
end

-- Histogram counts into counts[0 .. nbins-1] (doubles): bins of equal width
-- over [lo, hi], the last one closed; values outside, NaN and nodata are
-- not counted. f(nb, nr, nc, x, xbs, xrs, nodata, counts, nbins, lo, hi)
function M.histogram(dtype, has_nodata)
  return reduction("hist|" .. dtype .. "|" .. tostring(has_nodata),
                   "nb, nr, nc, x, xbs, xrs, nodata, counts, nbins, lo, hi",
                   "local scale, last = nbins / (hi - lo), nbins - 1",
                   "local k = floor((v - lo) * scale); if k > last then k = last end; "
                   .. "counts[k] = counts[k] + 1",
                   "v >= lo and v <= hi" .. (has_nodata and " and v ~= nodata" or ""), "")
end

-- How many kernels have been generated (specs check they are not made per
-- block).
function M.count()
  local n = 0
  for _ in pairs(cache) do n = n + 1 end
  return n
end

return M
