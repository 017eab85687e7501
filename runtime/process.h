/*
 * process.h: the one place that holds process-wide state.
 *
 * rios_process is filled once in main() before any Lua state or thread exists
 * and is read-only afterwards, except for the signal flag, which only a
 * signal handler sets (sig_atomic_t), the table of temporary files and the
 * deferred signal, which runtime/tempfiles.c fills (the table under its
 * lock) and its signal handler reads, and the REPL's slot (see repl).
 */
#ifndef RIOS_PROCESS_H
#define RIOS_PROCESS_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>

#define RIOS_VERSION "0.1.0"

/* Private temporary folders that a SIGINT/SIGTERM handler must empty and
   remove (runtime/tempfiles.c). A fixed table, so the handler reads it
   without locks or allocation: a slot is live while its state is
   RIOS_TEMP_READY. */
#define RIOS_TEMP_SLOTS 64
enum { RIOS_TEMP_FREE = 0, RIOS_TEMP_FILLING = 1, RIOS_TEMP_READY = 2 };
typedef struct rios_temp_slot {
  volatile sig_atomic_t state;
  char path[PATH_MAX];
} rios_temp_slot;

typedef struct rios_process_state {
  char exe_path[PATH_MAX];  /* absolute path of the running rios-lua */
  char lua_dir[PATH_MAX];   /* folder holding rios.lua and rios/ */
  char root_dir[PATH_MAX];  /* folder holding lua/ and workers/ (lua_dir's parent) */
  volatile sig_atomic_t interrupted;
  rios_temp_slot temps[RIOS_TEMP_SLOTS];  /* folders; see tempfiles.c */
  pthread_mutex_t temp_lock;          /* guards claiming slots, installing handlers */
  int temp_handlers_installed;
  struct sigaction temp_old_int, temp_old_term;
  /* While a run has batch jobs to cancel (workers/cluster.lua), the handler
     notes a first SIGINT/SIGTERM in signal_pending instead of acting on it;
     the run notices it, cancels its jobs and then acts on it (tempfiles.c). */
  volatile sig_atomic_t signals_deferred;
  volatile sig_atomic_t signal_pending;
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
} rios_process_state;

extern rios_process_state rios_process;

/* Find exe_path and lua_dir. Returns 0, or -1 with a message in err. */
int rios_process_init(const char *argv0, char *err, size_t errlen);

#endif
