-- spec/cluster_spec.lua: the kinds "slurm" and "pbs" end to end: rios-lua
-- runs whose compute workers are batch jobs running rios-luaworker, on a
-- real single-node SLURM (spec/support/slurm.lua, started once per spec run)
-- and on the PBS STAND-IN (spec/support/pbs/: shell scripts that run the job
-- with bash, not a PBS server; no real PBS is packaged for Debian). Real
-- rios-lua processes, real jobs and real GeoTIFFs; outputs are compared
-- byte for byte with the sequential run. The scheduler half alone is
-- spec/batch_spec.lua's.
local H = require("support.helpers")
local shared = require("support.cases")
local slurm = require("support.slurm")
local Tmux = require("support.tmux")
local rios = require("rios")
local C = require("rios.base").C

local function now() return C.rios_ffi_now() end
local function sleep(s) os.execute("sleep " .. s) end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

local function ls(dir)
  local p = io.popen("ls -A " .. H.q(dir))
  local names = {}
  for n in p:lines() do names[#names + 1] = n end
  p:close()
  return names
end

-- Until done() or timeout seconds; fails the spec with what.
local function wait_for(done, timeout, what)
  local t0 = now()
  while not done() do
    if now() - t0 > timeout then
      error("still waiting after " .. timeout .. " s for " .. what, 2)
    end
    sleep(0.1)
  end
  return now() - t0
end

----------------------------------------------------------------------------
-- The scripts

local extremes = {
  int8 = { -128, 127 }, uint8 = { 0, 255 }, int16 = { -32768, 32767 }, uint16 = { 0, 65535 },
  int32 = { -2147483648, 2147483647 }, uint32 = { 0, 4294967295 },
  float32 = { -3.4028234663852886e38, 3.4028234663852886e38 },
  float64 = { -1.7976931348623157e308, 1.7976931348623157e308 },
}

-- The matrix: two single inputs and a list input of different types, an
-- input of every dtype (each copied to an output of its type), an overlap,
-- a list output, a lookup table built before apply, per-block counts in
-- otherargs merged by merge_otherargs. arg[1]: the outputs' prefix;
-- arg[2]: "cli" (concurrency from the command line), "single" (one job per
-- block) or "mainread" (this process reads and sends blocks; the channel
-- reaches the jobs through their environment); arg[3]: the kind.
local MATRIX = [[
local rios = require("rios")
local tag, mode, kind = arg[1], arg[2], arg[3]
local conc = ({
  single = { kind = kind, single_block_workers = true },
  mainread = { kind = kind, compute_workers = 2, compute_workers_read = false, read_workers = 1,
               shared_temp = false },
})[mode]
local scale = {}
for b = 0, 1 do scale[b] = (b + 2) * 0.5 end
local ins = { a = "a.tif", b = "b.tif", l = { "l1.tif", "l2.tif" } }
local outs = { f = tag .. "_f.tif", pair = { tag .. "_s.tif", tag .. "_d.tif" } }
for _, dt in ipairs(rios.dtypes) do
  ins["in_" .. dt] = "in_" .. dt .. ".tif"
  outs["out_" .. dt] = tag .. "_" .. dt .. ".tif"
end
local otherargs = { blocks = 0, pixels = 0, sum = 0, workers_seen = 0 }
local result = rios.apply(function(info, inputs, outputs, oa)
  local a, b, l1, l2 = inputs.a, inputs.b, inputs.l[1], inputs.l[2]
  local n = a.rows * a.cols
  local f = a:like("float32", 2)
  local s = b:like("int32", 1)
  local d = l1:like("uint16", 1)
  for band = 0, 1 do
    for i = 0, n - 1 do
      f.data[band * n + i] = a.data[i] * scale[band] + b.data[band * n + i] / 7
    end
  end
  for i = 0, n - 1 do
    s.data[i] = b.data[i] - b.data[n + i]
    d.data[i] = l1.data[i] + 3 * l2.data[i]
    oa.sum = oa.sum + a.data[i]
  end
  local cols, rows = info:block_size()
  oa.blocks = oa.blocks + 1
  oa.pixels = oa.pixels + cols * rows
  if rios.is_worker() then oa.workers_seen = 1 end
  outputs.f = f
  outputs.pair = { s, d }
  for _, dt in ipairs(rios.dtypes) do outputs["out_" .. dt] = inputs["in_" .. dt] end
end, ins, outs, otherargs,
   { window_xsize = 48, window_ysize = 40, overlap = 2, concurrency = conc,
     merge_otherargs = function(into, from)
       into.blocks = into.blocks + from.blocks
       into.pixels = into.pixels + from.pixels
       into.sum = into.sum + from.sum
       into.workers_seen = into.workers_seen + from.workers_seen
     end })
local counts = {}
for i, oa in ipairs(result.otherargs_list) do counts[i] = oa.blocks end
print(#result.otherargs_list, table.concat(counts, ","), otherargs.blocks, otherargs.pixels,
      otherargs.sum, otherargs.workers_seen)
]]
local MATRIX_BLOCKS = 16   -- ceil(150 / 48) x ceil(130 / 40)

local function make_matrix_inputs(dir)
  H.make_raster(dir .. "/a.tif", "uint8", 1, 130, 150,
                function(_, r, c) return (r * 7 + c * 3) % 251 end)
  H.make_raster(dir .. "/b.tif", "int16", 2, 130, 150,
                function(b, r, c) return (r - c) * (b + 1) end)
  H.make_raster(dir .. "/l1.tif", "uint8", 1, 130, 150, function(_, r, c) return (r + c) % 200 end)
  H.make_raster(dir .. "/l2.tif", "uint8", 1, 130, 150, function(_, r, c) return (r * c) % 97 end,
                { nodata = 5 })
  for _, dt in ipairs(rios.dtypes) do
    local lo, hi = extremes[dt][1], extremes[dt][2]
    local float = dt:match("float")
    H.make_raster(dir .. "/in_" .. dt .. ".tif", dt, 1, 130, 150, function(_, r, c)
      local k = r * 150 + c
      if k == 0 then return lo end
      if k == 1 then return hi end
      if float and k == 2 then return 0 / 0 end
      if float then return (k - 2000) * 0.37 end
      return lo + (k * 7919) % (hi - lo + 1)
    end)
  end
  write(dir .. "/matrix.lua", MATRIX)
end

local function matrix_outputs(tag)
  local names = { tag .. "_f.tif", tag .. "_s.tif", tag .. "_d.tif" }
  for _, dt in ipairs(rios.dtypes) do names[#names + 1] = tag .. "_" .. dt .. ".tif" end
  return names
end

-- Every block waits (in a worker) until the file `gate` exists, after
-- marking that it started: started-<job id>-<block>. arg[2]: the folder
-- of the gate and marks; arg[3]: the kind; arg[4]: a block (x*10+y) whose
-- function fails, else none; arg[5]: max_worker_failures.
local GATED = [[
local rios = require("rios")
local dir, kind, fail, budget = arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5])
local function exists(p) local f = io.open(p) if f then f:close() end return f ~= nil end
local otherargs = { blocks = 0 }
local result = rios.apply(function(info, inputs, outputs, oa)
  local x, y = info:block_count()
  if rios.is_worker() then
    local job = os.getenv("SLURM_JOB_ID") or os.getenv("PBS_JOBID") or "none"
    io.open(dir .. "/started-" .. job .. "-" .. (x * 10 + y), "w"):close()
    while not exists(dir .. "/gate") do os.execute("sleep 0.1") end
  end
  if x * 10 + y == fail then error("block function failed on purpose") end
  local a = inputs.a
  local o = a:like("int16", 1)
  for i = 0, a.rows * a.cols - 1 do o.data[i] = a.data[i] * 3 - 7 end
  oa.blocks = oa.blocks + 1
  outputs.o = o
end, { a = "g.tif" }, { o = arg[1] }, otherargs,
   { window_xsize = 32, window_ysize = 32,
     concurrency = kind ~= "none" and { kind = kind, compute_workers = 2,
                                        max_worker_failures = budget } or nil,
     merge_otherargs = function(into, from) into.blocks = into.blocks + from.blocks end })
print(#result.otherargs_list, otherargs.blocks)
]]
local GATED_BLOCKS = 12   -- 4 x 3

local function make_gated_inputs(dir)
  H.make_raster(dir .. "/g.tif", "uint8", 1, 96, 128,
                function(_, r, c) return (r * 5 + c) % 256 end)
  write(dir .. "/gated.lua", GATED)
end

-- The job ids of the blocks started so far (from the marks), distinct.
local function started_jobs(dir)
  local jobs, seen = {}, {}
  for _, name in ipairs(ls(dir)) do
    local job = name:match("^started%-(.+)%-%d+$")
    if job and not seen[job] then
      seen[job] = true
      jobs[#jobs + 1] = job
    end
  end
  table.sort(jobs)
  return jobs
end

----------------------------------------------------------------------------
-- The schedulers

local standin = H.root .. "/spec/support/pbs"
local pbs_server

-- What a spec needs of each scheduler: the environment rios-lua and the
-- commands run with, the ids of the jobs it lists as queued or running,
-- and how an administrator cancels one job.
local schedulers = {
  slurm = {
    name = "SLURM",
    start = function() slurm.start() end,
    env = function() return slurm.env_prefix() end,
    listed = function()
      local status, out, err = H.run(slurm.env_prefix() .. "squeue --noheader --format=%i")
      assert(status == 0, err)
      local ids = {}
      for id in out:gmatch("%S+") do ids[id] = true end
      return ids
    end,
    cancel = function(id)
      local status, _, err = H.run(slurm.env_prefix() .. "scancel " .. H.q(id))
      assert(status == 0, err)
    end,
  },
  pbs = {
    name = "PBS",
    start = function()
      if not pbs_server then
        pbs_server = H.tmpdir()
      end
    end,
    env = function()
      return "PATH=" .. H.q(standin .. ":" .. os.getenv("PATH")) .. " PBS_STANDIN_DIR="
             .. H.q(pbs_server) .. " "
    end,
    listed = function()
      local status, out, err = H.run("PATH=" .. H.q(standin .. ":" .. os.getenv("PATH"))
                                     .. " PBS_STANDIN_DIR=" .. H.q(pbs_server) .. " qstat")
      assert(status == 0, err)
      local ids = {}
      for id in out:gmatch("\n(%d+%.%S+)") do ids[id] = true end
      return ids
    end,
    cancel = function(id)
      local status, _, err = H.run("PATH=" .. H.q(standin .. ":" .. os.getenv("PATH"))
                                   .. " PBS_STANDIN_DIR=" .. H.q(pbs_server) .. " qdel " .. H.q(id))
      assert(status == 0, err)
    end,
  },
}

----------------------------------------------------------------------------
-- The cases, for each kind

local function cases(kind)
  local S = schedulers[kind]
  local dir

  -- rios-lua with the scheduler's environment; a hang becomes a failure.
  local function run(opts, script, args)
    local argstr = ""
    for _, a in ipairs(args or {}) do argstr = argstr .. " " .. H.q(a) end
    return H.run("cd " .. H.q(dir) .. " && " .. S.env() .. "timeout 120 " .. H.q(H.exe) .. " "
                 .. (opts or "") .. " " .. script .. argstr)
  end

  -- rios-lua in the background: its pid, and a function that returns its
  -- exit status, stdout and stderr once it has ended (nil before).
  local function start(script, args)
    local argstr = ""
    for _, a in ipairs(args or {}) do argstr = argstr .. " " .. H.q(a) end
    local run_dir = H.tmpdir()
    os.execute("cd " .. H.q(dir) .. " && ( " .. S.env() .. H.q(H.exe) .. " " .. script .. argstr
               .. " >" .. run_dir .. "/out 2>" .. run_dir .. "/err & echo $! >" .. run_dir
               .. "/pid; wait $!; echo $? >" .. run_dir .. "/status.tmp; mv " .. run_dir
               .. "/status.tmp " .. run_dir .. "/status ) >/dev/null 2>&1 &")
    wait_for(function() return slurp(run_dir .. "/pid") end, 10, "the pid")
    local pid = tonumber(slurp(run_dir .. "/pid"))
    return pid, function()
      local status = slurp(run_dir .. "/status")
      if not status then return nil end
      return tonumber(status), slurp(run_dir .. "/out"), slurp(run_dir .. "/err")
    end
  end

  local function wait_end(ended, timeout)
    local status, out, err
    wait_for(function()
      status, out, err = ended()
      return status ~= nil
    end, timeout or 60, "rios-lua to end")
    return status, out, err
  end

  -- No temporary folder, script or log of a run is left in dir.
  local function nothing_left()
    for _, name in ipairs(ls(dir)) do
      assert.is_nil(name:match("^rios%-lua%-"), "left behind: " .. name)
    end
  end

  setup(function()
    S.start()
    dir = H.tmpdir()
    make_matrix_inputs(dir)
    shared.make_warped_inputs(dir)
    make_gated_inputs(dir)
  end)
  teardown(H.cleanup)

  describe("gives outputs identical (cmp) to the sequential run", function()
    local seq
    setup(function()
      local status, out, err = run("", "matrix.lua", { "seq", "cli" })
      assert.are.equal(0, status, err)
      seq = out
    end)

    local function check(tag, out, workers)
      for i, name in ipairs(matrix_outputs(tag)) do
        local status, _, err = H.run("cmp " .. H.q(dir .. "/" .. matrix_outputs("seq")[i]) .. " "
                                     .. H.q(dir .. "/" .. name))
        assert.are.equal(0, status, name .. ": " .. err)
      end
      local n, counts, rest = out:match("^(%d+)\t(%S+)\t(.*)$")
      local _, _, seq_rest = seq:match("^(%d+)\t(%S+)\t(%S+\t%S+\t%S+)\t")
      -- merge_otherargs folded each worker's copy: the sequential totals
      assert.are.equal(seq_rest, rest:match("^(%S+\t%S+\t%S+)\t"))
      assert.is_true(tonumber(n) >= 1 and tonumber(n) <= workers, out)
      local total = 0
      for c in counts:gmatch("%d+") do total = total + tonumber(c) end
      assert.are.equal(MATRIX_BLOCKS, total, counts)
      assert.are.equal(tostring(MATRIX_BLOCKS), rest:match("^(%d+)"))
      return tonumber(n), counts
    end

    it("with --kind " .. kind .. " -j 2 (workers read their own input)", function()
      local status, out, err = run("--kind " .. kind .. " -j 2", "matrix.lua", { "j2", "cli" })
      assert.are.equal(0, status, err)
      assert.are.equal("", err)
      check("j2", out, 2)
      nothing_left()
    end)

    it("with single_block_workers (a job per block)", function()
      local status, out, err = run("", "matrix.lua", { "single", "single", kind })
      assert.are.equal(0, status, err)
      local n, counts = check("single", out, MATRIX_BLOCKS)
      -- every worker computed one block
      assert.are.equal(MATRIX_BLOCKS, n)
      for c in counts:gmatch("%d+") do assert.are.equal("1", c) end
      nothing_left()
    end)

    it("with this process reading and the channel in the jobs' environment (shared_temp = false)",
       function()
      local status, out, err = run("", "matrix.lua", { "mainread", "mainread", kind })
      assert.are.equal(0, status, err)
      check("mainread", out, 2)
      nothing_left()
    end)

    it("with warped, band-selected and rasterized inputs", function()
      local status, _, err = run("", "warped.lua", { "w_seq.tif" })
      assert.are.equal(0, status, err)
      status, _, err = run("--kind " .. kind .. " -j 2", "warped.lua", { "w_par.tif" })
      assert.are.equal(0, status, err)
      status, _, err = H.run("cmp " .. H.q(dir .. "/w_seq.tif") .. " " .. H.q(dir .. "/w_par.tif"))
      assert.are.equal(0, status, err)
      -- A vector burned into the temporary folder cannot reach workers
      -- that read their own input when the folder is not shared.
      status, _, err = run("", "warped.lua", { "w_no.tif", "{ kind = '" .. kind .. "', "
                           .. "compute_workers = 2, shared_temp = false }" })
      assert.are.equal(1, status)
      assert.truthy(err:find("input 'shapes.csv' is made into the run's temporary "
                             .. "folder, which the compute nodes do not see with shared_temp = "
                             .. "false; set compute_workers_read = false", 1, true), err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
      nothing_left()
    end)
  end)

  it("runs jobs the scheduler lists while the run lasts and not after it", function()
    local marks = H.tmpdir()
    local pid, ended = start("gated.lua", { "listed.tif", marks, kind })
    local _ = pid
    wait_for(function() return #started_jobs(marks) == 2 end, 30, "two jobs computing")
    local jobs = started_jobs(marks)
    local listed = S.listed()
    assert.is_true(listed[jobs[1]] and listed[jobs[2]], table.concat(jobs, " "))
    write(marks .. "/gate", "")
    local status, out, err = wait_end(ended)
    assert.are.equal(0, status, err)
    assert.are.equal("2\t" .. GATED_BLOCKS .. "\n", out)
    listed = S.listed()
    assert.is_nil(listed[jobs[1]] or listed[jobs[2]])
    nothing_left()
  end)

  it("reports an error in a worker with the job id, log, worker, block and traceback", function()
    local marks = H.tmpdir()
    write(marks .. "/gate", "")
    local status, _, err = run("", "gated.lua", { "err.tif", marks, kind, "11" })
    assert.are.equal(1, status)
    local job, log = err:match("compute worker %d+ %(pid %d+ on [^,]+, " .. S.name
                               .. " job (%S+), log (%S+)%.log%): error in the block function in "
                               .. "block %(row 1, col 1%)")
    assert.truthy(job, err)
    assert.truthy(err:find("gated.lua:12: block function failed on purpose\nstack traceback:", 1,
                           true), err)
    assert.truthy(err:find("rios-lua: cancelled the " .. S.name .. " jobs of this run: ", 1, true),
                  err)
    -- the log it names is kept for the user to read
    assert.truthy(err:find("rios-lua: the logs of the " .. S.name .. " jobs are kept: ", 1, true),
                  err)
    assert.truthy(exists(log .. ".log"), log)
    assert.is_nil(S.listed()[job])
    for _, name in ipairs(ls(dir)) do
      if name:match("^rios%-lua%-") then
        assert.truthy(name:match("%-worker%-%d+%.log$"), name)
        os.remove(dir .. "/" .. name)
      end
    end
  end)

  it("reports a job that cannot start rios-luaworker within seconds, with its log's tail",
     function()
    local t0 = now()
    local status, _, err = run("", "warped.lua", { "nostart.tif", "{ kind = '" .. kind .. "', "
                               .. "compute_workers = 2, extra = { worker_command = '"
                               .. dir .. "/no/such/rios-luaworker' } }" })
    local took = now() - t0
    assert.are.equal(1, status)
    -- not after barrier_timeout (600 s by default)
    assert.is_true(took < 30, "reported after " .. took .. " s")
    local id = err:match(S.name .. " job (%S+) %(worker%-%d%) ended before its worker connected: ")
    assert.truthy(id, err)
    assert.truthy(err:find("exit status 127; the end of its log " .. dir .. "/rios-lua-", 1, true),
                  err)
    assert.truthy(err:find(dir .. "/no/such/rios-luaworker: No such file or directory\n  "
                           .. "rios-lua batch job: worker exit status 127", 1, true), err)
    for _, name in ipairs(ls(dir)) do
      if name:match("^rios%-lua%-") then os.remove(dir .. "/" .. name) end
    end
    nothing_left()
  end)

  it("fails at barrier_timeout when no worker connects, naming the jobs", function()
    local status, _, err = run("", "warped.lua", { "barrier.tif", "{ kind = '" .. kind .. "', "
                               .. "compute_workers = 1, barrier_timeout = 2, extra = { "
                               .. "cmd_prefix = 'sleep 60; ' } }" })
    assert.are.equal(1, status)
    assert.truthy(err:find("rios.apply failed: no compute worker connected within "
                           .. "controls.concurrency.barrier_timeout = 2 seconds; " .. S.name
                           .. " jobs ", 1, true), err)
    assert.truthy(err:find("rios-lua: cancelled the " .. S.name .. " jobs of this run: ", 1, true),
                  err)
    for _, name in ipairs(ls(dir)) do
      if name:match("^rios%-lua%-") then os.remove(dir .. "/" .. name) end
    end
  end)

  it("replaces a job cancelled mid-run by an administrator, with identical outputs", function()
    local marks = H.tmpdir()
    local status, seq_out, err = run("", "gated.lua", { "lost_seq.tif", marks, "none" })
    assert.are.equal(0, status, err)
    local pid, ended = start("gated.lua", { "lost.tif", marks, kind })
    local _ = pid
    wait_for(function() return #started_jobs(marks) == 2 end, 30, "two jobs computing")
    local victim = started_jobs(marks)[1]
    S.cancel(victim)
    write(marks .. "/gate", "")
    local out
    status, out, err = wait_end(ended)
    assert.are.equal(0, status, err)
    local cmp_status, _, cmp_err = H.run("cmp " .. H.q(dir .. "/lost_seq.tif") .. " "
                                         .. H.q(dir .. "/lost.tif"))
    assert.are.equal(0, cmp_status, cmp_err)
    -- the lost worker's otherargs went with it: its blocks were computed again
    assert.are.equal(seq_out:match("\t(%d+)\n$"), out:match("\t(%d+)\n$"))
    local lost = "lost: .*%(" .. S.name .. " job " .. victim:gsub("%p", "%%%0")
                 .. ", log [^)]*%); " .. S.name .. " job %S+ %(worker%-3%) replaces it\n"
    assert.truthy(err:find(lost), err)
    assert.is_nil(S.listed()[victim])
    nothing_left()
  end)

  it("fails when more jobs are lost than max_worker_failures allows, naming them", function()
    local marks = H.tmpdir()
    local _, ended = start("gated.lua", { "budget.tif", marks, kind, "-1", "0" })
    wait_for(function() return #started_jobs(marks) == 2 end, 30, "two jobs computing")
    local jobs = started_jobs(marks)
    S.cancel(jobs[1])
    local status, _, err = wait_end(ended)
    assert.are.equal(1, status)
    assert.truthy(err:find("rios.apply failed: more compute workers were lost than "
                           .. "controls.concurrency.max_worker_failures = 0 allows: ", 1, true), err)
    assert.truthy(err:find("(" .. S.name .. " job " .. jobs[1] .. ", log ", 1, true), err)
    assert.truthy(err:find("rios-lua: cancelled the " .. S.name .. " jobs of this run: ", 1, true),
                  err)
    local listed = S.listed()
    assert.is_nil(listed[jobs[1]] or listed[jobs[2]])
    for _, name in ipairs(ls(dir)) do
      if name:match("^rios%-lua%-.*%.log$") then os.remove(dir .. "/" .. name) end
    end
    nothing_left()
  end)

  it("cancels its jobs and removes its files on SIGTERM", function()
    local marks = H.tmpdir()
    local pid, ended = start("gated.lua", { "term.tif", marks, kind })
    wait_for(function() return #started_jobs(marks) == 2 end, 30, "two jobs computing")
    local jobs = started_jobs(marks)
    local listed = S.listed()
    assert.is_true(listed[jobs[1]] and listed[jobs[2]])
    os.execute("kill -TERM " .. pid)
    local status, _, err = wait_end(ended, 30)
    assert.are.equal(128 + 15, status, err)   -- ended by the signal, as without jobs
    assert.truthy(err:find("rios-lua: cancelled the " .. S.name .. " jobs of this run: ", 1, true),
                  err)
    assert.truthy(err:find("rios.apply failed: interrupted by SIGTERM", 1, true), err)
    listed = S.listed()
    assert.is_nil(listed[jobs[1]] or listed[jobs[2]])
    nothing_left()
  end)

  it("a worker whose main process is killed with SIGKILL ends itself, though its block "
     .. "function never returns", function()
    local marks = H.tmpdir()
    local pid, ended = start("gated.lua", { "orphan.tif", marks, kind })
    wait_for(function() return #started_jobs(marks) == 2 end, 30, "two jobs computing")
    local jobs = started_jobs(marks)
    local function workers()
      -- (rios-luaworker processes only: not the job's shell, whose command
      -- line holds the same words)
      local _, out = H.run("for p in $(pgrep rios-luaworker); do tr '\\0' ' ' "
                           .. "</proc/$p/cmdline; echo; done")
      local n = 0
      for line in out:gmatch("[^\n]+") do
        if line:find("--address-file " .. dir .. "/", 1, true) then n = n + 1 end
      end
      return n
    end
    local before = workers()
    -- no cleanup runs: the jobs stay, their workers stuck at the gate
    os.execute("kill -KILL " .. pid)
    assert.are.equal(2, before)
    wait_end(ended, 10)
    -- lost_after (10 s by default) after the connection closed
    wait_for(function() return workers() == 0 end, 25, "the orphaned workers to end")
    wait_for(function()
      local listed = S.listed()
      return not (listed[jobs[1]] or listed[jobs[2]])
    end, 20, "their jobs to end")
    local said = 0
    for _, name in ipairs(ls(dir)) do
      if name:match("^rios%-lua%-.*%.log$") then
        local log = slurp(dir .. "/" .. name) or ""
        if log:find("rios%-luaworker: the main process at [^\n]* lost %(.*%) and the block "
                    .. "function did not return within 10 s; ending") then
          said = said + 1
        end
      end
    end
    assert.are.equal(2, said)
    -- what the killed rios-lua left (its folder, the job scripts and logs)
    os.execute("cd " .. H.q(dir) .. " && rm -rf rios-lua-*")
    nothing_left()
  end)

  it("cancels its jobs on Ctrl-C at a terminal (sbatch and qsub are out of its reach)", function()
    local marks = H.tmpdir()
    local env = S.env():gsub("%s+$", "")
    local t = Tmux.start("sh -c " .. H.q("cd " .. H.q(dir) .. " && exec env " .. env .. " "
                                         .. H.q(H.exe) .. " gated.lua int.tif " .. H.q(marks)
                                         .. " " .. kind))
    -- the screen stays once rios-lua has ended
    assert.are.equal(0, (H.run(t:tmux() .. " set-option -t 0 remain-on-exit on")))
    wait_for(function() return #started_jobs(marks) == 2 end, 30, "two jobs computing")
    local jobs = started_jobs(marks)
    t:send("C-c")
    local screen = t:wait_text("rios.apply failed: interrupted by SIGINT (Ctrl-C)", 30)
    t:kill()
    assert.truthy(screen:find("rios-lua: cancelled the " .. S.name .. " jobs of this run: ", 1,
                              true), screen)
    local listed = S.listed()
    assert.is_nil(listed[jobs[1]] or listed[jobs[2]])
    nothing_left()
  end)

  it("says in one line, before any file is touched, that the scheduler is missing", function()
    local empty = H.tmpdir()
    write(dir .. "/missing.lua", "local rios = require('rios')\n"
          .. "rios.apply(function() end, { a = 'missing.tif' }, { o = 'o.tif' })\n")
    local status, out, err = H.run("cd " .. H.q(dir) .. " && PATH=" .. H.q(empty) .. " "
                                   .. H.q(H.exe) .. " --kind " .. kind .. " -j 2 missing.lua")
    assert.are.equal(1, status)
    assert.are.equal("", out)
    local submit = kind == "slurm" and "sbatch, squeue, scancel" or "qsub, qstat, qdel"
    assert.are.equal("missing.lua:2: rios.apply: kind \"" .. kind .. "\": "
                     .. submit:match("^%a+") .. " is not on PATH; rios-lua submits and watches "
                     .. "worker jobs with " .. submit .. " (is " .. S.name .. " installed here, "
                     .. "or does it need a 'module load'?)\n", err)
    assert.is_false(exists(dir .. "/o.tif"))
    nothing_left()
  end)
end

describe("kind slurm on a private single-node SLURM", function()
  cases("slurm")
end)

describe("kind pbs against the PBS STAND-IN (spec/support/pbs, not a real PBS server)", function()
  cases("pbs")
end)
