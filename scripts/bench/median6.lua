-- Bench case: the median composite of 6 uint16 dates with clouds as nodata
-- 0, into uint16 (0 where no date is clear), with rios.reduce.
-- rios-lua median6.lua out.tif d1.tif ... d6.tif
local rios = require("rios")

local function composite(_, inputs, outputs)
  local dates = inputs.dates
  outputs.out = rios.reduce(dates, "median", { nodata = 0, out = dates[1]:like() })
end

local files = {}
for i = 2, #arg do files[#files + 1] = arg[i] end
rios.apply(composite, { dates = files }, { out = arg[1] }, nil,
           { stats_ignore = 0, omit_pyramids = true, omit_basic_stats = true,
             omit_histogram = true, progress = false })
