-- rios.timers: named intervals that accumulate over a run, and the report
-- RIOS users know from Timers.formatReport.
local C = require("rios.base").C

local Timers = {}
Timers.__index = Timers

-- The order the report lists timers in; others are listed after, by name.
local order = { "reading", "startcomputeworkers", "userfunction", "writing", "pyramids",
                "basicstats", "histogram", "insert_readbuffer", "pop_readbuffer",
                "insert_computebuffer", "pop_computebuffer" }

local function new()
  return setmetatable({ durations = {} }, Timers)
end

function Timers:add(name, seconds)
  local d = self.durations[name]
  if not d then
    d = {}
    self.durations[name] = d
  end
  d[#d + 1] = seconds
end

-- t:start() returns a start time; t:stop(name, t0) records now - t0.
function Timers.now()
  return C.rios_ffi_now()
end

function Timers:stop(name, t0)
  self:add(name, C.rios_ffi_now() - t0)
end

function Timers:merge(other)
  for name, d in pairs(other.durations) do
    for i = 1, #d do self:add(name, d[i]) end
  end
end

function Timers:total(name)
  local d, s = self.durations[name], 0
  if not d then return nil end
  for i = 1, #d do s = s + d[i] end
  return s
end

-- Percentile with linear interpolation between closest ranks (numpy's).
local function percentile(sorted, p)
  local n = #sorted
  if n == 1 then return sorted[1] end
  local pos = (n - 1) * p / 100 + 1
  local lo = math.floor(pos)
  local frac = pos - lo
  if lo >= n then return sorted[n] end
  return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac
end

function Timers:summary(name)
  local d = self.durations[name]
  if not d then return nil end
  local s = {}
  for i = 1, #d do s[i] = d[i] end
  table.sort(s)
  return { N = #s, tot = self:total(name), min = s[1], max = s[#s],
           lower = percentile(s, 25), median = percentile(s, 50), upper = percentile(s, 75) }
end

local function names_in_order(self)
  local names, seen = {}, { walltime = true }
  for _, n in ipairs(order) do
    if self.durations[n] then names[#names + 1] = n; seen[n] = true end
  end
  local rest = {}
  for n in pairs(self.durations) do
    if not seen[n] then rest[#rest + 1] = n end
  end
  table.sort(rest)
  for _, n in ipairs(rest) do names[#names + 1] = n end
  return names
end

-- level 0: total per timer; level 1 adds N, min, quartiles and max.
function Timers:report(level)
  level = level or 0
  local lines = {
    string.format("Wall clock elapsed time: %.1f seconds", self:total("walltime") or 0),
    "",
    string.format("%-20s       %-11s", "Timer", "Total (sec)"),
    string.rep("-", 32),
  }
  local names = names_in_order(self)
  for _, n in ipairs(names) do
    lines[#lines + 1] = string.format("%-20s    %8.1f", n, self:total(n))
  end
  if level > 0 then
    local head = string.format("%-20s       %s", "Timer", "N,Min,Lower,Median,Upper,Max")
    lines[#lines + 1] = ""
    lines[#lines + 1] = ""
    lines[#lines + 1] = head
    lines[#lines + 1] = string.rep("-", #head)
    for _, n in ipairs(names) do
      local s = self:summary(n)
      lines[#lines + 1] = string.format("%-20s    %d,%.4f,%.4f,%.4f,%.4f,%.4f", n, s.N,
                                        s.min, s.lower, s.median, s.upper, s.max)
    end
  end
  return table.concat(lines, "\n")
end

Timers.__tostring = function(self) return self:report(0) end

return { new = new, Timers = Timers }
