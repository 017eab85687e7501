-- rios.inputs: input rasters of one apply: opening them, the read buffers
-- the runtime owns, and reading one block of one file straight into its
-- buffer. The arrays handed to the block function wrap those buffers; they
-- are made once per apply and re-pointed at each block, never copied.
local base = require("rios.base")
local array = require("rios.array")
local ffi, C = base.ffi, base.C

local M = {}

local function close_raster(rec)
  if rec.raster ~= nil then
    C.rl_ffi_raster_close(ffi.gc(rec.raster, nil))
    rec.raster = nil
  end
end

-- Open one record's file and describe it.
function M.open(rec, where)
  local r = C.rl_ffi_raster_open(rec.path, base.err)
  if r == nil then base.raise(where, base.errmsg()) end
  rec.raster = ffi.gc(r, C.rl_ffi_raster_close)
  local info = ffi.new("rl_raster_info")
  if C.rl_ffi_raster_info(r, info, base.err) ~= 0 then
    close_raster(rec)
    base.raise(where, base.errmsg())
  end
  rec.cols, rec.rows, rec.nbands = info.xsize, info.ysize, info.nbands
  rec.dtype = base.dtypes[info.dtype + 1]
  rec.transform = {}
  for i = 0, 5 do rec.transform[i + 1] = info.transform[i] end
  rec.projection = ffi.string(C.rl_ffi_raster_projection(r))
  rec.nodata = {}
  local v = ffi.new("double[1]")
  for b = 1, rec.nbands do
    if C.rl_ffi_raster_nodata(r, b, v) ~= 0 then rec.nodata[b] = v[0] end
  end
  return rec
end

function M.close(rec)
  close_raster(rec)
  if rec.buffer ~= nil then
    C.rl_ffi_heap_free(ffi.gc(rec.buffer, nil))
    rec.buffer = nil
  end
end

-- The buffer for blocks of up to cols x rows pixels (overlap included), and
-- the array that borrows it.
function M.allocate(rec, cols, rows)
  local nbytes = rec.nbands * rows * cols * base.dtype_size[rec.dtype]
  local p = C.rl_ffi_heap_alloc(nbytes, base.err)
  if p == nil then error(rec.path .. ": " .. base.errmsg(), 0) end
  rec.buffer = ffi.gc(p, C.rl_ffi_heap_free)
  rec.array = array.wrap(rec.dtype, rec.nbands, rows, cols, p, nil)
  rec.dtype_code = base.dtype_code[rec.dtype]
end

-- Read grid window (xoff, yoff, cols, rows), grown by ov on each side, into
-- the record's buffer. Returns true, or nil and a message.
function M.read(rec, xoff, yoff, cols, rows, ov, err)
  local a = rec.array
  a.cols, a.rows = cols + 2 * ov, rows + 2 * ov
  if C.rl_ffi_raster_read(rec.raster, xoff + rec.xshift - ov, yoff + rec.yshift - ov,
                          a.cols, a.rows, rec.nbands, nil, rec.buffer, rec.dtype_code,
                          err) ~= 0 then
    return nil, ffi.string(err.msg)
  end
  return true
end

return M
