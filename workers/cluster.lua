-- workers/cluster.lua: compute workers as batch jobs, the kinds "slurm" and
-- "pbs" (workers/slurm.lua and workers/pbs.lua hand over here). Each worker
-- is a job running rios-luaworker against this process's data channel: one
-- job per worker (compute_workers), or one per block (single_block_workers).
-- This is the launcher workers/remote.lua runs them with (the protocol, the
-- dispatch loop and lost workers are remote.lua's); the jobs are written,
-- submitted, watched and cancelled through workers/batch.lua.
--
--   prepare   before any file is touched: extra checked, the scheduler there
--   start     the channel, then the jobs: the address reaches them through
--             the address file in the run's temporary folder (shared_temp,
--             the default: a folder the nodes must share) or through their
--             environment only (shared_temp = false)
--   poll      every half second from the dispatch loop: a noted SIGINT or
--             SIGTERM, jobs that ended before their worker connected (named
--             with their log's tail), single-block jobs topped up; the
--             scheduler itself is asked at batch.lua's backing-off interval
--   replace   a lost worker's job is cancelled and another submitted, while
--             the retry budget lasts
--   stop      every job of the run not ended is cancelled (said on failure)
local base = require("rios.base")
local batch = require("workers.batch")
local remote = require("workers.remote")
local subproc = require("workers.subproc")
local console = require("rios.console")
local ffi, C = base.ffi, base.C

local M = {}

local now = C.rios_ffi_now

-- single_block_workers: jobs queued or running at once unless extra.max_jobs.
local MAX_JOBS = 32
-- Seconds a job that ended is given for its worker's frames to arrive
-- before it counts as one whose worker never connected.
local GRACE = 1
-- Seconds the scheduler may fail to answer before the run fails.
local PATIENCE = 120
-- Seconds a finished run waits for jobs whose workers are done to end.
local END_WAIT = 10

local signal_names = { [1] = "SIGHUP", [2] = "SIGINT (Ctrl-C)", [15] = "SIGTERM" }

pcall(ffi.cdef, "char *getcwd(char *buf, size_t size);")
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local buf = ffi.new("char[4096]")
  local cwd = C.getcwd(buf, 4096) ~= nil and ffi.string(buf) or "/"
  return (cwd:gsub("/$", "")) .. "/" .. path:gsub("^%./", "")
end

-- Before any file is touched: controls.concurrency.extra checked and the
-- scheduler asked whether it is there (one line if not). The manager is
-- kept in conc for start. With single_block_workers the run has up to
-- extra.max_jobs workers (jobs) at a time.
function M.prepare(kind, conc, where)
  -- With shared_temp = false the channel reaches each job through these
  -- variables (their values are known once the channel listens).
  local env = not conc.shared_temp and { RIOS_LUAWORKER_ADDRESS = "", RIOS_LUAWORKER_KEY = "" }
              or nil
  local mgr = batch.new(kind, conc.extra, { where = where, env = env })
  if mgr.settings.max_jobs and not conc.single_block_workers then
    base.raise(where, "controls.concurrency.extra.max_jobs is for single_block_workers (with "
               .. "compute_workers = N, the run has N jobs)")
  end
  local ok, why = mgr:check()
  if not ok then base.raise(where, "rios.apply: " .. why) end
  conc.batch = mgr
  if conc.single_block_workers then
    conc.compute_workers = mgr.settings.max_jobs or MAX_JOBS
  end
end

local Launcher = {}
Launcher.__index = Launcher

local function loopback(host)
  return host:match("^127%.") ~= nil or host == "::1"
end

-- Advice on where rios-lua listens, when workers on other nodes cannot
-- reach it; or nil.
local function bind_hint(mgr)
  if not loopback(mgr.host) then return nil end
  return "rios-lua listens on " .. mgr.host .. ", which only this machine reaches: set "
         .. "controls.concurrency.extra.bind to an address of this host the compute nodes reach"
end

function Launcher:submit_one(mgr)
  local b = self.batch
  self.count = self.count + 1
  local label = "worker-" .. self.count
  local argv = { self.program }
  if self.address_file then
    argv[#argv + 1] = "--address-file"
    argv[#argv + 1] = self.address_file
  end
  argv[#argv + 1] = "--label"
  argv[#argv + 1] = label
  local job, err = b:submit(label, argv)
  if not job then mgr:fail(err) end
  local sig = C.rios_ffi_signal_pending()
  if sig ~= 0 then mgr:fail("interrupted by " .. (signal_names[sig] or ("signal " .. sig))) end
  return job
end

function Launcher:start_jobs(mgr, address_file, n)
  local run, b = self.run, self.batch
  local shared = run.concurrency.shared_temp
  local tempdir = absolute(ffi.string(C.rios_ffi_tempdir_path(run.tempdir)))
  local env
  if shared then
    self.address_file = absolute(address_file)
  else
    local host = mgr.host:find(":", 1, true) and ("[" .. mgr.host .. "]") or mgr.host
    env = { RIOS_LUAWORKER_ADDRESS = host .. ":" .. mgr.port,
            RIOS_LUAWORKER_KEY = ffi.string(mgr.key_hex) }
    -- Inputs the workers read must not be in a folder they cannot see.
    if run.concurrency.compute_workers_read then
      for _, rec in ipairs(run.ins) do
        local name = rec.read_name or rec.path
        if name:sub(1, #tempdir + 1) == tempdir .. "/" or absolute(name):sub(1, #tempdir + 1)
           == tempdir .. "/" then
          mgr:raise("input '" .. tostring(rec.path) .. "' is made into the run's temporary "
                    .. "folder, which the compute nodes do not see with shared_temp = false; "
                    .. "set compute_workers_read = false (this process reads for them) or "
                    .. "shared_temp = true")
        end
      end
    end
  end
  -- Scripts and logs beside the private folder (its name, then the
  -- worker's), where a failed run's logs stay for the user to read.
  b:set_job({ tempdir = tempdir, env = env, files_dir = shared and tempdir:match("^(.*)/[^/]+$")
              or nil, logs = shared or b.settings.script_dir ~= nil })
  self.program = b.settings.worker_command or subproc.worker_program()
  local nblocks = run.info.nx * run.info.ny
  if run.concurrency.single_block_workers then
    self.total, self.max_jobs = nblocks, n
  end
  C.rios_ffi_signals_defer(1)
  self.deferring = true
  for _ = 1, math.min(n, nblocks) do self:submit_one(mgr) end
end

function Launcher:start(mgr, address_file, n)
  local ok, err = pcall(self.start_jobs, self, mgr, address_file, n)
  if not ok then
    -- remote.start does not return: no release will stop what started.
    self:stop(mgr, true)
    error(err, 0)
  end
end

-- The worker of a job, once it said its label.
function Launcher:labelled(mgr, rec)
  local _ = mgr
  local job = self.batch.by_label[rec.label]
  if job then job.worker = rec end
end

-- "SLURM job 12, log /path/worker-1.log"
function Launcher:describe(mgr, pid, rec)
  local _ = mgr, pid
  local job = rec and rec.label and self.batch.by_label[rec.label]
  if not job then return nil end
  return self.batch.scheduler .. " job " .. job.id .. (job.log == "/dev/null" and ", no log"
                                                       or (", log " .. job.log))
end

-- The one-line report (and the log's tail) of a job that ended before its
-- worker connected.
function Launcher:never_connected(mgr, job)
  local b = self.batch
  local what = job.reason or job.state
  local msg = b.scheduler .. " job " .. job.id .. " (" .. job.label .. ") "
  if job.queued then
    msg = msg .. "cannot run: " .. what
  else
    msg = msg .. "ended before its worker connected: " .. what
  end
  local tail, why = b:log_tail(job, 10)
  if tail and tail ~= "" then
    msg = msg .. "; the end of its log " .. job.log .. ":\n  " .. tail:gsub("\n", "\n  ")
    if tail:find("cannot connect to the main process", 1, true) and bind_hint(mgr) then
      msg = msg .. "\n" .. bind_hint(mgr)
    end
  elseif job.log == "/dev/null" then
    msg = msg .. " (the job keeps no log with shared_temp = false; give "
          .. "controls.concurrency.extra.script_dir, a folder the nodes share, to have one)"
  elseif not job.queued then
    msg = msg .. " (" .. tostring(why) .. ": the run's temporary folder must be on a folder the "
          .. "compute nodes share; set controls.tempdir, or shared_temp = false)"
  end
  return msg
end

-- Jobs queued or running whose worker has not finished, and of those the
-- ones whose worker has not taken a block yet.
function Launcher:counts()
  local live, waiting = 0, 0
  for _, job in ipairs(self.batch.jobs) do
    if not job.retired and not job.ended_at then
      local rec = job.worker
      if not rec or (rec.live and not rec.result) then
        live = live + 1
        if not rec or rec.given == 0 then waiting = waiting + 1 end
      end
    end
  end
  return live, waiting
end

-- single_block_workers: a job for every block no worker has taken, as far
-- as max_jobs allows.
function Launcher:top_up(mgr)
  local remaining = math.max(0, self.total - mgr.next_new) + #mgr.queue
  local live, waiting = self:counts()
  while waiting < remaining and live < self.max_jobs do
    self:submit_one(mgr)
    live, waiting = live + 1, waiting + 1
  end
end

function Launcher:poll(mgr)
  local sig = C.rios_ffi_signal_pending()
  if sig ~= 0 then return "interrupted by " .. (signal_names[sig] or ("signal " .. sig)) end
  local b, t = self.batch, now()
  if t >= self.next_query then
    local changes, err = b:poll()
    self.next_query = now() + b:poll_delay()
    if not changes then
      self.silent_since = self.silent_since or t
      if t - self.silent_since > PATIENCE then
        return err .. " (for " .. PATIENCE .. " s)"
      end
    else
      self.silent_since = nil
      for _, c in ipairs(changes) do
        if batch.FINAL[c.state] then c.job.ended_at = c.job.ended_at or t end
      end
    end
  end
  -- A job that ended: its worker, if it connected, is lost once what it
  -- sent before it ended has arrived (the connection of a node that failed
  -- may stay silent until lost_after); if it never connected, the run
  -- cannot count on it.
  for _, job in ipairs(b.jobs) do
    if job.ended_at and not job.handled and t - job.ended_at >= GRACE then
      local rec = job.worker
      job.handled = true
      if rec then
        if rec.live then
          C.rios_ffi_hub_drop(mgr.hub, rec.id, "its " .. b.scheduler .. " job " .. job.id
                              .. " ended (" .. (job.reason or job.state) .. ")")
        end
      elseif not job.retired then
        return self:never_connected(mgr, job)
      end
    end
  end
  if self.total then self:top_up(mgr) end
end

-- A worker lost within the retry budget: its job goes (it may still run),
-- another comes (single_block_workers: top_up sees the block it gave back).
function Launcher:replace(mgr, rec)
  local b = self.batch
  local job = rec.label and b.by_label[rec.label]
  if job then
    job.retired = true
    local ok, err = b:cancel(job)
    if not ok then
      console.stderr():write("rios-lua: warning: cannot cancel ", b.scheduler, " job ", job.id,
                               " of a lost worker: ", err, "\n")
    end
  end
  if self.total then return end
  local new = self:submit_one(mgr)
  console.stderr():write("rios-lua: ", mgr.lost[#mgr.lost], "; ", b.scheduler, " job ", new.id,
                           " (", new.label, ") replaces it\n")
end

-- Why no worker has connected (for the barrier_timeout message).
function Launcher:waiting(mgr)
  local parts = {}
  for _, job in ipairs(self.batch:live_jobs()) do
    if not job.worker then
      parts[#parts + 1] = job.id .. " " .. job.state .. (job.reason and (" (" .. job.reason .. ")")
                                                         or "")
    end
  end
  if #parts == 0 then return "" end
  local hint = bind_hint(mgr)
  return "; " .. self.batch.scheduler .. " jobs " .. table.concat(parts, ", ")
         .. (hint and (" (" .. hint .. ")") or "")
end

-- Every job of the run not ended is cancelled, after a failure at once
-- (and said), after a normal end once the jobs whose workers are done had
-- a moment to end by themselves. Then a signal noted meanwhile is acted on.
function Launcher:stop(mgr, failed)
  if self.stopped then return end
  self.stopped = true
  local b = self.batch
  if not failed then
    local deadline = now() + END_WAIT
    while now() < deadline do
      local busy = false
      for _, job in ipairs(b:live_jobs()) do
        if job.worker and job.worker.result then busy = true end
      end
      if not busy or C.rios_ffi_signal_pending() ~= 0 then break end
      os.execute("sleep 0.2")
      b:poll()
    end
  end
  local ids, problem = b:cancel_all()
  local err = console.stderr()
  if failed and #ids > 0 then
    err:write("rios-lua: cancelled the ", b.scheduler, " jobs of this run: ",
              table.concat(ids, ", "), "\n")
  end
  if problem then
    err:write("rios-lua: warning: ", problem, "; see what is left with ",
              b.kind == "slurm" and "squeue" or "qstat", " and cancel it with ",
              b.S.cancel_program, " ", table.concat(ids, " "), "\n")
  end
  local sig = C.rios_ffi_signal_pending()
  local kept = b:remove_files(failed and sig == 0)
  if #kept > 0 then
    err:write("rios-lua: the logs of the ", b.scheduler, " jobs are kept: ",
              #kept <= 2 and table.concat(kept, ", ")
              or (kept[1]:gsub("[^/]*$", "") .. b.file_prefix:match("[^/]*$") .. "*.log"), "\n")
  end
  if self.deferring then
    self.deferring = false
    C.rios_ffi_signals_defer(0)
  end
  if not failed and sig ~= 0 and mgr then
    mgr:raise("interrupted by " .. (signal_names[sig] or ("signal " .. sig)))
  end
end

-- The kind's start (rios.apply's compute_in_workers): the channel and the jobs.
function M.start(kind, run, job)
  local conc = run.concurrency
  local b = conc.batch
  local bind = b.settings.bind
  if not bind then
    local hello = ffi.new("rios_chan_hello")
    C.rios_ffi_chan_hello_defaults(hello)
    bind = ffi.string(hello.host)
  end
  local launcher = setmetatable({
    kind = kind, run = run, batch = b, bind = bind, count = 0, next_query = 0,
    queued_workers = true,
    blocks_per_worker = conc.single_block_workers and 1 or nil,
  }, Launcher)
  return remote.start(run, job, launcher)
end

return M
