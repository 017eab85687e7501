-- rios.array: 3-D block arrays (bands x rows x cols) over memory the runtime
-- owns or lends. `data` is a typed 0-based pointer, band-major:
--   a.data[(b * a.rows + r) * a.cols + c]
--
-- Where the memory comes from:
--   * input arrays borrow the runtime's read buffers, reused block to block;
--   * arrays made while a block function runs come from that block's arena
--     and are released when the block has been written (using one later is an
--     error that says so);
--   * arrays made anywhere else own heap memory, freed by the garbage
--     collector.
local base = require("rios.base")
local ffi, C = base.ffi, base.C

local dtype_ptr, dtype_size = base.dtype_ptr, base.dtype_size

local M = {}
local methods = {}
M.methods = methods

local mt = {}
M.mt = mt

mt.__index = function(self, key)
  local m = methods[key]
  if m ~= nil then return m end
  if key == "data" and rawget(self, "released") then
    error("this array was made while block " .. self.released .. " was computed and was "
          .. "released when that block was written; make arrays that must outlive a "
          .. "block before calling rios.apply", 2)
  end
  return nil
end

-- The block arena in force while a block function runs (set by rios.apply
-- through M.set_block_arena), and the arrays made from it.
local block = { arena = nil, made = {}, nmade = 0, label = nil }

function M.set_block_arena(arena, label)
  block.arena = arena
  block.label = label
end

-- Called after a block has been written: its arrays are released and the
-- arena's memory is ready for the next block.
function M.release_block_arrays()
  local made = block.made
  for i = 1, block.nmade do
    local a = made[i]
    a.data = nil
    a.released = block.label
    made[i] = nil
  end
  block.nmade = 0
  block.arena = nil
  block.label = nil
end

local function is_array(v)
  return type(v) == "table" and getmetatable(v) == mt
end
M.is_array = is_array

-- Wrap memory as an array. storage keeps owned memory alive.
local function wrap(dtype, bands, rows, cols, ptr, storage)
  return setmetatable({ dtype = dtype, bands = bands, rows = rows, cols = cols,
                        data = ffi.cast(dtype_ptr[dtype], ptr), storage = storage }, mt)
end
M.wrap = wrap

local function check_shape(fname, dtype, bands, rows, cols)
  if not dtype_ptr[dtype] then
    error(fname .. ": unknown dtype " .. tostring(dtype) .. " (one of int8, uint8, int16, "
          .. "uint16, int32, uint32, float32, float64)", 3)
  end
  for _, v in ipairs({ { "bands", bands }, { "rows", rows }, { "cols", cols } }) do
    local n = v[2]
    if type(n) ~= "number" or n < 1 or n ~= math.floor(n) then
      error(fname .. ": " .. v[1] .. " must be a whole number >= 1, got " .. tostring(n), 3)
    end
  end
end

local function alloc(dtype, bands, rows, cols)
  local nbytes = bands * rows * cols * dtype_size[dtype]
  if block.arena ~= nil then
    local p = C.rl_ffi_arena_alloc(block.arena, nbytes, base.err)
    if p == nil then error(base.errmsg(), 3) end
    local a = wrap(dtype, bands, rows, cols, p, nil)
    local n = block.nmade + 1
    block.nmade = n
    block.made[n] = a
    return a
  end
  local p = C.rl_ffi_heap_alloc(nbytes, base.err)
  if p == nil then error(base.errmsg(), 3) end
  p = ffi.gc(p, C.rl_ffi_heap_free)
  return wrap(dtype, bands, rows, cols, p, p)
end

-- rios.array(dtype, bands, rows, cols): a zero-filled array.
function M.new(dtype, bands, rows, cols)
  check_shape("rios.array", dtype, bands, rows, cols)
  return alloc(dtype, bands, rows, cols)
end

-- a:like([dtype [, bands]]): zero-filled, same rows and cols.
function methods:like(dtype, bands)
  dtype = dtype or self.dtype
  bands = bands or self.bands
  check_shape("like", dtype, bands, self.rows, self.cols)
  return alloc(dtype, bands, self.rows, self.cols)
end

function methods:size()
  return self.bands * self.rows * self.cols
end

function methods:nbytes()
  return self.bands * self.rows * self.cols * dtype_size[self.dtype]
end

mt.__tostring = function(self)
  return string.format("rios.array(%s, %d x %d x %d)", self.dtype, self.bands, self.rows,
                       self.cols)
end

return M
