-- Byte-identical outputs at any scale: one script with two multi-band
-- outputs (statistics, histogram, overviews, band names, a nodata) writes
-- the same bytes, .tif and .aux.xml compared with cmp, sequentially, with a
-- read worker, with 1, 2 and 4 compute threads and with 2 worker processes;
-- with windows that are whole tiles (the default) and with windows that are
-- not, under a GDAL block cache too small to hold a row of tiles. And
-- compression on several threads (NUM_THREADS, which outputs get by default
-- when there is more than one CPU) writes the same bytes as on one.
local H = require("support.helpers")
local C = require("rios.base").C

local SCALES = { "", "--read-workers 1", "-j 1", "-j 2", "-j 4", "--kind subproc -j 2" }

local SCRIPT = [[
local rios = require("rios")
local wx, wy = tonumber(arg[1]), tonumber(arg[2])
local result = rios.apply(function(info, inputs, outputs, other)
  local a, b = inputs.a, inputs.b
  local n = a.rows * a.cols
  local o1 = a:like("float32", 3)
  local o2 = a:like("int16", 2)
  local x, y, p, q = a.data, b.data, o1.data, o2.data
  for i = 0, n - 1 do
    p[i] = x[i] * 0.5
    p[n + i] = y[i] + 0.25
    p[2 * n + i] = x[i] - y[i]
    q[i] = x[i] % 97 == 0 and -1 or x[i] - 500
    q[n + i] = y[i] - 700
  end
  outputs.o1, outputs.o2 = o1, o2
  -- the threads of this process (compression threads among them)
  local t = io.popen("ls /proc/" .. io.open("/proc/self/stat"):read("*l"):match("^%d+")
                     .. "/task | wc -l")
  other.threads = math.max(other.threads or 0, tonumber(t:read("*l")))
  t:close()
end, { a = "a.tif", b = "b.tif" }, { o1 = "o1.tif", o2 = "o2.tif" }, {},
   { window_xsize = wx, window_ysize = wy, layer_names = { "first", "second", "third" },
     per_image = { o2 = { stats_ignore = -1, layer_names = { "x", "y" } } } })
if not rios.is_worker() then print("threads " .. result.otherargs_list[1].threads) end
]]

describe("outputs are byte-identical", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    -- 900 x 700: four rows of 256-pixel tiles, a 1:4 overview
    H.make_raster(dir .. "/a.tif", "uint16", 1, 700, 900, function(_, r, c)
      return (r * 37 + c * 11) % 1000 end)
    H.make_raster(dir .. "/b.tif", "uint16", 1, 700, 900, function(_, r, c)
      return (r * 13 + c * 29) % 1500 end)
    local f = assert(io.open(dir .. "/s.lua", "w"))
    f:write(SCRIPT)
    f:close()
  end)
  after_each(function() H.cleanup() end)

  -- Run the script at scale opts in a folder of its own (so the outputs
  -- have the same names); returns the folder and what it printed.
  local function run(tag, opts, window, env)
    local sub = dir .. "/" .. tag
    assert.are.equal(0, (H.run("mkdir " .. H.q(sub) .. " && cp " .. H.q(dir) .. "/a.tif "
                               .. H.q(dir) .. "/b.tif " .. H.q(dir) .. "/s.lua " .. H.q(sub))))
    local status, out, err = H.run("cd " .. H.q(sub) .. " && " .. (env or "") .. " timeout 120 "
                                   .. H.q(H.exe) .. " " .. opts .. " s.lua " .. window
                                   .. " </dev/null")
    assert.are.equal(0, status, opts .. ": " .. err)
    return sub, out
  end

  local function same_files(a, b, what)
    for _, name in ipairs({ "o1.tif", "o1.tif.aux.xml", "o2.tif", "o2.tif.aux.xml" }) do
      local status = H.run("cmp " .. H.q(a .. "/" .. name) .. " " .. H.q(b .. "/" .. name))
      assert.are.equal(0, status, what .. ": " .. name .. " differs")
    end
  end

  local function at_every_scale(window, env)
    local first = run("s1", SCALES[1], window, env)
    for i = 2, #SCALES do
      local sub = run("s" .. i, SCALES[i], window, env)
      same_files(first, sub, "'" .. SCALES[i] .. "' against the sequential run")
    end
    return first
  end

  it("at every scale, with windows that are whole tiles", function()
    local first = at_every_scale("256 256")
    local info = H.gdalinfo(first .. "/o1.tif")
    assert.are.equal(3, #info.bands)
    assert.are.equal(1, #info.bands[1].overviews)
    assert.are.equal("third", info.bands[3].description)
  end)

  it("at every scale, with windows that are not whole tiles and a small GDAL cache", function()
    -- 100 x 100 windows complete a 256 x 256 tile over three rows of
    -- blocks; 1 MB of cache cannot hold a row of tiles, so GDAL would write
    -- partial tiles when it needs room, at moments that depend on the run
    local first = at_every_scale("100 100", "GDAL_CACHEMAX=1")
    -- the pixels are those of whole-tile windows
    local whole = run("whole", "", "256 256")
    for _, name in ipairs({ "o1.tif", "o2.tif" }) do
      assert.is_true(H.raw_bytes(first .. "/" .. name) == H.raw_bytes(whole .. "/" .. name), name)
    end
  end)

  it("whatever the number of compression threads; several by default on several CPUs",
     function()
    local opts = "TILED=YES COMPRESS=LZW INTERLEAVE=BAND BIGTIFF=IF_SAFER NUM_THREADS="
    local default, out = run("default", "", "256 256")
    local one, out1 = run("one", "", "256 256", "RIOS_DFLT_CREOPT_GTiff='" .. opts .. "1'")
    local four = run("four", "", "256 256", "RIOS_DFLT_CREOPT_GTiff='" .. opts .. "4'")
    same_files(one, default, "the default against NUM_THREADS=1")
    same_files(one, four, "NUM_THREADS=4 against NUM_THREADS=1")
    local threads = tonumber(out:match("threads (%d+)"))
    local threads1 = tonumber(out1:match("threads (%d+)"))
    if C.rios_ffi_cpu_count() > 1 then
      assert.is_true(threads > threads1, string.format("%d threads by default, %d with "
                                                       .. "NUM_THREADS=1", threads, threads1))
    else
      assert.are.equal(threads1, threads)
    end
    -- the user's own NUM_THREADS is kept: GDAL_NUM_THREADS too
    local env1 = run("env1", "", "256 256", "GDAL_NUM_THREADS=1")
    assert.are.equal(threads1, tonumber(select(2, run("env1b", "", "256 256",
                                                       "GDAL_NUM_THREADS=1")):match("threads (%d+)")))
    same_files(one, env1, "GDAL_NUM_THREADS=1 against NUM_THREADS=1")
  end)
end)
