-- spec/support/tmux.lua: drive a program in a real pseudo-terminal through
-- tmux, as a person at a terminal would: send keys, read the screen.
--
--   local t = Tmux.start("rios-lua", { HOME = dir })
--   t:send("6 * 7", "Enter")
--   t:wait_line("42")
--   t:kill()
--
-- Each session runs on its own tmux server (its own socket), started with
-- no configuration file, so specs neither see nor touch anyone's tmux.
local H = require("support.helpers")

local Tmux = {}
Tmux.__index = Tmux

local counter = 0

local function sh(cmd)
  local status, out, err = H.run(cmd)
  return status, out, err
end

local function sleep(s)
  os.execute("sleep " .. s)
end
Tmux.sleep = sleep

-- cmd: the command line to run; env: table of environment variables.
function Tmux.start(cmd, env, cols, rows)
  counter = counter + 1
  local p = io.popen("echo $$")
  local pid = p:read("*l")
  p:close()
  -- the socket lives in a private folder, removed by kill(): nothing is
  -- left in /tmp/tmux-UID after the specs
  local dir = H.tmpdir()
  local self = setmetatable({ socket = dir .. "/tmux-" .. pid .. "-" .. counter, dir = dir },
                            Tmux)
  local envs = { "TERM=xterm" }
  for k, v in pairs(env or {}) do envs[#envs + 1] = k .. "=" .. H.q(v) end
  local full = "cd " .. H.q(H.root) .. " && env " .. table.concat(envs, " ") .. " " .. cmd
  local status, _, err = sh(self:tmux() .. " new-session -d -x " .. (cols or 150) .. " -y "
                            .. (rows or 50) .. " " .. H.q(full))
  assert(status == 0, "tmux new-session failed: " .. err)
  return self
end

function Tmux:tmux()
  return "tmux -f /dev/null -S " .. H.q(self.socket)
end

-- Keys as tmux send-keys names them: text is typed as is, "Enter", "Tab",
-- "Up", "C-c", "C-d" are keys.
function Tmux:send(...)
  local parts = {}
  for _, k in ipairs({ ... }) do parts[#parts + 1] = H.q(k) end
  local status, _, err = sh(self:tmux() .. " send-keys -t 0 " .. table.concat(parts, " "))
  assert(status == 0, "tmux send-keys failed: " .. err)
end

-- The screen and its scrollback, one string.
function Tmux:screen()
  local _, out = sh(self:tmux() .. " capture-pane -p -J -S -500 -t 0")
  return out
end

-- Wait (up to timeout seconds) until test(screen) is true; returns the
-- screen, or fails the spec showing the screen.
function Tmux:wait(test, what, timeout)
  local deadline = os.time() + (timeout or 10)
  local screen
  repeat
    screen = self:screen()
    if test(screen) then return screen end
    sleep(0.1)
  until os.time() > deadline
  error("timed out waiting for " .. what .. "; the screen was:\n" .. screen, 2)
end

local function lines_of(screen)
  local lines = {}
  for line in (screen .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line:gsub("%s+$", "") end
  return lines
end
Tmux.lines_of = lines_of

-- The number of screen lines exactly equal to line.
function Tmux.count_lines(screen, line)
  local n = 0
  for _, l in ipairs(lines_of(screen)) do
    if l == line then n = n + 1 end
  end
  return n
end

-- Wait until at least n (default 1) lines of the screen are exactly line.
function Tmux:wait_line(line, n, timeout)
  return self:wait(function(s) return Tmux.count_lines(s, line) >= (n or 1) end,
                   "the line '" .. line .. "'", timeout)
end

-- Wait until the screen contains text (plain, not a pattern).
function Tmux:wait_text(text, timeout)
  return self:wait(function(s) return s:find(text, 1, true) ~= nil end, "'" .. text .. "'",
                   timeout)
end

-- Whether the program is still running (its session still exists).
function Tmux:alive()
  return (sh(self:tmux() .. " has-session -t 0")) == 0
end

function Tmux:kill()
  sh(self:tmux() .. " kill-server")
  os.remove(self.socket)
end

return Tmux
