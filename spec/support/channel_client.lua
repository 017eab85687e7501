-- spec/support/channel_client.lua: a worker's end of the data channel, run
-- by spec/channel_spec.lua as a separate rios-lua process:
--
--   rios-lua spec/support/channel_client.lua ADDRESS_FILE MODE [SECONDS]
--
-- It reads the main process's address (and key) from ADDRESS_FILE, or the
-- key from $RIOS_CHANNEL_KEY when that is set, connects through the FFI and
-- prints "connected N" (N: its worker number). MODE:
--   echo     answer every frame with an OUTPUT frame of the same block whose
--            payload is "echo:" followed by the payload received, sent in
--            three parts; STOP ends it with a RESULT "bye" and exit status 0
--   busy     first run a compiled loop for SECONDS (Lua never returns to C
--            meanwhile), send a RESULT "busy done", then echo
--   version  claim rios-lua 9.9.9 in the hello (the connection is refused)
-- A failure prints "client: MESSAGE" on stderr and exits 2; losing the
-- main process exits 3.
local ffi = require("ffi")
local base = require("rios.base")
local C, err = base.C, base.err

local path, mode, seconds = arg[1], arg[2] or "echo", tonumber(arg[3] or "0")

local chan

-- Every exit closes the channel first (joining its I/O thread).
local function finish(status)
  if chan ~= nil then C.rios_ffi_chan_close(chan) end
  os.exit(status)
end

local function fail(msg)
  io.stderr:write("client: ", msg, "\n")
  finish(2)
end

local addr = ffi.new("rios_chan_address")
if C.rios_ffi_chan_address_read(path, addr, err) ~= base.OK then fail(base.errmsg()) end
local key = addr.key
if os.getenv("RIOS_CHANNEL_KEY") then
  key = ffi.new("rios_chan_key")
  if C.rios_ffi_chan_key_from_env("RIOS_CHANNEL_KEY", key, err) ~= base.OK then
    fail(base.errmsg())
  end
end

local cfg = ffi.new("rios_chan_config")
C.rios_ffi_chan_config_defaults(cfg)
cfg.heartbeat = 0.2
cfg.lost_after = 2.0
cfg.handshake_timeout = 5
if mode == "version" then ffi.copy(cfg.hello.rios_version, "9.9.9") end

local chanp = ffi.new("rios_chan *[1]")
if C.rios_ffi_chan_connect(ffi.string(addr.host), addr.port, key, cfg, chanp, err) ~= base.OK then
  fail(base.errmsg())
end
chan = chanp[0]
print("connected " .. C.rios_ffi_chan_worker(chan))
io.stdout:flush()

local parts = ffi.new("rios_part[3]")
local framep = ffi.new("rios_frame *[1]")

local function send(ftype, block, a, b, c)
  local keep = { a, b or "", c or "" }
  for i = 1, 3 do
    parts[i - 1].data = keep[i]
    parts[i - 1].len = #keep[i]
  end
  if C.rios_ffi_chan_send(chan, ftype, block, parts, 3, err) ~= base.OK then
    fail(base.errmsg())
  end
end

if mode == "busy" then
  -- A loop LuaJIT compiles; it calls only the clock, through the FFI.
  local t0 = C.rios_ffi_now()
  local x = 0
  while C.rios_ffi_now() - t0 < seconds do
    for i = 1, 100000 do x = (x + i * 7) % 1000003 end
  end
  send(C.RIOS_FRAME_RESULT, -1, "busy done " .. x % 2)
end

while true do
  if C.rios_ffi_chan_next(chan, 30, framep, err) ~= base.OK then fail(base.errmsg()) end
  local f = framep[0]
  if f == nil then fail("nothing came for 30 s") end
  local ftype, block = f.type, f.block
  local data = ffi.string(f.data, f.len)
  C.rios_ffi_frame_free(f)
  if ftype == C.RIOS_FRAME_LOST then
    io.stderr:write("client: ", data, "\n")
    finish(3)
  elseif ftype == C.RIOS_FRAME_STOP then
    send(C.RIOS_FRAME_RESULT, -1, "bye")
    break
  else
    local third = math.floor(#data / 3)
    send(C.RIOS_FRAME_OUTPUT, block, "echo:" .. data:sub(1, third), data:sub(third + 1, 2 * third),
         data:sub(2 * third + 1))
  end
end
finish(0)
