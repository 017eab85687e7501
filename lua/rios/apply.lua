-- rios.apply: one run of a block function over rasters.
--
-- A block flows: inputs.read (GDAL reads into runtime buffers) -> the
-- block function (arrays borrow those buffers; new arrays come from the
-- block arena) -> outputs.array_for (checks) -> outputs.write (GDAL writes
-- from the arrays' buffers, statistics gathered on the way) -> the arena is
-- reset for the next block.
local base = require("rios.base")
local array = require("rios.array")
local controls_mod = require("rios.controls")
local files = require("rios.files")
local grid_mod = require("rios.grid")
local info_mod = require("rios.info")
local inputs = require("rios.inputs")
local outputs = require("rios.outputs")
local timers_mod = require("rios.timers")
local ffi, C = base.ffi, base.C

local M = {}

-- "script.lua:LINE: " of the caller of rios.apply.
local function caller_where(level)
  local info = debug.getinfo(level + 1, "Sl")
  if info and info.currentline and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline .. ": "
  end
  return ""
end

-- The table the block function sees for inputs or outputs: name -> array, or
-- name -> list of arrays for a list entry.
local function input_table(recs)
  local t = {}
  for _, rec in ipairs(recs) do
    if rec.index then
      t[rec.name] = t[rec.name] or {}
      t[rec.name][rec.index] = rec.array
    else
      t[rec.name] = rec.array
    end
  end
  return t
end

-- Everything one run holds, released by release() however the run ends.
local Run = {}
Run.__index = Run

function Run:release()
  for _, rec in ipairs(self.ins or {}) do inputs.close(rec) end
  for _, rec in ipairs(self.outs or {}) do outputs.close(rec) end
  if self.arena ~= nil then
    array.release_block_arrays()
    C.rl_ffi_arena_free(ffi.gc(self.arena, nil))
    self.arena = nil
  end
end

-- The block loop, one block at a time, in the calling thread.
function Run:run_sequential(fn, otherargs)
  local info, ins, outs, timers = self.info, self.ins, self.outs, self.timers
  local where, err, ov = self.where, self.err, self.controls.overlap
  local intable, outtable = self.intable, {}
  for yblock = 0, info.ny - 1 do
    for xblock = 0, info.nx - 1 do
      info:set_block(xblock, yblock)
      local t0 = C.rl_ffi_now()
      for i = 1, #ins do
        local ok, msg = inputs.read(ins[i], info.xoff, info.yoff, info.cols, info.rows, ov, err)
        if not ok then
          base.raise(where, msg .. " in block " .. outputs.block_label(info))
        end
      end
      local t1 = C.rl_ffi_now()
      timers:add("reading", t1 - t0)
      for k in pairs(outtable) do outtable[k] = nil end
      array.set_block_arena(self.arena, string.format("(row %d, col %d)", yblock, xblock))
      self.in_user_function = true
      fn(info, intable, outtable, otherargs)
      self.in_user_function = false
      local t2 = C.rl_ffi_now()
      timers:add("userfunction", t2 - t1)
      for i = 1, #outs do
        local rec = outs[i]
        local arr = outputs.array_for(rec, outtable, info, where)
        if rec.handle == nil then outputs.create(rec, arr, self.grid, where, self.controls) end
        local ok, msg = outputs.write(rec, arr, info, err)
        if not ok then base.raise(where, msg .. " in block " .. outputs.block_label(info)) end
      end
      array.release_block_arrays()
      C.rl_ffi_arena_reset(self.arena)
      timers:add("writing", C.rl_ffi_now() - t2)
    end
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

function M.apply(fn, infiles, outfiles, otherargs, user_controls, level)
  local where = caller_where((level or 1) + 2)
  local wall0 = C.rl_ffi_now()
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
  local inpaths = {}
  for _, rec in ipairs(ins) do inpaths[rec.path] = true end
  for _, rec in ipairs(outs) do
    if inpaths[rec.path] then
      base.raise(where, "rios.apply: output '" .. files.label(rec) .. "' would overwrite input "
                 .. rec.path)
    end
    rec.settings = c.per_output[rec.name]
  end

  local run = setmetatable({ where = where, controls = c, ins = ins, outs = outs,
                             timers = timers_mod.new(), err = ffi.new("rl_err") }, Run)
  local ok, msg = xpcall(function()
    for _, rec in ipairs(ins) do inputs.open(rec, where) end
    run.grid = grid_mod.working_grid(ins, c, where)
    local wx, wy, ov = c.window_xsize, c.window_ysize, c.overlap
    local by_array = {}
    for _, rec in ipairs(ins) do
      inputs.allocate(rec, math.min(wx, run.grid.cols) + 2 * ov, math.min(wy, run.grid.rows) + 2 * ov)
      by_array[rec.array] = rec
    end
    run.intable = input_table(ins)
    run.info = info_mod.new(run.grid, c, by_array)
    local arena = C.rl_ffi_arena_new(base.err)
    if arena == nil then error(base.errmsg(), 0) end
    run.arena = ffi.gc(arena, C.rl_ffi_arena_free)
    run:run_sequential(fn, otherargs)
    for _, rec in ipairs(outs) do outputs.finish(rec, c, run.timers, where) end
  end, function(e)
    -- Input errors stay one line; an error in the user's function keeps its
    -- traceback and says which block it was computing.
    if type(e) == "string" and debug.getregistry()["rios.input_error"] == e then return e end
    local tb = debug.traceback(tostring(e), 2)
    if run.in_user_function and run.info then
      tb = tb .. "\nrios.apply: the error happened in the block function, block "
           .. outputs.block_label(run.info)
    end
    return tb
  end)
  run:release()
  if not ok then base.raise("", msg) end
  run.timers:add("walltime", C.rl_ffi_now() - wall0)
  local g = run.grid
  return {
    timings = run.timers,
    otherargs_list = { otherargs },
    working_grid = { projection = g.projection, transform = g.transform, rows = g.rows,
                     cols = g.cols },
  }
end

return M
