-- A busted output handler: the plain terminal output, then one closing line
-- "N passed, N failed" that CI reads (errors count as failed).
return function(options)
  local busted = require("busted")
  local handler = require("busted.outputHandlers.plainTerminal")(options)
  busted.subscribe({ "suite", "end" }, function()
    local failed = #handler.failures + #handler.errors
    io.write(string.format("%d passed, %d failed\n", #handler.successes, failed))
    io.flush()
    return nil, true
  end)
  return handler
end
