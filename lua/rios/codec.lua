-- rios.codec: values to bytes and back, for everything that crosses between
-- Lua states (a compute thread's job and results, the history of earlier
-- rios.apply calls, and later frames from a socket). Data only: decoding
-- never runs code, so bytes from anywhere can be decoded safely.
--
--   local bytes = codec.encode(value, "otherargs")  -- errors name the path
--   local value = codec.decode(bytes, "a job")      -- errors on bad bytes
--
-- Numbers, strings, booleans, tables (keys: strings, numbers, booleans) and
-- rios arrays go through; anything else (a function, coroutine, userdata or
-- cdata, a table that contains itself) is an error naming where it is, e.g.
-- "otherargs.stats[2].fn is a function". Metatables other than an array's
-- are not kept, and a table reached twice arrives as two equal copies.
--
-- The bytes are a 4-byte magic and LuaJIT's string.buffer serialization of
-- the value with every array replaced by its wire form: a table
-- {dtype, bands, rows, cols, bytes} (the elements in band-major order,
-- little-endian as the machine is, views copied element by element) marked
-- by a metatable that only this module has. Decoding checks the magic, then
-- the structure (runtime/codec.c: only what this module writes, no table
-- larger than its bytes, so memory follows the bytes), lets string.buffer
-- decode it (truncated or left-over bytes are errors) and checks every
-- array's fields against its bytes.
local buffer = require("string.buffer")
local array = require("rios.array")
local base = require("rios.base")
local ffi, C = base.ffi, base.C
local check_err = ffi.new("rios_err")

local M = {}

local MAGIC = "RLC1"
M.MAGIC = MAGIC

-- The marker of an array's wire form (string.buffer's metatable option
-- encodes it as an index into this list, never as code).
local WIRE_ARRAY = {}
local options = { metatable = { WIRE_ARRAY } }

local fmt = string.format
local dtype_size = base.dtype_size

local function key_path(path, k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return path .. "." .. k end
  if type(k) == "string" then return path .. fmt("[%q]", k) end
  return path .. "[" .. tostring(k) .. "]"
end

-- The elements of an array (any view) in band-major order, as a string.
local function array_bytes(a, path)
  if a.data == nil then
    error(path .. " is an array that was already released", 0)
  end
  local esize = dtype_size[a.dtype]
  if a:is_contiguous() then
    return ffi.string(a.data, a.bands * a.rows * a.cols * esize)
  end
  local out = buffer.new(a.bands * a.rows * a.cols * esize)
  local p = ffi.cast("const uint8_t *", a.data)
  local rs, bs = a.row_stride * esize, a.band_stride * esize
  local n = a.cols * esize
  for b = 0, a.bands - 1 do
    for r = 0, a.rows - 1 do
      out:putcdata(p + b * bs + r * rs, n)
    end
  end
  return out:tostring()
end

-- v with every array in its wire form; checks that everything can go.
local function to_wire(v, path, seen)
  local t = type(v)
  if t == "number" or t == "string" or t == "boolean" or t == "nil" then return v end
  if array.is_array(v) then
    return setmetatable({ v.dtype, v.bands, v.rows, v.cols, array_bytes(v, path) }, WIRE_ARRAY)
  end
  if t == "table" then
    if seen[v] then error(path .. " is a table that contains itself", 0) end
    seen[v] = true
    local w = {}
    for k, x in pairs(v) do
      local kt = type(k)
      if kt ~= "string" and kt ~= "number" and kt ~= "boolean" then
        error(path .. " has a key that is a " .. kt
              .. " (keys must be strings, numbers or booleans)", 0)
      end
      w[k] = to_wire(x, key_path(path, k), seen)
    end
    seen[v] = nil
    return w
  end
  error(path .. " is a " .. t .. ", which cannot be copied to another Lua state (only "
        .. "numbers, strings, booleans, tables and rios arrays can)", 0)
end

local function whole(n)
  return type(n) == "number" and n >= 1 and n == math.floor(n) and n < 2 ^ 31
end

-- An array back from its wire form, checked field by field.
local function from_wire_array(w)
  local dtype, bands, rows, cols, bytes = w[1], w[2], w[3], w[4], w[5]
  local size = dtype_size[dtype]
  if not size or not whole(bands) or not whole(rows) or not whole(cols)
     or type(bytes) ~= "string" or bands * rows * cols * size ~= #bytes then
    error("an array's fields do not match its bytes", 0)
  end
  local a = array.new(dtype, bands, rows, cols)
  ffi.copy(a.data, bytes, #bytes)
  return a
end

-- What string.buffer can decode but this codec never encodes (64-bit
-- integer and complex cdata, light userdata) is refused: only plain values
-- come out.
local plain = { number = true, string = true, boolean = true }

local function from_wire(v)
  local t = type(v)
  if plain[t] or t == "nil" then return v end
  if t ~= "table" then error("it holds a " .. t .. ", which rios-lua never encodes", 0) end
  if getmetatable(v) == WIRE_ARRAY then return from_wire_array(v) end
  for k, x in pairs(v) do
    if not plain[type(k)] then
      error("it holds a key that is a " .. type(k) .. ", which rios-lua never encodes", 0)
    end
    if type(x) ~= "table" and not plain[type(x)] then
      error("it holds a " .. type(x) .. ", which rios-lua never encodes", 0)
    end
    if type(x) == "table" then v[k] = from_wire(x) end
  end
  return v
end

-- The walks recurse over small tables once per value: traces would only
-- abort on the recursion, so they stay interpreted.
jit.off(to_wire)
jit.off(from_wire)

-- The bytes for v. name starts the path in error messages ("otherargs").
function M.encode(v, name)
  local w = to_wire(v, name or "value", {})
  local buf = buffer.new(options)
  buf:put(MAGIC)
  buf:encode(w)
  return buf:tostring()
end

-- The value back from M.encode's bytes; what names them in the error.
function M.decode(bytes, what)
  local function bad(why)
    error("cannot decode " .. (what or "a value") .. ": " .. why, 0)
  end
  if type(bytes) ~= "string" then bad("not a string") end
  if bytes:sub(1, #MAGIC) ~= MAGIC then bad("it does not start with rios-lua's codec magic") end
  -- string.buffer sizes a table as the bytes declare before reading it:
  -- the runtime checks first that nothing declares more than there is
  if C.rios_ffi_codec_check(ffi.cast("const char *", bytes) + #MAGIC, #bytes - #MAGIC,
                            check_err) ~= base.OK then
    bad(ffi.string(check_err.msg))
  end
  local buf = buffer.new(options)
  buf:set(bytes)
  buf:skip(#MAGIC)
  local ok, w = pcall(buf.decode, buf)
  if not ok then bad(tostring(w)) end
  if #buf ~= 0 then bad(#buf .. " bytes left over after the value") end
  local ok2, v = pcall(from_wire, w)
  if not ok2 then bad(tostring(v)) end
  return v
end

return M
