-- The driver of an output: the one the user names (controls.driver,
-- per_image, RIOS_DFLT_DRIVER), else the one GDAL's own tools pick for the
-- file's extension; files GDAL cannot write block by block are refused
-- before anything is written.
local H = require("support.helpers")

describe("output drivers", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    H.make_raster(dir .. "/in.tif", "int16", 1, 20, 30, function(_, r, c) return r * 30 + c end)
  end)
  after_each(H.cleanup)

  local function copy(out, controls, env)
    local f = assert(io.open(dir .. "/c.lua", "w"))
    f:write([[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.o = inputs.a end,
  { a = "in.tif" }, { o = arg[1] }, nil, ]] .. (controls or "nil") .. [[)
]])
    f:close()
    return H.run("cd " .. H.q(dir) .. " && " .. (env or "") .. " " .. H.q(H.exe) .. " c.lua "
                 .. H.q(out))
  end

  local function driver_of(name)
    return H.gdalinfo(dir .. "/" .. name).driverShortName
  end

  it("follows the extension as GDAL's tools do", function()
    for _, case in ipairs({ { "o.tif", "GTiff" }, { "o.TIFF", "GTiff" }, { "o.img", "HFA" },
                            { "o.bil", "EHdr" }, { "o.abc", "GTiff" }, { "noext", "GTiff" } }) do
      local status, _, err = copy(case[1])
      assert.are.equal(0, status, case[1] .. ": " .. err)
      assert.are.equal(case[2], driver_of(case[1]), case[1])
      assert.are.equal(H.raw_bytes(dir .. "/in.tif"), H.raw_bytes(dir .. "/" .. case[1]))
    end
  end)

  it("keeps the driver the user names, whatever the extension", function()
    local status, _, err = copy("named.tif", "{ driver = 'HFA' }")
    assert.are.equal(0, status, err)
    assert.are.equal("HFA", driver_of("named.tif"))
    status, _, err = copy("env.tif", nil, "RIOS_DFLT_DRIVER=HFA")
    assert.are.equal(0, status, err)
    assert.are.equal("HFA", driver_of("env.tif"))
    status, _, err = copy("per.img", "{ per_image = { o = { driver = 'GTiff' } } }")
    assert.are.equal(0, status, err)
    assert.are.equal("GTiff", driver_of("per.img"))
  end)

  it("refuses PNG, JPEG and VRT outputs in one line, before writing anything", function()
    for _, case in ipairs({ { "x.png", "is a PNG file, which GDAL writes only as a copy of a whole "
                                       .. "raster, not block by block" },
                            { "x.jpg", "is a JPEG file, which GDAL writes only as a copy" },
                            { "x.vrt", "is a VRT, which describes other files and holds no pixels" } }) do
      local status, _, err = copy(case[1])
      assert.are.equal(1, status)
      assert.truthy(err:find("c.lua:2: output 'o': " .. case[1] .. " " .. case[2], 1, true), err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
      assert.is_nil(io.open(dir .. "/" .. case[1]))
    end
  end)

  it("refuses an extension whose driver this GDAL lacks, and netCDF, before writing anything",
     function()
    -- (Debian 12's GDAL has no KEA driver; a .kea must not silently become a GeoTIFF)
    local cases = { { "x.nc", "is a netCDF file, which rios-lua cannot write block by block" } }
    local _, formats = H.run("gdalinfo --formats")
    if not formats:find("KEA", 1, true) then
      cases[#cases + 1] = { "x.kea", "names a KEA file, but this GDAL has no KEA driver; give a "
                                     .. ".tif (or set controls.driver)" }
      cases[#cases + 1] = { "x.KEA", "names a KEA file, but this GDAL has no KEA driver" }
    end
    assert.truthy(#cases >= 2 or formats:find("KEA", 1, true))
    for _, case in ipairs(cases) do
      local status, _, err = copy(case[1])
      assert.are.equal(1, status, case[1])
      assert.truthy(err:find("c.lua:2: output 'o': " .. case[1] .. " " .. case[2], 1, true), err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
      assert.is_nil(io.open(dir .. "/" .. case[1]))
    end
  end)

  it("rios.write follows the extension too", function()
    local status, _, err = H.run_script(dir, "w.lua", [[
local rios = require("rios")
local a = rios.array("uint8", 1, 4, 5)
rios.write("w.img", a, { transform = { 0, 1, 0, 0, 0, -1 } })
local ok, e = pcall(rios.write, "w.png", a, { transform = { 0, 1, 0, 0, 0, -1 } })
print(ok, e)
]])
    assert.are.equal(0, status, err)
    assert.are.equal("HFA", driver_of("w.img"))
  end)
end)
