-- workers/pbs.lua: what is PBS's own in the "pbs" kind: its extra keys,
-- #PBS directives, and the commands qsub, qstat and qdel with the output
-- they print (OpenPBS / PBS Professional, and Torque where it differs:
-- job_state C and exit_status for finished jobs, no qstat -x). Tested
-- against a stand-in (spec/support/pbs/), never a real PBS server. The
-- kind's entry points (prepare, start) hand over to workers/cluster.lua;
-- everything else is workers/batch.lua's.
local batch = require("workers.batch")

local S = {}

S.name = "PBS"
S.prefix = "#PBS"
S.options_key = "qsub_options"
S.submit_program = "qsub"
S.cancel_program = "qdel"
S.programs = { "qsub", "qstat", "qdel" }

local show = batch.show

local whole_at_least, word = batch.whole_at_least, batch.word

S.keys = {
  qsub_options = function(v) return batch.string_list(v, "\"-l place=scatter\", \"-W group_list=x\"") end,
  queue = word("^[%w_.@-]+$", "a queue name"),
  account = word("^[%w_.-]+$", "an account name"),
  -- PBS's walltime: seconds, or [[hours:]minutes:]seconds.
  walltime = function(v)
    if whole_at_least(1, v) then return tostring(v) end
    if type(v) == "string" and (v:match("^%d+$") or v:match("^%d+:%d+$") or v:match("^%d+:%d+:%d+$")) then
      return v
    end
    return nil, "must be a PBS walltime: seconds (3600) or \"HH:MM:SS\", got " .. show(v)
  end,
  -- PBS's size: a number with b, kb, mb, gb, tb (bytes) or w, kw, ... (words);
  -- a plain number here means megabytes, as for SLURM (PBS would read bytes).
  mem = function(v)
    if whole_at_least(1, v) then return tostring(v) .. "mb" end
    if type(v) == "string" and v:lower():match("^%d+[kmgt]?[bw]$") then return v end
    return nil, "must be memory: megabytes (4000) or a PBS size such as \"4gb\", got " .. show(v)
  end,
  ncpus = function(v)
    if whole_at_least(1, v) then return v end
    return nil, "must be a whole number >= 1, got " .. show(v)
  end,
}

function S.job_name(label)
  return "rios-" .. label
end

-- The #PBS lines (without "#PBS ") from rios-lua: the job's name, one log
-- for stdout and stderr, bash for the script, and the named keys.
function S.directives(mgr, label, log)
  local s = mgr.settings
  local d = { "-N " .. S.job_name(label), "-j oe", "-o " .. log, "-S /bin/bash" }
  if s.queue then d[#d + 1] = "-q " .. s.queue end
  if s.walltime then d[#d + 1] = "-l walltime=" .. s.walltime end
  if s.mem then d[#d + 1] = "-l mem=" .. s.mem end
  if s.ncpus then d[#d + 1] = "-l ncpus=" .. s.ncpus end
  if s.account then d[#d + 1] = "-A " .. s.account end
  return d
end

-- qsub passes the variables named by -v from its own environment: names on
-- the command line, values never.
function S.submit_argv(mgr, script, env_names)
  local argv = { "qsub" }
  if #env_names > 0 then
    argv[#argv + 1] = "-v"
    argv[#argv + 1] = table.concat(env_names, ",")
  end
  argv[#argv + 1] = script
  return argv
end

-- qsub prints the job id ("123.server", "123.server.domain").
function S.parse_submit(out)
  local id
  for line in out:gmatch("[^\n]+") do
    local m = line:match("^%s*(%d+%.[%w_.%-]+)%s*$") or line:match("^%s*(%d+)%s*$")
    if m then id = m end
  end
  return id
end

function S.ping_argv()
  return { "qstat", "-B" }
end

local function seq_of(id)
  return id:match("^(%d+)")
end

-- qstat -f: "Job Id: ID", then "    name = value" lines; long values go on
-- in lines that start with a tab.
local function parse_full(out)
  local jobs, cur, last = {}, nil, nil
  for line in out:gmatch("[^\n]*") do
    local id = line:match("^Job Id:%s*(%S+)")
    if id then
      cur = {}
      jobs[seq_of(id) or id] = cur
      last = nil
    elseif cur then
      local k, v = line:match("^%s+([%w_.]+)%s=%s?(.*)$")
      if k and not line:match("^\t") then
        cur[k] = v
        last = k
      elseif last and line:match("^\t") then
        cur[last] = cur[last] .. line:gsub("^\t", "")
      end
    end
  end
  return jobs
end
S.parse_full = parse_full

local pending_states = { Q = "queued", H = "held", W = "waiting for its start time",
                         T = "being moved", M = "moved to another server" }
local running_states = { R = true, E = true, U = true, S = true, B = true }
local final_states = { F = true, C = true, X = true }

local function record(attrs)
  local st = attrs.job_state or "?"
  local rec = { scheduler_state = st }
  if final_states[st] then
    local status = tonumber(attrs.Exit_status or attrs.exit_status)
    if status == nil then
      rec.state, rec.reason = "cancelled", "deleted before it ran"
    elseif status == 0 then
      rec.state, rec.exit_code = "finished", 0
    elseif status > 256 then
      rec.state, rec.exit_code = "failed", status
      rec.reason = "killed by signal " .. (status - 256) .. " (qdel, walltime or memory limit)"
    elseif status < 0 then
      rec.state, rec.exit_code = "failed", status
      rec.reason = "PBS could not start the job (Exit_status " .. status .. ")"
    else
      rec.state, rec.exit_code = "failed", status
      rec.reason = "exit status " .. status
    end
  elseif running_states[st] then
    rec.state = "running"
  else
    rec.state = "pending"
    rec.reason = attrs.comment or pending_states[st]
  end
  return rec
end
S.record = record

-- What qstat says of the jobs ids: id -> record; ids missing were
-- forgotten. First qstat -f; jobs it says have finished are asked again
-- with -x (OpenPBS's history, when the server keeps it).
function S.query(mgr, ids)
  local rc, out = batch.run({ "qstat", "-f", unpack(ids) },
                            mgr.sched_env)
  local by_seq = {}
  for _, id in ipairs(ids) do by_seq[seq_of(id) or id] = id end
  local full = parse_full(out)
  local history, problems = {}, {}
  for line in out:gmatch("[^\n]+") do
    if line:match("^qstat:") then
      local fin = line:match("^qstat:%s*(%S+)%s+Job has finished")
      if fin then
        history[#history + 1] = by_seq[seq_of(fin) or fin] or fin
      elseif not line:find("Unknown Job Id", 1, true) then
        problems[#problems + 1] = line
      end
    end
  end
  if rc ~= 0 and next(full) == nil and #history == 0 and #problems > 0 then
    return nil, "qstat exited with status " .. rc .. ": " .. problems[1]
  end
  if rc ~= 0 and next(full) == nil and #history == 0 and not out:find("Unknown Job Id", 1, true) then
    return nil, "qstat exited with status " .. rc .. ": " .. batch.first_line(out)
  end
  if #history > 0 then
    local _, hout = batch.run({ "qstat", "-x", "-f", unpack(history) }, mgr.sched_env)
    for seq, attrs in pairs(parse_full(hout)) do full[seq] = attrs end
  end
  local records = {}
  for seq, attrs in pairs(full) do
    local id = by_seq[seq]
    if id then records[id] = record(attrs) end
  end
  return records
end

-- qdel fails for jobs that ended meanwhile, saying so in one of these ways.
return batch.scheduler(S, "pbs", "qdel", { "Job has finished", "Unknown Job Id" })
