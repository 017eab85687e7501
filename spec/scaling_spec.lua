-- Scaling never changes what a script does: every example in scripts/ and
-- the cases users hit (a file list from stdin, a print before apply, a
-- pcall fallback, zonal sums in otherargs) print the same lines and write
-- the same pixels sequentially, with -j 2, -j 4 and --kind subproc -j 2;
-- and the failures of a scaled run are one clear line.
local H = require("support.helpers")

local SCALES = { "", "-j 2", "-j 4", "--kind subproc -j 2" }

-- Run rios-lua with opts and a script (path) in dir; stdin from a file.
local function run(dir, opts, script, args, stdin)
  local argstr = ""
  for _, a in ipairs(args or {}) do argstr = argstr .. " " .. H.q(a) end
  return H.run("cd " .. H.q(dir) .. " && timeout 60 " .. H.q(H.exe) .. " " .. opts .. " "
               .. H.q(script) .. argstr .. (stdin and (" < " .. H.q(stdin)) or " </dev/null"))
end

-- stderr without the warning rios-lua gives when asked for more compute
-- threads than there are CPUs (this machine may have 2).
local function quiet(err)
  return (err:gsub("rios%-lua: warning: %d+ compute threads on %d+ CPUs; they will share "
                   .. "the CPUs\n", ""))
end

-- What a run printed, with its output names made the same (each scale
-- writes its own files) and without the timing report (timings are what
-- differs between runs, and a scaled run has more timers to report).
local function printed(out, tag)
  local lines, in_report = {}, false
  for line in (out:gsub(tag, "TAG")):gmatch("([^\n]*)\n") do
    if line:match("^Wall clock elapsed time:") then
      in_report = true
      lines[#lines + 1] = "[timings]"
    elseif not (in_report and (line == "" or line:match("^Timer ") or line:match("^%-+$")
                               or line:match("^[%w_]+ +[%d.]+$"))) then
      in_report = false
      lines[#lines + 1] = line
    end
  end
  return table.concat(lines, "\n")
end

local function write(dir, name, text)
  local f = assert(io.open(dir .. "/" .. name, "w"))
  f:write(text)
  f:close()
end

-- A script's run at every scale: the same stdout, no stderr, and the same
-- pixels in every output (outputs: file names made by tag()).
local function same_at_every_scale(dir, script, args_for, outputs, stdin)
  local first_out, first_pixels
  for i, opts in ipairs(SCALES) do
    local tag = "s" .. i
    local status, out, err = run(dir, opts, script, args_for(tag), stdin)
    assert.are.equal(0, status, opts .. ": " .. err)
    assert.are.equal("", quiet(err), opts)
    local pixels = {}
    for _, name in ipairs(outputs(tag)) do pixels[#pixels + 1] = H.raw_bytes(dir .. "/" .. name) end
    if i == 1 then
      first_out, first_pixels = out, pixels
    else
      assert.are.equal(first_out, out, opts .. " prints other lines")
      for k = 1, #pixels do
        assert.is_true(first_pixels[k] == pixels[k], opts .. ": output " .. k .. " differs")
      end
    end
  end
  return first_out
end

local function example(name) return H.root .. "/scripts/" .. name end

describe("scaled runs look like the sequential run", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    local function red(_, r, c) return (r * 37 + c * 11) % 900 + 50 end
    local function nir(_, r, c) return (r * 13 + c * 29) % 1500 + 20 end
    H.make_raster(dir .. "/red.tif", "uint16", 1, 70, 90, red)
    H.make_raster(dir .. "/nir.tif", "uint16", 1, 70, 90, nir)
    H.make_raster(dir .. "/img.tif", "int16", 3, 70, 90, function(b, r, c) return b * 100 + r - c end)
    H.make_raster(dir .. "/a.tif", "int16", 1, 70, 90, function(_, r, c)
      return (r + c) % 5 == 0 and -1 or r * 3 + c end, { nodata = -1 })
    H.make_raster(dir .. "/b.tif", "int16", 1, 70, 90, function(_, r, c)
      return (r * c) % 7 == 3 and -5 or 100 - r - 2 * c end, { nodata = -5 })
  end)
  after_each(H.cleanup)

  -- small blocks so that every scale has many blocks to share
  local env = "RIOS_DFLT_BLOCKXSIZE=16 RIOS_DFLT_BLOCKYSIZE=16 "

  local cases = {
    { "ndvi.lua", function(t) return { "red.tif", "nir.tif", t .. ".tif" } end,
      function(t) return { t .. ".tif" } end },
    { "band_maths_nodata.lua", function(t) return { "a.tif", "b.tif", t .. ".tif" } end,
      function(t) return { t .. ".tif" } end },
    { "mean_of_files.lua", function(t) return { t .. ".tif", "red.tif", "nir.tif", "a.tif" } end,
      function(t) return { t .. ".tif" } end },
    { "split_bands.lua", function(t) return { "img.tif", t } end,
      function(t) return { t .. "_1.tif", t .. "_2.tif", t .. "_3.tif" } end },
    { "filter3x3.lua", function(t) return { "img.tif", t .. ".tif" } end,
      function(t) return { t .. ".tif" } end },
    { "whole_stats.lua", function(t) return { "a.tif", t .. ".tif" } end,
      function(t) return { t .. ".tif" } end },
    { "classify.lua", function(t) return { "red.tif", "nir.tif", t .. ".tif" } end,
      function(t) return { t .. ".tif" } end },
  }
  for _, case in ipairs(cases) do
    it(case[1] .. " prints and writes the same at every scale", function()
      local script = example(case[1])
      local first_out
      for i, opts in ipairs(SCALES) do
        local tag = "s" .. i
        local argstr = ""
        for _, a in ipairs(case[2](tag)) do argstr = argstr .. " " .. H.q(a) end
        local status, out, err = H.run("cd " .. H.q(dir) .. " && " .. env .. "timeout 60 "
                                       .. H.q(H.exe) .. " " .. opts .. " " .. H.q(script)
                                       .. argstr .. " </dev/null")
        assert.are.equal(0, status, opts .. ": " .. err)
        assert.are.equal("", quiet(err), opts)
        out = printed(out, tag)
        if i == 1 then first_out = out else assert.are.equal(first_out, out, opts) end
      end
      for _, name in ipairs(case[3]("s1")) do
        local want = H.raw_bytes(dir .. "/" .. name)
        for i = 2, #SCALES do
          local got = H.raw_bytes(dir .. "/" .. name:gsub("^s1", "s" .. i))
          assert.is_true(want == got, SCALES[i] .. ": " .. name:gsub("^s1", "s" .. i) .. " differs")
        end
      end
    end)
  end

  it("zonal_stats.lua prints the same CSV at every scale", function()
    write(dir, "zones.csv", "WKT,id\n\"POLYGON((500050 5999950,500400 5999950,500400 5999600,"
          .. "500050 5999600,500050 5999950))\",3\n\"POLYGON((500300 5999500,500800 5999500,"
          .. "500800 5999400,500300 5999400,500300 5999500))\",7\n")
    local out = same_at_every_scale(dir, example("zonal_stats.lua"),
                                    function() return { "red.tif", "zones.csv", "id" } end,
                                    function() return {} end)
    assert.truthy(out:match("^zone,pixels,mean,min,max\n3,%d+,"), out)
    assert.truthy(out:find("\n7,", 1, true), out)
  end)

  it("a script that reads its file list from stdin", function()
    write(dir, "mean.lua", [[
local rios = require("rios")
local files = {}
for line in io.lines() do files[#files + 1] = line end
print(#files .. " files")
rios.apply(function(info, inputs, outputs)
  local sum = inputs.x[1]:like("float32")
  for _, a in ipairs(inputs.x) do sum = sum + a end
  outputs.o = sum / #inputs.x
end, { x = files }, { o = arg[1] }, nil, { window_xsize = 16, window_ysize = 16 })
]])
    write(dir, "list.txt", "red.tif\nnir.tif\na.tif\n")
    local out = same_at_every_scale(dir, dir .. "/mean.lua", function(t) return { t .. ".tif" } end,
                                    function(t) return { t .. ".tif" } end, dir .. "/list.txt")
    assert.are.equal("3 files\n", out)
    -- not all zeros: the workers read the same list
    local a = H.read(dir .. "/s2.tif")
    assert.is_true(a:max() > 0)
  end)

  it("a print before apply appears once, and what apply's function prints appears", function()
    write(dir, "p.lua", [[
local rios = require("rios")
print("before apply")
io.write("written with io.write\n")
io.stderr:write("to stderr\n")
rios.apply(function(info, inputs, outputs)
  if info:is_first_block() then print("in the first block") end
  outputs.o = inputs.r
end, { r = "red.tif" }, { o = arg[1] }, nil, { window_xsize = 16, window_ysize = 16 })
print("after apply")
]])
    for _, opts in ipairs(SCALES) do
      local status, out, err = run(dir, opts, dir .. "/p.lua", { "o.tif" })
      assert.are.equal(0, status, err)
      assert.are.equal("before apply\nwritten with io.write\nin the first block\nafter apply\n",
                       out, opts)
      assert.are.equal("to stderr\n", quiet(err), opts)
    end
  end)

  it("a pcall-ed apply that fails, then a fallback apply, takes the same path", function()
    write(dir, "fb.lua", [[
local rios = require("rios")
local ok, err = pcall(rios.apply, function(info, inputs, outputs)
  outputs.o = inputs.r
end, { r = "missing.tif" }, { o = arg[1] })
print("first", ok, (tostring(err):gsub("^.-: ", "")))
local res = rios.apply(function(info, inputs, outputs, o)
  o.n = o.n + 1
  outputs.o = inputs.r
end, { r = "red.tif" }, { o = arg[1] }, { n = 0 },
  { window_xsize = 16, window_ysize = 16,
    merge_otherargs = function(into, from) into.n = into.n + from.n end })
print("second", res.otherargs_list and "ok")
]])
    local out = same_at_every_scale(dir, dir .. "/fb.lua", function(t) return { t .. ".tif" } end,
                                    function(t) return { t .. ".tif" } end)
    assert.truthy(out:match("^first\tfalse\t"), out)
    assert.truthy(out:find("missing.tif", 1, true), out)
    assert.truthy(out:find("\nsecond\tok\n", 1, true), out)
  end)

  it("workers that change otherargs without merge_otherargs: the run says so in one line", function()
    write(dir, "nm.lua", [[
local rios = require("rios")
local acc = { sum = 0, count = 0, name = "x" }
rios.apply(function(info, inputs, outputs, o)
  o.count = o.count + 1
end, { r = "red.tif" }, {}, acc, { window_xsize = 16, window_ysize = 16 })
print(acc.count)
]])
    local status, out, err = run(dir, "", dir .. "/nm.lua", {})
    assert.are.equal(0, status, err)
    assert.are.equal("30\n", out)
    assert.are.equal("", err)
    status, out, err = run(dir, "-j 2", dir .. "/nm.lua", {})
    assert.are.equal(0, status, err)
    assert.are.equal("0\n", out)
    assert.truthy(err:match("^rios%-lua: warning: [^\n]*nm%.lua:3: rios%.apply: compute workers"), err)
    assert.truthy(err:find("changed otherargs key 'count' in their own copies; the caller's "
                           .. "otherargs is unchanged", 1, true), err)
    assert.are.equal(1, select(2, err:gsub("\n", "")))
  end)
end)

describe("failures of a scaled run are one clear line", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    H.make_raster(dir .. "/a.tif", "uint8", 1, 40, 60, function(_, r, c) return (r + c) % 200 end)
  end)
  after_each(H.cleanup)

  local function temp_folders()
    local p = io.popen("ls -a " .. H.q(dir))
    local n = 0
    for name in p:lines() do if name:match("^rios%-lua%-") then n = n + 1 end end
    p:close()
    return n
  end

  it("a compute thread in an endless loop: the run ends within its timeout and 5 s", function()
    write(dir, "e.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
  local x = 0
  while true do x = x + 1 end
end, { a = "a.tif" }, { o = "o.tif" }, nil,
  { concurrency = { read_workers = 1, compute_workers = 1, kind = "threads",
                    compute_buffer_pop_timeout = 3 } })
]])
    local now = require("rios.base").C.rios_ffi_now
    local t0 = now()
    local status, _, err = run(dir, "", "e.lua")
    assert.is_true(now() - t0 < 3 + 5, "took " .. (now() - t0))
    assert.are.equal(1, status)
    assert.truthy(err:match("^e%.lua:2: rios%.apply failed: timeout waiting for block 0 from the "
                            .. "compute buffer"), err)
    assert.truthy(err:find("compute worker 1 did not stop", 1, true), err)
    assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    assert.are.equal(0, temp_folders())
  end)

  it("a syntax error with arguments reports the syntax error", function()
    write(dir, "syn.lua", "local x = = 1\n")
    local status, _, err = run(dir, "", "syn.lua", { "in.tif", "out.tif" })
    assert.are.equal(1, status)
    assert.are.equal("syn.lua:1: unexpected symbol near '='\n", err)
  end)

  it("an overlap that would need too much memory names the key, its value and the memory", function()
    write(dir, "ov.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.o = inputs.a end,
  { a = "a.tif" }, { o = "o.tif" }, nil, { overlap = tonumber(arg[1]) })
]])
    local status, _, err = run(dir, "", "ov.lua", { "999999999" })
    assert.are.equal(1, status)
    assert.truthy(err:match("^ov%.lua:2: rios%.apply: controls window_xsize = 256, window_ysize "
                            .. "= 256 and overlap = 999999999 need [%d.]+ GB for the input buffers"), err)
    assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    status, _, err = H.run("cd " .. H.q(dir) .. " && RIOS_DFLT_OVERLAP=999999999 " .. H.q(H.exe)
                           .. " ov.lua")
    assert.are.equal(1, status)
    assert.truthy(err:find("overlap = 999999999 (from environment variable RIOS_DFLT_OVERLAP) need",
                           1, true), err)
    assert.is_nil(io.open(dir .. "/o.tif"))
  end)

  it("a window larger than the grid runs, with compute threads too", function()
    write(dir, "w.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.o = inputs.a end,
  { a = "a.tif" }, { o = "o.tif" }, nil, { window_xsize = 1e10, window_ysize = 1e10 })
print("ok")
]])
    local status, out, err = run(dir, "-j 2", "w.lua")
    assert.are.equal(0, status, err)
    assert.are.equal("ok\n", out)
    assert.are.equal(H.raw_bytes(dir .. "/a.tif"), H.raw_bytes(dir .. "/o.tif"))
  end)

  it("a 10^6 x 10^6 raster in 16-pixel windows with compute threads starts, and fails in one line", function()
    write(dir, "huge.vrt", [[
<VRTDataset rasterXSize="1000000" rasterYSize="1000000">
  <SRS>EPSG:32755</SRS>
  <GeoTransform>500000, 10, 0, 6000000, 0, -10</GeoTransform>
  <VRTRasterBand dataType="Byte" band="1">
    <SimpleSource><SourceFilename relativeToVRT="1">a.tif</SourceFilename><SourceBand>1</SourceBand></SimpleSource>
  </VRTRasterBand>
</VRTDataset>
]])
    write(dir, "huge.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs, o)
  local x, y = info:block_count()
  local nx, ny = info:total_blocks()
  assert(nx == 62500 and ny == 62500)
  if x == 5 then error("enough at block " .. x .. " of " .. nx * ny) end
end, { a = "huge.vrt" }, {}, nil, { window_xsize = 16, window_ysize = 16 })
]])
    local status, _, err = run(dir, "-j 2", "huge.lua")
    assert.are.equal(1, status)
    assert.truthy(err:find("enough at block 5 of 3906250000", 1, true), err)
    assert.truthy(err:match("^huge%.lua:2: rios%.apply failed: compute worker [12]: error in the "
                            .. "block function in block %(row 0, col 5%)"), err)
  end)

  it("a bad filter_sql is one line with GDAL's reason", function()
    write(dir, "shapes.csv", "WKT,v\n\"POLYGON((500050 5999950,500400 5999950,500400 5999600,"
          .. "500050 5999600,500050 5999950))\",7\n")
    write(dir, "sql.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.o = inputs.v end,
  { v = "shapes.csv", a = "a.tif" }, { o = "o.tif" }, nil, { filter_sql = "SELECT * FROM x WHERE" })
]])
    local status, _, err = run(dir, "", "sql.lua")
    assert.are.equal(1, status)
    assert.truthy(err:match("^sql%.lua:2: shapes%.csv: cannot rasterize input 'v': rasterize failed: "
                            .. "SQL Expression Parsing Error"), err)
    assert.are.equal(1, select(2, err:gsub("\n", "")), err)
  end)

  it("an error value that is a table says so, with the line that raised it", function()
    write(dir, "t.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
  error({ code = 1 })
end, { a = "a.tif" }, { o = "o.tif" })
]])
    local status, _, err = run(dir, "", "t.lua")
    assert.are.equal(1, status)
    assert.truthy(err:match("^t%.lua:3: error raised with a table value %(it has no __tostring%)\n"), err)
    write(dir, "t2.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
  error(setmetatable({}, { __tostring = function() return "my error" end }))
end, { a = "a.tif" }, { o = "o.tif" })
]])
    status, _, err = run(dir, "-j 2", "t2.lua")
    assert.are.equal(1, status)
    assert.truthy(err:find("\nt2.lua:3: my error\n", 1, true), err)
  end)

  for _, opts in ipairs({ "", "-j 2" }) do
    it("a misspelt input or output name lists the names (" .. (opts == "" and "sequential" or opts) .. ")", function()
      write(dir, "typo.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
  local a = inputs[arg[1] ]
  outputs[arg[2] ] = a
end, { img = "a.tif", b = "a.tif" }, { out = "o.tif" })
]])
      local status, _, err = run(dir, opts, "typo.lua", { "imgg", "out" })
      assert.are.equal(1, status)
      assert.truthy(err:find("typo.lua:3: inputs has no 'imgg' (the inputs are: b, img)\n", 1, true), err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
      status, _, err = run(dir, opts, "typo.lua", { "img", "ouput" })
      assert.are.equal(1, status)
      assert.truthy(err:find("typo.lua:4: outputs has no 'ouput' (the outputs are: out)\n", 1, true), err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    end)
  end

  it("prints from the block function and the progress line do not garble each other", function()
    write(dir, "pp.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
  local t0 = os.clock()
  while os.clock() - t0 < 0.02 do end
  local x, y = info:block_count()
  print("block " .. x .. "," .. y)
  outputs.o = inputs.a
end, { a = "a.tif" }, { o = "o.tif" }, nil, { window_xsize = 10, window_ysize = 10 })
]])
    local log = dir .. "/typescript"
    local cmd = "cd " .. H.q(dir) .. " && " .. H.q(H.exe) .. " pp.lua"
    local status = H.run("script -qfec " .. H.q(cmd) .. " " .. H.q(log) .. " </dev/null")
    assert.are.equal(0, status)
    local s = io.open(log, "rb"):read("*a")
    -- every printed line starts at the beginning of a line: the progress
    -- line was cleared first ("\r" then blanks then "\r")
    local n = 0
    for line in s:gmatch("[^\n]*\n") do
      local printed = line:match("block %d+,%d+")
      if printed then
        n = n + 1
        assert.truthy(line:match("^\r?block %d+,%d+\r?\n$") or line:match("\r +\rblock %d+,%d+\r?\n$"),
                      string.format("%q", line))
      end
    end
    assert.are.equal(24, n)
    assert.truthy(s:find("rios.apply ", 1, true), "the progress line was drawn")
  end)
end)
