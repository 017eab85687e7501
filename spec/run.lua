-- spec/run.lua: run every spec under spec/ with busted, inside rios-lua.
--   ./rios-lua spec/run.lua [busted options] [spec files or folders]
-- The last line printed is "N passed, N failed" (errors count as failed).
local given = { ... }
local args = { "--output=spec/support/summary.lua", "--pattern=_spec", "--lpath=spec/?.lua" }
local has_path = false
for _, a in ipairs(given) do
  args[#args + 1] = a
  if a:sub(1, 1) ~= "-" then has_path = true end
end
if not has_path then args[#args + 1] = "spec" end
-- busted.runner reads the global arg, as /usr/bin/busted does.
rawset(_G, "arg", setmetatable(args, nil))
args[0] = "busted"
-- On failures busted ends with error() (its Lua 5.1 way to exit 1).
local ok, err = pcall(require("busted.runner"), { standalone = false })
if not ok then
  if err ~= nil then io.stderr:write(tostring(err), "\n") end
  os.exit(1)
end
