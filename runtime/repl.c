/*
 * repl.c: the interactive prompt, after LuaJIT's own (src/luajit.c) with GNU
 * readline for line editing, history and completion.
 *
 * A chunk is first tried as `return <chunk>`, so an expression typed alone
 * prints its value; a chunk whose syntax error ends at '<eof>' is incomplete
 * and continues on the next line. Values are printed, and completions found,
 * by lua/rios/repl.lua.
 *
 * Ctrl-C. At the prompt SIGINT is blocked except inside pselect, so it always
 * interrupts the wait for a key; the line is dropped and a new prompt shown.
 * While a chunk runs, the handler arms a count hook on the state (as
 * luajit.c does) and raises the flag rios.apply checks after every block
 * (rios_ffi_interrupt_pending, terminal.c).
 * A count hook never fires inside a trace LuaJIT has compiled, so the chunk
 * typed at the prompt is kept out of the JIT (functions it defines are still
 * compiled): a loop typed at the prompt stops at once. A compiled function
 * that never returns cannot be stopped this way; a second Ctrl-C while the
 * first is still pending ends rios-lua with status 130.
 */
#include "repl.h"
#include "host.h"
#include "registry.h"
#include "process.h"
#include "rios_internal.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#define REPL_HISTORY_FILE ".rios_lua_history"
#define REPL_HISTORY_MAX 1000
#define REPL_PROMPT "> "
#define REPL_PROMPT2 ">> "

/* Everything one REPL session holds. */
typedef struct repl_session {
  lua_State *L;
  int tty;                  /* stdin is a terminal: readline, else plain reads */
  char history_path[4096];  /* "" when there is no HOME */
  struct sigaction old_int;
  sigset_t old_mask;
} repl_session;

/* ---- Ctrl-C -------------------------------------------------------------- */

static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  rios_process.interrupted = 0;
  /* A C hook adds no frame: luaL_where(L, 0) is the running Lua line. */
  luaL_where(L, 0);
  lua_pushfstring(L, "%sinterrupted!", lua_tostring(L, -1));
  lua_error(L);
}

static void on_sigint(int sig) {
  (void)sig;
  if (rios_process.repl.computing) {
    if (rios_process.interrupted) {
      static const char msg[] =
        "\nrios-lua: interrupted twice (compiled code does not see the first); quitting\n";
      ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
      (void)n;
      rios_tempfiles_remove_all();  /* a run's temporary folder and unfinished outputs */
      _exit(130);
    }
    rios_process.interrupted = 1;
    rios_process.repl.sigints++;
    lua_sethook(rios_process.repl.L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  } else {
    rios_process.interrupted = 1;
  }
}

/* ---- reading lines --------------------------------------------------------- */

static void on_line(char *line) {
  rios_process.repl.line = line;
  rios_process.repl.line_ready = 1;
  rl_callback_handler_remove();
}

/* One line, owned by the caller (free it). Returns 1 with *out set, 0 at the
   end of input, 2 when Ctrl-C dropped the line. */
static int read_line_tty(const char *prompt, char **out) {
  sigset_t wait_mask;
  sigprocmask(SIG_SETMASK, NULL, &wait_mask);
  sigdelset(&wait_mask, SIGINT);
  rios_process.repl.line = NULL;
  rios_process.repl.line_ready = 0;
  rios_process.interrupted = 0;
  rl_callback_handler_install(prompt, on_line);
  int fd = fileno(rl_instream);
  while (!rios_process.repl.line_ready) {
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(fd, &fds);
    int n = pselect(fd + 1, &fds, NULL, NULL, NULL, &wait_mask);
    if (n > 0) {
      rl_callback_read_char();
    } else if (n < 0 && errno == EINTR) {
      if (rios_process.interrupted) {
        /* Leave the dropped text on screen, marked, and start afresh. */
        rios_process.interrupted = 0;
        rl_point = rl_end;
        rl_redisplay();
        fputs("^C", rl_outstream);
        fflush(rl_outstream);
        rl_free_line_state();
        rl_callback_sigcleanup();
        rl_cleanup_after_signal();
        rl_callback_handler_remove();
        fputs("\n", rl_outstream);
        fflush(rl_outstream);
        return 2;
      }
    } else if (n < 0) {
      rl_callback_handler_remove();
      return 0;
    }
  }
  *out = rios_process.repl.line;
  rios_process.repl.line = NULL;
  return *out ? 1 : 0;
}

static int read_line_plain(const char *prompt, char **out) {
  fputs(prompt, stdout);
  fflush(stdout);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  if (n < 0) {
    free(line);
    return 0;
  }
  if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
  *out = line;
  return 1;
}

static void remember(repl_session *s, const char *line) {
  if (!s->tty || !*line) return;
  HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
  if (last && strcmp(last->line, line) == 0) return;
  add_history(line);
  if (s->history_path[0] && append_history(1, s->history_path) != 0) {
    write_history(s->history_path);  /* the file did not exist yet */
  }
}

/* ---- completion ------------------------------------------------------------ */

#define REPL_WORD_BREAKS " \t\n\"'`><=;+-*/%^~#&|,(){}[]"

/* Inside a string only the quotes break words, so a whole path completes. */
static char *word_breaks(void) {
  static const char in_string[] = "\"'";
  char quote = 0;
  for (int i = 0; i < rl_point && rl_line_buffer[i]; i++) {
    char c = rl_line_buffer[i];
    if (quote && c == '\\' && i + 1 < rl_point) {
      i++;
    } else if (quote && c == quote) {
      quote = 0;
    } else if (!quote && (c == '"' || c == '\'')) {
      quote = c;
    }
  }
  return quote ? (char *)in_string : NULL;  /* readline only reads it */
}

/* Candidates from rios.repl.complete(text), in readline's form: [0] is what
   replaces text (the longest common prefix), then the matches, then NULL.
   Inside a string, file names instead (rios.open("demo/n<Tab>). */
static char **complete(const char *text, int start, int end) {
  (void)start;
  (void)end;
  rl_attempted_completion_over = 1;  /* no file names outside strings */
  if (rl_completion_quote_character) {
    return rl_completion_matches(text, rl_filename_completion_function);
  }
  rl_completion_append_character = '\0';
  lua_State *L = rios_process.repl.L;
  int top = lua_gettop(L);
  char **matches = NULL;
  lua_getfield(L, LUA_REGISTRYINDEX, RIOS_REG_REPL);
  lua_getfield(L, -1, "complete");
  lua_pushstring(L, text);
  if (lua_pcall(L, 1, 1, 0) != 0 || !lua_istable(L, -1)) {
    lua_settop(L, top);
    return NULL;
  }
  int n = (int)lua_objlen(L, -1);
  if (n > 0) matches = calloc((size_t)n + 2, sizeof(char *));
  if (matches) {
    size_t common = 0;
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      const char *m = lua_tostring(L, -1);
      matches[i] = strdup(m ? m : "");
      lua_pop(L, 1);
      if (!matches[i]) break;
      if (i == 1) {
        common = strlen(matches[1]);
      } else {
        size_t k = 0;
        while (k < common && matches[i][k] == matches[1][k]) k++;
        common = k;
      }
    }
    int ok = 1;
    for (int i = 1; i <= n; i++) ok = ok && matches[i];
    if (ok) matches[0] = strndup(matches[1], common);
    if (!ok || !matches[0]) {
      for (int i = 0; i <= n; i++) free(matches[i]);
      free(matches);
      matches = NULL;
    } else if (n == 1) {
      free(matches[1]);
      matches[1] = NULL;
    }
  }
  lua_settop(L, top);
  return matches;
}

/* ---- evaluating ------------------------------------------------------------ */

/* Load the chunk in buf: first as `return buf`, then as statements. An input
   that starts with '=' is `return` the rest (as lua and luajit). */
static int load_chunk(lua_State *L, const char *buf) {
  if (buf[0] == '=') buf++;
  lua_pushfstring(L, "return %s", buf);
  size_t n;
  const char *ret = lua_tolstring(L, -1, &n);
  int status = luaL_loadbuffer(L, ret, n, "=stdin");
  lua_remove(L, -2);
  if (status == 0) return 0;
  lua_pop(L, 1);
  return luaL_loadbuffer(L, buf, strlen(buf), "=stdin");
}

/* A syntax error at the end of the input: the chunk goes on. */
static int is_incomplete(lua_State *L, int status) {
  if (status != LUA_ERRSYNTAX) return 0;
  size_t n;
  const char *msg = lua_tolstring(L, -1, &n);
  static const char mark[] = "'<eof>'";
  size_t m = sizeof(mark) - 1;
  if (msg && n >= m && strcmp(msg + n - m, mark) == 0) {
    lua_pop(L, 1);
    return 1;
  }
  return 0;
}

/* Keep the chunk on the stack top out of the JIT (see the note at the top). */
static void jit_off(lua_State *L) {
  lua_getglobal(L, "jit");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "off");
    lua_pushvalue(L, -3);
    if (lua_pcall(L, 1, 0, 0) != 0) lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Run the chunk on the stack top with Ctrl-C armed; print what it returns. */
static void run_chunk(repl_session *s) {
  lua_State *L = s->L;
  int base = lua_gettop(L);
  jit_off(L);
  rios_process.interrupted = 0;
  sig_atomic_t sigints = rios_process.repl.sigints;
  rios_process.repl.computing = 1;
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, SIGINT);
  sigprocmask(SIG_UNBLOCK, &unblock, NULL);
  int status = rios_docall(L, 0, LUA_MULTRET);
  sigprocmask(SIG_BLOCK, &unblock, NULL);
  rios_process.repl.computing = 0;
  rios_process.interrupted = 0;
  lua_sethook(L, NULL, 0, 0);
  fflush(stdout);
  if (status != 0) {
    if (rios_process.repl.sigints != sigints) fputs("\n", stderr);  /* after the echoed ^C */
    rios_report(L, status);
    return;
  }
  int nres = lua_gettop(L) - (base - 1);
  if (nres > 0) {
    lua_getfield(L, LUA_REGISTRYINDEX, RIOS_REG_REPL);
    lua_getfield(L, -1, "show");
    lua_remove(L, -2);
    lua_insert(L, base);
    rios_report(L, rios_docall(L, nres, 0));
  }
  fflush(stdout);
}

/* ---- the session ----------------------------------------------------------- */

/* rios as a global, and the Lua half of the REPL in the registry. */
static int load_modules(lua_State *L) {
  static const char code[] =
    "rios = require('rios')\n"
    "return require('rios.repl')\n";
  int status = luaL_loadbuffer(L, code, sizeof(code) - 1, "=(repl)");
  if (status == 0) status = rios_docall(L, 0, 1);
  if (status != 0) {
    rios_report(L, status);
    return -1;
  }
  lua_setfield(L, LUA_REGISTRYINDEX, RIOS_REG_REPL);
  return 0;
}

static void session_begin(repl_session *s) {
  rios_process.repl.L = s->L;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &s->old_int);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &s->old_mask);
  if (!s->tty) return;
  rl_readline_name = "rios-lua";
  rl_catch_signals = 0;
  rl_catch_sigwinch = 1;
  rl_completer_word_break_characters = REPL_WORD_BREAKS;
  rl_completion_word_break_hook = word_breaks;
  rl_attempted_completion_function = complete;
  rl_completer_quote_characters = "\"'";
  using_history();
  const char *home = getenv("HOME");
  if (home && *home) {
    int n = snprintf(s->history_path, sizeof(s->history_path), "%s/%s", home,
                     REPL_HISTORY_FILE);
    if (n < 0 || (size_t)n >= sizeof(s->history_path)) s->history_path[0] = '\0';
  }
  if (s->history_path[0]) read_history(s->history_path);
}

static void session_end(repl_session *s) {
  if (s->tty && s->history_path[0]) history_truncate_file(s->history_path, REPL_HISTORY_MAX);
  if (s->tty) clear_history();
  sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
  sigaction(SIGINT, &s->old_int, NULL);
  rios_process.repl.L = NULL;
}

int rios_repl(lua_State *L) {
  repl_session s;
  memset(&s, 0, sizeof(s));
  s.L = L;
  s.tty = isatty(STDIN_FILENO);
  if (load_modules(L) != 0) return 0;
  if (s.tty) {
    printf("rios-lua %s (%s)\nrios is loaded; Tab completes, Ctrl-C interrupts, "
           "Ctrl-D leaves.\n", RIOS_VERSION, LUAJIT_VERSION);
    fflush(stdout);
  }
  int top0 = lua_gettop(L);
  session_begin(&s);
  char *chunk = NULL;  /* the lines of an incomplete chunk so far */
  for (;;) {
    char *line = NULL;
    const char *prompt = chunk ? REPL_PROMPT2 : REPL_PROMPT;
    int got = s.tty ? read_line_tty(prompt, &line) : read_line_plain(prompt, &line);
    if (got == 0) break;
    if (got == 2) {  /* Ctrl-C: drop the chunk too */
      free(chunk);
      chunk = NULL;
      continue;
    }
    remember(&s, line);
    if (chunk) {
      size_t a = strlen(chunk), b = strlen(line);
      char *joined = realloc(chunk, a + b + 2);
      if (!joined) {
        fprintf(stderr, "rios-lua: out of memory\n");
        free(line);
        break;
      }
      joined[a] = '\n';
      memcpy(joined + a + 1, line, b + 1);
      chunk = joined;
      free(line);
    } else {
      chunk = line;
    }
    int status = load_chunk(L, chunk);
    if (is_incomplete(L, status)) continue;
    free(chunk);
    chunk = NULL;
    if (status != 0) {
      rios_report(L, status);
      continue;
    }
    run_chunk(&s);
    lua_settop(L, top0);
  }
  free(chunk);
  fputs("\n", stdout);
  fflush(stdout);
  session_end(&s);
  return 0;
}
