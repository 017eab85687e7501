-- The FFI contract (runtime/rios_ffi.h): a function that can fail returns
-- RIOS_OK, or RIOS_FAIL with a one-line message in the caller's rios_err;
-- results and outcomes come back through out-parameters, which a failure
-- leaves as they were. Checked on real files for the functions whose
-- outcomes used to be coded in their return values.
local H = require("support.helpers")
local base = require("rios.base")
local ffi, C = base.ffi, base.C
local OK, FAIL = base.OK, base.FAIL

describe("the FFI contract", function()
  local dir, path
  local err = ffi.new("rios_err")
  local raster_out = ffi.new("rios_raster *[1]")
  local int_out, double_out = ffi.new("int[1]"), ffi.new("double[1]")
  local str_out = ffi.new("const char *[1]")

  local function open(p)
    raster_out[0] = nil
    assert.are.equal(OK, C.rios_ffi_raster_open(p, raster_out, err))
    return ffi.gc(raster_out[0], C.rios_ffi_raster_close)
  end

  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/in.tif"
    H.make_raster(path, "int16", 2, 8, 10, function(b, r, c) return b * 100 + r * 10 + c end,
                  { nodata = -1, layer_names = { "red", "nir" } })
  end)
  after_each(function() H.cleanup() end)

  it("mirrors the codes once in Lua", function()
    assert.are.equal(0, OK)
    assert.are.equal(-1, FAIL)
  end)

  it("opens through an out-parameter and leaves it alone on failure", function()
    raster_out[0] = nil
    assert.are.equal(FAIL, C.rios_ffi_raster_open(dir .. "/missing.tif", raster_out, err))
    assert.is_true(raster_out[0] == nil)
    assert.truthy(ffi.string(err.msg):find("missing.tif: cannot open as a raster", 1, true))
    local r = open(path)
    assert.is_true(r ~= nil)
  end)

  it("says whether a band has nodata through out-parameters, and fails for a band it lacks", function()
    local r = open(path)
    assert.are.equal(OK, C.rios_ffi_raster_nodata(r, 2, int_out, double_out, err))
    assert.are.equal(1, int_out[0])
    assert.are.equal(-1, double_out[0])
    int_out[0] = 7
    assert.are.equal(FAIL, C.rios_ffi_raster_nodata(r, 3, int_out, double_out, err))
    assert.are.equal(7, int_out[0])
    assert.truthy(ffi.string(err.msg):find("in.tif: has no band 3 (it has 2)", 1, true))
  end)

  it("hands back band names, metadata and overviews through out-parameters", function()
    local r = open(path)
    assert.are.equal(OK, C.rios_ffi_raster_band_description(r, 2, str_out, err))
    assert.are.equal("nir", ffi.string(str_out[0]))
    assert.are.equal(FAIL, C.rios_ffi_raster_band_description(r, 0, str_out, err))
    assert.are.equal(OK, C.rios_ffi_raster_metadata(r, 1, 999, str_out, err))
    assert.is_true(str_out[0] == nil)
    assert.are.equal(FAIL, C.rios_ffi_raster_metadata(r, 5, 0, str_out, err))
    local sizes = ffi.new("int[8]")
    assert.are.equal(OK, C.rios_ffi_raster_overviews(r, 1, sizes, 4, int_out, err))
    assert.are.equal(0, int_out[0])
    assert.are.equal(FAIL, C.rios_ffi_raster_overviews(r, 9, sizes, 4, int_out, err))
  end)

  it("tells 'no statistics stored' from failure", function()
    local r = open(path)
    local four = ffi.new("double[4]")
    assert.are.equal(OK, C.rios_ffi_raster_stats(r, 1, 0, int_out, four, err))
    assert.are.equal(0, int_out[0])
    assert.are.equal(OK, C.rios_ffi_raster_stats(r, 1, 1, int_out, four, err))
    assert.are.equal(1, int_out[0])
    assert.are.same({ 0, 79 }, { four[0], four[1] })
    assert.are.equal(FAIL, C.rios_ffi_raster_stats(r, 3, 1, int_out, four, err))
  end)

  it("tells a driver that cannot create from one that does not exist", function()
    assert.are.equal(OK, C.rios_ffi_driver_can_create("GTiff", int_out, err))
    assert.are.equal(1, int_out[0])
    assert.are.equal(OK, C.rios_ffi_driver_can_create("PNG", int_out, err))
    assert.are.equal(0, int_out[0])
    assert.are.equal(FAIL, C.rios_ffi_driver_can_create("NoSuchDriver", int_out, err))
    assert.are.equal("no GDAL driver named 'NoSuchDriver'", ffi.string(err.msg))
  end)

  it("compares projections through an out-parameter", function()
    local r = open(path)
    local wkt = ffi.string(C.rios_ffi_raster_projection(r))
    assert.are.equal(OK, C.rios_ffi_same_projection(wkt, "EPSG:32755", int_out, err))
    assert.are.equal(1, int_out[0])
    assert.are.equal(OK, C.rios_ffi_same_projection(wkt, "EPSG:4326", int_out, err))
    assert.are.equal(0, int_out[0])
    assert.are.equal(OK, C.rios_ffi_same_projection(wkt, "not a projection", int_out, err))
    assert.are.equal(0, int_out[0])
  end)

  it("counts vector layers, none for a raster", function()
    local names = ffi.new("char[256]")
    assert.are.equal(OK, C.rios_ffi_vector_layers(path, names, 256, int_out, err))
    assert.are.equal(0, int_out[0])
  end)

  it("edits an open output, and leaves the range's out-parameters alone on failure", function()
    local out = ffi.new("rios_output *[1]")
    local t = ffi.new("double[6]", { 0, 1, 0, 0, 0, -1 })
    assert.are.equal(OK, C.rios_ffi_output_create(dir .. "/o.tif", "GTiff", 4, 3, 1, C.RIOS_UINT8,
                                                  t, "", nil, 0, 0, nil, 0, out, err))
    local o = ffi.gc(out[0], C.rios_ffi_output_close)
    local px = ffi.new("uint8_t[12]", { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 })
    assert.are.equal(OK, C.rios_ffi_output_write(o, 0, 0, 4, 3, px, 4, 3, 0, err))
    local lo, hi = ffi.new("double[1]"), ffi.new("double[1]")
    assert.are.equal(OK, C.rios_ffi_output_range(o, 1, int_out, lo, hi, err))
    assert.are.same({ 1, 1, 12 }, { int_out[0], lo[0], hi[0] })
    int_out[0] = 7
    assert.are.equal(FAIL, C.rios_ffi_output_range(o, 2, int_out, lo, hi, err))
    assert.are.same({ 7, 1, 12 }, { int_out[0], lo[0], hi[0] })
    assert.are.equal(FAIL, C.rios_ffi_output_set_nodata(o, 0, 1, err))
    assert.truthy(ffi.string(err.msg):find("o.tif: has no band 0 (it has 1)", 1, true))
    assert.are.equal(OK, C.rios_ffi_output_set_metadata(o, 0, "K", "v", err))
    assert.are.equal(OK, C.rios_ffi_output_set_description(o, 1, "d", err))
    local rgba = ffi.new("uint8_t[8]", { 0, 0, 0, 0, 9, 9, 9, 9 })
    assert.are.equal(FAIL, C.rios_ffi_output_set_color_table(o, 1, 2, rgba, err))
    assert.truthy(ffi.string(err.msg):find("a GeoTIFF palette keeps no alpha", 1, true))
  end)

  it("answers yes/no questions that cannot fail as booleans", function()
    assert.are.equal("boolean", type(C.rios_ffi_isatty(0)))
    assert.is_false(C.rios_ffi_interrupt_pending())
  end)
end)
