-- workers/batch.lua: what the batch kinds ("slurm", "pbs") share: checking
-- controls.concurrency.extra, writing a job script per worker, submitting
-- it, asking the scheduler what became of every job, cancelling them, and
-- reading their logs. What differs between schedulers (directives, commands,
-- their output) lives in workers/slurm.lua and workers/pbs.lua.
--
--   local batch = require("workers.batch")
--   local mgr = batch.new("slurm", controls.concurrency.extra, {
--     tempdir = run_tempdir,                       -- the run's private folder
--     command = { exe, "--address-file", path },   -- the worker's argv
--     env = { RIOS_CHANNEL = "..." },              -- reaches the job only through its environment
--   })
--   local ok, why = mgr:check()                    -- before any file is touched
--   local job, err = mgr:submit("worker-1")        -- { id, label, script, log, state }
--   local changes, err = mgr:poll()                -- what changed since the last poll
--   wait(mgr:poll_delay())
--   local ids, err = mgr:cancel_all()              -- { "12", "13" }
--   print(mgr:log_tail(job, 20))
--
-- A job is in one of these states: "submitted" (no answer yet), "pending",
-- "running", then one final state: "finished" (exit status 0), "failed"
-- (non-zero exit status, killed, or waiting for something that will never
-- come), "cancelled", or "vanished" (the scheduler forgot it and its log says
-- nothing about how it ended).
local base = require("rios.base")

local M = {}

local schedulers = { slurm = "workers.slurm", pbs = "workers.pbs" }

-- Poll delays (seconds): the first polls come quickly so a job that dies at
-- once is reported within seconds; while nothing changes the delay grows to
-- POLL_MAX, and any change brings it back to POLL_MIN.
local POLL_MIN, POLL_GROWTH, POLL_MAX = 1, 1.5, 10
local SUBMIT_GRACE = 10

-- The lines the job script writes around the worker, so its log says how
-- the worker ended even when the scheduler no longer knows the job.
local STATUS_PREFIX = "rios-lua batch job: worker exit status "

-- RIOS's names for the same keys, to point users at ours.
local rios_names = {
  sbatchOptions = "sbatch_options", qsubOptions = "qsub_options", initCmds = "init_cmds",
  cmdPrefix = "cmd_prefix", cmdSuffix = "cmd_suffix",
}

----------------------------------------------------------------------------
-- Shell words and commands

-- One word for sh: as it is when it cannot be misread, else single-quoted.
local function shell_word(s)
  s = tostring(s)
  if s ~= "" and not s:find("[^%w_./:=@%%+,-]") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
M.shell_word = shell_word

local function shell_line(argv)
  local words = {}
  for i, w in ipairs(argv) do words[i] = shell_word(w) end
  return table.concat(words, " ")
end
M.shell_line = shell_line

local function env_prefix(env)
  local names = {}
  for k in pairs(env or {}) do names[#names + 1] = k end
  table.sort(names)
  local parts = {}
  for _, k in ipairs(names) do parts[#parts + 1] = k .. "=" .. shell_word(env[k]) .. " " end
  return table.concat(parts)
end

local RC_MARK = "__rios_batch_status="

-- The scheduler's commands run in a session of their own (setsid), so a
-- Ctrl-C at the terminal, which reaches rios-lua's whole process group,
-- cannot kill an sbatch half-way: rios-lua notes the signal, then cancels
-- every job it knows of (see workers/cluster.lua).
local session
local function own_session()
  if session == nil then
    session = os.execute("command -v setsid >/dev/null 2>&1") == 0 and "exec setsid " or "exec "
  end
  return session
end

-- Run argv with the scheduler's environment; returns status, output
-- (stdout and stderr together). Nothing is written to any file, so this is
-- safe before the run's first file.
function M.run(argv, sched_env)
  local cmd = env_prefix(sched_env) .. shell_line(argv) .. " </dev/null 2>&1; printf '\\n"
              .. RC_MARK .. "%d\\n' $?"
  local p = io.popen(own_session() .. "/bin/sh -c " .. shell_word(cmd), "r")
  if not p then return 127, "cannot start /bin/sh" end
  local out = p:read("*a") or ""
  p:close()
  local rc
  out = out:gsub("\n?" .. RC_MARK .. "(%d+)\n$", function(d) rc = tonumber(d); return "" end)
  return rc or 127, out
end

-- Run argv with secret variables in its environment: the variables go to
-- the shell through a pipe (never an argument, never a file); the output
-- goes to out_path. Returns status, output.
local function run_with_secrets(argv, sched_env, secrets, out_path)
  local p = io.popen(own_session() .. "/bin/sh >" .. shell_word(out_path) .. " 2>&1", "w")
  if not p then return 127, "cannot start /bin/sh" end
  local names = {}
  for k in pairs(secrets) do names[#names + 1] = k end
  table.sort(names)
  local lines = {}
  for _, k in ipairs(names) do
    lines[#lines + 1] = k .. "=" .. shell_word(secrets[k]) .. "; export " .. k
  end
  lines[#lines + 1] = env_prefix(sched_env) .. shell_line(argv) .. " </dev/null"
  lines[#lines + 1] = "printf '\\n" .. RC_MARK .. "%d\\n' $?"
  p:write(table.concat(lines, "\n"), "\n")
  p:close()
  local f = io.open(out_path)
  local out = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(out_path)
  local rc
  out = out:gsub("\n?" .. RC_MARK .. "(%d+)\n$", function(d) rc = tonumber(d); return "" end)
  return rc or 127, out
end

local function first_line(s)
  s = (s or ""):gsub("^%s+", "")
  return (s:match("^[^\n]*") or ""):gsub("%s+$", "")
end
M.first_line = first_line

local function now() return base.C.rios_ffi_now() end

----------------------------------------------------------------------------
-- Checking extra

-- A value as a message shows it: on one line whatever it holds.
local function show(v)
  if type(v) == "string" then
    return "'" .. v:gsub("[%c]", function(c)
      return c == "\n" and "\\n" or string.format("\\%03d", c:byte())
    end) .. "'"
  end
  return tostring(v)
end
M.show = show

-- Checks the schedulers' extra keys share: a whole number >= n, and a
-- string matching pattern (what: what it must be, for the message).
function M.whole_at_least(n, v)
  return type(v) == "number" and v == math.floor(v) and v >= n and v < 2 ^ 31
end

function M.word(pattern, what)
  return function(v)
    if type(v) ~= "string" or not v:match(pattern) then
      return nil, "must be " .. what .. ", got " .. show(v)
    end
    return v
  end
end

local function one_line_string(v)
  if type(v) ~= "string" then return nil, "must be a string" end
  if v:find("[\n\r%z]") then return nil, "must be one line (no newline)" end
  return v
end

local function string_list(v, example)
  if type(v) ~= "table" then
    return nil, "must be a list of strings, one option each, e.g. { " .. example .. " }"
  end
  local n = #v
  for k in pairs(v) do
    if type(k) ~= "number" or k < 1 or k > n or k ~= math.floor(k) then
      return nil, "must be a list of strings, one option each, e.g. { " .. example .. " }"
    end
  end
  local out = {}
  for i = 1, n do
    local s, problem = one_line_string(v[i])
    if not s then return nil, "entry " .. i .. " " .. problem .. ", got " .. show(v[i]) end
    out[i] = s
  end
  return out
end
M.string_list = string_list

-- The keys every batch kind takes. Each check returns the value to keep, or
-- nil and what is wrong.
local common_keys = {
  init_cmds = function(v)
    if type(v) == "string" then
      if v:find("%z") then return nil, "must not contain a NUL byte" end
      return { v }
    end
    if type(v) ~= "table" then
      return nil, "must be a string or a list of lines, e.g. { \"module load gdal\" }"
    end
    local list, problem = string_list(v, "\"module load gdal\"")
    if not list then return nil, problem end
    return list
  end,
  cmd_prefix = one_line_string,
  cmd_suffix = one_line_string,
  script_dir = function(v)
    local s, problem = one_line_string(v)
    if not s then return nil, problem end
    if s:sub(1, 1) ~= "/" then
      return nil, "must be an absolute path (a folder the compute nodes see), got " .. show(s)
    end
    if s:find("[%s\"'%%]") then
      return nil, "must be a path without spaces, quotes or '%', got " .. show(s)
    end
    local f = io.open(s .. "/.")
    if not f then return nil, "is not an existing folder: " .. s end
    f:close()
    return (s:gsub("/+$", ""))
  end,
  bind = function(v)
    local s, problem = one_line_string(v)
    if not s then return nil, problem end
    if s == "" or s:find("%s") then
      return nil, "must be a host name or address the compute nodes can reach, got " .. show(s)
    end
    return s
  end,
  -- The worker program the job runs: a path, or a name the node's PATH has.
  worker_command = function(v)
    local s, problem = one_line_string(v)
    if not s then return nil, problem end
    if s == "" or s:find("[%s\"'\\$`;&|<>()*?%[%]{}~#]") then
      return nil, "must be the path or name of rios-luaworker (one word, no shell characters; "
             .. "put wrappers in cmd_prefix), got " .. show(s)
    end
    return s
  end,
  -- single_block_workers: the most jobs queued or running at once.
  max_jobs = function(v)
    if type(v) == "number" and v == math.floor(v) and v >= 1 and v <= 100000 then return v end
    return nil, "must be a whole number from 1 to 100000, got " .. show(v)
  end,
  -- The data channel: seconds between heartbeats, and of silence after
  -- which a worker is lost.
  heartbeat = function(v)
    if type(v) == "number" and v >= 0.01 and v <= 3600 then return v end
    return nil, "must be a number of seconds from 0.01 to 3600, got " .. show(v)
  end,
  lost_after = function(v)
    if type(v) == "number" and v > 0 and v <= 86400 then return v end
    return nil, "must be a number of seconds > 0 (at most 86400), got " .. show(v)
  end,
}

local function sorted_keys(...)
  local seen, list = {}, {}
  for _, t in ipairs({ ... }) do
    for k in pairs(t) do
      if not seen[k] then seen[k] = true; list[#list + 1] = k end
    end
  end
  table.sort(list)
  return list
end

----------------------------------------------------------------------------
-- The manager

-- Ids per scheduler command, so thousands of single-block jobs never make
-- one over-long command line.
local CHUNK = 200

local function chunks(ids)
  local out = {}
  for i = 1, #ids, CHUNK do
    local c = {}
    for j = i, math.min(i + CHUNK - 1, #ids) do c[#c + 1] = ids[j] end
    out[#out + 1] = c
  end
  return out
end

-- S.query over all ids, chunk by chunk: id -> record, or nil and why.
local function query_all(self, ids)
  local all = {}
  for _, c in ipairs(chunks(ids)) do
    local records, err = self.S.query(self, c)
    if not records then return nil, err end
    for id, rec in pairs(records) do all[id] = rec end
  end
  return all
end

local Mgr = {}
Mgr.__index = Mgr

local FINAL = { finished = true, failed = true, cancelled = true, vanished = true }
M.FINAL = FINAL

-- kind: "slurm" or "pbs"; extra: controls.concurrency.extra (or nil);
-- opts: where ("file:line: " for messages about extra), sched_env (name ->
-- value: variables the scheduler's own commands need, such as SLURM_CONF of
-- a private cluster), env (name -> value: reaches each job only through its
-- environment), and what mgr:set_job takes (tempdir, command, logs), which
-- may instead be given later, before the first submit. A bad extra is the
-- user's mistake: one line, raised.
function M.new(kind, extra, opts)
  local modname = schedulers[kind]
  if not modname then error("batch.new: kind must be \"slurm\" or \"pbs\", got " .. show(kind), 2) end
  if type(opts) ~= "table" then error("batch.new: opts must be a table", 2) end
  local env = {}
  for k, v in pairs(opts.env or {}) do
    if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then
      error("batch.new: opts.env name " .. show(k) .. " is not a variable name", 2)
    end
    if type(v) ~= "string" or v:find("%z") then
      error("batch.new: opts.env." .. k .. " must be a string without NUL bytes", 2)
    end
    env[k] = v
  end
  local S = require(modname)
  local where = opts.where
  local label = "controls.concurrency.extra"
  if extra ~= nil and type(extra) ~= "table" then
    base.raise(where, label .. " must be a table of parameters for kind \"" .. kind .. "\", got "
               .. type(extra))
  end
  local settings = {}
  for key, value in pairs(extra or {}) do
    local check = common_keys[key] or S.keys[key]
    if not check then
      local hint = ""
      if rios_names[key] and (common_keys[rios_names[key]] or S.keys[rios_names[key]]) then
        hint = " (rios-lua's name for RIOS's " .. key .. " is " .. rios_names[key] .. ")"
      end
      base.raise(where, label .. ": unknown key " .. show(tostring(key)) .. " for kind \"" .. kind
                 .. "\"" .. hint .. " (known: " .. table.concat(sorted_keys(common_keys, S.keys), ", ")
                 .. ")")
    end
    local kept, problem = check(value)
    if kept == nil then
      base.raise(where, label .. "." .. key .. " " .. problem
                 .. (problem:find(", got ") and "" or ", got " .. show(value)))
    end
    settings[key] = kept
  end
  local hb, lost = settings.heartbeat or 1, settings.lost_after or 10
  if lost < 2 * hb then
    base.raise(where, label .. ".lost_after (" .. lost .. " s) must be at least twice the "
               .. "heartbeat (" .. hb .. " s)")
  end
  local problem = S.check_settings and S.check_settings(settings, env)
  if problem then base.raise(where, label .. "." .. problem) end

  local self = setmetatable({
    kind = kind,
    scheduler = S.name,          -- "SLURM" or "PBS", for messages
    S = S,
    settings = settings,
    bind = settings.bind,
    env = env,
    sched_env = opts.sched_env,
    jobs = {},                   -- in submission order
    by_id = {},
    by_label = {},
    files = {},                  -- scripts and logs written in script_dir
    delay = POLL_MIN,
  }, Mgr)
  if opts.tempdir or opts.command then self:set_job(opts) end
  return self
end

-- What the jobs are: opts.tempdir (the run's private folder, an absolute
-- path), opts.command (the worker's argv; submit may give another),
-- opts.logs (false: the jobs keep no log, "/dev/null", for nodes that do
-- not see the folder of the scripts), opts.files_dir (where scripts and
-- logs go when extra.script_dir does not say; default: the private folder)
-- and opts.env (the values of variables named in new's opts.env, known
-- only now).
function Mgr:set_job(opts)
  if type(opts.tempdir) ~= "string" or opts.tempdir:sub(1, 1) ~= "/" then
    error("batch: opts.tempdir must be an absolute path", 2)
  end
  if opts.command ~= nil and (type(opts.command) ~= "table" or #opts.command == 0) then
    error("batch: opts.command must be the worker's argv, a list of strings", 2)
  end
  for i, w in ipairs(opts.command or {}) do
    if type(w) ~= "string" or w:find("[\n%z]") then
      error("batch: opts.command[" .. i .. "] must be a one-line string", 2)
    end
  end
  local fd = opts.files_dir
  if fd ~= nil and (type(fd) ~= "string" or fd:sub(1, 1) ~= "/") then
    error("batch: opts.files_dir must be an absolute path", 2)
  end
  local tempdir = opts.tempdir:gsub("/+$", "")
  self.tempdir, self.command, self.logs = tempdir, opts.command, opts.logs ~= false
  for k, v in pairs(opts.env or {}) do
    if self.env[k] == nil or type(v) ~= "string" or v:find("%z") then
      error("batch: opts.env." .. tostring(k) .. " must be a string named when the manager "
            .. "was made", 2)
    end
    self.env[k] = v
  end
  -- Scripts and logs go to script_dir, else opts.files_dir (named after
  -- this run's private folder, so runs sharing the folder do not collide),
  -- else into the private folder.
  local dir = self.settings.script_dir or opts.files_dir
  if dir then
    self.file_prefix = dir:gsub("/+$", "") .. "/" .. tempdir:match("[^/]+$") .. "-"
  else
    self.file_prefix = tempdir .. "/"
  end
  self.outside = dir ~= nil
end

-- Whether the scheduler's commands are on PATH and the scheduler answers.
-- Returns true, or nil and one line saying what is missing. Touches no file.
function Mgr:check()
  local S = self.S
  for _, prog in ipairs(S.programs) do
    local rc = M.run({ "/bin/sh", "-c", "command -v " .. prog .. " >/dev/null" }, self.sched_env)
    if rc ~= 0 then
      return nil, "kind \"" .. self.kind .. "\": " .. prog .. " is not on PATH; rios-lua submits "
             .. "and watches worker jobs with " .. table.concat(S.programs, ", ") .. " (is "
             .. S.name .. " installed here, or does it need a 'module load'?)"
    end
  end
  local argv = S.ping_argv()
  local rc, out = M.run(argv, self.sched_env)
  if rc ~= 0 then
    return nil, "kind \"" .. self.kind .. "\": " .. S.name .. " does not answer ('"
           .. table.concat(argv, " ") .. "' exited with status " .. rc .. ": "
           .. first_line(out) .. ")"
  end
  return true
end

function Mgr:job_name(label)
  return self.S.job_name(label)
end

-- The text of the job script for the worker called label (argv: its
-- command, default opts.command).
function Mgr:script_text(label, log, argv)
  local S, s = self.S, self.settings
  local lines = { "#!/bin/bash" }
  for _, d in ipairs(S.directives(self, label, log)) do lines[#lines + 1] = S.prefix .. " " .. d end
  for _, o in ipairs(s[S.options_key] or {}) do lines[#lines + 1] = S.prefix .. " " .. o end
  lines[#lines + 1] = "# Written by rios-lua for worker " .. label .. "; submitted with "
                      .. S.submit_program .. "."
  for _, c in ipairs(s.init_cmds or {}) do lines[#lines + 1] = c end
  lines[#lines + 1] = (s.cmd_prefix or "") .. shell_line(argv or self.command)
                      .. (s.cmd_suffix or "")
  lines[#lines + 1] = "status=$?"
  lines[#lines + 1] = "echo \"" .. STATUS_PREFIX .. "$status\""
  lines[#lines + 1] = "exit $status"
  return table.concat(lines, "\n") .. "\n"
end

-- Write the job script for worker label and submit it; argv: the worker's
-- command for this job (default: opts.command). Returns the job { id,
-- label, script, log, state = "submitted" }, or nil and one line.
function Mgr:submit(label, argv)
  if type(label) ~= "string" or not label:match("^[%w][%w_.-]*$") or #label > 64 then
    error("submit: the label must be letters, digits, '_', '.', '-' (at most 64), got "
          .. show(label), 2)
  end
  if self.by_label[label] then
    error("submit: a job for worker " .. label .. " was already submitted", 2)
  end
  if not self.tempdir or not (argv or self.command) then
    error("submit: set_job first (the run's folder and the worker's command)", 2)
  end
  local S = self.S
  local script = self.file_prefix .. label .. ".sh"
  local log = self.logs and (self.file_prefix .. label .. ".log") or "/dev/null"
  local f, ferr = io.open(script, "w")
  if not f then return nil, "cannot write the job script " .. script .. ": " .. tostring(ferr) end
  local ok, werr = f:write(self:script_text(label, log, argv))
  f:close()
  if not ok then return nil, "cannot write the job script " .. script .. ": " .. tostring(werr) end
  if self.outside then
    self.files[#self.files + 1] = script
    if self.logs then self.files[#self.files + 1] = log end
  end
  local names = {}
  for k in pairs(self.env) do names[#names + 1] = k end
  table.sort(names)
  local argv = S.submit_argv(self, script, names)
  local rc, out
  if #names > 0 then
    rc, out = run_with_secrets(argv, self.sched_env, self.env,
                               self.tempdir .. "/submit-" .. label .. ".out")
  else
    rc, out = M.run(argv, self.sched_env)
  end
  local id = rc == 0 and S.parse_submit(out)
  if not id then
    return nil, S.name .. " refused the job for worker " .. label .. " (" .. S.submit_program
           .. " exited with status " .. rc .. "): " .. first_line(out) .. " (job script " .. script
           .. ")"
  end
  local job = { id = id, label = label, script = script, log = log, state = "submitted",
                submitted_at = now() }
  self.jobs[#self.jobs + 1] = job
  self.by_id[id] = job
  self.by_label[label] = job
  self.delay = POLL_MIN
  return job
end

-- The last n lines of the job's log (a string), or nil and why.
function Mgr:log_tail(job, n)
  n = n or 20
  if job.log == "/dev/null" then return nil, "the job keeps no log" end
  local f = io.open(job.log)
  if not f then return nil, "no log at " .. job.log .. " (yet)" end
  local lines = {}
  for l in f:lines() do
    lines[#lines + 1] = l
    if #lines > 2 * n + 100 then
      local keep = {}
      for i = #lines - n + 1, #lines do keep[#keep + 1] = lines[i] end
      lines = keep
    end
  end
  f:close()
  return table.concat(lines, "\n", math.max(1, #lines - n + 1))
end

-- What the job's log says about how the worker ended: its exit status, or nil.
function Mgr:logged_status(job)
  local f = io.open(job.log)
  if not f then return nil end
  local status
  for l in f:lines() do
    local d = l:match("^" .. STATUS_PREFIX:gsub("%p", "%%%0") .. "(%d+)$")
    if d then status = tonumber(d) end
  end
  f:close()
  return status
end

-- A job the scheduler no longer knows: how it ended comes from its log.
function Mgr:forgotten(job)
  local status = self:logged_status(job)
  if status == 0 then return { state = "finished", exit_code = 0 } end
  if status then
    return { state = "failed", exit_code = status,
             reason = "the worker exited with status " .. status }
  end
  return { state = "vanished",
           reason = self.scheduler .. " no longer knows job " .. job.id
                    .. " and its log does not say how it ended" }
end

-- Ask the scheduler about every job not yet in a final state. Returns the
-- list of changes since the last poll, each { job, id, label, state, reason,
-- exit_code, log_tail (for failed and vanished jobs) }, or nil and one line
-- when the scheduler did not answer.
function Mgr:poll()
  local live = {}
  for _, job in ipairs(self.jobs) do
    if not FINAL[job.state] then live[#live + 1] = job.id end
  end
  self.last_poll = now()
  if #live == 0 then return {} end
  local records, err = query_all(self, live)
  if not records then
    self.delay = math.min(self.delay * POLL_GROWTH, POLL_MAX)
    return nil, self.scheduler .. " did not answer about jobs " .. table.concat(live, ", ")
           .. ": " .. err
  end
  local changes = {}
  for _, id in ipairs(live) do
    local job = self.by_id[id]
    local rec = records[id] or self:forgotten(job)
    -- A job just submitted that the scheduler does not show yet (a
    -- federation, a busy server) is given SUBMIT_GRACE seconds to appear.
    if rec.state == "vanished" and job.state == "submitted"
       and now() - job.submitted_at < SUBMIT_GRACE then
      rec = job
    end
    if rec.state ~= job.state or rec.reason ~= job.reason then
      job.state, job.reason, job.exit_code = rec.state, rec.reason, rec.exit_code
      job.scheduler_state, job.queued = rec.scheduler_state, rec.queued
      local change = { job = job, id = id, label = job.label, state = rec.state,
                       reason = rec.reason, exit_code = rec.exit_code,
                       scheduler_state = rec.scheduler_state }
      if rec.state == "failed" or rec.state == "vanished" then
        change.log_tail = self:log_tail(job, 10)
      end
      changes[#changes + 1] = change
    end
  end
  if #changes > 0 then
    self.delay = POLL_MIN
  else
    self.delay = math.min(self.delay * POLL_GROWTH, POLL_MAX)
  end
  return changes
end

-- Seconds until the next poll should be made.
function Mgr:poll_delay()
  return self.delay
end

-- The jobs not in a final state.
function Mgr:live_jobs()
  local live = {}
  for _, job in ipairs(self.jobs) do
    if not FINAL[job.state] then live[#live + 1] = job end
  end
  return live
end

-- Cancel one job (a lost worker's, which may still be running) without
-- waiting. Returns true, or nil and one line.
function Mgr:cancel(job)
  if FINAL[job.state] and not job.queued then return true end
  local rc, out = M.run(self.S.cancel_argv(self, { job.id }), self.sched_env)
  if rc ~= 0 and not self.S.cancel_ok(rc, out) then
    return nil, self.S.cancel_program .. " " .. job.id .. " exited with status " .. rc .. ": "
           .. first_line(out)
  end
  if not FINAL[job.state] then job.state, job.reason = "cancelled", "cancelled by rios-lua" end
  job.queued = nil
  return true
end

-- Cancel every job this manager submitted that has not ended (or failed
-- but still waits in the queue), and wait up to `wait` seconds (default 10)
-- until the scheduler no longer runs any of them. Returns the list of ids
-- cancelled, and a second value, one line, when the scheduler refused or
-- did not finish in time.
function Mgr:cancel_all(wait)
  local live = {}
  for _, job in ipairs(self.jobs) do
    if not FINAL[job.state] or job.queued then live[#live + 1] = job end
  end
  local ids = {}
  for i, job in ipairs(live) do ids[i] = job.id end
  if #ids == 0 then return ids end
  local problem
  for _, c in ipairs(chunks(ids)) do
    local rc, out = M.run(self.S.cancel_argv(self, c), self.sched_env)
    if rc ~= 0 and not self.S.cancel_ok(rc, out) then
      problem = problem or (self.S.cancel_program .. " exited with status " .. rc .. ": "
                            .. first_line(out))
    end
  end
  for _, job in ipairs(live) do
    if not FINAL[job.state] then job.state, job.reason = "cancelled", "cancelled by rios-lua" end
    job.queued = nil
  end
  local deadline = now() + (wait or 10)
  local delay = 0.1
  while true do
    local records = query_all(self, ids)
    local busy = {}
    if records then
      for _, id in ipairs(ids) do
        local rec = records[id]
        if rec and not FINAL[rec.state] then busy[#busy + 1] = id end
      end
    end
    if records and #busy == 0 then break end
    if now() >= deadline then
      problem = problem or (records and (self.scheduler .. " still runs jobs " .. table.concat(busy, ", ")
                                         .. " after " .. (wait or 10) .. " s")
                            or (self.scheduler .. " did not answer after the cancel"))
      break
    end
    os.execute("sleep " .. delay)
    delay = math.min(delay * 2, 1)
  end
  return ids, problem
end

-- Remove the scripts and logs written outside the run's private folder
-- (those in it go with it); keep_logs: the logs stay. Returns the logs kept.
function Mgr:remove_files(keep_logs)
  local kept = {}
  for _, f in ipairs(self.files) do
    if keep_logs and f:match("%.log$") then
      local h = io.open(f)
      if h then
        h:close()
        kept[#kept + 1] = f
      end
    else
      os.remove(f)
    end
  end
  self.files = {}
  return kept
end

M.STATUS_PREFIX = STATUS_PREFIX
M.POLL_MIN, M.POLL_MAX = POLL_MIN, POLL_MAX

-- What every scheduler module (workers/slurm.lua, pbs.lua) ends with: S
-- gets its cancel command (cancel_argv, cancel_ok: a cancel that fails only
-- because the job had ended meanwhile, as one of the benign messages says,
-- is no failure) and the kind's entry points that rios.apply calls
-- (prepare, start: compute workers as jobs of this scheduler, started and
-- watched by workers/cluster.lua). Returns S.
function M.scheduler(S, kind, cancel_command, benign)
  function S.cancel_argv(_, ids)
    local argv = { cancel_command }
    for _, id in ipairs(ids) do argv[#argv + 1] = id end
    return argv
  end
  function S.cancel_ok(_, out)
    for line in out:gmatch("[^\n]+") do
      local known = false
      for _, text in ipairs(benign) do
        if line:find(text, 1, true) then known = true break end
      end
      if not known then return false end
    end
    return true
  end
  function S.prepare(conc, where)
    return require("workers.cluster").prepare(kind, conc, where)
  end
  function S.start(run, job)
    return require("workers.cluster").start(kind, run, job)
  end
  return S
end

return M
