/*
 * tempfiles.c: the private folders of a run. Every temporary file rios
 * makes lives in one folder, made with mkdtemp under the tempdir control,
 * and every output is written in a folder of its own beside its final path
 * (runtime/outfile.c) until the run has succeeded. The folders go when the
 * run ends (normally or with an error), when SIGINT/SIGTERM/SIGHUP arrives,
 * when the script calls os.exit, and before a crash ends the process.
 *
 * The signal handler may only use async-signal-safe calls, so the folders
 * are listed in a fixed table in rios_process (see process.h) and emptied with
 * open/getdents64/unlinkat, never opendir or malloc. After cleaning up, the
 * handler says so in one line on stderr and hands the signal on: by
 * re-raising it with the default action, so the process ends as the signal
 * says (status 128 + N); when another handler was there before ours (the
 * prompt's Ctrl-C), to that one, which stops the run by an error, and the
 * run then removes its folders itself.
 *
 * Two things must not be cut short by a signal: a run with batch jobs
 * (workers/cluster.lua) must cancel them, which takes commands a handler
 * cannot run, and a run moving its finished outputs into place must move
 * all of them. While either holds, the signals are deferred: the handler
 * only notes the first one; the run notices it, does what it must, releases
 * what it holds and then resumes the signal, which does what the handler
 * would have done. A second signal while one is noted acts at once.
 */
#include "process.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct rios_tempdir {
  int slot;
  unsigned counter;
  char path[PATH_MAX];
};

/* getdents64 entries, as the kernel lays them out. */
struct rios_dirent64 {
  unsigned long long d_ino;
  long long d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* How deep remove_tree goes: rios makes plain files, and a driver that
   writes a folder for a dataset nests it little. */
#define REMOVE_DEPTH 6

/* Empty the folder open as fd, recursively, without following links.
   Async-signal-safe. */
static void empty_folder(int fd, int depth) {
  char buf[2048] __attribute__((aligned(8)));
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
    if (n <= 0) break;
    int removed = 0;
    for (long off = 0; off < n;) {
      struct rios_dirent64 *d = (struct rios_dirent64 *)(buf + off);
      off += d->d_reclen;
      const char *name = d->d_name;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      if (unlinkat(fd, name, 0) == 0) {
        removed++;
      } else if ((errno == EISDIR || errno == EPERM) && depth < REMOVE_DEPTH) {
        int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
          empty_folder(sub, depth + 1);
          close(sub);
        }
        if (unlinkat(fd, name, AT_REMOVEDIR) == 0) removed++;
      }
    }
    if (removed == 0) continue;
    /* Entries were removed while listing: start the listing over. */
    if (lseek(fd, 0, SEEK_SET) != 0) break;
  }
}

/* Empty the folder and remove it. Async-signal-safe. */
void rios_remove_tree(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    empty_folder(fd, 0);
    close(fd);
  }
  rmdir(path);
}

/* Remove every live folder; returns how many were an output's.
   Async-signal-safe. */
static int remove_all(void) {
  int outputs = 0;
  for (int i = 0; i < RIOS_TEMP_SLOTS; i++) {
    if (rios_process.temps[i].state == RIOS_TEMP_READY) {
      rios_remove_tree(rios_process.temps[i].path);
      if (rios_process.temps[i].kind == RIOS_TEMP_OUTPUT) outputs++;
      rios_process.temps[i].state = RIOS_TEMP_FREE;
    }
  }
  return outputs;
}

static const int end_signals[RIOS_END_SIGNALS] = {SIGINT, SIGTERM, SIGHUP};

static struct sigaction *old_action(int sig) {
  for (int i = 0; i < RIOS_END_SIGNALS; i++)
    if (end_signals[i] == sig) return &rios_process.temp_old[i];
  return &rios_process.temp_old[0];
}

/* The handler's line, from pieces (no formatting in a handler). */
static void say(const char *s) {
  ssize_t n = write(STDERR_FILENO, s, strlen(s));
  (void)n;
}

/* A number, in a handler (no formatting there). */
static void say_int(long v) {
  char buf[24];
  int i = (int)sizeof(buf) - 1;
  buf[i] = '\0';
  int neg = v < 0;
  unsigned long u = neg ? (unsigned long)(-(v + 1)) + 1 : (unsigned long)v;
  do {
    buf[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u && i > 1);
  if (neg) buf[--i] = '-';
  say(buf + i);
}

static void say_stopped(int sig, int outputs) {
  if (rios_process.temp_stderr_tty) say("\n");  /* after the echoed ^C or the progress line */
  say(sig == SIGINT ? "rios-lua: stopped by SIGINT (Ctrl-C)"
      : sig == SIGTERM ? "rios-lua: stopped by SIGTERM" : "rios-lua: stopped by SIGHUP");
  long written = rios_process.run_written, total = rios_process.run_total;
  long nx = rios_process.run_nx;
  if (total > 0 && nx > 0 && written < total) {
    say(" at block (row ");
    say_int(written / nx);
    say(", col ");
    say_int(written % nx);
    say("), ");
    say_int(written);
    say(" of ");
    say_int(total);
    say(" blocks written");
  }
  say(outputs ? "; the unfinished run's outputs were not written, existing files are unchanged\n"
              : "\n");
}

void rios_ffi_run_progress(int written, int total, int nx) {
  rios_process.run_written = written;
  rios_process.run_total = total;
  rios_process.run_nx = nx;
}

/* What a SIGINT/SIGTERM/SIGHUP does: when a handler of someone else's was
   there before ours, hand it the signal (it stops the run, which cleans up);
   else remove every private folder, say so, and end by the signal.
   quiet: the line was already said. Async-signal-safe. */
static void act_on_signal(int sig, int quiet) {
  struct sigaction *old = old_action(sig);
  if (old->sa_flags & SA_SIGINFO) {
    remove_all();
    sigaction(sig, old, NULL);
    raise(sig);
    return;
  }
  if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
    old->sa_handler(sig);
    return;
  }
  int outputs = remove_all();
  if (!quiet) say_stopped(sig, outputs);
  sigaction(sig, old, NULL);
  raise(sig);  /* delivered with the old action once this handler returns */
}

static void on_signal(int sig) {
  if (rios_process.signals_deferred > 0) {
    if (!rios_process.signal_pending) {
      rios_process.signal_pending = sig;
      return;
    }
    say("\nrios-lua: a second signal: ending now, without cancelling the batch jobs of this "
        "run or finishing the outputs being moved into place\n");
  }
  act_on_signal(sig, 0);
}

/* os.exit from the script (or any exit() while folders are live): the
   folders go, as on a signal. */
static void at_exit(void) { remove_all(); }

void rios_ffi_exit_now(int code) {
  remove_all();
  fflush(NULL);
  _exit(code & 0xff);
}

/* Install the handler for one signal, unless the signal is ignored (a run
   started with nohup keeps ignoring it). */
static void install(int sig, struct sigaction *old) {
  if (sigaction(sig, NULL, old) != 0 || old->sa_handler == SIG_IGN) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  /* A deferred signal returns from the handler: the system call it broke
     into (a read of sbatch's answer) goes on. */
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < RIOS_END_SIGNALS; i++) sigaddset(&sa.sa_mask, end_signals[i]);
  sigaction(sig, &sa, NULL);
}

/* Once per process, under temp_lock. */
static void install_handlers(void) {
  if (rios_process.temp_handlers_installed) return;
  rios_process.temp_stderr_tty = isatty(STDERR_FILENO);
  for (int i = 0; i < RIOS_END_SIGNALS; i++) install(end_signals[i], &rios_process.temp_old[i]);
  atexit(at_exit);
  rios_process.temp_handlers_installed = 1;
}

void rios_ffi_run_begin(void) {
  pthread_mutex_lock(&rios_process.temp_lock);
  install_handlers();
  rios_process.runs_active++;
  pthread_mutex_unlock(&rios_process.temp_lock);
}

void rios_ffi_run_end(void) {
  pthread_mutex_lock(&rios_process.temp_lock);
  if (rios_process.runs_active > 0) rios_process.runs_active--;
  pthread_mutex_unlock(&rios_process.temp_lock);
}

int rios_tempfiles_busy(void) {
  if (rios_process.runs_active > 0) return 1;
  for (int i = 0; i < RIOS_TEMP_SLOTS; i++)
    if (rios_process.temps[i].state == RIOS_TEMP_READY) return 1;
  return 0;
}

void rios_ffi_signals_defer(int on) {
  pthread_mutex_lock(&rios_process.temp_lock);
  install_handlers();
  if (on) rios_process.signals_deferred++;
  else if (rios_process.signals_deferred > 0) rios_process.signals_deferred--;
  pthread_mutex_unlock(&rios_process.temp_lock);
}

int rios_ffi_signal_pending(void) { return rios_process.signal_pending; }

void rios_ffi_signal_resume(int said) {
  int sig = rios_process.signal_pending;
  if (!sig) return;
  rios_process.signals_deferred = 0;
  rios_process.signal_pending = 0;
  /* As in the handler, with the signals blocked so another one cannot
     interleave; a re-raised one is delivered when they are unblocked. */
  sigset_t block, old;
  sigemptyset(&block);
  for (int i = 0; i < RIOS_END_SIGNALS; i++) sigaddset(&block, end_signals[i]);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  act_on_signal(sig, said);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A new folder from a mkdtemp template, listed in the table as kind; what:
   the folder, for the message ("a temporary folder in tempdir 'tmp'"). */
int rios_tempdir_make(const char *template_path, int kind, const char *what,
                      rios_tempdir **out, rios_err *err) {
  rios_tempdir *t = calloc(1, sizeof(*t));
  if (!t) {
    rios_seterr(err, "out of memory");
    return RIOS_FAIL;
  }
  size_t n = strlen(template_path);
  if (n >= sizeof(t->path)) {
    rios_seterr(err, "'%s' is too long a path", template_path);
    free(t);
    return RIOS_FAIL;
  }
  memcpy(t->path, template_path, n + 1);
  pthread_mutex_lock(&rios_process.temp_lock);
  int slot = -1;
  for (int i = 0; i < RIOS_TEMP_SLOTS; i++) {
    if (rios_process.temps[i].state == RIOS_TEMP_FREE) {
      slot = i;
      rios_process.temps[i].state = RIOS_TEMP_FILLING;
      break;
    }
  }
  if (slot >= 0) install_handlers();
  pthread_mutex_unlock(&rios_process.temp_lock);
  if (slot < 0) {
    rios_seterr(err, "too many temporary folders at once (%d)", RIOS_TEMP_SLOTS);
    free(t);
    return RIOS_FAIL;
  }
  if (!mkdtemp(t->path)) {
    rios_seterr(err, "cannot make %s: %s", what, strerror(errno));
    rios_process.temps[slot].state = RIOS_TEMP_FREE;
    free(t);
    return RIOS_FAIL;
  }
  memcpy(rios_process.temps[slot].path, t->path, sizeof(t->path));
  rios_process.temps[slot].kind = kind;
  /* The path is in place before a signal handler (on any thread) sees READY. */
  __atomic_store_n(&rios_process.temps[slot].state, RIOS_TEMP_READY, __ATOMIC_SEQ_CST);
  t->slot = slot;
  *out = t;
  return RIOS_OK;
}

int rios_ffi_tempdir_new(const char *parent, rios_tempdir **out, rios_err *err) {
  char template_path[PATH_MAX];
  int n = snprintf(template_path, sizeof(template_path), "%s/rios-lua-XXXXXX", parent);
  if (n < 0 || (size_t)n >= sizeof(template_path)) {
    rios_seterr(err, "tempdir '%s' is too long a path", parent);
    return RIOS_FAIL;
  }
  char what[PATH_MAX + 64];
  snprintf(what, sizeof(what), "a temporary folder in tempdir '%s'", parent);
  return rios_tempdir_make(template_path, RIOS_TEMP_SCRATCH, what, out, err);
}

const char *rios_ffi_tempdir_path(const rios_tempdir *t) { return t->path; }

int rios_ffi_tempdir_name(rios_tempdir *t, const char *stem, const char *suffix, char *out,
                        size_t outlen, rios_err *err) {
  int n = snprintf(out, outlen, "%s/%s-%u%s", t->path, stem, t->counter++, suffix);
  if (n < 0 || (size_t)n >= outlen) {
    rios_seterr(err, "temporary file name too long in %s", t->path);
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

void rios_ffi_tempdir_remove(rios_tempdir *t) {
  if (!t) return;
  /* Take the folder out of the table first, so a signal now does not race
     with the removal below (both would be harmless, but once is enough). */
  rios_temp_slot *slot = &rios_process.temps[t->slot];
  /* A signal handler that was chained to (see on_signal) may already have
     removed the folder and freed the slot, and another run may hold it now. */
  pthread_mutex_lock(&rios_process.temp_lock);
  int ours = slot->state == RIOS_TEMP_READY && strcmp(slot->path, t->path) == 0;
  if (ours) slot->state = RIOS_TEMP_FILLING;
  pthread_mutex_unlock(&rios_process.temp_lock);
  rios_remove_tree(t->path);
  if (ours) slot->state = RIOS_TEMP_FREE;
  free(t);
}

/* Remove every live folder: the fault handler's cleanup (runtime/guard.c)
   before it ends the process. Async-signal-safe. */
void rios_tempfiles_remove_all(void) { remove_all(); }
