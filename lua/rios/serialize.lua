-- rios.serialize: plain values to text and back, so one Lua state can give
-- another (a compute worker's, later a remote one's) a deep copy. Numbers,
-- strings, booleans, nested tables and rios arrays go through; anything
-- else (a function, coroutine, userdata or cdata) is an error that names
-- where it is, e.g. "otherargs.stats[2].fn is a function".
local array = require("rios.array")
local base = require("rios.base")
local ffi = base.ffi

local M = {}

local fmt = string.format

local function number(v)
  if v ~= v then return "0/0" end
  if v == math.huge then return "1/0" end
  if v == -math.huge then return "-1/0" end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return fmt("%d", v) end
  return fmt("%.17g", v)
end

local function key_path(path, k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return path .. "." .. k end
  if type(k) == "string" then return path .. fmt("[%q]", k) end
  return path .. "[" .. tostring(k) .. "]"
end

local function dump(v, path, out, seen)
  local t = type(v)
  if t == "number" then
    out[#out + 1] = number(v)
  elseif t == "string" then
    out[#out + 1] = fmt("%q", v)
  elseif t == "boolean" or t == "nil" then
    out[#out + 1] = tostring(v)
  elseif array.is_array(v) then
    if v.data == nil then
      error(path .. " is an array that was already released", 0)
    end
    out[#out + 1] = fmt("A(%q,%d,%d,%d,%q)", v.dtype, v.bands, v.rows, v.cols,
                        ffi.string(v.data, v:nbytes()))
  elseif t == "table" then
    if seen[v] then error(path .. " is a table that contains itself", 0) end
    seen[v] = true
    out[#out + 1] = "{"
    for k, x in pairs(v) do
      local kt = type(k)
      if kt ~= "string" and kt ~= "number" and kt ~= "boolean" then
        error(key_path(path, "?") .. " has a key that is a " .. kt
              .. " (keys must be strings, numbers or booleans)", 0)
      end
      out[#out + 1] = "["
      dump(k, path, out, seen)
      out[#out + 1] = "]="
      dump(x, key_path(path, k), out, seen)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
    seen[v] = nil
  else
    error(path .. " is a " .. t .. ", which cannot be copied to another Lua state (only "
          .. "numbers, strings, booleans, tables and rios arrays can)", 0)
  end
end

-- Text for v; errors name the value's place, starting from name.
function M.dump(v, name)
  local out = { "return " }
  dump(v, name or "value", out, {})
  return table.concat(out)
end

-- The value back from M.dump's text.
function M.load(text)
  local chunk, err = loadstring(text, "=serialized value")
  if not chunk then error("cannot read a serialized value: " .. err, 0) end
  setfenv(chunk, {
    A = function(dtype, bands, rows, cols, bytes)
      local a = array.new(dtype, bands, rows, cols)
      ffi.copy(a.data, bytes, #bytes)
      return a
    end,
  })
  return chunk()
end

return M
