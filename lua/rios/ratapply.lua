-- rios.ratapply(fn, inputs, outputs [, otherargs [, controls]]): a function
-- applied to blocks of raster attribute table rows, after RIOS's
-- ratapplier, so that tables of millions of rows never sit whole in memory.
--
--   rios.ratapply(function(info, inputs, outputs)
--     outputs.img.sqrd = inputs.img.Value ^ 2
--   end, { img = "classes.img" }, { img = "classes.img" }, nil, { block_len = 5 })
--
-- inputs, outputs: { name = path } or { name = { path, band = n } } (band 1
-- by default). A file may be both an input and an output (it is opened once,
-- for update); two outputs may not name the same file.
--
-- fn(info, inputs, outputs, otherargs) is called once per block of rows:
--   * inputs.NAME.COLUMN: that column's rows of the block, read when first
--     asked for: a rios array (int32 for integer columns, float64 for real
--     ones) of 1 x 1 x info.nrows, or a Lua list of strings. Arrays borrow a
--     buffer reused from block to block: keep what you need, not the array.
--   * outputs.NAME.COLUMN = values: an array or a Lua list (numbers or
--     strings), written after fn returns into the output's next rows (a
--     column the table lacks is made, its type from the values). Every
--     column set on one output in a block must have the same length, which
--     may differ from the block's (an output can hold fewer rows than its
--     inputs; {} writes none). Columns not set are not written.
--   * info: start_row (the block's first row, 0-based: row i is pixel value
--     i), nrows (rows in the block), row_count (rows in all), block_index
--     (0-based) and nblocks; info:row_numbers() (an int32 array of the
--     block's row numbers), info:set_usage(output, column, usage) for a
--     column the run makes, info:usage(name, column).
--
-- controls:
--   block_len = 100000          rows per block
--   row_count = n               rows to go through (default: the inputs'
--                               row count, which must be the same in every
--                               input; needed when there are no inputs)
--   out_row_count = "input"     how an output's table grows when a block
--                               writes past its end: to the rows gone
--                               through ("input"), to a fixed n (a number),
--                               or by what is written ("increment", at
--                               least row_count_increment rows at a time)
--   row_count_increment = n
-- When the run ends, an output's table is cut back to the rows written, but
-- never below the rows it had before the run (rows the run did not add are
-- kept, with every column in them).
--
-- An error names the file, the column and the block (its rows); a failed
-- run leaves tables kept beside their file (.aux.xml) as they were, while
-- drivers that write tables straight into the file (HFA, KEA) keep the
-- blocks written before the failure.
local base = require("rios.base")
local array = require("rios.array")
local rat = require("rios.rat")
local C = base.C

local M = {}

local where_of = base.where
local floor = math.floor

local control_checks = {
  block_len = function(v)
    if type(v) ~= "number" or v ~= floor(v) or v < 1 or v > 2147483647 then
      return "must be a whole number >= 1"
    end
  end,
  row_count = function(v)
    if type(v) ~= "number" or v ~= floor(v) or v < 0 or v > 2147483647 then
      return "must be a whole number >= 0"
    end
  end,
  out_row_count = function(v)
    if v == "input" or v == "increment" then return nil end
    if type(v) == "number" and v == floor(v) and v >= 0 and v <= 2147483647 then return nil end
    return "must be \"input\", \"increment\" or a whole number of rows >= 0"
  end,
  row_count_increment = function(v)
    if type(v) ~= "number" or v ~= floor(v) or v < 1 then return "must be a whole number >= 1" end
  end,
}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function check_controls(controls, where)
  local c = { block_len = 100000, out_row_count = "input" }
  if controls == nil then return c end
  if type(controls) ~= "table" then
    base.raise(where, "rios.ratapply: controls must be a table, got " .. type(controls))
  end
  for _, k in ipairs(sorted_keys(controls)) do
    local check = control_checks[k]
    if not check then
      local known = sorted_keys(control_checks)
      base.raise(where, "rios.ratapply: unknown control " .. tostring(k) .. " (known: "
                 .. table.concat(known, ", ") .. ")")
    end
    local why = check(controls[k])
    if why then
      base.raise(where, "rios.ratapply: controls." .. k .. " " .. why .. ", got "
                 .. tostring(controls[k]))
    end
    c[k] = controls[k]
  end
  return c
end

-- path, band of one entry of inputs or outputs.
local function parse_entry(kind, name, spec, where)
  local path, band = spec, 1
  if type(spec) == "table" then
    path, band = spec[1], spec.band or 1
  end
  if type(name) ~= "string" then
    base.raise(where, "rios.ratapply: " .. kind .. " names must be strings, got " .. type(name))
  end
  if type(path) ~= "string" then
    base.raise(where, string.format("rios.ratapply: %s %s must be a file name or {file, band = "
                                    .. "n}, got %s", kind, name, type(spec)))
  end
  if type(band) ~= "number" or band ~= floor(band) or band < 1 then
    base.raise(where, string.format("rios.ratapply: %s %s: band must be a whole number >= 1, "
                                    .. "got %s", kind, name, tostring(band)))
  end
  return path, band
end

-- The files the run reads and writes, each opened once.
local function open_files(inputs, outputs, where)
  local files, order = {}, {}
  local ins, outs = {}, {}
  local function add(kind, name, spec, update)
    local path, band = parse_entry(kind, name, spec, where)
    local f = files[path]
    if f and f.band ~= band then
      base.raise(where, string.format("rios.ratapply: %s is named with bands %d and %d; a run "
                                      .. "works on one band's table per file", path, f.band, band))
    end
    if not f then
      f = { path = path, band = band, update = update, label = path .. " band " .. band }
      files[path] = f
      order[#order + 1] = f
    end
    return f
  end
  for _, name in ipairs(sorted_keys(outputs)) do
    local f = add("output", name, outputs[name], true)
    if f.output_name then
      base.raise(where, string.format("rios.ratapply: outputs %s and %s both name %s; give each "
                                      .. "output its own file", f.output_name, name, f.path))
    end
    f.output_name = name
    outs[#outs + 1] = { name = name, file = f }
  end
  for _, name in ipairs(sorted_keys(inputs)) do
    ins[#ins + 1] = { name = name, file = add("input", name, inputs[name], false) }
  end
  return order, ins, outs
end

local Info = {}
Info.__index = Info

function Info:row_numbers()
  local a = array.new("int32", 1, 1, self.nrows)
  local d, s = a.data, self.start_row
  for i = 0, self.nrows - 1 do d[i] = s + i end
  return a
end

function Info:set_usage(output, column, usage)
  local where = where_of(2)
  local out = self._run.outs_by_name[output]
  if not out then
    base.raise(where, "info:set_usage: there is no output " .. tostring(output))
  end
  if type(column) ~= "string" then
    base.raise(where, "info:set_usage: the column must be a name (a string)")
  end
  rat.usage_code("info:set_usage", where, usage)
  out.usages[column] = usage
end

function Info:usage(name, column)
  local where = where_of(2)
  local run = self._run
  local rec = run.outs_by_name[name] or run.ins_by_name[name]
  if not rec then
    base.raise(where, "info:usage: there is no input or output " .. tostring(name))
  end
  if rec.usages and rec.usages[column] then return rec.usages[column] end
  local t = rec.file.table
  if C.rios_ffi_rat_find_column(t.handle, column) >= 0 then return t:column_usage(column) end
  local conv = rat.named_columns[column]
  return conv and conv.usage or "Generic"
end

local function block_label(info)
  return string.format("block %d (rows %d to %d)", info.block_index, info.start_row,
                       info.start_row + info.nrows - 1)
end
M.block_label = block_label

-- The table an input name reads in a block: columns read on first use.
local function input_block(run, rec)
  local cache = {}
  return setmetatable({}, {
    __index = function(_, column)
      local v = cache[column]
      if v ~= nil then return v end
      local info = run.info
      local where = where_of(2)
      local fname = "rios.ratapply: input " .. rec.name .. ", " .. block_label(info)
      local t = rec.file.table
      local meta = rec.columns[column]
      if not meta then
        if type(column) ~= "string" then
          base.raise(where, fname .. ": column names are strings, got " .. type(column))
        end
        local col, ty, u = rat.column_index(t, fname, where, column)
        meta = { col = col, type = ty, usage = u }
        rec.columns[column] = meta
      end
      local buf = rec.buffers[column]
      if meta.type ~= 2 and buf == nil then
        local dtype = meta.type == 0 and "int32" or "float64"
        buf = array.new(dtype, 1, 1, run.block_len_alloc)
        rec.buffers[column] = buf
      end
      local into = buf and array.wrap(buf.dtype, 1, 1, info.nrows, buf.data, buf)
      v = rat.read_rows(t, fname, where, meta.col, meta.type, meta.usage, info.start_row,
                        info.nrows, into)
      cache[column] = v
      return v
    end,
    __newindex = function(_, column)
      base.raise(where_of(2), "rios.ratapply: input " .. rec.name .. " is read only; set "
                 .. "outputs." .. rec.name .. "." .. tostring(column) .. " to write a column")
    end,
  })
end

-- The table an output name takes a block's columns in.
local function output_block(rec)
  local pending, order = {}, {}
  rec.pending, rec.order = pending, order
  return setmetatable({}, {
    __index = function(_, column) return pending[column] end,
    __newindex = function(_, column, value)
      local where = where_of(2)
      if type(column) ~= "string" or column == "" then
        base.raise(where, "rios.ratapply: output " .. rec.name .. ": column names are non-empty "
                   .. "strings")
      end
      if value ~= nil and not array.is_array(value) and type(value) ~= "table" then
        base.raise(where, string.format("rios.ratapply: output %s column \"%s\" must be an array "
                                        .. "or a list of numbers or strings, got %s", rec.name,
                                        column, type(value)))
      end
      if pending[column] == nil then order[#order + 1] = column end
      pending[column] = value
    end,
  })
end

-- Grow an output's table for rows up to `needed`, as out_row_count says.
local function grow(run, rec, fname, where, needed)
  local t = rec.file.table
  local rows = t:row_count()
  if rows >= needed then return end
  local how, want = run.controls.out_row_count, nil
  if how == "input" then
    want = math.max(needed, run.row_count)
  elseif how == "increment" then
    want = rec.written + math.max(needed - rec.written, run.controls.row_count_increment or 0)
  else
    if needed > how then
      base.raise(where, string.format("%s: controls.out_row_count is %d, but this block writes "
                                      .. "rows up to %d", fname, how, needed - 1))
    end
    want = how
  end
  rat.set_row_count_of(t, fname, where, want)
end

-- Write what fn set on an output in this block.
local function write_output(run, rec, where)
  local info = run.info
  local fname = "rios.ratapply: output " .. rec.name .. ", " .. block_label(info)
  local t = rec.file.table
  local n, first
  local vals = {}
  for i, column in ipairs(rec.order) do
    local value = rec.pending[column]
    local v
    if value == nil or (not array.is_array(value) and next(value) == nil) then
      v = { n = 0 }
    else
      v = rat.values_of(fname .. ", column \"" .. column .. "\"", where, value)
    end
    if n == nil then
      n, first = v.n, column
    elseif v.n ~= n then
      base.raise(where, string.format("%s (%s): column \"%s\" has %d rows but column \"%s\" has "
                                      .. "%d", fname, rec.file.label, column, v.n, first, n))
    end
    vals[i] = v
  end
  if not n or n == 0 then return end
  grow(run, rec, fname, where, rec.written + n)
  for i, column in ipairs(rec.order) do
    local opts = { usage = rec.usages[column] }
    local col, ty = rat.find_or_create(t, fname, where, column, vals[i].kind, opts)
    rat.write_rows(t, fname, where, column, col, ty, rec.written, vals[i])
  end
  rec.written = rec.written + n
  rec.wrote = true
end

local function close_all(order, ok)
  local err
  for _, f in ipairs(order) do
    local t = f.table
    if t and t.handle ~= nil then
      if ok and not err then
        local pok, e = pcall(t.close, t)
        if not pok then err = e end
      else
        t:discard()
      end
    end
  end
  return err
end

function M.apply(fn, inputs, outputs, otherargs, controls)
  local where = where_of(3)
  if type(fn) ~= "function" then
    base.raise(where, "rios.ratapply: the first argument must be a function, got " .. type(fn))
  end
  inputs = inputs or {}
  outputs = outputs or {}
  if type(inputs) ~= "table" or type(outputs) ~= "table" then
    base.raise(where, "rios.ratapply: inputs and outputs must be tables of name = file")
  end
  local c = check_controls(controls, where)
  local order, ins, outs = open_files(inputs, outputs, where)
  local run = { controls = c, ins_by_name = {}, outs_by_name = {} }

  local ok, msg = xpcall(function()
    for _, f in ipairs(order) do
      f.table = rat.open(f.path, { band = f.band, update = f.update })
    end
    -- Every input has the same number of rows.
    local counts, differ = {}, false
    for i, rec in ipairs(ins) do
      rec.columns, rec.buffers = {}, {}
      run.ins_by_name[rec.name] = rec
      local rows = rec.file.table:row_count()
      counts[i] = string.format("%s: %d rows", rec.file.label, rows)
      if i > 1 and rows ~= ins[1].file.table:row_count() then differ = true end
    end
    if differ then
      base.raise(where, "rios.ratapply: the input attribute tables differ in length ("
                 .. table.concat(counts, ", ") .. ")")
    end
    local rows = c.row_count or (ins[1] and ins[1].file.table:row_count())
    if rows == nil then
      base.raise(where, "rios.ratapply: with no inputs, controls.row_count must say how many "
                 .. "rows to go through")
    end
    run.row_count = rows
    run.block_len_alloc = math.max(1, math.min(c.block_len, rows))
    for _, rec in ipairs(outs) do
      rec.usages, rec.written, rec.wrote = {}, 0, false
      rec.rows_before = rec.file.table:row_count()
      run.outs_by_name[rec.name] = rec
    end
    local nblocks = math.ceil(rows / c.block_len)
    local info = setmetatable({ row_count = rows, nblocks = nblocks, _run = run }, Info)
    run.info = info
    for b = 0, nblocks - 1 do
      info.block_index = b
      info.start_row = b * c.block_len
      info.nrows = math.min(c.block_len, rows - info.start_row)
      local intable, outtable = {}, {}
      for _, rec in ipairs(ins) do intable[rec.name] = input_block(run, rec) end
      for _, rec in ipairs(outs) do outtable[rec.name] = output_block(rec) end
      run.in_user_function = true
      fn(info, intable, outtable, otherargs)
      run.in_user_function = false
      for _, rec in ipairs(outs) do write_output(run, rec, where) end
    end
    -- Cut each output back to the rows written (never below what it had).
    for _, rec in ipairs(outs) do
      local t = rec.file.table
      local final = math.max(rec.written, rec.rows_before)
      if rec.wrote and t:row_count() ~= final then
        rat.set_row_count_of(t, "rios.ratapply: output " .. rec.name, where, final)
      end
    end
  end, function(e)
    if base.is_user_error(e) then return e end
    local tb = debug.traceback(tostring(e), 2)
    if run.in_user_function and run.info then
      tb = tb .. "\nrios.ratapply: the error happened in the function, "
           .. block_label(run.info)
    end
    return tb
  end)
  local close_err = close_all(order, ok)
  if not ok then
    if base.is_user_error(msg) then error(msg, 0) end
    base.raise("", msg)
  end
  if close_err then error(close_err, 0) end
end

return M
