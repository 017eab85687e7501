-- Every dtype is read and written bit for bit: a copy through rios.apply
-- gives the same bytes as the input, checked with gdal_translate.
local ffi = require("ffi")
local rios = require("rios")
local H = require("support.helpers")

-- Values covering each type's extremes and a spread between them.
local extremes = {
  int8 = { -128, 127 }, uint8 = { 0, 255 }, int16 = { -32768, 32767 }, uint16 = { 0, 65535 },
  int32 = { -2147483648, 2147483647 }, uint32 = { 0, 4294967295 },
  float32 = { -3.4028234663852886e38, 3.4028234663852886e38 },
  float64 = { -1.7976931348623157e308, 1.7976931348623157e308 },
}
local gdal_type = { int8 = "Byte", uint8 = "Byte", int16 = "Int16", uint16 = "UInt16",
                    int32 = "Int32", uint32 = "UInt32", float32 = "Float32", float64 = "Float64" }

describe("every dtype", function()
  after_each(H.cleanup)

  for _, dtype in ipairs(rios.dtypes) do
    it("is copied bit for bit: " .. dtype, function()
      local dir = H.tmpdir()
      local lo, hi = extremes[dtype][1], extremes[dtype][2]
      local float = dtype:match("float")
      local src = H.make_raster(dir .. "/in.tif", dtype, 2, 37, 53, function(b, r, c)
        local k = (b * 37 + r) * 53 + c
        if k == 0 then return lo end
        if k == 1 then return hi end
        if float and k == 2 then return 0 / 0 end       -- NaN
        if float and k == 3 then return 1e-40 end       -- denormal in float32
        if float then return (k - 2000) * 0.37 end
        return lo + (k * 7919) % (hi - lo + 1)
      end)
      local status, _, err = H.run_script(dir, "copy.lua", [[
        local rios = require("rios")
        rios.apply(function(info, inputs, outputs) outputs.out = inputs.img end,
                   { img = "in.tif" }, { out = "out.tif" }, nil,
                   { window_xsize = 16, window_ysize = 16, omit_pyramids = true })
      ]])
      assert.are.equal(0, status, err)
      local want = H.array_bytes(src)
      assert.are.equal(#want, #H.raw_bytes(dir .. "/in.tif"))
      assert.is_true(want == H.raw_bytes(dir .. "/in.tif"))
      assert.is_true(want == H.raw_bytes(dir .. "/out.tif"), "output bytes differ")
      local info = H.gdalinfo(dir .. "/out.tif")
      assert.are.equal(gdal_type[dtype], info.bands[1].type)
      local back = rios.open(dir .. "/out.tif")
      assert.are.equal(dtype, back.dtype)
      assert.are.equal(2, back.bands)
      back:close()
      local _ = ffi
    end)
  end
end)
