-- Bench case: NDVI of two uint16 rasters into float32, the loop of the
-- README. rios-lua ndvi.lua red.tif nir.tif out.tif [defaults|defaults-1|plain [CONC]]
-- Without "defaults" the outputs get no statistics, histogram or overviews,
-- so the work is the same as the C floor's (ndvi.c). "defaults-1": the
-- default outputs, compressed on one thread (NUM_THREADS=1 added to the
-- default GTiff creation options). CONC: "threads" (2
-- compute threads fed by a read worker) or "subproc-read" (2 rios-luaworker
-- processes that read their own input).
local rios = require("rios")

local function ndvi(_, inputs, outputs)
  local red, nir = inputs.red, inputs.nir
  local out = red:like("float32")
  local r, n, o = red.data, nir.data, out.data
  for i = 0, red.rows * red.cols - 1 do
    local sum = n[i] + r[i]
    o[i] = sum == 0 and 0 or (n[i] - r[i]) / sum
  end
  outputs.ndvi = out
end

local omit = arg[4] ~= "defaults" and arg[4] ~= "defaults-1"
local creation_options = arg[4] == "defaults-1" and
  { "TILED=YES", "COMPRESS=LZW", "INTERLEAVE=BAND", "BIGTIFF=IF_SAFER", "NUM_THREADS=1" } or nil
local concurrency = ({
  threads = { kind = "threads", compute_workers = 2, read_workers = 1 },
  ["subproc-read"] = { kind = "subproc", compute_workers = 2, compute_workers_read = true },
})[arg[5] or ""]
rios.apply(ndvi, { red = arg[1], nir = arg[2] }, { ndvi = arg[3] }, nil,
           { omit_pyramids = omit, omit_basic_stats = omit, omit_histogram = omit,
             progress = false, concurrency = concurrency, creation_options = creation_options })
