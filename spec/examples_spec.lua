-- Every example in scripts/ (not scripts/bench/) runs on data made here,
-- and its outputs are checked against the same computation done directly.
local H = require("support.helpers")


local function ls_scripts()
  local p = io.popen("cd " .. H.q(H.root .. "/scripts") .. " && ls -p")
  local names = {}
  for name in p:lines() do
    if not name:match("/$") then names[#names + 1] = name end
  end
  p:close()
  table.sort(names)
  return names
end

local covered = {}

-- Run scripts/NAME in dir with args (and env, a string of VAR=value).
local function run_example(dir, name, args, env)
  covered[name] = true
  local argstr = ""
  for _, a in ipairs(args) do argstr = argstr .. " " .. H.q(a) end
  local status, out, err = H.run("cd " .. H.q(dir) .. " && " .. (env and ("env " .. env .. " ") or "")
                                 .. H.q(H.exe) .. " " .. H.q(H.root .. "/scripts/" .. name)
                                 .. argstr)
  assert.are.equal(0, status, name .. ": " .. err)
  return out
end

-- Every pixel of band b (1-based) of a file as a function of (row, col).
local function pixels(path)
  local a = H.read(path)
  return function(b, r, c) return a.data[((b - 1) * a.rows + r) * a.cols + c] end, a
end

local function close(x, y, tol)
  return math.abs(x - y) <= (tol or 1e-5) * math.max(1, math.abs(y))
end

describe("examples in scripts/", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  local ROWS, COLS = 21, 26
  local function red_value(_, r, c) return (r * 37 + c * 11) % 900 + ((r + c) % 9 == 0 and 0 or 50) end
  local function nir_value(_, r, c) return (r * 13 + c * 29) % 1500 + ((r * c) % 7 == 0 and 0 or 20) end
  local function red_nir()
    H.make_raster(dir .. "/red.tif", "uint16", 1, ROWS, COLS, red_value)
    H.make_raster(dir .. "/nir.tif", "uint16", 1, ROWS, COLS, nir_value)
  end

  it("ndvi.lua computes (nir - red) / (nir + red)", function()
    red_nir()
    run_example(dir, "ndvi.lua", { "red.tif", "nir.tif", "ndvi.tif" })
    local got, a = pixels(dir .. "/ndvi.tif")
    assert.are.equal("float32", a.dtype)
    for r = 0, ROWS - 1 do
      for c = 0, COLS - 1 do
        local x, y = red_value(0, r, c), nir_value(0, r, c)
        local want = (x + y) == 0 and 0 or (y - x) / (y + x)
        assert.is_true(close(got(1, r, c), want), r .. "," .. c)
      end
    end
  end)

  it("band_maths_nodata.lua leaves out either input's nodata", function()
    local function av(_, r, c) return (r + c) % 5 == 0 and -1 or r * 3 + c end
    local function bv(_, r, c) return (r * c) % 7 == 3 and -5 or 100 - r - 2 * c end
    H.make_raster(dir .. "/a.tif", "int16", 1, ROWS, COLS, av, { nodata = -1 })
    H.make_raster(dir .. "/b.tif", "int16", 1, ROWS, COLS, bv, { nodata = -5 })
    run_example(dir, "band_maths_nodata.lua", { "a.tif", "b.tif", "diff.tif" },
                "RIOS_DFLT_BLOCKXSIZE=8 RIOS_DFLT_BLOCKYSIZE=8")
    local got = pixels(dir .. "/diff.tif")
    local n_nodata = 0
    for r = 0, ROWS - 1 do
      for c = 0, COLS - 1 do
        local x, y = av(0, r, c), bv(0, r, c)
        local want = (x == -1 or y == -5) and -9999 or y - x
        if want == -9999 then n_nodata = n_nodata + 1 end
        assert.are.equal(want, got(1, r, c))
      end
    end
    assert.truthy(n_nodata > 0)
    assert.are.equal(-9999, H.gdalinfo(dir .. "/diff.tif").bands[1].noDataValue)
  end)

  it("mean_of_files.lua averages a list of files", function()
    local fns = {}
    local names = {}
    for k = 1, 3 do
      fns[k] = function(_, r, c) return (r * k + c * (4 - k)) % 50 + k / 4 end
      names[k] = "in" .. k .. ".tif"
      H.make_raster(dir .. "/" .. names[k], "float32", 1, ROWS, COLS, fns[k])
    end
    local out = run_example(dir, "mean_of_files.lua",
                            { "mean.tif", names[1], names[2], names[3] })
    assert.truthy(out:find("from 3 files", 1, true))
    local got = pixels(dir .. "/mean.tif")
    for r = 0, ROWS - 1 do
      for c = 0, COLS - 1 do
        local want = (fns[1](0, r, c) + fns[2](0, r, c) + fns[3](0, r, c)) / 3
        assert.is_true(close(got(1, r, c), want))
      end
    end
  end)

  it("split_bands.lua writes one file per band", function()
    local function v(b, r, c) return b * 70 + r + c end
    H.make_raster(dir .. "/img.tif", "uint8", 3, ROWS, COLS, v)
    run_example(dir, "split_bands.lua", { "img.tif", "part" })
    for b = 1, 3 do
      local got, a = pixels(dir .. "/part_" .. b .. ".tif")
      assert.are.same({ 1, "uint8" }, { a.bands, a.dtype })
      for r = 0, ROWS - 1 do
        for c = 0, COLS - 1 do assert.are.equal(v(b - 1, r, c), got(1, r, c)) end
      end
    end
  end)

  it("filter3x3.lua takes the 3x3 mean across block edges", function()
    local function v(_, r, c) return (r * 7 + c * 3) % 23 end
    H.make_raster(dir .. "/img.tif", "int16", 1, ROWS, COLS, v)
    -- blocks of 8 x 8, so many pixels' neighbourhoods cross a block edge
    run_example(dir, "filter3x3.lua", { "img.tif", "smooth.tif" },
                "RIOS_DFLT_BLOCKXSIZE=8 RIOS_DFLT_BLOCKYSIZE=8")
    local got = pixels(dir .. "/smooth.tif")
    for r = 0, ROWS - 1 do
      for c = 0, COLS - 1 do
        local sum = 0
        for dr = -1, 1 do
          for dc = -1, 1 do
            local rr, cc = r + dr, c + dc
            if rr >= 0 and rr < ROWS and cc >= 0 and cc < COLS then sum = sum + v(0, rr, cc) end
          end
        end
        assert.is_true(close(got(1, r, c), sum / 9), r .. "," .. c)
      end
    end
  end)

  it("whole_stats.lua finds the mean in one pass and subtracts it in another", function()
    local function v(_, r, c) return (r * c) % 11 == 0 and 0 or r * 2 + c end
    H.make_raster(dir .. "/img.tif", "int32", 1, ROWS, COLS, v, { nodata = 0 })
    local out = run_example(dir, "whole_stats.lua", { "img.tif", "anom.tif" },
                            "RIOS_DFLT_BLOCKXSIZE=10 RIOS_DFLT_BLOCKYSIZE=10")
    local sum, count = 0, 0
    for r = 0, ROWS - 1 do
      for c = 0, COLS - 1 do
        if v(0, r, c) ~= 0 then sum, count = sum + v(0, r, c), count + 1 end
      end
    end
    local mean = sum / count
    assert.truthy(out:find(string.format("mean of %d pixels: %.6f", count, mean), 1, true), out)
    local got = pixels(dir .. "/anom.tif")
    for r = 0, ROWS - 1 do
      for c = 0, COLS - 1 do
        assert.is_true(close(got(1, r, c), v(0, r, c) - mean, 1e-4))
      end
    end
  end)

  it("zonal_stats.lua gives each polygon's pixel count, mean, min and max", function()
    local function vv(_, r, c) return (r * 31 + c * 7) % 97 end
    H.make_raster(dir .. "/values.tif", "int16", 1, ROWS, COLS, vv)
    -- the grid starts at x 500000, y 6000000 with 10 m pixels
    local f = assert(io.open(dir .. "/zones.csv", "w"))
    f:write("WKT,id\n\"POLYGON((500010 5999990,500100 5999990,500100 5999900,500010 5999900,"
            .. "500010 5999990))\",4\n\"POLYGON((500150 5999850,500250 5999850,500250 5999800,"
            .. "500150 5999800,500150 5999850))\",9\n")
    f:close()
    local out = run_example(dir, "zonal_stats.lua", { "values.tif", "zones.csv", "id" })
    -- the zones as gdal_rasterize burns them on the same grid
    assert.are.equal(0, (H.run("gdal_rasterize -q -a id -ot Int32 -init 0 -te 500000 5999790 "
                               .. "500260 6000000 -tr 10 10 " .. H.q(dir .. "/zones.csv") .. " "
                               .. H.q(dir .. "/zones.tif"))))
    local zone = pixels(dir .. "/zones.tif")
    local acc = {}
    for r = 0, ROWS - 1 do
      for c = 0, COLS - 1 do
        local z = zone(1, r, c)
        if z ~= 0 then
          local s = acc[z] or { 0, 0, math.huge, -math.huge }
          acc[z] = s
          local x = vv(0, r, c)
          s[1], s[2], s[3], s[4] = s[1] + 1, s[2] + x, math.min(s[3], x), math.max(s[4], x)
        end
      end
    end
    local want = { "zone,pixels,mean,min,max" }
    for _, z in ipairs({ 4, 9 }) do
      local s = acc[z]
      want[#want + 1] = string.format("%d,%d,%.6f,%d,%d", z, s[1], s[2] / s[1], s[3], s[4])
    end
    assert.are.equal(table.concat(want, "\n") .. "\n", out)
  end)

  it("classify.lua writes a thematic map of the decision tree's classes", function()
    red_nir()
    run_example(dir, "classify.lua", { "red.tif", "nir.tif", "classes.tif" })
    local got = pixels(dir .. "/classes.tif")
    local seen = {}
    for r = 0, ROWS - 1 do
      for c = 0, COLS - 1 do
        local x, y = red_value(0, r, c), nir_value(0, r, c)
        local want
        if x == 0 or y == 0 then
          want = 0
        elseif y < x then
          want = 1
        else
          local ndvi = (y - x) / (y + x)
          want = ndvi < 0.2 and 2 or ndvi < 0.5 and 3 or 4
        end
        seen[want] = true
        assert.are.equal(want, got(1, r, c))
      end
    end
    assert.are.same({ [0] = true, true, true, true, true }, seen)  -- every class occurs
    local band = H.gdalinfo(dir .. "/classes.tif").bands[1]
    assert.are.equal("thematic", band.metadata[""].LAYER_TYPE)
    assert.are.equal("class", band.description)
    assert.are.equal(0, band.noDataValue)
  end)

  it("make_demo_data.lua writes the demo pair", function()
    run_example(dir, "make_demo_data.lua", { "demo" })
    for _, name in ipairs({ "red", "nir" }) do
      local g = H.gdalinfo(dir .. "/demo/" .. name .. ".tif")
      assert.are.same({ 1000, 800 }, g.size)
      assert.are.equal("UInt16", g.bands[1].type)
    end
  end)

  it("explore_session.txt replays line for line at the prompt", function()
    covered["explore_session.txt"] = true
    local f = assert(io.open(H.root .. "/scripts/explore_session.txt"))
    local text = f:read("*a")
    f:close()
    -- typed lines, and the stream a prompt without a terminal prints:
    -- each prompt, then what the line printed
    local typed, want = {}, {}
    for line in text:gmatch("([^\n]*)\n") do
      local prompt, code = line:match("^(>>? )(.*)$")
      if prompt then
        typed[#typed + 1] = code
        want[#want + 1] = prompt
      elseif #typed > 0 then
        want[#want + 1] = line .. "\n"
      end
    end
    assert.truthy(#typed > 10)
    run_example(dir, "make_demo_data.lua", { "demo" })
    local input = dir .. "/typed.txt"
    local g = assert(io.open(input, "w"))
    g:write(table.concat(typed, "\n"), "\n")
    g:close()
    local status, out, err = H.run("cd " .. H.q(dir) .. " && " .. H.q(H.exe) .. " -i < typed.txt")
    assert.are.equal(0, status, err)
    assert.are.equal("", err)
    assert.are.equal(table.concat(want) .. "> \n", out)
    -- the previews it made
    assert.are.same({ 1000, 800 }, H.gdalinfo(dir .. "/ndvi.png").size)
    assert.are.same({ 250, 200 }, H.gdalinfo(dir .. "/red_small.png").size)
  end)

  it("covers every example", function()
    for _, name in ipairs(ls_scripts()) do
      assert.is_true(covered[name] == true, "scripts/" .. name .. " is not run by this spec")
    end
  end)

  it("opens every example with a header saying what it shows and how to run it", function()
    for _, name in ipairs(ls_scripts()) do
      local f = assert(io.open(H.root .. "/scripts/" .. name))
      local header = {}
      for line in f:lines() do
        if not line:match("^%-%-") then break end
        header[#header + 1] = line
      end
      f:close()
      local text = table.concat(header, "\n")
      assert.truthy(text:find("^%-%- " .. name:gsub("%p", "%%%0") .. ": "), name)
      assert.truthy(text:find("./rios-lua", 1, true), name .. " does not say how to run it")
      assert.truthy(text:find("Shows ", 1, true), name .. " does not say what it shows")
    end
  end)
end)


