-- scripts/ndvi.lua on a made red/NIR pair: every output pixel equals
-- (nir - red) / (nir + red) as float32.
local ffi = require("ffi")
local H = require("support.helpers")

describe("scripts/ndvi.lua", function()
  after_each(H.cleanup)

  it("writes (nir - red) / (nir + red) for every pixel", function()
    local dir = H.tmpdir()
    local rows, cols = 301, 413
    local red = H.make_raster(dir .. "/red.tif", "uint16", 1, rows, cols,
                              function(_, r, c) return (r * 37 + c * 11) % 3000 end)
    local nir = H.make_raster(dir .. "/nir.tif", "uint16", 1, rows, cols,
                              function(_, r, c) return (r * 13 + c * 29) % 5000 end)
    local status, out, err = H.run(H.q(H.exe) .. " scripts/ndvi.lua " .. dir .. "/red.tif "
                                   .. dir .. "/nir.tif " .. dir .. "/ndvi.tif")
    assert.are.equal(0, status, err)
    assert.truthy(out:find("Wall clock elapsed time", 1, true))
    local ndvi = H.read(dir .. "/ndvi.tif")
    assert.are.same({ "float32", rows, cols }, { ndvi.dtype, ndvi.rows, ndvi.cols })
    local f = ffi.new("float[1]")
    local zeros = 0
    for i = 0, rows * cols - 1 do
      local r, n = red.data[i], nir.data[i]
      f[0] = (n + r) == 0 and 0 or (n - r) / (n + r)
      if n + r == 0 then zeros = zeros + 1 end
      assert.are.equal(f[0], ndvi.data[i])
    end
    assert.is_true(zeros > 0)   -- the 0/0 case is exercised
  end)
end)
