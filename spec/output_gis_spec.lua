-- What GIS users expect of rios.apply's outputs: colour tables
-- (controls.color_table), a thematic output's histogram as its attribute
-- table's Histogram column (as RIOS writes it), controls.before_close on
-- the still-open raster, and Cloud Optimized GeoTIFFs (driver = "COG").
-- Every run is a real rios-lua process, alone and with compute workers (the
-- writer is shared); every file is checked with GDAL's own readers
-- (gdalinfo -json, the .aux.xml GDAL writes, GDAL's COG validator).
local H = require("support.helpers")
local rios = require("rios")
local ramps = require("rios.ramps")

-- 7 classes (0..6) in stripes, 300 x 260: class v has a known count.
local ROWS, COLS = 260, 300
local function class_of(r, c) return (r + 2 * c) % 7 end
local function class_counts()
  local n = {}
  for v = 0, 6 do n[v] = 0 end
  for r = 0, ROWS - 1 do
    for c = 0, COLS - 1 do
      local v = class_of(r, c)
      n[v] = n[v] + 1
    end
  end
  return n
end

local RUN_OPTS = { "", "-j 2", "--kind subproc -j 2" }

-- GDAL's own COG check (validate_cloud_optimized_geotiff, from python3-gdal,
-- run by the system's python3): status 0 for a valid COG, and its report.
local function cog_valid(path)
  local status, out, err = H.run("/usr/bin/python3 -m "
                                 .. "osgeo_utils.samples.validate_cloud_optimized_geotiff "
                                 .. H.q(path))
  assert(status == 0 or out:find("is NOT a valid cloud optimized GeoTIFF", 1, true),
         "GDAL's COG validator did not run (python3-gdal): " .. err)
  return status == 0, out
end

local function lines(s)
  local list = {}
  for l in s:gmatch("[^\n]+") do list[#list + 1] = l end
  return list
end

describe("apply outputs for GIS", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    H.make_raster(dir .. "/classes.tif", "uint8", 1, ROWS, COLS,
                  function(_, r, c) return class_of(r, c) end)
  end)
  after_each(H.cleanup)

  -- Run a script in dir with the given rios-lua options; returns status, out, err.
  local function run(opts, source, name)
    name = name or "s.lua"
    local f = assert(io.open(dir .. "/" .. name, "w"))
    f:write(source)
    f:close()
    return H.run("cd " .. H.q(dir) .. " && " .. H.q(H.exe) .. " " .. (opts or "") .. " " .. name)
  end

  -- A script copying classes.tif to each of outs ({name = file}) with controls.
  local function copy_script(outs, controls)
    local o = {}
    for name, file in pairs(outs) do o[#o + 1] = name .. " = " .. string.format("%q", file) end
    return [[
local rios = require("rios")
local outs = { ]] .. table.concat(o, ", ") .. [[ }
rios.apply(function(info, inputs, outputs)
  for name in pairs(outs) do outputs[name] = inputs.a end
end, { a = "classes.tif" }, outs, nil, ]] .. controls .. [[)
]]
  end

  describe("controls.color_table", function()
    for _, opts in ipairs(RUN_OPTS) do
      it("gives each output its table, a ramp spread over its data" .. (opts ~= "" and " (" .. opts .. ")" or ""), function()
        local status, _, err = run(opts, copy_script({ cls = "cls.tif", ramp = "ramp.img" }, [[{
  thematic = true,
  color_table = { [0] = { 230, 25, 75 }, [3] = { 60, 180, 75 }, [6] = { 0, 130, 200, 255 } },
  per_image = { ramp = { color_table = "viridis", stats_ignore = 0 } } }]]))
        assert.are.equal(0, status, err)
        local b = H.gdalinfo(dir .. "/cls.tif").bands[1]
        assert.are.equal("Palette", b.colorInterpretation)
        local e = b.colorTable.entries
        assert.are.same({ 230, 25, 75, 255 }, e[1])
        assert.are.same({ 60, 180, 75, 255 }, e[4])
        assert.are.same({ 0, 130, 200, 255 }, e[7])
        assert.are.same({ 0, 0, 0, 255 }, e[2])   -- not listed; GeoTIFF keeps no alpha
        -- the ramp spreads over 1..6 (0 is the nodata, transparent; HFA keeps alpha)
        local rb = H.gdalinfo(dir .. "/ramp.img").bands[1]
        assert.are.equal("Palette", rb.colorInterpretation)
        local re = rb.colorTable.entries
        assert.are.equal(7, rb.colorTable.count)
        assert.are.same({ 0, 0, 0, 0 }, re[1])
        assert.are.same({ 68, 1, 84, 255 }, re[2])
        assert.are.same({ 253, 231, 37, 255 }, re[7])
        local r, g, bl = ramps.at("viridis", 0.4)
        assert.are.same({ r, g, bl, 255 }, re[4])   -- value 3: (3 - 1) / 5
        -- the pixels are the input's
        assert.are.equal(H.raw_bytes(dir .. "/classes.tif"), H.raw_bytes(dir .. "/cls.tif"))
        assert.are.equal(H.raw_bytes(dir .. "/classes.tif"), H.raw_bytes(dir .. "/ramp.img"))
      end)
    end

    it("spreads a ramp over the data even when statistics are omitted", function()
      local status, _, err = run("", copy_script({ o = "o.tif" }, [[{
  color_table = "grey", omit_basic_stats = true, omit_histogram = true }]]))
      assert.are.equal(0, status, err)
      local b = H.gdalinfo(dir .. "/o.tif").bands[1]
      assert.is_nil(b.minimum)   -- still omitted
      assert.are.same({ 0, 0, 0, 255 }, b.colorTable.entries[1])
      assert.are.same({ 255, 255, 255, 255 }, b.colorTable.entries[7])
    end)

    it("refuses a bad table in one line naming the output and the key, before writing", function()
      local cases = {
        { "{ color_table = { [3] = { 1, 2 } } }",
          "s.lua:3: output 'o': color_table [3] must be {r, g, b [, a]} of whole numbers 0..255" },
        { "{ per_image = { o = { color_table = 'rainbow' } } }",
          "s.lua:3: output 'o': color_table \"rainbow\" is not a ramp (one of" },
        { "{ color_table = 7 }",
          "s.lua:3: controls key 'color_table' must be a table {[value] = {r, g, b [, a]}} or "
          .. "the name of a ramp, got 7" },
        { "{ color_table = { [1] = { 1, 2, 3, 128 } } }",
          "s.lua:3: output 'o': a GeoTIFF palette keeps no alpha, and entry 1 has alpha 128" },
        { "{ color_table = { ramp = 'viridis', min = 0, max = 300 } }",
          "s.lua:3: output 'o': a uint8 band cannot have a colour table of 301 entries" },
      }
      for _, case in ipairs(cases) do
        local status, _, err = run("", copy_script({ o = "o.tif" }, case[1]))
        assert.are.equal(1, status, case[1])
        assert.truthy(err:find(case[2], 1, true), err)
        assert.are.equal(1, #lines(err), err)
        assert.is_nil(io.open(dir .. "/o.tif"), case[1])
      end
      -- a float output cannot index a table: refused before the file is made
      local status, _, err = run("", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.f = inputs.a:astype("float32") end,
  { a = "classes.tif" }, { f = "f.tif" }, nil, { color_table = "viridis" })
]])
      assert.are.equal(1, status)
      assert.truthy(err:find("s.lua:2: output 'f': a colour table needs a band of pixel values "
                             .. "0 and up (uint8, uint16, int16, uint32 or int32), not float32",
                             1, true), err)
      assert.is_nil(io.open(dir .. "/f.tif"))
    end)
  end)

  describe("a thematic output's histogram", function()
    it("is its attribute table's Histogram column, as RIOS writes it (GTiff)", function()
      local status, _, err = run("-j 2", copy_script({ t = "t.tif", c = "c.tif" }, [[{
  per_image = { t = { thematic = true } } }]]))
      assert.are.equal(0, status, err)
      local info = H.gdalinfo(dir .. "/t.tif")
      local rat = info.rat
      assert.truthy(rat, "no attribute table")
      assert.are.same({ { index = 0, name = "Histogram", type = 1, usage = 1 } }, rat.fieldDefn)
      assert.are.equal(0, rat.row0Min)
      assert.are.equal(1, rat.binSize)
      local want = class_counts()
      assert.are.equal(7, #rat.row)
      for v = 0, 6 do
        assert.are.equal(v, rat.row[v + 1].index)
        assert.are.equal(want[v], rat.row[v + 1].f[1], "value " .. v)
      end
      -- beside it, RIOS's metadata keys and GDAL's default histogram stay
      local md = info.bands[1].metadata[""]
      assert.are.equal("direct", md.STATISTICS_HISTOBINFUNCTION)
      assert.are.equal("7", md.STATISTICS_HISTONUMBINS)
      local h = H.gdalinfo(dir .. "/t.tif", "-hist").bands[1].histogram
      assert.are.equal(7, h.count)
      -- rios.rat reads the column back and weighs rows by it, as RIOS's RatStats
      local col = rios.rat.read_column(dir .. "/t.tif", "Histogram")
      assert.are.equal(want[6], col.data[6])
      assert.are.equal("PixelCount", rios.rat.column_usage(dir .. "/t.tif", "Histogram"))
      local st = rios.rat.stats(dir .. "/t.tif", "Histogram", { histogram_weighted = false })
      assert.are.equal(ROWS * COLS, st.sum)
      -- an athematic output keeps no table
      assert.is_nil(H.gdalinfo(dir .. "/c.tif").rat)
    end)

    it("is a Histogram column in every band, and in HFA files (written by the driver)", function()
      local status, _, err = run("", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
  local two = rios.array("uint16", 2, inputs.a.rows, inputs.a.cols)
  local a, d, n = inputs.a.data, two.data, inputs.a.rows * inputs.a.cols
  for i = 0, n - 1 do d[i] = a[i]; d[n + i] = a[i] * 100 end
  outputs.g, outputs.h = two, inputs.a
end, { a = "classes.tif" }, { g = "two.tif", h = "t.img" }, nil, { thematic = true })
]])
      assert.are.equal(0, status, err)
      local want = class_counts()
      local b2 = rios.rat.read_column(dir .. "/two.tif", "Histogram", 2)
      assert.are.equal(601, b2.cols)   -- values 0..600, one row each
      assert.are.equal(want[6], b2.data[600])
      assert.are.equal(want[1], b2.data[100])
      assert.are.equal(0, b2.data[50])
      -- GDAL's reader finds both bands' tables in the .aux.xml it wrote
      local f = assert(io.open(dir .. "/two.tif.aux.xml"))
      local xml = f:read("*a")
      f:close()
      local _, ntables = xml:gsub("<GDALRasterAttributeTable", "")
      assert.are.equal(2, ntables)
      local rat = H.gdalinfo(dir .. "/t.img").rat
      assert.are.equal("Histogram", rat.fieldDefn[1].name)
      assert.are.equal(1, rat.fieldDefn[1].usage)
      assert.are.equal(want[3], rat.row[4].f[1])
    end)

    it("has no column when values below 0 leave rows without a pixel value", function()
      local status, _, err = run("", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
  outputs.n = inputs.a:astype("int16") - 3
end, { a = "classes.tif" }, { n = "neg.tif" }, nil, { thematic = true })
]])
      assert.are.equal(0, status, err)
      local info = H.gdalinfo(dir .. "/neg.tif")
      assert.is_nil(info.rat)
      assert.are.equal("-3", info.bands[1].metadata[""].STATISTICS_HISTOMIN)
    end)
  end)

  describe("controls.before_close", function()
    local script = [[
local rios = require("rios")
local calls = {}
local result = rios.apply(function(info, inputs, outputs)
  outputs.cls = inputs.a
  outputs.many = { inputs.a, inputs.a }
end, { a = "classes.tif" }, { cls = "cls.tif", many = { "m1.tif", "m2.img" } }, nil, {
  thematic = true,
  color_table = "classes",
  before_close = function(ds)
    calls[#calls + 1] = tostring(ds) .. (rios.is_worker() and " in a worker" or "")
    ds:set_metadata("PRODUCER", "output_gis_spec " .. ds.name)
    ds:set_metadata("CLASS_COUNT", 7, 1)
    ds:set_metadata("STATISTICS_MAXIMUM", "999", 1)   -- the statistics come after
    ds:set_description(1, "landcover")
    ds:set_nodata(1, 6)
  end,
  per_image = { cls = { before_close = function(ds)
    calls[#calls + 1] = tostring(ds)
    ds:set_color_table(1, { [1] = { 1, 2, 3 }, [2] = { 4, 5, 6 } })
    ds:set_metadata("PRODUCER", "own")
  end } },
})
table.sort(calls)
print(table.concat(calls, "\n"))
print("timed", #result.timings.durations.beforeclose)
]]
    for _, opts in ipairs(RUN_OPTS) do
      it("runs once per output on the open raster, in the main process" .. (opts ~= "" and " (" .. opts .. ")" or ""), function()
        local status, out, err = run(opts, script)
        assert.are.equal(0, status, err)
        assert.are.same({
          "output 'cls' (cls.tif, 300 x 260, 1 bands of uint8, GTiff)",
          "output 'many[1]' (m1.tif, 300 x 260, 1 bands of uint8, GTiff)",
          "output 'many[2]' (m2.img, 300 x 260, 1 bands of uint8, HFA)",
          "timed\t3",
        }, lines(out))
        for _, f in ipairs({ "m1.tif", "m2.img" }) do
          local info = H.gdalinfo(dir .. "/" .. f)
          local b = info.bands[1]
          assert.are.equal("output_gis_spec many", info.metadata[""].PRODUCER, f)
          assert.are.equal("7", b.metadata[""].CLASS_COUNT, f)
          assert.are.equal("landcover", b.description, f)
          assert.are.equal(6, b.noDataValue, f)
          -- the statistics were stored after it, from the pixels written
          assert.are.equal(6, b.maximum, f)
          -- the controls' table was set first
          assert.are.same({ 31, 119, 180, 255 }, b.colorTable.entries[1], f)
          assert.are.equal(H.raw_bytes(dir .. "/classes.tif"), H.raw_bytes(dir .. "/" .. f))
        end
        -- per_image replaces the top-level function; its table replaces the controls'
        local b = H.gdalinfo(dir .. "/cls.tif").bands[1]
        assert.are.same({ 1, 2, 3, 255 }, b.colorTable.entries[2])
        assert.are.same({ 4, 5, 6, 255 }, b.colorTable.entries[3])
        assert.are.equal("own", H.gdalinfo(dir .. "/cls.tif").metadata[""].PRODUCER)
        assert.is_nil(b.noDataValue)
      end)
    end

    it("reports an error inside it in one line naming the output and the user's line", function()
      local cases = {
        { "function(ds) local t = nil; return t.x end",
          "s.lua:4: output 'o': controls.before_close: attempt to index local 't' (a nil value)" },
        { "function(ds) ds:set_nodata(2, 0) end",
          "s.lua:4: output 'o': controls.before_close: ds:set_nodata: band must be a whole "
          .. "number 1..1, got 2" },
        { "function(ds) ds:set_metadata('A=B', 1) end",
          "s.lua:4: output 'o': controls.before_close: ds:set_metadata: key must be a non-empty "
          .. "string without '='" },
        { "function(ds) ds:set_color_table(1, { [1] = { 1, 2, 3, 9 } }) end",
          "s.lua:4: output 'o': controls.before_close: ds:set_color_table: o.tif: band 1: a "
          .. "GeoTIFF palette keeps no alpha" },
        { "function(ds) error('no luck') end",
          "s.lua:4: output 'o': controls.before_close: no luck" },
        { "function(ds) error({}) end",
          "s.lua:4: output 'o': controls.before_close: error raised with a table value" },
        { "function(ds) keep = ds end, per_image = { o = {} } }) keep:set_nodata(1, 0) --",
          "s.lua:4: ds:set_nodata: the output 'o' is closed (ds can be used only while "
          .. "controls.before_close runs)" },
        { "'later'", "s.lua:2: controls key 'before_close' must be a function(ds), got 'later'" },
      }
      for _, case in ipairs(cases) do
        local status, _, err = run("-j 2", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.o = inputs.a end,
  { a = "classes.tif" }, { o = "o.tif" }, nil, {
  before_close = ]] .. case[1] .. [[ })
]])
        assert.are.equal(1, status, case[1])
        assert.truthy(err:find(case[2], 1, true), case[1] .. "\n" .. err)
        assert.are.equal(1, #lines(err), err)
      end
    end)
  end)

  describe('driver = "COG"', function()
    -- 1200 x 1100: two overview levels (4 and 8), several 512 tiles
    local BR, BC = 1100, 1200
    before_each(function()
      H.make_raster(dir .. "/big.tif", "uint16", 1, BR, BC,
                    function(_, r, c) return (r * 7 + c * 3) % 1000 end)
    end)

    local function leftovers()
      local _, out = H.run("ls -A " .. H.q(dir) .. " | grep -e '^rios-lua-' -e 'rios-partial' "
                           .. "|| true")
      return out
    end

    for _, opts in ipairs(RUN_OPTS) do
      it("writes a valid Cloud Optimized GeoTIFF with overviews, statistics and tables inside" .. (opts ~= "" and " (" .. opts .. ")" or ""), function()
        local status, out, err = run(opts, [[
local rios = require("rios")
local r = rios.apply(function(info, inputs, outputs)
  local a, cls = inputs.a, inputs.a:like("uint8")
  for i = 0, a.rows * a.cols - 1 do cls.data[i] = a.data[i] % 7 end
  outputs.cog, outputs.plain, outputs.cls = a, a, cls
end, { a = "big.tif" }, { cog = "out.tif", plain = "plain.tif", cls = "cls.tif" },
  nil, { per_image = { cog = { driver = "COG" },
                       cls = { driver = "COG", thematic = true, color_table = "classes",
                               creation_options = { "COMPRESS=DEFLATE" } } },
         before_close = function(ds) ds:set_metadata("WRITTEN_AS", ds.driver) end })
print(#r.timings.durations.cog)
]])
        assert.are.equal(0, status, err)
        assert.are.equal("2\n", out)
        local ok, report = cog_valid(dir .. "/out.tif")
        assert.is_true(ok, report)
        -- the plain GeoTIFF of the same data is not one: the check can fail
        assert.is_false((cog_valid(dir .. "/plain.tif")))
        local info = H.gdalinfo(dir .. "/out.tif")
        local plain = H.gdalinfo(dir .. "/plain.tif")
        assert.are.equal("COG", info.metadata.IMAGE_STRUCTURE.LAYOUT)
        assert.are.equal("LZW", info.metadata.IMAGE_STRUCTURE.COMPRESSION)
        assert.are.equal("COG", info.metadata[""].WRITTEN_AS)
        local b, pb = info.bands[1], plain.bands[1]
        assert.are.same({ 512, 512 }, b.block)
        -- the overviews rios chose, with the same pixels as the GeoTIFF's
        assert.are.same({ { size = { 300, 275 } }, { size = { 150, 138 } } }, b.overviews)
        assert.are.same(pb.overviews, b.overviews)
        local _, cks = H.run("gdalinfo -checksum " .. H.q(dir .. "/out.tif") .. " | grep Checksum")
        local _, pcks = H.run("gdalinfo -checksum " .. H.q(dir .. "/plain.tif") .. " | grep Checksum")
        assert.are.equal(pcks, cks)
        assert.are.equal(H.raw_bytes(dir .. "/big.tif"), H.raw_bytes(dir .. "/out.tif"))
        -- statistics and the histogram
        assert.are.same({ pb.minimum, pb.maximum, pb.mean, pb.stdDev },
                        { b.minimum, b.maximum, b.mean, b.stdDev })
        assert.are.equal(0, b.minimum)
        assert.are.equal(999, b.maximum)
        assert.are.same(H.gdalinfo(dir .. "/plain.tif", "-hist").bands[1].histogram,
                        H.gdalinfo(dir .. "/out.tif", "-hist").bands[1].histogram)
        -- a thematic COG: its palette, its creation options, its Histogram column
        local ok2, report2 = cog_valid(dir .. "/cls.tif")
        assert.is_true(ok2, report2)
        local ci = H.gdalinfo(dir .. "/cls.tif")
        assert.are.equal("DEFLATE", ci.metadata.IMAGE_STRUCTURE.COMPRESSION)
        assert.are.equal("Palette", ci.bands[1].colorInterpretation)
        assert.are.same({ 31, 119, 180, 255 }, ci.bands[1].colorTable.entries[1])
        assert.are.equal("Histogram", ci.rat.fieldDefn[1].name)
        local fours = 0
        for r = 0, BR - 1 do
          for c = 0, BC - 1 do
            if (r * 7 + c * 3) % 1000 % 7 == 4 then fours = fours + 1 end
          end
        end
        assert.are.equal(fours, ci.rat.row[5].f[1])
        -- nothing temporary is left beside them
        assert.are.equal("", leftovers())
      end)
    end

    it("has no overviews when they are omitted, and follows RIOS_DFLT_DRIVER and rios.write", function()
      local status, _, err = run("", [[
local rios = require("rios")
rios.apply(function(info, inputs, outputs) outputs.o = inputs.a end,
  { a = "big.tif" }, { o = "o.tif" }, nil, { omit_pyramids = true })
rios.write("w.tif", rios.open("classes.tif"):read(), { driver = "COG", stats = true })
]], "s.lua")
      assert.are.equal(0, status, err)
      status, _, err = H.run("cd " .. H.q(dir) .. " && RIOS_DFLT_DRIVER=COG " .. H.q(H.exe)
                             .. " s.lua")
      assert.are.equal(0, status, err)
      for _, f in ipairs({ "o.tif", "w.tif" }) do
        local ok, report = cog_valid(dir .. "/" .. f)
        assert.is_true(ok, report)
        local info = H.gdalinfo(dir .. "/" .. f)
        assert.are.equal("COG", info.metadata.IMAGE_STRUCTURE.LAYOUT, f)
        assert.is_nil(info.bands[1].overviews, f)
      end
      assert.are.equal(6, H.gdalinfo(dir .. "/w.tif").bands[1].maximum)
      assert.are.equal("", leftovers())
    end)

    it("leaves no file and nothing temporary when the run fails, in one line", function()
      local script = [[
local rios = require("rios")
local mode = arg[1]
rios.apply(function(info, inputs, outputs)
  if mode == "fn" and info:is_last_block() then error("boom") end
  outputs.o = inputs.a
end, { a = "classes.tif" }, { o = "o.tif" }, nil, { driver = "COG",
  creation_options = mode == "copy" and { "COMPRESS=WEBP" } or nil,
  before_close = mode == "close" and function(ds) error("not today") end or nil })
]]
      local f = assert(io.open(dir .. "/s.lua", "w"))
      f:write(script)
      f:close()
      for _, case in ipairs({
        { "fn", "boom" },
        { "close", "s.lua:8: output 'o': controls.before_close: not today" },
        { "copy", "s.lua:3: output 'o': o.tif: GDAL's COG driver cannot write it: " },
      }) do
        local status, _, err = H.run("cd " .. H.q(dir) .. " && " .. H.q(H.exe) .. " s.lua "
                                     .. case[1])
        assert.are.equal(1, status, case[1])
        assert.truthy(err:find(case[2], 1, true), err)
        if case[1] ~= "fn" then assert.are.equal(1, #lines(err), err) end
        assert.is_nil(io.open(dir .. "/o.tif"), case[1])
        assert.is_nil(io.open(dir .. "/o.tif.aux.xml"), case[1])
        assert.are.equal("", leftovers(), case[1])
      end
    end)

    it("leaves nothing temporary after SIGTERM mid-run", function()
      local f = assert(io.open(dir .. "/s.lua", "w"))
      f:write([[
local rios = require("rios")
rios.apply(function(info, inputs, outputs)
  if not info:is_first_block() then
    local p = io.popen("ls -A | grep rios-partial")
    io.write("during: ", p:read("*a"))
    p:close()
    io.stdout:flush()
    local st = io.open("/proc/self/stat")
    local pid = st:read("*l"):match("^(%d+)")
    st:close()
    os.execute("(sleep 0.2; kill -TERM " .. pid .. ") &")
    local t = os.time()
    while os.time() - t < 10 do end
    print("not killed")
  end
  outputs.o = inputs.a
end, { a = "big.tif" }, { o = "o.tif" }, nil, { driver = "COG" })
]])
      f:close()
      local _, out = H.run("cd " .. H.q(dir) .. " && " .. H.q(H.exe) .. " s.lua; echo status=$?")
      -- (the GeoTIFF is written in the output's private folder beside it)
      assert.truthy(out:match("^during: %.o%.tif%.rios%-partial%-[^\n]+\nstatus=143\n$"), out)
      assert.are.equal("", leftovers())
      assert.is_nil(io.open(dir .. "/o.tif"))
    end)
  end)
end)
