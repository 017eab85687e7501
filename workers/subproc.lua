-- workers.subproc: compute workers of kind "subproc": rios-luaworker
-- processes on this machine, started by rios-lua itself, connected over
-- loopback (workers/remote.lua has the protocol; workers/procs.c starts
-- and reaps the processes). Each worker is its own process: a crash, a
-- runaway loop or memory it leaks stays in it, and a worker that dies does
-- not end the run (its blocks go to the others).
local base = require("rios.base")
local remote = require("workers.remote")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

-- The rios-luaworker beside this rios-lua (rios-lua-asan runs
-- rios-luaworker-asan).
function M.worker_program()
  local exe = base.host.exe_path or "rios-lua"
  local dir, name = exe:match("^(.*)/([^/]*)$")
  name = (name or exe):gsub("^rios%-lua", "rios-luaworker")
  return (dir and (dir .. "/") or "") .. name
end

local Launcher = {}
Launcher.__index = Launcher

function Launcher:start(mgr, address_file, n)
  local prog = M.worker_program()
  local argv = ffi.new("const char *[4]", { prog, "--address-file", address_file, nil })
  local pid, err = ffi.new("int[1]"), mgr.err
  for i = 1, n do
    if C.rios_ffi_proc_spawn(argv, nil, pid, err) ~= OK then
      mgr:raise("cannot start compute worker " .. i .. ": " .. ffi.string(err.msg))
    end
    self.pids[#self.pids + 1] = pid[0]
  end
end

-- Whether worker process pid still runs; once it has ended (and been
-- reaped) how it ended is kept: nil while running, else "exit status N"
-- or "signal N".
local state, code = ffi.new("int[1]"), ffi.new("int[1]")
function Launcher:ended_how(mgr, pid)
  if self.ended[pid] == nil and C.rios_ffi_proc_poll(pid, state, code, mgr.err) == OK
     and state[0] ~= C.RIOS_PROC_RUNNING then
    self.ended[pid] = (state[0] == C.RIOS_PROC_EXITED and "exit status " or "signal ") .. code[0]
    self.reaped[pid] = true
  end
  return self.ended[pid]
end

local function joined_pids(mgr)
  local joined = {}
  for _, rec in pairs(mgr.workers) do joined[rec.pid] = true end
  return joined
end

-- A worker process that ended before it connected never will. The second
-- value says the run may go on without it (remote.lua counts it as a lost
-- worker), as it would had the process ended just after connecting.
function Launcher:poll(mgr)
  local joined = joined_pids(mgr)
  for _, pid in ipairs(self.pids) do
    local how = self:ended_how(mgr, pid)
    if how and not joined[pid] and not self.reported[pid] then
      self.reported[pid] = true
      return string.format("compute worker process %d (%s) ended before it connected: %s",
                           pid, M.worker_program(), how), true
    end
  end
end

-- Worker processes started that have neither connected nor ended.
function Launcher:starting(mgr)
  local joined, n = joined_pids(mgr), 0
  for _, pid in ipairs(self.pids) do
    if not joined[pid] and not self:ended_how(mgr, pid) then n = n + 1 end
  end
  return n
end

function Launcher:describe()
  return nil
end

-- End every worker process: after a normal end those that ran are exiting
-- already; the others (still starting when the last block was written),
-- and every one after a failure, are sent SIGTERM. Each is reaped.
function Launcher:stop(mgr, failed)
  local finished = {}
  for _, rec in pairs(mgr.workers) do
    if rec.result then finished[rec.pid] = true end
  end
  for _, pid in ipairs(self.pids) do
    if not self.reaped[pid] then
      if failed or not finished[pid] then
        C.rios_ffi_proc_kill(pid, 15, mgr.err)
        C.rios_ffi_proc_kill(pid, 18, mgr.err)   -- SIGCONT: a stopped one takes the TERM
      end
      C.rios_ffi_proc_reap(pid, 2, state, code, mgr.err)
      self.reaped[pid] = true
    end
  end
end

-- controls.concurrency.extra for this kind: the channel's heartbeat and how
-- long a silent worker is given before it is declared lost (seconds).
local extra_keys = { heartbeat = true, lost_after = true }

function M.start(run, job)
  for k, v in pairs(run.concurrency.extra or {}) do
    if not extra_keys[k] then
      base.raise(run.where, "controls.concurrency.extra: unknown key '" .. tostring(k)
                 .. "' for kind \"subproc\" (known: heartbeat, lost_after)")
    end
    if type(v) ~= "number" or not (v > 0) then
      base.raise(run.where, "controls.concurrency.extra." .. k .. " must be a number of "
                 .. "seconds > 0, got " .. tostring(v))
    end
  end
  local launcher = setmetatable({ bind = "127.0.0.1", pids = {}, ended = {}, reaped = {}, reported = {} },
                                Launcher)
  return remote.start(run, job, launcher)
end

return M
