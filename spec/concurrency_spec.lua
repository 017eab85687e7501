-- Concurrency on one machine: read workers, compute threads with their own
-- Lua states, block buffers with timeouts. Every run is a real rios-lua
-- process with real threads on real GeoTIFFs; results are compared byte for
-- byte with the sequential run of the same script.
local ffi = require("ffi")
local C = require("rios.base").C
local H = require("support.helpers")

local cases = require("support.cases")
local slurp, run, write, matrix_script = cases.slurp, cases.run, cases.write, cases.matrix_script
local make_matrix_inputs, outputs_of = cases.make_matrix_inputs, cases.outputs_of

describe("concurrency", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(H.cleanup)

  it("gives outputs byte-identical to the sequential run under every allowed combination", function()
    make_matrix_inputs(dir)
    write(dir, "m.lua", matrix_script)
    local function go(nread, ncompute)
      local tag = nread .. "_" .. ncompute
      local opts = "--read-workers " .. nread .. " -j " .. ncompute
      return tag, run(dir, opts, "m.lua", { "f_" .. tag .. ".tif", "s_" .. tag .. ".tif",
                                            "d_" .. tag .. ".tif" })
    end
    local _, status, seq_out, err = go(0, 0)
    assert.are.equal(0, status, err)
    local n, counts, blocks, pixels, sum, seen = seq_out:match(
      "^(%d+)\t(%S+)\t(%d+)\t(%d+)\t(%S+)\t(%d+)\n$")
    assert.are.equal("1", n)
    assert.are.equal("16", blocks)         -- ceil(150/48) x ceil(130/40)
    assert.are.equal(tostring(130 * 150), pixels)
    assert.are.equal("0", seen)
    assert.are.equal(blocks, counts)
    local seq = outputs_of(dir, "0_0")
    local ran = 0
    for _, nread in ipairs({ 0, 1, 3 }) do
      for _, ncompute in ipairs({ 0, 1, 2, 4 }) do
        if not (nread == 0 and ncompute == 0) then
          local tag, st, out, e = go(nread, ncompute)
          if nread == 0 and ncompute > 0 then
            assert.are.equal(1, st)
            assert.truthy(e:find("read_workers = 0", 1, true), e)
            assert.truthy(e:find("RIOS refuses", 1, true), e)
          else
            assert.are.equal(0, st, tag .. ": " .. e)
            ran = ran + 1
            local got = outputs_of(dir, tag)
            for k, bytes in pairs(seq) do
              assert.are.equal(#bytes, #got[k], tag .. " " .. k)
              assert.is_true(bytes == got[k], tag .. ": " .. k .. " differs from the sequential run")
            end
            local gn, gcounts, gblocks, gpixels, gsum, gseen = out:match(
              "^(%d+)\t(%S+)\t(%d+)\t(%d+)\t(%S+)\t(%d+)\n$")
            local expect_n = math.max(ncompute, 1)
            assert.are.equal(tostring(expect_n), gn, tag)
            local total, busy = 0, 0
            for c in gcounts:gmatch("%d+") do
              total = total + tonumber(c)
              if c ~= "0" then busy = busy + 1 end
            end
            assert.are.equal(16, total, tag .. " counts " .. gcounts)
            -- merge_otherargs folds the copies into what the sequential run had.
            assert.are.equal(blocks, gblocks, tag)
            assert.are.equal(pixels, gpixels, tag)
            assert.are.equal(sum, gsum, tag)
            -- every copy that computed a block was made in a worker
            assert.are.equal(tostring(ncompute > 0 and busy or 0), gseen, tag)
          end
        end
      end
    end
    assert.are.equal(8, ran)
  end)

  it("reads warped, band-selected and rasterized inputs in read workers as the main thread does", function()
    cases.make_warped_inputs(dir)
    local status, _, err = run(dir, "", "warped.lua", { "seq.tif", "{}" })
    assert.are.equal(0, status, err)
    for _, rc in ipairs({ { 2, 0 }, { 1, 2 } }) do
      local out = "par_" .. rc[1] .. "_" .. rc[2] .. ".tif"
      status, _, err = run(dir, "", "warped.lua", { out, string.format(
        "{ read_workers = %d, compute_workers = %d, kind = %q }", rc[1], rc[2],
        rc[2] > 0 and "threads" or "none") })
      assert.are.equal(0, status, err)
      assert.is_true(slurp(dir .. "/seq.tif") == slurp(dir .. "/" .. out), out)
    end
    -- and the pixels are what the inputs hold (band 2: rgb band 3 at row 5, col 6)
    local a = H.read(dir .. "/seq.tif")
    assert.are.equal(2000 + 5 - 6, a.data[(1 * 60 + 5) * 70 + 6])
    assert.are.equal(7 + (10 + 10) % 200, a.data[(3 * 60 + 10) * 70 + 10])
  end)

  it("runs the concurrency set in controls, and a worker's array made before apply is copied", function()
    -- 96 x 64 in 32 x 32 windows: every block has the same shape, so the
    -- script can fill one array made before apply for every block.
    H.make_raster(dir .. "/a.tif", "int16", 1, 64, 96, function(_, r, c) return r * 100 + c end)
    write(dir, "pre.lua", [[
local rios = require("rios")
local nread, ncompute = tonumber(arg[2]), tonumber(arg[3])
local out = rios.array("int16", 1, 32, 32)
local oa = { n = 0 }
local res = rios.apply(function(info, inputs, outputs, o)
  local a = inputs.a
  for i = 0, 32 * 32 - 1 do out.data[i] = a.data[i] * 2 + 1 end
  o.n = o.n + 1
  outputs.o = out
end, { a = "a.tif" }, { o = arg[1] }, oa,
  { window_xsize = 32, window_ysize = 32,
    concurrency = { read_workers = nread, compute_workers = ncompute,
                    kind = ncompute > 0 and "threads" or "none" } })
local ns = {}
for i, x in ipairs(res.otherargs_list) do ns[i] = x.n end
print(#res.otherargs_list, table.concat(ns, " "), oa.n)
]])
    local status, out, err = run(dir, "", "pre.lua", { "seq.tif", 0, 0 })
    assert.are.equal(0, status, err)
    assert.are.equal("1\t6\t6\n", out)
    status, out, err = run(dir, "", "pre.lua", { "par.tif", 2, 3 })
    assert.are.equal(0, status, err)
    local n, ns, mine = out:match("^(%d+)\t([%d ]+)\t(%d+)\n$")
    assert.are.equal("3", n)
    local total = 0
    for x in ns:gmatch("%d+") do total = total + tonumber(x) end
    assert.are.equal(6, total)
    -- without merge_otherargs the caller's table is left as it was
    assert.are.equal("0", mine)
    assert.is_true(slurp(dir .. "/seq.tif") == slurp(dir .. "/par.tif"))
    local a = H.read(dir .. "/par.tif")
    assert.are.equal(2 * (10 * 100 + 20) + 1, a.data[10 * 96 + 20])
  end)

  it("gives each worker a deep copy of otherargs as it was when apply was called", function()
    H.make_raster(dir .. "/a.tif", "uint8", 1, 40, 40, function() return 1 end)
    write(dir, "copy.lua", (([[
local rios = require("rios")
local oa = { base = 1, nested = { list = { 1, 2, 3 }, name = "x" }, flag = true,
             lut = rios.array("float64", 1, 1, 3) }
oa.lut.data[2] = 2.5
local res = rios.apply(function(info, inputs, outputs, o)
  assert(o.base == 10 and o.nested.list[3] == 3 and o.nested.name == "x" and o.flag == true)
  assert(o.lut.data[2] == 2.5)
  o.mine = (o.mine or 0) + 1
  outputs.o = inputs.a
end, { a = "a.tif" }, { o = "o.tif" }, oa,
  { window_xsize = 20, window_ysize = 20,
    concurrency = { read_workers = 1, compute_workers = 2, kind = "threads" } })
-- changed after apply: no worker saw it
local total = 0
for _, c in ipairs(res.otherargs_list) do
  assert(c ~= oa and c.base == 10)
  total = total + (c.mine or 0)
end
print(#res.otherargs_list, total, oa.mine)
]]):gsub("local res = rios.apply", "oa.base = 10\nlocal res = rios.apply")))
    local status, out, err = run(dir, "", "copy.lua")
    assert.are.equal(0, status, err)
    assert.are.equal("2\t4\tnil\n", out)
  end)

  it("refuses otherargs that cannot be copied, naming the place, before touching a file", function()
    write(dir, "fnarg.lua", [[
local rios = require("rios")
rios.apply(function() end, { a = "missing.tif" }, { o = "o.tif" },
  { stats = { { f = print } } },
  { concurrency = { read_workers = 1, compute_workers = 2, kind = "threads" } })
]])
    local status, _, err = run(dir, "", "fnarg.lua")
    assert.are.equal(1, status)
    assert.are.equal("fnarg.lua:2: rios.apply: otherargs.stats[1].f is a function, which "
                     .. "cannot be copied to another Lua state (only numbers, strings, booleans, "
                     .. "tables and rios arrays can); each compute worker gets a copy of it\n", err)
  end)

  describe("refuses", function()
    local cases = {
      { "{ compute_workers = 2, kind = 'none', read_workers = 1 }", "but kind is \"none\"" },
      { "{ compute_workers = 2, read_workers = 1 }", "but kind is \"none\"" },
      { "{ kind = 'threads' }", "kind is \"threads\" but compute_workers = 0" },
      { "{ compute_workers = 2, kind = 'threads' }",
        "compute_workers = 2 with read_workers = 0" },
      { "{ compute_workers = 2, kind = 'threads', read_workers = 1, compute_workers_read = true }",
        "compute threads cannot read their own input" },
      { "{ single_block_workers = true, compute_workers = 2, kind = 'threads' }",
        "compute_workers must not be set when single_block_workers is true" },
      { "{ single_block_workers = true, read_workers = 1 }",
        "single_block_workers needs read_workers = 0" },
      { "{ single_block_workers = true, kind = 'threads' }",
        "compute threads cannot be single_block_workers" },
      { "{ single_block_workers = true, kind = 'subproc' }",
        "single_block_workers is for the batch kinds (\"slurm\", \"pbs\"), not kind \"subproc\"" },
      { "{ single_block_workers = true, kind = 'slurm', compute_workers_read = false }",
        "single_block_workers read their own block; compute_workers_read = false cannot" },
      { "{ compute_workers = 1, kind = 'ecs', read_workers = 1 }", "kind \"ecs\" is not available" },
      { "{ kind = 'gpu' }", "key 'kind' must be one of \"none\", \"threads\"" },
      { "{ read_workers = -1 }", "key 'read_workers' must be a whole number >= 0, got -1" },
      { "{ read_workers = 1, read_buffer_pop_timeout = 0 }",
        "key 'read_buffer_pop_timeout' must be a number of seconds > 0, or false" },
      { "{ read_workers = 1, threads = 2 }", "unknown controls.concurrency key 'threads'" },
      { "4", "controls key 'concurrency' must be a table" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        -- The input does not exist: the refusal comes before any file is opened.
        write(dir, "r.lua", "local rios = require('rios')\n"
              .. "rios.apply(function() end, { a = 'missing.tif' }, { o = 'o.tif' }, nil,\n"
              .. "  { concurrency = " .. case[1] .. " })\n")
        local status, out, err = run(dir, "", "r.lua")
        assert.are.equal(1, status)
        assert.are.equal("", out)
        assert.are.equal(1, select(2, err:gsub("\n", "")), "not one line: " .. err)
        assert.truthy(err:match("^r%.lua:2: "), err)
        assert.truthy(err:find(case[2], 1, true), "expected '" .. case[2] .. "' in " .. err)
        assert.is_nil(slurp(dir .. "/o.tif"))
      end)
    end

    it("bad command-line counts", function()
      local status, _, err = run(dir, "-j two", "r.lua")
      assert.are.equal(1, status)
      assert.are.equal("rios-lua: '-j' needs a whole number from 0 to 4096, got 'two'\n", err)
    end)

    -- Checked before the script runs: its own output never appears.
    for _, case in ipairs({
      { "--kind foo", "rios-lua: --kind foo is not a kind of compute worker (known: none, "
                      .. "threads, subproc, slurm, pbs, ecs)" },
      { "--kind threads", "rios-lua: --kind threads needs -j N, the number of compute workers" },
      { "--kind subproc", "rios-lua: --kind subproc needs -j N, the number of compute workers" },
      { "-j 2 --kind none", "rios-lua: -j 2 asks for compute workers but --kind none has none; "
                            .. "leave out --kind none, or name a kind such as --kind threads" },
      { "-j 1 --kind ecs", "kind \"ecs\" is not available in this rios-lua yet" },
    }) do
      it("refuses '" .. case[1] .. "' before the script runs", function()
        write(dir, "p.lua", 'print("script ran")\n')
        local status, out, err = run(dir, case[1], "p.lua")
        assert.are.equal(1, status)
        assert.are.equal("", out)
        assert.are.equal(1, select(2, err:gsub("\n", "")), "not one line: " .. err)
        assert.truthy(err:find(case[2], 1, true), "expected '" .. case[2] .. "' in " .. err)
      end)
    end
  end)

  it("allows more compute threads than CPUs with a one-line warning", function()
    H.make_raster(dir .. "/a.tif", "uint8", 1, 30, 30, function() return 3 end)
    local n = C.rios_ffi_cpu_count() + 1
    write(dir, "many.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.o = inputs.a end,
  { a = "a.tif" }, { o = "o.tif" }, nil, { window_xsize = 10, window_ysize = 10 })
]])
    local status, _, err = run(dir, "-j " .. n, "many.lua")
    assert.are.equal(0, status, err)
    assert.are.equal(string.format("rios-lua: warning: %d compute threads on %d CPUs; they "
                                   .. "will share the CPUs\n", n, n - 1), err)
    assert.is_true(slurp(dir .. "/o.tif") ~= nil)
  end)

  describe("timeouts", function()
    before_each(function()
      H.make_raster(dir .. "/a.tif", "uint8", 1, 20, 60, function() return 1 end)
      write(dir, "slow.lua", [=[
local rios = require("rios")
local C = require("ffi").C
local conc = { read_workers = 1, compute_workers = tonumber(arg[1]) }
conc.kind = conc.compute_workers > 0 and "threads" or "none"
conc[arg[2]] = 1
rios.apply(function(info, inputs, outputs)
  C.rios_ffi_sleep(1.6)
  outputs.o = inputs.a
end, { a = "a.tif" }, { o = "o.tif" }, nil,
  { window_xsize = 10, window_ysize = 20, concurrency = conc })
]=])
    end)

    it("a writer that waits longer than compute_buffer_pop_timeout stops the run", function()
      local status, _, err = run(dir, "", "slow.lua", { 1, "compute_buffer_pop_timeout" })
      assert.are.equal(1, status)
      assert.are.equal("slow.lua:6: rios.apply failed: timeout waiting for block 0 from the "
                       .. "compute buffer (0 blocks had already been written); if no compute "
                       .. "worker is stuck or failing, raise controls.concurrency."
                       .. "compute_buffer_pop_timeout (current value = 1)\n", err)
    end)

    it("a read worker that cannot insert for read_buffer_insert_timeout stops the run", function()
      local status, _, err = run(dir, "", "slow.lua", { 0, "read_buffer_insert_timeout" })
      assert.are.equal(1, status)
      assert.truthy(err:match("^slow%.lua:6: rios%.apply failed: timeout in read worker 1 "
                              .. "inserting block %d into the read buffer %(%d blocks had "
                              .. "already been taken from it%); if no worker is stuck or "
                              .. "failing, raise controls%.concurrency%.read_buffer_insert_timeout "
                              .. "%(current value = 1%)\n$"), err)
    end)

    it("false means no limit", function()
      write(dir, "forever.lua", [[
local rios = require("rios")
local C = require("ffi").C
rios.apply(function(info, inputs, outputs)
  C.rios_ffi_sleep(0.2)
  outputs.o = inputs.a
end, { a = "a.tif" }, { o = "o.tif" }, nil,
  { window_xsize = 10, window_ysize = 20,
    concurrency = { read_workers = 1, compute_workers = 1, kind = "threads",
                    read_buffer_insert_timeout = false, read_buffer_pop_timeout = false,
                    compute_buffer_insert_timeout = false, compute_buffer_pop_timeout = false,
                    barrier_timeout = false } })
]])
      local status, _, err = run(dir, "", "forever.lua")
      assert.are.equal(0, status, err)
      assert.are.equal("", err)
    end)
  end)

  describe("an error in a worker", function()
    before_each(function()
      H.make_raster(dir .. "/a.tif", "uint8", 1, 40, 60, function() return 1 end)
      write(dir, "err.lua", [[
local rios = require("rios")
local C = require("ffi").C
local which = arg[1]
rios.apply(function(info, inputs, outputs)
  local x, y = info:block_count()
  if which == "two" and y == 0 and x < 2 then
    C.rios_ffi_sleep(0.5)
    error("boom in block " .. x)
  end
  if (which == "first" and info:is_first_block()) or (which == "last" and info:is_last_block()) then
    error("boom in block " .. x .. "," .. y)
  end
  outputs.o = inputs.a
end, { a = "a.tif" }, { o = "o.tif" }, nil,
  { window_xsize = 20, window_ysize = 20,
    concurrency = { read_workers = 1, compute_workers = 2, kind = "threads" } })
print("not reached")
]])
    end)

    local function check(status, out, err, block)
      assert.are.equal(1, status)
      assert.are.equal("", out)
      local head = "^err%.lua:4: rios%.apply failed: compute worker [12]: error in the block "
                   .. "function in block " .. block:gsub("%p", "%%%0") .. ":\n"
      assert.truthy(err:match(head), err)
      assert.truthy(err:find("\nerr.lua:%d+: boom in block", 1) , err)
      assert.truthy(err:find("\nstack traceback:\n", 1, true), err)
      assert.truthy(err:find("err.lua:4: in main chunk", 1, true), err)
    end

    it("in the first block", function()
      local status, out, err = run(dir, "", "err.lua", { "first" })
      check(status, out, err, "(row 0, col 0) [x=0 y=0 20x20]")
      assert.truthy(err:find("err.lua:11: boom in block 0,0", 1, true), err)
    end)

    it("in the last block", function()
      local status, out, err = run(dir, "", "err.lua", { "last" })
      check(status, out, err, "(row 1, col 2) [x=40 y=20 20x20]")
      assert.truthy(err:find("err.lua:11: boom in block 2,1", 1, true), err)
    end)

    it("in two workers at once", function()
      local status, out, err = run(dir, "", "err.lua", { "two" })
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.truthy(err:match("^err%.lua:4: rios%.apply failed: compute worker [12]: error in "
                              .. "the block function in block %(row 0, col [01]%)"), err)
      assert.truthy(err:find("err.lua:8: boom in block", 1, true), err)
      assert.truthy(err:find("(and 1 more error in other workers)", 1, true), err)
    end)

    it("from GDAL in a read worker names the worker, block and file", function()
      -- An uncompressed GeoTIFF cut short: its header opens, later strips fail.
      H.make_raster(dir .. "/big.tif", "uint8", 1, 200, 100, function(_, r) return r end,
                    { creation_options = { "TILED=NO", "COMPRESS=NONE" } })
      local f = assert(io.open(dir .. "/big.tif", "rb"))
      local bytes = f:read("*a")
      f:close()
      f = assert(io.open(dir .. "/cut.tif", "wb"))
      f:write(bytes:sub(1, #bytes - 12000))
      f:close()
      write(dir, "cut.lua", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.o = inputs.a end,
  { a = "cut.tif" }, { o = "o.tif" }, nil,
  { window_xsize = 100, window_ysize = 50,
    concurrency = { read_workers = 2, compute_workers = 1, kind = "threads" } })
]])
      local status, _, err = run(dir, "", "cut.lua")
      assert.are.equal(1, status)
      assert.truthy(err:match("^cut%.lua:2: rios%.apply failed: read worker [12], block %(row %d, "
                              .. "col 0%) %[x=0 y=%d+ 100x50%]: cut%.tif: read of window"), err)
    end)
  end)

  describe("stops every thread and exits 1", function()
    before_each(function()
      H.make_raster(dir .. "/a.tif", "uint8", 1, 40, 60, function() return 1 end)
      write(dir, "e.lua", [[
local rios = require("rios")
local mode = arg[1]
if mode == "pre" and rios.is_worker() then error("only in workers") end
if mode == "skip" and rios.is_worker() then return end
rios.apply(function(info, inputs, outputs)
  if mode == "shape" then outputs.o = rios.array("uint8", 1, 3, 3) return end
  if mode == "dtype" and not info:is_first_block() then outputs.o = inputs.a:like("int16") return end
  outputs.o = inputs.a
end, { a = "a.tif" }, { o = "o.tif" }, nil, { window_xsize = 20, window_ysize = 20,
  concurrency = { read_workers = 1, compute_workers = 2, kind = "threads" } })
print("not reached")
]])
    end)

    it("when the script fails in a worker before apply", function()
      local status, out, err = run(dir, "", "e.lua", { "pre" })
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.truthy(err:match("^e%.lua:5: rios%.apply failed: compute worker [12]: e%.lua:3: "
                              .. "only in workers\nstack traceback:\n"), err)
      assert.truthy(err:find("e.lua:3: in main chunk", 1, true), err)
    end)

    it("when a worker's script ends before its apply", function()
      local status, _, err = run(dir, "", "e.lua", { "skip" })
      assert.are.equal(1, status)
      assert.truthy(err:match("^e%.lua:5: rios%.apply failed: compute worker [12]: the script "
                              .. "ended before its rios%.apply call number 1"), err)
    end)

    it("when a worker's output has the wrong shape (one line)", function()
      local status, _, err = run(dir, "", "e.lua", { "shape" })
      assert.are.equal(1, status)
      assert.truthy(err:match("^e%.lua:5: rios%.apply failed: compute worker [12]: e%.lua:5: "
                              .. "output 'o' has 3 rows x 3 cols but the block needs 20 rows x 20 cols in "
                              .. "block %(row 0, col [012]%) %[x=%d+ y=0 20x20%]\n"), err)
    end)

    it("when the writer (the main thread) fails", function()
      local status, _, err = run(dir, "", "e.lua", { "dtype" })
      assert.are.equal(1, status)
      assert.are.equal("e.lua:5: output 'o' is int16 with 1 band but the file was created as "
                       .. "uint8 with 1 band in block (row 0, col 1) [x=20 y=0 20x20]\n", err)
    end)
  end)

  it("rios.is_worker() and the script path a worker takes", function()
    H.make_raster(dir .. "/a.tif", "uint8", 1, 20, 20, function() return 1 end)
    write(dir, "w.lua", [[
local rios = require("rios")
if not rios.is_worker() then print("main") end
local res = rios.apply(function(info, inputs, outputs, o)
  o.w = rios.is_worker()
  outputs.o = inputs.a
end, { a = "a.tif" }, { o = "o.tif" }, nil,
  { window_xsize = 10, window_ysize = 10,
    concurrency = { read_workers = 1, compute_workers = 2, kind = "threads" } })
local seen = {}
for _, c in ipairs(res.otherargs_list) do seen[tostring(c.w)] = true end
print(#res.otherargs_list, seen["true"], seen["false"], rios.is_worker())
]])
    local status, out, err = run(dir, "", "w.lua")
    assert.are.equal(0, status, err)
    assert.are.equal("main\n2\ttrue\tnil\tfalse\n", out)
  end)

  it("ends a worker's script at its apply even inside the script's pcall", function()
    H.make_raster(dir .. "/a.tif", "uint8", 1, 20, 20, function() return 1 end)
    write(dir, "pc.lua", [[
local rios = require("rios")
local ok = pcall(rios.apply, function(info, inputs, outputs) outputs.o = inputs.a end,
  { a = "a.tif" }, { o = "o.tif" }, nil,
  { window_xsize = 10, window_ysize = 10,
    concurrency = { read_workers = 1, compute_workers = 2, kind = "threads" } })
print("after apply", ok, rios.is_worker())
]])
    local status, out, err = run(dir, "", "pc.lua")
    assert.are.equal(0, status, err)
    assert.are.equal("after apply\ttrue\tfalse\n", out)
  end)

  it("runs the right apply of a script with several, with what earlier ones left", function()
    H.make_raster(dir .. "/a.tif", "uint8", 1, 20, 20, function(_, r, c) return r + c end)
    write(dir, "two.lua", [[
local rios = require("rios")
local c = { window_xsize = 10, window_ysize = 10 }
-- pass 1 (in the main thread only): the largest value, kept in otherargs
local stats = { max = 0 }
rios.apply(function(info, inputs, outputs, o)
  local a = inputs.a
  for i = 0, a.rows * a.cols - 1 do
    if a.data[i] > o.max then o.max = a.data[i] end
  end
  outputs.o = a
end, { a = "a.tif" }, { o = "b.tif" }, stats,
   { window_xsize = 10, window_ysize = 10, concurrency = {} })  -- {}: not the command line's
local top = stats.max      -- an upvalue of pass 2, rebuilt in every worker
-- pass 2: scaled to 0..200 by that value
local res = rios.apply(function(info, inputs, outputs)
  local o = inputs.a:like()
  for i = 0, o.rows * o.cols - 1 do o.data[i] = inputs.a.data[i] * 200 / top end
  outputs.o = o
end, { a = "b.tif" }, { o = "c.tif" }, nil, c)
print(top, #res.otherargs_list)
]])
    local status, out, err = run(dir, "-j 2", "two.lua")
    assert.are.equal(0, status, err)
    assert.are.equal("38\t2\n", out)
    local a = H.read(dir .. "/c.tif")
    assert.are.equal(math.floor((3 + 4) * 200 / 38), a.data[3 * 20 + 4])
    assert.are.equal(200, a.data[19 * 20 + 19])
  end)

  it("--timings prints the report with the buffer waits after each apply", function()
    H.make_raster(dir .. "/a.tif", "uint8", 1, 20, 20, function() return 1 end)
    write(dir, "t.lua", [[
local rios = require("rios")
for _ = 1, 2 do
  rios.apply(function(info, inputs, outputs) outputs.o = inputs.a end,
    { a = "a.tif" }, { o = "o.tif" }, nil, { window_xsize = 10, window_ysize = 10 })
end
]])
    local status, out, err = run(dir, "--timings -j 2", "t.lua")
    assert.are.equal(0, status, err)
    assert.are.equal("", out)
    assert.are.equal(2, select(2, err:gsub("Wall clock elapsed time", "")))
    for _, name in ipairs({ "reading", "userfunction", "writing", "insert_readbuffer",
                            "pop_readbuffer", "insert_computebuffer", "pop_computebuffer" }) do
      assert.truthy(err:find("\n" .. name .. " ", 1, true), name .. " missing in " .. err)
    end
  end)

  it("lays out the pipeline structs as C does", function()
    local checks = {
      { 0, ffi.sizeof("rios_pipe_input") },
      { 1, ffi.sizeof("rios_pipe_config") },
      { 2, ffi.offsetof("rios_pipe_config", "inputs") },
      { 3, ffi.offsetof("rios_pipe_config", "read_insert_timeout") },
      { 4, ffi.sizeof("rios_block_out") },
      { 5, ffi.sizeof("rios_block") },
      { 6, ffi.offsetof("rios_block", "inputs") },
      { 7, ffi.offsetof("rios_block", "outputs") },
    }
    for _, c in ipairs(checks) do
      assert.are.equal(tonumber(C.rios_ffi_pipeline_layout(c[1])), c[2], "layout item " .. c[1])
    end
  end)
end)
