-- rios.concurrency: controls.concurrency, how one apply splits reading,
-- computing and writing (RIOS's ConcurrencyStyle). Every key is checked and
-- every combination RIOS refuses is refused here, before any file is
-- touched, with a message that says why.
local base = require("rios.base")
local C = base.C

local M = {}

-- Kinds of compute worker. Only these run for now; the others are known so
-- that a script naming one is told it is not available yet.
local kinds = { "none", "threads", "subproc", "slurm", "pbs", "ecs" }
local available = { none = true, threads = true, subproc = true, slurm = true, pbs = true }
local batch_kinds = { slurm = true, pbs = true }

-- Whether each kind's workers read their own input when
-- compute_workers_read is nil (as RIOS's compute managers choose).
local reads_by_default = { none = false, threads = false, subproc = false, slurm = true,
                           pbs = true, ecs = true }

local timeout_keys = { "read_buffer_insert_timeout", "read_buffer_pop_timeout",
                       "compute_buffer_insert_timeout", "compute_buffer_pop_timeout",
                       "barrier_timeout" }

function M.defaults()
  return {
    read_workers = 0, compute_workers = 0, kind = "none", compute_workers_read = nil,
    single_block_workers = false, shared_temp = true, extra = nil,
    read_buffer_insert_timeout = 10, read_buffer_pop_timeout = 10,
    compute_buffer_insert_timeout = 10, compute_buffer_pop_timeout = 20,
    barrier_timeout = 600, max_worker_failures = 2,
  }
end

local function whole(v)
  if type(v) ~= "number" or v ~= math.floor(v) or v < 0 then
    return "must be a whole number >= 0"
  end
end
local function boolean(v)
  if type(v) ~= "boolean" then return "must be true or false" end
end
local function timeout(v)
  if v == false then return nil end
  if type(v) ~= "number" or v ~= v or v <= 0 then
    return "must be a number of seconds > 0, or false to wait forever"
  end
end

local checks = {
  read_workers = whole,
  compute_workers = whole,
  kind = function(v)
    for _, k in ipairs(kinds) do if v == k then return nil end end
    return "must be one of \"" .. table.concat(kinds, "\", \"") .. "\""
  end,
  compute_workers_read = boolean,
  single_block_workers = boolean,
  shared_temp = boolean,
  extra = function(v)
    if type(v) ~= "table" then return "must be a table of parameters for the kind" end
  end,
  max_worker_failures = whole,
}
for _, k in ipairs(timeout_keys) do checks[k] = timeout end

local function show(v)
  if type(v) == "string" then return "'" .. v .. "'" end
  return tostring(v)
end

-- The defaults the command line gives (-j, --read-workers, --kind), for
-- scripts whose controls have no concurrency table. -j N alone means N
-- threads fed by one read worker.
function M.from_command_line()
  local cli = debug.getregistry()[base.registry.CLI]
  if type(cli) ~= "table" then return nil end
  local t = {}
  local any = false
  if cli.compute_workers then
    t.compute_workers = cli.compute_workers
    if cli.compute_workers > 0 then t.kind = "threads" end
    any = true
  end
  if cli.kind then t.kind = cli.kind; any = true end
  if cli.read_workers then
    t.read_workers = cli.read_workers
    any = true
  elseif (t.compute_workers or 0) > 0 and not reads_by_default[t.kind or "none"] then
    t.read_workers = 1
  end
  return any and t or nil, "the command line (-j, --read-workers, --kind)"
end

-- Check -j, --read-workers and --kind before any script code runs, so that
-- a combination no rios.apply could use (--kind foo, --kind subproc without
-- -j, -j 2 --kind none) is refused at once rather than after the script has
-- done its own work. Raises a user error naming the options.
function M.check_command_line()
  local cli = M.from_command_line()
  if cli == nil then return end
  local function refuse(why) base.raise("rios-lua: ", why) end
  local kind, n = cli.kind, cli.compute_workers
  if kind ~= nil and checks.kind(kind) then
    refuse("--kind " .. kind .. " is not a kind of compute worker (known: "
           .. table.concat(kinds, ", ") .. ")")
  end
  if kind ~= nil and kind ~= "none" and n == nil then
    refuse("--kind " .. kind .. " needs -j N, the number of compute workers")
  end
  if kind == "none" and (n or 0) > 0 then
    refuse("-j " .. n .. " asks for compute workers but --kind none has none; "
           .. "leave out --kind none, or name a kind such as --kind threads")
  end
  M.resolve(nil, "rios-lua: ", true)
end

-- c with .timeouts: each timeout in seconds for C; negative waits forever.
local function with_timeouts(c)
  c.timeouts = {}
  for _, k in ipairs(timeout_keys) do
    c.timeouts[k] = c[k] == false and -1 or c[k]
  end
  return c
end

-- Check user's table (nil: the command line's, else none at all) and return
-- the resolved settings. label names where it came from in messages.
-- quiet: no warnings (the command line's early check; apply warns).
function M.resolve(user, where, quiet)
  local label = "controls.concurrency"
  if user == nil then
    local cli, cli_label = M.from_command_line()
    if cli then user, label = cli, cli_label end
  end
  local c = M.defaults()
  if user == nil then return with_timeouts(c) end
  if type(user) ~= "table" then
    base.raise(where, "controls key 'concurrency' must be a table, got " .. type(user))
  end
  for key, value in pairs(user) do
    local check = checks[key]
    if not check then
      base.raise(where, "unknown " .. label .. " key '" .. tostring(key) .. "' (known: "
                 .. "read_workers, compute_workers, kind, compute_workers_read, "
                 .. "single_block_workers, shared_temp, extra, max_worker_failures, "
                 .. table.concat(timeout_keys, ", ") .. ")")
    end
    local problem = check(value)
    if problem then
      base.raise(where, label .. " key '" .. key .. "' " .. problem .. ", got " .. show(value))
    end
    c[key] = value
  end

  local function refuse(why)
    base.raise(where, label .. ": " .. why)
  end
  local nread, ncompute, kind = c.read_workers, c.compute_workers, c.kind
  -- The combinations RIOS's ConcurrencyStyle refuses, in its order.
  if c.single_block_workers and ncompute > 0 then
    refuse("compute_workers must not be set when single_block_workers is true (a worker is "
           .. "started for every block)")
  end
  if c.single_block_workers and nread > 0 then
    refuse("single_block_workers needs read_workers = 0 (each single-block worker reads its "
           .. "own block)")
  end
  if c.compute_workers_read and kind == "threads" then
    refuse("compute threads cannot read their own input (compute_workers_read = true with "
           .. "kind \"threads\"); the main process reads for them, so set read_workers instead")
  end
  if c.single_block_workers and kind == "threads" then
    refuse("compute threads cannot be single_block_workers; use compute_workers = N")
  end
  if ncompute > 0 and kind == "none" then
    refuse("compute_workers = " .. ncompute .. " but kind is \"none\"; say which kind of "
           .. "compute worker, e.g. kind = \"threads\"")
  end
  if ncompute == 0 and kind ~= "none" and not c.single_block_workers then
    refuse("kind is \"" .. kind .. "\" but compute_workers = 0; ask for at least one compute "
           .. "worker, or use kind = \"none\"")
  end
  if not available[kind] then
    refuse("kind \"" .. kind .. "\" is not available in this rios-lua yet (available: "
           .. "\"none\", \"threads\", \"subproc\", \"slurm\", \"pbs\")")
  end
  if c.single_block_workers and not batch_kinds[kind] then
    refuse("single_block_workers is for the batch kinds (\"slurm\", \"pbs\"), not kind \""
           .. kind .. "\"")
  end
  local reads = c.compute_workers_read
  if reads == nil then reads = reads_by_default[kind] end
  c.compute_workers_read = reads
  if c.single_block_workers and not reads then
    refuse("single_block_workers read their own block; compute_workers_read = false cannot "
           .. "be used with them")
  end
  if ncompute > 0 and not reads and nread == 0 then
    refuse("compute_workers = " .. ncompute .. " with read_workers = 0: compute workers that "
           .. "do not read their own input are fed by read workers, and RIOS refuses zero "
           .. "of them; set read_workers to at least 1")
  end
  if kind == "threads" and not quiet then
    local ncpu = C.rios_ffi_cpu_count()
    if ncompute > ncpu then
      io.stderr:write(string.format("rios-lua: warning: %d compute threads on %d CPUs; "
                                    .. "they will share the CPUs\n", ncompute, ncpu))
    end
  end
  return with_timeouts(c)
end

return M
