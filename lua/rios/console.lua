-- rios.console: what the script writes to standard output and error from
-- Lua (print, io.write, io.stdout:write, io.stderr:write), and the two
-- things rios-lua does to it:
--   * the progress line (rios.progress) is cleared before the script's
--     output and drawn again after it, so the two never garble each other;
--   * a compute worker's re-run of the script is muted until it reaches the
--     rios.apply it serves (the main state already showed that output).
-- M.install() replaces print, io.write, io.stdout and io.stderr with
-- forwarding versions once per state, before the script runs (the host
-- does it for the main state, rios.worker for a worker's), so that even a
-- script that keeps `local print = print` goes through them. io.stdout and
-- io.stderr become small tables that forward every method to the real
-- files (io.type() of them is nil; io.output() is still the real file).
local M = {}

local real = nil     -- the real print, io.write, io.stdout, io.stderr
local muted = false
local around = nil   -- { before = fn, after = fn } while a progress line is shown

local function before()
  if around then around.before() end
end

local function after()
  if around then around.after() end
end

local function proxy(file)
  local p = {}
  function p.write(self, ...)
    if muted then return self end
    before()
    local r, e = file:write(...)
    after()
    if r == file then return self end
    return r, e
  end
  return setmetatable(p, {
    __index = function(_, key)
      local f = file[key]
      if type(f) ~= "function" then return f end
      return function(self, ...)
        local r, e = f(file, ...)
        if r == file then return self end
        return r, e
      end
    end,
    __tostring = function() return tostring(file) end,
  })
end

function M.install()
  if real then return end
  real = { print = print, write = io.write, stdout = io.stdout, stderr = io.stderr }
  local stdout, stderr = proxy(real.stdout), proxy(real.stderr)
  rawset(_G, "print", function(...)
    if muted then return end
    before()
    real.print(...)
    after()
  end)
  io.write = function(...)
    if muted then return stdout end
    before()
    local r, e = real.write(...)
    after()
    if r == real.stdout then return stdout end
    return r, e
  end
  io.stdout, io.stderr = stdout, stderr
end

-- The real standard error, for rios's own lines (the progress line).
function M.stderr()
  return real and real.stderr or io.stderr
end

-- Flush the real standard output (before the progress line is drawn).
function M.flush_stdout()
  if real then real.stdout:flush() else io.stdout:flush() end
end

function M.mute() muted = true end
function M.unmute() muted = false end

-- While a progress line is shown: before() clears it, after() draws it
-- again; nil when it is gone.
function M.around_output(t)
  around = t
end

return M
