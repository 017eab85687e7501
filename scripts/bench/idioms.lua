-- The loop idioms of README's "What compiles to fast code", one per run:
--   rios-lua scripts/bench/idioms.lua VARIANT [passes]
-- Each variant maps every element of a 4000 x 4000 uint16 array through a
-- chain of four lookups in a 256-entry table of float32 (a value's low
-- byte indexes the table, whose entries are whole numbers 0..255 that index
-- it again) into a float32 array, `passes` times (default 20), and prints a
-- checksum; only the way the loop is written differs. No
-- file is read or written, so a run times the loop and the set-up (the
-- variant "none" times the set-up alone). The C floor is
-- scripts/bench/idioms.c (`make bench` builds it as bench-data/bin/idioms).
-- Measured with farm-bench, in A/B pairs:
--   farm-bench -n 7 --vs './rios-lua scripts/bench/idioms.lua band 20' -- \
--     ./rios-lua scripts/bench/idioms.lua mod 20
--   farm-bench -n 7 --vs './bench-data/bin/idioms 20' -- \
--     ./rios-lua scripts/bench/idioms.lua band 20
local ffi = require("ffi")
local bit = require("bit")
local rios = require("rios")

local variant, passes = arg[1], tonumber(arg[2] or "20")
local N = 4000 * 4000
local a = rios.array("uint16", 1, 4000, 4000)
local out = a:like("float32")
do
  local x = a.data
  for i = 0, N - 1 do x[i] = bit.band(i * 40503, 65535) end
end
local lut = ffi.new("float[256]")
local tlut = {}
for v = 0, 255 do
  lut[v] = (v * 167 + 13) % 256
  tlut[v + 1] = lut[v]
end

local loops = {}

-- `%` on a number is a floating-point floor division (a - floor(a/b)*b);
-- the table's entries are numbers, so every `%` after the first is one
function loops.mod(x, o)
  for i = 0, N - 1 do
    o[i] = lut[lut[lut[lut[x[i] % 256] % 256] % 256] % 256]
  end
end

-- the same indices from an integer operation
function loops.band(x, o)
  local band = bit.band
  for i = 0, N - 1 do
    o[i] = lut[band(lut[band(lut[band(lut[band(x[i], 255)], 255)], 255)], 255)]
  end
end

-- the high byte (then the chain with band): math.floor of a division ...
function loops.floor(x, o)
  local floor, band = math.floor, bit.band
  for i = 0, N - 1 do
    o[i] = lut[band(lut[band(lut[band(lut[floor(x[i] / 256)], 255)], 255)], 255)]
  end
end

-- ... and a shift
function loops.rshift(x, o)
  local rshift, band = bit.rshift, bit.band
  for i = 0, N - 1 do
    o[i] = lut[band(lut[band(lut[band(lut[rshift(x[i], 8)], 255)], 255)], 255)]
  end
end

-- the table a Lua programmer would write: a Lua table, 1-based
function loops.table(x, o)
  local band = bit.band
  for i = 0, N - 1 do
    o[i] = tlut[band(tlut[band(tlut[band(tlut[band(x[i], 255) + 1], 255) + 1], 255) + 1], 255)
                + 1]
  end
end

-- the arrays' fields looked up in the loop instead of taken into locals
function loops.fields(_, _)
  local band = bit.band
  for i = 0, a.rows * a.cols - 1 do
    out.data[i] = lut[band(lut[band(lut[band(lut[band(a.data[i], 255)], 255)], 255)], 255)]
  end
end

-- a closure made for every element (an NYI for the JIT: the loop runs in
-- the interpreter)
function loops.closure(x, o)
  local band = bit.band
  for i = 0, N - 1 do
    local f = function(v) return lut[band(v, 255)] end
    o[i] = f(f(f(f(x[i]))))
  end
end

-- a function made once, outside the loop, and called in it (inlined)
local function lookup(v) return lut[bit.band(v, 255)] end
function loops.call(x, o)
  for i = 0, N - 1 do o[i] = lookup(lookup(lookup(lookup(x[i])))) end
end

-- no pass: the set-up alone
function loops.none() end

local f = loops[variant]
if not f then
  local names = {}
  for k in pairs(loops) do names[#names + 1] = k end
  table.sort(names)
  error("idioms.lua: the variant must be one of " .. table.concat(names, ", "), 0)
end
for _ = 1, passes do f(a.data, out.data) end
print(variant, out:sum())
