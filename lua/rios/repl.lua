-- rios.repl: the Lua half of the interactive prompt (runtime/repl.c): how
-- values are printed and what Tab completes.
--
-- Printing: tables nested to a few levels, arrays as their shape, dtype and
-- per-band min/max/mean, rasters as their one-screen summary, everything
-- else with tostring.
-- Completion: globals and keywords; after `a.b.` the fields of a.b, after
-- `a:` its methods (an array's, a raster's, a string's too).
local array = require("rios.array")

local M = {}

M.max_depth = 3      -- table levels printed before "{...}"
M.max_items = 40     -- entries printed per table before "..."
M.max_bands = 8      -- bands described per array
M.max_string = 100   -- characters of a string shown inside a table

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
end

-- min, max, mean and the count of values that are not NaN, for band b
-- (0-based) of array a.
local function band_stats(a, b)
  local d, n = a.data, a.rows * a.cols
  local first = b * n
  local mn, mx, sum, count = math.huge, -math.huge, 0, 0
  for i = first, first + n - 1 do
    local v = tonumber(d[i])
    if v == v then
      if v < mn then mn = v end
      if v > mx then mx = v end
      sum = sum + v
      count = count + 1
    end
  end
  return mn, mx, count > 0 and sum / count or 0 / 0, count
end

local function num(v)
  if v == math.floor(v) and math.abs(v) < 1e15 then return string.format("%d", v) end
  return string.format("%.6g", v)
end

-- "rios.array float32, 2 bands x 100 rows x 120 cols" and a line per band.
function M.describe_array(a)
  if rawget(a, "data") == nil then return tostring(a) .. " (released when its block was written)" end
  local lines = { string.format("rios.array %s, %d band%s x %d rows x %d cols", a.dtype,
                                a.bands, a.bands == 1 and "" or "s", a.rows, a.cols) }
  for b = 0, math.min(a.bands, M.max_bands) - 1 do
    local mn, mx, mean, count = band_stats(a, b)
    if count == 0 then
      lines[#lines + 1] = string.format("  band %d: every value is NaN", b + 1)
    else
      local nan = a.rows * a.cols - count
      lines[#lines + 1] = string.format("  band %d: min %s  max %s  mean %s%s", b + 1, num(mn),
                                        num(mx), num(mean),
                                        nan > 0 and ("  (" .. nan .. " NaN)") or "")
    end
  end
  if a.bands > M.max_bands then
    lines[#lines + 1] = string.format("  ... and %d more bands", a.bands - M.max_bands)
  end
  return table.concat(lines, "\n")
end

local function key_text(k)
  if is_identifier(k) then return k end
  if type(k) == "string" then return "[" .. string.format("%q", k) .. "]" end
  return "[" .. tostring(k) .. "]"
end

local format

local function format_table(t, depth, indent, seen)
  if seen[t] then return "{<cycle>}" end
  if depth >= M.max_depth then return "{...}" end
  seen[t] = true
  local n = #t
  local keys = {}
  for k in pairs(t) do
    if not (type(k) == "number" and k >= 1 and k <= n and k == math.floor(k)) then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, function(x, y)
    local tx, ty = type(x), type(y)
    if tx ~= ty then return tx < ty end
    if tx == "number" or tx == "string" then return x < y end
    return tostring(x) < tostring(y)
  end)
  local items, count = {}, 0
  for i = 1, n do
    count = count + 1
    if count > M.max_items then break end
    items[#items + 1] = format(t[i], depth + 1, indent .. "  ", seen, true)
  end
  for _, k in ipairs(keys) do
    count = count + 1
    if count > M.max_items then break end
    items[#items + 1] = key_text(k) .. " = " .. format(t[k], depth + 1, indent .. "  ", seen,
                                                        true)
  end
  if count > M.max_items then
    items[#items + 1] = "... (" .. (n + #keys - M.max_items) .. " more)"
  end
  seen[t] = nil
  if #items == 0 then return "{}" end
  local one = "{ " .. table.concat(items, ", ") .. " }"
  if #one + #indent <= 78 and not one:find("\n") then return one end
  return "{\n" .. indent .. "  " .. table.concat(items, ",\n" .. indent .. "  ") .. "\n"
         .. indent .. "}"
end

-- Inside a table, a long or many-line text is cut to its start.
local function shorten(s)
  local first = s:match("^[^\n]*")
  if #first > M.max_string then first = first:sub(1, M.max_string) end
  if #first < #s then return first .. " ... (" .. #s .. " characters)" end
  return s
end

-- One value as the prompt shows it. nested: inside a table (strings quoted,
-- long ones cut).
format = function(v, depth, indent, seen, nested)
  local t = type(v)
  if t == "string" then
    if not nested then return v end
    local short = shorten(v)
    if short == v then return string.format("%q", v) end
    return string.format("%q", short:match("^(.-) %.%.%. %(%d+ characters%)$"))
           .. " ... (" .. #v .. " characters)"
  end
  if array.is_array(v) then
    if nested then return tostring(v) end
    return M.describe_array(v)
  end
  if t == "table" then
    local mt = getmetatable(v)
    if mt and mt.__tostring then
      return nested and shorten(tostring(v)) or tostring(v)
    end
    return format_table(v, depth, indent, seen)
  end
  return tostring(v)
end

function M.format(v)
  return format(v, 0, "", {}, false)
end

-- Print the values a chunk returned, separated by tabs (as print does).
function M.show(...)
  local n = select("#", ...)
  local out = {}
  for i = 1, n do out[i] = M.format((select(i, ...))) end
  io.stdout:write(table.concat(out, "\t"), "\n")
  io.stdout:flush()
end

local keywords = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
                   "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then",
                   "true", "until", "while" }

-- Names reachable from value v: its own keys and its metatable's __index
-- tables; methods only (functions) when methods is true.
local function names_of(v, methods, out)
  local seen_tables = {}
  local function add_table(t)
    if seen_tables[t] then return end
    seen_tables[t] = true
    for k, x in pairs(t) do
      if is_identifier(k) and k:sub(1, 2) ~= "__" and (not methods or type(x) == "function") then
        out[k] = true
      end
    end
    local mt = getmetatable(t)
    if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then
      add_table(rawget(mt, "__index"))
    end
  end
  if array.is_array(v) then
    for k in pairs(array.methods) do out[k] = true end
    if not methods then
      for _, k in ipairs({ "bands", "rows", "cols", "dtype", "data" }) do out[k] = true end
    end
  elseif type(v) == "table" then
    add_table(v)
  elseif type(v) == "string" then
    add_table(string)
  end
end

-- Completions of text, the word before the cursor: whole replacements,
-- sorted.
function M.complete(text)
  local out = {}
  local head, sep, word = text:match("^(.*)([%.:])([%w_]*)$")
  if head then
    local v = _G
    for part in (head .. "."):gmatch("([^.:]*)[.:]") do
      if not is_identifier(part) then return {} end
      local ok, x = pcall(function() return v[part] end)
      if not ok or x == nil then return {} end
      v = x
    end
    if head:find(":") then return {} end
    local names = {}
    names_of(v, sep == ":", names)
    for k in pairs(names) do
      if k:sub(1, #word) == word then out[#out + 1] = head .. sep .. k end
    end
  else
    if not text:match("^[%a_]?[%w_]*$") then return {} end
    local names = {}
    for k in pairs(_G) do
      if is_identifier(k) then names[k] = true end
    end
    for _, k in ipairs(keywords) do names[k] = true end
    for k in pairs(names) do
      if k:sub(1, #text) == text then out[#out + 1] = k end
    end
  end
  table.sort(out)
  return out
end

return M
