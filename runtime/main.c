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
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
  int check;       /* --check: bounds-checked data */
} rios_args;

/* What an option does with itself or its argument. */
typedef enum {
  OPT_FLAG,    /* sets an int field to 1 */
  OPT_COUNT,   /* a whole number 0..4096 into an int field */
  OPT_STRING,  /* the argument into a const char * field */
  OPT_CHUNK    /* Lua code run before the script (sets an int field to 1) */
} opt_kind;

/* Every option, once: parsing, the checks and -h's text come from here.
   help: lines after the first are indented under it. */
typedef struct rios_option {
  const char *name, *alias;  /* alias: NULL or the long form */
  const char *arg;           /* the argument's name in -h, NULL for none */
  opt_kind kind;
  size_t field;              /* offset in rios_args */
  const char *help;
} rios_option;

static const rios_option options[] = {
  {"-e", NULL, "CODE", OPT_CHUNK, offsetof(rios_args, has_e),
   "run CODE first (may be given more than once)"},
  {"-i", NULL, NULL, OPT_FLAG, offsetof(rios_args, interactive),
   "start the interactive prompt after the script"},
  {"-q", NULL, NULL, OPT_FLAG, offsetof(rios_args, quiet),
   "quiet: no progress line while rios.apply runs"},
  {"-j", NULL, "N", OPT_COUNT, offsetof(rios_args, compute_workers),
   "compute blocks in N workers (threads unless --kind says\n"
   "otherwise), fed by one read worker unless --read-workers\n"
   "says otherwise"},
  {"--read-workers", NULL, "N", OPT_COUNT, offsetof(rios_args, read_workers),
   "read blocks ahead in N threads"},
  {"--kind", NULL, "K", OPT_STRING, offsetof(rios_args, kind),
   "compute worker kind: none, threads, subproc (rios-luaworker\n"
   "processes on this machine), or slurm, pbs (-j N: N batch\n"
   "jobs, each a rios-luaworker on a node; see man rios-lua)"},
  {"--timings", NULL, NULL, OPT_FLAG, offsetof(rios_args, timings),
   "print the timing report after each rios.apply"},
  {"--check", NULL, NULL, OPT_FLAG, offsetof(rios_args, check),
   "check every index into an array's data: an index outside\n"
   "the array is an error naming the script's line, the index\n"
   "and the size (slower: for finding a bug, not for production)"},
  {"-v", "--version", NULL, OPT_FLAG, offsetof(rios_args, version),
   "print the version and exit"},
  {"-h", "--help", NULL, OPT_FLAG, offsetof(rios_args, help),
   "print this help and exit"},
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static const char usage_head[] =
  "usage: rios-lua [options] [script.lua [args...]]\n"
  "Run a Lua script that processes rasters block by block with rios.apply,\n"
  "or explore rasters at an interactive prompt.\n"
  "\n"
  "options:\n";

static const char usage_tail[] =
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

/* Column where -h's option descriptions start. */
#define HELP_COLUMN 17

static void print_usage(FILE *f) {
  fputs(usage_head, f);
  for (size_t k = 0; k < NOPTIONS; k++) {
    const rios_option *o = &options[k];
    char left[64];
    snprintf(left, sizeof(left), "  %s%s%s%s%s", o->name, o->alias ? ", " : "",
             o->alias ? o->alias : "", o->arg ? " " : "", o->arg ? o->arg : "");
    int width = (int)strlen(left);
    fprintf(f, "%s%*s", left, width < HELP_COLUMN - 1 ? HELP_COLUMN - width : 2, "");
    for (const char *h = o->help; *h; h++) {
      fputc(*h, f);
      if (*h == '\n') fprintf(f, "%*s", HELP_COLUMN, "");
    }
    fputc('\n', f);
  }
  fputs(usage_tail, f);
}

static const rios_option *find_option(const char *s) {
  for (size_t k = 0; k < NOPTIONS; k++) {
    if (strcmp(s, options[k].name) == 0 || (options[k].alias && strcmp(s, options[k].alias) == 0))
      return &options[k];
  }
  return NULL;
}

/* Walk the options before the script, in order, handing each with its
   argument (NULL for none) to visit, which returns 0 or -1 to stop. *script
   becomes the index of the script in argv, or 0. Returns 0 or -1 (an unknown
   option or a missing argument, message printed, or visit's -1). */
typedef int (*option_visitor)(const rios_option *o, const char *value, void *ud);

static int walk_options(int argc, char **argv, option_visitor visit, void *ud, int *script) {
  int i;
  for (i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (s[0] != '-') break;
    if (strcmp(s, "--") == 0) { i++; break; }
    if (strcmp(s, "-") == 0) break;
    const rios_option *o = find_option(s);
    if (!o) {
      fprintf(stderr, "rios-lua: unknown option '%s' (see rios-lua --help)\n", s);
      return -1;
    }
    const char *value = NULL;
    if (o->arg) {
      if (i + 1 >= argc) {
        fprintf(stderr, "rios-lua: '%s' needs an argument\n", s);
        return -1;
      }
      value = argv[++i];
    }
    if (visit(o, value, ud) != 0) return -1;
  }
  *script = i < argc ? i : 0;
  return 0;
}

/* Pass 1: check each option and set its field. */
static int set_option(const rios_option *o, const char *value, void *ud) {
  char *field = (char *)ud + o->field;
  switch (o->kind) {
    case OPT_FLAG:
    case OPT_CHUNK:
      *(int *)field = 1;
      return 0;
    case OPT_STRING:
      *(const char **)field = value;
      return 0;
    case OPT_COUNT: {
      char *end;
      long n = strtol(value, &end, 10);
      if (*value == '\0' || *end != '\0' || n < 0 || n > 4096) {
        fprintf(stderr, "rios-lua: '%s' needs a whole number from 0 to 4096, got '%s'\n",
                o->name, value);
        return -1;
      }
      *(int *)field = (int)n;
      return 0;
    }
  }
  return 0;
}

static int collect_args(int argc, char **argv, rios_args *a) {
  memset(a, 0, sizeof(*a));
  a->compute_workers = a->read_workers = -1;
  return walk_options(argc, argv, set_option, a, &a->script);
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

/* Append an -e chunk to the table on top of the stack. */
static int add_chunk(const rios_option *o, const char *value, void *ud) {
  lua_State *L = ud;
  if (o->kind != OPT_CHUNK) return 0;
  lua_pushstring(L, value);
  lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
  return 0;
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
  int script;
  walk_options(argc, argv, add_chunk, L, &script);
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
    lua_pushfstring(L, "rios-lua: cannot open script %s: %s", name, strerror(errno));
    return LUA_ERRFILE;
  }
  size_t len = 0;
  errno = 0;
  char *buf = slurp(f, &len);
  if (!from_stdin) fclose(f);
  if (!buf) {
    lua_pushfstring(L, "rios-lua: cannot read script %s: %s", from_stdin ? "stdin" : name,
                    errno ? strerror(errno) : "read failed");
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
      fprintf(stderr, "rios-lua: cannot open script %s: %s\n", name, strerror(errno));
      return 1;
    }
    fclose(f);
    status = load_script(L, name);
  }
  /* A script that does not load leaves its message on the stack: report
     that, with no arguments pushed over it. */
  if (status != 0) return run_chunk(L, status, 0);
  return run_chunk(L, status, push_script_args(L, argc, argv, script));
}

/* Pass 2: run an -e chunk; -1 stops at the first that fails. */
static int run_option_chunk(const rios_option *o, const char *value, void *ud) {
  lua_State *L = ud;
  if (o->kind != OPT_CHUNK) return 0;
  int status = luaL_loadbuffer(L, value, strlen(value), "=(command line)");
  return run_chunk(L, status, 0) != 0 ? -1 : 0;
}

/* Before any script code runs in the main state: the script's output goes
   through rios.console (the progress line steps aside for it), and what it
   reads from stdin is recorded for compute workers' re-runs (rios.replay),
   unless stdin is the script itself. */
static int prepare_console(lua_State *L, int stdin_is_script) {
  static const char code[] =
    "local stdin_is_script = ...\n"
    "require('rios.console').install()\n"
    "require('rios.concurrency').check_command_line()\n"
    "if not stdin_is_script then require('rios.replay').record_stdin() end\n";
  int status = luaL_loadbuffer(L, code, sizeof(code) - 1, "=rios.console");
  if (status == 0) {
    lua_pushboolean(L, stdin_is_script);
    status = rios_docall(L, 1, 0);
  }
  rios_report(L, status);
  return status;
}

static int pmain(lua_State *L) {
  rios_main_ctx *ctx = lua_touserdata(L, 1);
  int argc = ctx->argc;
  char **argv = ctx->argv;
  rios_args a;
  ctx->status = 1;
  if (collect_args(argc, argv, &a) != 0) return 0;
  if (a.help) {
    print_usage(stdout);
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
  if (a.check) {  /* rios.array reads it */
    lua_getfield(L, LUA_REGISTRYINDEX, RIOS_REG_HOST);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "check");
    lua_pop(L, 1);
  }
  int stdin_is_script = a.script ? strcmp(argv[a.script], "-") == 0
                                  : (!a.has_e && !a.interactive && !isatty(0));
  if (prepare_console(L, stdin_is_script) != 0) return 0;
  /* Pass 2: run -e chunks in order, then the script. */
  int script;
  if (walk_options(argc, argv, run_option_chunk, L, &script) != 0) return 0;
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
  return rios_host_main("rios-lua", argc, argv, pmain);
}
