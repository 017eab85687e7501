-- workers/fuzz/make_seeds.lua: writes the fuzz target's seed inputs (one
-- valid example of each kind, see channel_fuzz.c) into a folder:
--   ./rios-lua workers/fuzz/make_seeds.lua workers/fuzz/seeds
-- The bytes are put together here by hand from the wire format in
-- workers/channel.h, so the seeds also check that description.
local rios = require("rios")
local codec = require("rios.codec")
local C = require("rios.base").C

local out = assert(arg[1], "usage: make_seeds.lua FOLDER")

local function le(v, n)
  local t = {}
  for i = 1, n do
    t[i] = string.char(v % 256)
    v = math.floor(v / 256)
  end
  return table.concat(t)
end

local function frame(ftype, block, payload)
  local b = block < 0 and 2 ^ 64 + block or block
  local blk = block < 0 and string.rep("\255", 8) or le(b, 8)
  return le(0x4C4F4952, 4) .. le(1, 2) .. le(ftype, 2) .. blk .. le(#payload, 8) .. payload
end

local function field(s, n) return s .. string.rep("\0", n - #s) end

local function write(name, bytes)
  local f = assert(io.open(out .. "/" .. name, "wb"))
  f:write(bytes)
  f:close()
end

local a = rios.array("float32", 1, 2, 3)
a:fill(1.5)
local job = codec.encode({ script = "return 1", call = 1, inputs = { "a.tif" }, arr = a }, "job")
local heartbeat = frame(C.RIOS_FRAME_HEARTBEAT, 0, "")
write("stream", "\0" .. "\16" .. frame(C.RIOS_FRAME_JOB, -1, job) .. heartbeat
      .. frame(C.RIOS_FRAME_OUTPUT, 7, codec.encode({ out = a }, "outputs"))
      .. frame(C.RIOS_FRAME_STOP, -1, ""))

local fields = le(1000, 4) .. le(4242, 4) .. field("0.1.0", 32) .. field("LuaJIT 2.1.0-beta3", 32)
               .. field("3.6.2", 32) .. field(string.rep("ab", 32), 72) .. field("node1", 64)
local hello = string.rep("\7", 32) .. string.rep("\0", 32) .. fields
write("hello", "\1" .. frame(C.RIOS_FRAME_HELLO, 0, hello))

local worker = frame(C.RIOS_FRAME_CHALLENGE, 0, string.rep("\9", 32))
               .. frame(C.RIOS_FRAME_AUTH, 0, string.rep("\3", 32))
write("welcome", "\2" .. worker .. frame(C.RIOS_FRAME_WELCOME, 0, le(1, 4) .. le(1000, 4)))
write("refuse", "\2" .. worker .. frame(C.RIOS_FRAME_REFUSE, 0, "versions differ: x; y"))

write("address", "\3rios-lua channel 1\nhost 127.0.0.1\nport 40000\nkey "
      .. string.rep("0f", 32) .. "\n")
write("codec", "\4" .. job)
print("seeds written to " .. out)
