-- workers/slurm.lua: what is SLURM's own in the "slurm" kind: its extra keys,
-- #SBATCH directives, and the commands sbatch, squeue and scancel with the
-- output they print (SLURM 22.05's; the formats used are older than that);
-- and the kind's entry points (prepare, start), which hand over to
-- workers/cluster.lua. Everything else is workers/batch.lua's.
local batch = require("workers.batch")

local S = {}

S.name = "SLURM"
S.prefix = "#SBATCH"
S.options_key = "sbatch_options"
S.submit_program = "sbatch"
S.cancel_program = "scancel"
S.programs = { "sbatch", "squeue", "scancel" }

local show = batch.show

local whole_at_least, word = batch.whole_at_least, batch.word

-- SLURM's time formats (sbatch --time): minutes, minutes:seconds,
-- hours:minutes:seconds, days-hours, days-hours:minutes,
-- days-hours:minutes:seconds.
local time_forms = { "^%d+$", "^%d+:%d+$", "^%d+:%d+:%d+$", "^%d+%-%d+$", "^%d+%-%d+:%d+$",
                     "^%d+%-%d+:%d+:%d+$" }

S.keys = {
  sbatch_options = function(v) return batch.string_list(v, "\"--qos=high\", \"--nodes=1\"") end,
  partition = word("^[%w_.,-]+$", "a partition name (or a comma-separated list)"),
  account = word("^[%w_.-]+$", "an account name"),
  time = function(v)
    if whole_at_least(1, v) then return tostring(v) end
    if type(v) == "string" then
      for _, p in ipairs(time_forms) do if v:match(p) then return v end end
    end
    return nil, "must be a SLURM time limit: minutes (30), \"H:MM:SS\" or \"D-HH:MM:SS\", got "
           .. show(v)
  end,
  mem = function(v)
    if whole_at_least(1, v) then return tostring(v) end
    if type(v) == "string" and v:match("^%d+[KMGTkmgt]?$") and not v:match("^0+%a?$") then
      return v
    end
    return nil, "must be memory per node: megabytes (4000) or a number with K, M, G or T "
           .. "(\"4G\"), got " .. show(v)
  end,
  cpus_per_task = function(v)
    if whole_at_least(1, v) then return v end
    return nil, "must be a whole number >= 1, got " .. show(v)
  end,
}

-- The channel's variables reach the job through sbatch's environment, which
-- sbatch passes on with --export=ALL; an --export of the user's own would
-- keep them from the job.
function S.check_settings(settings, env)
  if next(env) == nil then return nil end
  for _, o in ipairs(settings.sbatch_options or {}) do
    if o:match("^%-%-export") then
      return "sbatch_options: " .. show(o) .. " cannot be used with shared_temp = false: the "
             .. "channel's address and key reach each job through its environment "
             .. "(rios-lua submits with --export=ALL)"
    end
  end
end

function S.job_name(label)
  return "rios-" .. label
end

-- A path as a directive value: sbatch reads #SBATCH lines word by word and
-- honours double quotes.
local function path_value(p)
  if p:find("%s") then return "\"" .. p .. "\"" end
  return p
end

-- The #SBATCH lines (without "#SBATCH ") from rios-lua: the job's name, its
-- log (stdout and stderr both), and the named keys.
function S.directives(mgr, label, log)
  local s = mgr.settings
  local d = { "--job-name=" .. S.job_name(label), "--output=" .. path_value(log) }
  if s.partition then d[#d + 1] = "--partition=" .. s.partition end
  if s.time then d[#d + 1] = "--time=" .. s.time end
  if s.mem then d[#d + 1] = "--mem=" .. s.mem end
  if s.cpus_per_task then d[#d + 1] = "--cpus-per-task=" .. s.cpus_per_task end
  if s.account then d[#d + 1] = "--account=" .. s.account end
  return d
end

function S.submit_argv(mgr, script, env_names)
  local argv = { "sbatch", "--parsable" }
  if #env_names > 0 then argv[#argv + 1] = "--export=ALL" end
  argv[#argv + 1] = script
  return argv
end

-- sbatch --parsable prints "jobid" or "jobid;cluster" (after any warnings).
function S.parse_submit(out)
  local id
  for line in out:gmatch("[^\n]+") do
    local m = line:match("^(%d+);?[%w_.-]*%s*$")
    if m then id = m end
  end
  return id
end

function S.ping_argv()
  return { "squeue", "--noheader", "--me", "--format=%i" }
end

-- Job states (squeue's JOB STATE CODES) and what they are to rios-lua.
local phases = {
  PENDING = "pending", CONFIGURING = "pending", REQUEUED = "pending", REQUEUE_HOLD = "pending",
  REQUEUE_FED = "pending", RESV_DEL_HOLD = "pending",
  RUNNING = "running", COMPLETING = "running", SIGNALING = "running", STAGE_OUT = "running",
  RESIZING = "running", SUSPENDED = "running", STOPPED = "running",
  COMPLETED = "finished",
  FAILED = "failed", TIMEOUT = "failed", NODE_FAIL = "failed", BOOT_FAIL = "failed",
  DEADLINE = "failed", OUT_OF_MEMORY = "failed", PREEMPTED = "failed", SPECIAL_EXIT = "failed",
  CANCELLED = "cancelled", REVOKED = "cancelled",
}

-- Reasons a pending job gives when it can never start as submitted
-- (squeue's JOB REASON CODES; the *Max*Limit ones are per-job limits).
local never_starts = {
  BadConstraints = true, DependencyNeverSatisfied = true, InvalidAccount = true,
  InvalidQOS = true, PartitionTimeLimit = true,
}
local function never_start(reason)
  return never_starts[reason] or reason:match("^AssocMax.*Limit$") or reason:match("^QOSMax.*Limit$")
end
S.never_start = never_start

-- exit_code is a wait status: exit code in the high byte, signal in the low.
local function describe_end(state, reason, status)
  local code, sig = math.floor(status / 256), status % 128
  local what = state
  if reason ~= "" and reason ~= "None" then what = what .. " (" .. reason .. ")" end
  if sig ~= 0 then return what .. ", killed by signal " .. sig, code end
  if code ~= 0 then return what .. ", exit status " .. code, code end
  return what, code
end

local function record(state, reason, status)
  state = state:match("^(%u[%u_]*)") or state
  local phase = phases[state] or "pending"
  local rec = { scheduler_state = state }
  if phase == "pending" then
    if reason ~= "" and reason ~= "None" then rec.reason = reason end
    if never_start(reason) then
      rec.state = "failed"
      rec.reason = "pending with reason " .. reason .. ": it can never start as submitted"
      rec.queued = true  -- still in the queue: cancel_all removes it
      return rec
    end
    rec.state = "pending"
  elseif phase == "running" then
    rec.state = "running"
    if state ~= "RUNNING" then rec.reason = state end
  else
    rec.state = phase
    local what, code = describe_end(state, reason, status or 0)
    rec.exit_code = code
    if phase ~= "finished" then rec.reason = what end
  end
  return rec
end
S.record = record

-- What squeue says of the jobs ids: id -> record; ids missing were
-- forgotten by SLURM. nil and why when squeue failed.
function S.query(mgr, ids)
  local argv = { "squeue", "--noheader", "--all", "--states=all", "--jobs=" .. table.concat(ids, ","),
                 "--Format=JobID:|,State:|,Reason:|,exit_code:|" }
  local rc, out = batch.run(argv, mgr.sched_env)
  if rc ~= 0 then
    -- squeue fails so when none of the ids is known any more.
    if out:find("Invalid job id specified", 1, true) then return {} end
    return nil, "squeue exited with status " .. rc .. ": " .. batch.first_line(out)
  end
  local records = {}
  for line in out:gmatch("[^\n]+") do
    local id, state, reason, status = line:match("^%s*(%d+)%s*|%s*([^|]-)%s*|%s*([^|]-)%s*|%s*(%-?%d*)%s*|")
    if id then records[id] = record(state, reason, tonumber(status)) end
  end
  return records
end

-- scancel fails for jobs that ended meanwhile, saying so in one of these ways.
return batch.scheduler(S, "slurm", "scancel", { "already completing or completed", "Invalid job id specified" })
