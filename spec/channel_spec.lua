-- The data channel between the main process and its workers
-- (workers/channel.c), over real sockets between real processes: this
-- process runs a hub through the FFI; each worker is another rios-lua
-- running spec/support/channel_client.lua. What the hub logs on stderr is
-- checked by pointing this process's stderr at a file while the specs run.
local ffi = require("ffi")
local base = require("rios.base")
local H = require("support.helpers")
local C, err = base.C, base.err

pcall(ffi.cdef, [[
int dup(int fd);
int dup2(int oldfd, int newfd);
int close(int fd);
int open(const char *path, int flags, ...);
]])
local O_WRONLY, O_CREAT, O_TRUNC = 1, 64, 512

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

local function errmsg() return base.errmsg() end

local dir, log_path, saved_stderr
local log_mark = 0

-- The lines the hub logged since the last call.
local function new_log()
  local s = slurp(log_path)
  local new = s:sub(log_mark + 1)
  log_mark = #s
  return new
end

-- Wait up to `secs` for the log to gain a line matching pattern.
local function wait_log(pattern, secs)
  local seen = ""
  local t0 = C.rios_ffi_now()
  repeat
    seen = seen .. new_log()
    if seen:find(pattern) then return seen end
    C.rios_ffi_sleep(0.05)
  until C.rios_ffi_now() - t0 > secs
  error("no log line matching " .. pattern .. " in:\n" .. seen, 2)
end

local hubs = {}

-- A hub on loopback with short timings; opts override the config's fields.
local function start_hub(opts)
  local key = ffi.new("rios_chan_key")
  assert(C.rios_ffi_chan_key_new(key, err) == base.OK, errmsg())
  local cfg = ffi.new("rios_hub_config")
  C.rios_ffi_hub_config_defaults(cfg)
  cfg.heartbeat, cfg.lost_after, cfg.handshake_timeout = 0.2, 3, 2
  for k, v in pairs(opts or {}) do
    if k == "rios_version" then ffi.copy(cfg.hello.rios_version, v) else cfg[k] = v end
  end
  local hubp = ffi.new("rios_hub *[1]")
  assert(C.rios_ffi_hub_new(cfg, key, hubp, err) == base.OK, errmsg())
  local h = { hub = hubp[0], key = key, port = C.rios_ffi_hub_port(hubp[0]),
              addr = dir .. "/addr" .. (#hubs + 1), clients = {} }
  assert(C.rios_ffi_chan_address_write(h.addr, "127.0.0.1", h.port, key, err) == base.OK,
         errmsg())
  hubs[#hubs + 1] = h
  return h
end

local framep = ffi.new("rios_frame *[1]")

-- The next frame or event as a table, or nil after timeout seconds.
local function next_frame(h, timeout)
  assert(C.rios_ffi_hub_next(h.hub, timeout or 10, framep, err) == base.OK, errmsg())
  local f = framep[0]
  if f == nil then return nil end
  local t = { type = f.type, worker = f.worker, block = tonumber(f.block),
              data = ffi.string(f.data, f.len) }
  C.rios_ffi_frame_free(f)
  return t
end

local function expect(h, ftype, timeout)
  local f = next_frame(h, timeout)
  assert(f, "nothing came")
  assert.are.equal(ftype, f.type, "got a frame of type " .. f.type .. ": " .. f.data)
  return f
end

local nclients = 0

-- Start a client in the background; returns { pid, out, err }.
local function spawn(h, mode, extra, env)
  nclients = nclients + 1
  local c = { out = dir .. "/c" .. nclients .. ".out", err = dir .. "/c" .. nclients .. ".err" }
  local p = io.popen("cd " .. H.q(H.root) .. " && " .. (env or "") .. " " .. H.q(H.exe)
                     .. " spec/support/channel_client.lua " .. H.q(h.addr) .. " " .. mode
                     .. " " .. (extra or "") .. " >" .. c.out .. " 2>" .. c.err .. " & echo $!")
  c.pid = tonumber(p:read("*l"))
  p:close()
  h.clients[#h.clients + 1] = c
  return c
end

-- Run a client to its end; returns status, stdout, stderr.
local function run_client(h, mode, env, addr)
  return H.run("cd " .. H.q(H.root) .. " && " .. (env or "") .. " timeout 30 " .. H.q(H.exe)
               .. " spec/support/channel_client.lua " .. H.q(addr or h.addr) .. " " .. mode)
end

local function joined(h)
  local f = expect(h, C.RIOS_FRAME_JOINED)
  local peer = ffi.new("rios_chan_peer")
  assert(C.rios_ffi_hub_peer(h.hub, f.worker, peer, err) == base.OK, errmsg())
  return f.worker, peer, f
end

local parts = ffi.new("rios_part[8]")
local function send(h, worker, ftype, block, ...)
  local list = { ... }
  for i, s in ipairs(list) do
    if type(s) == "string" then
      parts[i - 1].data, parts[i - 1].len = s, #s
    else -- { pointer, bytes }
      parts[i - 1].data, parts[i - 1].len = s[1], s[2]
    end
  end
  local rc = C.rios_ffi_hub_send(h.hub, worker, ftype, block, parts, #list, err)
  return rc == base.OK, errmsg()
end

local function stop(h, worker)
  assert(send(h, worker, C.RIOS_FRAME_STOP, -1))
  local f = expect(h, C.RIOS_FRAME_RESULT)
  assert.are.equal("bye", f.data)
  expect(h, C.RIOS_FRAME_LOST)
end

describe("the data channel", function()
  setup(function()
    dir = H.tmpdir()
    log_path = dir .. "/hub.log"
    saved_stderr = ffi.C.dup(2)
    local fd = ffi.C.open(log_path, O_WRONLY + O_CREAT + O_TRUNC, ffi.new("int", 384))
    assert(fd >= 0 and saved_stderr >= 0)
    ffi.C.dup2(fd, 2)
    ffi.C.close(fd)
  end)

  teardown(function()
    ffi.C.dup2(saved_stderr, 2)
    ffi.C.close(saved_stderr)
    H.cleanup()
  end)

  after_each(function()
    for _, h in ipairs(hubs) do
      for _, c in ipairs(h.clients) do
        os.execute("kill -CONT " .. c.pid .. " 2>/dev/null; kill -KILL " .. c.pid .. " 2>/dev/null")
        -- a sanitizer build's report would land here
        assert.is_nil(slurp(c.err):find("Sanitizer"), slurp(c.err))
      end
      C.rios_ffi_hub_close(h.hub)
    end
    hubs = {}
  end)

  it("carries frames of several parts both ways, bytes unchanged", function()
    local h = start_hub()
    local c = spawn(h, "echo")
    local w, peer = joined(h)
    assert.are.equal(1, w)
    assert.are.equal(c.pid, peer.hello.pid)
    assert.are.equal("127.0.0.1", ffi.string(peer.address):match("^[^:]+"))
    -- a binary head, an array straight from its memory (1 MiB), a tail
    local head = {}
    for i = 0, 255 do head[#head + 1] = string.char(i) end
    head = table.concat(head)
    local n = 131072
    local arr = ffi.new("double[?]", n)
    for i = 0, n - 1 do arr[i] = i * 0.25 - 7 end
    local arr_bytes = ffi.string(arr, n * 8)
    assert(send(h, w, C.RIOS_FRAME_BLOCK, 41, head, { arr, n * 8 }, "tail\0end"))
    local f = expect(h, C.RIOS_FRAME_OUTPUT)
    assert.are.equal(w, f.worker)
    assert.are.equal(41, f.block)
    assert.are.equal("echo:" .. head .. arr_bytes .. "tail\0end", f.data)
    -- an empty payload, a big block number
    assert(send(h, w, C.RIOS_FRAME_JOB, 2 ^ 40))
    f = expect(h, C.RIOS_FRAME_OUTPUT)
    assert.are.equal(2 ^ 40, f.block)
    assert.are.equal("echo:", f.data)
    -- a frame of the codec's bytes
    local codec = require("rios.codec")
    local bytes = codec.encode({ block = 3, name = "x", list = { 1, 2.5, "three" } }, "job")
    assert(send(h, w, C.RIOS_FRAME_JOB, 3, bytes))
    f = expect(h, C.RIOS_FRAME_OUTPUT)
    assert.are.same({ block = 3, name = "x", list = { 1, 2.5, "three" } },
                    codec.decode(f.data:sub(6), "the echo"))
    stop(h, w)
    assert.are.equal("connected 1\n", slurp(c.out))
    assert.are.equal("", new_log())
  end)

  it("serves several workers at once, each frame tagged with its worker", function()
    local h = start_hub()
    local pids = {}
    for _ = 1, 3 do
      local c = spawn(h, "echo")
      pids[c.pid] = true
    end
    local seen = {}
    for _ = 1, 3 do
      local w, peer, f = joined(h)
      assert.is_true(pids[peer.hello.pid])
      assert.matches("^worker " .. w .. " %(.+ pid " .. peer.hello.pid .. ", 127%.0%.0%.1:%d+%) joined$",
                     f.data)
      seen[w] = true
    end
    assert.are.same({ true, true, true }, seen)
    for w = 1, 3 do assert(send(h, w, C.RIOS_FRAME_BLOCK, 100 + w, "to " .. w)) end
    local got = {}
    for _ = 1, 3 do
      local f = expect(h, C.RIOS_FRAME_OUTPUT)
      got[f.worker] = f.block .. " " .. f.data
    end
    assert.are.same({ "101 echo:to 1", "102 echo:to 2", "103 echo:to 3" }, got)
    -- the main process drops worker 2; the others go on
    C.rios_ffi_hub_drop(h.hub, 2, "it was slow")
    local f = expect(h, C.RIOS_FRAME_LOST)
    assert.are.equal(2, f.worker)
    assert.matches("^worker 2 %(.*%) lost: dropped by the main process: it was slow$", f.data)
    local ok, msg = send(h, 2, C.RIOS_FRAME_BLOCK, 1, "x")
    assert.is_false(ok)
    assert.matches("cannot send to worker 2 %(.*%): lost: dropped by the main process", msg)
    local bad, msg2 = send(h, 9, C.RIOS_FRAME_BLOCK, 1, "x")
    assert.is_false(bad)
    assert.are.equal("hub: no worker 9 (3 have joined)", msg2)
    stop(h, 1)
    stop(h, 3)
  end)

  it("listens on every interface when asked (cluster kinds), and checks what it is given", function()
    local h = start_hub({ bind = "0.0.0.0", max_payload = 1000 })
    spawn(h, "echo")
    local w = joined(h)
    local ok, msg = send(h, w, C.RIOS_FRAME_BLOCK, 1, string.rep("x", 600), string.rep("y", 600))
    assert.is_false(ok)
    assert.are.equal("channel: a BLOCK frame larger than the limit of 1000 bytes", msg)
    ok, msg = send(h, w, C.RIOS_FRAME_HELLO, 1, "x")
    assert.is_false(ok)
    assert.are.equal("channel: cannot send a frame of type 2 (JOB to STOP only)", msg)
    stop(h, w)
    local cfg = ffi.new("rios_hub_config")
    C.rios_ffi_hub_config_defaults(cfg)
    local hubp = ffi.new("rios_hub *[1]")
    local where = "256.1.1.1"
    cfg.bind = where
    assert.are.equal(base.FAIL, C.rios_ffi_hub_new(cfg, ffi.new("rios_chan_key"), hubp, err))
    assert.matches("^hub: cannot listen on 256%.1%.1%.1: ", errmsg())
    cfg.bind, cfg.lost_after = "127.0.0.1", 1.5
    assert.are.equal(base.FAIL, C.rios_ffi_hub_new(cfg, ffi.new("rios_chan_key"), hubp, err))
    assert.are.equal("hub: lost_after (1.5 s) must be at least twice the heartbeat (1 s)", errmsg())
  end)

  it("drops a peer with the wrong key, logs it, and keeps serving the others", function()
    local h = start_hub()
    spawn(h, "echo")
    local w = joined(h)
    local status, _, stderr = run_client(h, "echo", "RIOS_CHANNEL_KEY=" .. string.rep("ab", 32))
    assert.are.equal(2, status)
    assert.are.equal("client: handshake with the main process at 127.0.0.1:" .. h.port
                     .. " failed: closed the connection during the handshake (a wrong key?)\n",
                     stderr)
    local log = wait_log("wrong key", 5)
    assert.matches("^rios%-lua: channel: dropped 127%.0%.0%.1:%d+: wrong key %(its hello does "
                   .. "not prove the run's key%)\n$", log)
    -- no event for it; the worker still answers
    assert(send(h, w, C.RIOS_FRAME_BLOCK, 5, "still here"))
    local f = expect(h, C.RIOS_FRAME_OUTPUT)
    assert.are.equal("echo:still here", f.data)
    stop(h, w)
  end)

  it("drops garbage bytes and a silent connection, and stays open", function()
    local h = start_hub({ handshake_timeout = 1 })
    os.execute("bash -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\nHost: x\\r\\n\\r\\n\" >/dev/tcp/127.0.0.1/"
               .. h.port .. "'")
    local log = wait_log("dropped", 5)
    assert.matches("^rios%-lua: channel: dropped 127%.0%.0%.1:%d+: bad magic 0x20544547, not the "
                   .. "rios%-lua channel\n$", log)
    -- a connection that says nothing
    local t0 = C.rios_ffi_now()
    os.execute("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. h.port .. "; sleep 4' >/dev/null 2>&1 &")
    log = wait_log("silent", 5)
    assert.matches("^rios%-lua: channel: dropped 127%.0%.0%.1:%d+: silent for 1%.0 s during "
                   .. "the handshake\n$", log)
    assert.is_true(C.rios_ffi_now() - t0 >= 1.0)
    -- the hub still takes workers
    spawn(h, "echo")
    local w = joined(h)
    assert.are.equal(1, w)
    stop(h, w)
  end)

  it("refuses a worker of another version, naming both versions on both sides", function()
    local h = start_hub()
    local status, _, stderr = run_client(h, "version")
    assert.are.equal(2, status)
    local mine = ffi.new("rios_chan_hello")
    C.rios_ffi_chan_hello_defaults(mine)
    local v = ffi.string(mine.rios_version)
    assert.matches("^client: refused by the main process at 127%.0%.0%.1:" .. h.port
                   .. ": versions differ: the worker %(.+ pid %d+%) runs rios%-lua 9%.9%.9, "
                   .. "LuaJIT [^,]+, GDAL [^,]+, FFI %x+; the main process runs rios%-lua "
                   .. v:gsub("%.", "%%.") .. ", LuaJIT", stderr)
    assert.are.equal(1, select(2, stderr:gsub("\n", "")))
    local log = wait_log("refused", 5)
    assert.matches("^rios%-lua: channel: refused 127%.0%.0%.1:%d+: versions differ: .*9%.9%.9.*"
                   .. v:gsub("%.", "%%."), log)
    -- a main process that claims another version refuses this build's workers
    local other = start_hub({ rios_version = "0.0.0-other" })
    status, _, stderr = run_client(other, "echo")
    assert.are.equal(2, status)
    assert.matches("runs rios%-lua " .. v:gsub("%.", "%%.") .. ",.*; the main process runs "
                   .. "rios%-lua 0%.0%.0%-other,", stderr)
    wait_log("refused", 5)
    assert.is_nil(next_frame(h, 0))
    assert.is_nil(next_frame(other, 0))
  end)

  it("drops a worker that proves the key and then sends a bad frame, naming it", function()
    local raw = require("support.rawchan")
    local h = start_hub()
    local key = ffi.string(h.key.bytes, 32)
    local hello = ffi.new("rios_chan_hello")
    C.rios_ffi_chan_hello_defaults(hello)
    local cases = {
      { raw.frame(99, 0, ""), "unknown frame type 99" },
      { raw.frame(C.RIOS_FRAME_OUTPUT, 3, "", 2 ^ 40),
        "OUTPUT frame of 1099511627776 bytes, more than the limit of 1073741824" },
      { "GARBAGE!" .. string.rep("x", 16), "bad magic 0x42524147, not the rios%-lua channel" },
      { raw.frame(C.RIOS_FRAME_HELLO, 0, ""), "a HELLO frame after the handshake" },
      { raw.frame(C.RIOS_FRAME_BLOCK, "\254" .. string.rep("\255", 7), ""),
        "BLOCK frame with block number %-2 out of range" },
      { raw.frame(C.RIOS_FRAME_HEARTBEAT, 0, "x"), "HEARTBEAT frame with block 0 and 1 payload bytes" },
    }
    for i, case in ipairs(cases) do
      local fd = raw.connect(h.port)
      assert.are.equal(i, raw.worker_handshake(fd, key, hello))
      assert.are.equal(i, expect(h, C.RIOS_FRAME_JOINED).worker)
      -- frames made by hand from channel.h's description arrive as sent
      raw.send(fd, raw.frame(C.RIOS_FRAME_HEARTBEAT, 0, "") .. raw.frame(C.RIOS_FRAME_OUTPUT, 5, "abc"))
      local f = expect(h, C.RIOS_FRAME_OUTPUT)
      assert.are.same({ i, 5, "abc" }, { f.worker, f.block, f.data })
      raw.send(fd, case[1])
      f = expect(h, C.RIOS_FRAME_LOST)
      local name = "worker " .. i .. " %(" .. ffi.string(hello.host):gsub("%p", "%%%0") .. " pid "
                   .. hello.pid .. ", 127%.0%.0%.1:%d+%)"
      assert.matches("^" .. name .. " lost: sent a bad frame: " .. case[2] .. "$", f.data)
      assert.matches("^rios%-lua: channel: dropped " .. name .. ": sent a bad frame: " .. case[2]
                     .. "\n$", wait_log("dropped", 5))
      assert.is_true(raw.closed(fd, 5))  -- by the hub
      raw.close(fd)
    end
  end)

  it("never lets a worker take a job from a main process that cannot prove the key", function()
    local raw = require("support.rawchan")
    local lfd, port = raw.listen()
    local key = ffi.new("rios_chan_key")
    assert(C.rios_ffi_chan_key_new(key, err) == base.OK)
    local impostor = { addr = dir .. "/impostor.chnl", clients = {} }
    assert(C.rios_ffi_chan_address_write(impostor.addr, "127.0.0.1", port, key, err) == base.OK)
    local c = spawn(impostor, "echo")
    local fd = raw.accept(lfd)
    local nonce_m = string.rep("\1", 32)
    raw.send(fd, raw.frame(C.RIOS_FRAME_CHALLENGE, 0, nonce_m))
    local hello = assert(raw.recv(fd, 24 + 304))
    -- the worker's proof is what channel.h says it is
    local p = hello:sub(25)
    assert.are.equal(p:sub(33, 64), raw.hmac(ffi.string(key.bytes, 32),
                                             raw.WORKER_LABEL .. nonce_m .. p:sub(1, 32) .. p:sub(65)))
    -- without the key the impostor can only guess its own proof
    raw.send(fd, raw.frame(C.RIOS_FRAME_AUTH, 0, string.rep("\2", 32))
             .. raw.frame(C.RIOS_FRAME_WELCOME, 0, raw.le(1, 4) .. raw.le(1000, 4))
             .. raw.frame(C.RIOS_FRAME_JOB, -1, "a job"))
    assert.is_true(raw.closed(fd, 10))  -- the worker hung up
    local t0 = C.rios_ffi_now()
    local function alive()
      local r = os.execute("kill -0 " .. c.pid .. " 2>/dev/null")
      return r == 0 or r == true
    end
    while alive() and C.rios_ffi_now() - t0 < 10 do
      C.rios_ffi_sleep(0.05)
    end
    raw.close(fd)
    raw.close(lfd)
    assert.are.equal("", slurp(c.out))
    assert.are.equal("client: handshake with the main process at 127.0.0.1:" .. port .. " failed: "
                     .. "it did not prove the run's key: not our main process, or another run's "
                     .. "key\n", slurp(c.err))
  end)

  it("reports a worker killed with SIGKILL as lost at once", function()
    local h = start_hub({ lost_after = 5 })
    local c = spawn(h, "echo")
    local w = joined(h)
    local t0 = C.rios_ffi_now()
    os.execute("kill -KILL " .. c.pid)
    local f = expect(h, C.RIOS_FRAME_LOST, 10)
    assert.is_true(C.rios_ffi_now() - t0 < 2, "lost only after the heartbeats")
    assert.matches("^worker 1 %(.*%) lost: ", f.data)
    local peer = ffi.new("rios_chan_peer")
    assert(C.rios_ffi_hub_peer(h.hub, w, peer, err) == base.OK)
    assert.are.equal(1, peer.lost)
    assert.are.equal(f.data:match("lost: (.*)$"), ffi.string(peer.why))
  end)

  it("reports a stopped worker (SIGSTOP) as lost after lost_after", function()
    local h = start_hub({ lost_after = 1 })
    local c = spawn(h, "echo")
    joined(h)
    os.execute("kill -STOP " .. c.pid)
    local t0 = C.rios_ffi_now()
    assert.is_nil(next_frame(h, 0.7))
    local f = expect(h, C.RIOS_FRAME_LOST, 5)
    assert.is_true(C.rios_ffi_now() - t0 >= 0.7)
    assert.matches("^worker 1 %(.*%) lost: no sign of life for 1%.%d s %(missed heartbeats%)$", f.data)
  end)

  it("does not lose a worker whose Lua runs a compiled loop longer than lost_after", function()
    local h = start_hub({ lost_after = 1 })
    spawn(h, "busy", "2.5")
    local w = joined(h)
    local f = expect(h, C.RIOS_FRAME_RESULT, 10)
    assert.matches("^busy done", f.data)
    assert(send(h, w, C.RIOS_FRAME_BLOCK, 9, "after"))
    assert.are.equal("echo:after", expect(h, C.RIOS_FRAME_OUTPUT).data)
    stop(h, w)
  end)

  it("declares its structs to Lua as C lays them out", function()
    local checks = {
      { 0, ffi.sizeof("rios_chan_hello") }, { 1, ffi.offsetof("rios_chan_hello", "ffi_hash") },
      { 2, ffi.offsetof("rios_chan_hello", "pid") }, { 3, ffi.sizeof("rios_chan_address") },
      { 4, ffi.sizeof("rios_frame") }, { 5, ffi.offsetof("rios_frame", "block") },
      { 6, ffi.offsetof("rios_frame", "data") }, { 7, ffi.sizeof("rios_part") },
      { 8, ffi.sizeof("rios_hub_config") }, { 9, ffi.offsetof("rios_hub_config", "max_payload") },
      { 10, ffi.offsetof("rios_hub_config", "hello") }, { 11, ffi.sizeof("rios_chan_config") },
      { 12, ffi.offsetof("rios_chan_config", "hello") }, { 13, ffi.sizeof("rios_chan_peer") },
      { 14, ffi.offsetof("rios_chan_peer", "why") },
    }
    for _, c in ipairs(checks) do
      assert.are.equal(c[2], tonumber(C.rios_ffi_chan_layout(c[1])), "layout item " .. c[1])
    end
  end)

  describe("the address file", function()
    it("is written with mode 0600 and read back", function()
      local key = ffi.new("rios_chan_key")
      assert(C.rios_ffi_chan_key_new(key, err) == base.OK)
      local path = dir .. "/run.chnl"
      assert(C.rios_ffi_chan_address_write(path, "node7.example", 40123, key, err) == base.OK,
             errmsg())
      local _, mode = H.run("stat -c %a " .. H.q(path))
      assert.are.equal("600\n", mode)
      local hex = ffi.new("char[65]")
      C.rios_ffi_chan_key_hex(key, hex)
      assert.are.equal("rios-lua channel 1\nhost node7.example\nport 40123\nkey "
                       .. ffi.string(hex) .. "\n", slurp(path))
      local a = ffi.new("rios_chan_address")
      assert(C.rios_ffi_chan_address_read(path, a, err) == base.OK, errmsg())
      assert.are.equal("node7.example", ffi.string(a.host))
      assert.are.equal(40123, a.port)
      assert.are.equal(ffi.string(key.bytes, 32), ffi.string(a.key.bytes, 32))
      -- rewritten in place (rename), no temporary file left
      assert(C.rios_ffi_chan_address_write(path, "127.0.0.1", 5, key, err) == base.OK)
      local _, ls = H.run("ls " .. H.q(dir) .. " | grep run.chnl")
      assert.are.equal("run.chnl\n", ls)
    end)

    it("is not written where others could change it, nor through a symlink", function()
      local key = ffi.new("rios_chan_key")
      local open_dir = H.tmpdir()
      os.execute("chmod 777 " .. H.q(open_dir))
      assert.are.equal(base.FAIL, C.rios_ffi_chan_address_write(open_dir .. "/a", "h", 1, key, err))
      assert.are.equal("refusing to write address file " .. open_dir .. "/a: folder " .. open_dir
                       .. " is not a private folder of this user (a real folder, owned by us, "
                       .. "writable by no one else)", errmsg())
      local target = dir .. "/target"
      os.execute("ln -s " .. H.q(target) .. " " .. H.q(dir .. "/link"))
      assert.are.equal(base.FAIL, C.rios_ffi_chan_address_write(dir .. "/link", "h", 1, key, err))
      assert.matches("something that is not a regular file %(a symlink%?%) is already there", errmsg())
      assert.is_nil(io.open(target))
      assert.are.equal(base.FAIL, C.rios_ffi_chan_address_write(dir .. "/x", "bad host", 1, key, err))
      assert.matches("host \"bad host\" is not a host name", errmsg())
    end)

    it("is read only when private, ours, regular and well formed", function()
      local key = ffi.new("rios_chan_key")
      local path = dir .. "/r.chnl"
      assert(C.rios_ffi_chan_address_write(path, "127.0.0.1", 9, key, err) == base.OK)
      local a = ffi.new("rios_chan_address")
      os.execute("chmod 644 " .. H.q(path))
      assert.are.equal(base.FAIL, C.rios_ffi_chan_address_read(path, a, err))
      assert.are.equal("address file " .. path .. " can be read or written by others (its mode "
                       .. "must be 0600), not 0644", errmsg())
      os.execute("chmod 600 " .. H.q(path) .. "; ln -s " .. H.q(path) .. " " .. H.q(dir .. "/r2"))
      assert.are.equal(base.FAIL, C.rios_ffi_chan_address_read(dir .. "/r2", a, err))
      assert.matches("is a symbolic link", errmsg())
      assert.are.equal(base.FAIL, C.rios_ffi_chan_address_read(dir, a, err))
      assert.matches("is not a regular file", errmsg())
      local bad = {
        { "rios-lua channel 2\nhost h\nport 1\nkey " .. string.rep("0", 64) .. "\n",
          "line 1 is not \"rios%-lua channel 1\"" },
        { "rios-lua channel 1\nhost h h\nport 1\nkey " .. string.rep("0", 64) .. "\n",
          "line 2: the host name has a character" },
        { "rios-lua channel 1\nhost h\nport 70000\nkey " .. string.rep("0", 64) .. "\n",
          "line 3: the port is not a number from 1 to 65535" },
        { "rios-lua channel 1\nhost h\nport 1\nkey " .. string.rep("0", 63) .. "\n",
          "line 4 is not \"key\" and 64 hex digits" },
        { "rios-lua channel 1\nhost h\nport 1\nkey " .. string.rep("0", 64) .. "\nmore\n",
          "more than the 4 lines" },
      }
      for i, case in ipairs(bad) do
        local p = dir .. "/bad" .. i
        local f = io.open(p, "w")
        f:write(case[1])
        f:close()
        os.execute("chmod 600 " .. H.q(p))
        assert.are.equal(base.FAIL, C.rios_ffi_chan_address_read(p, a, err))
        assert.matches("^address file " .. p:gsub("%p", "%%%0") .. ": " .. case[2], errmsg())
      end
    end)

    it("that is bad stops a worker with one line", function()
      local p = dir .. "/worse.chnl"
      local f = io.open(p, "w")
      f:write("rios-lua channel 1\nhost 127.0.0.1\nport abc\nkey 00\n")
      f:close()
      os.execute("chmod 600 " .. H.q(p))
      local status, out, stderr = run_client(nil, "echo", nil, p)
      assert.are.equal(2, status)
      assert.are.equal("", out)
      assert.are.equal("client: address file " .. p .. ": line 3: the port is not a number "
                       .. "from 1 to 65535\n", stderr)
      status, _, stderr = run_client(nil, "echo", nil, dir .. "/none.chnl")
      assert.are.equal(2, status)
      assert.are.equal("client: cannot open address file " .. dir .. "/none.chnl: No such file "
                       .. "or directory\n", stderr)
    end)
  end)

  it("takes the key from a private key file or the environment", function()
    local key = ffi.new("rios_chan_key")
    assert(C.rios_ffi_chan_key_new(key, err) == base.OK)
    local hex = ffi.new("char[65]")
    C.rios_ffi_chan_key_hex(key, hex)
    local p = dir .. "/key"
    local f = io.open(p, "w")
    f:write(ffi.string(hex), "\n")
    f:close()
    os.execute("chmod 600 " .. H.q(p))
    local back = ffi.new("rios_chan_key")
    assert(C.rios_ffi_chan_key_from_file(p, back, err) == base.OK, errmsg())
    assert.are.equal(ffi.string(key.bytes, 32), ffi.string(back.bytes, 32))
    os.execute("chmod 640 " .. H.q(p))
    assert.are.equal(base.FAIL, C.rios_ffi_chan_key_from_file(p, back, err))
    assert.matches("key file .* can be read or written by others", errmsg())
    assert.are.equal(base.FAIL, C.rios_ffi_chan_key_from_env("RIOS_SPEC_NO_SUCH_VARIABLE", back, err))
    assert.are.equal("the environment variable RIOS_SPEC_NO_SUCH_VARIABLE holding the channel key "
                     .. "is not set", errmsg())
    -- a fresh key each time
    local other = ffi.new("rios_chan_key")
    assert(C.rios_ffi_chan_key_new(other, err) == base.OK)
    assert.are_not.equal(ffi.string(key.bytes, 32), ffi.string(other.bytes, 32))
  end)
end)
