-- Compute workers in their own processes (kind "subproc"): rios-luaworker
-- processes started by rios-lua, connected over the data channel. Every
-- run is a real rios-lua with real worker processes and sockets on real
-- GeoTIFFs; outputs are compared byte for byte with the sequential run.
local H = require("support.helpers")
local cases = require("support.cases")
local slurp, run, write = cases.slurp, cases.run, cases.write

-- The pids of rios-luaworker processes whose command line names dir (the
-- address file is in the run's temporary folder under it).
local function workers_under(dir)
  local pids = {}
  local p = io.popen("ls /proc")
  for pid in p:lines() do
    if pid:match("^%d+$") then
      local f = io.open("/proc/" .. pid .. "/cmdline", "rb")
      local cmd = f and f:read("*a") or ""
      if f then f:close() end
      if cmd:find("rios%-luaworker") and cmd:find(dir, 1, true) then pids[#pids + 1] = pid end
    end
  end
  p:close()
  return pids
end

local function temp_folders(dir)
  local n = 0
  local p = io.popen("ls -a " .. H.q(dir))
  for name in p:lines() do
    if name:match("^rios%-lua%-") then n = n + 1 end
  end
  p:close()
  return n
end

-- Start rios-lua in the background; returns its pid and the files its
-- output goes to.
local function start(dir, script, args)
  local argstr = ""
  for _, a in ipairs(args or {}) do argstr = argstr .. " " .. H.q(a) end
  local p = io.popen("cd " .. H.q(dir) .. " && { " .. H.q(H.exe) .. " " .. script .. argstr
                     .. " >out.txt 2>err.txt & echo $!; }")
  local pid = p:read("*l")
  p:close()
  return pid
end

-- Wait for pid to end (up to seconds); true when it did.
local function wait_gone(pid, seconds)
  local t0 = os.time()
  while os.time() - t0 <= seconds do
    if not io.open("/proc/" .. pid .. "/stat") then return true end
    local f = io.open("/proc/" .. pid .. "/stat")
    local st = f:read("*a")
    f:close()
    if st:match("^%d+ %b() Z") then return true end
    os.execute("sleep 0.1")
  end
  return false
end

-- The address file of the run going on in dir, once it is there.
local function address_file(dir)
  for _ = 1, 100 do
    local p = io.popen("ls " .. H.q(dir) .. "/rios-lua-*/channel-*.chnl 2>/dev/null")
    local path = p:read("*l")
    p:close()
    if path then return path end
    os.execute("sleep 0.05")
  end
end

-- A slow job: every block sleeps, so a run lasts long enough to interfere
-- with. Counts blocks and sums pixels in otherargs (merged), as the
-- sequential run does.
local slow_script = [[
local rios = require("rios")
local C = require("ffi").C
local kind, read, pause = arg[2], arg[3] == "read", tonumber(arg[4] or "0.02")
local acc = { n = 0, sum = 0 }
local marked = false
rios.apply(function(info, inputs, outputs, o)
  -- a worker says it is computing (so a spec signals a connected worker)
  if rios.is_worker() and not marked then
    marked = true
    local st = io.open("/proc/self/stat")
    local pid = st:read("*l"):match("^(%d+)")
    st:close()
    io.open("computing-" .. pid, "w"):close()
  end
  o.n = o.n + 1
  local a = inputs.a
  for i = 0, a.rows * a.cols - 1 do o.sum = o.sum + a.data[i] end
  C.rios_ffi_sleep(pause)
  outputs.o = a * 2
end, { a = "a.tif" }, { o = arg[1] }, acc,
  { window_xsize = 8, window_ysize = 8,
    merge_otherargs = function(into, from) into.n, into.sum = into.n + from.n, into.sum + from.sum end,
    concurrency = kind ~= "none" and { kind = kind, compute_workers = 2, read_workers = read and 0 or 1,
                                        compute_workers_read = read, extra = { lost_after = 2 } }
                  or nil })
print(acc.n, acc.sum)
]]

describe("kind subproc", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(H.cleanup)

  it("gives the sequential run's files and otherargs, read by the main process or by the workers", function()
    cases.make_matrix_inputs(dir)
    write(dir, "m.lua", cases.matrix_script)
    local status, seq_out, err = run(dir, "", "m.lua", { "f_s.tif", "s_s.tif", "d_s.tif" })
    assert.are.equal(0, status, err)
    local seq = cases.outputs_of(dir, "s")
    local _, _, blocks, pixels, sum = seq_out:match("^(%d+)\t(%S+)\t(%d+)\t(%d+)\t(%S+)")
    for _, how in ipairs({ { "", {} }, { "", { "subproc", "read" } },
                           { "--kind subproc -j 2", {} } }) do
      local tag = #how[2] > 0 and "r" or (how[1] ~= "" and "c" or "k")
      local args = { "f_" .. tag .. ".tif", "s_" .. tag .. ".tif", "d_" .. tag .. ".tif" }
      for _, a in ipairs(how[2]) do args[#args + 1] = a end
      if #how[2] == 0 and how[1] == "" then args[4] = "subproc" end
      local st, out, e = run(dir, how[1], "m.lua", args)
      assert.are.equal(0, st, tag .. ": " .. e)
      assert.are.equal("", e, tag)
      local got = cases.outputs_of(dir, tag)
      for k, bytes in pairs(seq) do
        assert.is_true(bytes == got[k], tag .. ": " .. k .. " differs from the sequential run")
      end
      local n, counts, gblocks, gpixels, gsum, seen = out:match(
        "^(%d+)\t(%S+)\t(%d+)\t(%d+)\t(%S+)\t(%d+)\n$")
      assert.truthy(n == "1" or n == "2", out)
      local total, busy = 0, 0
      for c in counts:gmatch("%d+") do
        total = total + tonumber(c)
        if c ~= "0" then busy = busy + 1 end
      end
      assert.are.equal(16, total, tag)
      assert.are.same({ blocks, pixels, sum }, { gblocks, gpixels, gsum })
      assert.are.equal(tostring(busy), seen, tag .. ": every copy that computed was a worker's")
    end
    assert.are.same({}, workers_under(dir))
  end)

  it("reads warped, band-selected and rasterized inputs in the workers as the main process does", function()
    cases.make_warped_inputs(dir)
    local status, _, err = run(dir, "", "warped.lua", { "seq.tif", "{}" })
    assert.are.equal(0, status, err)
    for _, how in ipairs({ "main", "read" }) do
      local out = "sub_" .. how .. ".tif"
      status, _, err = run(dir, "", "warped.lua", { out, string.format(
        "{ kind = 'subproc', compute_workers = 2, read_workers = %d, compute_workers_read = %s }",
        how == "read" and 2 or 1, tostring(how == "read")) })
      assert.are.equal(0, status, err)
      assert.is_true(slurp(dir .. "/seq.tif") == slurp(dir .. "/" .. out), out)
    end
  end)

  it("copies every dtype bit for bit through the channel", function()
    local dtypes = { "int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64" }
    local ins = {}
    for i, dt in ipairs(dtypes) do
      H.make_raster(dir .. "/" .. dt .. ".tif", dt, 2, 30, 41, function(b, r, c)
        local v = (b * 977 + r * 41 + c) * (i % 2 == 0 and 1 or -1)
        if dt:match("^float") then return v / 7 + 0.1 end
        if dt == "int8" then return v % 256 - 128 end
        if dt == "uint8" then return math.abs(v) % 256 end
        return dt:match("^u") and math.abs(v) or v
      end)
      ins[#ins + 1] = dt .. " = '" .. dt .. ".tif'"
    end
    write(dir, "d.lua", [[
local rios = require("rios")
local names = { "int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64" }
local outs = {}
for _, n in ipairs(names) do outs["o_" .. n] = arg[1] .. "_" .. n .. ".tif" end
rios.apply(function(info, inputs, outputs)
  for _, n in ipairs(names) do outputs["o_" .. n] = inputs[n] end
end, { ]] .. table.concat(ins, ", ") .. [[ }, outs, nil,
  { window_xsize = 16, window_ysize = 16,
    concurrency = arg[2] and { kind = "subproc", compute_workers = 2, read_workers = 1 } or nil })
]])
    local status, _, err = run(dir, "", "d.lua", { "seq" })
    assert.are.equal(0, status, err)
    status, _, err = run(dir, "", "d.lua", { "sub", "subproc" })
    assert.are.equal(0, status, err)
    for _, dt in ipairs(dtypes) do
      assert.is_true(slurp(dir .. "/seq_" .. dt .. ".tif") == slurp(dir .. "/sub_" .. dt .. ".tif"), dt)
      assert.are.equal(H.raw_bytes(dir .. "/" .. dt .. ".tif"), H.raw_bytes(dir .. "/sub_" .. dt .. ".tif"))
    end
  end)

  describe("an error in a worker", function()
    before_each(function()
      H.make_raster(dir .. "/a.tif", "uint8", 1, 40, 60, function() return 1 end)
      write(dir, "err.lua", [[
local rios = require("rios")
local which = arg[1]
rios.apply(function(info, inputs, outputs)
  local x, y = info:block_count()
  if (which == "first" and info:is_first_block()) or (which == "last" and info:is_last_block())
     or (which == "middle" and x == 1 and y == 1) then
    error("boom in block " .. x .. "," .. y)
  end
  outputs.o = inputs.a
end, { a = "a.tif" }, { o = "o.tif" }, nil,
  { window_xsize = 20, window_ysize = 20,
    concurrency = { read_workers = 1, compute_workers = 2, kind = "subproc",
                    compute_workers_read = arg[2] == "read" } })
print("not reached")
]])
    end)

    for _, case in ipairs({ { "first", "(row 0, col 0) [x=0 y=0 20x20]", "0,0" },
                            { "middle", "(row 1, col 1) [x=20 y=20 20x20]", "1,1" },
                            { "last", "(row 1, col 2) [x=40 y=20 20x20]", "2,1" } }) do
      for _, how in ipairs({ "main", "read" }) do
        it("in the " .. case[1] .. " block (" .. how .. " reads) names worker, pid, host, block and line", function()
          local t0 = H.now and H.now() or os.time()
          local status, out, err = run(dir, "", "err.lua", { case[1], how })
          assert.are.equal(1, status)
          assert.are.equal("", out)
          local head = "^err%.lua:3: rios%.apply failed: compute worker [12] %(pid %d+ on [^)]+%): "
                       .. "error in the block function in block " .. case[2]:gsub("%p", "%%%0") .. ":\n"
          assert.truthy(err:match(head), err)
          assert.truthy(err:find("\nerr.lua:7: boom in block " .. case[3], 1, true), err)
          assert.truthy(err:find("\nstack traceback:\n", 1, true), err)
          assert.truthy(err:find("err.lua:3: in main chunk", 1, true), err)
          local _ = t0
          assert.are.same({}, workers_under(dir))
          assert.are.equal(0, temp_folders(dir))
        end)
      end
    end
  end)

  -- Wait (up to 20 s: sanitizer builds start slowly) until worker process
  -- pid has connected and computes blocks (slow_script's mark).
  local function computing(dir, pid)
    for _ = 1, 400 do
      local f = io.open(dir .. "/computing-" .. pid)
      if f then f:close() return true end
      os.execute("sleep 0.05")
    end
    return false
  end

  describe("a lost worker", function()
    before_each(function()
      H.make_raster(dir .. "/a.tif", "int16", 1, 80, 96, function(_, r, c) return r * 3 - c end)
      write(dir, "slow.lua", slow_script)
    end)

    for _, how in ipairs({ "main", "read" }) do
      it("killed with SIGKILL mid-run: the run completes with the sequential files and otherargs (" .. how .. ")", function()
        local status, seq_out, err = run(dir, "", "slow.lua", { "seq.tif", "none" })
        assert.are.equal(0, status, err)
        local pid = start(dir, "slow.lua", { "sub.tif", "subproc", how })
        local victim
        for _ = 1, 100 do
          local w = workers_under(dir)
          if #w == 2 then victim = w[1] break end
          os.execute("sleep 0.05")
        end
        assert.truthy(victim, "no workers started")
        assert.is_true(computing(dir, victim))
        os.execute("sleep 0.2")
        os.execute("kill -9 " .. victim)
        assert.is_true(wait_gone(pid, 30))
        -- one line says which worker was lost and that the run went on
        local err = slurp(dir .. "/err.txt")
        -- (on a slow machine, a sanitizer build, it may not have connected yet)
        local tail = "[^\n]*; its blocks go to the other workers %(1 of 2 lost workers allowed by "
                     .. "controls%.concurrency%.max_worker_failures%)\n$"
        assert.truthy(err:match("^rios%-lua: worker %d+ %([^)]*pid " .. victim .. ", [^)]*%) lost: "
                                .. tail)
                      or err:match("^rios%-lua: compute worker process " .. victim .. " %([^)]*%) "
                                   .. "ended before it connected: signal 9" .. tail), err)
        assert.are.equal(seq_out, slurp(dir .. "/out.txt"))
        assert.is_true(slurp(dir .. "/seq.tif") == slurp(dir .. "/sub.tif"))
        assert.are.same({}, workers_under(dir))
      end)
    end

    it("every worker killed: the run fails within seconds naming them", function()
      local pid = start(dir, "slow.lua", { "sub.tif", "subproc", "main" })
      local w
      for _ = 1, 100 do
        w = workers_under(dir)
        if #w == 2 then break end
        os.execute("sleep 0.05")
      end
      assert.are.equal(2, #w)
      assert.is_true(computing(dir, w[1]) and computing(dir, w[2]))
      local t0 = os.time()
      os.execute("kill -9 " .. w[1] .. " " .. w[2])
      assert.is_true(wait_gone(pid, 10))
      assert.is_true(os.time() - t0 <= 5)
      -- (the first one lost may have been announced before the second was)
      local err = slurp(dir .. "/err.txt"):gsub("^rios%-lua: [^\n]*\n", "")
      -- (both lost, connected or not: on a slow machine one may be killed
      -- before it had connected)
      assert.truthy(err:match("^slow%.lua:6: rios%.apply failed: every compute worker was lost: "),
                    err)
      assert.truthy(err:find("pid " .. w[1], 1, true) or err:find("process " .. w[1], 1, true), err)
      assert.truthy(err:find("pid " .. w[2], 1, true) or err:find("process " .. w[2], 1, true), err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
      assert.are.equal(0, temp_folders(dir))
    end)

    it("stopped with SIGSTOP: missed heartbeats declare it lost and the others finish", function()
      local status, seq_out, err = run(dir, "", "slow.lua", { "seq.tif", "none" })
      assert.are.equal(0, status, err)
      local pid = start(dir, "slow.lua", { "sub.tif", "subproc", "main" })
      local victim
      for _ = 1, 100 do
        local w = workers_under(dir)
        if #w == 2 then victim = w[2] break end
        os.execute("sleep 0.05")
      end
      assert.truthy(victim)
      assert.is_true(computing(dir, victim))
      os.execute("kill -STOP " .. victim)
      assert.is_true(wait_gone(pid, 30))
      local err = slurp(dir .. "/err.txt")
      assert.truthy(err:match("^rios%-lua: worker %d+ %([^)]*pid " .. victim .. ", [^)]*%) lost: "
                              .. "[^\n]*; its blocks go to the other workers %(1 of 2 lost "
                              .. "workers allowed"), err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
      assert.are.equal(seq_out, slurp(dir .. "/out.txt"))
      assert.is_true(slurp(dir .. "/seq.tif") == slurp(dir .. "/sub.tif"))
      assert.are.same({}, workers_under(dir))
    end)
  end)

  for _, sig in ipairs({ "INT", "TERM" }) do
    it("SIG" .. sig .. " to rios-lua leaves no worker process and no temporary file", function()
      H.make_raster(dir .. "/a.tif", "int16", 1, 80, 96, function(_, r, c) return r * 3 - c end)
      write(dir, "slow.lua", slow_script)
      local pid = start(dir, "slow.lua", { "sub.tif", "subproc", "main", "0.1" })
      for _ = 1, 100 do
        if #workers_under(dir) == 2 then break end
        os.execute("sleep 0.05")
      end
      os.execute("sleep 0.3")
      os.execute("kill -" .. sig .. " " .. pid)
      assert.is_true(wait_gone(pid, 10))
      for _ = 1, 50 do
        if #workers_under(dir) == 0 then break end
        os.execute("sleep 0.1")
      end
      assert.are.same({}, workers_under(dir))
      assert.are.equal(0, temp_folders(dir))
    end)
  end

  it("drops a connection with a wrong key, garbage or another version, and the run goes on", function()
    H.make_raster(dir .. "/a.tif", "int16", 1, 80, 96, function(_, r, c) return r * 3 - c end)
    write(dir, "slow.lua", slow_script)
    local status, seq_out, err = run(dir, "", "slow.lua", { "seq.tif", "none" })
    assert.are.equal(0, status, err)
    local pid = start(dir, "slow.lua", { "sub.tif", "subproc", "main", "0.06" })
    local addr = address_file(dir)
    assert.truthy(addr, "no address file")
    local client = H.root .. "/spec/support/channel_client.lua"
    -- a worker with a wrong key
    local st, _, e = H.run("RIOS_CHANNEL_KEY=" .. string.rep("ab", 32) .. " " .. H.q(H.exe) .. " "
                           .. H.q(client) .. " " .. H.q(addr) .. " echo")
    assert.are.equal(2, st)
    assert.truthy(e:find("client: ", 1, true), e)
    -- garbage bytes
    local raw = require("support.rawchan")
    local a = io.open(addr):read("*a")
    local port = tonumber(a:match("\nport (%d+)\n"))
    assert.truthy(port, a)
    local fd = raw.connect(port)
    raw.send(fd, string.rep("\255garbage", 40))
    assert.is_true(raw.closed(fd, 5))
    raw.close(fd)
    -- a worker of another version, with the right key
    st, _, e = H.run(H.q(H.exe) .. " " .. H.q(client) .. " " .. H.q(addr) .. " version")
    assert.are.equal(2, st)
    assert.truthy(e:find("9.9.9", 1, true) and e:find("0.1.0", 1, true), e)
    assert.is_true(wait_gone(pid, 30))
    assert.are.equal(seq_out, slurp(dir .. "/out.txt"))
    assert.is_true(slurp(dir .. "/seq.tif") == slurp(dir .. "/sub.tif"))
    local main_err = slurp(dir .. "/err.txt")
    assert.truthy(main_err:find("wrong key", 1, true), main_err)
    assert.truthy(main_err:find("9.9.9", 1, true), main_err)
  end)
end)
