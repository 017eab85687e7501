-- rios.array: 3-D block arrays (bands x rows x cols) over memory the runtime
-- owns or lends. `data` is a typed 0-based pointer, band-major:
--   a.data[(b * a.rows + r) * a.cols + c]           (a contiguous array)
--   a.data[b * a.band_stride + r * a.row_stride + c] (any array, views too)
--
-- Where the memory comes from:
--   * input arrays borrow the runtime's read buffers, reused block to block;
--   * arrays made while a block function runs come from that block's arena
--     and are released when the block has been written (using one later is an
--     error that says so);
--   * arrays made anywhere else own heap memory, freed by the garbage
--     collector.
--
-- Views (Torch7's storage/view split): a:band(b) and a:window(r, c, nr, nc)
-- share the memory of a and keep it alive. A contiguous array stores no
-- strides (row_stride and band_stride read as cols and rows * cols); a view
-- that is not contiguous stores them, and that is the contiguity test the
-- fast paths use.
--
-- Indices: everything called with indices (band, window, get, set) is
-- 1-based, as Lua tables and GDAL bands are; the raw `data` pointer is
-- 0-based, as C is.
local base = require("rios.base")
local kernels = require("rios.kernels")
local ffi, C = base.ffi, base.C

local dtype_ptr, dtype_size = base.dtype_ptr, base.dtype_size
local is_float, convert = kernels.is_float, kernels.convert
local floor = math.floor

local M = {}
local methods = {}
M.methods = methods

local mt = {}
M.mt = mt

mt.__index = function(self, key)
  local m = methods[key]
  if m ~= nil then return m end
  if key == "row_stride" then return self.cols end
  if key == "band_stride" then return self.rows * self.cols end
  if key == "data" and rawget(self, "released") then
    error("this array was made while block " .. self.released .. " was computed and was "
          .. "released when that block was written; make arrays that must outlive a "
          .. "block before calling rios.apply", 2)
  end
  return nil
end

-- The block arena in force while a block function runs (set by rios.apply
-- through M.set_block_arena), and the arrays made from it.
local block = { arena = nil, made = {}, nmade = 0, xblock = nil, yblock = nil }

function M.set_block_arena(arena, xblock, yblock)
  block.arena = arena
  block.xblock, block.yblock = xblock, yblock
end

-- Called after a block has been written: its arrays (and views of them) are
-- released and the arena's memory is ready for the next block.
function M.release_block_arrays()
  local made = block.made
  -- the block's name, made only when an array needs it (no string per block)
  local label = block.nmade > 0 and string.format("(row %d, col %d)", block.yblock,
                                                  block.xblock)
  for i = 1, block.nmade do
    local a = made[i]
    a.data = nil
    a.released = label
    made[i] = nil
  end
  block.nmade = 0
  block.arena = nil
end

local function remember(a)
  local n = block.nmade + 1
  block.nmade = n
  block.made[n] = a
end

local function is_array(v)
  return type(v) == "table" and getmetatable(v) == mt
end
M.is_array = is_array

-- Wrap memory as a contiguous array. storage keeps owned memory alive.
local function wrap(dtype, bands, rows, cols, ptr, storage)
  return setmetatable({ dtype = dtype, bands = bands, rows = rows, cols = cols,
                        data = ffi.cast(dtype_ptr[dtype], ptr), storage = storage }, mt)
end
M.wrap = wrap

local function check_dtype(fname, dtype, level)
  if not dtype_ptr[dtype] then
    error(fname .. ": unknown dtype " .. tostring(dtype) .. " (one of int8, uint8, int16, "
          .. "uint16, int32, uint32, float32, float64)", level + 1)
  end
end

local function check_shape(fname, dtype, bands, rows, cols)
  check_dtype(fname, dtype, 3)
  for _, v in ipairs({ { "bands", bands }, { "rows", rows }, { "cols", cols } }) do
    local n = v[2]
    if type(n) ~= "number" or n < 1 or n ~= floor(n) then
      error(fname .. ": " .. v[1] .. " must be a whole number >= 1, got " .. tostring(n), 3)
    end
  end
end

local ptr_out = ffi.new("void *[1]")  -- the allocators' out-parameter, made once
local function alloc(dtype, bands, rows, cols)
  local nbytes = bands * rows * cols * dtype_size[dtype]
  if block.arena ~= nil then
    if C.rios_ffi_arena_alloc(block.arena, nbytes, ptr_out, base.err) ~= base.OK then
      error(base.errmsg(), 3)
    end
    local a = wrap(dtype, bands, rows, cols, ptr_out[0], nil)
    a.from_arena = true
    remember(a)
    return a
  end
  if C.rios_ffi_heap_alloc(nbytes, ptr_out, base.err) ~= base.OK then error(base.errmsg(), 3) end
  local p = ffi.gc(ptr_out[0], C.rios_ffi_heap_free)
  return wrap(dtype, bands, rows, cols, p, p)
end

-- rios.array(dtype, bands, rows, cols): a zero-filled array.
function M.new(dtype, bands, rows, cols)
  check_shape("rios.array", dtype, bands, rows, cols)
  return alloc(dtype, bands, rows, cols)
end

local function live_data(self, fname)
  local d = self.data  -- raises if released
  if d == nil then error(fname .. ": the array has no data", 3) end
  return d
end

-- True when the elements are one unbroken run in band-major order.
local function contiguous(a)
  return rawget(a, "row_stride") == nil
end
methods.is_contiguous = contiguous

-- A view of parent: shape nb x nr x nc starting at element offset off,
-- with the parent's strides. Contiguous views store no strides.
local function view(parent, nb, nr, nc, off)
  local rs, bs = parent.row_stride, parent.band_stride
  local v = setmetatable({ dtype = parent.dtype, bands = nb, rows = nr, cols = nc,
                           data = parent.data + off,
                           storage = rawget(parent, "storage"), parent = parent }, mt)
  if not ((nr == 1 or rs == nc) and (nb == 1 or bs == nr * nc)) then
    v.row_stride, v.band_stride = rs, bs
  end
  if rawget(parent, "from_arena") then
    v.from_arena = true
    remember(v)
  end
  return v
end

local function whole(fname, v, lo, hi, what)
  if type(v) ~= "number" or v ~= floor(v) or v < lo or v > hi then
    error(fname .. ": " .. what .. " must be a whole number from " .. lo .. " to " .. hi
          .. ", got " .. tostring(v), 3)
  end
end

-- a:band(b): band b (1-based) as a 1-band array sharing a's memory.
function methods:band(b)
  live_data(self, "band")
  whole("a:band", b, 1, self.bands, "the band (1-based)")
  return view(self, 1, self.rows, self.cols, (b - 1) * self.band_stride)
end

-- a:window(row, col, nrows, ncols): the sub-rectangle starting at row, col
-- (1-based), all bands, sharing a's memory.
function methods:window(row, col, nrows, ncols)
  live_data(self, "window")
  whole("a:window", row, 1, self.rows, "row (1-based)")
  whole("a:window", col, 1, self.cols, "col (1-based)")
  whole("a:window", nrows, 1, self.rows - row + 1, "nrows")
  whole("a:window", ncols, 1, self.cols - col + 1, "ncols")
  return view(self, self.bands, nrows, ncols, (row - 1) * self.row_stride + (col - 1))
end

-- Memory layout for C, which takes a row stride and a band stride given as
-- a whole number of rows: data, row stride (elements), rows per band.
-- Nil when the bands are not a whole number of rows apart.
function M.layout(a)
  local rs, bs = a.row_stride, a.band_stride
  if a.bands > 1 and bs % rs ~= 0 then return nil end
  return a.data, rs, a.bands > 1 and bs / rs or a.rows
end

local function index_error(fname, self, b, r, c)
  error(string.format("a:%s: index (band %s, row %s, col %s) is outside the array of "
                      .. "%d bands x %d rows x %d cols (indices are 1-based)", fname,
                      tostring(b), tostring(r), tostring(c), self.bands, self.rows,
                      self.cols), 4)
end

local function offset_of(fname, self, b, r, c)
  if type(b) ~= "number" or type(r) ~= "number" or type(c) ~= "number"
      or b < 1 or b > self.bands or r < 1 or r > self.rows or c < 1 or c > self.cols
      or b ~= floor(b) or r ~= floor(r) or c ~= floor(c) then
    index_error(fname, self, b, r, c)
  end
  return (b - 1) * self.band_stride + (r - 1) * self.row_stride + (c - 1)
end

-- a:get(b, r, c): checked element access, 1-based.
function methods:get(b, r, c)
  local d = live_data(self, "get")
  return d[offset_of("get", self, b, r, c)]
end

-- a:set(b, r, c, v): checked, 1-based; v is stored by the conversion rule.
function methods:set(b, r, c, v)
  local d = live_data(self, "set")
  if type(v) ~= "number" then error("a:set: the value must be a number, got " .. type(v), 2) end
  d[offset_of("set", self, b, r, c)] = convert(self.dtype, v)
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

----------------------------------------------------------------------------
-- Elementwise operations.

-- The dtype that holds every value of both (numpy's promotion, with int64
-- replaced by float64).
local function promote(a, b)
  if a == b then return a end
  if is_float(a) or is_float(b) then
    if a == "float64" or b == "float64" then return "float64" end
    local other = a == "float32" and b or a
    if other == "int32" or other == "uint32" then return "float64" end
    return "float32"
  end
  local ra, rb = kernels.range[a], kernels.range[b]
  local lo, hi = math.min(ra[1], rb[1]), math.max(ra[2], rb[2])
  for _, d in ipairs({ "int8", "uint8", "int16", "uint16", "int32", "uint32" }) do
    local r = kernels.range[d]
    if r[1] <= lo and r[2] >= hi then return d end
  end
  return "float64"
end
M.promote = promote

-- Result dtype of an operation between array a and operand x (array or
-- number).
local function result_dtype(a, x)
  if type(x) == "number" then
    if not is_float(a.dtype) and x ~= floor(x) then return "float64" end
    return a.dtype
  end
  return promote(a.dtype, x.dtype)
end

-- Check operand x against shape of a (bands equal, or 1 to broadcast).
local function check_operand(fname, a, x, what)
  if type(x) == "number" then return end
  if not is_array(x) then
    error(fname .. ": " .. what .. " must be an array or a number, got " .. type(x), 3)
  end
  live_data(x, fname)
  if x.rows ~= a.rows or x.cols ~= a.cols or (x.bands ~= a.bands and x.bands ~= 1) then
    error(string.format("%s: %s has shape %d x %d x %d but the array is %d x %d x %d "
                        .. "(bands x rows x cols; a 1-band operand is used for every band)",
                        fname, what, x.bands, x.rows, x.cols, a.bands, a.rows, a.cols), 3)
  end
end

local function check_out(fname, a, out)
  if out == nil then return nil end
  if not is_array(out) then
    error(fname .. ": out must be an array, got " .. type(out), 3)
  end
  live_data(out, fname)
  if out.rows ~= a.rows or out.cols ~= a.cols or out.bands ~= a.bands then
    error(string.format("%s: out has shape %d x %d x %d but the result is %d x %d x %d",
                        fname, out.bands, out.rows, out.cols, a.bands, a.rows, a.cols), 3)
  end
  return out
end

-- Run kernel f with out o and operands x, y, m (arrays or numbers) of the
-- same shape as o. Collapses to one flat loop when all are contiguous with
-- the same number of bands.
local function operand(v, nb)
  if type(v) ~= "table" then return v, 0, 0 end
  local bs = v.bands == 1 and nb > 1 and 0 or v.band_stride
  return v.data, bs, v.row_stride
end

local function flat_ok(v, nb)
  return type(v) ~= "table" or (contiguous(v) and v.bands == nb)
end

local function run(f, o, x, y, m, fn)
  local nb = o.bands
  if contiguous(o) and flat_ok(x, nb) and flat_ok(y, nb) and flat_ok(m, nb) then
    local xd = type(x) == "table" and x.data or x
    local yd = type(y) == "table" and y.data or y
    local md = type(m) == "table" and m.data or m
    f(1, 1, nb * o.rows * o.cols, o.data, 0, 0, xd, 0, 0, yd, 0, 0, md, 0, 0, fn)
    return o
  end
  local xd, xbs, xrs = operand(x, nb)
  local yd, ybs, yrs = operand(y, nb)
  local md, mbs, mrs = operand(m, nb)
  f(nb, o.rows, o.cols, o.data, o.band_stride, o.row_stride, xd, xbs, xrs, yd, ybs, yrs,
    md, mbs, mrs, fn)
  return o
end

local function kind(v) return type(v) == "table" and "a" or "s" end

local function binary(name, expr, always_float)
  methods[name] = function(self, x, out)
    local fname = "a:" .. name
    live_data(self, fname)
    check_operand(fname, self, x, "the operand")
    out = check_out(fname, self, out)
    local dtype = out and out.dtype or result_dtype(self, x)
    if always_float and not out and not is_float(dtype) then dtype = "float64" end
    out = out or alloc(dtype, self.bands, self.rows, self.cols)
    local from = "number"
    if not always_float and name ~= "div" then
      -- integer arithmetic on integers stays integral; only the range can
      -- overflow
      if type(x) == "table" and not is_float(self.dtype) and not is_float(x.dtype) then
        from = "int32"
      elseif type(x) == "number" and x == floor(x) and not is_float(self.dtype) then
        from = "int32"
      end
    end
    local conv = kernels.conversion(out.dtype, from)
    if conv == "none" and from == "int32" and not is_float(out.dtype) then conv = "clamp" end
    local f = kernels.elementwise(name .. "|" .. self.dtype .. "|" .. (type(x) == "table"
                                  and x.dtype or "s"), { "x", "y" },
                                  { "a", kind(x) }, expr, conv, out.dtype)
    return run(f, out, self, x, nil)
  end
end

-- a:add(x [, out]) etc.: x an array (same rows and cols; same bands or 1)
-- or a number. Without out, a new array of the promoted dtype; with out,
-- the result goes there (out may be a itself: in place).
binary("add", "X + Y")
binary("sub", "X - Y")
binary("mul", "X * Y")
binary("div", "X / Y", true)
binary("pow", "X ^ Y", true)
binary("minimum", "(X < Y or Y ~= Y) and X or Y")
binary("maximum", "(X > Y or Y ~= Y) and X or Y")

-- Comparisons: a uint8 mask, 1 where true (NaN compares false).
local function compare(name, op)
  methods[name] = function(self, x, out)
    local fname = "a:" .. name
    live_data(self, fname)
    check_operand(fname, self, x, "the operand")
    out = check_out(fname, self, out) or alloc("uint8", self.bands, self.rows, self.cols)
    local conv = kernels.conversion(out.dtype, "uint8")
    local f = kernels.elementwise(name .. "|" .. self.dtype .. "|" .. (type(x) == "table"
                                  and x.dtype or "s"), { "x", "y" }, { "a", kind(x) },
                                  "(X " .. op .. " Y) and 1 or 0", conv, out.dtype)
    return run(f, out, self, x, nil)
  end
end
compare("lt", "<")
compare("le", "<=")
compare("gt", ">")
compare("ge", ">=")
compare("eq", "==")
compare("ne", "~=")

-- where(mask, a, b [, out]): a where mask is not 0, else b; a and b are
-- arrays or numbers (at least one of mask, a, b is an array).
function M.where(mask, a, b, out)
  local fname = "rios.where"
  if not is_array(mask) then error(fname .. ": mask must be an array, got " .. type(mask), 2) end
  live_data(mask, fname)
  local shape = mask
  if is_array(a) and a.bands > shape.bands then shape = a end
  if is_array(b) and b.bands > shape.bands then shape = b end
  check_operand(fname, shape, mask, "mask")
  check_operand(fname, shape, a, "a")
  check_operand(fname, shape, b, "b")
  local dtype
  if is_array(a) and is_array(b) then dtype = promote(a.dtype, b.dtype)
  elseif is_array(a) then dtype = result_dtype(a, b)
  elseif is_array(b) then dtype = result_dtype(b, a)
  else dtype = (a == floor(a) and b == floor(b)) and promote("int32", "int32") or "float64" end
  out = check_out(fname, shape, out)
  if out then dtype = out.dtype end
  out = out or alloc(dtype, shape.bands, shape.rows, shape.cols)
  local from = "number"
  if (not is_array(a) or not is_float(a.dtype)) and (not is_array(b) or not is_float(b.dtype))
      and (is_array(a) or a == floor(a)) and (is_array(b) or b == floor(b)) then
    local da = is_array(a) and a.dtype or "int32"
    local db = is_array(b) and b.dtype or "int32"
    from = promote(da, db)
    if is_float(from) then from = "number" end
  end
  local conv = kernels.conversion(out.dtype, from)
  local f = kernels.elementwise("where|" .. mask.dtype .. "|" .. (is_array(a) and a.dtype or "s")
                                .. "|" .. (is_array(b) and b.dtype or "s"), { "m", "x", "y" },
                                { "a", kind(a), kind(b) }, "M ~= 0 and X or Y", conv, out.dtype)
  return run(f, out, a, b, mask)
end

-- a:fill(v): every element set to v (by the conversion rule). Returns a.
function methods:fill(v)
  local d = live_data(self, "fill")
  if type(v) ~= "number" then error("a:fill: the value must be a number, got " .. type(v), 2) end
  v = convert(self.dtype, v)
  if v == 0 and contiguous(self) and 1 / v > 0 then
    ffi.fill(d, self:nbytes(), 0)
    return self
  end
  local f = kernels.elementwise("fill|" .. self.dtype, { "x" }, { "s" }, "X", "none", self.dtype)
  return run(f, self, v, nil, nil)
end

-- a:copy([out]): a new contiguous array with a's values (or into out, which
-- must have a's shape and dtype... any dtype converts by the rule).
function methods:copy(out)
  local d = live_data(self, "copy")
  out = check_out("a:copy", self, out)
      or alloc(self.dtype, self.bands, self.rows, self.cols)
  if out.dtype == self.dtype and contiguous(self) and contiguous(out) then
    ffi.copy(out.data, d, self:nbytes())
    return out
  end
  local f = kernels.elementwise("copy|" .. self.dtype, { "x" }, { "a" }, "X",
                                kernels.conversion(out.dtype, self.dtype), out.dtype)
  return run(f, out, self, nil, nil)
end

-- a:astype(dtype): a new array of dtype. To an integer dtype a value is
-- rounded to the nearest integer (ties to even), clamped to the dtype's
-- range, and NaN becomes 0; nothing wraps.
function methods:astype(dtype)
  live_data(self, "astype")
  check_dtype("a:astype", dtype, 2)
  return self:copy(alloc(dtype, self.bands, self.rows, self.cols))
end

-- a:map(fn [, dtype_or_out]): fn(v) of every element, into a new array of
-- dtype (default a's) or into out. fn runs inside the traced loop.
function methods:map(fn, dest)
  live_data(self, "map")
  if type(fn) ~= "function" then error("a:map: fn must be a function, got " .. type(fn), 2) end
  local out = is_array(dest) and check_out("a:map", self, dest) or nil
  if not out then
    local dtype = dest or self.dtype
    check_dtype("a:map", dtype, 2)
    out = alloc(dtype, self.bands, self.rows, self.cols)
  end
  local f = kernels.elementwise("map|" .. self.dtype, { "x" }, { "a" }, "fn(X)",
                                kernels.conversion(out.dtype, "number"), out.dtype)
  return run(f, out, self, nil, nil, fn)
end

-- a:map2(fn, other [, dtype_or_out]): fn(v, w) of a's and other's elements.
function methods:map2(fn, other, dest)
  live_data(self, "map2")
  if type(fn) ~= "function" then error("a:map2: fn must be a function, got " .. type(fn), 2) end
  check_operand("a:map2", self, other, "other")
  local out = is_array(dest) and check_out("a:map2", self, dest) or nil
  if not out then
    local dtype = dest or self.dtype
    check_dtype("a:map2", dtype, 2)
    out = alloc(dtype, self.bands, self.rows, self.cols)
  end
  local f = kernels.elementwise("map2|" .. self.dtype .. "|" .. (type(other) == "table"
                                and other.dtype or "s"), { "x", "y" }, { "a", kind(other) },
                                "fn(X, Y)", kernels.conversion(out.dtype, "number"), out.dtype)
  return run(f, out, self, other, nil, fn)
end

----------------------------------------------------------------------------
-- Reductions: over every element (all bands; take a:band(b) for one band),
-- skipping NaN and, when given, the nodata value.

local function reduce_args(self)
  if contiguous(self) then return 1, 1, self:size(), self.data, 0, 0 end
  return self.bands, self.rows, self.cols, self.data, self.band_stride, self.row_stride
end

local function stats(self, fname, nodata)
  live_data(self, fname)
  if nodata ~= nil and type(nodata) ~= "number" then
    error(fname .. ": nodata must be a number, got " .. type(nodata), 3)
  end
  local f = kernels.stats(self.dtype, nodata ~= nil)
  local nb, nr, nc, d, bs, rs = reduce_args(self)
  return f(nb, nr, nc, d, bs, rs, nodata)
end

-- a:sum([nodata]): 0 when nothing is counted.
function methods:sum(nodata)
  local _, s = stats(self, "a:sum", nodata)
  return s
end

-- a:count([nodata]): how many elements are counted.
function methods:count(nodata)
  return (stats(self, "a:count", nodata))
end

-- a:min([nodata]), a:max([nodata]), a:mean([nodata]): nil when nothing is
-- counted.
function methods:min(nodata)
  local n, _, mn = stats(self, "a:min", nodata)
  if n == 0 then return nil end
  return mn
end

function methods:max(nodata)
  local n, _, _, mx = stats(self, "a:max", nodata)
  if n == 0 then return nil end
  return mx
end

function methods:mean(nodata)
  local n, s = stats(self, "a:mean", nodata)
  if n == 0 then return nil end
  return s / n
end

-- a:std([nodata]): the population standard deviation (as GDAL's
-- statistics), from the mean in a second pass; nil when nothing is counted.
function methods:std(nodata)
  local n, s = stats(self, "a:std", nodata)
  if n == 0 then return nil end
  local f = kernels.sumsq(self.dtype, nodata ~= nil)
  local nb, nr, nc, d, bs, rs = reduce_args(self)
  return math.sqrt(f(nb, nr, nc, d, bs, rs, nodata, s / n) / n)
end

-- a:histogram(nbins, lo, hi [, nodata]): a Lua list of nbins counts; bins
-- of equal width over [lo, hi], each holding [edge, next edge) and the last
-- also hi (as numpy). Values outside [lo, hi], NaN and nodata are not
-- counted.
function methods:histogram(nbins, lo, hi, nodata)
  live_data(self, "histogram")
  whole("a:histogram", nbins, 1, 2 ^ 31, "nbins")
  if type(lo) ~= "number" or type(hi) ~= "number" or not (hi > lo) then
    error("a:histogram: needs lo < hi, got " .. tostring(lo) .. " and " .. tostring(hi), 2)
  end
  local counts = ffi.new("double[?]", nbins)
  local f = kernels.histogram(self.dtype, nodata ~= nil)
  local nb, nr, nc, d, bs, rs = reduce_args(self)
  f(nb, nr, nc, d, bs, rs, nodata, counts, nbins, lo, hi)
  local t = {}
  for i = 1, nbins do t[i] = counts[i - 1] end
  return t
end

----------------------------------------------------------------------------
-- Operators make new arrays: a + b, a - 2, -a, 2 * a ...

local function arith(name)
  return function(p, q)
    if is_array(p) then return p[name](p, q) end
    -- number op array: reorder where the operation allows it
    if name == "add" or name == "mul" then return q[name](q, p) end
    local full = q:like(result_dtype(q, p))
    full:fill(p)
    return full[name](full, q)
  end
end
mt.__add = arith("add")
mt.__sub = arith("sub")
mt.__mul = arith("mul")
mt.__div = arith("div")
mt.__pow = arith("pow")
mt.__unm = function(a) return a:mul(-1, a:like(is_float(a.dtype) and a.dtype
                                                 or promote(a.dtype, "int8"))) end

mt.__tostring = function(self)
  local head = string.format("rios.array(%s, %d x %d x %d%s)", self.dtype, self.bands,
                             self.rows, self.cols, contiguous(self) and "" or ", view")
  if rawget(self, "released") then return head .. " released" end
  if rawget(self, "data") == nil then return head end
  local n, s, mn, mx = stats(self, "tostring")
  if n == 0 then return head .. " all NaN" end
  local nan = self:size() - n
  return string.format("%s min=%.6g max=%.6g mean=%.6g%s", head, mn, mx, s / n,
                       nan > 0 and (" nan=" .. nan) or "")
end

return M
