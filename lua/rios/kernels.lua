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

-- What every generated kernel can use (upvalues of its chunk).
local header = "local floor, ceil, abs, sqrt, log, exp = math.floor, math.ceil, math.abs, "
               .. "math.sqrt, math.log, math.exp; local min, max, huge = math.min, math.max, "
               .. "math.huge; local bor, rshift = bit.bor, bit.rshift; local BIG = 2 ^ 1000"

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
    header,
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

----------------------------------------------------------------------------
-- Reductions across a list of arrays (rios.reduce): per element, over the
-- element of every array that is valid (not NaN, not that array's nodata).

-- How many arrays one unrolled kernel takes: each array's pointer, nodata
-- and value are locals of the trace, and with more of them LuaJIT's
-- register allocator runs out of spill slots ("too many spill slots") on
-- the median's sorting network. Longer lists go in groups (sum, mean, min,
-- max, count) or through the staged median below.
M.REDUCE_GROUP = 12

-- Batcher's merge-exchange sorting network for n values (Knuth, TAOCP
-- 5.2.2, Algorithm M): the compare-exchange pairs {i, j} (0-based, i < j),
-- in order. A sorting network has no data-dependent branch, so each
-- compare-exchange is one min and one max (minsd/maxsd in the trace).
local networks = {}
function M.network(n)
  local net = networks[n]
  if net then return net end
  net = {}
  if n >= 2 then
    local t = 1
    while 2 ^ t < n do t = t + 1 end
    local p = 2 ^ (t - 1)
    while p > 0 do
      local q, r, d = 2 ^ (t - 1), 0, p
      while true do
        for i = 0, n - d - 1 do
          if bit.band(i, p) == r then net[#net + 1] = { i, i + d } end
        end
        if q == p then break end
        d, q, r = q - p, q / 2, p
      end
      p = math.floor(p / 2)
    end
  end
  networks[n] = net
  return net
end

-- How element k's validity is decided, by its array's dtype and nodata
-- (modes): "none" (an integer array without nodata: always valid), "int"
-- (an integer array with a nodata it can hold), "nan" (a float array
-- without nodata), "float" (a float array with nodata). In a list of
-- integer arrays only (`branchless`), "int" is computed without a branch:
-- f = 1 when v ~= nodata, else 0, from the sign bit of (d | -d) with
-- d = v - nodata, and an invalid value becomes BIG (2^1000, above every
-- integer) so that it sorts last and never wins a min. Lists with a float
-- array branch on validity and use infinity instead.
--
-- Returns the statements for array k: `read` sets v (the value), then
-- `valid` and `invalid` code run by validity.
local function per_array(k, mode, branchless, valid, invalid)
  local read = string.format("local v = x%d[x%di + c]", k, k)
  if mode == "none" then return read .. "; " .. valid end
  if mode == "int" and branchless then
    -- valid and invalid are given as code using f (1 valid, 0 not)
    return string.format("%s; local d = v - nd%d; local f = rshift(bor(d, -d), 31); %s",
                         read, k, valid)
  end
  local bad = mode == "int" and ("v == nd" .. k) or mode == "nan" and "v ~= v"
              or ("v ~= v or v == nd" .. k)
  return string.format("%s; if %s then %s else %s end", read, bad, invalid, valid)
end

-- The unrolled reduction kernel of a group of n arrays (n <= REDUCE_GROUP).
-- sig: op ("sum", "mean", "min", "max", "count", "median"), phase ("whole":
-- inputs -> out; "init": inputs -> accumulators; "acc": inputs and
-- accumulators -> accumulators; "final": inputs and accumulators -> out),
-- dtypes and modes (per array), branchless (see per_array), out and conv
-- (the out dtype and how a value is stored there; see store_code).
-- The kernel is f(nc, o, oi, P, ND, OFF, S, K, ki, empty, sc): one run of
-- nc elements, from element oi of o, OFF[k] of input k (whose data pointer
-- is P[k] and nodata ND[k]) and ki of S and K, the accumulator (sum, min
-- or max) and count planes (float64); empty is the value stored where
-- nothing is valid (already converted to out's dtype), sc a float64 scratch
-- of n values (the median's). The caller runs a contiguous whole in one
-- call and a strided one row by row: unlike the elementwise kernels, whose
-- one loop walks rows and bands with counters, this loop carries nothing
-- but c from one iteration to the next. With a counter and an index per
-- array, as many loop-carried values (PHIs) as that left LuaJIT's register
-- allocator, in some runs, unable to shuffle them ("NYI: register
-- coalescing too complex").
local function reduce_source(sig)
  local n = #sig.dtypes
  local op, phase, branchless = sig.op, sig.phase, sig.branchless
  local writes = phase == "whole" or phase == "final"
  local reads_acc = phase == "acc" or phase == "final"
  local pre = {}
  local ptrs, pvals, nds, ndvals, offs, offvals = {}, {}, {}, {}, {}, {}
  for k = 1, n do
    ptrs[k], pvals[k] = "x" .. k, "P[" .. k .. "]"
    nds[k], ndvals[k] = "nd" .. k, "ND[" .. k .. "]"
    offs[k], offvals[k] = "x" .. k .. "i", "OFF[" .. k .. "]"
  end
  pre[#pre + 1] = "local " .. table.concat(ptrs, ", ") .. " = " .. table.concat(pvals, ", ")
  pre[#pre + 1] = "local " .. table.concat(nds, ", ") .. " = " .. table.concat(ndvals, ", ")
  pre[#pre + 1] = "local " .. table.concat(offs, ", ") .. " = " .. table.concat(offvals, ", ")
  local big = branchless and "BIG" or "huge"
  local body = {}
  local function put(line) body[#body + 1] = line end
  -- the accumulator s (sum, min or max) and the count m
  if op == "median" then
    put("local m = 0")
  elseif reads_acc then
    put(op == "count" and "local m = K[ki + c]" or "local s, m = S[ki + c], K[ki + c]")
  else
    local init = op == "min" and big or op == "max" and ("-" .. big) or "0"
    put(op == "count" and "local m = 0" or ("local s, m = " .. init .. ", 0"))
  end
  for k = 1, n do
    local mode = sig.modes[k]
    local bl = branchless and mode == "int"
    local valid, invalid
    if op == "median" then
      valid = bl and string.format("v%d = v + (1 - f) * BIG; m = m + f", k)
              or string.format("v%d = v; m = m + 1", k)
      invalid = string.format("v%d = %s", k, big)
      put("local v" .. k)
      put("do " .. per_array(k, mode, branchless, valid, invalid) .. " end")
    else
      if op == "count" then
        valid = bl and "m = m + f" or "m = m + 1"
      elseif op == "sum" or op == "mean" then
        valid = bl and "s = s + v * f; m = m + f" or "s = s + v; m = m + 1"
      elseif op == "min" then
        valid = bl and "s = min(s, v + (1 - f) * BIG); m = m + f" or "s = min(s, v); m = m + 1"
      else
        valid = bl and "s = max(s, v - (1 - f) * BIG); m = m + f" or "s = max(s, v); m = m + 1"
      end
      put("do " .. per_array(k, mode, branchless, valid, "") .. " end")
    end
  end
  if op == "median" then
    for _, pr in ipairs(M.network(n)) do
      local a, b = pr[1] + 1, pr[2] + 1
      put(string.format("v%d, v%d = min(v%d, v%d), max(v%d, v%d)", a, b, a, b, a, b))
    end
    local fixed = true
    for k = 1, n do if sig.modes[k] ~= "none" then fixed = false end end
    if fixed then
      -- every value is valid: the middle positions are known
      local lo, hi = math.floor((n - 1) / 2) + 1, math.floor(n / 2) + 1
      put(lo == hi and ("local v = v" .. lo)
          or string.format("local v = (v%d + v%d) * 0.5", lo, hi))
      put(store_code(sig.conv, sig.out))
    else
      for k = 1, n do put(string.format("sc[%d] = v%d", k - 1, k)) end
      put("if m == 0 then o[oi + c] = empty else "
          .. "local v = (sc[rshift(m - 1, 1)] + sc[rshift(m, 1)]) * 0.5; "
          .. store_code(sig.conv, sig.out) .. " end")
    end
  elseif writes then
    if op == "count" then
      put("local v = m; " .. store_code(sig.conv, sig.out))
    else
      local v = op == "mean" and "s / m" or "s"
      put("if m == 0 then o[oi + c] = empty else local v = " .. v .. "; "
          .. store_code(sig.conv, sig.out) .. " end")
    end
  else
    put(op == "count" and "K[ki + c] = m" or "S[ki + c] = s; K[ki + c] = m")
  end
  return table.concat({ header, "return function(nc, o, oi, P, ND, OFF, S, K, ki, empty, sc)",
                       "  " .. table.concat(pre, "\n  "), "  for c = 0, nc - 1 do",
                       "    " .. table.concat(body, "\n    "), "  end", "end" }, "\n")
end

-- (the lookup is apart from the generator, which makes closures: a
-- function that makes one cannot be traced, and this one is called per
-- block)
function M.reduce(sig)
  local key = table.concat({ "reduce", sig.op, sig.phase, table.concat(sig.dtypes, ","),
                             table.concat(sig.modes, ","), tostring(sig.branchless),
                             sig.out or "-", sig.conv or "-" }, "|")
  local f = cache[key]
  if f then return f end
  f = compile(key, reduce_source(sig))
  cache[key] = f
  return f
end

-- The staged median, for lists longer than REDUCE_GROUP: one row of nc
-- elements at a time, in a float64 scratch of n planes (plane k from
-- k * pitch; the caller pads pitch past nc so that the planes do not all
-- fall on the same cache sets, which made a pitch of 256 twenty times
-- slower) and a count plane, through three kinds of one-loop kernels.
--
-- Gather array x's row (from element xoff) into plane soff.. of S, invalid
-- values as BIG (or infinity), and count the valid ones into K.
-- f(nc, x, xoff, S, soff, K, nd)
function M.median_gather(dtype, mode, branchless)
  local key = "mgather|" .. dtype .. "|" .. mode .. "|" .. tostring(branchless)
  local f = cache[key]
  if f then return f end
  local read = "local v = x[xoff + c]; "
  local code
  if mode == "none" then
    code = read .. "S[soff + c] = v; K[c] = K[c] + 1"
  elseif mode == "int" and branchless then
    code = read .. "local d = v - nd; local f = rshift(bor(d, -d), 31); "
           .. "S[soff + c] = v + (1 - f) * BIG; K[c] = K[c] + f"
  else
    local bad = mode == "int" and "v == nd" or mode == "nan" and "v ~= v" or "v ~= v or v == nd"
    code = read .. "if " .. bad .. " then S[soff + c] = " .. (branchless and "BIG" or "huge")
           .. " else S[soff + c] = v; K[c] = K[c] + 1 end"
  end
  f = compile(key, table.concat({ header, "return function(nc, x, xoff, S, soff, K, nd)",
                                  "  for c = 0, nc - 1 do " .. code .. " end", "end" }, "\n"))
  cache[key] = f
  return f
end

-- Compare-exchange steps first .. last of n's network across the planes.
-- f(nc, S, pitch)
function M.median_stage(n, first, last)
  local key = "mstage|" .. n .. "|" .. first .. "|" .. last
  local f = cache[key]
  if f then return f end
  local net, lines = M.network(n), {}
  for i = first, last do
    local a, b = net[i][1], net[i][2]
    lines[#lines + 1] = string.format("do local p, q = S[o%d + c], S[o%d + c]; "
                                      .. "S[o%d + c] = min(p, q); S[o%d + c] = max(p, q) end",
                                      a, b, a, b)
  end
  local offs, seen = {}, {}
  for i = first, last do
    for _, p in ipairs(net[i]) do
      if not seen[p] then
        seen[p] = true
        offs[#offs + 1] = string.format("local o%d = %d * pitch", p, p)
      end
    end
  end
  f = compile(key, table.concat({ header, "return function(nc, S, pitch)",
                                  "  " .. table.concat(offs, "; "),
                                  "  for c = 0, nc - 1 do", "    " .. table.concat(lines, "\n    "),
                                  "  end", "end" }, "\n"))
  cache[key] = f
  return f
end

-- The median of each column of the sorted planes (the K[c] valid values
-- come first) into o from element ooff; empty where none is valid.
-- f(nc, o, ooff, S, K, empty, pitch)
function M.median_pick(dtype, conv)
  local key = "mpick|" .. dtype .. "|" .. conv
  local f = cache[key]
  if f then return f end
  local store = store_code(conv, dtype):gsub("oi %+ c", "ooff + c")
  f = compile(key, table.concat({
    header, "return function(nc, o, ooff, S, K, empty, pitch)",
    "  for c = 0, nc - 1 do",
    "    local m = K[c]",
    "    if m == 0 then o[ooff + c] = empty else",
    "      local v = (S[rshift(m - 1, 1) * pitch + c] + S[rshift(m, 1) * pitch + c]) * 0.5; "
    .. store,
    "    end",
    "  end", "end" }, "\n"))
  cache[key] = f
  return f
end

-- How many kernels have been generated (specs check they are not made per
-- block).
function M.count()
  local n = 0
  for _ in pairs(cache) do n = n + 1 end
  return n
end

return M
