-- rios.grid: the working grid every input is read onto.
--
-- The grid takes its projection, pixel size and alignment from a reference:
-- controls.reference_pixgrid, else the input named by
-- controls.reference_image, else the first raster input (and then every
-- input must already be on that grid). Its extent is the intersection or the
-- union of the inputs' extents (or of the files in files_for_extent), each
-- carried into the reference projection and snapped outwards/inwards to the
-- reference's pixel edges, or exactly the reference's own bounds (footprint
-- "reference"). Inputs already on the grid are read directly (rec.aligned,
-- with rec.xshift/rec.yshift); the others are warped by rios.inputs.
local base = require("rios.base")
local ffi, C = base.ffi, base.C
local OK = base.OK

local M = {}

-- Out-parameters, made once.
local same_out = ffi.new("int[1]")
local extent_in, extent_out = ffi.new("double[4]"), ffi.new("double[4]")

local function round(x) return math.floor(x + 0.5) end
-- Round half away from zero, as RIOS snaps extents.
local function round_away(x)
  if x < 0 then return -math.floor(-x + 0.5) end
  return math.floor(x + 0.5)
end

local function check_north_up(t, label, where)
  if t[3] ~= 0 or t[5] ~= 0 or t[2] <= 0 or t[6] >= 0 then
    base.raise(where, label .. ": rotated or south-up grids are not supported "
               .. "(geotransform " .. table.concat(t, ", ") .. ")")
  end
end

-- A pixel grid: projection, left, top, right, bottom, xres, yres (and cols,
-- rows) from a projection and a geotransform.
local function pixgrid(projection, t, cols, rows, label, where)
  check_north_up(t, label, where)
  local xres, yres = t[2], -t[6]
  return { projection = projection, left = t[1], top = t[4], right = t[1] + cols * xres,
           bottom = t[4] - rows * yres, xres = xres, yres = yres, cols = cols, rows = rows,
           label = label }
end

local function close(a, b, scale)
  return math.abs(a - b) <= 1e-9 * math.max(1, math.abs(scale))
end

-- Whether GDAL reads two projections as the same one (failing only when
-- out of memory).
local function same_projection(a, b)
  if C.rios_ffi_same_projection(a, b, same_out, base.err) ~= OK then
    error(base.errmsg(), 0)
  end
  return same_out[0] ~= 0
end

-- How grid g differs from the reference ref, or nil when g is on it
-- (same projection, same pixel size, edges on ref's pixel edges).
local function mismatch(ref, g)
  if not same_projection(ref.projection, g.projection) then
    return "their projections differ"
  end
  if not close(ref.xres, g.xres, ref.xres) or not close(ref.yres, g.yres, ref.yres) then
    return string.format("their pixel sizes differ (%.10g x %.10g against %.10g x %.10g)",
                         ref.xres, ref.yres, g.xres, g.yres)
  end
  local dx = (g.left - ref.left) / ref.xres
  local dy = (ref.top - g.top) / ref.yres
  if math.abs(dx - round(dx)) > 1e-3 or math.abs(dy - round(dy)) > 1e-3 then
    return string.format("their pixels are not aligned (offset by %.4g, %.4g pixels)",
                         dx - round(dx), dy - round(dy))
  end
end

-- g's extent on the reference grid: carried into ref's projection when it
-- differs (a grid of points, so a world-wide geographic input gives the part
-- of the world the reference projection holds) and snapped to ref's pixel
-- edges. Returns left, top, right, bottom.
local function extent_on(ref, g, where)
  local left, top, right, bottom = g.left, g.top, g.right, g.bottom
  if not same_projection(ref.projection, g.projection) then
    if ref.projection == "" or g.projection == "" then
      base.raise(where, g.label .. " cannot be put on the reference grid: one of them has "
                 .. "no projection")
    end
    local inb, out = extent_in, extent_out
    inb[0], inb[1], inb[2], inb[3] = left, bottom, right, top
    if C.rios_ffi_transform_extent(g.projection, ref.projection, inb, out, base.err) ~= OK then
      base.raise(where, g.label .. ": its extent cannot be carried into the reference "
                 .. "projection: " .. base.errmsg())
    end
    left, bottom, right, top = out[0], out[1], out[2], out[3]
  end
  local function snapx(x) return ref.left + round_away((x - ref.left) / ref.xres) * ref.xres end
  local function snapy(y) return ref.top - round_away((ref.top - y) / ref.yres) * ref.yres end
  return snapx(left), snapy(top), snapx(right), snapy(bottom)
end

-- The reference grid, or nil when there is none (then the first input's
-- grid serves and every input must match it).
local function reference(rasters, controls, where)
  local pg = controls.reference_pixgrid
  if pg then
    local proj = pg.projection
    if proj:match("^%s*[Ee][Pp][Ss][Gg]:%d+%s*$") then
      if C.rios_ffi_wkt_from_user_input(proj, base.str_out, base.err) ~= OK then
        base.raise(where, "controls.reference_pixgrid: " .. base.errmsg())
      end
      proj = base.take_string()
    end
    return pixgrid(proj, pg.transform, pg.cols, pg.rows, "controls.reference_pixgrid", where)
  end
  local name = controls.reference_image
  if name then
    for _, rec in ipairs(rasters) do
      if rec.name == name or rec.path == name then return rec.grid end
    end
    base.raise(where, "controls.reference_image '" .. name
               .. "' is not the name (or filename) of a raster input")
  end
end

-- The grids whose extents make the footprint: files_for_extent (input names
-- or filenames; open_grid(path) describes a file that is not an input), else
-- every raster input.
local function extent_grids(rasters, controls, open_grid, where)
  local list = controls.files_for_extent
  if not list then
    local gs = {}
    for i, rec in ipairs(rasters) do gs[i] = rec.grid end
    return gs
  end
  if #list == 0 then base.raise(where, "controls.files_for_extent is an empty list") end
  local gs = {}
  for _, item in ipairs(list) do
    local found = false
    for _, rec in ipairs(rasters) do
      if rec.name == item or rec.path == item then
        gs[#gs + 1] = rec.grid
        found = true
      end
    end
    if not found then gs[#gs + 1] = open_grid(item) end
  end
  return gs
end

-- inputs: records with path, transform (GDAL's six numbers as t[1]..t[6]),
-- cols, rows, projection; vector inputs (rec.is_vector) take no part.
-- open_grid(path) -> a record like those, for files_for_extent entries
-- that are not inputs.
-- Returns the grid, and sets on each raster record rec.aligned (it is on
-- the grid) and, when aligned, rec.xshift/rec.yshift: grid pixel (0,0) is at
-- file pixel (xshift, yshift).
function M.working_grid(inputs, controls, where, open_grid)
  local rasters = {}
  for _, rec in ipairs(inputs) do
    if not rec.is_vector then
      rec.grid = pixgrid(rec.projection, rec.transform, rec.cols, rec.rows, rec.path, where)
      rasters[#rasters + 1] = rec
    end
  end
  local ref = reference(rasters, controls, where)
  if not ref then
    if #rasters == 0 then
      base.raise(where, "all inputs are vectors: give controls.reference_image or "
                 .. "controls.reference_pixgrid for the grid to rasterize them on")
    end
    ref = rasters[1].grid
    for i = 2, #rasters do
      local why = mismatch(ref, rasters[i].grid)
      if why then
        base.raise(where, "inputs " .. rasters[1].path .. " and " .. rasters[i].path
                   .. " are not on the same grid: " .. why .. " (give controls.reference_image"
                   .. " or controls.reference_pixgrid to resample them onto one grid)")
      end
    end
  end

  local left, top, right, bottom
  if controls.footprint == "reference" then
    left, top, right, bottom = ref.left, ref.top, ref.right, ref.bottom
  else
    local open = function(path)
      local g = open_grid(path)
      return pixgrid(g.projection, g.transform, g.cols, g.rows, path, where)
    end
    local grids = extent_grids(rasters, controls, open, where)
    if #grids == 0 then
      base.raise(where, "no raster input to take the extent from: use footprint "
                 .. "\"reference\" with controls.reference_pixgrid")
    end
    local union = controls.footprint == "union"
    for i, g in ipairs(grids) do
      local l, t, r, b = extent_on(ref, g, where)
      if i == 1 then
        left, top, right, bottom = l, t, r, b
      elseif union then
        left, top = math.min(left, l), math.max(top, t)
        right, bottom = math.max(right, r), math.min(bottom, b)
      else
        left, top = math.max(left, l), math.min(top, t)
        right, bottom = math.min(right, r), math.max(bottom, b)
      end
    end
  end
  local cols = round_away((right - left) / ref.xres)
  local rows = round_away((top - bottom) / ref.yres)
  if cols < 1 or rows < 1 then
    local names = {}
    for i, rec in ipairs(rasters) do names[i] = rec.path end
    base.raise(where, "the inputs do not overlap, so their intersection is empty: "
               .. table.concat(names, ", "))
  end
  local grid = {
    projection = ref.projection,
    transform = { left, ref.xres, 0, top, 0, -ref.yres },
    cols = cols, rows = rows, xres = ref.xres, yres = ref.yres,
    left = left, top = top, right = left + cols * ref.xres, bottom = top - rows * ref.yres,
  }
  for _, rec in ipairs(rasters) do
    local g = rec.grid
    rec.aligned = mismatch(grid, g) == nil
    if rec.aligned then
      rec.xshift = round((left - g.left) / ref.xres)
      rec.yshift = round((g.top - top) / ref.yres)
    end
  end
  return grid
end

return M
