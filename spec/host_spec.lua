-- The rios-lua command: running scripts, -e, -v, -h, arg, and errors.
local H = require("support.helpers")

describe("rios-lua command", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  it("runs a script with arg set as luajit sets it", function()
    local status, out = H.run_script(dir, "args.lua",
      "print(arg[0], arg[1], arg[2], #arg, select('#', ...), ...)\n", { "one", "two" })
    assert.are.equal(0, status)
    assert.are.equal("args.lua\tone\ttwo\t2\t2\tone\ttwo\n", out)
  end)

  it("puts the interpreter at arg[-1]", function()
    local status, out = H.run_script(dir, "a.lua", "print(arg[-1])\n")
    assert.are.equal(0, status)
    assert.are.equal(H.exe .. "\n", out)
  end)

  it("runs -e chunks before the script", function()
    local status, out = H.run(H.q(H.exe) .. " -e 'x = 41' -e 'print(x + 1)'")
    assert.are.equal(0, status)
    assert.are.equal("42\n", out)
  end)

  it("prints its version and help", function()
    local status, out = H.run(H.q(H.exe) .. " -v")
    assert.are.equal(0, status)
    assert.truthy(out:match("^rios%-lua %d+%.%d+%.%d+ %(LuaJIT 2%.1"))
    status, out = H.run(H.q(H.exe) .. " --help")
    assert.are.equal(0, status)
    assert.truthy(out:match("usage: rios%-lua"))
  end)

  it("reads a script from standard input when it is not a terminal", function()
    local status, out = H.run("echo 'print(6 * 7)' | " .. H.q(H.exe))
    assert.are.equal(0, status)
    assert.are.equal("42\n", out)
  end)

  it("reports a missing script in one line and exits 1", function()
    local status, out, err = H.run(H.q(H.exe) .. " " .. dir .. "/nosuch.lua")
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.are.equal("rios-lua: cannot open script " .. dir .. "/nosuch.lua: No such file or "
                     .. "directory\n", err)
  end)

  it("reports a folder given as the script in one line and exits 1", function()
    local status, out, err = H.run(H.q(H.exe) .. " " .. dir)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.are.equal("rios-lua: cannot read script " .. dir .. ": Is a directory\n", err)
  end)

  it("reports a syntax error as script.lua:LINE: and exits 1", function()
    local status, _, err = H.run_script(dir, "bad.lua", "local x = 1\nlocal y = = 2\n")
    assert.are.equal(1, status)
    assert.truthy(err:match("^bad%.lua:2: unexpected symbol near '='"), err)
  end)

  it("reports a runtime error with its line and a traceback, and exits 1", function()
    local status, _, err = H.run_script(dir, "boom.lua",
      "local function f()\n  error('kaboom')\nend\nf()\n")
    assert.are.equal(1, status)
    assert.truthy(err:match("^boom%.lua:2: kaboom\nstack traceback:\n"), err)
    assert.truthy(err:match("boom%.lua:4: in main chunk"), err)
  end)

  it("refuses an unknown option in one line", function()
    local status, _, err = H.run(H.q(H.exe) .. " --frobnicate")
    assert.are.equal(1, status)
    assert.are.equal("rios-lua: unknown option '--frobnicate' (see rios-lua --help)\n", err)
  end)

  it("finds the rios modules after make install, with no environment variables", function()
    local prefix = dir .. "/prefix"
    local status, _, err = H.run("make -s install PREFIX=" .. H.q(prefix))
    assert.are.equal(0, status, err)
    status = H.run("cd / && env -i " .. H.q(prefix .. "/bin/rios-lua")
                   .. " -e 'assert(require(\"rios\").apply)'")
    assert.are.equal(0, status)
    -- compute threads need the workers/ modules, installed beside lua/
    H.make_raster(dir .. "/in.tif", "int16", 1, 40, 30, function(_, r, c) return r * 30 + c end)
    local script = dir .. "/twice.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
local rios = require("rios")
rios.apply(function(_, i, o) o.b = i.a:mul(2) end, { a = arg[1] .. "/in.tif" },
           { b = arg[1] .. "/out.tif" }, nil, { window_ysize = 8 })
print(rios.open(arg[1] .. "/out.tif"):stats(1).max, require("rios.base").host.root_dir)
]])
    f:close()
    local out
    status, out, err = H.run("cd / && env -i " .. H.q(prefix .. "/bin/rios-lua") .. " -j 2 "
                             .. H.q(script) .. " " .. H.q(dir))
    assert.are.equal(0, status, err)
    assert.are.equal("2398\t" .. prefix .. "/share/rios-lua\n", out)
  end)
end)
