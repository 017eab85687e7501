/*
 * host.c: building Lua states and calling into them.
 *
 * Every state, the main one and (later) each worker's, comes from
 * rios_state_new, so all of them load the same libraries and find the same
 * modules. Errors are reported as "chunk:line: message" plus a traceback,
 * except for errors the rios module marks as the user's input mistakes,
 * which are one line.
 */
#include "host.h"
#include "process.h"
#include "registry.h"
#include "rios_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <lauxlib.h>
#include <lualib.h>
#include <luajit.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* GDAL's errors reach the user inside rios's own one-line messages (which
   quote CPLGetLastErrorMsg), so only warnings are printed as they happen. */
static void gdal_message(CPLErr level, CPLErrorNum num, const char *msg) {
  (void)num;
  if (level != CE_Warning) return;
  char line[2048];
  rios_unmask_partial(msg, line, sizeof(line));
  fprintf(stderr, "rios-lua: GDAL warning: %s\n", line);
}

/* GDAL's block cache defaults to a share of the machine's memory, so a run's
   peak RSS would grow with the rasters. rios-lua reads and writes whole
   tiles block by block and needs little of it: a fixed RIOS_GDAL_CACHE_MB
   unless the user sets GDAL_CACHEMAX (README "Memory"). */
#define RIOS_GDAL_CACHE_MB 32
/* (glibc's malloc is left as it is. GDAL's tiles, 256 KB for 256 x 256
   float32, are made and freed with every block; a fixed M_MMAP_THRESHOLD
   below them kept the heap from growing by about 20 MB on 16000 x 16000
   rasters, but mapping and unmapping every tile cost NDVI 11% of its time
   in page faults (make bench, median of 7 pairs).) */
void rios_host_init(void) {
  /* A write past the file-size limit (ulimit -f) would end the process by
     SIGXFSZ, leaving a partial output; ignored, it is a write that fails
     with EFBIG, which GDAL reports and the run turns into a one-line error
     naming the output. (Programs the script starts inherit the ignoring.) */
  signal(SIGXFSZ, SIG_IGN);
  CPLSetErrorHandler(gdal_message);
  GDALAllRegister();
  if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL))
    GDALSetCacheMax64((GIntBig)RIOS_GDAL_CACHE_MB << 20);
}

/* os.exit: during a run it ends the process at once, its private folders
   removed and stdio flushed (rios_ffi_exit_now): exit() would run the
   process's destructors under the feet of the run's threads. Otherwise
   LuaJIT's own (upvalue 1). */
static int os_exit(lua_State *L) {
  if (rios_tempfiles_busy()) {
    int code = lua_isboolean(L, 1) ? (lua_toboolean(L, 1) ? 0 : 1)
                                   : (int)luaL_optinteger(L, 1, 0);
    rios_ffi_exit_now(code);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* Everything a new state gets, run by lua_cpcall: running out of memory
   here is an error rios_state_new reports, not a panic. */
static int open_state(lua_State *L) {
  lua_gc(L, LUA_GCSTOP, 0);
  luaL_openlibs(L);
  lua_gc(L, LUA_GCRESTART, -1);
  lua_getglobal(L, "os");
  lua_getfield(L, -1, "exit");
  lua_pushcclosure(L, os_exit, 1);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);

  /* package.path: our modules first (rios.* under lua/, workers.* in the
     top-level workers/ folder), then the system's (busted, cjson). */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  const char *old = lua_tostring(L, -1);
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s", rios_process.lua_dir,
                  rios_process.lua_dir, rios_process.root_dir, old ? old : "");
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);

  /* What the rios module needs to know about its host. */
  lua_newtable(L);
  lua_pushstring(L, rios_process.exe_path);
  lua_setfield(L, -2, "exe_path");
  lua_pushstring(L, rios_process.lua_dir);
  lua_setfield(L, -2, "lua_dir");
  lua_pushstring(L, rios_process.root_dir);
  lua_setfield(L, -2, "root_dir");
  lua_pushstring(L, RIOS_VERSION);
  lua_setfield(L, -2, "version");
  lua_setfield(L, LUA_REGISTRYINDEX, RIOS_REG_HOST);
  return 0;
}

lua_State *rios_state_new(char *err, size_t errlen) {
  lua_State *L = luaL_newstate();
  if (!L) {
    snprintf(err, errlen, "cannot create a Lua state: out of memory");
    return NULL;
  }
  if (lua_cpcall(L, open_state, NULL) != 0) {
    const char *msg = lua_tostring(L, -1);
    snprintf(err, errlen, "cannot set up a Lua state: %s", msg ? msg : "out of memory");
    lua_close(L);
    return NULL;
  }
  return L;
}

/* Whether the value at idx is an error the user made: a table whose
   metatable is the one rios.base keeps under RIOS_REG_USER_ERROR. */
static int is_user_error(lua_State *L, int idx) {
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
  lua_getfield(L, LUA_REGISTRYINDEX, RIOS_REG_USER_ERROR);
  int yes = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return yes;
}

/* Error handler: a user error stays its one line; anything else gains a
   traceback. */
static int traceback(lua_State *L) {
  if (is_user_error(L, 1)) {
    lua_getfield(L, 1, "msg");
    if (!lua_isstring(L, -1)) lua_pushliteral(L, "(error without a message)");
    return 1;
  }
  if (!lua_isstring(L, 1)) {
    /* Lua adds "file:line: " to string errors only: give other values the
       place of the Lua code that raised them, and their __tostring text,
       else their type. */
    lua_Debug ar;
    int where = 0;
    for (int level = 1; level <= 4 && lua_getstack(L, level, &ar); level++) {
      if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
        lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
        where = 1;
        break;
      }
    }
    if (!where) lua_pushliteral(L, "");
    if (lua_isnoneornil(L, 1) || !luaL_callmeta(L, 1, "__tostring") || !lua_isstring(L, -1)) {
      lua_pushfstring(L, "error raised with a %s value (it has no __tostring)",
                      luaL_typename(L, 1));
    }
    lua_concat(L, 2);
    lua_replace(L, 1);
    lua_settop(L, 1);
  }
  lua_getglobal(L, "debug");
  lua_getfield(L, -1, "traceback");
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 2);
  lua_call(L, 2, 1);
  return 1;
}

int rios_docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}

void rios_report(lua_State *L, int status) {
  if (status == 0) return;
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "%s\n", msg ? msg : "(error object is not a string)");
  fflush(stderr);
  lua_pop(L, 1);
}

int rios_host_main(const char *name, int argc, char **argv, lua_CFunction pmain) {
  char err[1024];
  if (rios_process_init(argv[0], err, sizeof(err)) != 0) {
    fprintf(stderr, "%s: %s\n", name, err);
    return 1;
  }
  rios_host_init();
  lua_State *L = rios_state_new(err, sizeof(err));
  if (!L) {
    fprintf(stderr, "%s: %s\n", name, err);
    return 1;
  }
  rios_main_ctx ctx = {argc, argv, 1};
  if (lua_cpcall(L, pmain, &ctx) != 0) {
    rios_report(L, 1);
    ctx.status = 1;
  }
  lua_close(L);
  return ctx.status;
}
