-- Temporary files: one private folder under controls.tempdir, gone after a
-- normal run, after an error in the block function, and after SIGTERM or
-- SIGINT in the middle of a run.
local H = require("support.helpers")

local SCRIPT = [[
local rios = require("rios")
local mode = arg[1]
rios.apply(function(info, i, o)
  if not info:is_first_block() and mode ~= "ok" then
    local p = io.popen("ls tmp")
    io.write("during: ", p:read("*a"))
    p:close()
    io.stdout:flush()
    if mode == "error" then error("boom in the block function") end
    local f = io.open("/proc/self/stat")
    local pid = f:read("*l"):match("^(%d+)")
    f:close()
    -- From a background shell, so the signal arrives while Lua is running.
    os.execute("(sleep 0.2; kill -" .. mode .. " " .. pid .. ") &")
    local t = os.time()
    while os.time() - t < 10 do end
    print("not killed")
  end
  o.out = i.v
end, { ref = "ref.tif", v = "shapes.geojson" }, { out = "out.tif" }, nil,
  { reference_image = "ref", tempdir = "tmp", window_xsize = 16, window_ysize = 16 })
print("finished")
]]

describe("temporary files", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    H.make_raster(dir .. "/ref.tif", "uint8", 1, 40, 50, function() return 1 end,
                  { transform = { 500000, 30, 0, 6000000, 0, -30 } })
    local f = assert(io.open(dir .. "/shapes.geojson", "w"))
    f:write('{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":'
            .. '"urn:ogc:def:crs:EPSG::32755"}},"features":[{"type":"Feature","properties":{},'
            .. '"geometry":{"type":"Polygon","coordinates":[[[500100,5999900],[500600,5999800],'
            .. '[500300,5999400],[500100,5999900]]]}}]}')
    f:close()
    os.execute("mkdir " .. dir .. "/tmp")
  end)
  after_each(function() H.cleanup() end)

  local function leftovers()
    local p = io.popen("ls -A " .. dir .. "/tmp")
    local s = p:read("*a")
    p:close()
    return s
  end

  it("are gone after a normal run", function()
    local status, out, err = H.run_script(dir, "run.lua", SCRIPT, { "ok" })
    assert.are.equal(0, status, err)
    assert.are.equal("finished\n", out)
    assert.are.equal("", leftovers())
  end)

  it("are gone after an error in the block function", function()
    local status, out, err = H.run_script(dir, "run.lua", SCRIPT, { "error" })
    assert.are.equal(1, status)
    assert.truthy(out:match("^during: rios%-lua%-%w+\n$"), out)
    assert.truthy(err:match("boom in the block function"), err)
    assert.are.equal("", leftovers())
  end)

  for _, sig in ipairs({ { "TERM", 15 }, { "INT", 2 } }) do
    it("are gone after SIG" .. sig[1] .. " mid-run, and the signal still ends the run", function()
      local f = assert(io.open(dir .. "/run.lua", "w"))
      f:write(SCRIPT)
      f:close()
      -- The shell that waits for rios-lua reports its status (and says
      -- "Terminated" into the captured stderr, not the spec runner's).
      local _, out = H.run("cd " .. H.q(dir) .. " && " .. H.q(H.exe) .. " run.lua " .. sig[1]
                           .. "; echo status=$?")
      assert.truthy(out:match("^during: rios%-lua%-%w+\nstatus=" .. (128 + sig[2]) .. "\n$"), out)
      assert.are.equal("", leftovers())
    end)
  end

  it("reports a tempdir it cannot use in one line", function()
    local status, _, err = H.run_script(dir, "bad.lua",
      SCRIPT:gsub('tempdir = "tmp"', 'tempdir = "nosuch/folder"'), { "ok" })
    assert.are.equal(1, status)
    assert.truthy(err:match("cannot make a temporary folder in tempdir "
                            .. "'nosuch/folder': No such file or directory\n$"), err)
    assert.is_nil(err:sub(1, -2):find("\n"), err)
  end)
end)
