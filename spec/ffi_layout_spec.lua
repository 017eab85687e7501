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
    }
    for _, c in ipairs(checks) do
      assert.are.equal(tonumber(C.rios_ffi_layout(c[1])), c[2], "layout item " .. c[1])
    end
    assert.are.equal(0, tonumber(C.rios_ffi_layout(99)))
  end)

  it("knows the size of every dtype as C does", function()
    local rios = require("rios")
    for i, name in ipairs(rios.dtypes) do
      assert.are.equal(rios.dtype_size[name], C.rios_ffi_dtype_size(i - 1))
    end
  end)
end)
