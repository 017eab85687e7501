-- Inputs on any grid: reference grids, footprints, warping on the fly,
-- resampling methods, nodata, layer selection. Every warped result is
-- compared, byte for byte, with what the gdalwarp command makes for the
-- same target grid and method.
local H = require("support.helpers")
local rios = require("rios")

-- The reference: UTM 55S, 30 m pixels, 40 rows x 50 cols.
local REF_T = { 500000, 30, 0, 6000000, 0, -30 }

local function pattern(b, r, c) return (b * 37 + r * 7 + c * 13) % 101 + (r * c) % 7 end

-- Run rios.apply copying input `name` to out.tif (in-process); returns the
-- result and the output path.
local function copy_run(dir, infiles, name, controls)
  local out = dir .. "/out.tif"
  controls = controls or {}
  controls.window_xsize = controls.window_xsize or 16
  controls.window_ysize = controls.window_ysize or 16
  local res = rios.apply(function(_, i, o) o.out = i[name] end, infiles, { out = out }, nil,
                         controls)
  return res, out
end

-- gdalwarp of src onto the working grid g with extra options; returns the path.
local function gdalwarp(dir, src, g, extra, tag)
  local t = g.transform
  local dst = dir .. "/gdalwarp-" .. (tag or "x") .. ".tif"
  local cmd = string.format("gdalwarp -q -overwrite -ovr NONE -t_srs EPSG:32755 "
                            .. "-te %.17g %.17g %.17g %.17g -tr %.17g %.17g %s %s %s",
                            t[1], t[4] + g.rows * t[6], t[1] + g.cols * t[2], t[4], t[2], -t[6],
                            extra or "", H.q(src), H.q(dst))
  local status, _, err = H.run(cmd)
  assert(status == 0, err)
  return dst
end

describe("inputs on any grid", function()
  local dir, ref
  before_each(function()
    dir = H.tmpdir()
    ref = dir .. "/ref.tif"
    H.make_raster(ref, "uint8", 1, 40, 50, function() return 1 end, { transform = REF_T })
  end)
  after_each(function() H.cleanup() end)

  it("still refuses inputs that do not line up when no reference is given", function()
    local other = dir .. "/other.tif"
    H.make_raster(other, "uint8", 1, 10, 10, pattern,
                  { transform = { 500015, 30, 0, 6000000, 0, -30 } })
    local ok, err = pcall(copy_run, dir, { ref = ref, other = other }, "other")
    assert.is_false(ok)
    assert.truthy(err:match("are not on the same grid: their pixels are not aligned"), err)
    assert.truthy(err:match("reference_image"), err)
  end)

  it("reprojects an input in another projection as gdalwarp does (near and bilinear)", function()
    local geo = dir .. "/geo.tif"
    H.make_raster(geo, "float32", 1, 60, 60, pattern,
                  { transform = { 146.9995, 0.0002, 0, -36.1395, 0, -0.0002 },
                    projection = "EPSG:4326" })
    for _, method in ipairs({ "near", "bilinear" }) do
      local res, out = copy_run(dir, { ref = ref, geo = geo }, "geo",
                                { reference_image = "ref", resample_method = method })
      local g = res.working_grid
      -- The grid keeps the reference's pixel size and alignment.
      assert.are.equal(30, g.transform[2])
      assert.are.equal(0, (g.transform[1] - 500000) % 30)
      assert.are.equal(0, (6000000 - g.transform[4]) % 30)
      assert.truthy(g.cols > 5 and g.rows > 5)
      local want = gdalwarp(dir, geo, g, "-r " .. method, method)
      assert.are.equal(H.raw_bytes(want), H.raw_bytes(out), method)
    end
  end)

  it("resamples coarser, finer and half-pixel-offset inputs as gdalwarp does", function()
    local cases = {
      coarse = { 499990, 90, 0, 6000020, 0, -90, rows = 15, cols = 18 },
      fine = { 500100, 10, 0, 5999900, 0, -10, rows = 90, cols = 120 },
      half = { 500015, 30, 0, 5999985, 0, -30, rows = 40, cols = 50 },
    }
    for tag, t in pairs(cases) do
      local src = dir .. "/" .. tag .. ".tif"
      H.make_raster(src, "int16", 1, t.rows, t.cols, pattern,
                    { transform = { t[1], t[2], t[3], t[4], t[5], t[6] } })
      local res, out = copy_run(dir, { ref = ref, src = src }, "src",
                                { reference_image = "ref", resample_method = "bilinear" })
      local want = gdalwarp(dir, src, res.working_grid, "-r bilinear", tag)
      assert.are.equal(H.raw_bytes(want), H.raw_bytes(out), tag)
    end
  end)

  it("matches gdalwarp for every resampling method", function()
    -- A finer input in another projection exercises both the interpolating
    -- and the aggregating methods.
    local src = dir .. "/src.tif"
    H.make_raster(src, "int16", 1, 90, 90, pattern,
                  { transform = { 146.9995, 0.0001, 0, -36.1395, 0, -0.0001 },
                    projection = "EPSG:4326" })
    for _, method in ipairs({ "near", "bilinear", "cubic", "cubicspline", "lanczos", "average",
                              "mode", "min", "max", "med", "q1", "q3" }) do
      local res, out = copy_run(dir, { ref = ref, src = src }, "src",
                                { reference_image = "ref",
                                  per_image = { src = { resample_method = method } } })
      local want = gdalwarp(dir, src, res.working_grid, "-r " .. method, method)
      assert.are.equal(H.raw_bytes(want), H.raw_bytes(out), method)
    end
  end)

  it("warps with negative and NaN nodata values as gdalwarp does", function()
    for _, nd in ipairs({ -9999, 0 / 0 }) do
      local src = dir .. "/nd.tif"
      H.make_raster(src, "float32", 1, 45, 55, function(b, r, c)
        if (r + c) % 5 == 0 then return nd end
        return pattern(b, r, c) - 50
      end, { transform = { 500015, 29, 0, 5999985, 0, -29 }, nodata = nd })
      local res, out = copy_run(dir, { ref = ref, src = src }, "src",
                                { reference_image = "ref", resample_method = "bilinear",
                                  footprint = "union" })
      local v = nd ~= nd and "nan" or tostring(nd)
      local want = gdalwarp(dir, src, res.working_grid, "-r bilinear -srcnodata " .. v
                            .. " -dstnodata " .. v, v)
      assert.are.equal(H.raw_bytes(want), H.raw_bytes(out), v)
    end
  end)

  it("uses input_nodata for warping, for fills and for info:nodata_for", function()
    local src = dir .. "/plain.tif"
    H.make_raster(src, "float32", 1, 45, 55, function(b, r, c)
      if (r * c) % 9 == 1 then return -1 end
      return pattern(b, r, c)
    end, { transform = { 500015, 29, 0, 5999985, 0, -29 } })
    local seen = {}
    local out = dir .. "/out.tif"
    local res = rios.apply(function(info, i, o)
      seen[#seen + 1] = info:nodata_for(i.src)
      o.out = i.src
    end, { ref = ref, src = src }, { out = out }, nil,
      { reference_image = "ref", resample_method = "bilinear", footprint = "union",
        input_nodata = -1, window_xsize = 16, window_ysize = 16 })
    assert.are.equal(-1, seen[1])
    local want = gdalwarp(dir, src, res.working_grid,
                          "-r bilinear -srcnodata -1 -dstnodata -1", "ind")
    assert.are.equal(H.raw_bytes(want), H.raw_bytes(out))
    -- NaN as input_nodata on an aligned input: the union's fill is NaN.
    local small = dir .. "/small.tif"
    H.make_raster(small, "float32", 1, 10, 10, pattern,
                  { transform = { 500300, 30, 0, 5999700, 0, -30 } })
    local fill
    rios.apply(function(info, i, o)
      if info:is_first_block() then fill = { i.small.data[0], info:nodata_for(i.small) } end
      o.out = i.small
    end, { ref = ref, small = small }, { out = out }, nil,
      { footprint = "union", per_image = { small = { input_nodata = 0 / 0 } } })
    assert.are_not.equal(fill[1], fill[1])
    assert.are_not.equal(fill[2], fill[2])
  end)

  it("finds the intersection, the union and the reference's own bounds", function()
    local a = dir .. "/a.tif"
    -- 20 x 30 pixels, 10 pixels in from the reference's left and 5 down,
    -- running 10 pixels past its right edge.
    H.make_raster(a, "int16", 1, 20, 50, function() return 7 end,
                  { transform = { 500300, 30, 0, 5999850, 0, -30 }, nodata = -3 })
    local res = copy_run(dir, { ref = ref, a = a }, "a", { reference_image = "ref" })
    assert.are.same({ 500300, 30, 0, 5999850, 0, -30 }, res.working_grid.transform)
    assert.are.same({ 40, 20 }, { res.working_grid.cols, res.working_grid.rows })

    local out
    res, out = copy_run(dir, { ref = ref, a = a }, "a",
                        { reference_image = "ref", footprint = "union" })
    assert.are.same({ 500000, 30, 0, 6000000, 0, -30 }, res.working_grid.transform)
    assert.are.same({ 60, 40 }, { res.working_grid.cols, res.working_grid.rows })
    -- Outside a's extent the union holds a's nodata value.
    local arr = H.read(out)
    assert.are.equal(-3, arr.data[0])
    assert.are.equal(7, arr.data[5 * 60 + 10])
    assert.are.equal(-3, arr.data[25 * 60 + 10])

    res, out = copy_run(dir, { ref = ref, a = a }, "a",
                        { reference_image = "ref", footprint = "reference" })
    assert.are.same(REF_T, res.working_grid.transform)
    assert.are.same({ 50, 40 }, { res.working_grid.cols, res.working_grid.rows })
    arr = H.read(out)
    assert.are.equal(-3, arr.data[0])
    assert.are.equal(7, arr.data[5 * 50 + 49])
  end)

  it("fills a union with 0 where an input has no nodata, warped or not", function()
    local a = dir .. "/a.tif"
    H.make_raster(a, "uint8", 1, 10, 10, function() return 9 end,
                  { transform = { 500300, 30, 0, 5999700, 0, -30 } })
    local b = dir .. "/b.tif"
    H.make_raster(b, "uint8", 1, 10, 10, function() return 5 end,
                  { transform = { 500310, 30, 0, 5999710, 0, -30 } })
    local seen = {}
    rios.apply(function(info, i, o)
      if info:is_first_block() then seen = { i.a.data[0], i.b.data[0] } end
      o.out = i.a
    end, { ref = ref, a = a, b = b }, { out = dir .. "/o.tif" }, nil,
      { reference_image = "ref", footprint = "union" })
    assert.are.same({ 0, 0 }, seen)
  end)

  it("takes the extent from files_for_extent, inputs or other files", function()
    local a = dir .. "/a.tif"
    H.make_raster(a, "uint8", 1, 10, 10, function() return 9 end,
                  { transform = { 500300, 30, 0, 5999700, 0, -30 } })
    local res = copy_run(dir, { ref = ref, a = a }, "ref",
                         { reference_image = "ref", files_for_extent = { "a" } })
    assert.are.same({ 500300, 30, 0, 5999700, 0, -30 }, res.working_grid.transform)
    assert.are.same({ 10, 10 }, { res.working_grid.cols, res.working_grid.rows })
    -- A file that is not an input, in another projection: its extent is
    -- carried into the reference projection and snapped outwards.
    local far = dir .. "/far.tif"
    H.make_raster(far, "uint8", 1, 5, 5, function() return 1 end,
                  { transform = { 147.001, 0.001, 0, -36.141, 0, -0.001 },
                    projection = "EPSG:4326" })
    res = copy_run(dir, { ref = ref, a = a }, "ref",
                   { reference_image = "ref", footprint = "union", files_for_extent = { far } })
    local t = res.working_grid.transform
    assert.are.equal(0, (t[1] - 500000) % 30)
    assert.truthy(t[1] > 500000 and t[1] < 500200, tostring(t[1]))
    assert.truthy(res.working_grid.cols >= 14 and res.working_grid.cols <= 16)
    -- It is ignored with the reference footprint.
    res = copy_run(dir, { ref = ref, a = a }, "ref",
                   { reference_image = "ref", footprint = "reference", files_for_extent = { "a" } })
    assert.are.same(REF_T, res.working_grid.transform)
  end)

  it("takes footprint \"reference\" from RIOS_DFLT_FOOTPRINT=2", function()
    local a = dir .. "/a.tif"
    H.make_raster(a, "uint8", 1, 10, 10, function() return 9 end,
                  { transform = { 500300, 30, 0, 5999700, 0, -30 } })
    local status, out, err = H.run("cd " .. H.q(dir) .. " && RIOS_DFLT_FOOTPRINT=2 " .. H.q(H.exe)
      .. " -e 'local r = require(\"rios\").apply(function(_, i, o) o.out = i.a end, "
      .. "{ ref = \"ref.tif\", a = \"a.tif\" }, { out = \"o.tif\" }, nil, "
      .. "{ reference_image = \"ref\" }) print(r.working_grid.cols, r.working_grid.rows)'")
    assert.are.equal(0, status, err)
    assert.are.equal("50\t40\n", out)
  end)

  it("takes the grid from reference_pixgrid", function()
    local res, out = copy_run(dir, { ref = ref }, "ref", {
      reference_pixgrid = { projection = "EPSG:32755", transform = { 500010, 20, 0, 5999990, 0, -20 },
                            rows = 10, cols = 12 },
      footprint = "reference" })
    assert.are.same({ 500010, 20, 0, 5999990, 0, -20 }, res.working_grid.transform)
    assert.are.same({ 12, 10 }, { res.working_grid.cols, res.working_grid.rows })
    local want = gdalwarp(dir, ref, res.working_grid, "-r near", "pg")
    assert.are.equal(H.raw_bytes(want), H.raw_bytes(out))
  end)

  it("does not lose the intersection to a world-wide geographic input", function()
    local world = dir .. "/world.tif"
    H.make_raster(world, "int16", 1, 180, 360, function(_, r, c) return r * 360 + c end,
                  { transform = { -180, 1, 0, 90, 0, -1 }, projection = "EPSG:4326" })
    local res, out = copy_run(dir, { ref = ref, world = world }, "world",
                              { reference_image = "ref" })
    assert.are.same(REF_T, res.working_grid.transform)
    assert.are.same({ 50, 40 }, { res.working_grid.cols, res.working_grid.rows })
    local want = gdalwarp(dir, world, res.working_grid, "-r near", "world")
    assert.are.equal(H.raw_bytes(want), H.raw_bytes(out))
  end)

  it("reads only the selected layers, in order, with their nodata values", function()
    local three = dir .. "/three.tif"
    H.make_raster(three, "int16", 3, 40, 50, function(b, r, c) return (b + 1) * 1000 + r + c end,
                  { transform = REF_T })
    local nodata = {}
    local res, out
    out = dir .. "/out.tif"
    rios.apply(function(info, i, o)
      nodata = { i.t.bands, info:nodata_for(i.t, 1), info:nodata_for(i.t, 2) }
      o.out = i.t
    end, { t = three }, { out = out }, nil,
      { per_image = { t = { layer_selection = { 3, 1 }, input_nodata = { 10, 20, 30 } } } })
    assert.are.same({ 2, 30, 10 }, nodata)
    local want = dir .. "/want.tif"
    assert.are.equal(0, (H.run("gdal_translate -q -b 3 -b 1 " .. three .. " " .. want)))
    assert.are.equal(H.raw_bytes(want), H.raw_bytes(out))
    -- With warping: the selected bands of gdalwarp's result.
    local moved = dir .. "/moved.tif"
    H.make_raster(moved, "int16", 3, 40, 50, function(b, r, c) return (b + 1) * 1000 + r * c end,
                  { transform = { 500015, 30, 0, 5999985, 0, -30 } })
    res, out = copy_run(dir, { ref = ref, m = moved }, "m",
                        { reference_image = "ref", resample_method = "bilinear",
                          per_image = { m = { layer_selection = { 2, 3 } } } })
    local all = gdalwarp(dir, moved, res.working_grid, "-r bilinear", "sel")
    assert.are.equal(0, (H.run("gdal_translate -q -b 2 -b 3 " .. all .. " " .. want)))
    assert.are.equal(H.raw_bytes(want), H.raw_bytes(out))
  end)

  it("fills overlap margins of a warped input with warped pixels", function()
    local src = dir .. "/half.tif"
    H.make_raster(src, "float32", 1, 50, 60, pattern,
                  { transform = { 499925, 30, 0, 6000075, 0, -30 } })
    local first
    local res = rios.apply(function(info, i, o)
      if info:is_first_block() then
        local a = i.src
        first = { rows = a.rows, cols = a.cols, v = {} }
        for k = 0, a.rows * a.cols - 1 do first.v[k] = a.data[k] end
      end
      o.out = i.src
    end, { ref = ref, src = src }, { out = dir .. "/o.tif" }, nil,
      { reference_image = "ref", resample_method = "bilinear", overlap = 2,
        window_xsize = 16, window_ysize = 16 })
    local g = res.working_grid
    local padded = { transform = { g.transform[1] - 60, 30, 0, g.transform[4] + 60, 0, -30 },
                     cols = g.cols + 4, rows = g.rows + 4 }
    local want = H.read(gdalwarp(dir, src, padded, "-r bilinear", "pad"))
    assert.are.equal(20, first.rows)
    for r = 0, first.rows - 1 do
      for c = 0, first.cols - 1 do
        assert.are.equal(want.data[r * want.cols + c], first.v[r * first.cols + c])
      end
    end
  end)

  it("refuses to warp int8 inputs where GDAL cannot (before 3.7)", function()
    local s8 = dir .. "/s8.tif"
    H.make_raster(s8, "int8", 1, 10, 10, function(_, r) return -r end,
                  { transform = { 500015, 30, 0, 5999985, 0, -30 } })
    local ok, err = pcall(copy_run, dir, { ref = ref, s8 = s8 }, "s8", { reference_image = "ref" })
    if rios.gdal_version < 3070000 then
      assert.is_false(ok)
      assert.truthy(err:match("s8%.tif: input 's8': warping int8 %(signed byte%) rasters needs "
                              .. "GDAL 3%.7"), err)
    else
      assert.is_true(ok, err)
    end
  end)

  it("reports bad input controls in one line naming the key", function()
    local cases = {
      { { per_image = { ref = { driver = "HFA" } } }, "that key is for outputs" },
      { { per_image = { out = { resample_method = "near" } } }, "that key is for inputs" },
      { { resample_method = "nearest" }, "key 'resample_method' must be one of" },
      { { layer_selection = { 0 } }, "key 'layer_selection' must be a list of band numbers" },
      { { layer_selection = { 2 } }, "asks for band 2 but .* has 1" },
      { { reference_image = "nosuch" }, "reference_image 'nosuch' is not the name" },
      { { reference_pixgrid = { projection = "EPSG:32755" } }, "reference_pixgrid' needs transform" },
      { { footprint = "everything" }, "key 'footprint' must be one of" },
      { { input_nodata = { 1, 2 } }, "input_nodata for 'ref' has 2 values but .* has 1 band" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(copy_run, dir, { ref = ref }, "ref", case[1])
      assert.is_false(ok)
      assert.truthy(err:match(case[2]), err)
      assert.is_nil(err:find("\n"), err)
    end
  end)
end)
