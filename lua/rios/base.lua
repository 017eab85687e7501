-- rios.base: what every rios module shares: the FFI declarations (loaded
-- once per Lua state from the generated rios.cdef), the C namespace, one
-- error buffer per state, and the two ways rios reports a problem.
local ffi = require("ffi")
local registry = require("rios.registry")

local M = {}

if not pcall(ffi.typeof, "rios_err") then
  ffi.cdef(require("rios.cdef"))
end

local C = ffi.C
M.C = C
M.ffi = ffi
-- The return codes of every rios_ffi_* function that can fail (rios_ffi.h).
M.OK, M.FAIL = C.RIOS_OK, C.RIOS_FAIL

-- Made once per state, never per call.
M.err = ffi.new("rios_err")

-- The traceback of msg as the user's code sees it, from a message handler:
-- level counts as debug.traceback's does, from the caller of this function.
-- The frames of rios's own modules (lua/rios, workers/) say nothing to the
-- user, and neither do the pcall/xpcall frames they called through; the
-- user's frames and the C functions the user called stay, so a traceback
-- reads the same in a sequential run and in any kind of worker.
function M.user_traceback(msg, level)
  local tb = debug.traceback(msg, level + 1)
  local msg_end = tb:find("\nstack traceback:\n", 1, true)
  local lua_dir, root_dir = M.host.lua_dir, M.host.root_dir
  if not msg_end or not lua_dir then return tb end
  local function ours(line)
    return line:find(lua_dir, 1, true) ~= nil
           or (root_dir ~= nil and line:find(root_dir .. "/workers/", 1, true) ~= nil)
  end
  local frames = {}
  for line in tb:sub(msg_end + 18):gmatch("[^\n]+") do frames[#frames + 1] = line end
  local lines = { tb:sub(1, msg_end - 1), "stack traceback:" }
  for i, line in ipairs(frames) do
    local protected = line:find("[C]: in function 'xpcall'", 1, true)
                      or line:find("[C]: in function 'pcall'", 1, true)
    if not ours(line) and not (protected and (frames[i + 1] == nil or ours(frames[i + 1]))) then
      lines[#lines + 1] = line
    end
  end
  return table.concat(lines, "\n")
end

-- "1 band", "3 bands": a count with its noun, for messages.
function M.count(n, noun)
  return tostring(n) .. " " .. noun .. (n == 1 and "" or "s")
end

function M.errmsg()
  return ffi.string(M.err.msg)
end

-- The out-parameter of the functions that hand back an owned C string
-- (WKT, VRT text); M.take_string() turns it into a Lua string and frees it.
M.str_out = ffi.new("char *[1]")

function M.take_string()
  local p = M.str_out[0]
  M.str_out[0] = nil
  local s = ffi.string(p)
  C.rios_ffi_heap_free(p)
  return s
end

-- The dtypes, read once from the runtime's table (runtime/dtype.h lists
-- them; C is the one source, so names, sizes and GDAL types cannot drift).
M.dtypes = {}        -- code + 1 -> dtype name
M.dtype_code = {}    -- dtype name -> code
M.dtype_ctype = {}   -- dtype name -> element ctype
M.dtype_ptr = {}     -- dtype name -> pointer ctype (the ctype cache)
M.dtype_size = {}    -- dtype name -> bytes per element
M.dtype_cname = {}   -- dtype name -> C type name ("uint16_t")
M.dtype_gdal = {}    -- dtype name -> GDAL type name ("UInt16"; int8 is "Byte" before GDAL 3.7)
M.dtype_is_integer = {}
do
  local info = C.rios_ffi_dtypes()
  for code = 0, C.RIOS_NDTYPES - 1 do
    local d = info[code]
    local name, cname = ffi.string(d.name), ffi.string(d.ctype)
    M.dtypes[code + 1] = name
    M.dtype_code[name] = code
    M.dtype_ctype[name] = ffi.typeof(cname)
    M.dtype_ptr[name] = ffi.typeof(cname .. " *")
    M.dtype_size[name] = d.size
    M.dtype_cname[name] = cname
    M.dtype_gdal[name] = ffi.string(d.gdal_name)
    M.dtype_is_integer[name] = d.is_integer ~= 0
  end
end

-- "file:line: " where the function `level` levels up the stack is (1: the
-- caller of where itself), or "" when that is not Lua code.
function M.where(level)
  local info = debug.getinfo(level + 1, "Sl")
  if info and info.currentline and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline .. ": "
  end
  return ""
end

-- A mistake in what the user asked for (a bad control, a missing file, an
-- output of the wrong shape) is raised as a user error: a small object that
-- prints as its one line (tostring, .., and the string methods such as
-- err:match work on it), which the host and the workers recognise by its
-- metatable and report without a traceback, exit status 1. Its metatable
-- lives in the registry (runtime/registry.h) so every module of a state,
-- and the host's C error handler, share the same one.
local R = debug.getregistry()
local UserError = R[registry.USER_ERROR]
if not UserError then
  UserError = {
    __tostring = function(e) return e.msg end,
    __concat = function(a, b) return tostring(a) .. tostring(b) end,
    __index = function(_, key)
      local f = string[key]
      if f then return function(self, ...) return f(self.msg, ...) end end
    end,
  }
  R[registry.USER_ERROR] = UserError
end

-- Whether e is an error the user made (raised by M.raise).
function M.is_user_error(e)
  return getmetatable(e) == UserError
end

-- Raise a user error: where is "file:line: " of the user's call (M.where,
-- or rios.apply's own), msg the one line that says what is wrong.
function M.raise(where, msg)
  error(setmetatable({ msg = (where or "") .. tostring(msg) }, UserError), 0)
end

-- The text of an error value, called from a message handler (xpcall's)
-- while the stack that raised it is still there. A string is as it is. Any
-- other value gets the "file:line: " of the Lua code that raised it (Lua
-- adds it to strings only) and its __tostring text, else its type:
--   script.lua:7: error raised with a table value (it has no __tostring)
function M.error_text(e)
  if type(e) == "string" then return e end
  local where = ""
  for level = 3, 6 do   -- 1: this function, 2: the handler, then error() or the code
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.what ~= "C" and info.currentline and info.currentline > 0 then
      where = info.short_src .. ":" .. info.currentline .. ": "
      break
    end
  end
  local mt = getmetatable(e)
  if type(mt) == "table" and mt.__tostring then
    local ok, text = pcall(tostring, e)
    if ok and type(text) == "string" then return where .. text end
  end
  return where .. "error raised with a " .. type(e) .. " value (it has no __tostring)"
end

-- The host's facts (exe path, module folder, version), set by rios_state_new.
M.host = R[registry.HOST] or {}
M.registry = registry

return M
