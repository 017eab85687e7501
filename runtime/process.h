/*
 * process.h: the one place that holds process-wide state.
 *
 * rl_process is filled once in main() before any Lua state or thread exists
 * and is read-only afterwards, except for the signal flag, which only a
 * signal handler sets (sig_atomic_t), and the table of temporary files,
 * which runtime/tempfiles.c fills under its lock and its signal handler
 * reads, and the REPL's slot (see repl).
 */
#ifndef RL_PROCESS_H
#define RL_PROCESS_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>

#define RL_VERSION "0.1.0"

/* Private temporary folders that a SIGINT/SIGTERM handler must empty and
   remove (runtime/tempfiles.c). A fixed table, so the handler reads it
   without locks or allocation: a slot is live while its state is
   RL_TEMP_READY. */
#define RL_TEMP_SLOTS 64
enum { RL_TEMP_FREE = 0, RL_TEMP_FILLING = 1, RL_TEMP_READY = 2 };
typedef struct rl_temp_slot {
  volatile sig_atomic_t state;
  char path[PATH_MAX];
} rl_temp_slot;

typedef struct rl_process_state {
  char exe_path[PATH_MAX];  /* absolute path of the running rios-lua */
  char lua_dir[PATH_MAX];   /* folder holding rios.lua and rios/ */
  volatile sig_atomic_t interrupted;
  rl_temp_slot temps[RL_TEMP_SLOTS];  /* folders; see tempfiles.c */
  pthread_mutex_t temp_lock;          /* guards claiming slots, installing handlers */
  int temp_handlers_installed;
  struct sigaction temp_old_int, temp_old_term;
  /* The interactive prompt (runtime/repl.c), main thread only. readline's
     callback API carries no user data, so the line it hands back and the
     state that Ctrl-C stops live here. computing: a chunk is running (the
     SIGINT handler then arms a hook on L instead of abandoning the line). */
  struct {
    struct lua_State *L;
    char *line;
    int line_ready;
    volatile sig_atomic_t computing;
    volatile sig_atomic_t sigints;  /* Ctrl-Cs seen while computing */
  } repl;
} rl_process_state;

extern rl_process_state rl_process;

/* Find exe_path and lua_dir. Returns 0, or -1 with a message in err. */
int rl_process_init(const char *argv0, char *err, size_t errlen);

#endif
