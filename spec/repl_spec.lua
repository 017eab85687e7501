-- The interactive prompt, driven through a real pseudo-terminal (tmux) as a
-- person types at it.
local H = require("support.helpers")
local Tmux = require("support.tmux")

describe("rios-lua prompt", function()
  local dir, t
  before_each(function()
    dir = H.tmpdir()
  end)
  after_each(function()
    if t then t:kill() end
    t = nil
    H.cleanup()
  end)

  local function start(args)
    t = Tmux.start(H.q(H.exe) .. (args and (" " .. args) or ""), { HOME = dir })
    t:wait_text("rios is loaded")
    t:wait_line(">")
    return t
  end

  it("prints the value of an expression typed alone, and of =expr", function()
    start()
    t:send("6 * 7", "Enter")
    t:wait_line("42")
    t:send("=rios.version .. '!'", "Enter")
    t:wait_line(require("rios").version .. "!")
    t:send("{ a = 1, b = { 2, 3 } }", "Enter")
    t:wait_line("{ a = 1, b = { 2, 3 } }")
  end)

  it("continues an incomplete for loop on the next line", function()
    start()
    t:send("for i = 1, 3 do", "Enter")
    t:wait_line(">>")
    t:send("io.write(i * 10, ' ') end print()", "Enter")
    local screen = t:wait_line("10 20 30")
    assert.are.equal(1, Tmux.count_lines(screen, "10 20 30"))
    -- and the prompt is back to the first-line one
    t:send("'after'", "Enter")
    t:wait_line("after")
  end)

  it("recalls the previous line with Up, and keeps history across sessions", function()
    start()
    t:send("print('recall' .. 1)", "Enter")
    t:wait_line("recall1")
    t:send("Up")
    t:wait_line("> print('recall' .. 1)", 2)
    t:send("Enter")
    t:wait_line("recall1", 2)
    t:send("C-d")
    t:wait(function() return not t:alive() end, "rios-lua to leave on Ctrl-D")
    local f = assert(io.open(dir .. "/.rios_lua_history"))
    local hist = f:read("*a")
    f:close()
    assert.truthy(hist:find("print('recall' .. 1)", 1, true), hist)
    t:kill()
    -- a new session finds the line in ~/.rios_lua_history
    start()
    t:send("Up", "Enter")
    t:wait_line("recall1")
  end)

  it("completes rios.ap to rios.apply with Tab, and methods after ':'", function()
    start()
    t:send("rios.ap", "Tab")
    t:wait_line("> rios.apply")
    t:send("Enter")
    t:wait(function(s) return s:match("\nfunction: 0x%x+") ~= nil end, "the function's value")
    t:send("s = 'abc'", "Enter")
    t:send("s:upp", "Tab")
    t:wait_line("> s:upper")
    t:send("()", "Enter")
    t:wait_line("ABC")
  end)

  it("completes file names inside a string", function()
    H.make_raster(dir .. "/only-one.tif", "uint8", 1, 4, 4, function() return 7 end)
    start()
    t:send("r = rios.open('" .. dir .. "/on", "Tab")
    t:wait_line("> r = rios.open('" .. dir .. "/only-one.tif'")
    t:send(")", "Enter")
    t:send("r.cols", "Enter")
    t:wait_line("4")
  end)

  it("stops a long loop on Ctrl-C and gives the prompt back", function()
    start()
    t:send("n = 0 print('looping') for i = 1, 1e13 do n = n + 1 end", "Enter")
    t:wait_line("looping")
    Tmux.sleep(0.2)
    t:send("C-c")
    t:wait_text("interrupted!")
    t:send("n > 0", "Enter")
    t:wait_line("true")
    assert.truthy(t:alive())
  end)

  it("ends on a second Ctrl-C when a compiled function cannot see the first", function()
    -- the documented limit: a function defined at the prompt is compiled, and
    -- a compiled endless loop never reaches the hook the first Ctrl-C arms
    t = Tmux.start(H.q(H.exe) .. "; echo exit=$?; sleep 30", { HOME = dir })
    t:wait_text("rios is loaded")
    t:send("function spin() print('spinning') local x = 0 while true do x = x + 1 end end",
           "Enter")
    t:send("spin()", "Enter")
    t:wait_line("spinning")
    Tmux.sleep(0.3)
    t:send("C-c")
    Tmux.sleep(0.5)
    t:send("C-c")
    t:wait_text("rios-lua: interrupted twice")
    t:wait_line("exit=130")
  end)

  it("drops a half-typed line on Ctrl-C", function()
    start()
    t:send("print('never", "C-c")
    t:wait_text("^C")
    t:send("print('ok')", "Enter")
    -- had the dropped text stayed, the line would not compile
    local screen = t:wait_line("ok")
    assert.is_nil(screen:find("stdin:1:", 1, true), screen)
  end)

  it("stops rios.apply with a compiled block function on Ctrl-C", function()
    local path = dir .. "/in.tif"
    H.make_raster(path, "uint8", 1, 64, 64, function(_, r, c) return r + c end)
    start()
    t:send("function slow(info, i, o) local x = 0 for k = 1, 3e7 do x = x + k end "
           .. "o.out = i.a end", "Enter")
    t:send("res = rios.apply(slow, {a = '" .. path .. "'}, {out = '" .. dir .. "/out.tif'}, "
           .. "nil, {window_xsize = 8, window_ysize = 8})", "Enter")
    -- the progress line shows the run is under way
    t:wait_text("/64 blocks")
    t:send("C-c")
    t:wait_text("interrupted")
    t:send("res == nil", "Enter")
    t:wait_line("true")
  end)

  it("opens a raster and shows its summary, and an array's", function()
    local path = dir .. "/img.tif"
    H.make_raster(path, "int16", 2, 30, 40, function(b, r, c) return b * 100 + r + c end,
                  { nodata = -1 })
    start()
    t:send("r = rios.open('" .. path .. "')", "Enter")
    t:send("r", "Enter")
    local screen = t:wait_text("projection:")
    assert.truthy(screen:find(path .. " (GTiff)", 1, true), screen)
    assert.truthy(screen:find("40 cols x 30 rows, 2 bands of int16", 1, true), screen)
    assert.truthy(screen:find("WGS 84 / UTM zone 55S (EPSG:32755)", 1, true), screen)
    assert.truthy(screen:find("origin (500000, 6000000), pixel size 10 x -10", 1, true), screen)
    assert.truthy(screen:find("band 1: nodata -1;", 1, true), screen)
    t:send("r:read{band = 2}", "Enter")
    -- band 2 holds 100 + r + c: min 100, max 100 + 29 + 39, mean 100 + 14.5 + 19.5
    t:wait_line("  band 1: min 100  max 168  mean 134")
    t:wait_line("rios.array int16, 1 band x 30 rows x 40 cols")
  end)

  it("reads lines without a terminal with -i, after the script", function()
    local script = dir .. "/s.lua"
    local f = assert(io.open(script, "w"))
    f:write("x = 20\n")
    f:close()
    local status, out = H.run("printf 'x + 22\\nfor i=1,2 do\\nprint(i) end\\n' | " .. H.q(H.exe)
                              .. " -i " .. H.q(script))
    assert.are.equal(0, status)
    assert.are.equal("> 42\n> >> 1\n2\n> \n", out)
  end)
end)
