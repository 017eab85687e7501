-- rios.codec: what crosses between Lua states (a compute worker's otherargs,
-- its results, the history of earlier calls) goes through a data-only
-- codec; arrays and views travel as their elements; bad bytes are an error,
-- never a crash and never code.
local H = require("support.helpers")
local rios = require("rios")
local codec = require("rios.codec")

-- Every element of an array, band by band, row by row, through checked
-- access (so views are read through their strides).
local function elements(a)
  local t = {}
  for b = 1, a.bands do
    for y = 0, a.rows - 1 do
      for x = 0, a.cols - 1 do t[#t + 1] = a:get(x, y, b) end
    end
  end
  return table.concat(t, " ")
end

local function counting(dtype, bands, rows, cols)
  local a = rios.array(dtype, bands, rows, cols)
  for i = 0, bands * rows * cols - 1 do a.data[i] = i + 1 end
  return a
end

describe("rios.codec", function()
  after_each(H.cleanup)

  it("copies a window view as its own elements, not the parent's next ones", function()
    local a = counting("int16", 1, 4, 4)
    local w = a:window(1, 1, 2, 2)
    local back = codec.decode(codec.encode({ w = w }, "otherargs")).w
    assert.are.equal("6 7 10 11", elements(back))
    assert.are.equal("6 7 10 11", elements(w))
    assert.is_true(back:is_contiguous())
  end)

  it("round-trips every dtype, band views, windows of several bands and nested tables", function()
    for _, dtype in ipairs(rios.dtypes) do
      local a = counting(dtype, 3, 5, 6)
      local v = { a = a, band = a:band(2), win = a:window(2, 1, 2, 3),
                  nested = { list = { 1, 2.5, "x", true, { deep = a:band(3):window(0, 0, 2, 2) } },
                             [7] = -0.5, ["a key"] = false } }
      local back = codec.decode(codec.encode(v, "otherargs"))
      assert.are.equal(dtype, back.a.dtype)
      assert.are.equal(elements(a), elements(back.a))
      assert.are.equal(elements(a:band(2)), elements(back.band))
      assert.are.equal(elements(a:window(2, 1, 2, 3)), elements(back.win))
      assert.are.equal(3, back.win.bands)
      assert.are.equal(elements(a:band(3):window(0, 0, 2, 2)),
                       elements(back.nested.list[5].deep))
      assert.are.same({ 1, 2.5, "x", true }, { unpack(back.nested.list, 1, 4) })
      assert.are.equal(-0.5, back.nested[7])
      assert.are.equal(false, back.nested["a key"])
    end
  end)

  it("keeps float specials and large integers exactly", function()
    local v = { 0 / 0, math.huge, -math.huge, 2 ^ 53, -2 ^ 60, 1 / 3, 5e-324 }
    local back = codec.decode(codec.encode(v))
    assert.is_true(back[1] ~= back[1])
    for i = 2, #v do assert.are.equal(v[i], back[i]) end
  end)

  it("names the place of what cannot be copied", function()
    local function fails(v, msg)
      local ok, err = pcall(codec.encode, v, "otherargs")
      assert.is_false(ok)
      assert.are.equal(msg, err)
    end
    fails({ stats = { { f = print } } }, "otherargs.stats[1].f is a function, which cannot be "
          .. "copied to another Lua state (only numbers, strings, booleans, tables and rios "
          .. "arrays can)")
    local loop = {}
    loop.inner = { back = loop }
    fails(loop, "otherargs.inner.back is a table that contains itself")
    fails({ [{}] = 1 }, "otherargs has a key that is a table (keys must be strings, "
          .. "numbers or booleans)")
    local a = rios.array("uint8", 1, 2, 2)
    a.data = nil
    fails({ x = a }, "otherargs.x is an array that was already released")
  end)

  it("gives an error, never a crash or a value, for every truncation of real bytes", function()
    local bytes = codec.encode({ a = counting("float64", 2, 3, 3), s = "text", n = { 1, 2, 3 } })
    for cut = 0, #bytes - 1 do
      local ok, err = pcall(codec.decode, bytes:sub(1, cut), "a job")
      assert.is_false(ok, "a prefix of " .. cut .. " bytes decoded")
      assert.truthy(tostring(err):match("^cannot decode a job: "), err)
    end
    local ok, err = pcall(codec.decode, bytes .. "x")
    assert.is_false(ok)
    assert.truthy(err:match("left over"), err)
  end)

  it("gives an error for random bytes, and for random bytes after a valid header", function()
    math.randomseed(20261202)
    local decoded_after_magic = 0
    for i = 1, 20000 do
      local t = {}
      for j = 1, math.random(0, 80) do t[j] = string.char(math.random(0, 255)) end
      local s = table.concat(t)
      local ok, err = pcall(codec.decode, s)
      assert.is_false(ok, "random bytes decoded")
      assert.are.equal("string", type(err))
      -- after the magic, string.buffer checks the structure; what decodes
      -- is plain data (never code), and arrays are checked against their
      -- bytes
      local ok2, v = pcall(codec.decode, codec.MAGIC .. s)
      if ok2 then
        decoded_after_magic = decoded_after_magic + 1
        local tv = type(v)
        assert.truthy(tv == "nil" or tv == "number" or tv == "string" or tv == "boolean"
                      or tv == "table", tv)
      end
      local _ = i
    end
    assert.is_true(decoded_after_magic < 20000)
  end)

  it("refuses bytes that declare more than they hold, before allocating it", function()
    -- a table said to have 2^26 array slots, in 10 bytes: string.buffer
    -- alone would allocate 512 MB before finding the end
    local before = collectgarbage("count")
    local ok, err = pcall(codec.decode, codec.MAGIC .. "\10\255" .. "\0\0\0\4", "a frame")
    assert.is_false(ok)
    assert.are.equal("cannot decode a frame: a table declares more entries than there are bytes", err)
    assert.is_true(collectgarbage("count") - before < 1024)
    -- what rios.codec never writes: 64-bit integers, light userdata, string dictionaries
    for _, s in ipairs({ "\16" .. string.rep("\0", 8), "\5" .. string.rep("\0", 8), "\15\0" }) do
      ok, err = pcall(codec.decode, codec.MAGIC .. s)
      assert.is_false(ok)
      assert.truthy(err:match("never encodes"), err)
    end
    -- nesting deeper than the encoder writes
    ok, err = pcall(codec.decode, codec.MAGIC .. string.rep("\10\1", 200) .. "\0")
    assert.is_false(ok)
    assert.truthy(err:match("nest too deep"), err)
  end)

  it("checks an array's fields against its bytes", function()
    -- an int16 array's encoding relabelled int32: half the bytes it needs
    local bytes = codec.encode({ x = counting("int16", 1, 2, 2) })
    local relabelled, n = bytes:gsub("int16", "int32")
    assert.are.equal(1, n)
    local ok, err = pcall(codec.decode, relabelled, "otherargs")
    assert.is_false(ok)
    assert.are.equal("cannot decode otherargs: an array's fields do not match its bytes", err)
    assert.are.equal("1 2 3 4", elements(codec.decode(bytes).x))
  end)
end)

describe("otherargs through compute threads", function()
  after_each(H.cleanup)

  it("reaches every thread with the main state's element values and comes back equal", function()
    local dir = H.tmpdir()
    H.make_raster(dir .. "/a.tif", "uint8", 1, 40, 40, function(_, r, c) return r + c end)
    local f = assert(io.open(dir .. "/oa.lua", "w"))
    f:write([[
local rios = require("rios")
local function elements(a)
  local t = {}
  for b = 1, a.bands do for y = 0, a.rows - 1 do for x = 0, a.cols - 1 do
    t[#t + 1] = a:get(x, y, b)
  end end end
  return table.concat(t, " ")
end
local big = rios.array("float32", 2, 4, 4)
for i = 0, 31 do big.data[i] = i + 0.25 end
local oa = { win = big:window(1, 1, 2, 2), band = big:band(2),
             nested = { name = "x", list = { 1, 2, { deep = big:window(2, 0, 2, 3) } } },
             acc = rios.array("int32", 1, 1, 2) }
local res = rios.apply(function(info, inputs, outputs, o)
  o.seen = o.seen or {}
  o.seen[#o.seen + 1] = elements(o.win) .. "|" .. elements(o.band) .. "|"
                        .. elements(o.nested.list[3].deep) .. "|" .. o.nested.name
  o.acc.data[0] = o.acc.data[0] + 1
  o.acc.data[1] = o.acc.data[1] + inputs.a.data[0]
  outputs.o = inputs.a
end, { a = "a.tif" }, { o = "o.tif" }, oa,
  { window_xsize = 10, window_ysize = 10,
    concurrency = { read_workers = 1, compute_workers = 2, kind = "threads" } })
local want = elements(oa.win) .. "|" .. elements(oa.band) .. "|"
             .. elements(oa.nested.list[3].deep) .. "|x"
print(want)
local blocks, acc0, acc1 = 0, 0, 0
for w, copy in ipairs(res.otherargs_list) do
  for _, s in ipairs(copy.seen or {}) do
    assert(s == want, "worker " .. w .. " saw " .. s)
    blocks = blocks + 1
  end
  assert(elements(copy.win) == elements(oa.win), "worker " .. w .. "'s win came back changed")
  acc0, acc1 = acc0 + copy.acc.data[0], acc1 + copy.acc.data[1]
end
print(elements(oa.acc))
print(acc0, acc1)
print(blocks)
]])
    f:close()
    local status, out, err = H.run("cd " .. H.q(dir) .. " && " .. H.q(H.exe) .. " oa.lua")
    assert.are.equal(0, status, err)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal("5.25 6.25 9.25 10.25 21.25 22.25 25.25 26.25|16.25 17.25 18.25 19.25 "
                     .. "20.25 21.25 22.25 23.25 24.25 25.25 26.25 27.25 28.25 29.25 30.25 31.25|"
                     .. "2.25 3.25 6.25 7.25 10.25 11.25 18.25 19.25 22.25 23.25 26.25 27.25|x",
                     lines[1])
    -- the caller's array is untouched; the copies' counts add up to every
    -- block, and their sums to the first pixel of every block (r + c at
    -- multiples of 10: 10 * (row block + col block) over the 4 x 4 blocks = 480)
    assert.are.equal("0 0", lines[2])
    assert.are.equal("16\t480", lines[3])
    assert.are.equal("16", lines[4])   -- every block saw the same values
  end)
end)
