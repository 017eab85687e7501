-- rios.grid: the working grid every input is read onto. Here inputs must
-- already share projection, pixel size and alignment; the grid is the
-- intersection or union of their extents. (Reprojecting on the fly replaces
-- M.working_grid; nothing else depends on how the grid was found.)
local base = require("rios.base")
local C = base.C

local M = {}

local function round(x) return math.floor(x + 0.5) end

-- Extent of one input: left, top, right, bottom and pixel size.
local function extent(rec, where)
  local t = rec.transform
  if t[3] ~= 0 or t[5] ~= 0 or t[2] <= 0 or t[6] >= 0 then
    base.raise(where, rec.path .. ": rotated or south-up grids are not supported "
               .. "(geotransform " .. table.concat(t, ", ") .. ")")
  end
  local xres, yres = t[2], -t[6]
  return { left = t[1], top = t[4], right = t[1] + rec.cols * xres,
           bottom = t[4] - rec.rows * yres, xres = xres, yres = yres }
end

local function close(a, b, scale)
  return math.abs(a - b) <= 1e-9 * math.max(1, math.abs(scale))
end

-- How rec differs from the first input's grid, or nil when it does not.
local function mismatch(first, fe, rec, re)
  if C.rl_ffi_same_projection(first.projection, rec.projection) == 0 then
    return "their projections differ"
  end
  if not close(fe.xres, re.xres, fe.xres) or not close(fe.yres, re.yres, fe.yres) then
    return string.format("their pixel sizes differ (%.10g x %.10g against %.10g x %.10g)",
                         fe.xres, fe.yres, re.xres, re.yres)
  end
  local dx = (re.left - fe.left) / fe.xres
  local dy = (fe.top - re.top) / fe.yres
  if math.abs(dx - round(dx)) > 1e-3 or math.abs(dy - round(dy)) > 1e-3 then
    return string.format("their pixels are not aligned (offset by %.4g, %.4g pixels)",
                         dx - round(dx), dy - round(dy))
  end
end

-- inputs: records with path, transform (GDAL's six numbers as t[1]..t[6]),
-- cols, rows, projection.
-- Returns the grid, and sets rec.xshift/rec.yshift: grid pixel (0,0) is at
-- file pixel (xshift, yshift).
function M.working_grid(inputs, controls, where)
  local first = inputs[1]
  local fe = extent(first, where)
  local left, top, right, bottom = fe.left, fe.top, fe.right, fe.bottom
  local union = controls.footprint == "union"
  for i = 2, #inputs do
    local rec = inputs[i]
    local re = extent(rec, where)
    local why = mismatch(first, fe, rec, re)
    if why then
      base.raise(where, "inputs " .. first.path .. " and " .. rec.path
                 .. " are not on the same grid: " .. why)
    end
    if union then
      left, top = math.min(left, re.left), math.max(top, re.top)
      right, bottom = math.max(right, re.right), math.min(bottom, re.bottom)
    else
      left, top = math.max(left, re.left), math.min(top, re.top)
      right, bottom = math.min(right, re.right), math.max(bottom, re.bottom)
    end
  end
  local cols = round((right - left) / fe.xres)
  local rows = round((top - bottom) / fe.yres)
  if cols < 1 or rows < 1 then
    local names = {}
    for i, rec in ipairs(inputs) do names[i] = rec.path end
    base.raise(where, "the inputs do not overlap, so their intersection is empty: "
               .. table.concat(names, ", "))
  end
  for _, rec in ipairs(inputs) do
    local re = extent(rec, where)
    rec.xshift = round((left - re.left) / fe.xres)
    rec.yshift = round((re.top - top) / fe.yres)
  end
  return {
    projection = first.projection,
    transform = { left, fe.xres, 0, top, 0, -fe.yres },
    cols = cols, rows = rows, xres = fe.xres, yres = fe.yres,
  }
end

return M
