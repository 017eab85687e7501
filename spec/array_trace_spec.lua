-- The documented loop idiom and every array operation (rios.reduce's
-- kernels too) compile to traces without aborts or NYI, for every dtype,
-- contiguous and windowed. The check
-- runs in its own rios-lua process (spec/support/trace_check.lua) with
-- hotloop lowered and LuaJIT's trace events attached, as jit.v does.
local H = require("support.helpers")

describe("traces", function()
  after_each(function() H.cleanup() end)

  for _, d in ipairs(require("rios").dtypes) do
    it("the loop idiom and every array operation trace without aborts for " .. d, function()
      local status, out, err = H.run(H.q(H.exe) .. " spec/support/trace_check.lua " .. d)
      assert.are.equal(0, status, err)
      local nloops, ncompiled, nfail = out:match("loops (%d+) compiled (%d+) failures (%d+)\n$")
      assert.truthy(nloops, out)
      -- every kernel that ran (about 115 per dtype: the elementwise
      -- operations, the unary and logical ones, rios.reduce's unrolled,
      -- grouped and staged kernels) and the idiom compiled
      assert.is_true(tonumber(nloops) >= 100, out)
      assert.are.equal(nloops, ncompiled, out)
      assert.are.equal("0", nfail, out)
    end)
  end
end)
