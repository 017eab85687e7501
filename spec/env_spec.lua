-- RIOS's environment variables set the defaults of rios.apply's controls; a
-- script's own controls win; a malformed value is a one-line error naming
-- the variable. Each is checked by what a user sees in the output file or
-- in the block function.
local H = require("support.helpers")

-- apply over input a (and b when given) into out, with controls from arg[3]
-- (a Lua table literal); prints what the block function saw.
local SCRIPT = [[
local rios = require("rios")
local controls = loadstring("return " .. (arg[3] or "{}"))()
local seen = {}
rios.apply(function(info, i, o, other)
  if info:is_first_block() then
    other.wx, other.wy = info:window_size()
    other.rows, other.cols = i.a.rows, i.a.cols
    other.ov = info:overlap()
  end
  o.out = i.a
end, { a = arg[1], b = arg[4] }, { out = arg[2] }, seen, controls)
print(seen.wx, seen.wy, seen.rows, seen.cols, seen.ov)
]]

describe("environment defaults", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    local f = assert(io.open(dir .. "/s.lua", "w"))
    f:write(SCRIPT)
    f:close()
    -- 64 x 64, a checkerboard of 0 and 100 so overview resampling shows
    H.make_raster(dir .. "/a.tif", "uint8", 1, 64, 64,
                  function(_, r, c) return (r + c) % 2 == 0 and 100 or 0 end)
  end)
  after_each(function() H.cleanup() end)

  -- Run s.lua with env (a table) and controls (a Lua literal); returns
  -- status, stdout, stderr.
  local function run(env, controls, out, extra_input)
    local vars = {}
    for k, v in pairs(env) do vars[#vars + 1] = k .. "=" .. H.q(v) end
    table.sort(vars)
    local args = { "a.tif", out or "out.tif", controls or "{}", extra_input }
    local argstr = ""
    for _, a in ipairs(args) do argstr = argstr .. " " .. H.q(a) end
    return H.run("cd " .. H.q(dir) .. " && env " .. table.concat(vars, " ") .. " "
                 .. H.q(H.exe) .. " s.lua" .. argstr)
  end

  local function ok(env, controls, out, extra)
    local status, stdout, err = run(env, controls, out, extra)
    assert.are.equal(0, status, err)
    return stdout
  end

  it("RIOS_DFLT_DRIVER picks the output driver", function()
    ok({ RIOS_DFLT_DRIVER = "HFA" }, nil, "out.img")
    assert.are.equal("HFA", H.gdalinfo(dir .. "/out.img").driverShortName)
    ok({ RIOS_DFLT_DRIVER = "HFA" }, "{ driver = 'GTiff' }", "out.tif")
    assert.are.equal("GTiff", H.gdalinfo(dir .. "/out.tif").driverShortName)
  end)

  it("RIOS_DFLT_CREOPT_<driver> sets that driver's creation options", function()
    local function compression()
      local md = H.gdalinfo(dir .. "/out.tif").metadata.IMAGE_STRUCTURE or {}
      return md.COMPRESSION
    end
    ok({})
    assert.are.equal("LZW", compression())
    ok({ RIOS_DFLT_CREOPT_GTiff = "COMPRESS=DEFLATE TILED=YES" })
    assert.are.equal("DEFLATE", compression())
    ok({ RIOS_DFLT_CREOPT_GTiff = "None" })
    assert.is_nil(compression())
    ok({ RIOS_DFLT_CREOPT_GTiff = "COMPRESS=DEFLATE" }, "{ creation_options = {'COMPRESS=PACKBITS'} }")
    assert.are.equal("PACKBITS", compression())
    -- another driver's variable leaves GTiff alone
    ok({ RIOS_DFLT_CREOPT_HFA = "COMPRESSED=FALSE" })
    assert.are.equal("LZW", compression())
  end)

  it("RIOS_DFLT_DRIVEROPTIONS sets the default driver's options, as in RIOS", function()
    local function interleave()
      return H.gdalinfo(dir .. "/out.img").metadata.IMAGE_STRUCTURE.INTERLEAVE
    end
    ok({ RIOS_DFLT_DRIVER = "ENVI" }, nil, "out.img")
    assert.are.equal("BAND", interleave())
    ok({ RIOS_DFLT_DRIVER = "ENVI", RIOS_DFLT_DRIVEROPTIONS = "INTERLEAVE=BIL" }, nil, "out.img")
    assert.are.equal("LINE", interleave())
    -- the driver's own variable wins, and the script's options win over both
    ok({ RIOS_DFLT_DRIVER = "ENVI", RIOS_DFLT_DRIVEROPTIONS = "INTERLEAVE=BIL",
         RIOS_DFLT_CREOPT_ENVI = "INTERLEAVE=BIP" }, nil, "out.img")
    assert.are.equal("PIXEL", interleave())
    ok({ RIOS_DFLT_DRIVER = "ENVI", RIOS_DFLT_DRIVEROPTIONS = "INTERLEAVE=BIL" },
       "{ creation_options = {} }", "out.img")
    assert.are.equal("BAND", interleave())
  end)

  it("RIOS_DFLT_FOOTPRINT=1 takes the union of the inputs", function()
    -- b: 32 x 32 starting 16 pixels right of and below a's corner
    H.make_raster(dir .. "/b.tif", "uint8", 1, 32, 32, function() return 1 end,
                  { transform = { 500160, 10, 0, 5999840, 0, -10 } })
    ok({}, nil, "i.tif", "b.tif")
    assert.are.same({ 32, 32 }, H.gdalinfo(dir .. "/i.tif").size)
    ok({ RIOS_DFLT_FOOTPRINT = "1" }, nil, "u.tif", "b.tif")
    assert.are.same({ 64, 64 }, H.gdalinfo(dir .. "/u.tif").size)
    ok({ RIOS_DFLT_FOOTPRINT = "1" }, "{ footprint = 'intersection' }", "i2.tif", "b.tif")
    assert.are.same({ 32, 32 }, H.gdalinfo(dir .. "/i2.tif").size)
  end)

  it("RIOS_DFLT_BLOCKXSIZE, RIOS_DFLT_BLOCKYSIZE and RIOS_DFLT_OVERLAP shape the blocks", function()
    assert.are.equal("256\t256\t64\t64\t0\n", ok({}))
    local env = { RIOS_DFLT_BLOCKXSIZE = "16", RIOS_DFLT_BLOCKYSIZE = "8", RIOS_DFLT_OVERLAP = "2" }
    assert.are.equal("16\t8\t12\t20\t2\n", ok(env))
    assert.are.equal("32\t8\t8\t32\t0\n", ok(env, "{ window_xsize = 32, overlap = 0 }"))
  end)

  it("RIOS_DFLT_OVERVIEWLEVELS and RIOS_DFLT_MINOVERLEVELDIM choose the overviews", function()
    local function overviews(name)
      local list = {}
      for i, o in ipairs(H.gdalinfo(dir .. "/" .. name).bands[1].overviews or {}) do
        list[i] = o.size[1]
      end
      return list
    end
    ok({}, nil, "o1.tif")
    assert.are.same({}, overviews("o1.tif"))  -- 64 / 4 is below the default 128
    -- (64 / level against the minimum: values chosen away from equality)
    ok({ RIOS_DFLT_OVERVIEWLEVELS = "2,4,8", RIOS_DFLT_MINOVERLEVELDIM = "10" }, nil, "o2.tif")
    assert.are.same({ 32, 16 }, overviews("o2.tif"))
    ok({ RIOS_DFLT_OVERVIEWLEVELS = "2,4,8", RIOS_DFLT_MINOVERLEVELDIM = "5" }, nil, "o3.tif")
    assert.are.same({ 32, 16, 8 }, overviews("o3.tif"))
    ok({ RIOS_DFLT_OVERVIEWLEVELS = "2,4,8", RIOS_DFLT_MINOVERLEVELDIM = "5" },
       "{ overview_levels = { 4 }, overview_min_dim = 1 }", "o4.tif")
    assert.are.same({ 16 }, overviews("o4.tif"))
  end)

  it("RIOS_DFLT_OVERVIEWAGGTYPE sets the overview resampling", function()
    local function first_overview_values(name)
      local status, _, err = H.run("gdal_translate -q -ovr 0 -of ENVI " .. H.q(dir .. "/" .. name)
                                   .. " " .. H.q(dir .. "/ov.img"))
      assert.are.equal(0, status, err)
      local f = assert(io.open(dir .. "/ov.img", "rb"))
      local s = f:read("*a")
      f:close()
      local seen = {}
      for i = 1, #s do seen[s:byte(i)] = true end
      return seen
    end
    -- a 2x2 cell of the checkerboard averages to 50; NEAREST picks 0 or 100
    local env = { RIOS_DFLT_OVERVIEWLEVELS = "2", RIOS_DFLT_MINOVERLEVELDIM = "1",
                  RIOS_DFLT_OVERVIEWAGGTYPE = "average" }
    ok(env, nil, "avg.tif")
    assert.are.same({ [50] = true }, first_overview_values("avg.tif"))
    env.RIOS_DFLT_OVERVIEWAGGTYPE = "NEAREST"
    ok(env, nil, "near.tif")
    local near = first_overview_values("near.tif")
    assert.is_nil(near[50])
    ok(env, "{ overview_aggtype = 'AVERAGE' }", "avg2.tif")
    assert.are.same({ [50] = true }, first_overview_values("avg2.tif"))
  end)

  it("refuses a malformed value in one line naming the variable", function()
    local cases = {
      { "RIOS_DFLT_DRIVER", "NoSuchDriver" },
      { "RIOS_DFLT_FOOTPRINT", "3" },
      { "RIOS_DFLT_FOOTPRINT", "union" },
      { "RIOS_DFLT_BLOCKXSIZE", "abc" },
      { "RIOS_DFLT_BLOCKYSIZE", "0" },
      { "RIOS_DFLT_BLOCKXSIZE", "1e2" },
      { "RIOS_DFLT_OVERLAP", "-1" },
      { "RIOS_DFLT_OVERVIEWLEVELS", "4,,8" },
      { "RIOS_DFLT_OVERVIEWLEVELS", "4,x" },
      { "RIOS_DFLT_MINOVERLEVELDIM", "1.5" },
      { "RIOS_DFLT_OVERVIEWAGGTYPE", "SMOOTH" },
    }
    for _, case in ipairs(cases) do
      local status, out, err = run({ [case[1]] = case[2] })
      assert.are.equal(1, status, case[1])
      assert.are.equal("", out)
      assert.are.equal("s.lua:4: environment variable " .. case[1] .. "='" .. case[2] .. "' ",
                       err:sub(1, #("s.lua:4: environment variable " .. case[1] .. "='"
                                    .. case[2] .. "' ")))
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    end
  end)
end)
