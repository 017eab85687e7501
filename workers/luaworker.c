/*
 * luaworker.c: the rios-luaworker command, a compute worker in its own
 * process (kinds "subproc", "slurm", "pbs"). It connects to the main
 * rios-lua process over the data channel (workers/channel.c), receives the
 * job, runs the user's script again up to the rios.apply it serves, in a
 * Lua state made by the same constructor as every other (rios_state_new),
 * computes the blocks it is given and sends back its otherargs and timers.
 * The job protocol is workers/remote.lua's; this file only reads the
 * command line and hands over.
 *
 *   rios-luaworker --address-file FILE [--label NAME]
 *   rios-luaworker --connect HOST:PORT [--key-file FILE] [--label NAME]
 *   RIOS_LUAWORKER_ADDRESS=HOST:PORT RIOS_LUAWORKER_KEY=... rios-luaworker
 *
 * The key is never on the command line: it is in the address file (mode
 * 0600), a key file, or the environment variable RIOS_LUAWORKER_KEY (64 hex
 * digits). A batch job (kinds "slurm", "pbs") gives --label, its worker's
 * name, which the worker sends to the main process first.
 */
#include "host.h"
#include "process.h"
#include "registry.h"

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
  "usage: rios-luaworker --address-file FILE [--label NAME]\n"
  "       rios-luaworker --connect HOST:PORT [--key-file FILE] [--label NAME]\n"
  "       RIOS_LUAWORKER_ADDRESS=HOST:PORT RIOS_LUAWORKER_KEY=KEY rios-luaworker\n"
  "A compute worker of rios-lua: connects to the main rios-lua process, runs\n"
  "the user's script up to the rios.apply it serves, computes the blocks it is\n"
  "given. rios-lua starts it (kind \"subproc\") or a batch job does (kinds\n"
  "\"slurm\", \"pbs\"); it is not meant to be run by hand.\n"
  "\n"
  "options:\n"
  "  --address-file FILE  the main process's address and key (mode 0600)\n"
  "  --connect HOST:PORT  the main process's address; the key then comes from\n"
  "                       --key-file or the environment variable RIOS_LUAWORKER_KEY\n"
  "  --key-file FILE      a file holding the key (64 hex digits, private to you)\n"
  "  --label NAME         the name rios-lua gave this worker's batch job\n"
  "  -v, --version        print the version and exit\n"
  "  -h, --help           print this help and exit\n"
  "environment:\n"
  "  RIOS_LUAWORKER_ADDRESS  HOST:PORT when neither --address-file nor --connect\n"
  "                          is given (batch jobs with shared_temp = false)\n"
  "  RIOS_LUAWORKER_KEY      the key (64 hex digits) when no file has it\n"
  "Exit status: 0 when the job ran, 1 on any error. See man rios-luaworker.\n";

/* One option of the command: its name, whether it takes a value, and the
   registry field the value goes to. */
typedef struct luaworker_opt {
  const char *name;
  const char *field;
} luaworker_opt;

static const luaworker_opt opts[] = {
  {"--address-file", "address_file"},
  {"--connect", "connect"},
  {"--key-file", "key_file"},
  {"--label", "label"},
};

static int pmain(lua_State *L) {
  rios_main_ctx *ctx = lua_touserdata(L, 1);
  ctx->status = 1;
  rios_process.orphan_exit = 1;
  lua_createtable(L, 0, 4);
  lua_pushliteral(L, "remote");
  lua_setfield(L, -2, "kind");
  for (int i = 1; i < ctx->argc; i++) {
    const char *a = ctx->argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      ctx->status = 0;
      return 0;
    }
    if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
      printf("rios-luaworker %s (%s)\n", RIOS_VERSION, LUAJIT_VERSION);
      ctx->status = 0;
      return 0;
    }
    size_t k = 0;
    while (k < sizeof(opts) / sizeof(opts[0]) && strcmp(a, opts[k].name) != 0) k++;
    if (k == sizeof(opts) / sizeof(opts[0])) {
      fprintf(stderr, "rios-luaworker: unknown argument '%s' (see rios-luaworker --help)\n", a);
      return 0;
    }
    if (i + 1 >= ctx->argc) {
      fprintf(stderr, "rios-luaworker: '%s' needs a value\n", a);
      return 0;
    }
    lua_pushstring(L, ctx->argv[++i]);
    lua_setfield(L, -2, opts[k].field);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, RIOS_REG_WORKER);
  static const char boot[] = "return require('workers.remote').serve()";
  int status = luaL_loadbuffer(L, boot, sizeof(boot) - 1, "=rios-luaworker");
  if (status == 0) status = rios_docall(L, 0, 1);
  if (status != 0) {
    rios_report(L, status);
    return 0;
  }
  ctx->status = (int)lua_tointeger(L, -1);
  return 0;
}

int main(int argc, char **argv) {
  return rios_host_main("rios-luaworker", argc, argv, pmain);
}
