-- Zero copy: input arrays point into buffers the runtime allocated (mapped
-- by the runtime, not Lua's heap), the same buffer for every block; arrays
-- made in the block function reuse the same arena memory block after block;
-- every one ends against a guard; and the Lua heap does not grow with the
-- number of pixels in a block.
local H = require("support.helpers")

describe("zero copy", function()
  after_each(H.cleanup)

  it("reads into one runtime-owned buffer per input, reused for every block, against a guard", function()
    local dir = H.tmpdir()
    H.make_raster(dir .. "/in.tif", "float64", 2, 300, 260, function(b, r, c) return b + r + c end)
    local status, out, err = H.run_script(dir, "job.lua", [[
      local ffi = require("ffi")
      local rios = require("rios")
      -- The mapping holding [p, p + n) and what follows it (/proc/self/maps).
      local function mapping(p, n)
        local a = tonumber(ffi.cast("uintptr_t", p))
        local f = assert(io.open("/proc/self/maps"))
        local found, after
        for line in f:lines() do
          local lo, hi, perms = line:match("^(%x+)-(%x+) (%S+)")
          lo, hi = tonumber(lo, 16), tonumber(hi, 16)
          if found and not after and lo == found.hi then after = perms end
          if not found and lo <= a and a + n <= hi then found = { hi = hi, perms = perms } end
        end
        f:close()
        return found, after
      end
      local inaddr, outbuf, blocks, guarded = {}, {}, 0, 0
      rios.apply(function(info, inputs, outputs)
        local img = inputs.img
        blocks = blocks + 1
        local n = img.bands * img.rows * img.cols * 8
        local p = tonumber(ffi.cast("uintptr_t", img.data))
        -- one buffer per input: every block's array ends where the buffer ends
        inaddr[p + n] = true
        local o = img:like()
        local q = tonumber(ffi.cast("uintptr_t", o.data))
        outbuf[q + n] = true
        -- each array is read and written memory that ends where a guard
        -- (mapped with no access) begins
        for _, a in ipairs({ { img.data, n }, { o.data, n } }) do
          local m, after = mapping(a[1], a[2])
          if m and m.perms:sub(1, 2) == "rw" and after == "---p"
             and m.hi == tonumber(ffi.cast("uintptr_t", a[1])) + a[2] then
            guarded = guarded + 1
          end
        end
        outputs.o = o
      end, { img = "in.tif" }, { o = "out.tif" }, nil,
         { window_xsize = 64, window_ysize = 64, omit_pyramids = true })
      local n_in, n_out = 0, 0
      for _ in pairs(inaddr) do n_in = n_in + 1 end
      for _ in pairs(outbuf) do n_out = n_out + 1 end
      print(blocks, n_in, n_out, guarded)
    ]])
    assert.are.equal(0, status, err)
    -- 5 x 5 blocks (the right and bottom ones smaller), one input buffer,
    -- one output buffer, every array against its guard
    assert.are.equal("25\t1\t1\t50\n", out)
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
