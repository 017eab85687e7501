/*
 * main.c: the rios-lua command. As LuaJIT's own host: main opens a state and
 * runs pmain under lua_cpcall; arguments are read in two passes (check, then
 * run); every script runs through rl_docall.
 */
#include "host.h"
#include "repl.h"
#include "process.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <luajit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
  "usage: rios-lua [options] [script.lua [args...]]\n"
  "Run a Lua script that processes rasters block by block with rios.apply,\n"
  "or explore rasters at an interactive prompt.\n"
  "\n"
  "options:\n"
  "  -e CODE        run CODE first (may be given more than once)\n"
  "  -i             start the interactive prompt after the script\n"
  "  -q             quiet: no progress line while rios.apply runs\n"
  "  -v, --version  print the version and exit\n"
  "  -h, --help     print this help and exit\n"
  "  --             stop handling options\n"
  "  -              run the script read from standard input\n"
  "\n"
  "With no script: the prompt when stdin is a terminal (rios loaded, Tab\n"
  "completes, Ctrl-C interrupts, Ctrl-D leaves, history in ~/.rios_lua_history),\n"
  "else a script read from stdin.\n"
  "\n"
  "environment (defaults of rios.apply's controls; a script's controls win):\n"
  "  RIOS_DFLT_DRIVER, RIOS_DFLT_CREOPT_<driver>, RIOS_DFLT_FOOTPRINT,\n"
  "  RIOS_DFLT_BLOCKXSIZE, RIOS_DFLT_BLOCKYSIZE, RIOS_DFLT_OVERLAP,\n"
  "  RIOS_DFLT_OVERVIEWLEVELS, RIOS_DFLT_MINOVERLEVELDIM, RIOS_DFLT_OVERVIEWAGGTYPE\n"
  "\n"
  "Exit status: 0 on success, 1 on any error. See man rios-lua.\n";

typedef struct rl_args {
  int script;     /* index in argv of the script, or 0 */
  int has_e;
  int version;
  int help;
  int interactive; /* -i: the prompt after the script */
  int quiet;       /* -q: no progress line */
} rl_args;

/* Pass 1: check options, find the script. Returns 0 or -1 (message printed). */
static int collect_args(int argc, char **argv, rl_args *a) {
  memset(a, 0, sizeof(*a));
  int i;
  for (i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (s[0] != '-') break;
    if (strcmp(s, "--") == 0) { i++; break; }
    if (strcmp(s, "-") == 0) break;
    if (strcmp(s, "-e") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "rios-lua: '-e' needs an argument\n");
        return -1;
      }
      a->has_e = 1;
      i++;
    } else if (strcmp(s, "-v") == 0 || strcmp(s, "--version") == 0) {
      a->version = 1;
    } else if (strcmp(s, "-i") == 0) {
      a->interactive = 1;
    } else if (strcmp(s, "-q") == 0) {
      a->quiet = 1;
    } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
      a->help = 1;
    } else {
      fprintf(stderr, "rios-lua: unknown option '%s' (see rios-lua --help)\n", s);
      return -1;
    }
  }
  a->script = i < argc ? i : 0;
  return 0;
}

/* The global arg, as luajit sets it: arg[0] the script, arg[1..] its
   arguments, arg[-n..-1] the interpreter and options. */
static void set_arg(lua_State *L, int argc, char **argv, int script) {
  int base = script ? script : argc;
  lua_createtable(L, argc - base, base + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - base);
  }
  lua_setglobal(L, "arg");
}

static int run_chunk(lua_State *L, int status, int nargs) {
  if (status == 0) {
    status = rl_docall(L, nargs, 0);
  } else {
    lua_pop(L, nargs);
  }
  rl_report(L, status);
  return status;
}

static int push_script_args(lua_State *L, int argc, char **argv, int script) {
  int n = 0;
  for (int i = script + 1; i < argc; i++, n++) lua_pushstring(L, argv[i]);
  return n;
}

static int run_script(lua_State *L, int argc, char **argv, int script) {
  const char *name = argv[script];
  int status;
  if (strcmp(name, "-") == 0) {
    status = luaL_loadfile(L, NULL);
  } else {
    FILE *f = fopen(name, "r");
    if (!f) {
      fprintf(stderr, "rios-lua: cannot open script %s\n", name);
      return 1;
    }
    fclose(f);
    status = luaL_loadfile(L, name);
  }
  int nargs = push_script_args(L, argc, argv, script);
  if (status != 0) lua_insert(L, -(nargs + 1));
  return run_chunk(L, status, nargs);
}

typedef struct pmain_ctx {
  int argc;
  char **argv;
  int status;
} pmain_ctx;

static int pmain(lua_State *L) {
  pmain_ctx *ctx = lua_touserdata(L, 1);
  int argc = ctx->argc;
  char **argv = ctx->argv;
  rl_args a;
  ctx->status = 1;
  if (collect_args(argc, argv, &a) != 0) return 0;
  if (a.help) {
    fputs(usage_text, stdout);
    ctx->status = 0;
    return 0;
  }
  if (a.version) {
    printf("rios-lua %s (%s)\n", RL_VERSION, LUAJIT_VERSION);
    ctx->status = 0;
    return 0;
  }
  set_arg(L, argc, argv, a.script);
  if (a.quiet) {  /* rios.progress reads it */
    lua_getfield(L, LUA_REGISTRYINDEX, "rios.host");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "quiet");
    lua_pop(L, 1);
  }
  /* Pass 2: run -e chunks in order, then the script. */
  for (int i = 1; i < (a.script ? a.script : argc); i++) {
    if (strcmp(argv[i], "--") == 0) break;
    if (strcmp(argv[i], "-e") == 0) {
      const char *code = argv[++i];
      int status = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
      if (run_chunk(L, status, 0) != 0) return 0;
    }
  }
  if (a.script) {
    if (run_script(L, argc, argv, a.script) != 0) return 0;
    if (a.interactive) rl_repl(L);
  } else if (!a.has_e || a.interactive) {
    if (a.interactive || isatty(0)) {
      rl_repl(L);
    } else {
      int status = luaL_loadfile(L, NULL);
      if (run_chunk(L, status, 0) != 0) return 0;
    }
  }
  ctx->status = 0;
  return 0;
}

int main(int argc, char **argv) {
  char err[1024];
  if (rl_process_init(argv[0], err, sizeof(err)) != 0) {
    fprintf(stderr, "rios-lua: %s\n", err);
    return 1;
  }
  lua_State *L = rl_state_new(err, sizeof(err));
  if (!L) {
    fprintf(stderr, "rios-lua: %s\n", err);
    return 1;
  }
  pmain_ctx ctx = {argc, argv, 1};
  if (lua_cpcall(L, pmain, &ctx) != 0) {
    rl_report(L, 1);
    ctx.status = 1;
  }
  lua_close(L);
  return ctx.status;
}
