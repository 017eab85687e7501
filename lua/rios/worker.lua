-- rios.worker: the Lua side of a compute worker, whatever its kind. The
-- kind (workers/) makes the worker's own Lua state (rios_state_new), puts
-- { kind = , id = , job = codec bytes, ... } in the registry entry
-- RIOS_REG_WORKER and calls M.boot().
--
-- boot runs the user's script again from its source, under the same chunk
-- name and with the same arg, so tracebacks point at the user's lines and
-- every local and upvalue the block function uses is rebuilt here: no
-- function is ever serialized. rios.apply counts its calls; calls before the
-- one being run return at once without touching any file, and that call
-- (number job.ordinal) runs the block loop (rios.loop) with this worker's
-- function, its kind's source and sink, and then ends the script.
local base = require("rios.base")
local codec = require("rios.codec")
local console = require("rios.console")
local replay = require("rios.replay")

local M = {}

-- Ends the script once the worker's apply has run its loop.
local DONE = setmetatable({}, { __tostring = function() return "rios worker done" end })

-- The script runs in a coroutine, so that ending it is a yield that no
-- pcall in the script can catch; where it cannot yield (apply called from
-- inside a C function such as require, or from the script's own coroutine)
-- it ends with the error DONE.
local state = nil   -- this state's worker, when it is one

local function finish()
  if coroutine.running() == state.co and coroutine.isyieldable() then coroutine.yield(DONE) end
  error(DONE, 0)
end

-- The worker this state is, or nil in the main state.
function M.active()
  return state
end

local function fail(msg)
  state.io.fail(msg)
end

-- Traceback handler: user errors stay one line; other errors keep the
-- traceback of the user's own code (base.user_traceback).
local function handler(e)
  if e == DONE then return e end
  if e == require("rios.pipeline").STOPPED then return e end
  if base.is_user_error(e) then return e end
  local tb = base.user_traceback(base.error_text(e), 2)   -- (not a tail call: level 2 is
  return tb                                                -- the frame that raised)
end

function M.boot()
  local w = debug.getregistry()[base.registry.WORKER]
  local timers = require("rios.timers").new()
  state = { id = w.id, applies = 0, timers = timers,
            io = require("workers." .. w.kind).worker_io(w, timers) }
  local ok, job = pcall(codec.decode, w.job, "the worker's job")
  if not ok then return fail(tostring(job)) end
  state.job = job
  -- a run with --check: every array the re-run makes has checked data
  if job.check_all then require("rios.array").set_check_all(true) end
  -- The re-run shows nothing until it reaches its apply, and reads from
  -- stdin what the main state had read (see rios.replay).
  console.install()
  console.mute()
  replay.replay_stdin(job.stdin)
  -- os.exit in a worker ends its process at once, as it does in the main
  -- state during a run (runtime/host.c): exit() would run the process's
  -- destructors under the feet of the threads still at work (a crash). In
  -- a compute thread the private folders go first; nothing at an output's
  -- path was touched.
  rawset(os, "exit", function(code)
    if code == nil or code == true then code = 0 elseif code == false then code = 1 end
    base.C.rios_ffi_exit_now(tonumber(code) or 1)
  end)
  local s = job.script
  local argt = {}
  for i = 0, #s.argv do argt[i - s.base] = s.argv[i] end
  rawset(_G, "arg", argt)
  local script_args = {}
  for i = s.base + 1, #s.argv do script_args[#script_args + 1] = s.argv[i] end
  local chunks = {}
  for i, code in ipairs(s.chunks) do
    local f, err = loadstring(code, "=(command line)")
    if not f then return fail(err) end
    chunks[i] = f
  end
  -- The user's script, as the main state loaded it: the one place a worker
  -- turns text into code.
  local main, err = loadstring(s.source, s.chunkname)
  if not main then return fail(err) end
  -- Called straight from xpcall, so tracebacks say "in main chunk".
  local co = coroutine.create(function()
    for _, f in ipairs(chunks) do
      local fok, fdone = xpcall(f, handler)
      if not fok then return fok, fdone end
    end
    return xpcall(main, handler, unpack(script_args))
  end)
  state.co = co
  local resumed, first, done = coroutine.resume(co)
  if not resumed then
    ok, done = false, first
  elseif coroutine.status(co) == "suspended" then
    ok, done = first == DONE, first   -- finish() yielded
    if not ok then done = "the script yielded outside any coroutine of its own" end
  else
    ok = first
  end
  if not ok and done ~= DONE then
    if done ~= require("rios.pipeline").STOPPED then fail(tostring(done)) end
    return
  end
  if not state.reached then
    fail("the script ended before its rios.apply call number " .. job.ordinal
         .. ", the one this worker was started for (does the script take a different path "
         .. "when rios.is_worker() is true?)")
  end
end

-- Empty t and fill it with src's entries (a fresh copy), so the table the
-- script passed as otherargs, and any upvalue that holds it, is the worker's
-- copy of the main state's.
local function refill(t, src)
  for k in pairs(t) do t[k] = nil end
  for k, v in pairs(src) do t[k] = v end
end

-- rios.apply in a worker. Returns a result for calls before the worker's
-- own; the worker's own call runs the loop and ends the script.
function M.apply(fn, otherargs, where)
  local job = state.job
  state.applies = state.applies + 1
  if state.applies < job.ordinal then
    -- An earlier call, already run by the main state: not run again, but
    -- its otherargs and result are as the main state had them.
    local timers = require("rios.timers").new()
    timers:add("walltime", 0)
    local result = { timings = timers, otherargs_list = { otherargs }, skipped_in_worker = true }
    local h = job.history[state.applies]
    if h then
      h = codec.decode(h, "the history of rios.apply call " .. state.applies)
      if type(otherargs) == "table" and h.otherargs then refill(otherargs, h.otherargs) end
      if h.failed then
        if h.user then base.raise("", h.message) end
        error(h.message, 0)
      end
      result.otherargs_list = h.otherargs_list or { otherargs }
      result.working_grid = h.working_grid
    end
    return result
  end
  if state.applies > job.ordinal then finish() end
  state.reached = true
  console.unmute()
  local array = require("rios.array")
  local info_mod = require("rios.info")
  local loop = require("rios.loop")
  local pipeline = require("rios.pipeline")
  local timers = state.timers

  if type(otherargs) ~= "table" then otherargs = {} end
  refill(otherargs, codec.decode(job.otherargs, "otherargs"))

  local r = job.run
  local ins, by_array = {}, {}
  for i, rec in ipairs(r.ins) do
    rec.array = array.wrap(rec.dtype, rec.nbands, 1, 1, nil, nil)
    by_array[rec.array] = rec
    ins[i] = rec
  end
  local info = info_mod.new(r.grid, { window_xsize = r.window_xsize,
                                      window_ysize = r.window_ysize, overlap = r.overlap },
                            by_array)
  local ctx = { fn = fn, otherargs = otherargs, info = info, ins = ins, outs = r.outs,
                intable = require("rios.inputs").block_table(ins), where = where,
                timers = timers, check = job.check }
  local io = state.io
  local ok, e = xpcall(loop.run, handler, ctx, io.source, io.sink)
  if not ok then
    if e ~= pipeline.STOPPED then
      if base.is_user_error(e) then
        fail(tostring(e))   -- a mistake in what the function set; the message names the block
      else
        local label = info.block and (" in block " .. info:label()) or ""
        fail((ctx.in_user_function and "error in the block function" or "error") .. label
             .. ":\n" .. tostring(e))
      end
    end
    finish()
  end
  local ok2, bytes = pcall(codec.encode, { otherargs = otherargs, timers = timers.durations })
  if not ok2 then
    local _, why = pcall(codec.encode, otherargs, "otherargs")   -- names the path
    fail("cannot return otherargs to the main state: " .. tostring(why))
    finish()
  end
  io.send_result(bytes)
  finish()
end

return M
