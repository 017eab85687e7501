-- The progress line of rios.apply: on a terminal's stderr (a real
-- pseudo-terminal made by script(1)), not when stderr is a file, not with -q
-- or controls.progress = false.
local H = require("support.helpers")
local progress = require("rios.progress")

-- 64 blocks of 8 x 8, each taking about 10 ms, so the run lasts long enough
-- for the line to be drawn more than once.
local SCRIPT = [[
local rios = require("rios")
local controls = { window_xsize = 8, window_ysize = 8 }
if arg[3] == "off" then controls.progress = false end
if arg[3] == "on" then controls.progress = true end
rios.apply(function(info, i, o)
  local t0 = os.clock()
  while os.clock() - t0 < 0.01 do end
  o.out = i.a
end, { a = arg[1] }, { out = arg[2] }, nil, controls)
print("done")
]]

describe("progress line", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    H.make_raster(dir .. "/in.tif", "uint8", 1, 64, 64, function(_, r, c) return (r + c) % 256 end)
    local f = assert(io.open(dir .. "/p.lua", "w"))
    f:write(SCRIPT)
    f:close()
  end)
  after_each(function() H.cleanup() end)

  -- Run the script in a pseudo-terminal; returns its status and everything
  -- the terminal received (stdout and stderr, as bytes).
  local function in_terminal(opts, mode)
    local log = dir .. "/typescript"
    local cmd = "cd " .. H.q(dir) .. " && " .. H.q(H.exe) .. " " .. (opts or "")
                .. " p.lua in.tif out.tif " .. (mode or "")
    local status = H.run("script -qfec " .. H.q(cmd) .. " " .. H.q(log) .. " </dev/null")
    local f = assert(io.open(log, "rb"))
    local s = f:read("*a")
    f:close()
    return status, s
  end

  it("is drawn on a terminal and cleared at the end", function()
    local now = require("rios.base").C.rios_ffi_now
    local t0 = now()
    local status, s = in_terminal()
    local wall = now() - t0
    assert.are.equal(0, status, s)
    local draws = {}
    for pct, done in s:gmatch("\rrios%.apply +(%d+)%%  (%d+)/64 blocks  %d+:%d%d elapsed  ") do
      draws[#draws + 1] = { tonumber(pct), tonumber(done) }
    end
    assert.truthy(#draws >= 2, "expected the line to be redrawn: " .. s)
    for i, d in ipairs(draws) do
      assert.are.equal(math.floor(100 * d[2] / 64), d[1])
      if i > 1 then assert.truthy(d[2] > draws[i - 1][2]) end
    end
    -- at most four draws a second (and the first one)
    assert.truthy(#draws <= wall / 0.25 + 1, #draws .. " draws in " .. wall .. " s")
    -- the last thing on stderr before "done" is the line being blanked out
    local last = s:match(".*(\r +\r)done")
    assert.truthy(last, "the line was not cleared: " .. s)
  end)

  it("is not drawn when stderr is a file", function()
    local status, out, err = H.run("cd " .. H.q(dir) .. " && " .. H.q(H.exe)
                                   .. " p.lua in.tif out.tif 2>err.txt; cat err.txt")
    assert.are.equal(0, status, err)
    assert.are.equal("done\n", out)
  end)

  it("is not drawn with -q or controls.progress = false", function()
    local status, s = in_terminal("-q")
    assert.are.equal(0, status)
    assert.is_nil(s:find("blocks", 1, true), s)
    status, s = in_terminal(nil, "off")
    assert.are.equal(0, status)
    assert.is_nil(s:find("blocks", 1, true), s)
  end)

  it("is drawn to a file when controls.progress = true, but not under -q", function()
    local status, out = H.run("cd " .. H.q(dir) .. " && " .. H.q(H.exe)
                              .. " p.lua in.tif out.tif on 2>&1 >/dev/null")
    assert.are.equal(0, status)
    assert.truthy(out:find("/64 blocks", 1, true), out)
    status, out = H.run("cd " .. H.q(dir) .. " && " .. H.q(H.exe)
                        .. " -q p.lua in.tif out.tif on 2>&1 >/dev/null")
    assert.are.equal(0, status)
    assert.are.equal("", out)
  end)

  it("estimates the time left from the time per block so far", function()
    assert.are.equal("rios.apply  42%  21/50 blocks  0:03 elapsed  0:04 left",
                     progress.line(21, 50, 3.0))
    assert.are.equal("rios.apply   0%  0/50 blocks  0:00 elapsed  ? left", progress.line(0, 50, 0))
    assert.are.equal("rios.apply  50%  1/2 blocks  1:05:00 elapsed  1:05:00 left",
                     progress.line(1, 2, 3900))
  end)
end)
