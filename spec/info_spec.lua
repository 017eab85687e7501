-- Every info method on a known grid: 45 cols x 30 rows of 10 m pixels at
-- (500000, 6000000), windows of 20 x 20, overlap 2.
local H = require("support.helpers")

describe("info", function()
  after_each(H.cleanup)

  it("describes every block of a known grid", function()
    local dir = H.tmpdir()
    H.make_raster(dir .. "/in.tif", "int16", 1, 30, 45, function(_, r, c) return r * 100 + c end,
                  { transform = { 500000, 10, 0, 6000000, 0, -10 }, nodata = -1 })
    local status, out, err = H.run_script(dir, "info.lua", [[
      local rios = require("rios")
      local lines = {}
      local function put(...) lines[#lines + 1] = table.concat({ ... }, " ") end
      rios.apply(function(info, inputs, outputs)
        local img = inputs.img
        local xb, yb = info:block_count()
        local w, n, e, s = info:block_bounds()
        local bc, br = info:block_size()
        put("block", xb, yb, tostring(info:is_first_block()), tostring(info:is_last_block()),
            bc, br, w, n, e, s, info:percent())
        if xb == 1 and yb == 1 then
          put("window", info:window_size())
          put("overlap", info:overlap())
          put("total", info:total_size())
          put("blocks", info:total_blocks())
          put("transform", table.concat(info:transform(), ","))
          put("wkt", info:projection():match('"EPSG","?(%d+)"?%]%]$'))
          put("pixel", info:pixel_size())
          put("colrow", info:pix_col_row(0, 0))
          put("colrow2", info:pix_col_row(3, 5))
          -- the centre of grid pixel (col 25, row 22) is in this block's arrays
          -- at col 25 - 20 + 2, row 22 - 20 + 2
          put("colrow_block", info:pix_col_row_block(500000 + 255, 6000000 - 225))
          put("outside", tostring(info:pix_col_row_block(0, 0)))
          put("file", info:filename_for(img))
          put("nodata", info:nodata_for(img), tostring(info:nodata_for(img, 2)))
          local x, y = info:block_coord_arrays()
          put("coords", x.rows, x.cols, x.dtype, x.data[0], y.data[0],
              x.data[x.rows * x.cols - 1], y.data[y.rows * y.cols - 1])
          -- the pixel value at the centre agrees with the coordinates
          local c, r = info:pix_col_row_block(x.data[7 * x.cols + 9], y.data[7 * x.cols + 9])
          put("roundtrip", c, r, img.data[r * img.cols + c])
        end
      end, { img = "in.tif" }, {}, nil, { window_xsize = 20, window_ysize = 20, overlap = 2 })
      print(table.concat(lines, "\n"))
    ]])
    assert.are.equal(0, status, err)
    local want = {
      "block 0 0 true false 20 20 500000 6000000 500200 5999800 0",
      "block 1 0 false false 20 20 500200 6000000 500400 5999800 16",
      "block 2 0 false false 5 20 500400 6000000 500450 5999800 33",
      "block 0 1 false false 20 10 500000 5999800 500200 5999700 50",
      "block 1 1 false false 20 10 500200 5999800 500400 5999700 66",
      "window 20 20",
      "overlap 2",
      "total 45 30",
      "blocks 3 2",
      "transform 500000,10,0,6000000,0,-10",
      "wkt 32755",
      "pixel 10 10",
      "colrow 18 18",
      "colrow2 21 23",
      "colrow_block 7 4",
      "outside nil",
      "file in.tif",
      "nodata -1 nil",
      -- arrays of 14 x 24 (10 + 2*2 rows, 20 + 2*2 cols) from pixel (18, 18)
      "coords 14 24 float64 500185 5999815 500415 5999685",
      "roundtrip 9 7 2527",
      "block 2 1 false true 5 10 500400 5999800 500450 5999700 83",
    }
    assert.are.same(want, (function()
      local t = {}
      for line in out:gmatch("[^\n]+") do t[#t + 1] = line end
      return t
    end)())
  end)

  it("still answers the deprecated pix_row_col_block, row first, with one warning", function()
    local dir = H.tmpdir()
    H.make_raster(dir .. "/in.tif", "int16", 1, 30, 45, function(_, r, c) return r * 100 + c end,
                  { transform = { 500000, 10, 0, 6000000, 0, -10 } })
    local status, out, err = H.run_script(dir, "old.lua", [[
      local rios = require("rios")
      rios.apply(function(info)
        local xb, yb = info:block_count()
        if xb == 1 and yb == 1 then
          print(info:pix_row_col_block(500000 + 255, 6000000 - 225))
          print(info:pix_col_row_block(500000 + 255, 6000000 - 225))
          print(info:pix_row_col_block(0, 0))
        end
      end, { img = "in.tif" }, {}, nil, { window_xsize = 20, window_ysize = 20, overlap = 2 })
    ]])
    assert.are.equal(0, status, err)
    assert.are.equal("4\t7\n7\t4\nnil\n", out)
    local lines = {}
    for line in err:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.same({ "rios-lua: warning: old.lua:5: info:pix_row_col_block (row, col) is "
                      .. "deprecated: use info:pix_col_row_block, which returns col, row" }, lines)
  end)

  it("gives the block function an input's colour table, with compute threads too", function()
    local dir = H.tmpdir()
    H.make_raster(dir .. "/classes.tif", "uint8", 1, 30, 45, function(_, r, c) return (r + c) % 3 end,
                  { color_table = { [0] = { 0, 0, 0 }, [1] = { 200, 10, 20 }, [2] = { 5, 150, 250, 255 } } })
    H.make_raster(dir .. "/plain.tif", "uint8", 1, 30, 45, function() return 1 end)
    for _, opts in ipairs({ "", "-j 2" }) do
      local status, out, err = H.run("cd " .. H.q(dir) .. " && printf '%s' " .. H.q([[
local rios = require("rios")
local seen = {}
local res = rios.apply(function(info, inputs, outputs, o)
  local ct = info:color_table_for(inputs.c)
  o.line = string.format("%d %d %d %d / %d %d %d %d / %s", ct[1][1], ct[1][2], ct[1][3], ct[1][4],
                         ct[2][1], ct[2][2], ct[2][3], ct[2][4], tostring(info:color_table_for(inputs.p)))
end, { c = "classes.tif", p = "plain.tif" }, {}, {}, { window_xsize = 20, window_ysize = 20 })
for _, c in ipairs(res.otherargs_list) do if c.line then print(c.line) break end end
]]) .. " > ct.lua && " .. H.q(H.exe) .. " " .. opts .. " ct.lua")
      assert.are.equal(0, status, err)
      assert.are.equal("200 10 20 255 / 5 150 250 255 / nil\n", out, opts)
    end
  end)
end)
