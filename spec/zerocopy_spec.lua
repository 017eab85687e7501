-- Zero copy: input arrays point into buffers the runtime allocated (C heap,
-- not Lua's), the same buffer for every block; arrays made in the block
-- function reuse the same arena memory block after block; and the Lua heap
-- does not grow with the number of pixels in a block.
local H = require("support.helpers")

describe("zero copy", function()
  after_each(H.cleanup)

  it("reads into one runtime-owned buffer per input, reused for every block", function()
    local dir = H.tmpdir()
    H.make_raster(dir .. "/in.tif", "float64", 2, 300, 260, function(b, r, c) return b + r + c end)
    local status, out, err = H.run_script(dir, "job.lua", [[
      local ffi = require("ffi")
      local rios = require("rios")
      ffi.cdef("size_t malloc_usable_size(void *ptr);")
      local inaddr, outaddr, blocks = {}, {}, 0
      local smallest = math.huge
      rios.apply(function(info, inputs, outputs)
        local img = inputs.img
        blocks = blocks + 1
        inaddr[tostring(ffi.cast("uintptr_t", img.data))] = true
        -- a block's worth of bytes lives in one C heap allocation
        local usable = tonumber(ffi.C.malloc_usable_size(ffi.cast("void *", img.data)))
        smallest = math.min(smallest, usable - img.bands * img.rows * img.cols * 8)
        local o = img:like()
        outaddr[tostring(ffi.cast("uintptr_t", o.data))] = true
        outputs.o = o
      end, { img = "in.tif" }, { o = "out.tif" }, nil,
         { window_xsize = 64, window_ysize = 64, omit_pyramids = true })
      local n_in, n_out = 0, 0
      for _ in pairs(inaddr) do n_in = n_in + 1 end
      for _ in pairs(outaddr) do n_out = n_out + 1 end
      print(blocks, n_in, n_out, smallest >= 0)
    ]])
    assert.are.equal(0, status, err)
    -- 5 x 5 blocks, one input address, one output address, all in C buffers
    assert.are.equal("25\t1\t1\ttrue\n", out)
  end)

  it("makes no Lua table or string of pixels per block", function()
    local dir = H.tmpdir()
    H.make_raster(dir .. "/in.tif", "float32", 1, 512, 512, function(_, r, c) return r - c end)
    -- Lua heap growth per block with the collector stopped, for small and
    -- large blocks: if pixels crossed into Lua, it would grow with them.
    local status, out, err = H.run_script(dir, "job.lua", [[
      local rios = require("rios")
      local function growth(w)
        local before, blocks
        collectgarbage("collect")
        collectgarbage("stop")
        blocks = 0
        rios.apply(function(info, inputs, outputs)
          if blocks == 1 then before = collectgarbage("count") end
          blocks = blocks + 1
          local o = inputs.img:like()
          local s, d = inputs.img.data, o.data
          for i = 0, o.rows * o.cols - 1 do d[i] = s[i] * 2 end
          outputs.o = o
        end, { img = "in.tif" }, { o = "out.tif" }, nil,
           { window_xsize = w, window_ysize = w, omit_pyramids = true,
             omit_histogram = true, omit_basic_stats = true })
        local kb = collectgarbage("count") - before
        collectgarbage("restart")
        return kb / (blocks - 1)
      end
      growth(32)   -- warm up: modules loaded, traces compiled
      print(string.format("%.3f %.3f", growth(32), growth(256)))
    ]])
    assert.are.equal(0, status, err)
    local small, large = out:match("(%S+) (%S+)")
    small, large = tonumber(small), tonumber(large)
    -- a 256 x 256 float32 block is 256 KB of pixels; per block the Lua heap
    -- grows by a few small tables at most, the same for both sizes
    assert.is_true(large < 4, "Lua heap grew " .. large .. " KB per 256x256 block")
    assert.is_true(small < 4, "Lua heap grew " .. small .. " KB per 32x32 block")
  end)
end)
