-- workers.threads: compute workers of kind "threads" (workers/threads.c):
-- threads of this process, each with its own Lua state, fed by the run's
-- read buffer and writing into its compute buffer.
--
-- A kind of worker is two halves:
--   the main side:   M.start(run, job) -> manager; manager:finish() -> the
--                    workers' results (codec bytes, one per worker, in
--                    worker order); manager:join() waits for them to end
--                    after a failure; manager:release() however the run ended
--   the worker side: M.worker_io(w) -> { source, sink, send_result(bytes),
--                    fail(msg) }, for rios.worker, which runs the block loop
--                    (rios.loop) with that source and sink.
local base = require("rios.base")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

local Manager = {}
Manager.__index = Manager

-- Start run.concurrency.compute_workers threads on run.pipeline; each boots
-- from job (codec bytes, see rios.worker).
function M.start(run, job)
  local n = run.concurrency.compute_workers
  local out = ffi.new("rios_threads *[1]")
  local rc = C.rios_ffi_threads_start(run.pipeline, n, job, #job, out, run.err)
  local t = out[0]
  local self = setmetatable({ run = run, n = n,
                              t = t ~= nil and ffi.gc(t, C.rios_ffi_threads_free) or nil },
                            Manager)
  if rc ~= OK then
    self:release()
    base.raise(run.where, "rios.apply failed: " .. ffi.string(run.err.msg))
  end
  return self
end

-- After a failure: wait until every thread has ended (they stop at their
-- next wait on the pipeline), but not for one that does not answer (a
-- block function in an endless compiled loop): then the message that says
-- so, else nil.
local STOP_WAIT = 2   -- seconds
function Manager:join()
  if C.rios_ffi_threads_join(self.t, STOP_WAIT, self.run.err) ~= OK then
    return ffi.string(self.run.err.msg) .. "; rios-lua does not wait for it"
  end
end

-- Join the threads (the writer has written every block) and take each
-- worker's result.
function Manager:finish()
  local run, t = self.run, self.t
  C.rios_ffi_threads_join(t, -1, run.err)
  local s, len = ffi.new("const char *[1]"), ffi.new("size_t[1]")
  local results = {}
  for w = 1, self.n do
    if C.rios_ffi_threads_result(t, w, s, len, run.err) ~= OK or s[0] == nil then
      base.raise(run.where, "rios.apply failed: compute worker " .. w .. " ended without "
                 .. "returning its otherargs")
    end
    results[w] = ffi.string(s[0], len[0])
  end
  return results
end

-- Stop (when the run failed) and join the threads, then free them.
function Manager:release()
  if self.t ~= nil then
    C.rios_ffi_threads_free(ffi.gc(self.t, nil))
    self.t = nil
  end
end

-- The worker side: w is the registry entry workers/threads.c made
-- (pipeline, threads, id).
function M.worker_io(w, timers)
  local pipeline = require("rios.pipeline")
  local p = ffi.cast("rios_pipeline *", w.pipeline)
  local t = ffi.cast("rios_threads *", w.threads)
  local err = ffi.new("rios_err")
  return {
    source = pipeline.read_source(p, timers, "pop_readbuffer"),
    sink = pipeline.compute_sink(p, timers),
    send_result = function(bytes)
      if C.rios_ffi_threads_set_result(t, w.id, bytes, #bytes, err) ~= OK then
        C.rios_ffi_pipeline_fail(p, "compute worker " .. w.id .. ": " .. ffi.string(err.msg))
      end
    end,
    fail = function(msg)
      C.rios_ffi_pipeline_fail(p, "compute worker " .. w.id .. ": " .. msg)
    end,
  }
end

return M
