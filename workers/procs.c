/*
 * procs.c: local worker processes (kind "subproc"): started with fork and
 * execve, tied to the main process, polled, killed and reaped.
 *
 * The main process has threads (read workers, the channel's I/O), so
 * between fork and exec the child only makes async-signal-safe calls:
 * everything it needs (argv, the environment, /dev/null) is made before
 * the fork. The child's stdin is /dev/null (the script may be reading the
 * main process's), it keeps stdout and stderr, its signal mask is cleared,
 * and it gets SIGTERM when the thread that started it ends
 * (PR_SET_PDEATHSIG), so no worker outlives a main process that was killed
 * outright.
 */
#include "rios_ffi.h"
#include "rios_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* environ plus `add` (NAME=VALUE strings that replace variables of the same
   name), NULL-terminated; the strings are borrowed. NULL when out of
   memory. */
static char **make_env(const char *const *add) {
  size_t n = 0, nadd = 0;
  while (environ[n]) n++;
  while (add && add[nadd]) nadd++;
  char **env = calloc(n + nadd + 1, sizeof(char *));
  if (!env) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int replaced = 0;
    for (size_t j = 0; j < nadd && !replaced; j++) {
      const char *eq = strchr(add[j], '=');
      size_t len = eq ? (size_t)(eq - add[j]) : strlen(add[j]);
      replaced = strncmp(environ[i], add[j], len) == 0 && environ[i][len] == '=';
    }
    if (!replaced) env[k++] = environ[i];
  }
  for (size_t j = 0; j < nadd; j++) env[k++] = (char *)add[j];
  env[k] = NULL;
  return env;
}

int rios_ffi_proc_spawn(const char *const *argv, const char *const *env_add, int *pid,
                        rios_err *err) {
  *pid = -1;
  if (!argv || !argv[0]) {
    rios_seterr(err, "no program to start");
    return RIOS_FAIL;
  }
  char **env = make_env(env_add);
  if (!env) {
    rios_seterr(err, "out of memory starting %s", argv[0]);
    return RIOS_FAIL;
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) {
    rios_seterr(err, "cannot open /dev/null: %s", strerror(errno));
    free(env);
    return RIOS_FAIL;
  }
  /* A pipe that closes on exec: the child writes errno into it when exec
     fails, so the failure is reported here, not as a worker that never
     connects. */
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    rios_seterr(err, "cannot start %s: %s", argv[0], strerror(errno));
    close(devnull);
    free(env);
    return RIOS_FAIL;
  }
  pid_t parent = getpid();
  pid_t child = fork();
  if (child == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    close(report[0]);
    if (dup2(devnull, 0) < 0) _exit(127);
    execve(argv[0], (char *const *)argv, env);
    int e = errno;
    ssize_t w = write(report[1], &e, sizeof(e));
    (void)w;
    _exit(127);
  }
  int fork_errno = errno;
  close(report[1]);
  close(devnull);
  free(env);
  if (child < 0) {
    close(report[0]);
    rios_seterr(err, "cannot start %s: %s", argv[0], strerror(fork_errno));
    return RIOS_FAIL;
  }
  int e = 0;
  ssize_t got;
  do {
    got = read(report[0], &e, sizeof(e));
  } while (got < 0 && errno == EINTR);
  close(report[0]);
  if (got == (ssize_t)sizeof(e)) {
    waitpid(child, NULL, 0);
    rios_seterr(err, "cannot run %s: %s", argv[0], strerror(e));
    return RIOS_FAIL;
  }
  *pid = (int)child;
  return RIOS_OK;
}

static void decode_status(int status, int *state, int *code) {
  if (WIFEXITED(status)) {
    *state = RIOS_PROC_EXITED;
    *code = WEXITSTATUS(status);
  } else {
    *state = RIOS_PROC_KILLED;
    *code = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }
}

int rios_ffi_proc_poll(int pid, int *state, int *code, rios_err *err) {
  int status;
  pid_t r;
  do {
    r = waitpid(pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    rios_seterr(err, "cannot wait for process %d: %s", pid, strerror(errno));
    return RIOS_FAIL;
  }
  *code = 0;
  if (r == 0) {
    *state = RIOS_PROC_RUNNING;
    return RIOS_OK;
  }
  decode_status(status, state, code);
  return RIOS_OK;
}

int rios_ffi_proc_kill(int pid, int sig, rios_err *err) {
  if (kill(pid, sig) != 0 && errno != ESRCH) {
    rios_seterr(err, "cannot signal process %d: %s", pid, strerror(errno));
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

/* Wait up to timeout seconds for pid to end; then SIGKILL it and wait for
   that. *state and *code say how it ended. */
int rios_ffi_proc_reap(int pid, double timeout, int *state, int *code, rios_err *err) {
  double end = rios_ffi_now() + (timeout > 0 ? timeout : 0);
  for (;;) {
    if (rios_ffi_proc_poll(pid, state, code, err) != 0) return RIOS_FAIL;
    if (*state != RIOS_PROC_RUNNING) return RIOS_OK;
    if (rios_ffi_now() >= end) break;
    rios_ffi_sleep(0.01);
  }
  kill(pid, SIGKILL);
  int status;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    rios_seterr(err, "cannot wait for process %d: %s", pid, strerror(errno));
    return RIOS_FAIL;
  }
  decode_status(status, state, code);
  return RIOS_OK;
}
