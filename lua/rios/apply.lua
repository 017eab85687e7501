-- rios.apply: one run of a block function over rasters.
--
-- A run: check the arguments and controls, open the inputs and put them on
-- the working grid, make the block pipeline (runtime/pipeline.c), then
-- either run the block loop (rios.loop) here, from the read buffer to the
-- writer (rios.writer), or start compute workers of the chosen kind
-- (workers/) that run the same loop and write what they computed, in block
-- order; then finish the outputs (statistics, histogram, overviews).
local base = require("rios.base")
local array = require("rios.array")
local codec = require("rios.codec")
local controls_mod = require("rios.controls")
local files = require("rios.files")
local finishing = require("rios.finishing")
local grid_mod = require("rios.grid")
local info_mod = require("rios.info")
local inputs = require("rios.inputs")
local loop = require("rios.loop")
local outputs = require("rios.outputs")
local timers_mod = require("rios.timers")
local concurrency = require("rios.concurrency")
local pipeline = require("rios.pipeline")
local worker = require("rios.worker")
local writer_mod = require("rios.writer")
local console = require("rios.console")
local replay = require("rios.replay")
local ffi, C = base.ffi, base.C

local M = {}

-- "script.lua:LINE: " of the user's code that called rios.apply: the
-- first frame outside the rios modules.
local lua_dir = base.host.lua_dir
local function caller_where()
  for level = 3, 50 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    local src = info.source
    local ours = lua_dir and src:sub(1, #lua_dir + 1) == "@" .. lua_dir
    if info.what ~= "C" and not ours and info.currentline and info.currentline > 0 then
      return info.short_src .. ":" .. info.currentline .. ": "
    end
  end
  return ""
end

-- Everything one run holds, released by release() however the run ends.
local Run = {}
Run.__index = Run

function Run:release()
  if self.workers then self.workers:release() end
  pipeline.release(self)
  if self.progress then self.progress:finish() end
  for _, rec in ipairs(self.ins or {}) do inputs.close(rec) end
  for _, rec in ipairs(self.outs or {}) do outputs.close(rec) end
  if self.tempdir ~= nil then
    C.rios_ffi_tempdir_remove(ffi.gc(self.tempdir, nil))
    self.tempdir = nil
  end
  if self.begun then
    self.begun = false
    C.rios_ffi_run_progress(0, 0, 0)
    C.rios_ffi_run_end()
  end
end

-- A new file name in the run's private temporary folder (made at the first
-- call, under controls.tempdir; removed by release, or by the runtime's
-- SIGINT/SIGTERM handler).
local name_buf = ffi.new("char[4096]")
local tempdir_out = ffi.new("rios_tempdir *[1]")
function Run:tempname(stem, suffix)
  if self.tempdir == nil then
    if C.rios_ffi_tempdir_new(self.controls.tempdir, tempdir_out, base.err) ~= base.OK then
      base.raise(self.where, base.errmsg())
    end
    self.tempdir = ffi.gc(tempdir_out[0], C.rios_ffi_tempdir_remove)
    tempdir_out[0] = nil
  end
  if C.rios_ffi_tempdir_name(self.tempdir, stem, suffix, name_buf, 4096, base.err) ~= base.OK then
    error(base.errmsg(), 0)
  end
  return ffi.string(name_buf)
end

-- Put every input on the working grid (rios.grid, then rios.inputs.prepare:
-- warping, layer selection, nodata, rasterizing vectors).
function Run:place_inputs()
  local ins, c, where = self.ins, self.controls, self.where
  for _, rec in ipairs(ins) do inputs.open(rec, where, true) end
  local function open_grid(path)
    local rec = inputs.open({ path = path }, where)
    inputs.close(rec)
    return rec
  end
  self.grid = grid_mod.working_grid(ins, c, where, open_grid)
  local ctx = { overlap = c.overlap, rasterized = {},
                tempname = function(stem, suffix) return self:tempname(stem, suffix) end }
  for _, rec in ipairs(ins) do
    inputs.prepare(rec, self.grid, c.per_input[rec.name], ctx, where)
  end
end

local function check_args(fn, infiles, outfiles, otherargs, where)
  if type(fn) ~= "function" then
    base.raise(where, "rios.apply: the first argument must be the block function, got "
               .. type(fn))
  end
  if otherargs ~= nil and type(otherargs) ~= "table" then
    base.raise(where, "rios.apply: otherargs must be a table, got " .. type(otherargs))
  end
  local _ = infiles, outfiles
end

-- Calls of rios.apply so far in this state: compute workers find the call
-- they run by its number (see rios.worker). history[n]: what call n left in
-- its otherargs and result (codec bytes, or false when they cannot be
-- encoded), which a compute worker of a later call gets instead of running
-- call n again.
local ncalls = 0
local history = {}

-- What a compute worker's Lua state starts from (see rios.worker): codec
-- bytes.
local function worker_job(run, ordinal, otherargs_bytes)
  local script = debug.getregistry()[base.registry.SCRIPT]
  if type(script) ~= "table" or not script.source then
    base.raise(run.where, "rios.apply: compute workers run the script again, so it must be a "
               .. "script file or standard input, not -e code or the prompt")
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
  return codec.encode({
    ordinal = ordinal,
    script = { argv = script.argv, base = script.base, chunks = script.chunks,
               source = script.source, chunkname = script.chunkname },
    otherargs = otherargs_bytes,
    history = history,
    stdin = replay.stdin_consumed(),
    run = { grid = run.grid, window_xsize = c.window_xsize, window_ysize = c.window_ysize,
            overlap = c.overlap, ins = ins, outs = outs },
    -- bounds-checked data: in the block function (controls.check), or in
    -- every array the worker makes (--check)
    check = c.check or nil, check_all = array.check_all() or nil,
  }, "job")
end

-- The block loop here, from the read buffer to the writer.
local function compute_here(run, fn, otherargs)
  run.fn, run.otherargs = fn, otherargs
  local reads_here = run.concurrency.read_workers == 0
  local source = pipeline.read_source(run.pipeline, run.timers,
                                      not reads_here and "pop_readbuffer" or nil,
                                      function() pipeline.raise_failure(run) end)
  loop.run(run, source, pipeline.write_sink(run, writer_mod.new(run)))
end

-- Compute workers of the chosen kind run the loop; this thread writes what
-- they computed, in block order. Returns their otherargs copies.
local function compute_in_workers(run, ordinal, otherargs_bytes)
  local kind = require("workers." .. run.concurrency.kind)
  local job = worker_job(run, ordinal, otherargs_bytes)
  local t0 = C.rios_ffi_now()
  run.workers = kind.start(run, job)
  run.timers:add("startcomputeworkers", C.rios_ffi_now() - t0)
  local writer = writer_mod.new(run)
  if run.workers.drain then run.workers:drain(writer) else pipeline.drain(run, writer) end
  local results = run.workers:finish()
  local copies = {}
  for w, bytes in ipairs(results) do
    local res = codec.decode(bytes, "compute worker " .. w .. "'s result")
    copies[w] = res.otherargs
    for name, d in pairs(res.timers) do
      for i = 1, #d do run.timers:add(name, d[i]) end
    end
  end
  return copies
end

local run_apply

function M.apply(fn, infiles, outfiles, otherargs, user_controls)
  ncalls = ncalls + 1
  local ordinal = ncalls
  local where = caller_where()
  if worker.active() then
    check_args(fn, infiles, outfiles, otherargs, where)
    return worker.apply(fn, otherargs, where)
  end
  local ok, result = pcall(run_apply, ordinal, where, fn, infiles, outfiles, otherargs,
                           user_controls)
  local script = debug.getregistry()[base.registry.SCRIPT]
  if type(script) == "table" and script.source then
    -- Encoded now, as it is when this call ends: a worker of a later call
    -- gets it instead of running this call again (returns the same result,
    -- or raises the same error, with otherargs as they were).
    local entry = { otherargs = type(otherargs) == "table" and otherargs or nil }
    if ok then
      entry.otherargs_list, entry.working_grid = result.otherargs_list, result.working_grid
      if entry.otherargs_list[1] == otherargs then entry.otherargs_list = nil end
    else
      entry.failed, entry.message, entry.user = true, tostring(result), base.is_user_error(result)
    end
    local okh, bytes = pcall(codec.encode, entry)
    history[ordinal] = okh and bytes or false
  end
  if not ok then error(result, 0) end
  return result
end

-- The keys of otherargs whose value in some copy differs from the caller's
-- (the copies started equal to it), sorted.
local function same(a, b)
  if a == b or (a ~= a and b ~= b) then return true end
  if array.is_array(a) and array.is_array(b) then
    if a.dtype ~= b.dtype or a.bands ~= b.bands or a.rows ~= b.rows or a.cols ~= b.cols
       or a.data == nil or b.data == nil then
      return false
    end
    for bb = 1, a.bands do
      for r = 0, a.rows - 1 do
        for c = 0, a.cols - 1 do
          local x, y = a:get(c, r, bb), b:get(c, r, bb)
          if x ~= y and (x == x or y == y) then return false end
        end
      end
    end
    return true
  end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function changed_keys(otherargs, copies)
  local keys, seen = {}, {}
  for _, copy in ipairs(copies) do
    for _, t in ipairs({ copy, otherargs }) do
      for k in pairs(t) do
        if not seen[k] and not same(otherargs[k], copy[k]) then
          seen[k] = true
          keys[#keys + 1] = tostring(k)
        end
      end
    end
  end
  table.sort(keys)
  return keys
end

function run_apply(ordinal, where, fn, infiles, outfiles, otherargs, user_controls)
  local wall0 = C.rios_ffi_now()
  check_args(fn, infiles, outfiles, otherargs, where)
  otherargs = otherargs or {}
  local ins, innames = files.records(infiles, "infiles", where)
  local outs, outnames = files.records(outfiles, "outfiles", where)
  if #ins == 0 then
    base.raise(where, "rios.apply: infiles is empty; at least one input defines the working grid")
  end
  for name in pairs(outnames) do
    if innames[name] then
      base.raise(where, "rios.apply: '" .. name .. "' is both an input and an output name")
    end
  end
  local c = controls_mod.resolve(user_controls, outnames, innames, where)
  for _, rec in ipairs(outs) do
    rec.settings = controls_mod.for_file(c.per_output[rec.name], rec.path, files.label(rec), where)
    finishing.check(rec, where)
  end
  outputs.check_paths(ins, outs, where)
  local conc = concurrency.resolve(c.concurrency, where)
  -- What the kind of worker checks before any file is touched (the batch
  -- kinds: their extra, and that the scheduler is there).
  if conc.compute_workers > 0 or conc.single_block_workers then
    local kind = require("workers." .. conc.kind)
    if kind.prepare then kind.prepare(conc, where) end
  end
  -- Compute workers get a copy of otherargs as it is now (checked before
  -- any file is touched).
  local otherargs_bytes
  if conc.compute_workers > 0 then
    local ok, bytes = pcall(codec.encode, otherargs, "otherargs")
    if not ok then
      base.raise(where, "rios.apply: " .. bytes .. "; each compute worker gets a copy of it")
    end
    otherargs_bytes = bytes
  end

  local run = setmetatable({ where = where, controls = c, ins = ins, outs = outs,
                             concurrency = conc, timers = timers_mod.new(), check = c.check,
                             err = ffi.new("rios_err") }, Run)
  -- From here until release, a signal or os.exit removes what the run made
  -- and ends the process.
  C.rios_ffi_run_begin()
  run.begun = true
  local copies
  local ok, msg = xpcall(function()
    run:place_inputs()
    local by_array = {}
    for _, rec in ipairs(ins) do
      rec.array = array.wrap(rec.dtype, rec.nbands, 1, 1, nil, nil)
      by_array[rec.array] = rec
    end
    run.intable = inputs.block_table(ins)
    run.info = info_mod.new(run.grid, c, by_array)
    run.uses_otherargs = next(otherargs) ~= nil or c.merge_otherargs ~= nil
    local remote = conc.kind ~= "none" and conc.kind ~= "threads"
    run.pipeline = pipeline.new(run, remote and {
      -- the main process reads for its workers, and may read a lost
      -- worker's blocks again; or its workers read their own input
      read_workers = conc.compute_workers_read and 0 or conc.read_workers,
      schedule = C.RIOS_SCHEDULE_OPEN,
    } or nil)
    run.progress = require("rios.progress").start(run.info.nx * run.info.ny, c.progress, where)
    if conc.compute_workers == 0 then
      compute_here(run, fn, otherargs)
    else
      copies = compute_in_workers(run, ordinal, otherargs_bytes)
    end
    pipeline.finish(run)
    -- Every output finished and closed without error, then all moved into
    -- place; until then a failure leaves every existing file as it was.
    for _, rec in ipairs(outs) do outputs.finish(rec, c, run.timers, where, run.grid) end
    outputs.commit_all(outs, where)
  end, function(e)
    -- User errors stay one line; an error in the user's function keeps its
    -- traceback and says which block it was computing.
    if base.is_user_error(e) then return e end
    local tb = base.user_traceback(base.error_text(e), 2)
    if run.in_user_function and run.info then
      tb = tb .. "\nrios.apply: the error happened in the block function, block "
           .. run.info:label()
    end
    return tb
  end)
  run:release()
  if C.rios_ffi_signal_pending() ~= 0 then
    -- A signal was noted while the run cancelled its batch jobs, or moved
    -- its outputs into place, and it has released everything: it ends now
    -- as the signal says (after saying why a failed run failed).
    if not ok then console.stderr():write(tostring(msg), "\n") end
    C.rios_ffi_signal_resume(ok and 0 or 1)
  end
  if not ok then
    if base.is_user_error(msg) then error(msg, 0) end
    base.raise("", msg)
  end
  if copies and c.merge_otherargs then
    for _, copy in ipairs(copies) do c.merge_otherargs(otherargs, copy) end
  elseif copies then
    local keys = changed_keys(otherargs, copies)
    if #keys > 0 then
      console.stderr():write("rios-lua: warning: ", where, "rios.apply: compute workers "
        .. "changed otherargs key" .. (#keys > 1 and "s" or "") .. " '"
        .. table.concat(keys, "', '") .. "' in their own copies; the caller's otherargs is "
        .. "unchanged (the copies are in result.otherargs_list; controls.merge_otherargs "
        .. "folds them in)\n")
    end
  end
  run.timers:add("walltime", C.rios_ffi_now() - wall0)
  local cli = debug.getregistry()[base.registry.CLI]
  if type(cli) == "table" and cli.timings then
    io.stderr:write(run.timers:report(), "\n")
  end
  local g = run.grid
  local result = {
    timings = run.timers,
    otherargs_list = copies or { otherargs },
    working_grid = { projection = g.projection, transform = g.transform, rows = g.rows,
                     cols = g.cols },
  }
  return result
end

return M
