-- rios.files: the infiles/outfiles tables of rios.apply. A name maps to a
-- filename or to a sequence of filenames; this turns either table into a
-- list of records, one per file, in a fixed order (names sorted).
local base = require("rios.base")

local M = {}

-- Returns records { name = , index = (nil or 1..n), path = } and the set of
-- names. what: "infiles" or "outfiles".
function M.records(files, what, where)
  if type(files) ~= "table" then
    base.raise(where, "rios.apply: " .. what .. " must be a table of name = filename, got "
               .. type(files))
  end
  local names = {}
  for name in pairs(files) do
    if type(name) ~= "string" then
      base.raise(where, "rios.apply: " .. what .. " keys must be names (strings), got "
                 .. tostring(name))
    end
    names[#names + 1] = name
  end
  table.sort(names)
  local recs, set = {}, {}
  for _, name in ipairs(names) do
    local entry = files[name]
    set[name] = true
    if type(entry) == "string" then
      recs[#recs + 1] = { name = name, path = entry }
    elseif type(entry) == "table" then
      if #entry == 0 then
        base.raise(where, "rios.apply: " .. what .. "." .. name .. " is an empty list")
      end
      for i, path in ipairs(entry) do
        if type(path) ~= "string" then
          base.raise(where, "rios.apply: " .. what .. "." .. name .. "[" .. i
                     .. "] must be a filename, got " .. type(path))
        end
        recs[#recs + 1] = { name = name, index = i, path = path, count = #entry }
      end
    else
      base.raise(where, "rios.apply: " .. what .. "." .. name
                 .. " must be a filename or a list of filenames, got " .. type(entry))
    end
  end
  return recs, set
end

-- "name" or "name[i]", for messages.
function M.label(rec)
  if rec.index then return rec.name .. "[" .. rec.index .. "]" end
  return rec.name
end

return M
