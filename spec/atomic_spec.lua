-- Outputs are written beside their paths and moved over them only when the
-- whole rios.apply succeeded: a run that fails (an error in a later block,
-- a rejected creation option, a full disk, SIGINT/SIGTERM/SIGHUP, os.exit)
-- leaves every existing file byte for byte as it was and no temporary file;
-- a run killed with SIGKILL leaves a folder that says what it is, which the
-- next run writing that output removes. Output paths that cannot be written
-- without harm are refused before anything is touched.
local H = require("support.helpers")

local ROWS, COLS = 200, 300

-- The script every case runs: out = the input + K, in 64 x 64 blocks (5 x
-- 4); arg: K, then what happens at block (row 1, col 1): "ok", "error",
-- "exit", or a signal name (the script signals itself from a background
-- shell and spins until it arrives, at most 10 s), then the output's path
-- (default out.tif). controls: extra keys.
local function script(controls)
  return [[
local rios = require("rios")
local k, mode = tonumber(arg[1]), arg[2]
rios.apply(function(info, inputs, outputs)
  local o = inputs.a:like("float32")
  for i = 0, o.rows * o.cols - 1 do o.data[i] = inputs.a.data[i] + k end
  outputs.out = o
  local x, y = info:block_count()
  if x ~= 1 or y ~= 1 or mode == "ok" then return end
  if mode == "error" then error("failing in a later block") end
  if mode == "exit" then os.exit(3) end
  local f = io.open("/proc/self/stat")
  local pid = f:read("*l"):match("^(%d+)")
  f:close()
  if mode == "KILL" then os.execute("kill -KILL " .. pid) end
  os.execute("(sleep 0.3; kill -" .. mode .. " " .. pid .. ") &")
  local t = os.time()
  while os.time() - t < 10 do end
  io.stderr:write("not stopped by SIG", mode, "\n")
end, { a = "in.tif" }, { out = arg[3] or "out.tif" }, nil,
  { window_xsize = 64, window_ysize = 64]] .. (controls or "") .. [[ })
]]
end

-- Every entry of dir (hidden ones too) with its bytes: what "nothing
-- changed" means.
local function snapshot(dir)
  local p = io.popen("cd " .. H.q(dir) .. " && find . -mindepth 1 | LC_ALL=C sort")
  local names = {}
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  local snap = {}
  for _, name in ipairs(names) do
    local f = io.open(dir .. "/" .. name, "rb")
    local bytes = f and f:read("*a")
    if f then f:close() end
    snap[name] = bytes or "(folder)"
  end
  return snap
end

local function same_snapshot(a, b)
  for name, bytes in pairs(a) do
    assert.is_true(b[name] ~= nil, name .. " is gone")
    assert.is_true(b[name] == bytes, name .. " changed")
  end
  for name in pairs(b) do
    assert.is_true(a[name] ~= nil, "new entry " .. name)
  end
end

local function partial_folders(dir)
  local found = {}
  for name in pairs(snapshot(dir)) do
    if name:match("rios%-partial") then found[#found + 1] = name end
  end
  return found
end

-- Run job.lua (or opts.script) in dir with args; opts.flags: rios-lua's
-- options; opts.prefix: shell commands first. Returns the exit status,
-- stdout and stderr. A run that hangs is killed after 60 s. The shell that
-- reports a process ended by a signal ("Terminated") says so into
-- /dev/null, not into the run's stderr or the spec runner's.
local function run(dir, args, opts)
  opts = opts or {}
  local t = H.tmpdir()
  os.execute("( (cd " .. H.q(dir) .. " && " .. (opts.prefix or "") .. "exec timeout -s KILL 60 "
             .. H.q(H.exe) .. " " .. (opts.flags or "") .. " " .. (opts.script or "job.lua")
             .. " " .. args .. ") >" .. t .. "/out 2>" .. t .. "/err; echo $? >" .. t
             .. "/status ) 2>/dev/null")
  local function slurp(name)
    local f = assert(io.open(t .. "/" .. name))
    local s = f:read("*a")
    f:close()
    return s
  end
  return tonumber(slurp("status")), slurp("out"), slurp("err")
end

-- One line on stderr.
local function one_line(err)
  assert.are.equal(1, select(2, err:gsub("\n", "")), "not one line: " .. err)
end

local function am_root()
  local p = io.popen("id -u")
  local id = p:read("*l")
  p:close()
  return id == "0"
end

describe("atomic outputs", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    H.make_raster(dir .. "/in.tif", "uint16", 1, ROWS, COLS, function(_, r, c) return r + c end)
    local f = assert(io.open(dir .. "/job.lua", "w"))
    f:write(script())
    f:close()
  end)
  after_each(H.cleanup)

  -- An existing output (and its .aux.xml) from a successful run.
  local function existing()
    local status, _, err = run(dir, "1 ok")
    assert.are.equal(0, status, err)
    local snap = snapshot(dir)
    assert.truthy(snap["./out.tif"])
    assert.truthy(snap["./out.tif.aux.xml"])
    return snap
  end

  for _, flags in ipairs({ "", "-j 2" }) do
    local how = flags == "" and "sequential" or "with compute threads (" .. flags .. ")"

    it("are left as they were by an error in a later block, " .. how, function()
      local before = existing()
      local status, _, err = run(dir, "2 error", { flags = flags })
      assert.are.equal(1, status)
      assert.truthy(err:find("failing in a later block", 1, true), err)
      same_snapshot(before, snapshot(dir))
    end)

    it("are left as they were by os.exit mid-run, " .. how, function()
      local before = existing()
      local status = run(dir, "2 exit", { flags = flags })
      assert.are.equal(3, status)
      same_snapshot(before, snapshot(dir))
    end)

    for _, sig in ipairs({ { "INT", 2, "SIGINT %(Ctrl%-C%)" }, { "TERM", 15, "SIGTERM" },
                           { "HUP", 1, "SIGHUP" } }) do
      it("are left as they were by SIG" .. sig[1] .. " mid-run, " .. how, function()
        local before = existing()
        local status, out, err = run(dir, "2 " .. sig[1], { flags = flags })
        assert.are.equal(128 + sig[2], status, err)
        assert.are.equal("", out)
        -- one line: what stopped the run, and that nothing was replaced
        assert.truthy(err:match("^rios%-lua: stopped by " .. sig[3] .. " at block %(row %d+, "
                                .. "col %d+%), %d+ of %d+ blocks written; the unfinished run's "
                                .. "outputs were not written, existing files are unchanged\n$"),
                      err)
        same_snapshot(before, snapshot(dir))
      end)
    end

    it("are replaced by a run that succeeds, " .. how, function()
      local before = existing()
      local status, _, err = run(dir, "5 ok", { flags = flags })
      assert.are.equal(0, status, err)
      local after = snapshot(dir)
      assert.are_not.equal(before["./out.tif"], after["./out.tif"])
      assert.are_not.equal(before["./out.tif.aux.xml"], after["./out.tif.aux.xml"])
      assert.are.same({}, partial_folders(dir))
      local a = H.read(dir .. "/out.tif")
      assert.are.equal(5 + 7 + 9, a.data[7 * COLS + 9])
    end)

    it("survive a full disk: one line naming the output, the old file intact, " .. how,
       function()
      -- The output is 240 kB uncompressed; the disk (or the file-size
      -- limit) holds 100 kB.
      local disk = dir .. "/disk"
      os.execute("mkdir " .. H.q(disk))
      local f = assert(io.open(dir .. "/plain.lua", "w"))
      f:write(script(", creation_options = { 'TILED=YES' }"))
      f:close()
      local root = am_root()
      local prefix = ""
      if root then
        assert.are.equal(0, (H.run("mount -t tmpfs -o size=100k tmpfs " .. H.q(disk))))
      else
        prefix = "ulimit -f 200 && "
      end
      local ok, e = pcall(function()
        H.make_raster(disk .. "/out.tif", "uint8", 1, 10, 10, function() return 9 end)
        local before = snapshot(disk)
        local status, _, err = run(dir, "2 ok disk/out.tif",
                                   { flags = flags, prefix = prefix, script = "plain.lua" })
        assert.are.equal(1, status, err)
        one_line(err)
        assert.truthy(err:match("^plain%.lua:3: output 'out': disk/out%.tif: "), err)
        assert.truthy(err:find(root and "No space left on device" or "File too large", 1, true),
                      err)
        assert.is_nil(err:find("rios-partial", 1, true), err)
        same_snapshot(before, snapshot(disk))
      end)
      if root then os.execute("umount " .. H.q(disk)) end
      assert(ok, e)
    end)
  end

  it("are left as they were by a creation option GDAL rejects", function()
    local before = existing()
    local f = assert(io.open(dir .. "/job.lua", "w"))
    f:write(script(", creation_options = { 'TILED=YES', 'PREDICTOR=9' }"))
    f:close()
    before["./job.lua"] = nil
    local status, _, err = run(dir, "2 ok")
    assert.are.equal(1, status)
    one_line(err)
    assert.truthy(err:find("output 'out': out.tif: cannot create with driver GTiff: out.tif: "
                           .. "PREDICTOR=9 is not supported", 1, true), err)
    local after = snapshot(dir)
    after["./job.lua"] = nil
    same_snapshot(before, after)
  end)

  it("are all left as they were when a run with two outputs fails", function()
    local f = assert(io.open(dir .. "/job.lua", "w"))
    f:write((script():gsub('outputs.out = o', 'outputs.out, outputs.second = o, o')
                     :gsub('{ out = arg%[3%] or "out.tif" }',
                           '{ out = "out.tif", second = "second.img" }')))
    f:close()
    local status, _, err = run(dir, "1 ok")
    assert.are.equal(0, status, err)
    local before = snapshot(dir)
    assert.truthy(before["./second.img"])
    status = run(dir, "2 error")
    assert.are.equal(1, status)
    same_snapshot(before, snapshot(dir))
    status, _, err = run(dir, "2 ok")
    assert.are.equal(0, status, err)
    assert.are_not.equal(before["./second.img"], snapshot(dir)["./second.img"])
    assert.are.same({}, partial_folders(dir))
  end)

  it("written by rios.write are left as they were when it fails, replaced when it succeeds",
     function()
    local before = existing()
    local f = assert(io.open(dir .. "/write.lua", "w"))
    f:write([[
local rios = require("rios")
local a = rios.array("uint8", 1, 50, 60)
rios.write("out.tif", a, { creation_options = { arg[1] } })
]])
    f:close()
    before["./write.lua"] = nil
    local status, _, err = run(dir, "PREDICTOR=9", { script = "write.lua" })
    assert.are.equal(1, status)
    assert.truthy(err:find("out.tif: cannot create with driver GTiff: out.tif: PREDICTOR=9 is "
                           .. "not supported", 1, true), err)
    local after = snapshot(dir)
    after["./write.lua"] = nil
    same_snapshot(before, after)
    status, _, err = run(dir, "TILED=YES", { script = "write.lua" })
    assert.are.equal(0, status, err)
    assert.are.equal(60, H.gdalinfo(dir .. "/out.tif").size[1])
    -- the old statistics went with the old file
    assert.is_nil(snapshot(dir)["./out.tif.aux.xml"])
    assert.are.same({}, partial_folders(dir))
  end)

  it("leave a folder that says what it is after SIGKILL, which the next run removes", function()
    local before = existing()
    local status = run(dir, "2 KILL")
    assert.are.equal(137, status)
    local left = partial_folders(dir)
    assert.is_true(#left >= 1)
    assert.truthy(left[1]:match("^%./%.out%.tif%.rios%-partial%-.+%-%d+%-%w%w%w%w%w%w"), left[1])
    assert.are.equal(before["./out.tif"], snapshot(dir)["./out.tif"])
    status = run(dir, "2 ok")
    assert.are.equal(0, status)
    assert.are.same({}, partial_folders(dir))
  end)

  it("leave alone the folder of a run that is still going", function()
    local p = io.popen("hostname; sh -c 'echo $$'; echo $PPID")
    local host, dead, live = p:read("*l"), p:read("*l"), p:read("*l")
    p:close()
    local mine = ".out.tif.rios-partial-" .. host .. "-" .. live .. "-AbCdEf"
    local gone = ".out.tif.rios-partial-" .. host .. "-" .. dead .. "-GhIjKl"
    local other = ".out.tif.rios-partial-otherhost-" .. dead .. "-MnOpQr"
    for _, d in ipairs({ mine, gone, other }) do
      os.execute("mkdir " .. H.q(dir .. "/" .. d) .. " && touch " .. H.q(dir .. "/" .. d .. "/out.tif"))
    end
    local status, _, err = run(dir, "1 ok")
    assert.are.equal(0, status, err)
    local snap = snapshot(dir)
    assert.truthy(snap["./" .. mine], "the folder of a live process was removed")
    assert.truthy(snap["./" .. other], "the folder of another host's process was removed")
    assert.is_nil(snap["./" .. gone], "the folder of a process that is gone was kept")
  end)
end)

describe("output paths", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    H.make_raster(dir .. "/in.tif", "uint16", 1, 20, 30, function(_, r, c) return r + c end)
    H.make_raster(dir .. "/old.tif", "uint8", 1, 20, 30, function() return 4 end)
  end)
  after_each(H.cleanup)

  -- Run rios.apply with outfiles (Lua text); it must refuse in one line
  -- holding every piece of want, exit 1, and change nothing. (The block
  -- function sets nothing: a run that got that far fails differently.)
  local function refused(outfiles, want)
    local f = assert(io.open(dir .. "/paths.lua", "w"))
    f:write([[
local rios = require("rios")
rios.apply(function() end, { a = "in.tif" }, ]] .. outfiles .. ")\n")
    f:close()
    local before = snapshot(dir)
    local status, _, err = H.run("cd " .. H.q(dir) .. " && " .. H.q(H.exe) .. " paths.lua")
    assert.are.equal(1, status, err)
    one_line(err)
    assert.truthy(err:match("^paths%.lua:2: rios%.apply: "), err)
    for _, piece in ipairs(want) do
      assert.truthy(err:find(piece, 1, true), "expected '" .. piece .. "' in: " .. err)
    end
    same_snapshot(before, snapshot(dir))
  end

  it("refuses an output that is an input, however spelled", function()
    refused('{ o = "./in.tif" }', { "output 'o' (./in.tif) is the same file as input 'a' (in.tif)" })
    refused('{ o = "' .. dir .. '/in.tif" }',
            { "output 'o' (" .. dir .. "/in.tif) is the same file as input 'a' (in.tif)" })
    os.execute("ln -s in.tif " .. H.q(dir .. "/link.tif"))
    refused('{ o = "link.tif" }', { "output 'o' (link.tif) is the same file as input 'a' (in.tif)" })
  end)

  it("refuses two outputs that are the same file", function()
    refused('{ x = "old.tif", y = "./old.tif" }',
            { "outputs 'x' (old.tif) and 'y' (./old.tif) are the same file" })
    local sub = dir .. "/sub"
    os.execute("mkdir " .. H.q(sub))
    refused('{ x = "new.tif", y = "sub/../new.tif" }',
            { "outputs 'x' (new.tif) and 'y' (sub/../new.tif) are the same file" })
    refused('{ o = { "a.tif", "b.tif", "./a.tif" } }',
            { "outputs 'o[1]' (a.tif) and 'o[3]' (./a.tif) are the same file" })
  end)

  it("refuses a folder, a folder of shapefiles and a vector dataset", function()
    os.execute("mkdir " .. H.q(dir .. "/empty"))
    refused('{ o = "empty" }', { "output 'o' (empty) is a folder; an output must be a file" })
    local f = assert(io.open(dir .. "/p.geojson", "w"))
    f:write('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"v":1},'
            .. '"geometry":{"type":"Point","coordinates":[500100,5999900]}}]}')
    f:close()
    os.execute("mkdir " .. H.q(dir .. "/shapes"))
    assert.are.equal(0, (H.run("ogr2ogr -f 'ESRI Shapefile' " .. H.q(dir .. "/shapes") .. " "
                               .. H.q(dir .. "/p.geojson"))))
    refused('{ o = "shapes" }', { "output 'o' (shapes) is a folder (GDAL opens it as a vector "
                                  .. "dataset, driver ESRI Shapefile); an output must be a file" })
    refused('{ o = "shapes/p.shp" }', { "output 'o' (shapes/p.shp) is a vector dataset (ESRI "
                                        .. "Shapefile), not a raster; rios-lua replaces only rasters" })
    refused('{ o = "p.geojson" }', { "output 'o' (p.geojson) is a vector dataset (GeoJSON)" })
  end)

  it("refuses a file that is not a raster, and replaces an empty one", function()
    local f = assert(io.open(dir .. "/notes.txt", "w"))
    f:write("my notes\n")
    f:close()
    refused('{ o = "notes.txt" }', { "output 'o' (notes.txt) exists and is not a raster GDAL can "
                                     .. "open; rios-lua replaces only rasters" })
    f = assert(io.open(dir .. "/empty.tif", "w"))
    f:close()
    local status, _, err = H.run_script(dir, "empty.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.o = inputs.a end, { a = "in.tif" }, { o = "empty.tif" })
]])
    assert.are.equal(0, status, err)
    assert.are.equal(30, H.gdalinfo(dir .. "/empty.tif").size[1])
  end)

  it("refuses a folder that does not exist, is a file, or cannot be written", function()
    refused('{ o = "nosuch/o.tif" }',
            { "output 'o' (nosuch/o.tif) cannot be written: its folder nosuch: No such file or "
              .. "directory" })
    refused('{ o = "in.tif/o.tif" }',
            { "output 'o' (in.tif/o.tif) cannot be written: its folder in.tif: Not a directory" })
    local ro = dir .. "/ro"
    os.execute("mkdir " .. H.q(ro))
    local root = am_root()
    if root then
      assert.are.equal(0, (H.run("mount -t tmpfs -o ro tmpfs " .. H.q(ro))))
    else
      os.execute("chmod 555 " .. H.q(ro))
    end
    local ok, e = pcall(refused, '{ o = "ro/o.tif" }',
                        { "output 'o' (ro/o.tif) cannot be written: its folder ro: "
                          .. (root and "Read-only file system" or "Permission denied") })
    if root then os.execute("umount " .. H.q(ro)) else os.execute("chmod 755 " .. H.q(ro)) end
    assert(ok, e)
  end)

  it("replaces an existing raster and the sidecars it no longer has", function()
    assert.are.equal(0, (H.run("gdaladdo -q -ro " .. H.q(dir .. "/old.tif") .. " 2")))
    local status, _, err = H.run_script(dir, "replace.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.o = inputs.a end, { a = "in.tif" }, { o = "old.tif" },
  nil, { omit_pyramids = true })
]])
    assert.are.equal(0, status, err)
    local snap = snapshot(dir)
    assert.is_nil(snap["./old.tif.ovr"], "the old external overviews were kept")
    assert.truthy(snap["./old.tif.aux.xml"])
    assert.are.equal("UInt16", H.gdalinfo(dir .. "/old.tif").bands[1].type)
    assert.are.same({}, partial_folders(dir))
  end)
end)
