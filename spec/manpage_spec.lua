-- The man page: it renders, says what --help says (and more), and make
-- install puts it where man finds it.
local H = require("support.helpers")

local function render(path)
  local status, out, err = H.run("MANWIDTH=100 man --warnings -P cat " .. H.q(path))
  return status, out, err
end

describe("rios-lua.1", function()
  after_each(function() H.cleanup() end)

  it("renders with man, without warnings, with the usual sections", function()
    local status, out, err = render(H.root .. "/rios-lua.1")
    assert.are.equal(0, status, err)
    assert.are.equal("", err)
    for _, section in ipairs({ "NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT",
                               "EXIT STATUS", "EXAMPLES" }) do
      assert.truthy(out:find("\n" .. section .. "\n", 1, true), section)
    end
  end)

  it("documents every option of --help and every environment variable", function()
    local _, man = render(H.root .. "/rios-lua.1")
    local status, help = H.run(H.q(H.exe) .. " --help")
    assert.are.equal(0, status)
    local n = 0
    for opt in help:gmatch("\n  (%-%-?[%a]*)") do
      n = n + 1
      assert.truthy(man:find("\n       " .. opt, 1, true), "man page lacks " .. opt)
    end
    assert.truthy(n >= 7)
    local vars = 0
    for var in help:gmatch("RIOS_DFLT_[%u_<>%a]+") do
      vars = vars + 1
      var = var:gsub("<driver>", "")
      assert.truthy(man:find(var, 1, true), "man page lacks " .. var)
    end
    assert.are.equal(9, vars)
  end)

  it("is installed by make install", function()
    local prefix = H.tmpdir() .. "/prefix"
    local status, _, err = H.run("make -s install PREFIX=" .. H.q(prefix))
    assert.are.equal(0, status, err)
    local out
    status, out, err = H.run("MANPATH=" .. H.q(prefix .. "/share/man") .. " man -w rios-lua")
    assert.are.equal(0, status, err)
    assert.are.equal(prefix .. "/share/man/man1/rios-lua.1\n", out)
  end)
end)
