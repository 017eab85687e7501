-- The FFI declarations (generated from runtime/rios_ffi.h) agree with the C
-- compiler's layout of the same structs.
local ffi = require("ffi")
local C = require("rios.base").C

describe("FFI layout", function()
  it("matches C for every struct Lua sees", function()
    local checks = {
      { 0, ffi.sizeof("rios_err") },
      { 1, ffi.sizeof("rios_raster_info") },
      { 2, ffi.offsetof("rios_raster_info", "transform") },
      { 3, ffi.offsetof("rios_raster_info", "is_vector") },
      { 4, ffi.sizeof("rios_finish_opts") },
      { 5, ffi.offsetof("rios_finish_opts", "overview_levels") },
      { 6, ffi.offsetof("rios_finish_opts", "overview_aggtype") },
      { 7, ffi.sizeof("rios_finish_times") },
      { 8, ffi.sizeof("rios_dtype_info") },
      { 9, ffi.offsetof("rios_dtype_info", "size") },
      { 10, ffi.sizeof("rios_path_facts") },
      { 11, ffi.offsetof("rios_path_facts", "canonical") },
    }
    for _, c in ipairs(checks) do
      assert.are.equal(tonumber(C.rios_ffi_layout(c[1])), c[2], "layout item " .. c[1])
    end
    assert.are.equal(0, tonumber(C.rios_ffi_layout(99)))
  end)

  it("reads the one dtype table from C, whose sizes agree with LuaJIT's C types", function()
    local rios = require("rios")
    local base = require("rios.base")
    assert.are.same({ "int8", "uint8", "int16", "uint16", "int32", "uint32", "float32",
                      "float64" }, rios.dtypes)
    for i, name in ipairs(rios.dtypes) do
      assert.are.equal(i - 1, base.dtype_code[name])
      assert.are.equal(ffi.sizeof(base.dtype_cname[name]), rios.dtype_size[name], name)
      assert.are.equal(rios.dtype_size[name], C.rios_ffi_dtype_size(i - 1))
      assert.are.equal(not name:match("^float"), base.dtype_is_integer[name], name)
    end
    assert.are.equal("UInt16", base.dtype_gdal.uint16)
    assert.are.equal(C.rios_ffi_gdal_version() >= 3070000 and "Int8" or "Byte", base.dtype_gdal.int8)
    assert.are.equal(0, C.rios_ffi_dtype_size(C.RIOS_NDTYPES))
  end)
end)
