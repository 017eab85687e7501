-- Out-of-range raw access is caught (runtime/guard.c): every array's memory
-- ends against a guard, so a loop over data that runs one element past the
-- end ends the run with one line naming the block (exit 1, no temporary
-- folder left), whichever thread or process computes it; with --check (or
-- controls.check) the same mistake is an error naming the script's line,
-- the index and the size. Real processes, real files.
local H = require("support.helpers")

-- 300 x 260 pixels in 128 x 128 windows: 3 x 3 blocks, the last one
-- 44 x 4; a vector input, so the run has a temporary folder (under tmp/)
-- while it runs.
local BLOCKS = {
  first = { "0,0", "(row 0, col 0) [x=0 y=0 128x128]" },
  middle = { "1,1", "(row 1, col 1) [x=128 y=128 128x128]" },
  last = { "2,2", "(row 2, col 2) [x=256 y=256 44x4]" },
}

-- arg: kind (read_input, write_input, read_made, write_made, read_lut), the
-- block that runs one element too far ("x,y", or "none"), the output name,
-- and "check" to ask for controls.check. The bug is on line 16.
local SCRIPT = [[
local rios = require("rios")
local kind, target, outname, check = arg[1], arg[2], arg[3], arg[4] == "check"
local lut = rios.array("float32", 1, 1, 256)  -- made outside the block function
for i = 0, 255 do lut.data[i] = i * 0.5 end
rios.apply(function(info, inputs, outputs)
  local img = inputs.img
  local made = img:like("float32")
  local x, o, l = img.data, made.data, lut.data
  local n = img.bands * img.rows * img.cols
  for i = 0, n - 1 do o[i] = x[i] * 2 + l[x[i] % 256] end
  local last = n - 1
  if info.xblock .. "," .. info.yblock == target then last = n end
  local v = 0
  for i = 0, last do
    local j = i < n and i or 0
    if kind == "read_input" then v = v + x[i] elseif kind == "write_input" then x[i] = x[j] elseif kind == "read_made" then v = v + o[i] elseif kind == "write_made" then o[i] = o[j] elseif kind == "read_lut" then v = v + l[i % 256 + (i == n and 256 or 0)] end
  end
  local inside = made:window(1, 1, made.cols - 2, made.rows - 2)
  outputs.out = made + inside:sum() * 0 + inputs.shape:astype("float32") + (v > -1 and 0 or 1)
end, { img = "in.tif", shape = "shape.geojson" }, { out = outname }, nil,
   { window_xsize = 128, window_ysize = 128, tempdir = "tmp", check = check,
     omit_pyramids = true })
]]
local BUG_LINE = 16   -- the line of the loop's body that indexes data

local function feature_collection()
  return '{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":'
         .. '"urn:ogc:def:crs:EPSG::32755"}},"features":[{"type":"Feature","properties":{},'
         .. '"geometry":{"type":"Polygon","coordinates":[[[500100,5999900],[502500,5999700],'
         .. '[501000,5997500],[500100,5999900]]]}}]}'
end

describe("guards after arrays", function()
  local dir
  setup(function()
    dir = H.tmpdir()
    H.make_raster(dir .. "/in.tif", "uint16", 1, 260, 300,
                  function(_, r, c) return (r * 7 + c * 3) % 1000 end)
    local f = assert(io.open(dir .. "/shape.geojson", "w"))
    f:write(feature_collection())
    f:close()
    f = assert(io.open(dir .. "/job.lua", "w"))
    f:write(SCRIPT)
    f:close()
  end)
  teardown(function() H.cleanup() end)

  local function run(opts, args)
    os.execute("rm -rf " .. H.q(dir .. "/tmp") .. " && mkdir " .. H.q(dir .. "/tmp"))
    local argstr = ""
    for _, a in ipairs(args) do argstr = argstr .. " " .. H.q(a) end
    return H.run("cd " .. H.q(dir) .. " && timeout 60 " .. H.q(H.exe) .. " " .. opts
                 .. " job.lua" .. argstr .. " </dev/null")
  end

  local function leftovers()
    local p = io.popen("ls -A " .. H.q(dir .. "/tmp"))
    local s = p:read("*a")
    p:close()
    return s
  end

  local FAULT = "the block function read or wrote past the end of an array in block %s "
                .. "(an index past rows * cols * bands in a loop over data?); run with "
                .. "--check to find the line"

  for _, opts in ipairs({ "", "-j 2" }) do
    for _, kind in ipairs({ "read_input", "write_input", "read_made", "write_made" }) do
      for _, which in ipairs({ "first", "middle", "last" }) do
        local block = BLOCKS[which]
        it(string.format("%s one past the end in the %s block%s: exit 1, one line naming the "
                         .. "block", kind, which, opts ~= "" and (" with " .. opts) or ""),
           function()
          local status, out, err = run(opts, { kind, block[1], "out.tif" })
          assert.are.equal(1, status, err)
          assert.are.equal("rios-lua: " .. FAULT:format(block[2]) .. "\n", err)
          assert.are.equal("", out)
          assert.falsy(err:find("Segmentation", 1, true))
          assert.are.equal("", leftovers())
        end)
      end
    end
  end

  it("names the block when the function reads past an array made before rios.apply", function()
    local status, _, err = run("", { "read_lut", BLOCKS.middle[1], "out.tif" })
    assert.are.equal(1, status, err)
    assert.are.equal("rios-lua: " .. FAULT:format(BLOCKS.middle[2]) .. "\n", err)
    assert.are.equal("", leftovers())
  end)

  it("reports a worker process's overrun once, from the main process, naming the worker",
     function()
    local status, out, err = run("--kind subproc -j 2", { "write_made", BLOCKS.last[1], "out.tif" })
    assert.are.equal(1, status, err)
    local line = err:match("^([^\n]*)\n$")
    assert.truthy(line, "not one line: " .. err)
    assert.truthy(line:match("^job%.lua:5: rios%.apply failed: compute worker %d %(pid %d+ on [^)]+%): ")
                  , line)
    assert.truthy(line:find(FAULT:format(BLOCKS.last[2]), 1, true), line)
    assert.are.equal("", out)
    assert.are.equal("", leftovers())
  end)

  it("leaves any other fault a crash, with no temporary folder left", function()
    local f = assert(io.open(dir .. "/crash.lua", "w"))
    f:write([[
local ffi = require("ffi")
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
  ffi.cast("int *", 64)[0] = 1   -- not an array's guard: an address nothing maps
end, { img = "in.tif", shape = "shape.geojson" }, { out = "crash.tif" }, nil,
  { tempdir = "tmp", window_xsize = 128, window_ysize = 128 })
]])
    f:close()
    os.execute("rm -rf " .. H.q(dir .. "/tmp") .. " && mkdir " .. H.q(dir .. "/tmp"))
    -- (not the subshell's last command, so the subshell reports the signal)
    local status, _, err = H.run("cd " .. H.q(dir) .. " && " .. H.q(H.exe) .. " crash.lua; exit $?")
    assert.is_true(status ~= 0 and status ~= 1, "status " .. tostring(status) .. ": " .. err)
    assert.falsy(err:find("block function", 1, true))
    assert.are.equal("", leftovers())
  end)

  describe("with --check", function()
    for _, opts in ipairs({ "--check", "--check -j 2", "--check --kind subproc -j 2" }) do
      for _, case in ipairs({ { "read_input", "first", "uint16" },
                              { "write_made", "last", "float32" },
                              { "write_input", "middle", "uint16" } }) do
        it(string.format("%s: %s in the %s block names job.lua:%d, the index and the size",
                         opts, case[1], case[2], BUG_LINE), function()
          local status, out, err = run(opts, { case[1], BLOCKS[case[2]][1], "out.tif" })
          assert.are.equal(1, status, err)
          assert.are.equal("", out)
          local n = case[2] == "last" and 44 * 4 or 128 * 128
          local line = err:match("^([^\n]*)\n$")
          assert.truthy(line, "not one line: " .. err)
          local want = string.format("job.lua:%d: data[%d] is outside the array in block %s: "
                                     .. "data has %d elements (0..%d), a %s array of 1 band x "
                                     .. "%d rows x %d cols", BUG_LINE, n, BLOCKS[case[2]][2], n,
                                     n - 1, case[3], case[2] == "last" and 4 or 128,
                                     case[2] == "last" and 44 or 128)
          assert.truthy(line:find(want, 1, true), line .. "\nwanted: " .. want)
          assert.are.equal("", leftovers())
        end)
      end
    end

    for _, opts in ipairs({ "", "-j 2", "--kind subproc -j 2" }) do
      it("is what controls.check = true gives too" .. (opts ~= "" and (" (" .. opts .. ")") or ""),
         function()
        local status, _, err = run(opts, { "write_made", BLOCKS.middle[1], "out.tif", "check" })
        assert.are.equal(1, status, err)
        assert.truthy(err:find("job.lua:" .. BUG_LINE .. ": data[16384] is outside the array in "
                               .. "block " .. BLOCKS.middle[2], 1, true), err)
        assert.are.equal(1, select(2, err:gsub("\n", "")), err)
      end)
    end
  end)

  it("writes the same pixels with and without --check, at every scale, when nothing overruns",
     function()
    -- the expected pixels, computed here from the input and the polygon's
    -- raster as GDAL makes it
    local inp = H.raw_bytes(dir .. "/in.tif")
    local status, _, err = H.run("gdal_rasterize -q -burn 1 -ot Byte -te 500000 5997400 503000 "
                                 .. "6000000 -tr 10 10 " .. H.q(dir .. "/shape.geojson") .. " "
                                 .. H.q(dir .. "/shape.tif"))
    assert.are.equal(0, status, err)
    local burn = H.raw_bytes(dir .. "/shape.tif")
    local ffi = require("ffi")
    local n = 300 * 260
    local src = ffi.cast("const uint16_t *", inp)
    local want = ffi.new("float[?]", n)
    for i = 0, n - 1 do
      local v = src[i]
      want[i] = v * 2 + (v % 256) * 0.5 + burn:byte(i + 1)
    end
    local expected = ffi.string(want, n * 4)
    for i, opts in ipairs({ "", "--check", "-j 2", "--check -j 2", "--kind subproc -j 2",
                            "--check --kind subproc -j 2" }) do
      local name = "same" .. i .. ".tif"
      local rc, out, e = run(opts, { "read_input", "none", name })
      assert.are.equal(0, rc, opts .. ": " .. e)
      assert.are.equal("", out)
      assert.are.equal("", e, opts)
      assert.are.equal(expected, H.raw_bytes(dir .. "/" .. name), opts)
      assert.are.equal("", leftovers())
    end
  end)
end)
