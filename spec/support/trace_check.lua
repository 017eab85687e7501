-- spec/support/trace_check.lua: run by spec/array_trace_spec.lua in its own
-- rios-lua process. Lowers hotloop, attaches to LuaJIT's trace events (as
-- jit.v does) and runs the documented loop idiom and every array operation
-- on every dtype, contiguous and windowed. Prints a line per failure and
-- then "loops N compiled M failures K".
--
-- What counts as a failure (the loops under test are the kernels' and the
-- idiom's):
--   * a trace that starts at a loop in one of them aborts, for any reason
--     but "leaving loop in root trace": recording began on the loop's last
--     iteration (short loops, such as a kernel run on one row of a window,
--     meet that by chance) and LuaJIT tries again later; the loop must
--     still compile, below;
--   * an NYI abort anywhere (this driver itself makes no closures in its
--     loops), except "return to lower frame": a trace that starts at a loop's
--     exit and returns to the caller, which LuaJIT 2.1 leaves to the
--     interpreter; it is past the loop, not in it;
--   * a loop under test (each loop of each kernel) that ran but never
--     compiled.
local jit = require("jit")
local vmdef = require("jit.vmdef")
local jutil = require("jit.util")
local rios = require("rios")

local dtype_filter = arg and arg[1]

-- The idiom, as a user writes it: a plain for over a.data.
local idiom = assert(loadstring([[
local function idiom(a, b, out)
  local x, y, o = a.data, b.data, out.data
  for i = 0, a.bands * a.rows * a.cols - 1 do
    local s = x[i] + y[i]
    o[i] = s == 0 and 0 or (x[i] - y[i]) / s
  end
end
return idiom
]], "=rios idiom"))()

local function under_test(func)
  local info = jutil.funcinfo(func)
  local src = info and info.source or ""
  return src:find("=rios.kernel", 1, true) == 1 or src == "=rios idiom", src
end

local function opname(func, pc)
  local ins = jutil.funcbc(func, pc)
  if not ins then return "?" end
  local op = ins % 256
  return vmdef.bcnames:sub(op * 6 + 1, op * 6 + 6):gsub(" ", "")
end
local loop_ops = { FORL = true, JFORL = true, ITERL = true, JITERL = true, LOOP = true,
                   JLOOP = true, FORI = true, JFORI = true }

local function message(otr, oex)
  local msg = vmdef.traceerr[otr] or tostring(otr)
  if oex then
    if type(oex) == "number" and msg:find("%%d") then msg = string.format(msg, oex)
    elseif msg:find("%%s") then
      msg = string.format(msg, type(oex) == "number" and (vmdef.ffnames[oex] or oex) or
                          tostring(oex))
    end
  end
  return msg
end

local failures, started, ran, compiled = {}, {}, {}, {}
local function on_trace(what, tr, func, pc, otr, oex)
  if what == "start" then
    local mine, src = under_test(func)
    local loop = mine and loop_ops[opname(func, pc)]
    local line = loop and jutil.funcinfo(func, pc).currentline
    started[tr] = loop and { func = func, src = src, line = line, where = src .. ":" .. line }
    if loop then ran[src .. ":" .. line] = true end
  elseif what == "abort" then
    local msg = message(otr, oex)
    local s = started[tr]
    if s then
      if msg ~= "leaving loop in root trace" then
        failures[#failures + 1] = string.format("loop at %s:%s did not compile: %s", s.src,
                                                tostring(s.line), msg)
      end
    elseif msg:find("^NYI") and not msg:find("return to lower frame", 1, true) then
      local info = jutil.funcinfo(func, pc)
      failures[#failures + 1] = string.format("%s at %s:%s", msg, tostring(info.source),
                                              tostring(info.currentline))
    end
  elseif what == "stop" then
    local s = started[tr]
    if s then compiled[s.where] = true end
  end
end

local function attach()
  jit.flush()
  jit.opt.start("hotloop=2", "hotexit=2")
  jit.attach(on_trace, "trace")
end

local function arrays(dtype, window)
  local a = rios.array(dtype, 2, 40, 50)
  a:fill(3)
  local b = a:like()
  b:fill(5)
  -- a third with values that vary (some equal to the nodata 3 used below)
  -- and, as a window, other strides than a's and b's
  local c = rios.array(dtype, 2, 45, 60)
  for i = 0, c:size() - 1 do c.data[i] = (i * 7) % 11 end
  if window then
    a = a:window(3, 2, 40, 30)
    b = b:window(1, 1, 40, 30)
    c = c:window(5, 4, 40, 30)
  else
    c = c:window(0, 0, 50, 40):copy()
  end
  return a, b, c
end

local twice = function(v) return v * 2 + 1 end
local smaller = function(v, w) return v < w and v or w end
local reduce_ops = { "median", "mean", "min", "max", "sum", "count" }

local function exercise(d, window)
  local a, b, c = arrays(d, window)
  local f = rios.array("float32", a.bands, a.rows, a.cols)
  if not window then idiom(a, b, f) end
  a:fill(2)
  a:copy()
  a:astype("int16")
  a:astype("float32")
  a:add(b); a:sub(1); a:mul(b, a); a:div(b); a:pow(2); a:minimum(b); a:maximum(4)
  a:add(2.5)
  a:lt(b); a:le(4); a:gt(b); a:ge(1); a:eq(b); a:ne(3)
  rios.where(a:gt(b), a, b)
  rios.where(a:gt(2), 1, a)
  a:sum(); a:min(7); a:max(); a:mean(3); a:count(); a:std(3)
  a:histogram(16, 0, 10)
  a:histogram(16, 0, 10, 3)
  a:map(twice)
  a:map2(smaller, b)
  local _ = a + b, a * 2, -a
  c:abs(); c:sqrt(); c:log(); c:exp(); c:floor(); c:ceil(); c:isnan()
  c:clip(2, 6); c:clip(b, 9); c:clip(nil, 4.5)
  local m1, m2 = c:gt(4), b:lt(c)
  m1:logical_and(m2); m1:logical_or(1); m1:logical_not(); c:logical_and(a)
  -- reductions: a short list, the longest one kernel takes (with a nodata
  -- per array, c's strides differing from a's and b's), a list in groups
  -- (the staged median), and a list mixing in a float array
  local twelve, fifteen, nd12 = {}, {}, {}
  for i = 1, 15 do
    local x = ({ a, b, c })[i % 3 + 1]
    if i <= 12 then twelve[i], nd12[i] = x, i % 4 end
    fifteen[i] = x
  end
  local other = d == "float32" and "int16" or "float32"
  for _, op in ipairs(reduce_ops) do
    rios.reduce({ a, c, b }, op)
    rios.reduce({ a, b, c, c, a, b }, op, { nodata = 3 })
    rios.reduce(twelve, op, { nodata = nd12 })
    rios.reduce(fifteen, op, { nodata = 3 })
    rios.reduce({ c, c:astype(other), b }, op, { nodata = 3 })
  end
end

local function main(times)
  for _, d in ipairs(rios.dtypes) do
    if not dtype_filter or d == dtype_filter then
      for _, window in ipairs({ false, true }) do
        for _ = 1, times do exercise(d, window) end
      end
    end
  end
end
-- Generating a kernel (once per dtype signature) makes a closure, which a
-- trace cannot record: generate them all first, with the JIT off.
jit.off()
main(1)
jit.on()
-- Arrays made here own heap memory freed by finalizers, and a finalizer
-- running during recording aborts that trace; in rios.apply block arrays
-- come from the block arena and have none. So: no collection while
-- measuring. The traces of every kernel of even one dtype need more
-- machine-code room than LuaJIT's default (512 KB; when it is full LuaJIT
-- flushes every trace and starts again, which a run survives but this check
-- would count as failures).
collectgarbage("stop")
jit.opt.start(dtype_filter and "maxmcode=8192" or "maxmcode=32768")
attach()
main(6)

jit.attach(on_trace)
local nran, ncomp = 0, 0
for src in pairs(ran) do
  nran = nran + 1
  if compiled[src] then ncomp = ncomp + 1
  else failures[#failures + 1] = "loop at " .. src .. " never compiled" end
end
for _, line in ipairs(failures) do print(line) end
print(string.format("loops %d compiled %d failures %d", nran, ncomp, #failures))
