-- Vector inputs: rasterized onto the working grid once per run, compared
-- byte for byte with what the gdal_rasterize command makes on that grid.
local H = require("support.helpers")
local rios = require("rios")

local REF_T = { 500000, 30, 0, 6000000, 0, -30 }
local TE = "-te 500000 5998800 501500 6000000 -tr 30 30 -a_srs EPSG:32755"

local function feature(props, ring)
  local pts = {}
  for i, p in ipairs(ring) do pts[i] = string.format("[%.10g,%.10g]", p[1], p[2]) end
  local kv = {}
  for k, v in pairs(props) do
    kv[#kv + 1] = string.format("%q:%s", k, type(v) == "string" and string.format("%q", v)
                                or tostring(v))
  end
  return '{"type":"Feature","properties":{' .. table.concat(kv, ",")
         .. '},"geometry":{"type":"Polygon","coordinates":[[' .. table.concat(pts, ",") .. ']]}}'
end

-- A GeoJSON file in EPSG:32755 (or crs) with a few polygons whose edges cut
-- pixels, so all_touched matters.
local function write_geojson(path, features, crs)
  local f = assert(io.open(path, "w"))
  f:write('{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:'
          .. (crs or "EPSG::32755") .. '"}},"features":[' .. table.concat(features, ",") .. "]}")
  f:close()
end

local function utm_features(dx)
  dx = dx or 0
  return {
    feature({ val = 3, fval = 2.5, kind = "a" },
            { { 500107 + dx, 5999893 }, { 500611 + dx, 5999801 }, { 500340 + dx, 5999377 },
              { 500107 + dx, 5999893 } }),
    feature({ val = 9, fval = -7.25, kind = "b" },
            { { 500800 + dx, 5999500 }, { 501313 + dx, 5999500 }, { 501313 + dx, 5999013 },
              { 500800 + dx, 5999013 }, { 500800 + dx, 5999500 } }),
    feature({ val = 200, fval = 1e6, kind = "a" },
            { { 500044, 5999100 }, { 500400, 5999090 }, { 500222, 5998871 },
              { 500044, 5999100 } }),
  }
end

describe("vector inputs", function()
  local dir, ref, vec
  before_each(function()
    dir = H.tmpdir()
    ref = dir .. "/ref.tif"
    H.make_raster(ref, "uint8", 1, 40, 50, function() return 1 end, { transform = REF_T })
    vec = dir .. "/shapes.geojson"
    write_geojson(vec, utm_features())
  end)
  after_each(function() H.cleanup() end)

  -- rios: input v copied to an output; the grid is the reference's.
  local function via_rios(src, settings, controls)
    controls = controls or {}
    controls.reference_image, controls.footprint = "ref", "reference"
    controls.window_xsize, controls.window_ysize = 16, 16
    controls.per_image = { v = settings }
    local out = dir .. "/out.tif"
    rios.apply(function(_, i, o) o.out = i.v end, { ref = ref, v = src }, { out = out }, nil,
               controls)
    return H.raw_bytes(out)
  end
  local function via_gdal(src, opts)
    local dst = dir .. "/want.tif"
    local status, _, err = H.run("gdal_rasterize -q -of GTiff " .. TE .. " " .. opts .. " "
                                 .. H.q(src) .. " " .. H.q(dst))
    assert(status == 0, err)
    return H.raw_bytes(dst)
  end

  it("burns 1 on 0 by default, as gdal_rasterize", function()
    local got = via_rios(vec, {})
    assert.are.equal(via_gdal(vec, "-ot Byte -init 0 -burn 1 -l shapes"), got)
    assert.are_not.equal(via_gdal(vec, "-ot Byte -init 0 -burn 1 -at -l shapes"), got)
  end)

  it("takes burn_value, vector_null and all_touched", function()
    assert.are.equal(via_gdal(vec, "-ot Byte -init 5 -burn 7 -at -l shapes"),
                     via_rios(vec, { burn_value = 7, vector_null = 5, all_touched = true }))
  end)

  it("burns an attribute, in the vector_datatype asked for", function()
    assert.are.equal(via_gdal(vec, "-ot Int16 -init -1 -a val -l shapes"),
                     via_rios(vec, { burn_attribute = "val", vector_datatype = "int16",
                                     vector_null = -1 }))
    assert.are.equal(via_gdal(vec, "-ot Float32 -init 0 -a fval -l shapes"),
                     via_rios(vec, { burn_attribute = "fval", vector_datatype = "float32" }))
  end)

  it("burns negative values into int8", function()
    local got
    rios.apply(function(_, i, o)
      local a = i.v
      got = got or { a.dtype, math.huge, -math.huge }
      for k = 0, a.rows * a.cols - 1 do
        got[2], got[3] = math.min(got[2], a.data[k]), math.max(got[3], a.data[k])
      end
      o.out = i.v
    end, { ref = ref, v = vec }, { out = dir .. "/o.tif" }, nil,
      { reference_image = "ref", vector_datatype = "int8", burn_value = -3, vector_null = -1 })
    assert.are.same({ "int8", -3, -1 }, got)
  end)

  it("filters features with filter_sql, a WHERE clause or a SELECT statement", function()
    assert.are.equal(via_gdal(vec, "-ot Byte -init 0 -burn 1 -where \"kind = 'a'\" -l shapes"),
                     via_rios(vec, { filter_sql = "kind = 'a'" }))
    assert.are.equal(via_gdal(vec, "-ot Byte -init 0 -a val -sql 'SELECT * FROM shapes WHERE val > 5'"),
                     via_rios(vec, { filter_sql = "SELECT * FROM shapes WHERE val > 5",
                                     burn_attribute = "val" }))
  end)

  it("picks vector_layer by index or by name", function()
    local other = dir .. "/other.geojson"
    write_geojson(other, utm_features(37))
    local gpkg = dir .. "/two.gpkg"
    assert.are.equal(0, (H.run("ogr2ogr -q -f GPKG " .. gpkg .. " " .. vec .. " -nln first")))
    assert.are.equal(0, (H.run("ogr2ogr -q -update -f GPKG " .. gpkg .. " " .. other
                               .. " -nln second")))
    local second = via_gdal(gpkg, "-ot Byte -init 0 -burn 1 -l second")
    assert.are.equal(second, via_rios(gpkg, { vector_layer = 1 }))
    assert.are.equal(second, via_rios(gpkg, { vector_layer = "second" }))
    assert.are.equal(via_gdal(gpkg, "-ot Byte -init 0 -burn 1 -l first"), via_rios(gpkg, {}))
    local ok, err = pcall(via_rios, gpkg, { vector_layer = "third" })
    assert.is_false(ok)
    assert.truthy(err:match("has no vector layer named 'third' %(it has first, second%)"), err)
  end)

  it("reprojects vectors in another projection before burning them", function()
    local geo = dir .. "/geo.geojson"
    write_geojson(geo, {
      feature({ val = 4 }, { { 147.001, -36.1405 }, { 147.009, -36.142 }, { 147.004, -36.148 },
                             { 147.001, -36.1405 } }),
    }, "OGC:1.3:CRS84")
    local moved = dir .. "/moved.gpkg"
    assert.are.equal(0, (H.run("ogr2ogr -q -f GPKG -t_srs EPSG:32755 " .. moved .. " " .. geo
                               .. " -nln geo")))
    local got = via_rios(geo, { burn_attribute = "val" })
    assert.are.equal(via_gdal(moved, "-ot Byte -init 0 -a val -l geo"), got)
    assert.truthy(got:find("\4"), "something was burned")
  end)

  it("rasterizes each vector once per run and shares it between inputs", function()
    local tmp = dir .. "/tmp"
    os.execute("mkdir " .. tmp)
    local counts, nodata = {}, nil
    rios.apply(function(info, i, o)
      if info:is_first_block() then
        local p = io.popen("ls " .. tmp .. "/*/*.tif | wc -l")
        counts[#counts + 1] = tonumber(p:read("*l"))
        p:close()
        nodata = info:nodata_for(i.v1)
      end
      o.out = i.v1
    end, { ref = ref, v1 = vec, v2 = vec, v3 = vec }, { out = dir .. "/o.tif" }, nil,
      { reference_image = "ref", tempdir = tmp, vector_null = 2,
        per_image = { v3 = { burn_value = 5 } } })
    -- v1 and v2 share one raster; v3 burns another value, so it has its own.
    assert.are.same({ 2 }, counts)
    assert.are.equal(2, nodata)
    local p = io.popen("ls -A " .. tmp)
    assert.are.equal("", p:read("*a"))
    p:close()
  end)

  it("rasterizes onto reference_pixgrid when every input is a vector", function()
    local out = dir .. "/o.tif"
    local res = rios.apply(function(_, i, o) o.out = i.v end, { v = vec }, { out = out }, nil, {
      reference_pixgrid = { projection = "EPSG:32755", rows = 40, cols = 50,
                            transform = { 500000, 30, 0, 6000000, 0, -30 } },
      footprint = "reference" })
    assert.are.same(REF_T, res.working_grid.transform)
    assert.are.equal(via_gdal(vec, "-ot Byte -init 0 -burn 1 -l shapes"), H.raw_bytes(out))
  end)

  it("needs a reference when every input is a vector", function()
    local ok, err = pcall(rios.apply, function() end, { v = vec }, { out = dir .. "/o.tif" })
    assert.is_false(ok)
    assert.truthy(err:match("all inputs are vectors"), err)
  end)
end)
