/*
 * process.h: the one place that holds process-wide state.
 *
 * rios_process is filled once in main() before any Lua state or thread exists
 * and is read-only afterwards, except for the signal flag, which only a
 * signal handler sets (sig_atomic_t), the table of temporary files and the
 * deferred signal, which runtime/tempfiles.c fills (the table under its
 * lock) and its signal handler reads, the table of guards after pixel
 * memory, which runtime/guard.c fills under its lock and its SIGSEGV
 * handler reads, and the REPL's slot (see repl).
 */
#ifndef RIOS_PROCESS_H
#define RIOS_PROCESS_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#define RIOS_VERSION "0.1.0"

/* Private folders that a SIGINT/SIGTERM/SIGHUP handler, os.exit and the
   fault handler must empty and remove (runtime/tempfiles.c): a run's
   scratch folder under tempdir, and each output's folder beside its final
   path, where it is written until the run has succeeded. A fixed table, so
   the handler reads it without locks or allocation: a slot is live while
   its state is RIOS_TEMP_READY. */
#define RIOS_TEMP_SLOTS 512
enum { RIOS_TEMP_FREE = 0, RIOS_TEMP_FILLING = 1, RIOS_TEMP_READY = 2 };
enum { RIOS_TEMP_SCRATCH = 0, RIOS_TEMP_OUTPUT = 1 };
typedef struct rios_temp_slot {
  volatile sig_atomic_t state;
  int kind;                 /* RIOS_TEMP_SCRATCH or RIOS_TEMP_OUTPUT */
  char path[PATH_MAX];
} rios_temp_slot;

/* The signals that end a run and remove its private folders. */
#define RIOS_END_SIGNALS 3

/* How many guarded regions may be live at once (two mappings each; the
   kernel's default limit is 65530 mappings). Past that, pixel memory comes
   unguarded from the C heap. */
#define RIOS_GUARD_SLOTS 32768

typedef struct rios_process_state {
  char exe_path[PATH_MAX];  /* absolute path of the running rios-lua */
  char lua_dir[PATH_MAX];   /* folder holding rios.lua and rios/ */
  char root_dir[PATH_MAX];  /* folder holding lua/ and workers/ (lua_dir's parent) */
  volatile sig_atomic_t interrupted;
  rios_temp_slot temps[RIOS_TEMP_SLOTS];  /* folders; see tempfiles.c */
  pthread_mutex_t temp_lock;          /* guards claiming slots, installing handlers */
  int temp_handlers_installed;
  int temp_stderr_tty;                /* stderr was a terminal when they were installed */
  struct sigaction temp_old[RIOS_END_SIGNALS];  /* SIGINT, SIGTERM, SIGHUP's before ours */
  /* While a run has batch jobs to cancel (workers/cluster.lua), or moves its
     finished outputs into place, the handler notes a first SIGINT/SIGTERM/
     SIGHUP in signal_pending instead of acting on it; the run notices it,
     finishes what it must and then acts on it (tempfiles.c). A count: each
     of those holds the deferral once. */
  /* rios-luaworker: when its channel to the main process is lost and the
     Lua side has not closed the channel within lost_after (a block
     function that never returns to look), the I/O thread ends the process
     (workers/channel.c), so no worker outlives its run. */
  int orphan_exit;
  volatile sig_atomic_t signals_deferred;
  /* rios.apply calls under way (tempfiles.c): os.exit meanwhile ends the
     process at once (host.c). */
  volatile sig_atomic_t runs_active;
  /* The run's progress as the writer last said it (rios_ffi_run_progress),
     for the line a signal prints: blocks written of total (0: no run has
     said), and blocks per row of the grid. */
  volatile sig_atomic_t run_written, run_total, run_nx;
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
  /* Guards after pixel memory (runtime/guard.c): where every live guard
     starts, so that the SIGSEGV handler can tell a block function running
     into one from any other fault. Entries change under lock (atomic
     stores; 0: free) and the handler reads entries [0, used) with atomic
     loads. report: where a worker's handler writes its line for the main
     process ("": stderr); set once before any block is computed. */
  struct {
    uintptr_t starts[RIOS_GUARD_SLOTS];
    uint32_t free_list[RIOS_GUARD_SLOTS];
    uint32_t nfree;
    volatile uint32_t used;           /* entries ever used (the handler's scan) */
    pthread_mutex_t lock;
    int installed;                    /* the SIGSEGV handler */
    int stderr_tty;                   /* stderr was a terminal when it was installed */
    int worker;                       /* this is rios-luaworker (its lines' prefix) */
    struct sigaction old_segv;
    char report[PATH_MAX];
  } guard;
} rios_process_state;

extern rios_process_state rios_process;

/* Find exe_path and lua_dir. Returns 0, or -1 with a message in err. */
int rios_process_init(const char *argv0, char *err, size_t errlen);

#endif
