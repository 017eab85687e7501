-- spec/support/helpers.lua: what the specs share. Real files only: rasters
-- are written with GDAL into a fresh temporary folder, read back with GDAL's
-- own command-line tools where a spec checks what a user would see.
local ffi = require("ffi")
local cjson = require("cjson")
local rios = require("rios")

local H = {}

H.root = (function()
  local p = io.popen("pwd")
  local d = p:read("*l")
  p:close()
  return d
end)()
-- The binary running the specs (./rios-lua, or a sanitizer build of it).
H.exe = require("rios.base").host.exe_path

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
H.q = shell_quote

-- A new empty folder under /tmp, removed by H.cleanup().
local made = {}
function H.tmpdir()
  local p = io.popen("mktemp -d /tmp/rios-spec.XXXXXX")
  local d = p:read("*l")
  p:close()
  made[#made + 1] = d
  return d
end

function H.cleanup()
  for _, d in ipairs(made) do os.execute("rm -rf " .. shell_quote(d)) end
  made = {}
end

-- Run a shell command; returns exit status, stdout, stderr.
function H.run(cmd)
  local d = H.tmpdir()
  local full = "(" .. cmd .. ") >" .. d .. "/out 2>" .. d .. "/err"
  local ok, how, code = os.execute(full)
  local status
  if type(ok) == "number" then status = ok / 256 else status = code end
  local function slurp(f)
    local h = io.open(f)
    local s = h and h:read("*a") or ""
    if h then h:close() end
    return s
  end
  local _ = how
  return status, slurp(d .. "/out"), slurp(d .. "/err")
end

-- Write a Lua script to a file in dir and run it with rios-lua. Returns
-- exit status, stdout, stderr.
function H.run_script(dir, name, source, args)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(source)
  f:close()
  local argstr = ""
  for _, a in ipairs(args or {}) do argstr = argstr .. " " .. shell_quote(a) end
  return H.run("cd " .. shell_quote(dir) .. " && " .. shell_quote(H.exe) .. " " .. name .. argstr)
end

-- gdalinfo -json of a file, decoded.
function H.gdalinfo(path, extra)
  local status, out, err = H.run("gdalinfo -json " .. (extra or "") .. " " .. shell_quote(path))
  assert(status == 0, "gdalinfo failed on " .. path .. ": " .. err)
  return cjson.decode(out)
end

-- The raw bytes of every band of a raster, band after band, as GDAL's
-- gdal_translate writes them (ENVI, band sequential): a check of our reads
-- and writes that does not go through rios.
function H.raw_bytes(path)
  local d = H.tmpdir()
  local status, _, err = H.run("gdal_translate -q -of ENVI -co INTERLEAVE=BSQ "
                               .. shell_quote(path) .. " " .. d .. "/raw.img")
  assert(status == 0, "gdal_translate failed on " .. path .. ": " .. err)
  local f = assert(io.open(d .. "/raw.img", "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

function H.array_bytes(a)
  return ffi.string(a.data, a.bands * a.rows * a.cols * rios.dtype_size[a.dtype])
end

-- A raster filled by fn(b, r, c) (0-based), written with rios.write.
-- opts: transform, projection, nodata, driver.
function H.make_raster(path, dtype, bands, rows, cols, fn, opts)
  local a = rios.array(dtype, bands, rows, cols)
  local d = a.data
  for b = 0, bands - 1 do
    for r = 0, rows - 1 do
      for c = 0, cols - 1 do
        d[(b * rows + r) * cols + c] = fn(b, r, c)
      end
    end
  end
  opts = opts or {}
  if not opts.transform then opts.transform = { 500000, 10, 0, 6000000, 0, -10 } end
  if not opts.projection then opts.projection = "EPSG:32755" end
  rios.write(path, a, opts)
  return a
end

-- Read a whole raster with rios.open (all bands).
function H.read(path)
  local r = rios.open(path)
  local a = r:read()
  r:close()
  return a
end

return H
