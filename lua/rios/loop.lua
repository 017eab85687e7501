-- rios.loop: the block loop. Every thread that computes blocks runs it: the
-- main thread of a sequential run, and each compute worker of any kind
-- (workers/). It takes a block from a source, points the input arrays at
-- the block's buffers, calls the block function, checks what it set, and
-- gives the outputs to a sink:
--
--   source:next()         -> the next block (a rios_block), or nil at the end
--   sink:put(b, arrays)   -- arrays[j]: the array for output record outs[j];
--                            the sink owns b from here on
--
-- Sources and sinks are what a kind of worker implements (rios/pipeline.lua
-- has the local ones: the read buffer, the writer, the compute buffer).
local base = require("rios.base")
local array = require("rios.array")
local outputs = require("rios.outputs")
local ffi, C = base.ffi, base.C

local M = {}

local now = C.rios_ffi_now
local dtype_ptr = base.dtype_ptr
local fault_block = C.rios_ffi_fault_block

-- The outputs table the block function fills: setting a name that is not
-- an output is an error that lists the outputs.
function M.outputs_table(outs)
  local known, names = {}, {}
  for _, rec in ipairs(outs) do
    if not known[rec.name] then names[#names + 1] = rec.name end
    known[rec.name] = true
  end
  table.sort(names)
  local list = #names > 0 and table.concat(names, ", ") or "none"
  return setmetatable({}, { __newindex = function(t, key, value)
    if not known[key] then
      base.raise(base.where(2), "outputs has no '" .. tostring(key) .. "' (the outputs are: "
                 .. list .. ")")
    end
    rawset(t, key, value)
  end })
end

-- ctx: fn, otherargs, info, ins (input records with .array), intable (the
-- inputs table the function sees), outs (output records), where, timers.
-- ctx.in_user_function is true while the block function runs.
function M.run(ctx, source, sink)
  local fn, otherargs, info, ins, intable = ctx.fn, ctx.otherargs, ctx.info, ctx.ins,
                                            ctx.intable
  local outs, where, timers = ctx.outs, ctx.where, ctx.timers
  local ov = info.ov
  local outtable, arrays = M.outputs_table(outs), {}
  -- checked: the block function sees bounds-checked data (--check,
  -- controls.check; see rios.array).
  local checked = ctx.check or array.check_all()
  while true do
    local b = source:next()
    if b == nil then break end
    info:set_block(b)
    -- Each input's array sits at the end of its buffer, against the guard
    -- (runtime/pipeline.c), so its address moves with the block's size.
    local cols, rows = b.cols + 2 * ov, b.rows + 2 * ov
    for i = 1, #ins do
      local a = ins[i].array
      a.cols, a.rows = cols, rows
      if checked then
        a.data = array.checked_data(a.dtype, b.inputs[i - 1], a.bands * rows * cols, a)
      else
        a.data = ffi.cast(dtype_ptr[a.dtype], b.inputs[i - 1])
      end
    end
    for k in pairs(outtable) do outtable[k] = nil end
    array.set_block_arena(b.arena, b.xblock, b.yblock, checked, b)
    ctx.in_user_function = true
    -- A run into the guard after an array names this block (runtime/guard.c).
    fault_block(b)
    local t0 = now()
    fn(info, intable, outtable, otherargs)
    timers:add("userfunction", now() - t0)
    fault_block(nil)
    ctx.in_user_function = false
    for j = 1, #outs do arrays[j] = outputs.array_for(outs[j], outtable, info, where) end
    sink:put(b, arrays)
    array.release_block_arrays()
  end
end
-- The loop runs once per block: compiling it gains nothing, and its traces
-- (through sources and sinks of several kinds) would only churn. The block
-- function's own loops are compiled as always.
jit.off(M.run)

return M
