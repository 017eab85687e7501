-- scripts/bench/run.lua: `make bench`. Runs each case as a rios-lua script
-- and as a hand-written C + GDAL program doing the same work with the same
-- block size (the floor), alternating A B A B after one warm-up run of each,
-- and prints the median wall time of each, the ratio A/B and peak RSS
-- (from /usr/bin/time -v). Writes the table into README.md between the
-- bench markers.
--
--   ./rios-lua scripts/bench/run.lua [--runs N] [--only CASE] [--no-readme]
--
-- Data are made by scripts/bench/gen.c into bench-data/ (kept between runs,
-- gitignored). Environment: BENCH_DATA (folder), BENCH_RUNS (default 5).
local ffi = require("ffi")
local C = require("rios.base").C

local root = (function()
  local p = io.popen("pwd")
  local d = p:read("*l")
  p:close()
  return d
end)()
local here = root .. "/scripts/bench"
local exe = root .. "/rios-lua"
local data = os.getenv("BENCH_DATA") or (root .. "/bench-data")
local runs = tonumber(os.getenv("BENCH_RUNS") or "5")
local only, write_readme = nil, true
do
  local i = 1
  while arg[i] do
    if arg[i] == "--runs" then runs = tonumber(arg[i + 1]); i = i + 1
    elseif arg[i] == "--only" then only = arg[i + 1]; i = i + 1
    elseif arg[i] == "--no-readme" then write_readme = false
    else error("run.lua: unknown argument " .. arg[i]) end
    i = i + 1
  end
end
assert(runs and runs >= 1, "run.lua: --runs needs a number >= 1")

-- Both sides run with the same bounded GDAL block cache (rios-lua's
-- default, see README "Memory"), so peak RSS compares like with like.
local cachemax = os.getenv("GDAL_CACHEMAX") or "32"
local envp = "GDAL_CACHEMAX=" .. cachemax .. " "

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sh(cmd)
  local ok, _, code = os.execute(cmd)
  if ok == true or ok == 0 then return 0 end
  return code or 1
end

local function must(cmd)
  if sh(cmd) ~= 0 then error("run.lua: command failed: " .. cmd, 0) end
end

local function exists(path)
  local f = io.open(path)
  if f then f:close() return true end
  return false
end

must("mkdir -p " .. q(data .. "/bin") .. " " .. q(data .. "/out"))

-- The C programs: plain cc with GDAL's flags.
local cc = os.getenv("CC") or "cc"
-- (idioms is the C floor of idioms.lua, README's "What compiles to fast
-- code", measured with farm-bench rather than in the table)
for _, prog in ipairs({ "gen", "ndvi", "rasterio_example", "mean3x3", "mean8", "median6",
                        "idioms" }) do
  local src, bin = here .. "/" .. prog .. ".c", data .. "/bin/" .. prog
  must(string.format("%s -O2 -std=c11 -Wall -Wextra -o %s %s $(pkg-config --cflags --libs gdal)",
                     cc, q(bin), q(src)))
end

-- Inputs, made once (seed fixes the values; clouds, a percentage, masks
-- cells as nodata 0).
local function gen(name, dtype, bands, cols, rows, seed, clouds)
  local path = data .. "/" .. name
  if not exists(path) then
    io.stderr:write("making ", path, "\n")
    must(string.format("%s/bin/gen %s %s %d %d %d %d %d", q(data), q(path .. ".tmp"), dtype, bands,
                       cols, rows, seed, clouds or 0))
    must("mv " .. q(path .. ".tmp") .. " " .. q(path))
  end
  return path
end

local bin = data .. "/bin/"
local out = data .. "/out/"
local lua = function(script) return q(exe) .. " " .. q(here .. "/" .. script) end

local red6 = gen("red6000.tif", "UInt16", 1, 6000, 6000, 1)
local nir6 = gen("nir6000.tif", "UInt16", 1, 6000, 6000, 2)

-- One run: wall seconds (measured here) and peak RSS in MB.
local function timed(cmd)
  local tf = data .. "/time.txt"
  local t0 = C.rios_ffi_now()
  local status = sh(envp .. "/usr/bin/time -f '%M %U %S' -o " .. q(tf) .. " " .. cmd
                    .. " >/dev/null")
  local wall = C.rios_ffi_now() - t0
  if status ~= 0 then error("run.lua: failed: " .. cmd, 0) end
  local f = assert(io.open(tf))
  local rss, cpu
  for line in f:lines() do
    local m, u, sy = line:match("^(%d+) ([%d.]+) ([%d.]+)$")
    if m then rss, cpu = tonumber(m), tonumber(u) + tonumber(sy) end
  end
  f:close()
  return wall, (rss or 0) / 1024, cpu or 0
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

local function max(t)
  local m = 0
  for _, v in ipairs(t) do if v > m then m = v end end
  return m
end

-- A B A B ... after one warm-up of each. Returns medians and peak RSS.
local function alternate(a, b, n, warm)
  if warm ~= false then timed(a); timed(b) end
  local ta, tb, ra, rb, ca, cb = {}, {}, {}, {}, {}, {}
  for i = 1, n do
    ta[i], ra[i], ca[i] = timed(a)
    tb[i], rb[i], cb[i] = timed(b)
  end
  return median(ta), median(tb), max(ra), max(rb), median(ca) / median(cb)
end

local results = {}
local function case(name, fn)
  if only and not name:find(only, 1, true) then return end
  io.stderr:write("case: ", name, "\n")
  local r = fn()
  r.name = name
  results[#results + 1] = r
  io.stderr:write(string.format("  A %.3f s, B %.3f s, ratio %.3f, CPU ratio %.3f, "
                                .. "RSS %.0f / %.0f MB\n", r.a, r.b, r.a / r.b, r.cpu or 0,
                                r.rss_a, r.rss_b))
end

case("NDVI, 2 x uint16 6000x6000 -> float32", function()
  local a, b, ra, rb, cpu = alternate(lua("ndvi.lua") .. " " .. q(red6) .. " " .. q(nir6) .. " "
                                 .. q(out .. "ndvi_lua.tif"),
                                 q(bin .. "ndvi") .. " " .. q(red6) .. " " .. q(nir6) .. " "
                                 .. q(out .. "ndvi_c.tif"), runs)
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 1.15, against = "C" }
end)

case("rasterio example: 3 x uint8 791x718, 2000 additions/value, 128x128", function()
  local img = gen("rgb791.tif", "Byte", 3, 791, 718, 3)
  local a, b, ra, rb, cpu = alternate(lua("rasterio_example.lua") .. " " .. q(img) .. " "
                                 .. q(out .. "rio_lua.tif"),
                                 q(bin .. "rasterio_example") .. " " .. q(img) .. " "
                                 .. q(out .. "rio_c.tif"), runs)
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 1.25, against = "C" }
end)

case("3x3 mean, overlap 1, float32 6000x6000", function()
  local img = gen("f32_6000.tif", "Float32", 1, 6000, 6000, 4)
  local a, b, ra, rb, cpu = alternate(lua("mean3x3.lua") .. " " .. q(img) .. " "
                                 .. q(out .. "m3_lua.tif"),
                                 q(bin .. "mean3x3") .. " " .. q(img) .. " "
                                 .. q(out .. "m3_c.tif"), runs)
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 1.25, against = "C" }
end)

case("mean of 8 x int16 3000x3000 -> float32", function()
  local list = {}
  for i = 1, 8 do list[i] = q(gen("i16_" .. i .. ".tif", "Int16", 1, 3000, 3000, 10 + i)) end
  local ins = table.concat(list, " ")
  local a, b, ra, rb, cpu = alternate(lua("mean8.lua") .. " " .. q(out .. "m8_lua.tif") .. " " .. ins,
                                 q(bin .. "mean8") .. " " .. q(out .. "m8_c.tif") .. " " .. ins,
                                 runs)
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 1.15, against = "C" }
end)

case("median composite of 6 uint16 3000x3000 dates with rios.reduce", function()
  local list = {}
  for i = 1, 6 do
    list[i] = q(gen("date_" .. i .. ".tif", "UInt16", 1, 3000, 3000, 20 + i, 10 + 5 * i))
  end
  local ins = table.concat(list, " ")
  local a, b, ra, rb, cpu = alternate(lua("median6.lua") .. " " .. q(out .. "med6_lua.tif") .. " "
                                      .. ins,
                                      q(bin .. "median6") .. " " .. q(out .. "med6_c.tif") .. " "
                                      .. ins, runs)
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 1.25, against = "C" }
end)

case("default outputs (stats, histogram, overviews) vs omitted, NDVI 6000x6000", function()
  local base = lua("ndvi.lua") .. " " .. q(red6) .. " " .. q(nir6) .. " "
  local a, b, ra, rb, cpu = alternate(base .. q(out .. "ndvi_def.tif") .. " defaults",
                                 base .. q(out .. "ndvi_omit.tif"), runs)
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 1.35, against = "rios-lua, omitted" }
end)

-- Compression on every core (NUM_THREADS, added to the creation options
-- of drivers that take it when there is more than one CPU) against the same
-- run held to one compression thread; the files must be byte-identical.
case("NDVI 4000x4000, default outputs, compression on every core vs NUM_THREADS=1", function()
  local r4 = gen("red4000.tif", "UInt16", 1, 4000, 4000, 1)
  local n4 = gen("nir4000.tif", "UInt16", 1, 4000, 4000, 2)
  local base = lua("ndvi.lua") .. " " .. q(r4) .. " " .. q(n4) .. " "
  local fa, fb = out .. "ndvi_mt.tif", out .. "ndvi_1t.tif"
  local a, b, ra, rb, cpu = alternate(base .. q(fa) .. " defaults", base .. q(fb) .. " defaults-1",
                                      runs)
  for _, ext in ipairs({ "", ".aux.xml" }) do
    if sh("cmp -s " .. q(fa .. ext) .. " " .. q(fb .. ext)) ~= 0 then
      error("run.lua: " .. fa .. ext .. " and " .. fb .. ext .. " differ: compression on "
            .. "several threads changed the bytes", 0)
    end
  end
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 0.7,
           against = "rios-lua, NUM_THREADS=1" }
end)

-- Concurrency: the same scripts, scaled from the command line. Ratios are
-- concurrent / sequential, so the 1.85x speed-up target is a ratio <= 0.54.
case("rasterio example with 2 compute threads (-j 2) vs none", function()
  local img = gen("rgb791.tif", "Byte", 3, 791, 718, 3)
  local args = " " .. q(here .. "/rasterio_example.lua") .. " " .. q(img) .. " "
  local a, b, ra, rb, cpu = alternate(q(exe) .. " -j 2" .. args .. q(out .. "rio_j2.tif"),
                                      q(exe) .. args .. q(out .. "rio_j0.tif"), runs)
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 1 / 1.85,
           against = "rios-lua, no threads" }
end)

case("NDVI with 1 read worker (--read-workers 1) vs none", function()
  local args = " " .. q(here .. "/ndvi.lua") .. " " .. q(red6) .. " " .. q(nir6) .. " "
  local a, b, ra, rb, cpu = alternate(q(exe) .. " --read-workers 1" .. args .. q(out .. "ndvi_rw1.tif"),
                                      q(exe) .. args .. q(out .. "ndvi_rw0.tif"), runs)
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 1.0,
           against = "rios-lua, no read worker" }
end)

-- Compute workers in processes (kind subproc) against the same number of
-- compute threads: what the process boundary and the channel cost.
case("rasterio example with 2 subproc workers (--kind subproc -j 2) vs 2 threads", function()
  local img = gen("rgb791.tif", "Byte", 3, 791, 718, 3)
  local args = " " .. q(here .. "/rasterio_example.lua") .. " " .. q(img) .. " "
  local a, b, ra, rb, cpu = alternate(q(exe) .. " --kind subproc -j 2" .. args .. q(out .. "rio_sp.tif"),
                                      q(exe) .. " -j 2" .. args .. q(out .. "rio_th.tif"), runs)
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 1.10,
           against = "rios-lua, 2 threads" }
end)

case("NDVI 6000x6000, 2 subproc workers reading their own input vs 2 threads", function()
  local args = " " .. q(here .. "/ndvi.lua") .. " " .. q(red6) .. " " .. q(nir6) .. " "
  local a, b, ra, rb, cpu = alternate(q(exe) .. args .. q(out .. "ndvi_sp.tif") .. " plain subproc-read",
                                      q(exe) .. args .. q(out .. "ndvi_th.tif") .. " plain threads", runs)
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 1.25,
           against = "rios-lua, 2 threads" }
end)

case("memory: NDVI 16000x16000 vs 2000x2000 (peak RSS)", function()
  local r2 = gen("red2000.tif", "UInt16", 1, 2000, 2000, 1)
  local n2 = gen("nir2000.tif", "UInt16", 1, 2000, 2000, 2)
  local r16 = gen("red16000.tif", "UInt16", 1, 16000, 16000, 1)
  local n16 = gen("nir16000.tif", "UInt16", 1, 16000, 16000, 2)
  -- Runs at 16000x16000 take long; peak RSS hardly varies, so one run each
  -- (no warm-up) is enough here.
  local small = lua("ndvi.lua") .. " " .. q(r2) .. " " .. q(n2) .. " "
                .. q(out .. "ndvi2000.tif") .. " defaults"
  local big = lua("ndvi.lua") .. " " .. q(r16) .. " " .. q(n16) .. " "
              .. q(out .. "ndvi16000.tif") .. " defaults"
  local a, ra = timed(big)
  local b, rb = timed(small)
  os.remove(out .. "ndvi16000.tif")
  return { a = a, b = b, rss_a = ra, rss_b = rb, cpu = cpu, target = 1.10, against = "rios-lua, 2000",
           rss = true }
end)

-- The table.
local function machine()
  local cpu = "unknown CPU"
  local f = io.open("/proc/cpuinfo")
  if f then
    for line in f:lines() do
      local m = line:match("^model name%s*:%s*(.+)$")
      if m then cpu = m break end
    end
    f:close()
  end
  local p = io.popen("nproc")
  local n = p:read("*l")
  p:close()
  p = io.popen("gdal-config --version 2>/dev/null")
  local g = p:read("*l") or "?"
  p:close()
  return string.format("%s, %s cores, GDAL %s, %s", cpu, n, g, jit.version)
end

local lines = {
  string.format("Machine: %s. Date: %s. Median of %d alternating runs after a warm-up "
                .. "(memory case: one run each).", machine(), os.date("!%Y-%m-%d %H:%M UTC"),
                runs),
  "",
  "| case | rios-lua (s) | baseline (s) | baseline | ratio | target | CPU ratio | peak RSS rios-lua / baseline (MB) | holds |",
  "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
}
for _, r in ipairs(results) do
  local ratio = r.rss and (r.rss_a / r.rss_b) or (r.a / r.b)
  lines[#lines + 1] = string.format("| %s | %.2f | %.2f | %s | %.3f%s | <= %.2f | %s | %.0f / %.0f | %s |",
                                    r.name, r.a, r.b, r.against, ratio, r.rss and " (RSS)" or "",
                                    r.target, r.cpu and string.format("%.3f", r.cpu) or "-",
                                    r.rss_a, r.rss_b,
                                    ratio <= r.target and "yes" or "no")
end
local text = table.concat(lines, "\n")
print(text)

if write_readme and not only then
  local f = assert(io.open(root .. "/README.md"))
  local s = f:read("*a")
  f:close()
  local b, e = "<!-- bench:begin -->", "<!-- bench:end -->"
  local i, j = s:find(b, 1, true), s:find(e, 1, true)
  if i and j then
    s = s:sub(1, i - 1) .. b .. "\n" .. text .. "\n" .. s:sub(j)
    f = assert(io.open(root .. "/README.md", "w"))
    f:write(s)
    f:close()
    io.stderr:write("README.md: bench table updated\n")
  end
end
local _ = ffi
