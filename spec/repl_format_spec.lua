-- How the prompt prints values and what Tab offers (lua/rios/repl.lua),
-- called directly; spec/repl_spec.lua drives the same through a terminal.
local H = require("support.helpers")
local repl = require("rios.repl")
local rios = require("rios")

describe("prompt values and completions", function()
  after_each(function()
    rawset(_G, "rios", nil)
    rawset(_G, "rr", nil)
    H.cleanup()
  end)

  it("prints tables nested a few levels, in key order, without looping on cycles", function()
    assert.are.equal("{ 1, 2, b = true, c = \"x\" }", repl.format({ 1, 2, c = "x", b = true }))
    assert.are.equal("{ a = { b = { c = {...} } } }", repl.format({ a = { b = { c = { d = 1 } } } }))
    local t = { name = "loop" }
    t.self = t
    assert.are.equal("{ name = \"loop\", self = {<cycle>} }", repl.format(t))
    assert.are.equal("{}", repl.format({}))
    local long = {}
    for i = 1, 50 do long[i] = i end
    assert.truthy(repl.format(long):find("... (10 more)", 1, true))
  end)

  it("prints an array as its shape, dtype and each band's min, max and mean", function()
    local a = rios.array("float32", 2, 3, 4)
    for i = 0, 11 do a.data[i] = i end
    for i = 12, 23 do a.data[i] = -i end
    a.data[13] = 0 / 0
    assert.are.equal("rios.array float32, 2 bands x 3 rows x 4 cols\n"
                     .. "  band 1: min 0  max 11  mean 5.5\n"
                     .. "  band 2: min -23  max -12  mean "
                     .. string.format("%.6g", (-(12 + 23) * 12 / 2 + 13) / 11) .. "  (1 NaN)",
                     repl.format(a))
  end)

  it("completes globals, keywords, fields after '.' and methods after ':'", function()
    rawset(_G, "rios", rios)
    assert.are.same({ "rios.apply" }, repl.complete("rios.ap"))
    assert.are.same({ "rios.quicklook" }, repl.complete("rios.qu"))
    assert.are.same({ "function" }, repl.complete("functio"))
    assert.are.same({ "string.rep", "string.reverse" }, repl.complete("string.re"))
    local dir = H.tmpdir()
    H.make_raster(dir .. "/r.tif", "uint8", 1, 2, 2, function() return 0 end)
    rawset(_G, "rr", rios.open(dir .. "/r.tif"))
    assert.are.same({ "rr:stats", "rr:stored_stats" }, repl.complete("rr:st"))
    assert.are.same({ "rr.color_table", "rr.cols" }, repl.complete("rr.co"))
    -- methods only after ':' (cols is a field); nothing for what does not exist
    assert.are.same({ "rr:color_table" }, repl.complete("rr:co"))
    assert.are.same({}, repl.complete("rr:zz"))
    assert.are.same({}, repl.complete("nosuch.x"))
    local a = rios.array("uint8", 1, 1, 1)
    rawset(_G, "rr", a)
    assert.are.same({ "rr:like" }, repl.complete("rr:li"))
  end)
end)
