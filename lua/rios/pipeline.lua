-- rios.pipeline: the Lua side of runtime/pipeline.c, the blocks of a run in
-- flight, and the local sources and sinks of the block loop (rios.loop):
--
--   read_source   the read buffer, in block order (read by read workers, or
--                 by the caller itself when there are none)
--   write_sink    the writer, at once (the main thread computing)
--   compute_sink  the compute buffer (a compute worker's outputs go to the
--                 writer through it)
--   drain         the main thread writing what compute workers computed, in
--                 block order
local base = require("rios.base")
local array = require("rios.array")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

-- Raised out of a loop when the pipeline was stopped by a failure that is
-- already recorded in C (the main thread then reports that one).
M.STOPPED = setmetatable({}, { __tostring = function() return "rios pipeline stopped" end })

local now = C.rios_ffi_now
local check_memory

local function gb(bytes)
  return string.format("%.1f GB", bytes / 2 ^ 30)
end

-- The block buffers must fit: a block size, overlap or number of workers
-- that would need more than MEMORY_SHARE of the machine's memory is a user
-- error naming the controls (or environment variables) and the memory.
local MEMORY_SHARE = 0.75
local mem_bytes, mem_slots, phys = ffi.new("double[1]"), ffi.new("int[1]"), ffi.new("double[1]")
check_memory = function(run, cfg)
  if C.rios_ffi_pipeline_memory(cfg, mem_bytes, mem_slots, run.err) ~= OK then
    base.raise(run.where, "rios.apply: " .. ffi.string(run.err.msg))
  end
  C.rios_ffi_physical_memory(phys)
  run.nslots = mem_slots[0]
  local need, have = mem_bytes[0], phys[0]
  if have > 0 and need <= have * MEMORY_SHARE then return end
  if have == 0 and need < 2 ^ 40 then return end
  local c = run.controls
  local function key(k)
    local origin = c.origin and c.origin[k]
    return string.format("%s = %.0f%s", k, c[k], origin and (" (from " .. origin .. ")") or "")
  end
  base.raise(run.where, string.format("rios.apply: controls %s, %s and %s need %s for the "
    .. "input buffers of %d block%s in flight (%d input%s, grid %s), more than %d%% of this "
    .. "machine's %s; use a smaller window or overlap", key("window_xsize"),
    key("window_ysize"), key("overlap"), gb(need), mem_slots[0],
    mem_slots[0] > 1 and "s" or "", #run.ins, #run.ins > 1 and "s" or "",
    run.grid.cols .. " x " .. run.grid.rows .. " pixels", MEMORY_SHARE * 100, gb(have)))
end

-- A pipeline for the run: run.grid, run.controls, run.ins (with read_name,
-- nbands, dtype, xshift, yshift), run.outs, run.concurrency.
-- opts: read_workers (else the run's), schedule (RIOS_SCHEDULE_*, else
-- every block in order).
function M.new(run, opts)
  opts = opts or {}
  local c, conc, ins = run.controls, run.concurrency, run.ins
  local cfg = ffi.new("rios_pipe_config")
  local cins = ffi.new("rios_pipe_input[?]", #ins)
  for i, rec in ipairs(ins) do
    local ci = cins[i - 1]
    ci.read_name, ci.label = rec.read_name or rec.path, rec.path
    ci.nbands, ci.dtype = rec.nbands, base.dtype_code[rec.dtype]
    ci.xshift, ci.yshift = rec.xshift, rec.yshift
  end
  cfg.grid_cols, cfg.grid_rows = run.grid.cols, run.grid.rows
  -- a window larger than the grid is the grid
  cfg.wx = math.min(c.window_xsize, run.grid.cols)
  cfg.wy = math.min(c.window_ysize, run.grid.rows)
  cfg.overlap = c.overlap
  cfg.ninputs, cfg.noutputs, cfg.inputs = #ins, #run.outs, cins
  cfg.read_workers = opts.read_workers or conc.read_workers
  cfg.compute_workers = conc.compute_workers
  cfg.schedule = opts.schedule or C.RIOS_SCHEDULE_ALL
  local t = conc.timeouts
  cfg.read_insert_timeout = t.read_buffer_insert_timeout
  cfg.read_pop_timeout = t.read_buffer_pop_timeout
  cfg.compute_insert_timeout = t.compute_buffer_insert_timeout
  cfg.compute_pop_timeout = t.compute_buffer_pop_timeout
  check_memory(run, cfg)
  local out = ffi.new("rios_pipeline *[1]")
  if C.rios_ffi_pipeline_new(cfg, out, run.err) ~= OK then
    base.raise(run.where, "rios.apply: " .. ffi.string(run.err.msg))
  end
  local p = ffi.gc(out[0], C.rios_ffi_pipeline_free)
  if C.rios_ffi_pipeline_start(p, run.err) ~= OK then
    C.rios_ffi_pipeline_free(ffi.gc(p, nil))
    base.raise(run.where, "rios.apply failed: " .. ffi.string(run.err.msg))
  end
  return p
end

-- Raise the run's first failure (a worker's error, a timeout, a read that
-- failed), once the workers have stopped (so every failure is counted).
function M.raise_failure(run)
  local stuck = run.workers and run.workers:join()
  local err = ffi.new("rios_err")
  if C.rios_ffi_pipeline_finish(run.pipeline, err) ~= OK then
    base.raise(run.where, "rios.apply failed: " .. ffi.string(err.msg)
               .. (stuck and ("; " .. stuck) or ""))
  end
  base.raise(run.where, "rios.apply failed: the block pipeline stopped without saying why")
end

-- Source: the read buffer, block after block, whoever asks. (Taking any
-- ready block instead could deadlock: with one compute thread that has
-- filled the compute buffer with later blocks, nobody is left to compute the
-- block the writer waits for.) on_stop: called when the run has failed.
local ReadSource = {}
ReadSource.__index = ReadSource

-- timer: what the waits count as ("pop_readbuffer"; nil: not timed, when
-- the caller reads itself and the readers' own timers count the reads).
function M.read_source(p, timers, timer, on_stop)
  return setmetatable({ p = p, timers = timers, timer = timer, on_stop = on_stop,
                        out = ffi.new("rios_block *[1]"), ended = ffi.new("int[1]"),
                        waited = ffi.new("double[1]"), err = ffi.new("rios_err") }, ReadSource)
end

function ReadSource:next()
  local rc = C.rios_ffi_pipeline_pop_read(self.p, -1, self.out, self.ended, self.waited,
                                          self.err)
  if self.timer then self.timers:add(self.timer, self.waited[0]) end
  if rc == OK then
    local b = self.out[0]
    if b == nil then return nil end
    return b
  end
  if self.on_stop then self.on_stop() end
  error(M.STOPPED, 0)
end

-- Sink: the compute buffer (a compute worker's outputs go to the writer).
local ComputeSink = {}
ComputeSink.__index = ComputeSink

function M.compute_sink(p, timers)
  return setmetatable({ p = p, timers = timers, waited = ffi.new("double[1]"),
                        err = ffi.new("rios_err") }, ComputeSink)
end

function ComputeSink:put(b, arrays)
  local p, err = self.p, self.err
  for j = 1, #arrays do
    local arr = arrays[j]
    -- The writer takes a block's outputs as contiguous memory: a window
    -- view is copied into this block's arena first.
    if not arr:is_contiguous() then arr = arr:copy() end
    if C.rios_ffi_pipeline_set_output(p, b, j - 1, arr.data, base.dtype_code[arr.dtype],
                                      arr.bands, arr.rows, arr.cols, err) ~= OK then
      error(ffi.string(err.msg), 0)
    end
  end
  local rc = C.rios_ffi_pipeline_push(p, b, 1, self.waited, err)
  self.timers:add("insert_computebuffer", self.waited[0])
  if rc ~= OK then error(M.STOPPED, 0) end
end

-- Sink: the writer, at once (the main thread computing).
local WriteSink = {}
WriteSink.__index = WriteSink

function M.write_sink(run, writer)
  return setmetatable({ run = run, writer = writer }, WriteSink)
end

function WriteSink:put(b, arrays)
  local run = self.run
  local t0 = now()
  self.writer:write(b, arrays)
  C.rios_ffi_pipeline_release(run.pipeline, b)
  run.timers:add("writing", now() - t0)
end

-- A computed block out of the compute buffer, to the writer: its outputs
-- as arrays over the slot's memory (views made once), then the slot freed.
-- Every kind of compute worker's blocks are written through this.
function M.computed_writer(run, writer)
  local views = {}
  for j = 1, #run.outs do views[j] = setmetatable({}, array.mt) end
  return function(b)
    local t0 = now()
    run.info:set_block(b)
    for j = 1, #run.outs do
      local o, v = b.outputs[j - 1], views[j]
      v.data, v.dtype, v.bands, v.rows, v.cols = o.data, base.dtypes[o.dtype + 1], o.bands,
                                                 o.rows, o.cols
    end
    writer:write(b, views)
    C.rios_ffi_pipeline_release(run.pipeline, b)
    run.timers:add("writing", now() - t0)
  end
end

-- The main thread when compute threads compute: each block's outputs, in
-- block order as they come out of the compute buffer, to the writer.
function M.drain(run, writer)
  local p, err = run.pipeline, run.err
  local out, ended, waited = ffi.new("rios_block *[1]"), ffi.new("int[1]"), ffi.new("double[1]")
  local write = M.computed_writer(run, writer)
  while true do
    local rc = C.rios_ffi_pipeline_pop_done(p, -1, out, ended, waited, err)
    run.timers:add("pop_computebuffer", waited[0])
    if rc ~= OK then M.raise_failure(run) end
    local b = out[0]
    if b == nil then return end
    write(b)
  end
end

-- The readers' timers (reading per file and block, waits to insert into the
-- read buffer) into timers.
local total = ffi.new("size_t[1]")
local function c_timers(p, timers)
  for which, name in pairs({ [0] = "reading", [1] = "insert_readbuffer" }) do
    C.rios_ffi_pipeline_timer(p, which, nil, 0, total)
    local n = tonumber(total[0])
    if n > 0 then
      local buf = ffi.new("double[?]", n)
      C.rios_ffi_pipeline_timer(p, which, buf, n, total)
      for i = 0, n - 1 do timers:add(name, buf[i]) end
    end
  end
end

-- After the last block: join the read workers, raise the run's failure if
-- there was one, gather the readers' timers.
function M.finish(run)
  if C.rios_ffi_pipeline_finish(run.pipeline, run.err) ~= OK then M.raise_failure(run) end
  run.pipeline_done = true
  c_timers(run.pipeline, run.timers)
end

-- Called however the run ended: stops the read workers, frees the
-- pipeline (kinds of workers that use it hold their own reference).
function M.release(run)
  local p = run.pipeline
  if p == nil then return end
  array.release_block_arrays()
  C.rios_ffi_pipeline_free(ffi.gc(p, nil))
  run.pipeline = nil
end

return M
