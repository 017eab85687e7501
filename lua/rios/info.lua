-- rios.info: what a block function is told about the block it computes
-- (RIOS's ReaderInfo, in snake_case). One object per apply, updated in place
-- for each block. The one convention of README's "Positions and windows":
-- pairs come back as (x, y) / (cols, rows), positions are 0-based, like
-- `data`.
local array = require("rios.array")
local base = require("rios.base")
local ffi, C = base.ffi, base.C

local Info = {}
Info.__index = Info

local M = {}

local nx_out, ny_out = ffi.new("int[1]"), ffi.new("int[1]")
local label_out = ffi.new("rios_text")

-- grid: the working grid; c: resolved controls; by_array: input array ->
-- { path = , nodata = {per band} }. The block geometry comes from
-- runtime/pipeline.c, the one place it is computed.
function M.new(grid, c, by_array)
  local self = setmetatable({ grid = grid, wx = c.window_xsize, wy = c.window_ysize,
                              ov = c.overlap, by_array = by_array }, Info)
  local err = base.err
  if C.rios_ffi_grid_blocks(grid.cols, grid.rows, math.min(self.wx, grid.cols),
                            math.min(self.wy, grid.rows), nx_out, ny_out, err) ~= base.OK then
    error(base.errmsg(), 0)
  end
  self.nx, self.ny = nx_out[0], ny_out[0]
  return self
end

-- Point the object at block b (a rios_block from the pipeline).
function Info:set_block(b)
  self.block = b
  self.xblock, self.yblock = b.xblock, b.yblock
  self.xoff, self.yoff, self.cols, self.rows = b.xoff, b.yoff, b.cols, b.rows
end

-- "(row r, col c) [x=.. y=.. WxH]" of the current block, for messages.
function Info:label()
  C.rios_ffi_block_label(self.block, label_out)
  return ffi.string(label_out.s)
end

function Info:is_first_block() return self.xblock == 0 and self.yblock == 0 end
function Info:is_last_block()
  return self.xblock == self.nx - 1 and self.yblock == self.ny - 1
end
function Info:window_size() return self.wx, self.wy end
function Info:overlap() return self.ov end
function Info:total_size() return self.grid.cols, self.grid.rows end
function Info:total_blocks() return self.nx, self.ny end
function Info:block_size() return self.cols, self.rows end
function Info:block_count() return self.xblock, self.yblock end
function Info:block_window() return self.xoff, self.yoff, self.cols, self.rows end

-- World coordinates of this block's outer corners, overlap excluded:
-- left, top, right, bottom.
function Info:block_bounds()
  local t = self.grid.transform
  local left = t[1] + self.xoff * t[2]
  local top = t[4] + self.yoff * t[6]
  return left, top, left + self.cols * t[2], top + self.rows * t[6]
end

-- x and y of every pixel centre of the block's arrays (overlap included),
-- as two float64 arrays of 1 band.
function Info:block_coord_arrays()
  local ov, t = self.ov, self.grid.transform
  local rows, cols = self.rows + 2 * ov, self.cols + 2 * ov
  local xa = array.new("float64", 1, rows, cols)
  local ya = array.new("float64", 1, rows, cols)
  local x0 = t[1] + (self.xoff - ov + 0.5) * t[2]
  local y0 = t[4] + (self.yoff - ov + 0.5) * t[6]
  local xd, yd = xa.data, ya.data
  for r = 0, rows - 1 do
    local y = y0 + r * t[6]
    for c = 0, cols - 1 do
      xd[r * cols + c] = x0 + c * t[2]
      yd[r * cols + c] = y
    end
  end
  return xa, ya
end

function Info:transform()
  local t = self.grid.transform
  return { t[1], t[2], t[3], t[4], t[5], t[6] }
end
function Info:projection() return self.grid.projection end
function Info:pixel_size() return self.grid.xres, self.grid.yres end

-- Column and row in the whole grid of column x, row y of this block's
-- arrays (which start `overlap` pixels before the block).
function Info:pix_col_row(x, y)
  return self.xoff - self.ov + x, self.yoff - self.ov + y
end

-- Column and row, in this block's arrays, of the pixel holding world point
-- (x, y); nil when the point is outside them.
function Info:pix_col_row_block(x, y)
  local t = self.grid.transform
  local col = math.floor((x - t[1]) / t[2]) - (self.xoff - self.ov)
  local row = math.floor((y - t[4]) / t[6]) - (self.yoff - self.ov)
  if col < 0 or row < 0 or col >= self.cols + 2 * self.ov or row >= self.rows + 2 * self.ov then
    return nil
  end
  return col, row
end

-- Deprecated: the old name, which returns row first as its name says. Kept
-- for a while with a one-line warning (once per Lua state); see README.
local warned = false
function Info:pix_row_col_block(x, y)
  if not warned then
    warned = true
    io.stderr:write("rios-lua: warning: ", require("rios.base").where(2),
                    "info:pix_row_col_block (row, col) is deprecated: use "
                    .. "info:pix_col_row_block, which returns col, row\n")
  end
  local col, row = self:pix_col_row_block(x, y)
  if col == nil then return nil end
  return row, col
end

local function lookup(self, arr, fname)
  local rec = self.by_array[arr]
  if not rec then
    error("info:" .. fname .. ": that array is not one of this block's inputs", 3)
  end
  return rec
end

function Info:filename_for(arr) return lookup(self, arr, "filename_for").path end

function Info:nodata_for(arr, band)
  local rec = lookup(self, arr, "nodata_for")
  band = band or 1
  return rec.nodata[band]
end

-- The colour table of the file an input array comes from (band 1 unless
-- given; `layer_selection` bands are the file's own numbers): { [value] =
-- {r, g, b, a} }, or nil. Read from the file once per run and band.
function Info:color_table_for(arr, band)
  local rec = lookup(self, arr, "color_table_for")
  band = band or 1
  rec.color_tables = rec.color_tables or {}
  local ct = rec.color_tables[band]
  if ct == nil then
    ct = require("rios.rat").get_color_table(rec.path, band) or false
    rec.color_tables[band] = ct
  end
  return ct or nil
end

-- Percent of the blocks that came before this one.
function Info:percent()
  return math.floor((self.yblock * self.nx + self.xblock) * 100 / (self.nx * self.ny))
end

return M
