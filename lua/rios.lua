-- rios: process rasters block by block.
--
--   local rios = require("rios")
--   local result = rios.apply(fn, infiles, outfiles [, otherargs [, controls]])
--
-- See README.md for the whole API.
local base = require("rios.base")
local array = require("rios.array")

local rios = {}

rios.version = base.host.version or "dev"
rios.dtypes = base.dtypes
rios.dtype_size = base.dtype_size
-- The GDAL the runtime runs with, as GDAL_VERSION_NUM (3.6.2 -> 3060200).
rios.gdal_version = base.C.rios_ffi_gdal_version()

function rios.apply(fn, infiles, outfiles, otherargs, controls)
  -- not a tail call, so a traceback shows rios.apply as the caller's frame
  local result = require("rios.apply").apply(fn, infiles, outfiles, otherargs, controls)
  return result
end

-- rios.array(dtype, bands, rows, cols): a zero-filled array.
rios.array = array.new
rios.is_array = array.is_array
-- rios.where(mask, a, b [, out]): a where mask is not 0, else b.
rios.where = array.where
-- rios.reduce(list, op [, {nodata =, out =}]): per element across a list of
-- arrays (median, mean, min, max, sum, count), NaN and nodata skipped.
rios.reduce = array.reduce

local raster = require("rios.raster")
rios.open = raster.open
rios.write = raster.write

-- rios.quicklook(raster_or_array, "out.png" [, {bands=, stretch=, size=}]):
-- a PNG preview (see rios/quicklook.lua).
rios.quicklook = require("rios.quicklook").quicklook

-- rios.rat: raster attribute tables (see rios/rat.lua); rios.ratapply(fn,
-- inputs, outputs [, otherargs [, controls]]): a function over blocks of
-- attribute-table rows (see rios/ratapply.lua).
rios.rat = require("rios.rat")
function rios.ratapply(fn, inputs, outputs, otherargs, controls)
  local result = require("rios.ratapply").apply(fn, inputs, outputs, otherargs, controls)
  return result
end

-- True inside a compute worker's Lua state (see the concurrency docs).
function rios.is_worker()
  return require("rios.worker").active() ~= nil
end

return rios
