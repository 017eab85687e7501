-- spec/batch_spec.lua: the batch managers (workers/batch.lua, slurm.lua,
-- pbs.lua) against a real single-node SLURM (spec/support/slurm.lua) and
-- against a STAND-IN for PBS (spec/support/pbs/: scripts, not a PBS server;
-- no real PBS is packaged for Debian). The jobs run small shell commands;
-- the worker and its channel are tested elsewhere.
local H = require("support.helpers")
local slurm = require("support.slurm")
local batch = require("workers.batch")
local base = require("rios.base")
local C = base.C

local function now() return C.rios_ffi_now() end
local function sleep(s) os.execute("sleep " .. s) end

local function slurp(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- The command lines of every process on the machine, as ps shows them.
local function all_command_lines()
  local p = io.popen("ls /proc")
  local out = {}
  for name in p:lines() do
    if name:match("^%d+$") then
      local s = slurp("/proc/" .. name .. "/cmdline")
      if s and s ~= "" then out[#out + 1] = (s:gsub("%z", " ")) end
    end
  end
  p:close()
  return table.concat(out, "\n")
end

-- A shell command that waits until the spec creates the file gate, then
-- runs then_cmd: the job stays running for as long as the spec needs.
local function gated(gate, then_cmd)
  return "while [ ! -e " .. gate .. " ]; do sleep 0.1; done; " .. then_cmd
end

local function open_gate(gate)
  assert(io.open(gate, "w")):close()
end

-- A value nobody else has.
local function unique(tag)
  return tag .. "-" .. tostring(now()):gsub("%.", "") .. "-" .. math.random(1e6)
end

-- Poll until done(mgr) or timeout seconds; returns every change seen and
-- the seconds it took. Waits as the manager says between polls.
local function poll_until(mgr, done, timeout)
  local t0 = now()
  local seen = {}
  while true do
    local changes, err = mgr:poll()
    assert(changes, err)
    for _, c in ipairs(changes) do seen[#seen + 1] = c end
    if done(mgr, seen) then return seen, now() - t0 end
    if now() - t0 > timeout then
      local states = {}
      for _, j in ipairs(mgr.jobs) do states[#states + 1] = j.id .. "=" .. j.state end
      error("still waiting after " .. timeout .. " s: " .. table.concat(states, ", "), 2)
    end
    sleep(math.min(mgr:poll_delay(), timeout))
  end
end

local function all_final(mgr)
  return #mgr:live_jobs() == 0
end

local function all_in(state)
  return function(mgr)
    for _, j in ipairs(mgr.jobs) do if j.state ~= state then return false end end
    return true
  end
end

-- The user error batch.new raises (base.raise), as its one line; nil if none.
local function new_error(kind, extra, opts)
  local ok, err = pcall(batch.new, kind, extra, opts)
  if ok then return nil end
  assert(base.is_user_error(err), "not a user error: " .. tostring(err))
  return tostring(err)
end

describe("batch.new checks controls.concurrency.extra", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(H.cleanup)
  local function opts(env)
    return { tempdir = dir, command = { "/bin/true" }, env = env }
  end

  it("names an unknown key and lists the known ones", function()
    local err = new_error("slurm", { partiton = "short" }, opts())
    assert.equal("controls.concurrency.extra: unknown key 'partiton' for kind \"slurm\" (known: "
                 .. "account, bind, cmd_prefix, cmd_suffix, cpus_per_task, heartbeat, init_cmds, "
                 .. "lost_after, max_jobs, mem, partition, sbatch_options, script_dir, time, "
                 .. "worker_command)", err)
    err = new_error("pbs", { partition = "short" }, opts())
    assert.matches("unknown key 'partition' for kind \"pbs\" %(known: account, bind, cmd_prefix, "
                   .. "cmd_suffix, heartbeat, init_cmds, lost_after, max_jobs, mem, ncpus, "
                   .. "qsub_options, queue, script_dir, walltime, worker_command%)", err)
  end)

  it("points RIOS's key names at rios-lua's", function()
    local err = new_error("slurm", { sbatchOptions = "--qos=high" }, opts())
    assert.matches("unknown key 'sbatchOptions' for kind \"slurm\" %(rios%-lua's name for RIOS's "
                   .. "sbatchOptions is sbatch_options%)", err)
    err = new_error("pbs", { initCmds = "module load gdal" }, opts())
    assert.matches("RIOS's initCmds is init_cmds", err)
  end)

  it("refuses bad values in one line naming the key", function()
    local cases = {
      { "slurm", { sbatch_options = "--qos=high" }, "extra.sbatch_options must be a list of strings, one option each" },
      { "slurm", { sbatch_options = { "--qos=high\n#SBATCH --x" } }, "extra.sbatch_options entry 1 must be one line" },
      { "slurm", { time = "2 hours" }, "extra.time must be a SLURM time limit: minutes (30), \"H:MM:SS\" or \"D-HH:MM:SS\", got '2 hours'" },
      { "slurm", { time = 0 }, "extra.time must be a SLURM time limit" },
      { "slurm", { mem = "lots" }, "extra.mem must be memory per node: megabytes (4000) or a number with K, M, G or T (\"4G\"), got 'lots'" },
      { "slurm", { cpus_per_task = 0 }, "extra.cpus_per_task must be a whole number >= 1, got 0" },
      { "slurm", { partition = "a b" }, "extra.partition must be a partition name" },
      { "slurm", { account = 7 }, "extra.account must be an account name, got 7" },
      { "slurm", { init_cmds = 5 }, "extra.init_cmds must be a string or a list of lines, e.g. { \"module load gdal\" }, got 5" },
      { "slurm", { cmd_prefix = "a\nb" }, "extra.cmd_prefix must be one line (no newline)" },
      { "slurm", { script_dir = "relative/dir" }, "extra.script_dir must be an absolute path" },
      { "slurm", { script_dir = "/nonexistent/rios-spec" }, "extra.script_dir is not an existing folder: /nonexistent/rios-spec" },
      { "slurm", { bind = "" }, "extra.bind must be a host name or address" },
      { "slurm", { worker_command = "rios-luaworker --x" }, "extra.worker_command must be the path or name of rios-luaworker (one word, no shell characters; put wrappers in cmd_prefix), got 'rios-luaworker --x'" },
      { "slurm", { max_jobs = 0 }, "extra.max_jobs must be a whole number from 1 to 100000, got 0" },
      { "slurm", { heartbeat = 0 }, "extra.heartbeat must be a number of seconds from 0.01 to 3600, got 0" },
      { "pbs", { lost_after = "10" }, "extra.lost_after must be a number of seconds > 0 (at most 86400), got '10'" },
      { "pbs", { heartbeat = 4, lost_after = 6 }, "extra.lost_after (6 s) must be at least twice the heartbeat (4 s)" },
      { "pbs", { walltime = "1h" }, "extra.walltime must be a PBS walltime: seconds (3600) or \"HH:MM:SS\", got '1h'" },
      { "pbs", { mem = "4 GB" }, "extra.mem must be memory: megabytes (4000) or a PBS size such as \"4gb\"" },
      { "pbs", { ncpus = 1.5 }, "extra.ncpus must be a whole number >= 1, got 1.5" },
      { "pbs", { queue = "a;b" }, "extra.queue must be a queue name" },
      { "pbs", { qsub_options = { 1 } }, "extra.qsub_options entry 1 must be a string" },
    }
    for _, c in ipairs(cases) do
      local err = new_error(c[1], c[2], opts())
      assert.is_string(err, c[3])
      assert.is_nil(err:find("\n"), err)
      assert.equal(1, err:find("controls.concurrency." .. c[3], 1, true), err)
    end
    assert.equal("controls.concurrency.extra must be a table of parameters for kind \"slurm\", got string",
                 new_error("slurm", "partition=short", opts()))
  end)

  it("refuses an --export of the user's when the channel goes through the environment", function()
    local err = new_error("slurm", { sbatch_options = { "--export=NONE" } }, opts({ RIOS_KEY = "k" }))
    assert.matches("extra.sbatch_options: '%-%-export=NONE' cannot be used with shared_temp = false", err)
    assert.is_table(batch.new("slurm", { sbatch_options = { "--export=NONE" } }, opts()))
  end)

  it("takes every key it documents", function()
    local m = batch.new("slurm", { sbatch_options = { "--qos=normal" }, init_cmds = { "a", "b" },
                                   cmd_prefix = "p ", cmd_suffix = " s", script_dir = dir,
                                   bind = "login1", partition = "short", time = "1-00:00:00",
                                   mem = "4G", cpus_per_task = 2, account = "proj",
                                   worker_command = "/opt/rios/bin/rios-luaworker", max_jobs = 8,
                                   heartbeat = 2, lost_after = 60 }, opts())
    assert.equal("login1", m.bind)
    m = batch.new("pbs", { qsub_options = { "-m n" }, init_cmds = "module load gdal",
                           queue = "workq", walltime = 3600, mem = 4000, ncpus = 2,
                           account = "proj" }, opts())
    assert.equal("4000mb", m.settings.mem)
  end)
end)

describe("kind slurm on a private single-node SLURM", function()
  local cluster, dir
  setup(function()
    cluster = slurm.start()
    dir = H.tmpdir()
  end)
  teardown(H.cleanup)

  local function squeue_ids()
    local status, out, err = H.run(slurm.env_prefix() .. "squeue --noheader --format=%i")
    assert(status == 0, err)
    local ids = {}
    for id in out:gmatch("%d+") do ids[id] = true end
    return ids
  end

  local function manager(extra, command, env, sub)
    local tmp = dir .. "/" .. (sub or unique("run"))
    os.execute("mkdir -p " .. H.q(tmp))
    return batch.new("slurm", extra, { tempdir = tmp, command = command, env = env,
                                        sched_env = cluster.env })
  end

  it("spec/support/with_slurm.lua runs one command against its own cluster, then removes it",
     function()
    -- (README's way to try the slurm kind on one machine)
    local status, out, err = H.run("cd " .. H.q(H.root) .. " && " .. H.q(H.exe)
                                   .. " spec/support/with_slurm.lua sh -c "
                                   .. H.q("sinfo --noheader --format=%T >&2 && echo $SLURM_CONF "
                                          .. "&& exit 3"))
    assert.are.equal(3, status, err)
    local conf = out:match("^(/tmp/rios%-slurm%.%w+/slurm%.conf)\n$")
    assert.truthy(conf, out)
    assert.are_not.equal(cluster.conf, conf)   -- its own, not the specs' cluster
    assert.truthy(err:find("idle", 1, true), err)
    assert.is_nil(io.open(conf))               -- stopped and removed
  end)

  it("writes #SBATCH lines from a full extra, and SLURM takes every one", function()
    local out = dir .. "/full.out"
    local mgr = manager({ partition = cluster.partition, time = "0:05:00", mem = 100,
                          cpus_per_task = 1, account = "rios_spec",
                          sbatch_options = { "--comment=from-sbatch-options", "--nice=5" },
                          init_cmds = { "echo init-one", "export RIOS_SPEC_INIT=two" },
                          cmd_prefix = "env RIOS_SPEC_PREFIX=yes ",
                          cmd_suffix = " && echo suffix-ran" },
                        { "sh", "-c", "echo \"$RIOS_SPEC_INIT $RIOS_SPEC_PREFIX\" > " .. out })
    assert.is_true(mgr:check())
    local job = assert(mgr:submit("w1"))
    assert.equal(mgr.tempdir .. "/w1.sh", job.script)
    assert.equal(mgr.tempdir .. "/w1.log", job.log)
    assert.equal(table.concat({
      "#!/bin/bash",
      "#SBATCH --job-name=rios-w1",
      "#SBATCH --output=" .. job.log,
      "#SBATCH --partition=" .. cluster.partition,
      "#SBATCH --time=0:05:00",
      "#SBATCH --mem=100",
      "#SBATCH --cpus-per-task=1",
      "#SBATCH --account=rios_spec",
      "#SBATCH --comment=from-sbatch-options",
      "#SBATCH --nice=5",
      "# Written by rios-lua for worker w1; submitted with sbatch.",
      "echo init-one",
      "export RIOS_SPEC_INIT=two",
      "env RIOS_SPEC_PREFIX=yes sh -c 'echo \"$RIOS_SPEC_INIT $RIOS_SPEC_PREFIX\" > " .. out
        .. "' && echo suffix-ran",
      "status=$?",
      "echo \"rios-lua batch job: worker exit status $status\"",
      "exit $status",
    }, "\n") .. "\n", slurp(job.script))
    -- What SLURM made of the directives.
    local status, show, err = H.run(slurm.env_prefix() .. "scontrol --oneliner show job " .. job.id)
    assert(status == 0, err)
    for _, field in ipairs({ "JobName=rios-w1", "Partition=" .. cluster.partition,
                             "TimeLimit=00:05:00", "MinMemoryNode=100M", "CPUs/Task=1",
                             "Account=rios_spec", "Comment=from-sbatch-options", "Nice=5",
                             "StdOut=" .. job.log }) do
      assert.truthy(show:find(field, 1, true), field .. " in " .. show)
    end
    poll_until(mgr, all_final, 30)
    assert.equal("finished", job.state)
    assert.equal(0, job.exit_code)
    assert.equal("two yes\n", slurp(out))
    assert.equal("init-one\nsuffix-ran\nrios-lua batch job: worker exit status 0", mgr:log_tail(job, 5))
    assert.equal("suffix-ran\nrios-lua batch job: worker exit status 0", mgr:log_tail(job, 2))
  end)

  it("runs jobs that are in squeue while they run and gone after", function()
    local mark, gate = dir .. "/ran", dir .. "/gate-squeue"
    local mgr = manager({}, { "sh", "-c", gated(gate, "touch \"$0.$SLURM_JOB_ID\""), mark })
    local a = assert(mgr:submit("worker-1"))
    local b = assert(mgr:submit("worker-2"))
    assert.is_not.equal(a.id, b.id)
    local seen = poll_until(mgr, all_in("running"), 20)
    local queued = squeue_ids()
    assert.is_true(queued[a.id] and queued[b.id])
    open_gate(gate)
    poll_until(mgr, all_final, 20)
    assert.equal("finished", a.state)
    assert.equal("finished", b.state)
    assert.truthy(slurp(mark .. "." .. a.id))
    assert.truthy(slurp(mark .. "." .. b.id))
    queued = squeue_ids()
    assert.is_nil(queued[a.id] or queued[b.id])
    -- Every change was reported once, in order, for each job.
    local order = {}
    for _, c in ipairs(seen) do order[c.id] = (order[c.id] or "") .. c.state .. " " end
    assert.matches("running $", order[a.id])
  end)

  it("reports a job whose command cannot start as failed within seconds, with its log", function()
    local wrong_prefix = manager({ cmd_prefix = "/nonexistent/container-run " }, { "rios-luaworker" })
    local missing = manager({}, { "/nonexistent/bin/rios-luaworker", "--address-file", "x" })
    local j1 = assert(wrong_prefix:submit("w1"))
    local j2 = assert(missing:submit("w2"))
    local seen1, t1 = poll_until(wrong_prefix, all_final, 30)
    local seen2, t2 = poll_until(missing, all_final, 30)
    for _, case in ipairs({ { j1, seen1, t1, "/nonexistent/container%-run" },
                            { j2, seen2, t2, "/nonexistent/bin/rios%-luaworker" } }) do
      local job, seen, took, what = case[1], case[2], case[3], case[4]
      assert.equal("failed", job.state)
      assert.equal(127, job.exit_code)
      assert.equal("FAILED (NonZeroExitCode), exit status 127", job.reason)
      local last = seen[#seen]
      assert.equal("failed", last.state)
      assert.matches(what .. ": No such file or directory", last.log_tail)
      assert.matches("rios%-lua batch job: worker exit status 127$", last.log_tail)
      assert.is_true(took < 15, "noticed after " .. took .. " s")
    end
  end)

  it("fails a job that can never start instead of leaving it pending", function()
    local mgr = manager({ time = (slurm.max_time_minutes + 60) }, { "true" })
    local job = assert(mgr:submit("too-long"))
    poll_until(mgr, all_final, 20)
    assert.equal("failed", job.state)
    assert.equal("pending with reason PartitionTimeLimit: it can never start as submitted", job.reason)
    -- It is still in the queue: cancel_all removes it.
    assert.is_true(squeue_ids()[job.id])
    local ids, problem = mgr:cancel_all()
    assert.is_nil(problem)
    assert.same({ job.id }, ids)
    assert.is_nil(squeue_ids()[job.id])
    assert.equal("failed", job.state)
    assert.same({}, mgr:cancel_all())
  end)

  it("returns one line when sbatch refuses the job", function()
    local mgr = manager({ partition = "nosuchpartition" }, { "true" })
    local job, err = mgr:submit("w1")
    assert.is_nil(job)
    assert.matches("^SLURM refused the job for worker w1 %(sbatch exited with status 1%): sbatch: "
                   .. "error: invalid partition specified: nosuchpartition %(job script .*/w1%.sh%)$", err)
  end)

  it("cancels every job it submitted, running or pending, and leaves nothing in squeue", function()
    local mark = unique("rios-spec-cancel")
    -- More jobs than the node's CPUs, so some are still pending.
    local mgr = manager({ cpus_per_task = 4 }, { "sh", "-c", "sleep 60; echo " .. mark })
    local jobs = {}
    for i = 1, 3 do jobs[i] = assert(mgr:submit("w" .. i)) end
    -- (SLURM gives a pending job its reason at its next scheduling pass)
    poll_until(mgr, function(m)
      return m.jobs[1].state == "running" and m.jobs[2].state == "running"
             and m.jobs[3].reason ~= nil and m.jobs[3].reason ~= "None"
    end, 20)
    assert.equal("pending", jobs[3].state)
    assert.equal("Resources", jobs[3].reason)
    -- The poll interval grows while nothing changes, within bounds.
    local delays = {}
    for i = 1, 8 do
      assert(mgr:poll())
      delays[i] = mgr:poll_delay()
    end
    for i = 2, 8 do assert.is_true(delays[i] >= delays[i - 1]) end
    assert.is_true(delays[8] > batch.POLL_MIN and delays[8] <= batch.POLL_MAX)
    assert.truthy(all_command_lines():find(mark, 1, true))
    local ids, problem = mgr:cancel_all()
    assert.is_nil(problem)
    assert.same({ jobs[1].id, jobs[2].id, jobs[3].id }, ids)
    local queued = squeue_ids()
    for _, j in ipairs(jobs) do
      assert.is_nil(queued[j.id])
      assert.equal("cancelled", j.state)
    end
    assert.is_nil(all_command_lines():find(mark, 1, true))
    assert.same({}, mgr:cancel_all())
    assert.same({}, mgr:poll())
  end)

  it("passes env to the job through its environment, never its script or a command line", function()
    local secret = unique("s3cret")
    local out = dir .. "/secret.out"
    local gate = dir .. "/gate-secret"
    local mgr = manager({}, { "sh", "-c", gated(gate, "umask 077; printf %s \"$RIOS_SPEC_KEY\" > " .. out) },
                        { RIOS_SPEC_KEY = secret })
    local job = assert(mgr:submit("w1"))
    poll_until(mgr, all_in("running"), 20)
    assert.is_nil(all_command_lines():find(secret, 1, true))
    open_gate(gate)
    poll_until(mgr, all_final, 20)
    assert.equal("finished", job.state)
    assert.equal(secret, slurp(out))
    assert.is_nil(slurp(job.script):find(secret, 1, true))
    local status, found = H.run("grep -rl " .. H.q(secret) .. " " .. H.q(mgr.tempdir) .. " || true")
    assert.equal(0, status)
    assert.equal("", found)
  end)

  it("writes scripts and logs into script_dir, named after the run", function()
    local shared = dir .. "/shared"
    os.execute("mkdir " .. H.q(shared))
    local mgr = manager({ script_dir = shared }, { "true" }, nil, "rios-run.abc123")
    local job = assert(mgr:submit("w1"))
    assert.equal(shared .. "/rios-run.abc123-w1.sh", job.script)
    assert.equal(shared .. "/rios-run.abc123-w1.log", job.log)
    poll_until(mgr, all_final, 20)
    assert.equal("finished", job.state)
    mgr:remove_files()
    local _, left = H.run("ls -A " .. H.q(shared))
    assert.equal("", left)
  end)

  it("says in one line when SLURM is not on PATH or does not answer", function()
    local empty = dir .. "/empty-bin"
    os.execute("mkdir -p " .. H.q(empty))
    -- rios-lua with a PATH that has no SLURM, as a user without `module load slurm`.
    local script = dir .. "/check.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
local batch = require("workers.batch")
local mgr = batch.new("slurm", {}, { tempdir = "/nonexistent/rios-tmp", command = { "x" } })
print(select(2, mgr:check()))
]])
    f:close()
    local status, out, err = H.run("env PATH=" .. H.q(empty) .. " " .. H.q(H.exe) .. " " .. H.q(script))
    assert.equal(0, status, err)
    assert.equal("kind \"slurm\": sbatch is not on PATH; rios-lua submits and watches worker jobs "
                 .. "with sbatch, squeue, scancel (is SLURM installed here, or does it need a "
                 .. "'module load'?)\n", out)
    -- A controller that is down: the cluster's configuration, another port.
    local conf = slurp(cluster.conf):gsub("SlurmctldPort=%d+", "SlurmctldPort=9") .. "MessageTimeout=1\n"
    local dead = dir .. "/dead.conf"
    f = assert(io.open(dead, "w"))
    f:write(conf)
    f:close()
    local mgr = batch.new("slurm", {}, { tempdir = dir, command = { "x" },
                                         sched_env = { SLURM_CONF = dead } })
    local ok, why = mgr:check()
    assert.is_nil(ok)
    assert.equal("kind \"slurm\": SLURM does not answer ('squeue --noheader --me --format=%i' exited "
                 .. "with status 1: slurm_load_jobs error: Unable to contact slurm controller "
                 .. "(connect failure))", why)
  end)
end)

describe("kind pbs against the PBS stand-in (spec/support/pbs, not a real PBS server)", function()
  local dir, server, sched_env
  local standin = H.root .. "/spec/support/pbs"
  setup(function()
    dir = H.tmpdir()
    server = H.tmpdir()
    sched_env = { PATH = standin .. ":" .. os.getenv("PATH"), PBS_STANDIN_DIR = server }
  end)
  teardown(H.cleanup)

  local function manager(extra, command, env, senv)
    local tmp = dir .. "/" .. unique("run")
    os.execute("mkdir -p " .. H.q(tmp))
    return batch.new("pbs", extra, { tempdir = tmp, command = command, env = env,
                                      sched_env = senv or sched_env })
  end

  local function qstat(args)
    return H.run("PATH=" .. H.q(sched_env.PATH) .. " PBS_STANDIN_DIR=" .. H.q(server) .. " qstat " .. args)
  end

  local function listed(id)
    local status, out, err = qstat("")
    assert(status == 0, err)
    return out:find("\n" .. id:gsub("%p", "%%%0") .. " ") ~= nil
  end

  it("writes #PBS lines from a full extra, and the stand-in takes every one", function()
    local out = dir .. "/full.out"
    local mgr = manager({ queue = "workq", walltime = "00:05:00", mem = 100, ncpus = 1,
                          account = "rios_spec", qsub_options = { "-m n", "-l place=free" },
                          init_cmds = "export RIOS_SPEC_INIT=two",
                          cmd_prefix = "env RIOS_SPEC_PREFIX=yes ", cmd_suffix = " && echo suffix-ran" },
                        { "sh", "-c", "echo \"$RIOS_SPEC_INIT $RIOS_SPEC_PREFIX\" > " .. out })
    assert.is_true(mgr:check())
    local job = assert(mgr:submit("w1"))
    assert.matches("^%d+%.standin$", job.id)
    assert.equal(table.concat({
      "#!/bin/bash",
      "#PBS -N rios-w1",
      "#PBS -j oe",
      "#PBS -o " .. job.log,
      "#PBS -S /bin/bash",
      "#PBS -q workq",
      "#PBS -l walltime=00:05:00",
      "#PBS -l mem=100mb",
      "#PBS -l ncpus=1",
      "#PBS -A rios_spec",
      "#PBS -m n",
      "#PBS -l place=free",
      "# Written by rios-lua for worker w1; submitted with qsub.",
      "export RIOS_SPEC_INIT=two",
      "env RIOS_SPEC_PREFIX=yes sh -c 'echo \"$RIOS_SPEC_INIT $RIOS_SPEC_PREFIX\" > " .. out
        .. "' && echo suffix-ran",
      "status=$?",
      "echo \"rios-lua batch job: worker exit status $status\"",
      "exit $status",
    }, "\n") .. "\n", slurp(job.script))
    poll_until(mgr, all_final, 20)
    assert.equal("finished", job.state)
    assert.equal("two yes\n", slurp(out))
    local status, show = qstat("-x -f " .. job.id)
    assert.equal(0, status)
    for _, field in ipairs({ "Job_Name = rios-w1", "queue = workq", "Resource_List.walltime = 00:05:00",
                             "Resource_List.mem = 100mb", "Resource_List.ncpus = 1",
                             "Resource_List.place = free", "Account_Name = rios_spec",
                             "Join_Path = oe", "Output_Path = ", "Exit_status = 0" }) do
      assert.truthy(show:find(field, 1, true), field .. " in " .. show)
    end
    assert.equal("suffix-ran\nrios-lua batch job: worker exit status 0", mgr:log_tail(job, 2))
  end)

  it("runs jobs that qstat lists while they run and not after", function()
    local mark, gate = dir .. "/ran", dir .. "/gate-qstat"
    local mgr = manager({}, { "sh", "-c", gated(gate, "touch \"$0.$PBS_JOBID\""), mark })
    local a = assert(mgr:submit("worker-1"))
    local b = assert(mgr:submit("worker-2"))
    poll_until(mgr, all_in("running"), 10)
    assert.is_true(listed(a.id) and listed(b.id))
    open_gate(gate)
    poll_until(mgr, all_final, 10)
    assert.equal("finished", a.state)
    assert.equal("finished", b.state)
    assert.truthy(slurp(mark .. "." .. a.id))
    assert.is_false(listed(a.id) or listed(b.id))
  end)

  it("reports a job whose command cannot start as failed, with its log", function()
    local mgr = manager({ cmd_prefix = "/nonexistent/container-run " }, { "rios-luaworker" })
    local job = assert(mgr:submit("w1"))
    local seen, took = poll_until(mgr, all_final, 15)
    assert.equal("failed", job.state)
    assert.equal(127, job.exit_code)
    assert.equal("exit status 127", job.reason)
    assert.matches("/nonexistent/container%-run: No such file or directory", seen[#seen].log_tail)
    assert.is_true(took < 10, took)
  end)

  it("reads how a job ended from its log when the server keeps no history", function()
    local senv = { PATH = sched_env.PATH, PBS_STANDIN_DIR = server, PBS_STANDIN_HISTORY = "0" }
    local good = manager({}, { "true" }, nil, senv)
    local bad = manager({}, { "sh", "-c", "exit 3" }, nil, senv)
    local g = assert(good:submit("w1"))
    local b = assert(bad:submit("w2"))
    poll_until(good, all_final, 10)
    poll_until(bad, all_final, 10)
    assert.equal("finished", g.state)
    assert.equal("failed", b.state)
    assert.equal(3, b.exit_code)
    assert.equal("the worker exited with status 3", b.reason)
    -- A job forgotten with no status in its log has vanished.
    local lost = manager({}, { "true" }, nil, senv)
    local l = assert(lost:submit("w3"))
    poll_until(lost, all_final, 10)
    os.remove(l.log)
    l.state = "running"
    local changes = assert(lost:poll())
    assert.equal("vanished", changes[1].state)
    assert.equal("PBS no longer knows job " .. l.id .. " and its log does not say how it ended",
                 changes[1].reason)
  end)

  it("returns one line when qsub refuses the job", function()
    local mgr = manager({ queue = "nosuchqueue" }, { "true" })
    local job, err = mgr:submit("w1")
    assert.is_nil(job)
    assert.matches("^PBS refused the job for worker w1 %(qsub exited with status 170%): qsub: "
                   .. "Unknown queue %(job script .*/w1%.sh%)$", err)
  end)

  it("cancels every job it submitted, and qstat lists none after", function()
    local mark = unique("rios-spec-qdel")
    local mgr = manager({}, { "sh", "-c", "sleep 60; echo " .. mark })
    local jobs = {}
    for i = 1, 3 do jobs[i] = assert(mgr:submit("w" .. i)) end
    poll_until(mgr, all_in("running"), 10)
    assert.truthy(all_command_lines():find(mark, 1, true))
    local ids, problem = mgr:cancel_all()
    assert.is_nil(problem)
    assert.same({ jobs[1].id, jobs[2].id, jobs[3].id }, ids)
    for _, j in ipairs(jobs) do assert.is_false(listed(j.id)) end
    local _, show = qstat("-x -f " .. jobs[1].id)
    assert.truthy(show:find("Exit_status = 271", 1, true))
    assert.is_nil(all_command_lines():find(mark, 1, true))
  end)

  it("passes env to the job with qsub -v: names on the command line, values never", function()
    local secret = unique("s3cret")
    local out = dir .. "/secret.out"
    local gate = dir .. "/gate-secret"
    local mgr = manager({}, { "sh", "-c", gated(gate, "umask 077; printf %s \"$RIOS_SPEC_KEY\" > " .. out) },
                        { RIOS_SPEC_KEY = secret })
    local job = assert(mgr:submit("w1"))
    poll_until(mgr, all_in("running"), 10)
    assert.is_nil(all_command_lines():find(secret, 1, true))
    open_gate(gate)
    poll_until(mgr, all_final, 10)
    assert.equal("finished", job.state)
    assert.equal(secret, slurp(out))
    assert.is_nil(slurp(job.script):find(secret, 1, true))
  end)

  it("says in one line when qsub is not on PATH or the server does not answer", function()
    local empty = dir .. "/empty-bin"
    os.execute("mkdir -p " .. H.q(empty))
    local mgr = manager({}, { "x" }, nil, { PATH = empty })
    local ok, why = mgr:check()
    assert.is_nil(ok)
    assert.equal("kind \"pbs\": qsub is not on PATH; rios-lua submits and watches worker jobs with "
                 .. "qsub, qstat, qdel (is PBS installed here, or does it need a 'module load'?)", why)
    mgr = manager({}, { "x" }, nil, { PATH = sched_env.PATH, PBS_STANDIN_DIR = "" })
    ok, why = mgr:check()
    assert.is_nil(ok)
    assert.equal("kind \"pbs\": PBS does not answer ('qstat -B' exited with status 1: Connection refused)",
                 why)
  end)
end)
