/*
 * main.c: the rios-lua command. As LuaJIT's own host: main opens a state and
 * runs pmain under lua_cpcall; arguments are read in two passes (check, then
 * run); every script runs through rios_docall.
 */
#include "host.h"
#include "registry.h"
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
  "  -j N           compute blocks in N threads (kind \"threads\"; with one read\n"
  "                 worker unless --read-workers says otherwise)\n"
  "  --read-workers N  read blocks ahead in N threads\n"
  "  --kind K       compute worker kind: none, threads, subproc, or slurm, pbs\n"
  "                 (-j N batch jobs, each a rios-luaworker; see man rios-lua)\n"
  "  --timings      print the timing report after each rios.apply\n"
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
  "-j, --read-workers and --kind apply to every rios.apply whose controls have\n"
  "no concurrency table.\n"
  "Exit status: 0 on success, 1 on any error. See man rios-lua.\n";

typedef struct rios_args {
  int script;     /* index in argv of the script, or 0 */
  int has_e;
  int version;
  int help;
  int interactive; /* -i: the prompt after the script */
  int quiet;       /* -q: no progress line */
  int compute_workers, read_workers;  /* -1: not given */
  const char *kind;                   /* NULL: not given */
  int timings;
} rios_args;

/* A whole number >= 0 for option opt, or -1 with a message printed. */
static int count_arg(const char *opt, const char *s) {
  char *end;
  long n = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || n < 0 || n > 4096) {
    fprintf(stderr, "rios-lua: '%s' needs a whole number from 0 to 4096, got '%s'\n", opt, s);
    return -1;
  }
  return (int)n;
}

/* Pass 1: check options, find the script. Returns 0 or -1 (message printed). */
static int collect_args(int argc, char **argv, rios_args *a) {
  memset(a, 0, sizeof(*a));
  a->compute_workers = a->read_workers = -1;
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
    } else if (strcmp(s, "-j") == 0 || strcmp(s, "--read-workers") == 0 ||
               strcmp(s, "--kind") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "rios-lua: '%s' needs an argument\n", s);
        return -1;
      }
      const char *v = argv[++i];
      if (strcmp(s, "--kind") == 0) {
        a->kind = v;
      } else {
        int n = count_arg(s, v);
        if (n < 0) return -1;
        if (s[1] == 'j') a->compute_workers = n; else a->read_workers = n;
      }
    } else if (strcmp(s, "--timings") == 0) {
      a->timings = 1;
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

/* What compute workers need to run the script again in their own Lua
   states (lua/rios/worker.lua): registry "rios.script" = { argv = {[0] =
   argv[0], ...}, base = index of the script (or argc), chunks = { -e code,
   ... }, source = the script's text, chunkname = its chunk name }. The
   command-line concurrency goes to registry "rios.cli". */
static void stash_script_info(lua_State *L, int argc, char **argv, const rios_args *a) {
  lua_createtable(L, 0, 6);
  lua_createtable(L, argc, 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setfield(L, -2, "argv");
  lua_pushinteger(L, a->script ? a->script : argc);
  lua_setfield(L, -2, "base");
  lua_newtable(L);
  int n = 0;
  for (int i = 1; i < (a->script ? a->script : argc); i++) {
    if (strcmp(argv[i], "--") == 0) break;
    if (strcmp(argv[i], "-j") == 0 || strcmp(argv[i], "--read-workers") == 0 ||
        strcmp(argv[i], "--kind") == 0) {
      i++;
    } else if (strcmp(argv[i], "-e") == 0) {
      lua_pushstring(L, argv[++i]);
      lua_rawseti(L, -2, ++n);
    }
  }
  lua_setfield(L, -2, "chunks");
  lua_setfield(L, LUA_REGISTRYINDEX, RIOS_REG_SCRIPT);

  lua_createtable(L, 0, 4);
  if (a->compute_workers >= 0) {
    lua_pushinteger(L, a->compute_workers);
    lua_setfield(L, -2, "compute_workers");
  }
  if (a->read_workers >= 0) {
    lua_pushinteger(L, a->read_workers);
    lua_setfield(L, -2, "read_workers");
  }
  if (a->kind) {
    lua_pushstring(L, a->kind);
    lua_setfield(L, -2, "kind");
  }
  lua_pushboolean(L, a->timings);
  lua_setfield(L, -2, "timings");
  lua_setfield(L, LUA_REGISTRYINDEX, RIOS_REG_CLI);
}

/* Remember the script's text and chunk name for compute workers. */
static void stash_source(lua_State *L, const char *buf, size_t len, const char *chunkname) {
  lua_getfield(L, LUA_REGISTRYINDEX, RIOS_REG_SCRIPT);
  lua_pushlstring(L, buf, len);
  lua_setfield(L, -2, "source");
  lua_pushstring(L, chunkname);
  lua_setfield(L, -2, "chunkname");
  lua_pop(L, 1);
}

/* Read a whole stream; NULL when out of memory or on a read error. Owned. */
static char *slurp(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  for (;;) {
    if (n == cap) {
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) {
        free(buf);
        return NULL;
      }
      buf = bigger;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

/* Load a script file ("-" or NULL: standard input) as luaL_loadfile does,
   keeping its text for compute workers. */
static int load_script(lua_State *L, const char *name) {
  int from_stdin = name == NULL || strcmp(name, "-") == 0;
  FILE *f = from_stdin ? stdin : fopen(name, "rb");
  if (!f) {
    lua_pushfstring(L, "cannot open %s", name);
    return LUA_ERRFILE;
  }
  size_t len = 0;
  char *buf = slurp(f, &len);
  if (!from_stdin) fclose(f);
  if (!buf) {
    lua_pushfstring(L, "cannot read %s", from_stdin ? "stdin" : name);
    return LUA_ERRFILE;
  }
  const char *chunkname = from_stdin ? "=stdin" : lua_pushfstring(L, "@%s", name);
  stash_source(L, buf, len, chunkname);
  int status = luaL_loadbuffer(L, buf, len, chunkname);
  free(buf);
  if (!from_stdin) lua_remove(L, -2);  /* the chunk name */
  return status;
}

static int run_chunk(lua_State *L, int status, int nargs) {
  if (status == 0) {
    status = rios_docall(L, nargs, 0);
  } else {
    lua_pop(L, nargs);
  }
  rios_report(L, status);
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
    status = load_script(L, NULL);
  } else {
    FILE *f = fopen(name, "r");
    if (!f) {
      fprintf(stderr, "rios-lua: cannot open script %s\n", name);
      return 1;
    }
    fclose(f);
    status = load_script(L, name);
  }
  int nargs = push_script_args(L, argc, argv, script);
  if (status != 0) lua_insert(L, -(nargs + 1));
  return run_chunk(L, status, nargs);
}

/* Before any script code runs in the main state: the script's output goes
   through rios.console (the progress line steps aside for it), and what it
   reads from stdin is recorded for compute workers' re-runs (rios.replay),
   unless stdin is the script itself. */
static int prepare_console(lua_State *L, int stdin_is_script) {
  static const char code[] =
    "local stdin_is_script = ...\n"
    "require('rios.console').install()\n"
    "if not stdin_is_script then require('rios.replay').record_stdin() end\n";
  int status = luaL_loadbuffer(L, code, sizeof(code) - 1, "=rios.console");
  if (status == 0) {
    lua_pushboolean(L, stdin_is_script);
    status = rios_docall(L, 1, 0);
  }
  rios_report(L, status);
  return status;
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
  rios_args a;
  ctx->status = 1;
  if (collect_args(argc, argv, &a) != 0) return 0;
  if (a.help) {
    fputs(usage_text, stdout);
    ctx->status = 0;
    return 0;
  }
  if (a.version) {
    printf("rios-lua %s (%s)\n", RIOS_VERSION, LUAJIT_VERSION);
    ctx->status = 0;
    return 0;
  }
  set_arg(L, argc, argv, a.script);
  stash_script_info(L, argc, argv, &a);
  if (a.quiet) {  /* rios.progress reads it */
    lua_getfield(L, LUA_REGISTRYINDEX, RIOS_REG_HOST);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "quiet");
    lua_pop(L, 1);
  }
  int stdin_is_script = a.script ? strcmp(argv[a.script], "-") == 0
                                  : (!a.has_e && !a.interactive && !isatty(0));
  if (prepare_console(L, stdin_is_script) != 0) return 0;
  /* Pass 2: run -e chunks in order, then the script. */
  for (int i = 1; i < (a.script ? a.script : argc); i++) {
    if (strcmp(argv[i], "--") == 0) break;
    if (strcmp(argv[i], "-j") == 0 || strcmp(argv[i], "--read-workers") == 0 ||
        strcmp(argv[i], "--kind") == 0) {
      i++;
    } else if (strcmp(argv[i], "-e") == 0) {
      const char *code = argv[++i];
      int status = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
      if (run_chunk(L, status, 0) != 0) return 0;
    }
  }
  if (a.script) {
    if (run_script(L, argc, argv, a.script) != 0) return 0;
    if (a.interactive) rios_repl(L);
  } else if (!a.has_e || a.interactive) {
    if (a.interactive || isatty(0)) {
      rios_repl(L);
    } else {
      int status = load_script(L, NULL);
      if (run_chunk(L, status, 0) != 0) return 0;
    }
  }
  ctx->status = 0;
  return 0;
}

int main(int argc, char **argv) {
  char err[1024];
  if (rios_process_init(argv[0], err, sizeof(err)) != 0) {
    fprintf(stderr, "rios-lua: %s\n", err);
    return 1;
  }
  rios_host_init();
  lua_State *L = rios_state_new(err, sizeof(err));
  if (!L) {
    fprintf(stderr, "rios-lua: %s\n", err);
    return 1;
  }
  pmain_ctx ctx = {argc, argv, 1};
  if (lua_cpcall(L, pmain, &ctx) != 0) {
    rios_report(L, 1);
    ctx.status = 1;
  }
  lua_close(L);
  return ctx.status;
}
