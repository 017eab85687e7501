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
local concurrency = require("rios.concurrency")
local pipeline = require("rios.pipeline")
local serialize = require("rios.serialize")
local worker = require("rios.worker")
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
  pipeline.release(self)
  if self.progress then self.progress:finish() end
  for _, rec in ipairs(self.ins or {}) do inputs.close(rec) end
  for _, rec in ipairs(self.outs or {}) do outputs.close(rec) end
  if self.arena ~= nil then
    array.release_block_arrays()
    C.rios_ffi_arena_free(ffi.gc(self.arena, nil))
    self.arena = nil
  end
  if self.tempdir ~= nil then
    C.rios_ffi_tempdir_remove(ffi.gc(self.tempdir, nil))
    self.tempdir = nil
  end
end

-- A new file name in the run's private temporary folder (made at the first
-- call, under controls.tempdir; removed by release, or by the runtime's
-- SIGINT/SIGTERM handler).
local name_buf = ffi.new("char[4096]")
function Run:tempname(stem, suffix)
  if self.tempdir == nil then
    local t = C.rios_ffi_tempdir_new(self.controls.tempdir, base.err)
    if t == nil then base.raise(self.where, base.errmsg()) end
    self.tempdir = ffi.gc(t, C.rios_ffi_tempdir_remove)
  end
  if C.rios_ffi_tempdir_name(self.tempdir, stem, suffix, name_buf, 4096, base.err) ~= 0 then
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

-- The block loop, one block at a time, in the calling thread.
function Run:run_sequential(fn, otherargs)
  local info, ins, outs, timers = self.info, self.ins, self.outs, self.timers
  local where, err, ov = self.where, self.err, self.controls.overlap
  local intable, outtable = self.intable, {}
  for yblock = 0, info.ny - 1 do
    for xblock = 0, info.nx - 1 do
      info:set_block(xblock, yblock)
      local t0 = C.rios_ffi_now()
      for i = 1, #ins do
        local ok, msg = inputs.read(ins[i], info.xoff, info.yoff, info.cols, info.rows, ov, err)
        if not ok then
          base.raise(where, msg .. " in block " .. outputs.block_label(info))
        end
      end
      local t1 = C.rios_ffi_now()
      timers:add("reading", t1 - t0)
      for k in pairs(outtable) do outtable[k] = nil end
      array.set_block_arena(self.arena, xblock, yblock)
      self.in_user_function = true
      fn(info, intable, outtable, otherargs)
      self.in_user_function = false
      local t2 = C.rios_ffi_now()
      timers:add("userfunction", t2 - t1)
      for i = 1, #outs do
        local rec = outs[i]
        local arr = outputs.array_for(rec, outtable, info, where)
        if rec.handle == nil then outputs.create(rec, arr, self.grid, where, self.controls) end
        local ok, msg = outputs.write(rec, arr, info, err)
        if not ok then base.raise(where, msg .. " in block " .. outputs.block_label(info)) end
      end
      array.release_block_arrays()
      C.rios_ffi_arena_reset(self.arena)
      timers:add("writing", C.rios_ffi_now() - t2)
      self.progress:step()
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

-- Calls of rios.apply so far in this state: compute workers find the call
-- they run by its number (see rios.worker). history[n]: what call n left in
-- its otherargs (serialized, or false when it cannot be), which a compute
-- worker of a later call gets instead of running call n again.
local ncalls = 0
local history = {}
M.history = history

function M.apply(fn, infiles, outfiles, otherargs, user_controls)
  ncalls = ncalls + 1
  local ordinal = ncalls
  local where = caller_where()
  local wall0 = C.rios_ffi_now()
  check_args(fn, infiles, outfiles, otherargs, where)
  if worker.active() then return worker.apply(fn, otherargs, where) end
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
  local conc = concurrency.resolve(c.concurrency, where)
  -- Compute workers get a copy of otherargs as it is now.
  local otherargs_text
  if conc.compute_workers > 0 then
    local ok, text = pcall(serialize.dump, otherargs, "otherargs")
    if not ok then
      base.raise(where, "rios.apply: " .. text .. "; each compute worker gets a copy of it")
    end
    otherargs_text = text
  end

  local run = setmetatable({ where = where, controls = c, ins = ins, outs = outs,
                             concurrency = conc, timers = timers_mod.new(),
                             err = ffi.new("rios_err") }, Run)
  local copies
  local ok, msg = xpcall(function()
    run:place_inputs()
    local wx, wy, ov = c.window_xsize, c.window_ysize, c.overlap
    local by_array = {}
    for _, rec in ipairs(ins) do
      inputs.allocate(rec, math.min(wx, run.grid.cols) + 2 * ov, math.min(wy, run.grid.rows) + 2 * ov)
      by_array[rec.array] = rec
    end
    run.intable = inputs.block_table(ins)
    run.info = info_mod.new(run.grid, c, by_array)
    run.progress = require("rios.progress").start(run.info.nx * run.info.ny, c.progress, where)
    local arena = C.rios_ffi_arena_new(base.err)
    if arena == nil then error(base.errmsg(), 0) end
    run.arena = ffi.gc(arena, C.rios_ffi_arena_free)
    if conc.read_workers == 0 and conc.compute_workers == 0 then
      run:run_sequential(fn, otherargs)
    else
      copies = pipeline.run(run, fn, otherargs, ordinal, otherargs_text)
    end
    for _, rec in ipairs(outs) do outputs.finish(rec, c, run.timers, where) end
  end, function(e)
    -- Input errors stay one line; an error in the user's function keeps its
    -- traceback and says which block it was computing.
    if base.is_user_error(e) then return e end
    local tb = debug.traceback(tostring(e), 2)
    if run.in_user_function and run.info then
      tb = tb .. "\nrios.apply: the error happened in the block function, block "
           .. outputs.block_label(run.info)
    end
    return tb
  end)
  run:release()
  if not ok then
    if base.is_user_error(msg) then error(msg, 0) end
    base.raise("", msg)
  end
  if copies and c.merge_otherargs then
    for _, copy in ipairs(copies) do c.merge_otherargs(otherargs, copy) end
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
  local script = debug.getregistry()[base.registry.SCRIPT]
  if type(script) == "table" and script.source then
    -- Serialized now, as it is when this call returns; the grid is plain
    -- data made here and serialized only if a worker needs it.
    local okh, text = pcall(serialize.dump, otherargs, "otherargs")
    local okl, list = true, nil
    if copies then okl, list = pcall(serialize.dump, copies, "otherargs_list") end
    history[ordinal] = okh and okl and { otherargs = text, otherargs_list = list,
                                         working_grid = result.working_grid } or false
  end
  return result
end

return M
