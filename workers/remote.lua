-- workers.remote: compute workers in other processes (rios-luaworker, on
-- this machine or on a cluster's nodes), connected to the main process
-- over the data channel (workers/channel.c). The kinds that start the
-- processes ("subproc": workers/subproc.lua; "slurm", "pbs") hand this
-- module a launcher; everything else is here, once:
--
--   the main side    M.start(run, job, launcher) -> manager; manager:drain(writer)
--                    sends blocks, receives outputs and writes them in block
--                    order; manager:finish() -> each worker's result;
--                    manager:release() however the run ended
--   the worker side  M.serve() (rios-luaworker's main) and M.worker_io(w, timers)
--                    (the block loop's source and sink over the channel)
--
-- The job protocol. Every payload but STOP's is a little-endian u32 header
-- length, that many bytes of rios.codec header, then raw arrays (the
-- header says each one's dtype, bands, rows, cols), each starting on a
-- 64-byte boundary:
--   JOB     main -> worker: { job = rios.worker's job bytes, remote = how
--           this worker gets its blocks (see job_remote) }
--   BLOCK   main -> worker, frame block = the block: { place = its window,
--           discard = true when only otherargs needs it computed again },
--           then the input arrays when the main process reads (none when
--           the worker reads its own input)
--   OUTPUT  worker -> main: { arrays = shapes }, then the output arrays
--   ERROR   worker -> main: { message = one line, or a traceback }
--   RESULT  worker -> main, after STOP: rios.worker's result bytes
--   STOP    main -> worker: no more blocks
--   JOB     worker -> main, optional, its first frame: { label = the name
--           its launcher gave it (a batch job's: rios-luaworker --label) }
-- A worker computes its blocks in the order they come; the main process
-- keeps at most DEPTH blocks in flight per worker, so a lost worker's
-- blocks are few and known, and gives them (and, when otherargs matter,
-- the ones it had computed) to the others.
local base = require("rios.base")
local codec = require("rios.codec")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

local now = C.rios_ffi_now
local DEPTH = 2          -- blocks in flight per worker: one computing, one waiting
local ALIGN = 64
local zeros = ffi.new("uint8_t[?]", ALIGN)

local function align(n)
  return math.ceil(n / ALIGN) * ALIGN
end

---------------------------------------------------------------------------
-- Payloads

-- The parts of a payload (rios_part[]) for header (a table) and arrays
-- (contiguous rios arrays, sent from their own memory), and a table that
-- keeps what they point at alive until the send.
local function payload(header, arrays)
  arrays = arrays or {}
  local shapes = {}
  for j, a in ipairs(arrays) do shapes[j] = { a.dtype, a.bands, a.rows, a.cols } end
  header.arrays = shapes
  local hbytes = codec.encode(header, "a frame header")
  local len = ffi.new("uint32_t[1]", #hbytes)
  local parts = ffi.new("rios_part[?]", 3 + 2 * #arrays)
  local n, size = 0, 0
  local function add(p, l)
    parts[n].data, parts[n].len = p, l
    n, size = n + 1, size + l
  end
  add(len, 4)
  add(hbytes, #hbytes)
  for _, a in ipairs(arrays) do
    local pad = align(size) - size
    if pad > 0 then add(zeros, pad) end
    add(a.data, a.bands * a.rows * a.cols * base.dtype_size[a.dtype])
  end
  return parts, n, { len, hbytes, arrays }
end
M.payload = payload

-- The header and arrays ({ data =, dtype =, bands =, rows =, cols = },
-- pointing into the frame) of a received frame, every size checked against
-- the frame's length. what names the frame in errors.
local function unpack_payload(frame, what)
  local len, data = tonumber(frame.len), frame.data
  if len < 4 then error(what .. " is too short", 0) end
  local hlen = ffi.cast("const uint32_t *", data)[0]
  if 4 + hlen > len then error(what .. "'s header runs past its end", 0) end
  local header = codec.decode(ffi.string(data + 4, hlen), what)
  if type(header) ~= "table" or type(header.arrays) ~= "table" then
    error(what .. " has no array list", 0)
  end
  local arrays, at = {}, 4 + hlen
  for j, shape in ipairs(header.arrays) do
    local dtype, bands, rows, cols = shape[1], shape[2], shape[3], shape[4]
    local size = base.dtype_size[dtype]
    for _, v in ipairs({ bands, rows, cols }) do
      if type(v) ~= "number" or v < 1 or v ~= math.floor(v) or v >= 2 ^ 31 then size = nil end
    end
    if not size then error(what .. ": array " .. j .. " has a bad shape", 0) end
    at = align(at)
    local nbytes = bands * rows * cols * size
    if at + nbytes > len then error(what .. ": array " .. j .. " runs past its end", 0) end
    arrays[j] = { data = data + at, dtype = dtype, bands = bands, rows = rows, cols = cols }
    at = at + nbytes
  end
  if at ~= len then error(what .. " has " .. (len - at) .. " bytes after its arrays", 0) end
  return header, arrays
end
M.unpack_payload = unpack_payload

---------------------------------------------------------------------------
-- The main side

local Manager = {}
Manager.__index = Manager

pcall(ffi.cdef, "char *getcwd(char *buf, size_t size); int chdir(const char *path); "
                .. "int setenv(const char *name, const char *value, int overwrite); "
                .. "int unsetenv(const char *name);")

local framep = ffi.new("rios_frame *[1]")
local peer = ffi.new("rios_chan_peer")

-- What a worker needs, besides rios.worker's job, to get its blocks: the
-- working directory and the environment variables that steer GDAL and
-- rios, and, when it reads its own input, the inputs as the main process's
-- readers open them and the pipeline's settings.
local function job_remote(run, reads)
  local ffi_cwd = ffi.new("char[4096]")
  local cwd = C.getcwd(ffi_cwd, 4096) ~= nil and ffi.string(ffi_cwd) or nil
  local r = { cwd = cwd, env = M.environment(), reads = reads }
  if reads then
    local c, conc = run.controls, run.concurrency
    local ins = {}
    for i, rec in ipairs(run.ins) do
      ins[i] = { read_name = rec.read_name or rec.path, label = rec.path, nbands = rec.nbands,
                 dtype = rec.dtype, xshift = rec.xshift, yshift = rec.yshift }
    end
    r.pipeline = { grid_cols = run.grid.cols, grid_rows = run.grid.rows,
                   wx = math.min(c.window_xsize, run.grid.cols),
                   wy = math.min(c.window_ysize, run.grid.rows), overlap = c.overlap,
                   ins = ins, noutputs = #run.outs, read_workers = conc.read_workers,
                   timeouts = conc.timeouts }
  end
  return r
end


-- The variables of this process's environment that change what GDAL or
-- rios do (a batch job's environment may not have them).
function M.environment()
  local env = {}
  local p = io.open("/proc/self/environ", "rb")
  if not p then return env end
  local all = p:read("*a")
  p:close()
  for item in all:gmatch("([^%z]+)") do
    local name, value = item:match("^([%w_]+)=(.*)$")
    if name and (name:match("^RIOS_DFLT_") or name:match("^GDAL_") or name:match("^CPL_")
                 or name:match("^PROJ_") or name:match("^OGR_") or name:match("^VSI_")) then
      env[name] = value
    end
  end
  return env
end

-- launcher: how the kind starts its workers (see workers/subproc.lua):
--   launcher.bind        the address to listen on
--   launcher:start(mgr, address_file, n)   start n workers
--   launcher:poll(mgr)   nil, or a failure (one line) of a worker that
--                        will never connect (called every POLL seconds)
--   launcher:describe(mgr, pid, rec)  more words about a worker ("job 12,
--                        log ..."; rec: mgr.workers[w], with .label once
--                        the worker said it)
--   launcher:stop(mgr, failed)   end every worker still running
-- and, for the batch kinds (workers/cluster.lua), optionally:
--   launcher.advertise   the address workers are told (default: the numeric
--                        address the hub listens on)
--   launcher.blocks_per_worker   a worker is given at most this many blocks,
--                        then STOP (single_block_workers: 1)
--   launcher.queued_workers  workers may wait in a batch queue: while no
--                        worker holds a block, the wait is for workers to
--                        start, bounded by barrier_timeout, not by
--                        compute_buffer_pop_timeout
--   launcher:labelled(mgr, rec)  a worker said its label
--   launcher:replace(mgr, rec)   a worker was lost within the retry budget:
--                        start another (then losing every worker does not
--                        fail the run)
--   launcher:starting(mgr) how many workers were started and have not
--                        connected yet, nor ended (optional)
--   launcher:waiting(mgr)  why no worker has connected yet (for the
--                        barrier_timeout message)
function M.start(run, job, launcher)
  local conc = run.concurrency
  local extra = conc.extra or {}
  local self = setmetatable({ run = run, launcher = launcher, n = conc.compute_workers,
                              reads = not conc.compute_workers_read, workers = {},
                              order = {}, queue = {}, popped = 0, next_new = 0,
                              holding = 0, discards = 0, lost = {}, failures = 0,
                              budget = conc.max_worker_failures or 2,
                              err = ffi.new("rios_err") }, Manager)
  self.uses_otherargs = run.uses_otherargs
  self.job = codec.encode({ job = job, remote = job_remote(run, not self.reads) }, "job")
  local key = ffi.new("rios_chan_key")
  if C.rios_ffi_chan_key_new(key, self.err) ~= OK then self:raise(self:errmsg()) end
  local cfg = ffi.new("rios_hub_config")
  C.rios_ffi_hub_config_defaults(cfg)
  cfg.bind = launcher.bind or "127.0.0.1"
  self.bind = cfg.bind
  if extra.heartbeat then cfg.heartbeat = extra.heartbeat end
  if extra.lost_after then cfg.lost_after = extra.lost_after end
  local out = ffi.new("rios_hub *[1]")
  if C.rios_ffi_hub_new(cfg, key, out, self.err) ~= OK then
    self:raise("cannot listen for compute workers: " .. self:errmsg())
  end
  self.hub = ffi.gc(out[0], C.rios_ffi_hub_close)
  self.address_file = run:tempname("channel", ".chnl")
  if self.address_file:sub(1, 1) ~= "/" then
    -- workers may start elsewhere (a batch job's folder): name it in full
    local buf = ffi.new("char[4096]")
    if C.getcwd(buf, 4096) ~= nil then
      self.address_file = ffi.string(buf) .. "/" .. self.address_file:gsub("^%./", "")
    end
  end
  self.host, self.port = ffi.string(C.rios_ffi_hub_host(self.hub)), C.rios_ffi_hub_port(self.hub)
  if C.rios_ffi_chan_address_write(self.address_file, launcher.advertise or self.host,
                                   self.port, key, self.err) ~= OK then
    self:raise(self:errmsg())
  end
  self.key_hex = ffi.new("char[65]")
  C.rios_ffi_chan_key_hex(key, self.key_hex)
  self.started = now()
  -- what the script printed so far reaches the terminal (or file) before
  -- anything the workers print
  io.stdout:flush()
  io.stderr:flush()
  launcher:start(self, self.address_file, self.n)
  return self
end

function Manager:errmsg()
  return ffi.string(self.err.msg)
end

function Manager:raise(msg)
  base.raise(self.run.where, "rios.apply failed: " .. msg)
end

-- "compute worker 2 (pid 123 on node7)" and what the launcher adds.
function Manager:name(w)
  local rec = self.workers[w]
  if not rec then return "compute worker " .. w end
  local more = self.launcher.describe and self.launcher:describe(self, rec.pid, rec)
  return string.format("compute worker %d (pid %d on %s%s)", w, rec.pid, rec.host,
                       more and (", " .. more) or "")
end

-- Stop the run: every worker is told to stop (the launcher ends them) and
-- the failure is raised.
function Manager:fail(msg)
  self.failed = true
  base.C.rios_ffi_pipeline_fail(self.run.pipeline, msg)
  self:raise(msg)
end

function Manager:send(w, ftype, block, parts, n)
  if C.rios_ffi_hub_send(self.hub, w, ftype, block, parts, n or 0, self.err) ~= OK then
    return nil, self:errmsg()
  end
  return true
end

function Manager:joined(w)
  local host, pid = "?", -1
  if C.rios_ffi_hub_peer(self.hub, w, peer, self.err) == OK then
    host, pid = ffi.string(peer.hello.host), peer.hello.pid
  end
  local rec = { id = w, host = host, pid = pid, inflight = {}, computed = {}, given = 0 }
  self.workers[w] = rec
  self.order[#self.order + 1] = w
  local parts, n, keep = payload({ job = self.job })
  local sent = self:send(w, C.RIOS_FRAME_JOB, -1, parts, n)
  local _ = keep
  if not sent then return end
  rec.live = true
  -- A worker that joins once every block is written (a batch job that
  -- started late) is told to stop at once, so finish has its result.
  if self.stopping then
    rec.stopped = true
    self:send(w, C.RIOS_FRAME_STOP, -1, nil, 0)
  end
end

-- Give the blocks worker w was working on to the others: those in flight
-- again, and (when the run keeps state in otherargs, which went with the
-- worker) those it had computed, to be computed again for otherargs only.
function Manager:lost_worker(w, why)
  local rec = self.workers[w]
  if not rec or not rec.live then return end
  -- A worker whose block function ran past an array's end left the line
  -- that names the block (runtime/guard.c): the same block would kill the
  -- next worker too, so the run fails with it.
  local fault = io.open(self.address_file .. ".fault-" .. w)
  if fault then
    local line = fault:read("*l")
    fault:close()
    if line and line ~= "" then
      rec.live = false
      self:fail(self:name(w) .. ": " .. line)
    end
  end
  rec.live = false
  if (self.stopping or rec.stopped) and rec.result then return end   -- ended as it should
  if self.stopping and self.uses_otherargs then
    -- every block is written and the others are stopping too: nobody is
    -- left to compute its blocks again for otherargs
    self:fail(self:name(w) .. " was lost after the last block, before it returned its "
              .. "otherargs: " .. why)
  end
  self.failures = self.failures + 1
  local more = self.launcher.describe and self.launcher:describe(self, rec.pid, rec)
  self.lost[#self.lost + 1] = why .. (more and (" (" .. more .. ")") or "")
  self:fail_over_budget()
  for i = #rec.inflight, 1, -1 do table.insert(self.queue, 1, rec.inflight[i]) end
  rec.inflight = {}
  if self.uses_otherargs then
    for _, index in ipairs(rec.computed) do
      self.discards = self.discards + 1
      if self.reads then
        if C.rios_ffi_pipeline_schedule(self.run.pipeline, index, self.err) ~= OK then
          self:fail(self:errmsg())
        end
      else
        self.queue[#self.queue + 1] = { index = index, discard = true }
      end
    end
    rec.computed = {}
  end
  if self.launcher.replace then
    self:warn_lost()
    self.launcher:replace(self, rec)
    return
  end
  self:fail_none_left()
  self:warn_lost()
end

-- A worker that ended before it connected (launcher:poll's second value):
-- lost as one that ended just after connecting would be, within the same
-- budget; with no worker left or starting the run fails naming them all.
function Manager:lost_unconnected(why)
  self.failures = self.failures + 1
  self.lost[#self.lost + 1] = why
  -- others that ended meanwhile are named with it
  for _ = 1, 1000 do
    local more, a_loss = self.launcher:poll(self)
    if not more then break end
    if not a_loss then self:fail(more .. "; and before that " .. table.concat(self.lost, "; ")) end
    self.failures = self.failures + 1
    self.lost[#self.lost + 1] = more
  end
  self:fail_over_budget()
  self:fail_none_left()
  self:warn_lost()
end

-- More losses than controls.concurrency.max_worker_failures allows: the
-- run fails naming them.
function Manager:fail_over_budget()
  if self.failures > self.budget then
    self:fail("more compute workers were lost than controls.concurrency.max_worker_failures = "
              .. self.budget .. " allows: " .. table.concat(self.lost, "; "))
  end
end

-- No worker live, and none starting (a worker still starting may yet
-- connect; if it ends first, the launcher's poll says so): the run fails.
function Manager:fail_none_left()
  local live = 0
  for _, v in pairs(self.workers) do if v.live then live = live + 1 end end
  local starting = self.launcher.starting and self.launcher:starting(self) or 0
  if live == 0 and starting == 0 then
    self:fail("every compute worker was lost: " .. table.concat(self.lost, "; "))
  end
end

-- The run goes on without worker w: say so, once, on standard error (a
-- lost worker is not invisible: the run took longer, and the budget of
-- losses is smaller now).
function Manager:warn_lost()   -- (self.lost's last entry names the worker)
  io.stderr:write(string.format("rios-lua: %s; its blocks go to the other workers "
                                .. "(%d of %d lost workers allowed by "
                                .. "controls.concurrency.max_worker_failures)\n",
                                self.lost[#self.lost], self.failures, self.budget))
end

-- A worker said its label (the JOB frame a worker sends).
function Manager:labelled(w, frame)
  local rec = self.workers[w]
  local ok, header = pcall(unpack_payload, frame, self:name(w) .. "'s label")
  if not ok or type(header.label) ~= "string" or #header.label > 64 or rec.label then
    self:fail(self:name(w) .. " sent a bad label frame")
  end
  rec.label = header.label
  if self.launcher.labelled then self.launcher:labelled(self, rec) end
end

-- A computed block came back from worker w.
function Manager:output(w, frame)
  local rec = self.workers[w]
  local index = tonumber(frame.block)
  local item, at
  for i, it in ipairs(rec and rec.inflight or {}) do
    if it.index == index then item, at = it, i break end
  end
  if not item then
    self:fail(self:name(w) .. " sent block " .. index .. ", which it was not given")
  end
  table.remove(rec.inflight, at)
  rec.computed[#rec.computed + 1] = index
  local limit = self.launcher.blocks_per_worker
  if limit and rec.given >= limit and #rec.inflight == 0 and not rec.stopped then
    rec.stopped = true   -- done: its RESULT follows, then it ends
    self:send(w, C.RIOS_FRAME_STOP, -1, nil, 0)
  end
  local p, err = self.run.pipeline, self.err
  if item.discard then
    if item.b then C.rios_ffi_pipeline_release(p, item.b) end
    self.discards = self.discards - 1
    return
  end
  local ok, header, arrays = pcall(unpack_payload, frame, self:name(w) .. "'s output")
  if not ok then self:fail(header) end
  local _ = header
  if #arrays ~= #self.run.outs then
    self:fail(self:name(w) .. " sent " .. #arrays .. " outputs for block " .. index .. ", not "
              .. #self.run.outs)
  end
  local b = item.b
  if not b then
    local bp = ffi.new("rios_block *[1]")
    if C.rios_ffi_pipeline_claim(p, index, bp, err) ~= OK or bp[0] == nil then
      self:fail("no free slot for block " .. index .. " (" .. self:errmsg() .. ")")
    end
    b = bp[0]
    self.holding = self.holding + 1
  end
  for j, a in ipairs(arrays) do
    if C.rios_ffi_pipeline_set_output(p, b, j - 1, a.data, base.dtype_code[a.dtype], a.bands,
                                      a.rows, a.cols, err) ~= OK then
      self:fail(self:errmsg())
    end
  end
  local waited = ffi.new("double[1]")
  if C.rios_ffi_pipeline_push(p, b, 0, waited, err) ~= OK then
    require("rios.pipeline").raise_failure(self.run)
  end
end

function Manager:handle(frame)
  local t, w = frame.type, frame.worker
  if t == C.RIOS_FRAME_JOINED then
    self:joined(w)
  elseif t == C.RIOS_FRAME_OUTPUT then
    self:output(w, frame)
  elseif t == C.RIOS_FRAME_JOB and self.workers[w] then
    self:labelled(w, frame)
  elseif t == C.RIOS_FRAME_ERROR then
    local ok, header = pcall(unpack_payload, frame, self:name(w) .. "'s error")
    local msg = ok and type(header.message) == "string" and header.message
                or "an error it could not describe"
    self:fail(self:name(w) .. ": " .. msg)
  elseif t == C.RIOS_FRAME_LOST then
    self:lost_worker(w, ffi.string(frame.data, frame.len))
  elseif t == C.RIOS_FRAME_RESULT then
    local rec = self.workers[w]
    if rec then rec.result = ffi.string(frame.data, frame.len) end
  else
    self:fail(self:name(w) .. " sent a frame of type " .. t .. " the main process does not take")
  end
end

-- Wait up to timeout seconds for frames and handle each that came.
function Manager:events(timeout)
  local hub = self.hub
  while true do
    if C.rios_ffi_hub_next(hub, timeout, framep, self.err) ~= OK then self:fail(self:errmsg()) end
    local f = framep[0]
    if f == nil then return end
    local ok, e = pcall(self.handle, self, f)
    C.rios_ffi_frame_free(f)
    if not ok then error(e, 0) end
    timeout = 0
  end
end

-- Send one block (item: { index =, b = the read slot, discard = }) to w.
function Manager:send_block(rec, item)
  local parts, n, keep
  local header = { discard = item.discard or nil }
  if self.reads then
    local b, ins = item.b, self.run.ins
    local ov = self.run.info.ov
    local rows, cols = b.rows + 2 * ov, b.cols + 2 * ov
    local arrays = {}
    for i, rec_in in ipairs(ins) do
      arrays[i] = { data = b.inputs[i - 1], dtype = rec_in.dtype, bands = rec_in.nbands,
                    rows = rows, cols = cols }
    end
    header.place = { b.xblock, b.yblock, b.xoff, b.yoff, b.cols, b.rows }
    parts, n, keep = payload(header, arrays)
  else
    parts, n, keep = payload(header)
  end
  local ok = self:send(rec.id, C.RIOS_FRAME_BLOCK, item.index, parts, n)
  local _ = keep
  if ok then
    rec.inflight[#rec.inflight + 1] = item
    rec.given = rec.given + 1
  else
    table.insert(self.queue, 1, item)   -- the LOST event follows
  end
  return ok
end

-- Keep every live worker busy: blocks given back by lost workers first,
-- then the next ones (read by the main process, or only numbered when
-- workers read their own input).
local readp, endedp, waitedp = ffi.new("rios_block *[1]"), ffi.new("int[1]"), ffi.new("double[1]")
function Manager:dispatch()
  local run, p = self.run, self.run.pipeline
  local nblocks = run.info.nx * run.info.ny
  local limit = self.launcher.blocks_per_worker or math.huge
  for _, w in ipairs(self.order) do
    local rec = self.workers[w]
    while rec.live and #rec.inflight < DEPTH and rec.given < limit do
      local item = table.remove(self.queue, 1)
      if not item then
        if self.reads then
          if C.rios_ffi_pipeline_pop_read(p, 0, readp, endedp, waitedp, self.err) ~= OK then
            require("rios.pipeline").raise_failure(run)
          end
          local b = readp[0]
          if b == nil then return end
          item = { index = tonumber(b.index), b = b, discard = self.popped >= nblocks }
          self.popped = self.popped + 1
        else
          local inflight = 0
          for _, v in pairs(self.workers) do inflight = inflight + #v.inflight end
          if self.next_new >= nblocks or inflight + self.holding >= run.nslots then return end
          item = { index = self.next_new }
          self.next_new = self.next_new + 1
        end
      end
      if not self:send_block(rec, item) then break end
    end
  end
end

local POLL = 0.5   -- seconds between the launcher's checks of its workers

-- The main thread's loop while remote workers compute: write what is
-- ready, in block order; keep the workers busy; handle what they send.
function Manager:drain(writer)
  local run, p = self.run, self.run.pipeline
  local nblocks = run.info.nx * run.info.ny
  local out, ended, waited = ffi.new("rios_block *[1]"), ffi.new("int[1]"), ffi.new("double[1]")
  local write = require("rios.pipeline").computed_writer(run, writer)
  local written, last_written, last_poll, idle_since = 0, now(), 0, nil
  local barrier = run.concurrency.timeouts.barrier_timeout
  local pop_timeout = run.concurrency.timeouts.compute_buffer_pop_timeout
  while written < nblocks or self.discards > 0 do
    -- write what is ready, in order
    while true do
      if C.rios_ffi_pipeline_pop_done(p, 0, out, ended, waited, self.err) ~= OK then
        require("rios.pipeline").raise_failure(run)
      end
      local b = out[0]
      if b == nil then break end
      write(b)
      if not self.reads then self.holding = self.holding - 1 end
      written, last_written = written + 1, now()
    end
    if written >= nblocks and self.discards == 0 then break end
    self:dispatch()
    self:events(0.02)
    local t = now()
    if self.launcher.queued_workers then
      -- No worker holds a block: the wait is for (more) workers to start.
      local holding = false
      for _, v in pairs(self.workers) do
        if v.live and #v.inflight > 0 then holding = true break end
      end
      if holding then
        idle_since = nil
      else
        idle_since = idle_since or t
        last_written = t
        if #self.order > 0 and barrier >= 0 and t - idle_since > barrier then
          self:fail("no compute worker took a block for controls.concurrency.barrier_timeout = "
                    .. barrier .. " seconds" .. (self.launcher.waiting
                    and self.launcher:waiting(self) or ""))
        end
      end
    end
    if t - last_poll >= POLL then
      last_poll = t
      local problem, a_loss = self.launcher:poll(self)
      if problem and a_loss then
        self:lost_unconnected(problem)
      elseif problem then
        self:fail(problem .. (#self.lost > 0 and ("; and before that " .. table.concat(self.lost, "; "))
                              or ""))
      end
      if #self.order == 0 and barrier >= 0 and t - self.started > barrier then
        self:fail("no compute worker connected within controls.concurrency.barrier_timeout = "
                  .. barrier .. " seconds" .. (self.launcher.waiting
                  and self.launcher:waiting(self) or ""))
      end
    end
    if #self.order > 0 and pop_timeout >= 0 and t - last_written > pop_timeout then
      self:fail(string.format("timeout waiting for block %d from the compute workers (%d blocks "
                              .. "had already been written); if no compute worker is stuck or "
                              .. "failing, raise controls.concurrency.compute_buffer_pop_timeout "
                              .. "(current value = %g)", written, written, pop_timeout))
    end
  end
end

-- Every block is written: tell the workers to stop and take each one's
-- result (its otherargs and timers), in worker order.
function Manager:finish()
  self.stopping = true
  for _, w in ipairs(self.order) do
    local rec = self.workers[w]
    if rec.live and not rec.stopped then self:send(w, C.RIOS_FRAME_STOP, -1, nil, 0) end
  end
  local deadline = now() + 30
  while true do
    local waiting = false
    for _, w in ipairs(self.order) do
      local rec = self.workers[w]
      if rec.live and not rec.result then waiting = true end
    end
    if not waiting then break end
    if now() > deadline then self:fail("compute workers did not return their results") end
    self:events(0.1)
  end
  local results = {}
  for _, w in ipairs(self.order) do
    local rec = self.workers[w]
    if rec.result then results[#results + 1] = rec.result end
  end
  C.rios_ffi_pipeline_close_schedule(self.run.pipeline)
  self:release()
  return results
end

-- After a failure: the workers are ended (nothing to wait for).
function Manager:join()
  return nil
end

-- The workers are ended while the hub still listens (a worker ended in
-- its handshake is not worth a message: the hub is made quiet first), then
-- the hub is closed.
function Manager:release()
  C.rios_ffi_pipeline_close_schedule(self.run.pipeline)
  if self.hub ~= nil then
    C.rios_ffi_hub_quiet(self.hub)
    self.launcher:stop(self, not self.stopping)
    C.rios_ffi_hub_close(ffi.gc(self.hub, nil))
    self.hub = nil
  end
end

---------------------------------------------------------------------------
-- The worker side

-- Blocks sent by the main process with their inputs.
local FrameSource = {}
FrameSource.__index = FrameSource

-- Blocks the main process numbers and this worker reads itself, through
-- its own pipeline (with its own read workers).
local ReadSelfSource = {}
ReadSelfSource.__index = ReadSelfSource

local function next_frame(io)
  local chan = io.chan
  while true do
    if C.rios_ffi_chan_next(chan, -1, io.framep, io.err) ~= OK then
      error("lost the main process: " .. ffi.string(io.err.msg), 0)
    end
    local f = io.framep[0]
    if f ~= nil then
      if f.type == C.RIOS_FRAME_LOST then
        local why = ffi.string(f.data, f.len)
        C.rios_ffi_frame_free(f)
        error("lost the main process: " .. why, 0)
      end
      return f
    end
  end
end

function FrameSource:next()
  local io = self.io
  if io.frame ~= nil then C.rios_ffi_frame_free(io.frame) io.frame = nil end
  local f = next_frame(io)
  if f.type == C.RIOS_FRAME_STOP then
    C.rios_ffi_frame_free(f)
    return nil
  end
  if f.type ~= C.RIOS_FRAME_BLOCK then
    local t = f.type
    C.rios_ffi_frame_free(f)
    error("the main process sent a frame of type " .. t .. " instead of a block", 0)
  end
  io.frame = f
  local header, arrays = unpack_payload(f, "block " .. tonumber(f.block))
  local b, ins = self.block, io.ins
  local place = header.place
  if type(place) ~= "table" or #arrays ~= #ins then
    error("block " .. tonumber(f.block) .. " came without its place or inputs", 0)
  end
  b.index = f.block
  b.xblock, b.yblock, b.xoff, b.yoff, b.cols, b.rows = unpack(place, 1, 6)
  C.rios_ffi_arena_reset(b.arena)
  for i, a in ipairs(arrays) do
    local rec = ins[i]
    if a.dtype ~= rec.dtype or a.bands ~= rec.nbands then
      error("block " .. tonumber(f.block) .. ": input " .. i .. " is " .. a.dtype .. " with "
            .. base.count(a.bands, "band") .. ", not " .. rec.dtype .. " with "
            .. base.count(rec.nbands, "band"), 0)
    end
    -- into the arena, against a guard as in the main process (an index
    -- past the array faults: runtime/guard.c)
    local nbytes = a.bands * a.rows * a.cols * base.dtype_size[a.dtype]
    if C.rios_ffi_arena_alloc(b.arena, nbytes, self.ptr, io.err) ~= OK then
      error(ffi.string(io.err.msg), 0)
    end
    ffi.copy(self.ptr[0], a.data, nbytes)
    self.inputs[i - 1] = self.ptr[0]
  end
  io.discard = header.discard
  return b
end

function ReadSelfSource:next()
  local io, p = self.io, self.p
  while true do
    if self.pending > 0 then
      if C.rios_ffi_pipeline_pop_read(p, -1, self.out, self.ended, self.waited, io.err) ~= OK then
        error(ffi.string(io.err.msg), 0)
      end
      local b = self.out[0]
      if b ~= nil then
        self.pending = self.pending - 1
        io.discard = self.discard[1]
        table.remove(self.discard, 1)
        io.timers:add("reading", self.waited[0])
        return b
      end
    end
    local f = next_frame(io)
    local t, index = f.type, tonumber(f.block)
    local header
    if t == C.RIOS_FRAME_BLOCK then
      local ok, h = pcall(unpack_payload, f, "block " .. index)
      header = ok and h or nil
    end
    C.rios_ffi_frame_free(f)
    if t == C.RIOS_FRAME_STOP then
      C.rios_ffi_pipeline_close_schedule(p)
      return nil
    end
    if t ~= C.RIOS_FRAME_BLOCK or not header then
      error("the main process sent a bad block frame", 0)
    end
    if C.rios_ffi_pipeline_schedule(p, index, io.err) ~= OK then
      error(ffi.string(io.err.msg), 0)
    end
    self.pending = self.pending + 1
    self.discard[#self.discard + 1] = header.discard or false
  end
end

-- Outputs go back as they are computed.
local OutputSink = {}
OutputSink.__index = OutputSink

function OutputSink:put(b, arrays)
  local io = self.io
  local t0 = now()
  local send = {}
  if not io.discard then
    for j = 1, #arrays do
      local a = arrays[j]
      send[j] = a:is_contiguous() and a or a:copy()
    end
  end
  local parts, n, keep = payload({}, send)
  if C.rios_ffi_chan_send(io.chan, C.RIOS_FRAME_OUTPUT, b.index, parts, n, io.err) ~= OK then
    error("lost the main process: " .. ffi.string(io.err.msg), 0)
  end
  local _ = keep
  if io.p ~= nil then C.rios_ffi_pipeline_release(io.p, b) end
  io.timers:add("insert_computebuffer", now() - t0)
end

-- w: the registry entry rios-luaworker made, with chan and remote (see
-- M.serve).
function M.worker_io(w, timers)
  local r = w.remote
  local io = { chan = w.chan, err = ffi.new("rios_err"), framep = ffi.new("rios_frame *[1]"),
               timers = timers }
  local job = codec.decode(w.job, "the job")
  io.ins = job.run.ins
  local source
  if r.reads then
    local pc = r.pipeline
    local cfg = ffi.new("rios_pipe_config")
    local cins = ffi.new("rios_pipe_input[?]", #pc.ins)
    for i, rec in ipairs(pc.ins) do
      local ci = cins[i - 1]
      ci.read_name, ci.label = rec.read_name, rec.label
      ci.nbands, ci.dtype = rec.nbands, base.dtype_code[rec.dtype]
      ci.xshift, ci.yshift = rec.xshift, rec.yshift
    end
    cfg.grid_cols, cfg.grid_rows, cfg.wx, cfg.wy = pc.grid_cols, pc.grid_rows, pc.wx, pc.wy
    cfg.overlap, cfg.ninputs, cfg.noutputs, cfg.inputs = pc.overlap, #pc.ins, pc.noutputs, cins
    cfg.read_workers, cfg.compute_workers = pc.read_workers, 0
    cfg.schedule = C.RIOS_SCHEDULE_ASSIGNED
    local t = pc.timeouts
    cfg.read_insert_timeout = t.read_buffer_insert_timeout
    cfg.read_pop_timeout = t.read_buffer_pop_timeout
    cfg.compute_insert_timeout = t.compute_buffer_insert_timeout
    cfg.compute_pop_timeout = t.compute_buffer_pop_timeout
    local out = ffi.new("rios_pipeline *[1]")
    if C.rios_ffi_pipeline_new(cfg, out, io.err) ~= OK then error(ffi.string(io.err.msg), 0) end
    io.p = ffi.gc(out[0], C.rios_ffi_pipeline_free)
    io.keep = { cins, pc }
    if C.rios_ffi_pipeline_start(io.p, io.err) ~= OK then error(ffi.string(io.err.msg), 0) end
    source = setmetatable({ io = io, p = io.p, pending = 0, discard = {},
                            out = ffi.new("rios_block *[1]"), ended = ffi.new("int[1]"),
                            waited = ffi.new("double[1]") }, ReadSelfSource)
  else
    local block = ffi.new("rios_block")
    local inputs = ffi.new("void *[?]", math.max(#io.ins, 1))
    local arena_out = ffi.new("rios_arena *[1]")
    if C.rios_ffi_arena_new(arena_out, io.err) ~= OK then error(ffi.string(io.err.msg), 0) end
    local arena = ffi.gc(arena_out[0], C.rios_ffi_arena_free)
    block.inputs, block.arena, block.slot = inputs, arena, -1
    source = setmetatable({ io = io, block = block, inputs = inputs, keep = arena,
                            ptr = ffi.new("void *[1]") }, FrameSource)
  end
  local sink = setmetatable({ io = io }, OutputSink)
  return {
    source = source,
    sink = sink,
    send_result = function(bytes)
      local parts = ffi.new("rios_part[1]")
      parts[0].data, parts[0].len = bytes, #bytes
      if C.rios_ffi_chan_send(io.chan, C.RIOS_FRAME_RESULT, -1, parts, 1, io.err) ~= OK then
        w.failed = "cannot send the result: " .. ffi.string(io.err.msg)
      end
    end,
    fail = function(msg)
      w.failed = msg
      local parts, n = payload({ message = msg })
      C.rios_ffi_chan_send(io.chan, C.RIOS_FRAME_ERROR, -1, parts, n, io.err)
    end,
  }
end

-- rios-luaworker's main: connect, take the job, run it. Returns the exit
-- status.
function M.serve()
  -- a worker's prints go out line by line, in step with the main process's
  io.stdout:setvbuf("line")
  local reg = debug.getregistry()
  local w = reg[base.registry.WORKER]
  local err = ffi.new("rios_err")
  local function die(msg)
    io.stderr:write("rios-luaworker: ", msg, "\n")
    return 1
  end
  local addr = ffi.new("rios_chan_address")
  local key = ffi.new("rios_chan_key")
  local host, port
  if w.label and not w.label:match("^[%w][%w_.-]*$") then
    return die("--label takes letters, digits, '_', '.', '-', got '" .. w.label .. "'")
  end
  -- The address: a file, the command line, or (a batch job's, with
  -- shared_temp = false) the environment.
  local connect, from = w.connect, "--connect"
  if not connect and not w.address_file and os.getenv("RIOS_LUAWORKER_ADDRESS") then
    connect, from = os.getenv("RIOS_LUAWORKER_ADDRESS"), "RIOS_LUAWORKER_ADDRESS"
  end
  if w.address_file then
    if C.rios_ffi_chan_address_read(w.address_file, addr, err) ~= OK then
      return die(ffi.string(err.msg))
    end
    host, port, key = ffi.string(addr.host), addr.port, addr.key
  elseif connect then
    host, port = connect:match("^%[(.+)%]:(%d+)$")
    if not host then host, port = connect:match("^(.+):(%d+)$") end
    if not host then return die(from .. " takes HOST:PORT, got '" .. connect .. "'") end
    port = tonumber(port)
  else
    return die("give --address-file FILE or --connect HOST:PORT, or set RIOS_LUAWORKER_ADDRESS "
               .. "(see rios-luaworker --help)")
  end
  if w.key_file then
    if C.rios_ffi_chan_key_from_file(w.key_file, key, err) ~= OK then return die(ffi.string(err.msg)) end
  elseif os.getenv("RIOS_LUAWORKER_KEY") then
    if C.rios_ffi_chan_key_from_env("RIOS_LUAWORKER_KEY", key, err) ~= OK then
      return die(ffi.string(err.msg))
    end
  elseif not w.address_file then
    return die(from .. " needs the key: --key-file FILE or RIOS_LUAWORKER_KEY")
  end
  -- The user's script, run again here, and what it starts never see them.
  C.unsetenv("RIOS_LUAWORKER_KEY")
  C.unsetenv("RIOS_LUAWORKER_ADDRESS")
  local cfg = ffi.new("rios_chan_config")
  C.rios_ffi_chan_config_defaults(cfg)
  local chanp = ffi.new("rios_chan *[1]")
  if C.rios_ffi_chan_connect(host, port, key, cfg, chanp, err) ~= OK then
    return die(ffi.string(err.msg))
  end
  local chan = ffi.gc(chanp[0], C.rios_ffi_chan_close)
  w.chan = chan
  if w.label then
    local parts, n, keep = payload({ label = w.label })
    local sent = C.rios_ffi_chan_send(chan, C.RIOS_FRAME_JOB, -1, parts, n, err) == OK
    local _ = keep
    if not sent then return die("lost the main process: " .. ffi.string(err.msg)) end
  end
  local io = { chan = chan, err = err, framep = ffi.new("rios_frame *[1]") }
  local ok, f = pcall(next_frame, io)
  if not ok then return die(f) end
  if f.type ~= C.RIOS_FRAME_JOB then
    C.rios_ffi_frame_free(f)
    return die("the main process did not send a job")
  end
  local okh, header = pcall(unpack_payload, f, "the job")
  C.rios_ffi_frame_free(f)
  if not okh then return die(header) end
  local job = codec.decode(header.job, "the job")
  w.job, w.remote, w.id = job.job, job.remote, C.rios_ffi_chan_worker(chan)
  local r = w.remote
  -- A block function that runs past an array's end kills this process
  -- (runtime/guard.c); the line naming the block goes to a file beside the
  -- address file, which the main process reads when it loses the worker.
  if w.address_file then
    C.rios_ffi_fault_report(w.address_file .. ".fault-" .. tonumber(w.id), err)
  end
  if r.cwd and C.chdir(r.cwd) ~= 0 then
    return die("cannot change to the main process's folder " .. r.cwd)
  end
  for name, value in pairs(r.env or {}) do C.setenv(name, value, 1) end
  require("rios.worker").boot()
  C.rios_ffi_chan_close(ffi.gc(chan, nil))
  return w.failed and 1 or 0
end

return M
