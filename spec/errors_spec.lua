-- Every mistake rios.apply names: one clear line (or, for an error in the
-- user's own code, its line and a traceback), exit status 1, no crash.
local H = require("support.helpers")

local dir
-- Run a job whose block function body is `body`, with controls `controls`.
local function job(body, controls, infiles, outfiles)
  return H.run_script(dir, "job.lua", string.format([[
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
%s
end, %s, %s, nil, %s)
]], body, infiles or '{ a = "a.tif" }', outfiles or '{ o = "o.tif" }', controls or "nil"))
end

-- The error is exactly one line, starting with the script's apply call.
local function one_line(status, err, pattern)
  assert.are.equal(1, status)
  assert.are.equal(1, select(2, err:gsub("\n", "")), "not one line: " .. err)
  assert.truthy(err:match("^job%.lua:2: "), err)
  assert.truthy(err:find(pattern, 1, true), "expected '" .. pattern .. "' in: " .. err)
end

describe("errors", function()
  before_each(function()
    dir = H.tmpdir()
    H.make_raster(dir .. "/a.tif", "uint8", 1, 40, 50, function() return 1 end)
  end)
  after_each(H.cleanup)

  it("an output left unset names the output and the block", function()
    local status, _, err = job("if not info:is_first_block() then return end outputs.o = inputs.a",
                               "{ window_xsize = 32, window_ysize = 32 }")
    one_line(status, err, "output 'o' was not set by the block function in block (row 0, col 1) [x=32 y=0 18x32]")
  end)

  it("an output set to a non-array", function()
    local status, _, err = job("outputs.o = 5")
    one_line(status, err, "output 'o' must be a rios array, got number in block (row 0, col 0)")
  end)

  it("an output of the wrong rows/cols", function()
    local status, _, err = job("outputs.o = rios.array('uint8', 1, 10, 10)")
    one_line(status, err, "output 'o' has 10 rows x 10 cols but the block needs 40 rows x 50 cols in block (row 0, col 0)")
  end)

  it("an output whose dtype changes after the first block", function()
    local status, _, err = job([[
      outputs.o = info:is_first_block() and inputs.a or inputs.a:like("int16")]],
      "{ window_xsize = 25 }")
    one_line(status, err, "output 'o' is int16 with 1 band but the file was created as uint8 with 1 band in block (row 0, col 1)")
  end)

  it("an output whose band count changes", function()
    local status, _, err = job([[
      outputs.o = info:is_first_block() and inputs.a or inputs.a:like(nil, 2)]],
      "{ window_ysize = 20 }")
    one_line(status, err, "is uint8 with 2 bands but the file was created as uint8 with 1 band in block (row 1, col 0)")
  end)

  it("a list output that is not given a list", function()
    local status, _, err = job("outputs.o = inputs.a", nil, nil, '{ o = { "o1.tif", "o2.tif" } }')
    one_line(status, err, "output 'o[1]' must be a list of 2 arrays, got one array in block (row 0, col 0)")
  end)

  it("an unknown controls key", function()
    local status, out, err = job("outputs.o = inputs.a", "{ windw_xsize = 64 }")
    one_line(status, err, "unknown controls key 'windw_xsize'")
    assert.are.equal("", out)
  end)

  it("an unknown per_image key and an unknown per_image name", function()
    local status, _, err = job("outputs.o = inputs.a", "{ per_image = { o = { thematc = true } } }")
    one_line(status, err, "unknown controls.per_image.o key 'thematc'")
    status, _, err = job("outputs.o = inputs.a", "{ per_image = { p = { thematic = true } } }")
    one_line(status, err, "controls.per_image names 'p', which is not an input or output")
  end)

  it("a control of the wrong type", function()
    local status, _, err = job("outputs.o = inputs.a", "{ window_xsize = 0 }")
    one_line(status, err, "controls key 'window_xsize' must be a whole number >= 1, got 0")
    status, _, err = job("outputs.o = inputs.a", "{ footprint = 'everything' }")
    one_line(status, err, "controls key 'footprint' must be one of \"intersection\", \"union\", \"reference\", got 'everything'")
  end)

  it("a missing input file", function()
    local status, _, err = job("outputs.o = inputs.a", nil, '{ a = "nosuch.tif" }')
    one_line(status, err, "nosuch.tif: cannot open as a raster")
  end)

  it("inputs on different grids name both files and what differs", function()
    H.make_raster(dir .. "/px.tif", "uint8", 1, 40, 50, function() return 1 end,
                  { transform = { 500000, 20, 0, 6000000, 0, -20 } })
    H.make_raster(dir .. "/half.tif", "uint8", 1, 40, 50, function() return 1 end,
                  { transform = { 500005, 10, 0, 6000000, 0, -10 } })
    H.make_raster(dir .. "/geo.tif", "uint8", 1, 40, 50, function() return 1 end,
                  { transform = { 500000, 10, 0, 6000000, 0, -10 }, projection = "EPSG:4326" })
    local status, _, err = job("", nil, '{ a = "a.tif", b = "px.tif" }', "{}")
    one_line(status, err, "inputs a.tif and px.tif are not on the same grid: their pixel sizes differ")
    status, _, err = job("", nil, '{ a = "a.tif", b = "half.tif" }', "{}")
    one_line(status, err, "inputs a.tif and half.tif are not on the same grid: their pixels are not aligned")
    status, _, err = job("", nil, '{ a = "a.tif", b = "geo.tif" }', "{}")
    one_line(status, err, "inputs a.tif and geo.tif are not on the same grid: their projections differ")
  end)

  it("inputs that do not overlap", function()
    H.make_raster(dir .. "/far.tif", "uint8", 1, 40, 50, function() return 1 end,
                  { transform = { 900000, 10, 0, 6000000, 0, -10 } })
    local status, _, err = job("", nil, '{ a = "a.tif", b = "far.tif" }', "{}")
    one_line(status, err, "the inputs do not overlap, so their intersection is empty: a.tif, far.tif")
  end)

  it("an output that is an input", function()
    local status, _, err = job("outputs.o = inputs.a", nil, nil, '{ o = "a.tif" }')
    one_line(status, err, "rios.apply: output 'o' (a.tif) is the same file as input 'a' (a.tif)")
  end)

  it("an unknown driver", function()
    local status, _, err = job("outputs.o = inputs.a", "{ driver = 'NoSuchDriver' }")
    one_line(status, err, "output 'o': o.tif: no GDAL driver named 'NoSuchDriver'")
  end)

  it("an error in the block function keeps its line, a traceback and the block", function()
    local status, _, err = job([[
      if info:is_last_block() then
        error("bad pixel")
      end
      outputs.o = inputs.a]], "{ window_xsize = 32 }")
    assert.are.equal(1, status)
    assert.truthy(err:match("^job%.lua:4: bad pixel\nstack traceback:\n"), err)
    assert.truthy(err:find("job.lua:4: in function", 1, true), err)
    -- only the user's frames: none of rios's own modules, as in a worker
    assert.falsy(err:find("lua/rios/", 1, true), err)
    assert.falsy(err:find("'xpcall'", 1, true), err)
    assert.truthy(err:find("in main chunk", 1, true), err)
    assert.truthy(err:find("the error happened in the block function, block (row 0, col 1) [x=32 y=0 18x40]",
                           1, true), err)
  end)

  it("a non-table infiles or a non-function fn", function()
    local status, _, err = H.run_script(dir, "job.lua",
      "local rios = require('rios')\nrios.apply(function() end, 'a.tif', {})\n")
    one_line(status, err, "rios.apply: infiles must be a table of name = filename, got string")
    status, _, err = H.run_script(dir, "job.lua",
      "local rios = require('rios')\nrios.apply(nil, { a = 'a.tif' }, {})\n")
    one_line(status, err, "rios.apply: the first argument must be the block function, got nil")
  end)
end)
