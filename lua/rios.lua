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

function rios.apply(fn, infiles, outfiles, otherargs, controls)
  return require("rios.apply").apply(fn, infiles, outfiles, otherargs, controls, 1)
end

-- rios.array(dtype, bands, rows, cols): a zero-filled array.
rios.array = array.new
rios.is_array = array.is_array
-- rios.where(mask, a, b [, out]): a where mask is not 0, else b.
rios.where = array.where

local raster = require("rios.raster")
rios.open = raster.open
rios.write = raster.write

-- True inside a compute worker's Lua state (see the concurrency docs).
function rios.is_worker()
  return false
end

return rios
