-- rios.pipeline: an apply run with read workers and/or compute threads
-- (runtime/pipeline.c holds the threads and the block buffers).
--
-- Every thread that computes runs M.worker_loop(ctx, source, sink): it takes
-- a block from a source, points the input arrays at the block's buffers,
-- calls the block function and gives the outputs to a sink. The main thread
-- (no compute workers) uses the read buffer as its source and writes as its
-- sink; a compute thread has the same source and the compute buffer as its
-- sink, which the main thread empties in block order. Blocks leave the read
-- buffer in block order. A remote
-- worker needs only another source and sink.
local base = require("rios.base")
local array = require("rios.array")
local outputs = require("rios.outputs")
local serialize = require("rios.serialize")
local ffi, C = base.ffi, base.C

local M = {}

-- Raised out of a loop when the pipeline was stopped by a failure that is
-- already recorded in C (the main thread then reports that one).
M.STOPPED = setmetatable({}, { __tostring = function() return "rios pipeline stopped" end })

local now = C.rios_ffi_now
local dtype_ptr = base.dtype_ptr

-- The block loop. ctx: fn, otherargs, info, ins (records with .array),
-- intable, timers; ctx.in_user_function is true while fn runs.
function M.worker_loop(ctx, source, sink)
  local fn, otherargs, info, ins, intable, timers = ctx.fn, ctx.otherargs, ctx.info, ctx.ins,
                                                     ctx.intable, ctx.timers
  local ov = info.ov
  local outtable = {}
  while true do
    local b = source:next()
    if b == nil then return end
    info:set_block(b.xblock, b.yblock)
    local cols, rows = info.cols + 2 * ov, info.rows + 2 * ov
    for i = 1, #ins do
      local a = ins[i].array
      a.cols, a.rows = cols, rows
      a.data = ffi.cast(dtype_ptr[a.dtype], b.inputs[i - 1])
    end
    for k in pairs(outtable) do outtable[k] = nil end
    array.set_block_arena(b.arena, b.xblock, b.yblock)
    ctx.in_user_function = true
    local t0 = now()
    fn(info, intable, outtable, otherargs)
    timers:add("userfunction", now() - t0)
    ctx.in_user_function = false
    sink:put(b, outtable)
    array.release_block_arrays()
  end
end

-- Source: the read buffer, block after block, whoever asks. (Taking any
-- ready block instead could deadlock: with one compute thread that has
-- filled the compute buffer with later blocks, nobody is left to compute the
-- block the writer waits for.) on_stop: called when the run has failed.
local ReadSource = {}
ReadSource.__index = ReadSource

function M.read_source(p, timers, on_stop)
  return setmetatable({ p = p, timers = timers, on_stop = on_stop,
                        out = ffi.new("rios_block *[1]"), waited = ffi.new("double[1]"),
                        err = ffi.new("rios_err") }, ReadSource)
end

function ReadSource:next()
  local rc = C.rios_ffi_pipeline_pop_read(self.p, self.out, self.waited, self.err)
  self.timers:add("pop_readbuffer", self.waited[0])
  if rc == 0 then return self.out[0] end
  if rc == 1 then return nil end
  if self.on_stop then self.on_stop() end
  error(M.STOPPED, 0)
end

-- Sink: the compute buffer (a compute thread's outputs go to the writer).
local ComputeSink = {}
ComputeSink.__index = ComputeSink

function M.compute_sink(p, outs, info, where, timers)
  return setmetatable({ p = p, outs = outs, info = info, where = where, timers = timers,
                        waited = ffi.new("double[1]"), err = ffi.new("rios_err") }, ComputeSink)
end

function ComputeSink:put(b, outtable)
  local p, err = self.p, self.err
  for j, rec in ipairs(self.outs) do
    local arr = outputs.array_for(rec, outtable, self.info, self.where)
    -- The writer takes a block's outputs as contiguous memory: a window
    -- view is copied into this block's arena first.
    if not arr:is_contiguous() then arr = arr:copy() end
    if C.rios_ffi_pipeline_set_output(p, b, j - 1, arr.data, base.dtype_code[arr.dtype], arr.bands,
                                    arr.rows, arr.cols, err) ~= 0 then
      error(ffi.string(err.msg), 0)
    end
  end
  local rc = C.rios_ffi_pipeline_push(p, b, self.waited, err)
  self.timers:add("insert_computebuffer", self.waited[0])
  if rc ~= 0 then error(M.STOPPED, 0) end
end

-- Sink: write at once (the main thread computing, with read workers).
local WriteSink = {}
WriteSink.__index = WriteSink

function M.write_sink(run)
  return setmetatable({ run = run }, WriteSink)
end

function WriteSink:put(b, outtable)
  local run = self.run
  local t0 = now()
  for _, rec in ipairs(run.outs) do
    local arr = outputs.array_for(rec, outtable, run.info, run.where)
    if rec.handle == nil then outputs.create(rec, arr, run.grid, run.where, run.controls) end
    local ok, msg = outputs.write(rec, arr, run.info, run.err)
    if not ok then
      base.raise(run.where, msg .. " in block " .. outputs.block_label(run.info))
    end
  end
  C.rios_ffi_pipeline_release(run.pipeline, b)
  run.timers:add("writing", now() - t0)
  if run.progress then run.progress:step() end
end

-- Report the pipeline's first failure, once every thread has stopped.
local function raise_failure(run)
  C.rios_ffi_pipeline_finish(run.pipeline)
  local err = ffi.new("rios_err")
  if C.rios_ffi_pipeline_failed(run.pipeline, err) ~= 0 then
    base.raise(run.where, "rios.apply failed: " .. ffi.string(err.msg))
  end
  base.raise(run.where, "rios.apply failed: the block pipeline stopped without saying why")
end

-- The writer when compute threads compute: block after block, as they come
-- out of the compute buffer.
local function write_computed(run)
  local p, info, where, err = run.pipeline, run.info, run.where, run.err
  local out, waited = ffi.new("rios_block *[1]"), ffi.new("double[1]")
  local views = {}
  for j = 1, #run.outs do views[j] = setmetatable({}, array.mt) end
  while true do
    local rc = C.rios_ffi_pipeline_pop_done(p, out, waited, err)
    run.timers:add("pop_computebuffer", waited[0])
    if rc == 1 then return end
    if rc ~= 0 then raise_failure(run) end
    local t0 = now()
    local b = out[0]
    info:set_block(b.xblock, b.yblock)
    for j, rec in ipairs(run.outs) do
      local o, v = b.outputs[j - 1], views[j]
      v.data, v.dtype, v.bands, v.rows, v.cols = o.data, base.dtypes[o.dtype + 1], o.bands,
                                                 o.rows, o.cols
      if rec.dtype and (v.dtype ~= rec.dtype or v.bands ~= rec.bands) then
        base.raise(where, string.format("output '%s' is %s with %d bands but the file was "
                   .. "created as %s with %d bands in block %s", rec.name, v.dtype, v.bands,
                   rec.dtype, rec.bands, outputs.block_label(info)))
      end
      if rec.handle == nil then
        outputs.create(rec, v, run.grid, where, run.controls)
        -- this thread mostly waits for compute threads: compress as rows finish
        C.rios_ffi_output_flush_rows(rec.handle, 1)
      end
      local ok, msg = outputs.write(rec, v, info, err)
      if not ok then base.raise(where, msg .. " in block " .. outputs.block_label(info)) end
    end
    C.rios_ffi_pipeline_release(p, b)
    run.timers:add("writing", now() - t0)
    if run.progress then run.progress:step() end
  end
end

-- What a compute worker's Lua state starts from (see rios.worker).
local function worker_job(run, ordinal, otherargs_text)
  local script = debug.getregistry()[base.registry.SCRIPT]
  if type(script) ~= "table" or not script.source then
    base.raise(run.where, "rios.apply: compute threads run the script again in each thread, "
               .. "so it must be a script file or standard input, not -e code or the prompt")
  end
  local c = run.controls
  local ins, outs = {}, {}
  for i, rec in ipairs(run.ins) do
    ins[i] = { name = rec.name, index = rec.index, count = rec.count, path = rec.path,
               dtype = rec.dtype, nbands = rec.nbands, nodata = rec.nodata }
  end
  for j, rec in ipairs(run.outs) do
    outs[j] = { name = rec.name, index = rec.index, count = rec.count, path = rec.path }
  end
  return serialize.dump({
    ordinal = ordinal,
    script = { argv = script.argv, base = script.base, chunks = script.chunks,
               source = script.source, chunkname = script.chunkname },
    otherargs = otherargs_text,
    history = require("rios.apply").history,
    run = { grid = run.grid, window_xsize = c.window_xsize, window_ysize = c.window_ysize,
            overlap = c.overlap, ins = ins, outs = outs },
  }, "job")
end

-- The C timers (reading per file and block, waits to insert into the read
-- buffer) into timers.
local function c_timers(p, timers)
  for which, name in pairs({ [0] = "reading", [1] = "insert_readbuffer" }) do
    local n = tonumber(C.rios_ffi_pipeline_timer(p, which, nil, 0))
    if n > 0 then
      local buf = ffi.new("double[?]", n)
      C.rios_ffi_pipeline_timer(p, which, buf, n)
      for i = 0, n - 1 do timers:add(name, buf[i]) end
    end
  end
end

-- Run the apply with run.concurrency. Returns the list of otherargs copies
-- (one per compute worker; nil when the main thread computed).
function M.run(run, fn, otherargs, ordinal, otherargs_text)
  local c, conc = run.controls, run.concurrency
  local ins = run.ins
  local cfg = ffi.new("rios_pipe_config")
  local cins = ffi.new("rios_pipe_input[?]", #ins)
  for i, rec in ipairs(ins) do
    local ci = cins[i - 1]
    ci.read_name, ci.label = rec.read_name or rec.path, rec.path
    ci.nbands, ci.dtype = rec.nbands, base.dtype_code[rec.dtype]
    ci.xshift, ci.yshift = rec.xshift, rec.yshift
  end
  cfg.grid_cols, cfg.grid_rows = run.grid.cols, run.grid.rows
  cfg.wx, cfg.wy, cfg.overlap = c.window_xsize, c.window_ysize, c.overlap
  cfg.ninputs, cfg.noutputs, cfg.inputs = #ins, #run.outs, cins
  cfg.read_workers, cfg.compute_workers = conc.read_workers, conc.compute_workers
  local t = conc.timeouts
  cfg.read_insert_timeout = t.read_buffer_insert_timeout
  cfg.read_pop_timeout = t.read_buffer_pop_timeout
  cfg.compute_insert_timeout = t.compute_buffer_insert_timeout
  cfg.compute_pop_timeout = t.compute_buffer_pop_timeout
  local p = C.rios_ffi_pipeline_new(cfg, run.err)
  if p == nil then error(ffi.string(run.err.msg), 0) end
  run.pipeline = ffi.gc(p, C.rios_ffi_pipeline_free)

  local nworkers = conc.compute_workers
  local job = nworkers > 0 and worker_job(run, ordinal, otherargs_text) or ""
  local t0 = now()
  if C.rios_ffi_pipeline_start(p, job, #job, run.err) ~= 0 then raise_failure(run) end
  if nworkers > 0 then run.timers:add("startcomputeworkers", now() - t0) end

  -- An error here (the main thread's own, or a worker's reported by the
  -- buffers) goes up to apply; M.release then stops and joins the threads.
  if nworkers == 0 then
    run.fn, run.otherargs = fn, otherargs
    M.worker_loop(run, M.read_source(p, run.timers, function() raise_failure(run) end),
                  M.write_sink(run))
  else
    write_computed(run)
  end
  if C.rios_ffi_pipeline_finish(p) ~= 0 then raise_failure(run) end
  run.pipeline_done = true
  c_timers(p, run.timers)

  if nworkers == 0 then return nil end
  local list = {}
  local len = ffi.new("size_t[1]")
  for w = 1, nworkers do
    local s = C.rios_ffi_pipeline_result(p, w, len)
    if s == nil then
      base.raise(run.where, "rios.apply failed: compute worker " .. w .. " ended without "
                 .. "returning its otherargs")
    end
    local res = serialize.load(ffi.string(s, len[0]))
    list[w] = serialize.load(res.otherargs)
    for name, d in pairs(serialize.load(res.timers)) do
      for i = 1, #d do run.timers:add(name, d[i]) end
    end
  end
  return list
end

-- Called however the run ended: stops and joins every thread, frees the
-- pipeline.
function M.release(run)
  local p = run.pipeline
  if p == nil then return end
  if not run.pipeline_done then C.rios_ffi_pipeline_fail(p, "the run was stopped") end
  array.release_block_arrays()
  C.rios_ffi_pipeline_free(ffi.gc(p, nil))
  run.pipeline = nil
end

return M
