/* host.h: the one constructor of every Lua state rios-lua runs, and the
   protected call every script goes through. */
#ifndef RIOS_HOST_H
#define RIOS_HOST_H

#include <lua.h>
#include <stddef.h>

/* Process-wide setup of GDAL (drivers, error handler, block cache): once,
   in main(), before any state or thread exists. */
void rios_host_init(void);

/* A new state with the standard libraries, package.path reaching lua/ and
   the top-level workers/ folder, and the host table in the registry
   (RIOS_REG_HOST), all set up inside a protected call. Returns NULL with a
   message in err (running out of memory included). */
lua_State *rios_state_new(char *err, size_t errlen);

/* Call the function below narg arguments on the stack with a traceback
   handler; on error leaves the message (with traceback) on the stack. */
int rios_docall(lua_State *L, int narg, int nres);

/* Print the error on top of the stack to stderr and pop it. */
void rios_report(lua_State *L, int status);

/* What a command's pmain gets (lua_touserdata(L, 1)): its arguments, and
   the exit status it sets (1 until it says otherwise). */
typedef struct rios_main_ctx {
  int argc;
  char **argv;
  int status;
} rios_main_ctx;

/* A command's whole main, as LuaJIT's own host does it: find the modules,
   set GDAL up, make the state, run pmain under lua_cpcall, report what it
   raised, close. name prefixes the messages. Returns the exit status. */
int rios_host_main(const char *name, int argc, char **argv, lua_CFunction pmain);

#endif
