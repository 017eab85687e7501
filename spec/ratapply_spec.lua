-- rios.ratapply: a function over blocks of attribute-table rows, on real
-- HFA and GTiff files; results read back with rios.rat and gdalinfo.
local H = require("support.helpers")
local rios = require("rios")

-- A thematic uint8 raster with a "Value" column of rows rows: 500 in row 0,
-- row + 10 elsewhere.
local function table_file(path, driver, rows)
  H.make_raster(path, "uint8", 1, 100, 1, function(_, r)
    if r >= 1 and r < 10 then return r end
    return r >= 50 and 0 or 1
  end, { driver = driver, thematic = true, nodata = 0 })
  if rows then
    local t = rios.rat.open(path, { update = true })
    local v = {}
    for i = 0, rows - 1 do v[i + 1] = i == 0 and 500 or i + 10 end
    t:set_row_count(rows)
    t:write_column("Value", v)
    t:close()
  end
end

local function column(path, name)
  local c = rios.rat.read_column(path, name)
  local t = {}
  if type(c) == "table" and not rios.is_array(c) then return c end
  for i = 0, c.cols - 1 do t[i + 1] = tonumber(c.data[i]) end
  return t
end

describe("rios.ratapply", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  it("applies a function block by block, with the block's rows in info", function()
    local path = dir .. "/t.img"
    table_file(path, "HFA", 13)
    local seen = {}
    rios.ratapply(function(info, inputs, outputs, other)
      other[#other + 1] = { info.block_index, info.start_row, info.nrows, info.row_count,
                            info.nblocks, inputs.img.Value.cols }
      local rn = info:row_numbers()
      assert.are.same({ info.start_row, info.start_row + info.nrows - 1 },
                      { rn.data[0], rn.data[info.nrows - 1] })
      outputs.img.Double = inputs.img.Value * 2
    end, { img = path }, { img = path }, seen, { block_len = 5 })
    assert.are.same({ { 0, 0, 5, 13, 3, 5 }, { 1, 5, 5, 13, 3, 5 }, { 2, 10, 3, 13, 3, 3 } }, seen)
    local v, d = column(path, "Value"), column(path, "Double")
    assert.are.equal(13, #d)
    for i = 1, 13 do assert.are.equal(2 * v[i], d[i]) end
    assert.are.equal("int", rios.rat.column_type(path, "Double"))
  end)

  it("writes to another file's table and leaves the input's alone", function()
    local src, dst = dir .. "/src.tif", dir .. "/dst.tif"
    table_file(src, "GTiff", 20)
    table_file(dst, "GTiff")
    local before = H.gdalinfo(src).rat
    rios.ratapply(function(_, inputs, outputs)
      outputs.out.Root = inputs.src.Value:pow(0.5)
      local names = {}
      for i = 1, inputs.src.Value.cols do names[i] = "v" .. inputs.src.Value.data[i - 1] end
      outputs.out.Name = names
    end, { src = src }, { out = dst }, nil, { block_len = 7 })
    assert.are.same(before, H.gdalinfo(src).rat)
    local g = H.gdalinfo(dst).rat
    assert.are.same({ "Root", 1, 0 }, { g.fieldDefn[1].name, g.fieldDefn[1].type,
                                       g.fieldDefn[1].usage })
    assert.are.same({ "Name", 2, 0 }, { g.fieldDefn[2].name, g.fieldDefn[2].type,
                                       g.fieldDefn[2].usage })
    assert.are.equal(20, #g.row)
    -- (GDAL keeps reals in .aux.xml to 15 significant digits)
    assert.is_true(math.abs(g.row[1].f[1] - math.sqrt(500)) < 1e-12)
    assert.are.equal("v500", g.row[1].f[2])
    assert.is_true(math.abs(g.row[20].f[1] - math.sqrt(29)) < 1e-12)
    assert.are.equal("v29", g.row[20].f[2])
  end)

  it("writes fewer rows than it reads, and makes a table of a given length", function()
    local src, dst = dir .. "/src.img", dir .. "/dst.img"
    table_file(src, "HFA", 100)
    table_file(dst, "HFA")
    rios.ratapply(function(info, inputs, outputs)
      -- the even rows only
      local v, even = inputs.img.Value, {}
      for i = 0, info.nrows - 1 do
        if (info.start_row + i) % 2 == 0 then even[#even + 1] = v.data[i] end
      end
      outputs.out.Value = even
    end, { img = src }, { out = dst }, nil, { block_len = 3 })
    local v, r = column(src, "Value"), column(dst, "Value")
    assert.are.equal(50, #r)
    for i = 1, 50 do assert.are.equal(v[2 * i - 1], r[i]) end

    local fresh = dir .. "/new.img"
    table_file(fresh, "HFA")
    rios.ratapply(function(info, _, outputs)
      outputs.out.newCol = info:row_numbers()
    end, {}, { out = fresh }, nil, { block_len = 3, row_count = 256 })
    local n = column(fresh, "newCol")
    assert.are.equal(256, #n)
    for i = 1, 256 do assert.are.equal(i - 1, n[i]) end
  end)

  it("grows an output as out_row_count says and writes only the columns set", function()
    local src = dir .. "/src.tif"
    table_file(src, "GTiff", 10)
    local grown = {}
    for _, how in ipairs({ "input", "increment", 12 }) do
      local dst = dir .. "/grow" .. tostring(how) .. ".tif"
      table_file(dst, "GTiff")
      local sizes = {}
      rios.ratapply(function(info, inputs, outputs)
        outputs.out.V = inputs.src.Value
        if info.block_index == 0 then outputs.out.First = { 1, 2, 3, 4 } end
        sizes[#sizes + 1] = info.nrows
      end, { src = src }, { out = dst }, nil,
      { block_len = 4, out_row_count = how, row_count_increment = 5 })
      grown[#grown + 1] = rios.rat.row_count(dst)
      -- First was set in block 0 only: its later rows stay at 0
      assert.are.same({ 1, 2, 3, 4, 0, 0, 0, 0, 0, 0 }, { unpack(column(dst, "First"), 1, 10) })
      assert.are.same({ 4, 4, 2 }, sizes)
    end
    -- cut back to the rows written, as RIOS does
    assert.are.same({ 10, 10, 10 }, grown)
    -- a column read but never set is not written
    local g = H.gdalinfo(src).rat
    assert.are.equal(1, #g.fieldDefn)
  end)

  it("takes column usages from info:set_usage and from RIOS's column names", function()
    local path = dir .. "/u.tif"
    table_file(path, "GTiff", 4)
    rios.ratapply(function(info, _, outputs)
      outputs.img.Red = { 255, 0, 0, 9 }
      outputs.img.Label = { "a", "b", "c", "d" }
      info:set_usage("img", "Label", "Name")
      assert.are.equal("Name", info:usage("img", "Label"))
      assert.are.equal("Generic", info:usage("img", "Value"))
    end, { img = path }, { img = path })
    assert.are.same({ { name = "Value", type = "int", usage = "Generic" },
                      { name = "Red", type = "int", usage = "Red" },
                      { name = "Label", type = "string", usage = "Name" } },
                    rios.rat.columns(path))
  end)

  it("says which file, column and block in one line when something is wrong", function()
    local a, b, out, empty = dir .. "/a.tif", dir .. "/b.tif", dir .. "/out.tif", dir .. "/e.tif"
    table_file(empty, "GTiff")
    table_file(a, "GTiff", 10)
    table_file(b, "GTiff", 9)
    table_file(out, "GTiff", 10)
    local cases = {
      { "function(i, inp, o) o.o.X = inp.a.Nope end", "{a = A}, {o = O}",
        'rios.ratapply: input a, block 0 (rows 0 to 3): ' .. a
        .. ' band 1 has no column "Nope" (it has Value)' },
      { "function(i, inp, o) o.o.X = inp.a.Value end", "{a = A, b = B}, {o = O}",
        "rios.ratapply: the input attribute tables differ in length (" .. a
        .. " band 1: 10 rows, " .. b .. " band 1: 9 rows)" },
      { "function(i, inp, o) o.o.X = {1, 2}; o.o.Y = {1, 2, 3} end", "{a = A}, {o = O}",
        'rios.ratapply: output o, block 0 (rows 0 to 3) (' .. out .. ' band 1): column "Y" has '
        .. '3 rows but column "X" has 2' },
      { "function(i, inp, o) o.o.Value = i.block_index == 1 and inp.a.Value / 3 or inp.a.Value end",
        "{a = A}, {o = O}", 'rios.ratapply: output o, block 1 (rows 4 to 7): ' .. out
        .. ': band 1: column "Value" holds integers; row 4 would get 4.666' },
      { "function(i, inp, o) o.o.X = true end", "{a = A}, {o = O}",
        'rios.ratapply: output o column "X" must be an array or a list of numbers or strings, '
        .. 'got boolean' },
      { "function(i, inp, o) o.o.X = inp.a.Value end", "{a = A}, {o = O}, nil, {block_lenght = 3}",
        "rios.ratapply: unknown control block_lenght" },
      { "function(i, inp, o) o.o.X = inp.a.Value end", "{}, {o = O}",
        "rios.ratapply: with no inputs, controls.row_count must say how many rows" },
      { "function(i, inp, o) o.o.X = inp.a.Value end",
        "{a = A}, {o = E}, nil, {out_row_count = 2, block_len = 4}",
        "rios.ratapply: output o, block 0 (rows 0 to 3): controls.out_row_count is 2, but this "
        .. "block writes rows up to 3" },
    }
    for _, case in ipairs(cases) do
      local src = "local rios = require('rios')\nlocal A, B, O, E = arg[1], arg[2], arg[3], arg[4]\n"
                  .. "rios.ratapply(" .. case[1] .. ", " .. case[2]
                  .. (case[2]:find("nil, {") and "" or ", nil, {block_len = 4}") .. ")\n"
      local status, _, err = H.run_script(dir, "bad.lua", src, { a, b, out, empty })
      assert.are.equal(1, status, case[1] .. " " .. case[2])
      assert.truthy(err:find("^bad%.lua:%d: "), err)
      assert.truthy(err:find(case[3], 1, true), err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    end
    -- the failed runs left the output's table (kept in .aux.xml) as it was
    assert.are.same({ "Value" }, rios.rat.column_names(out))
    assert.are.equal(10, rios.rat.row_count(out))
    assert.are.same({}, rios.rat.column_names(empty))
  end)

  it("reports an error in the function with its traceback and the block", function()
    local path = dir .. "/t.tif"
    table_file(path, "GTiff", 10)
    local src = "local rios = require('rios')\n"
                .. "rios.ratapply(function(info, inputs, outputs)\n"
                .. "  if info.block_index == 2 then error('boom') end\n"
                .. "  outputs.img.X = inputs.img.Value\n"
                .. "end, {img = arg[1]}, {img = arg[1]}, nil, {block_len = 3})\n"
    local status, _, err = H.run_script(dir, "boom.lua", src, { path })
    assert.are.equal(1, status)
    assert.truthy(err:find("boom.lua:3: boom", 1, true), err)
    assert.truthy(err:find("traceback", 1, true), err)
    assert.truthy(err:find("rios.ratapply: the error happened in the function, block 2 (rows 6 "
                           .. "to 8)", 1, true), err)
    -- nothing of the failed run reached the .aux.xml
    assert.are.same({ "Value" }, rios.rat.column_names(path))
  end)
end)
