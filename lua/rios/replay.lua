-- rios.replay: what a compute worker's re-run of the script sees of the
-- world, so that a scaled run looks to the user like the sequential one.
--
-- A compute worker runs the script again from the start, up to the
-- rios.apply call it serves (see rios.worker). On the way:
--   * standard input: the main state records every byte the script reads
--     from stdin (M.record_stdin, installed by the host before the script
--     runs); a worker's re-run reads exactly what the main state had read
--     when it made that rios.apply call, then end of file (M.replay_stdin);
--   * standard output and error: a worker's re-run writes nothing until it
--     reaches its rios.apply (rios.console's mute): the main state already
--     showed it;
--   * earlier rios.apply calls are not run again: each returns what it
--     returned in the main state, or raises the error it raised there (see
--     rios.apply's history).
-- Not replayed: files the script writes, processes it starts and anything
-- else with an effect outside Lua happen again in every worker (guard them
-- with `if not rios.is_worker() then ... end`); stdin read through
-- io.input():read() or a file opened on /dev/stdin is not recorded.
local M = {}

local function fmt_kind(fmt)
  if type(fmt) == "number" then return "n", fmt end
  if fmt == nil then return "l" end
  local k = tostring(fmt):gsub("^%*", ""):sub(1, 1)
  return k
end

-- A stand-in for io.stdin and for io.read/io.lines without a file name:
-- read(fmt) returns what the real read would. source is an object with
-- read1(kind, n): one value for one format (and it records, or replays).
local function stand_in(source, name)
  local file = {}
  local function read(_, ...)
    local n = select("#", ...)
    if n == 0 then return source.read1("l") end
    local out = {}
    for i = 1, n do
      local kind, count = fmt_kind((select(i, ...)))
      local v = source.read1(kind, count)
      out[i] = v
      if v == nil then return unpack(out, 1, i) end
    end
    return unpack(out, 1, n)
  end
  file.read = read
  function file.lines(self)
    return function() return read(self, "*l") end
  end
  function file.close() return nil, "cannot close standard input" end
  function file.seek() return nil, "standard input cannot seek here" end
  function file.setvbuf() return true end
  function file.write() return nil, "standard input is not writable" end
  function file.flush() return file end
  return setmetatable(file, { __tostring = function() return "file (" .. name .. ")" end,
                              __index = function(_, k)
                                error("io.stdin." .. tostring(k) .. " is not available", 2)
                              end })
end

local function install(file)
  io.stdin = file
  io.read = function(...) return file:read(...) end
  local real_lines = io.lines
  io.lines = function(path, ...)
    if path == nil then return file:lines() end
    return real_lines(path, ...)
  end
end

-- Main state: every byte the script reads from stdin, in order.
local recorded = nil

function M.record_stdin()
  if recorded then return end
  recorded = {}
  local real = io.stdin
  local source = {}
  function source.read1(kind, count)
    if kind == "n" and count then
      local s = real:read(count)
      if s then recorded[#recorded + 1] = s end
      return s
    elseif kind == "a" then
      local s = real:read("*a")
      recorded[#recorded + 1] = s
      return s
    elseif kind == "L" or kind == "l" then
      local s = real:read("*L")
      if s == nil then return nil end
      recorded[#recorded + 1] = s
      if kind == "l" and s:sub(-1) == "\n" then s = s:sub(1, -2) end
      return s
    elseif kind == "n" then
      local v = real:read("*n")
      if v ~= nil then recorded[#recorded + 1] = string.format("%.17g ", v) end
      return v
    end
    error("bad argument to 'read' (invalid format)", 3)
  end
  install(stand_in(source, "stdin"))
end

-- What the script has read from stdin so far (main state).
function M.stdin_consumed()
  if not recorded then return "" end
  local s = table.concat(recorded)
  recorded = { s }
  return s
end

-- Worker: stdin is bytes, then end of file.
function M.replay_stdin(bytes)
  local pos = 1
  local source = {}
  function source.read1(kind, count)
    if kind == "n" and count then
      if pos > #bytes then return nil end
      local s = bytes:sub(pos, pos + count - 1)
      pos = pos + #s
      return s
    elseif kind == "a" then
      local s = bytes:sub(pos)
      pos = #bytes + 1
      return s
    elseif kind == "L" or kind == "l" then
      if pos > #bytes then return nil end
      local nl = bytes:find("\n", pos, true)
      local last = nl or #bytes
      local s = bytes:sub(pos, last)
      pos = last + 1
      if kind == "l" and nl then s = s:sub(1, -2) end
      return s
    elseif kind == "n" then
      local from, to = bytes:find("^%s*[-+]?[%w%.]+", pos)
      if not from then return nil end
      local v = tonumber((bytes:sub(from, to):gsub("^%s+", "")))
      pos = to + 1
      return v
    end
    error("bad argument to 'read' (invalid format)", 3)
  end
  install(stand_in(source, "stdin, as the main process read it"))
end

return M
