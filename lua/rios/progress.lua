-- rios.progress: the progress line of rios.apply, and the place a run
-- notices Ctrl-C between blocks.
--
--   local p = progress.start(total_blocks, controls.progress)
--   p:step()     -- after each block
--   p:finish()   -- however the run ends: clears the line
--
-- The line goes to stderr:  "rios.apply  42%  21/50 blocks  0:03 elapsed  0:04 left"
-- redrawn at most four times a second and cleared at the end. It is never
-- shown when rios-lua was started with -q; otherwise when controls.progress
-- is true, or when it is nil (the default) and stderr is a terminal.
--
-- step() also asks the host whether Ctrl-C was pressed at the interactive
-- prompt while this run was going (runtime/repl.c): a block function that
-- LuaJIT compiled never sees the prompt's hook, so the run stops here, at
-- the end of the block, with "interrupted".
local base = require("rios.base")
local console = require("rios.console")
local C = base.C

local M = {}

local Progress = {}
Progress.__index = Progress

local REDRAW = 0.25  -- seconds between redraws

local function clock(s)
  s = math.floor(s + 0.5)
  if s >= 3600 then
    return string.format("%d:%02d:%02d", math.floor(s / 3600), math.floor(s / 60) % 60, s % 60)
  end
  return string.format("%d:%02d", math.floor(s / 60), s % 60)
end

-- Whether a run with this controls.progress value shows the line: never
-- under -q; else as set; unset, when stderr is a terminal.
function M.enabled(setting)
  if base.host.quiet then return false end
  if setting ~= nil then return setting end
  return C.rios_ffi_isatty(2)
end

-- where: "script.lua:LINE: " for the interrupt message.
function M.start(total, setting, where)
  local self = setmetatable({ total = total, done = 0, shown = M.enabled(setting) and total > 0,
                              t0 = C.rios_ffi_now(), last = -math.huge, width = 0,
                              where = where or "" }, Progress)
  if self.shown then
    -- the script's own output clears the line first and draws it again after
    console.around_output({
      before = function() self:clear() end,
      after = function()
        console.flush_stdout()
        self:draw(C.rios_ffi_now())
      end,
    })
  end
  return self
end

-- The text of the line for done of total blocks after elapsed seconds.
function M.line(done, total, elapsed)
  local pct = math.floor(100 * done / total)
  local left = done > 0 and elapsed / done * (total - done) or 0
  return string.format("rios.apply %3d%%  %d/%d blocks  %s elapsed  %s left", pct, done,
                       total, clock(elapsed), done > 0 and clock(left) or "?")
end

function Progress:draw(now)
  local s = M.line(self.done, self.total, now - self.t0)
  local pad = self.width > #s and string.rep(" ", self.width - #s) or ""
  local err = console.stderr()
  err:write("\r", s, pad)
  err:flush()
  self.width = #s
  self.last = now
end

-- Take the line off the screen (it is drawn again at the next step).
function Progress:clear()
  if self.width > 0 then
    local err = console.stderr()
    err:write("\r", string.rep(" ", self.width), "\r")
    err:flush()
    self.width = 0
  end
end

function Progress:step()
  self.done = self.done + 1
  if C.rios_ffi_interrupt_pending() then
    -- the prompt's hook is still armed: disarm it so the run's cleanup is
    -- not interrupted in turn
    debug.sethook()
    self:finish()
    base.raise(self.where, "rios.apply: interrupted (Ctrl-C) after " .. self.done .. " of "
               .. self.total .. " blocks")
  end
  if self.shown then
    local now = C.rios_ffi_now()
    if now - self.last >= REDRAW then self:draw(now) end
  end
end

function Progress:finish()
  if self.shown then
    self:clear()
    console.around_output(nil)
  end
  self.shown = false
end

return M
