-- spec/support/rawchan.lua: the channel's wire format spoken by hand, for
-- specs that must play a peer the real code would never be: a worker that
-- proves the key and then sends bad frames, a main process that does not
-- know the key. Plain sockets and HMAC-SHA256 from the libc and libcrypto
-- that rios-lua is linked with, reached through the FFI. It follows the
-- description in workers/channel.h, so it checks that too.
local ffi = require("ffi")
local bit = require("bit")

for _, decl in ipairs({
  "typedef struct rios_spec_sockaddr_in { uint16_t family; uint16_t port; uint32_t addr; uint8_t zero[8]; } rios_spec_sockaddr_in;",
  "typedef struct rios_spec_pollfd { int fd; short events, revents; } rios_spec_pollfd;",
  "int socket(int domain, int type, int protocol);",
  "int connect(int fd, const void *addr, uint32_t len);",
  "int bind(int fd, const void *addr, uint32_t len);",
  "int listen(int fd, int backlog);",
  "int accept(int fd, void *addr, uint32_t *len);",
  "int getsockname(int fd, void *addr, uint32_t *len);",
  "long send(int fd, const void *buf, size_t n, int flags);",
  "long recv(int fd, void *buf, size_t n, int flags);",
  "int poll(rios_spec_pollfd *fds, unsigned long n, int timeout);",
  "int close(int fd);",
  "const void *EVP_sha256(void);",
  "unsigned char *HMAC(const void *md, const void *key, int keylen, const unsigned char *d, size_t n, unsigned char *out, unsigned int *outlen);",
}) do
  pcall(ffi.cdef, decl)
end
local C = ffi.C

local M = {}
local AF_INET, SOCK_STREAM, POLLIN, MSG_NOSIGNAL = 2, 1, 1, 0x4000

local function loopback(port)
  local sa = ffi.new("rios_spec_sockaddr_in")
  sa.family = AF_INET
  sa.port = bit.bor(bit.lshift(bit.band(port, 255), 8), bit.rshift(port, 8))
  sa.addr = 0x0100007F -- 127.0.0.1 in network order
  return sa
end

function M.connect(port)
  local fd = C.socket(AF_INET, SOCK_STREAM, 0)
  assert(fd >= 0)
  assert(C.connect(fd, loopback(port), ffi.sizeof("rios_spec_sockaddr_in")) == 0, "connect")
  return fd
end

-- A listening socket on loopback; returns fd, port.
function M.listen()
  local fd = C.socket(AF_INET, SOCK_STREAM, 0)
  local sa = loopback(0)
  assert(C.bind(fd, sa, ffi.sizeof(sa)) == 0 and C.listen(fd, 4) == 0)
  local len = ffi.new("uint32_t[1]", ffi.sizeof(sa))
  assert(C.getsockname(fd, sa, len) == 0)
  return fd, bit.bor(bit.lshift(bit.band(sa.port, 255), 8), bit.rshift(sa.port, 8))
end

local function wait_readable(fd, timeout)
  local p = ffi.new("rios_spec_pollfd[1]")
  p[0].fd, p[0].events = fd, POLLIN
  return C.poll(p, 1, timeout * 1000) > 0
end

function M.accept(fd, timeout)
  assert(wait_readable(fd, timeout or 10), "nobody connected")
  return C.accept(fd, nil, nil)
end

function M.send(fd, s)
  assert(C.send(fd, s, #s, MSG_NOSIGNAL) == #s, "send")
end

-- Exactly n bytes, or nil (closed, or nothing for timeout seconds).
function M.recv(fd, n, timeout)
  local buf = ffi.new("uint8_t[?]", n)
  local got = 0
  while got < n do
    if not wait_readable(fd, timeout or 10) then return nil end
    local r = tonumber(C.recv(fd, buf + got, n - got, 0))
    if r <= 0 then return nil end
    got = got + r
  end
  return ffi.string(buf, n)
end

-- Read and drop what comes (heartbeats) until the peer closes: true, or
-- false when it has not closed within timeout seconds.
function M.closed(fd, timeout)
  local buf = ffi.new("uint8_t[4096]")
  local t0 = os.time()
  while os.time() - t0 <= timeout do
    if wait_readable(fd, 1) then
      if tonumber(C.recv(fd, buf, 4096, 0)) <= 0 then return true end
    end
  end
  return false
end

M.close = function(fd) C.close(fd) end

function M.le(v, n)
  local t = {}
  for i = 1, n do
    t[i] = string.char(v % 256)
    v = math.floor(v / 256)
  end
  return table.concat(t)
end

function M.frame(ftype, block, payload, len)
  payload = payload or ""
  -- block: a number, or its 8 bytes as a string
  local blk = type(block) == "string" and block
              or block < 0 and string.rep("\255", 8) or M.le(block, 8)
  return M.le(0x4C4F4952, 4) .. M.le(1, 2) .. M.le(ftype, 2) .. blk .. M.le(len or #payload, 8)
         .. payload
end

function M.hmac(key, msg)
  local out = ffi.new("unsigned char[32]")
  local n = ffi.new("unsigned int[1]", 32)
  assert(C.HMAC(C.EVP_sha256(), key, #key, msg, #msg, out, n) ~= nil)
  return ffi.string(out, 32)
end

local function field(s, n) return s .. string.rep("\0", n - #s) end

-- The fields of a hello (after nonce and mac) for a rios_chan_hello.
function M.hello_fields(h, heartbeat_ms)
  return M.le(heartbeat_ms, 4) .. M.le(h.pid, 4) .. field(ffi.string(h.rios_version), 32)
         .. field(ffi.string(h.luajit_version), 32) .. field(ffi.string(h.gdal_version), 32)
         .. field(ffi.string(h.ffi_hash), 72) .. field(ffi.string(h.host), 64)
end

M.WORKER_LABEL = "rios-lua channel 1 worker"
M.MAIN_LABEL = "rios-lua channel 1 main"

-- A worker's whole handshake on fd with the key (a 32-byte string) and the
-- hello h: returns the worker number from WELCOME, or nil and what came.
function M.worker_handshake(fd, key, h)
  local challenge = assert(M.recv(fd, 24 + 32), "no CHALLENGE")
  local nonce_m = challenge:sub(25)
  local nonce_w = string.rep("\17", 32)
  local fields = M.hello_fields(h, 200)
  local mac_w = M.hmac(key, M.WORKER_LABEL .. nonce_m .. nonce_w .. fields)
  M.send(fd, M.frame(2, 0, nonce_w .. mac_w .. fields))
  local auth = M.recv(fd, 24 + 32)
  if not auth then return nil, "closed" end
  assert(auth:sub(25) == M.hmac(key, M.MAIN_LABEL .. nonce_m .. nonce_w .. mac_w),
         "the main process's AUTH does not prove the key")
  local welcome = M.recv(fd, 24 + 8)
  if not welcome or welcome:byte(7) ~= 4 then return nil, welcome end
  return welcome:byte(25) + 256 * welcome:byte(26)
end

return M
