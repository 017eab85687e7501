-- rios.ramps: the built-in colour ramps, as data. A ramp is a list of stops
-- {position 0..1, red, green, blue}; a colour between two stops is the
-- straight-line mix of the two (in RGB, rounded to the nearest integer).
-- A qualitative ramp has no positions: its colours are used in turn, one
-- per class value.
--
--   grey     black to white
--   viridis  dark purple through blue and green to yellow (perceptually
--            even, readable in greyscale and by most colour-blind viewers;
--            the 11 stops of matplotlib's viridis, CC0)
--   terrain  deep blue (sea) through green and yellow to brown and white
--            (the stops of matplotlib's terrain map)
--   rdylgn   diverging red - yellow - green, for indices such as NDVI
--            (ColorBrewer's 7-class RdYlGn, www.colorbrewer2.org)
--   rdbu     diverging red - white - blue, for differences around 0
--            (ColorBrewer's 7-class RdBu)
--   classes  10 distinct colours for class maps, in turn (the Tableau 10
--            colours matplotlib uses as tab10)
local M = {}

local ramps = {
  grey = { { 0, 0, 0, 0 }, { 1, 255, 255, 255 } },
  viridis = {
    { 0.0, 68, 1, 84 }, { 0.1, 72, 36, 117 }, { 0.2, 65, 68, 135 }, { 0.3, 53, 95, 141 },
    { 0.4, 42, 120, 142 }, { 0.5, 33, 145, 140 }, { 0.6, 34, 168, 132 },
    { 0.7, 68, 191, 112 }, { 0.8, 122, 209, 81 }, { 0.9, 189, 223, 38 },
    { 1.0, 253, 231, 37 },
  },
  terrain = {
    { 0.00, 51, 51, 153 }, { 0.15, 0, 153, 255 }, { 0.25, 0, 204, 102 },
    { 0.50, 255, 255, 153 }, { 0.75, 128, 92, 84 }, { 1.00, 255, 255, 255 },
  },
  rdylgn = {
    { 0 / 6, 215, 48, 39 }, { 1 / 6, 252, 141, 89 }, { 2 / 6, 254, 224, 139 },
    { 3 / 6, 255, 255, 191 }, { 4 / 6, 217, 239, 139 }, { 5 / 6, 145, 207, 96 },
    { 6 / 6, 26, 152, 80 },
  },
  rdbu = {
    { 0 / 6, 178, 24, 43 }, { 1 / 6, 239, 138, 98 }, { 2 / 6, 253, 219, 199 },
    { 3 / 6, 247, 247, 247 }, { 4 / 6, 209, 229, 240 }, { 5 / 6, 103, 169, 207 },
    { 6 / 6, 33, 102, 172 },
  },
}

local qualitative = {
  classes = {
    { 31, 119, 180 }, { 255, 127, 14 }, { 44, 160, 44 }, { 214, 39, 40 }, { 148, 103, 189 },
    { 140, 86, 75 }, { 227, 119, 194 }, { 127, 127, 127 }, { 188, 189, 34 }, { 23, 190, 207 },
  },
}

local aliases = { gray = "grey" }

-- The ramp names, sorted.
function M.names()
  local list = {}
  for k in pairs(ramps) do list[#list + 1] = k end
  for k in pairs(qualitative) do list[#list + 1] = k end
  table.sort(list)
  return list
end

-- The canonical name of a ramp, or nil when there is none of that name.
function M.lookup(name)
  if type(name) ~= "string" then return nil end
  name = aliases[name] or name
  if ramps[name] or qualitative[name] then return name end
  return nil
end

function M.is_qualitative(name)
  return qualitative[aliases[name] or name] ~= nil
end

local floor = math.floor

-- The colour at t (0..1, clamped) of a continuous ramp: r, g, b.
function M.at(name, t)
  local stops = ramps[aliases[name] or name]
  if t ~= t or t <= 0 then
    local s = stops[1]
    return s[2], s[3], s[4]
  end
  if t >= 1 then
    local s = stops[#stops]
    return s[2], s[3], s[4]
  end
  for i = 2, #stops do
    local b = stops[i]
    if t <= b[1] then
      local a = stops[i - 1]
      local f = (t - a[1]) / (b[1] - a[1])
      return floor(a[2] + (b[2] - a[2]) * f + 0.5), floor(a[3] + (b[3] - a[3]) * f + 0.5),
             floor(a[4] + (b[4] - a[4]) * f + 0.5)
    end
  end
  local s = stops[#stops]
  return s[2], s[3], s[4]
end

-- The colour of class i (any integer) of a qualitative ramp, in turn.
function M.class(name, i)
  local list = qualitative[aliases[name] or name]
  local c = list[i % #list + 1]
  return c[1], c[2], c[3]
end

-- 256 colours of a ramp as one table of bytes r, g, b per step (the lookup
-- quicklook uses): continuous ramps from end to end, qualitative ones in
-- turn.
function M.lut(name)
  local lut = {}
  for i = 0, 255 do
    local r, g, b
    if M.is_qualitative(name) then r, g, b = M.class(name, i) else r, g, b = M.at(name, i / 255) end
    lut[3 * i + 1], lut[3 * i + 2], lut[3 * i + 3] = r, g, b
  end
  return lut
end

return M
