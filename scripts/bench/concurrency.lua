-- concurrency.lua: what read workers and compute threads buy, measured.
--
--   ./rios-lua scripts/bench/concurrency.lua [folder [runs]]
--
-- Makes its own data in FOLDER (default: a new folder under /tmp, removed
-- afterwards), then times whole rios-lua runs, alternating the two settings
-- of each pair after one warm-up run of each, and prints the median of RUNS
-- runs (default 5) and the ratio baseline / concurrent (> 1: faster):
--
--   compute   rasterio's CPU-bound example (each value goes through 2000
--             additions, bands reversed), no concurrency against 2 compute
--             threads fed by 1 read worker; the target on 2 cores is >= 1.85
--   ndvi      scripts/ndvi.lua, no read worker against 1; target >= 1.0
--
-- Lines that start with "RESULT" are meant for `make bench` to collect. A
-- last line says how many cores the machine really gave: two sequential
-- runs at once against one alone (2.00: two free cores; less when other
-- work shares them, which caps the compute ratio the same way).
local rios = require("rios")

local exe = require("rios.base").host.exe_path
local now = require("rios.base").C.rl_ffi_now
local script_dir = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."

local dir, own_dir = arg[1], false
if not dir then
  local p = io.popen("mktemp -d /tmp/rios-bench.XXXXXX")
  dir = p:read("*l")
  p:close()
  own_dir = true
end
local runs = tonumber(arg[2]) or 5
assert(os.execute("mkdir -p '" .. dir .. "'") == 0, "cannot make folder " .. dir)

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sh(cmd)
  local ok = os.execute(cmd)
  if ok ~= 0 and ok ~= true then error("failed: " .. cmd) end
end

-- The input of the compute job: 3 bands of uint8 of the size of rasterio's
-- RGB.byte.tif (791 x 718).
local function make_rgb(path, cols, rows)
  local a = rios.array("uint8", 3, rows, cols)
  for b = 0, 2 do
    for r = 0, rows - 1 do
      for c = 0, cols - 1 do
        a.data[(b * rows + r) * cols + c] = (r * 3 + c * 5 + b * 71) % 256
      end
    end
  end
  rios.write(path, a, { transform = { 100000, 10, 0, 200000, 0, -10 }, projection = "EPSG:32755" })
end

-- rasterio's example compute(): for every value, 2000 additions of 1.0
-- then one subtraction of 2000.0, bands written in reverse order.
local compute_script = [[
local rios = require("rios")
local function compute(info, inputs, outputs)
  local a = inputs.rgb
  local out = a:like()
  local n, nb = a.rows * a.cols, a.bands
  local src, dst = a.data, out.data
  for b = 0, nb - 1 do
    local from, to = b * n, (nb - 1 - b) * n
    for i = 0, n - 1 do
      local val = src[from + i] + 0.0
      for _ = 1, 2000 do val = val + 1.0 end
      val = val - 2000.0
      dst[to + i] = val
    end
  end
  outputs.out = out
end
rios.apply(compute, { rgb = arg[1] }, { out = arg[2] }, nil,
           { window_xsize = 128, window_ysize = 128 })
]]

local function write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

local function time_run(cmd)
  local t0 = now()
  sh(cmd .. " >/dev/null")
  return now() - t0
end

-- Alternate base and other, one warm-up of each first; returns medians.
local function compare(name, base_cmd, other_cmd, base_label, other_label, target)
  time_run(base_cmd)
  time_run(other_cmd)
  local tb, to = {}, {}
  for i = 1, runs do
    tb[i] = time_run(base_cmd)
    to[i] = time_run(other_cmd)
  end
  local mb, mo = median(tb), median(to)
  local ratio = mb / mo
  print(string.format("%-8s %-28s median %.3f s over %d runs", name, base_label, mb, runs))
  print(string.format("%-8s %-28s median %.3f s over %d runs", name, other_label, mo, runs))
  print(string.format("RESULT %s ratio %.2f (target >= %.2f): %s", name, ratio, target,
                      ratio >= target and "met" or "NOT met"))
  return ratio
end

-- Red and near-infrared for ndvi.lua: uint16, 3000 x 2400 (the demo data's
-- scene, nine times its area, so that reading is worth overlapping).
local function make_red_nir(cols, rows)
  local red = rios.array("uint16", 1, rows, cols)
  local nir = red:like()
  local rd, nd = red.data, nir.data
  for r = 0, rows - 1 do
    local river = math.abs(r - (rows / 2 + 360 * math.sin(r / 270))) < 36
    for c = 0, cols - 1 do
      local i = r * cols + c
      local veg = c / cols
      local noise = (r * 7919 + c * 104729) % 97
      if river then
        rd[i], nd[i] = 300 + noise, 150 + noise
      else
        rd[i] = math.floor(1400 - 900 * veg + noise)
        nd[i] = math.floor(1800 + 2600 * veg + noise)
      end
    end
  end
  local opts = { transform = { 500000, 10, 0, 7000000, 0, -10 }, projection = "EPSG:32755" }
  rios.write(dir .. "/red.tif", red, opts)
  rios.write(dir .. "/nir.tif", nir, opts)
end

make_rgb(dir .. "/rgb.tif", 791, 718)
write_file(dir .. "/compute.lua", compute_script)
make_red_nir(3000, 2400)

local ncpu = require("rios.base").C.rl_ffi_cpu_count()
print(string.format("rios-lua %s, %d CPUs, %s", rios.version, ncpu, dir))
local run_compute = q(exe) .. " %s " .. q(dir .. "/compute.lua") .. " " .. q(dir .. "/rgb.tif")
                    .. " " .. q(dir .. "/out.tif")
compare("compute", run_compute:format(""), run_compute:format("--read-workers 1 -j 2"),
        "none", "2 compute threads, 1 reader", 1.85)
local run_ndvi = q(exe) .. " %s " .. q(script_dir .. "/ndvi.lua") .. " " .. q(dir .. "/red.tif")
                 .. " " .. q(dir .. "/nir.tif") .. " " .. q(dir .. "/ndvi.tif")
compare("ndvi", run_ndvi:format(""), run_ndvi:format("--read-workers 1"), "none",
        "1 read worker", 1.0)

-- The machine's own parallelism, measured the same way.
local alone, pair = {}, {}
for i = 1, 3 do
  alone[i] = time_run(run_compute:format(""))
  local t0 = now()
  sh(run_compute:format("") .. " >/dev/null & " .. run_compute:format(""):gsub("out%.tif", "out2.tif")
     .. " >/dev/null; wait")
  pair[i] = now() - t0
end
print(string.format("machine: two sequential compute runs at once %.3f s, one alone %.3f s: "
                    .. "%.2f cores available", median(pair), median(alone),
                    2 * median(alone) / median(pair)))

if own_dir then os.execute("rm -rf " .. q(dir)) end
