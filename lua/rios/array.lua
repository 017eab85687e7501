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
-- Views (Torch7's storage/view split): a:band(b) and a:window(xoff, yoff,
-- xsize, ysize) share the memory of a and keep it alive. A contiguous array stores no
-- strides (row_stride and band_stride read as cols and rows * cols); a view
-- that is not contiguous stores them, and that is the contiguity test the
-- fast paths use.
--
-- Checked data (--check, controls.check): `data` is then not a pointer but
-- a reference to the first element of a struct type per dtype that has
-- metamethods (ffi.metatype): indexing it checks the index against the
-- array's elements and raises "script.lua:LINE: data[i] is outside ..."
-- naming the size; `data + k` is checked data for the rest of the memory.
-- Being a struct reference at the first element's address, it converts to
-- that address wherever a void pointer is taken (the runtime's calls,
-- ffi.copy, ffi.string), so only this module's loops unwrap it (raw()).
--
-- Positions (README "Positions and windows"): a pixel is (x, y), col then
-- row, 0-based as `data` and GDAL's pixel offsets are; a window is {xoff,
-- yoff, xsize, ysize}; a band is a number from 1, as GDAL's bands are.
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


----------------------------------------------------------------------------
-- Checked data.

-- sizes[ref]: how many elements ref may index; owner[ref]: the array it is
-- the data of (for the message). Weak: a ref lives as long as its array.
local sizes = setmetatable({}, { __mode = "k" })
local owner = setmetatable({}, { __mode = "k" })
local chk_ptr = {}      -- dtype -> pointer ctype to its checked struct
local check = { all = false, block = false }

local block_text = ffi.new("rios_text")
local block   -- forward: the block in force (below)

-- Raise the one-line error for index i of checked data self, at the
-- user's line (level 3: the function that indexed data).
local function outside(self, i)
  local a, n = owner[self], sizes[self]
  local shape = ""
  if a then
    shape = string.format(", a %s array of %d band%s x %d rows x %d cols%s", a.dtype, a.bands,
                          a.bands == 1 and "" or "s", a.rows, a.cols,
                          rawget(a, "parent") ~= nil
                          and " (a view: counted to the end of the memory it shares)" or "")
  end
  local where = ""
  if block.b ~= nil and block.arena ~= nil then
    C.rios_ffi_block_label(block.b, block_text)
    where = " in block " .. ffi.string(block_text.s)
  end
  base.raise(base.where(3), string.format("data[%s] is outside the array%s: data has %d "
             .. "elements (0..%d)%s", tostring(i), where, n, n - 1, shape))
end

for _, dtype in ipairs(base.dtypes) do
  local name = "rios_checked_" .. dtype
  ffi.cdef(string.format("typedef struct %s { %s v[1]; } %s;", name, base.dtype_cname[dtype],
                         name))
  local P = ffi.typeof(name .. " *")
  chk_ptr[dtype] = P
  local rawp = dtype_ptr[dtype]
  local cmt = {}
  cmt.__index = function(self, i)
    local n = sizes[self]
    if type(i) ~= "number" then
      error("data has no field '" .. tostring(i) .. "' (it is indexed by numbers)", 2)
    end
    if not (i >= 0 and i < n) then outside(self, i) end
    return self.v[i]
  end
  cmt.__newindex = function(self, i, x)
    local n = sizes[self]
    if type(i) ~= "number" then
      error("data has no field '" .. tostring(i) .. "' (it is indexed by numbers)", 2)
    end
    if not (i >= 0 and i < n) then outside(self, i) end
    self.v[i] = x
  end
  local function shifted(self, k)
    local r = ffi.cast(P, ffi.cast(rawp, self) + k)[0]
    sizes[r] = sizes[self] - k
    owner[r] = owner[self]
    return r
  end
  cmt.__add = function(a, b)
    if type(a) == "number" then return shifted(b, a) end
    return shifted(a, b)
  end
  cmt.__sub = function(a, k)
    if type(k) ~= "number" then return ffi.cast(rawp, a) - ffi.cast(rawp, k) end
    return shifted(a, -k)
  end
  cmt.__eq = function(a, b)
    if type(a) ~= "cdata" or type(b) ~= "cdata" then return false end
    return ffi.cast("uintptr_t", ffi.cast("const void *", a))
           == ffi.cast("uintptr_t", ffi.cast("const void *", b))
  end
  cmt.__len = function(self) return sizes[self] end
  cmt.__tostring = function(self)
    return string.format("checked %s data: %d elements at %s", dtype, sizes[self],
                         tostring(ffi.cast("const void *", self)))
  end
  ffi.metatype(name, cmt)
end

-- Checked data of n elements of dtype at ptr, for array a.
function M.checked_data(dtype, ptr, n, a)
  local r = ffi.cast(chk_ptr[dtype], ptr)[0]
  sizes[r] = n
  owner[r] = a
  return r
end

-- The pointer under a's data, checked or not (this module's loops and
-- the calls that take a typed pointer).
local function raw(a)
  local d = a.data
  if sizes[d] then return ffi.cast(dtype_ptr[a.dtype], d) end
  return d
end
M.raw = raw

-- Whether --check is on (every array made in this state gets checked
-- data); set_check_all(true): a worker started by a run with --check.
local host = base.host
local function check_all() return check.all or host.check == true end
M.check_all = check_all
function M.set_check_all(on) check.all = on and true or false end

-- The block arena in force while a block function runs (set by rios.apply
-- through M.set_block_arena), and the arrays made from it.
block = { arena = nil, made = {}, nmade = 0, xblock = nil, yblock = nil, b = nil }

-- checked: the function's arrays get checked data (controls.check); b:
-- the block (named by an index outside checked data).
function M.set_block_arena(arena, xblock, yblock, checked, b)
  block.arena = arena
  block.xblock, block.yblock = xblock, yblock
  check.block = checked and true or false
  block.b = b
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
  block.b = nil
  check.block = false
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
  local a = setmetatable({ dtype = dtype, bands = bands, rows = rows, cols = cols,
                           data = ffi.cast(dtype_ptr[dtype], ptr), storage = storage }, mt)
  if (check.block or check_all()) and ptr ~= nil then
    a.data = M.checked_data(dtype, ptr, bands * rows * cols, a)
  end
  return a
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
  return raw(self)
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
  if owner[v.data] then owner[v.data] = v end
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

-- a:window(xoff, yoff, xsize, ysize) or a:window{xoff, yoff, xsize, ysize}:
-- the xsize cols x ysize rows from col xoff, row yoff (0-based, as r:read's
-- window and GDAL's), all bands, sharing a's memory.
function methods:window(xoff, yoff, xsize, ysize)
  live_data(self, "window")
  if type(xoff) == "table" and yoff == nil then
    xoff, yoff, xsize, ysize = xoff[1], xoff[2], xoff[3], xoff[4]
  end
  whole("a:window", xoff, 0, self.cols - 1, "xoff (0-based)")
  whole("a:window", yoff, 0, self.rows - 1, "yoff (0-based)")
  whole("a:window", xsize, 1, self.cols - xoff, "xsize")
  whole("a:window", ysize, 1, self.rows - yoff, "ysize")
  return view(self, self.bands, ysize, xsize, yoff * self.row_stride + xoff)
end

-- Memory layout for C, which takes a row stride and a band stride given as
-- a whole number of rows: data, row stride (elements), rows per band.
-- Nil when the bands are not a whole number of rows apart.
function M.layout(a)
  local rs, bs = a.row_stride, a.band_stride
  if a.bands > 1 and bs % rs ~= 0 then return nil end
  return raw(a), rs, a.bands > 1 and bs / rs or a.rows
end

local function index_error(fname, self, x, y, b)
  error(string.format("a:%s: (x %s, y %s, band %s) is outside the array of %s x %d "
                      .. "rows x %d cols (x 0..%d, y 0..%d, band 1..%d)", fname, tostring(x),
                      tostring(y), tostring(b), base.count(self.bands, "band"), self.rows, self.cols,
                      self.cols - 1, self.rows - 1, self.bands), 4)
end

local function offset_of(fname, self, x, y, b)
  if b == nil then
    if self.bands ~= 1 then
      error(string.format("a:%s: the array has %d bands: give the band, a:%s(x, y%s, band)",
                          fname, self.bands, fname, fname == "set" and ", v" or ""), 3)
    end
    b = 1
  end
  if type(b) ~= "number" or type(x) ~= "number" or type(y) ~= "number"
      or b < 1 or b > self.bands or y < 0 or y >= self.rows or x < 0 or x >= self.cols
      or b ~= floor(b) or y ~= floor(y) or x ~= floor(x) then
    index_error(fname, self, x, y, b)
  end
  return (b - 1) * self.band_stride + y * self.row_stride + x
end

-- a:get(x, y [, band]): the element at col x, row y (0-based) of band
-- (1-based; may be left out when the array has one band), checked.
function methods:get(x, y, b)
  local d = live_data(self, "get")
  return d[offset_of("get", self, x, y, b)]
end

-- a:set(x, y, v [, band]): checked, as get; v is stored by the conversion
-- rule.
function methods:set(x, y, v, b)
  local d = live_data(self, "set")
  if type(v) ~= "number" then error("a:set: the value must be a number, got " .. type(v), 2) end
  d[offset_of("set", self, x, y, b)] = convert(self.dtype, v)
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
  return raw(v), bs, v.row_stride
end

local function flat_ok(v, nb)
  return type(v) ~= "table" or (contiguous(v) and v.bands == nb)
end

local function run(f, o, x, y, m, fn)
  local nb = o.bands
  if contiguous(o) and flat_ok(x, nb) and flat_ok(y, nb) and flat_ok(m, nb) then
    local xd = type(x) == "table" and raw(x) or x
    local yd = type(y) == "table" and raw(y) or y
    local md = type(m) == "table" and raw(m) or m
    f(1, 1, nb * o.rows * o.cols, raw(o), 0, 0, xd, 0, 0, yd, 0, 0, md, 0, 0, fn)
    return o
  end
  local xd, xbs, xrs = operand(x, nb)
  local yd, ybs, yrs = operand(y, nb)
  local md, mbs, mrs = operand(m, nb)
  f(nb, o.rows, o.cols, raw(o), o.band_stride, o.row_stride, xd, xbs, xrs, yd, ybs, yrs,
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

-- Logical operations of masks (any dtype; 0 is false, anything else, NaN
-- too, is true, as numpy): a uint8 mask, 1 where true.
local function logical(name, expr)
  methods[name] = function(self, x, out)
    local fname = "a:" .. name
    live_data(self, fname)
    check_operand(fname, self, x, "the operand")
    out = check_out(fname, self, out) or alloc("uint8", self.bands, self.rows, self.cols)
    local f = kernels.elementwise(name .. "|" .. self.dtype .. "|" .. (type(x) == "table"
                                  and x.dtype or "s"), { "x", "y" }, { "a", kind(x) },
                                  expr, kernels.conversion(out.dtype, "uint8"), out.dtype)
    return run(f, out, self, x, nil)
  end
end
logical("logical_and", "(X ~= 0 and Y ~= 0) and 1 or 0")
logical("logical_or", "(X ~= 0 or Y ~= 0) and 1 or 0")

-- The float dtype numpy gives sqrt, log and exp of an array: float16 for
-- 8-bit integers (which rios-lua has not: float32), float32 for 16-bit,
-- float64 for 32-bit; a float array keeps its own.
local float_of = { int8 = "float32", uint8 = "float32", int16 = "float32", uint16 = "float32",
                   int32 = "float64", uint32 = "float64", float32 = "float32",
                   float64 = "float64" }
M.float_of = float_of

-- One-operand operations. expr is for float arrays, int_expr (default
-- expr) for integer ones; result(dtype) the dtype of a new result; from(dtype)
-- what is stored (see kernels.conversion: "number" for any value, a dtype
-- for values of that dtype, "int32" for whole numbers that may leave the
-- result's range).
local function unary(name, expr, int_expr, result, from)
  methods[name] = function(self, out)
    local fname = "a:" .. name
    live_data(self, fname)
    out = check_out(fname, self, out)
    out = out or alloc(result(self.dtype), self.bands, self.rows, self.cols)
    local fl = is_float(self.dtype)
    local src = from(self.dtype)
    local conv = kernels.conversion(out.dtype, src)
    if conv == "none" and src == "int32" and not is_float(out.dtype) then conv = "clamp" end
    local f = kernels.elementwise(name .. "|" .. self.dtype, { "x" }, { "a" },
                                  fl and expr or (int_expr or expr), conv, out.dtype)
    return run(f, out, self, nil, nil)
  end
end
local function same(d) return d end
local function floats(d) return float_of[d] end
local function number() return "number" end
local function whole_or_number(d) return is_float(d) and "number" or "int32" end
local function own_or_number(d) return is_float(d) and "number" or d end
local function mask() return "uint8" end

-- a:abs([out]): |v|, same dtype (int8 -128 saturates to 127).
unary("abs", "abs(X)", nil, same, whole_or_number)
-- a:sqrt, a:log (natural), a:exp: floats as numpy gives them; sqrt and log
-- of a negative number are NaN, log(0) is -inf.
unary("sqrt", "sqrt(X)", nil, floats, number)
unary("log", "log(X)", nil, floats, number)
unary("exp", "exp(X)", nil, floats, number)
-- a:floor, a:ceil: same dtype (integer arrays are unchanged).
unary("floor", "floor(X)", "X", same, own_or_number)
unary("ceil", "ceil(X)", "X", same, own_or_number)
-- a:isnan: 1 where the element is NaN (never, in an integer array).
unary("isnan", "(X ~= X) and 1 or 0", "0", mask, mask)
-- a:logical_not: 1 where the element is 0.
unary("logical_not", "(X == 0) and 1 or 0", nil, mask, mask)

-- a:clip(lo, hi [, out]): min(max(v, lo), hi), as numpy; lo and hi are
-- numbers, arrays or nil (no bound on that side). NaN stays NaN. The dtype
-- is a's unless a bound needs more (a fraction with an integer array:
-- float64; an array bound: the promoted dtype).
function methods:clip(lo, hi, out)
  local fname = "a:clip"
  live_data(self, fname)
  if lo == nil and hi == nil then error(fname .. ": needs lo, hi or both", 2) end
  if lo == nil then lo = -math.huge end
  if hi == nil then hi = math.huge end
  check_operand(fname, self, lo, "lo")
  check_operand(fname, self, hi, "hi")
  if type(lo) == "number" and type(hi) == "number" and lo > hi then
    error(fname .. ": lo (" .. tostring(lo) .. ") is greater than hi (" .. tostring(hi) .. ")", 2)
  end
  out = check_out(fname, self, out)
  if not out then
    local dtype = promote(result_dtype(self, lo), result_dtype(self, hi))
    out = alloc(dtype, self.bands, self.rows, self.cols)
  end
  local integral = not is_float(self.dtype)
  for _, b in ipairs({ lo, hi }) do
    if type(b) == "number" then
      if b ~= floor(b) then integral = false end
    elseif is_float(b.dtype) then
      integral = false
    end
  end
  local src = integral and "int32" or "number"
  local conv = kernels.conversion(out.dtype, src)
  if conv == "none" and integral and not is_float(out.dtype) then conv = "clamp" end
  -- the expression is spliced into "local v = ...; store": statements fit
  local f = kernels.elementwise("clip|" .. self.dtype .. "|" .. (is_array(lo) and lo.dtype or "s")
                                .. "|" .. (is_array(hi) and hi.dtype or "s"), { "x", "y", "m" },
                                { "a", kind(lo), kind(hi) },
                                "X; if v < Y then v = Y end; if v > M then v = M end",
                                conv, out.dtype)
  return run(f, out, self, lo, hi)
end

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
    ffi.copy(raw(out), d, self:nbytes())
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

-- The nodata value as an element of dtype holds it, which is what elements
-- are compared with (rios_ffi_dtype_nodata): a float32 array's 0.52 is
-- (float)0.52. nil when no element can hold it (a fraction or NaN for an
-- integer dtype, a number outside its range), so that none matches.
local nodata_px = ffi.new("double[1]")
local function pixel_nodata(dtype, nodata)
  if nodata == nil then return nil end
  if C.rios_ffi_dtype_nodata(base.dtype_code[dtype], nodata, nodata_px, base.err) ~= base.OK then
    return nil
  end
  return nodata_px[0]
end
M.pixel_nodata = pixel_nodata

local function reduce_args(self)
  if contiguous(self) then return 1, 1, self:size(), raw(self), 0, 0 end
  return self.bands, self.rows, self.cols, raw(self), self.band_stride, self.row_stride
end

local function stats(self, fname, nodata)
  live_data(self, fname)
  if nodata ~= nil and type(nodata) ~= "number" then
    error(fname .. ": nodata must be a number, got " .. type(nodata), 3)
  end
  nodata = pixel_nodata(self.dtype, nodata)
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
  nodata = pixel_nodata(self.dtype, nodata)
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
  if nodata ~= nil and type(nodata) ~= "number" then
    error("a:histogram: nodata must be a number, got " .. type(nodata), 2)
  end
  nodata = pixel_nodata(self.dtype, nodata)
  local counts = ffi.new("double[?]", nbins)
  local f = kernels.histogram(self.dtype, nodata ~= nil)
  local nb, nr, nc, d, bs, rs = reduce_args(self)
  f(nb, nr, nc, d, bs, rs, nodata, counts, nbins, lo, hi)
  local t = {}
  for i = 1, nbins do t[i] = counts[i - 1] end
  return t
end

----------------------------------------------------------------------------
-- rios.reduce(list, op [, {nodata =, out =}]): per element across a list of
-- arrays of one shape, over the values that are not NaN and not nodata.

local reduce_ops = { median = true, mean = true, min = true, max = true, sum = true,
                     count = true }

-- Made once per state, refilled by every call: the kernels' argument
-- tables, the median's scratch of n values (per n), the staged median's
-- planes (grown as needed).
local rP, rND, rOFF = {}, {}, {}
local median_scratch = {}
local staged = { buf = nil, cap = 0 }

-- How element validity is decided for an array of dtype whose nodata is
-- px as its elements hold it (pixel_nodata; see kernels.reduce): nil when
-- there is none or the dtype cannot hold it (a fraction, out of range), so
-- that no element equals it.
local function validity(dtype, px)
  if is_float(dtype) then
    if px == nil or px ~= px then return "nan" end
    return "float"
  end
  if px == nil then return "none" end
  return "int"
end

local function reduce_dtype(op, dtype)
  if op == "count" then return "int32" end
  if op == "min" or op == "max" then return dtype end
  return is_float(dtype) and dtype or "float64"
end

-- Run one unrolled kernel over list[i0 .. i1]: in one call when every
-- array is contiguous, else a row at a time (see kernels.reduce).
local function reduce_group(op, phase, list, i0, i1, modes, nds, branchless, out, conv, S, K,
                            empty)
  local n = i1 - i0 + 1
  local dtypes, gmodes = {}, {}
  local first = list[i0]
  local nb, nr, nc = first.bands, first.rows, first.cols
  local flat = out == nil or contiguous(out)
  for k = 1, n do
    local a = list[i0 + k - 1]
    dtypes[k], gmodes[k] = a.dtype, modes[i0 + k - 1]
    rP[k] = raw(a)
    rND[k] = nds[i0 + k - 1] or 0
    rOFF[k] = 0
    if not contiguous(a) then flat = false end
  end
  for k = n + 1, #rP do rP[k], rND[k], rOFF[k] = nil, nil, nil end
  local f = kernels.reduce({ op = op, phase = phase, dtypes = dtypes, modes = gmodes,
                             branchless = branchless, out = out and out.dtype, conv = conv })
  local sc = median_scratch[n]
  if op == "median" and not sc then
    sc = ffi.new("double[?]", n)
    median_scratch[n] = sc
  end
  local sd, kd = S and raw(S), K and raw(K)
  local od = out and raw(out)
  if flat then
    f(nb * nr * nc, od, 0, rP, rND, rOFF, sd, kd, 0, empty, sc)
    return
  end
  local obs, ors = out and out.band_stride, out and out.row_stride
  for b = 0, nb - 1 do
    for r = 0, nr - 1 do
      for k = 1, n do
        local a = list[i0 + k - 1]
        rOFF[k] = b * a.band_stride + r * a.row_stride
      end
      f(nc, od, out and (b * obs + r * ors), rP, rND, rOFF, sd, kd, (b * nr + r) * nc, empty, sc)
    end
  end
end

-- The median of lists longer than one kernel takes: a row at a time, in
-- planes of float64 (see kernels.median_gather).
local STAGE_STEPS = 16
local function staged_median(list, modes, nds, branchless, out, conv, empty)
  local n = #list
  local nb, nr, nc = out.bands, out.rows, out.cols
  -- planes a whole number of cache lines apart, but not of 512 bytes
  -- (see kernels.median_stage)
  local pitch = math.ceil(nc / 8) * 8
  if pitch % 64 == 0 then pitch = pitch + 8 end
  local need = (n + 1) * pitch
  if staged.cap < need then
    staged.buf = ffi.new("double[?]", need)
    staged.cap = need
  end
  local S = staged.buf
  local K = S + n * pitch
  local gathers = {}
  for k = 1, n do
    gathers[k] = kernels.median_gather(list[k].dtype, modes[k], branchless)
  end
  local stages, net = {}, kernels.network(n)
  for i = 1, #net, STAGE_STEPS do
    stages[#stages + 1] = kernels.median_stage(n, i, math.min(i + STAGE_STEPS - 1, #net))
  end
  local pick = kernels.median_pick(out.dtype, conv)
  local od, obs, ors = raw(out), out.band_stride, out.row_stride
  for b = 0, nb - 1 do
    for r = 0, nr - 1 do
      ffi.fill(K, nc * 8, 0)
      for k = 1, n do
        local a = list[k]
        gathers[k](nc, raw(a), b * a.band_stride + r * a.row_stride, S, (k - 1) * pitch, K,
                   nds[k] or 0)
      end
      for i = 1, #stages do stages[i](nc, S, pitch) end
      pick(nc, od, b * obs + r * ors, S, K, empty, pitch)
    end
  end
end

function M.reduce(list, op, opts)
  local fname = "rios.reduce"
  if type(list) ~= "table" or is_array(list) or list[1] == nil then
    error(fname .. ": the first argument must be a list of arrays, got "
          .. (is_array(list) and "one array" or type(list)), 2)
  end
  if not reduce_ops[op] then
    error(fname .. ": the operation must be median, mean, min, max, sum or count, got "
          .. tostring(op), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(fname .. ": the options must be a table like {nodata = 0}, got " .. type(opts), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "nodata" and k ~= "out" then
      error(fname .. ": unknown option " .. tostring(k) .. " (it takes nodata and out)", 2)
    end
  end
  local n = #list
  local first = list[1]
  local dtype
  for i = 1, n do
    local a = list[i]
    if not is_array(a) then
      error(string.format("%s: list[%d] must be an array, got %s", fname, i, type(a)), 2)
    end
    live_data(a, fname)
    if a.bands ~= first.bands or a.rows ~= first.rows or a.cols ~= first.cols then
      error(string.format("%s: list[%d] has shape %d x %d x %d but list[1] is %d x %d x %d "
                          .. "(bands x rows x cols)", fname, i, a.bands, a.rows, a.cols,
                          first.bands, first.rows, first.cols), 2)
    end
    dtype = dtype and promote(dtype, a.dtype) or a.dtype
  end
  for k in pairs(list) do
    if type(k) ~= "number" or k < 1 or k > n or k ~= floor(k) then
      error(fname .. ": the list has an entry at " .. tostring(k) .. " beyond its "
            .. n .. " arrays (a list has no holes)", 2)
    end
  end
  -- nodata: one number, or one per array
  local nodata, nds = opts.nodata, {}
  if type(nodata) == "number" then
    for i = 1, n do nds[i] = nodata end
  elseif type(nodata) == "table" then
    if #nodata ~= n then
      error(string.format("%s: nodata has %d values for %d arrays", fname, #nodata, n), 2)
    end
    for i = 1, n do
      if type(nodata[i]) ~= "number" then
        error(string.format("%s: nodata must be a number or a list of %d numbers (one per "
                            .. "array); nodata[%d] is %s", fname, n, i, tostring(nodata[i])), 2)
      end
      nds[i] = nodata[i]
    end
  elseif nodata ~= nil then
    error(fname .. ": nodata must be a number or a list of numbers, got " .. type(nodata), 2)
  end
  local out = check_out(fname, first, opts.out)
  out = out or alloc(reduce_dtype(op, dtype), first.bands, first.rows, first.cols)
  local modes, pxs, branchless = {}, {}, true
  for i = 1, n do
    -- each array's elements are compared with its nodata as they hold it
    pxs[i] = pixel_nodata(list[i].dtype, nds[i])
    modes[i] = validity(list[i].dtype, pxs[i])
    if is_float(list[i].dtype) then branchless = false end
  end
  -- where nothing is valid: the (first) nodata value, else NaN
  local empty = kernels.convert(out.dtype, nds[1] or 0 / 0)
  local from = (op == "min" or op == "max") and dtype or op == "count" and "int32" or "number"
  local conv = kernels.conversion(out.dtype, from)
  local G = kernels.REDUCE_GROUP
  if n <= G then
    reduce_group(op, "whole", list, 1, n, modes, pxs, branchless, out, conv, nil, nil, empty)
  elseif op == "median" then
    staged_median(list, modes, pxs, branchless, out, conv, empty)
  else
    -- groups of G into float64 accumulator and count planes of out's shape
    local S = op ~= "count" and alloc("float64", out.bands, out.rows, out.cols) or nil
    local K = alloc("float64", out.bands, out.rows, out.cols)
    for i0 = 1, n, G do
      local i1 = math.min(i0 + G - 1, n)
      local phase = i0 == 1 and "init" or i1 == n and "final" or "acc"
      reduce_group(op, phase, list, i0, i1, modes, pxs, branchless,
                   phase == "final" and out or nil, conv, S, K, empty)
    end
  end
  return out
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
