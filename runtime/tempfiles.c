/*
 * tempfiles.c: the private temporary folder of a run. Every temporary file
 * rios makes lives in one folder, made with mkdtemp under the tempdir
 * control, and the whole folder goes when the run ends (normally or with an
 * error) or when SIGINT/SIGTERM arrives.
 *
 * The signal handler may only use async-signal-safe calls, so the folders
 * are listed in a fixed table in rios_process (see process.h) and emptied with
 * open/getdents64/unlinkat/rmdir, never opendir or malloc. After cleaning
 * up, the handler hands the signal on: to the handler that was there before
 * ours, or, if that was the default, by re-raising it with the default
 * action so the process ends as the signal says.
 *
 * A run with batch jobs (workers/cluster.lua) must cancel them before the
 * process ends, which takes commands a handler cannot run. While it has
 * jobs it defers the signals: the handler only notes the first one; the
 * run notices it (within a second), fails, cancels its jobs, releases what
 * it holds and then resumes the signal, which does what the handler would
 * have done. A second signal while one is noted acts at once.
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

/* Empty the folder (plain files only: rios makes no sub-folders) and remove
   it. Async-signal-safe. */
static void remove_folder(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
      long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
      if (n <= 0) break;
      int removed = 0;
      for (long off = 0; off < n;) {
        struct rios_dirent64 *d = (struct rios_dirent64 *)(buf + off);
        off += d->d_reclen;
        const char *name = d->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
        if (unlinkat(fd, name, 0) == 0) removed++;
      }
      if (removed == 0) continue;
      /* Entries were removed while listing: start the listing over. */
      if (lseek(fd, 0, SEEK_SET) != 0) break;
    }
    close(fd);
  }
  rmdir(path);
}

/* What a SIGINT/SIGTERM does: remove every temporary folder, then hand
   the signal on. Async-signal-safe. */
static void act_on_signal(int sig) {
  for (int i = 0; i < RIOS_TEMP_SLOTS; i++) {
    if (rios_process.temps[i].state == RIOS_TEMP_READY) {
      remove_folder(rios_process.temps[i].path);
      rios_process.temps[i].state = RIOS_TEMP_FREE;
    }
  }
  struct sigaction *old = sig == SIGINT ? &rios_process.temp_old_int : &rios_process.temp_old_term;
  if (!(old->sa_flags & SA_SIGINFO) && old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
    old->sa_handler(sig);
    return;
  }
  sigaction(sig, old, NULL);
  raise(sig);  /* delivered with the old action once this handler returns */
}

static void on_signal(int sig) {
  if (rios_process.signals_deferred) {
    if (!rios_process.signal_pending) {
      rios_process.signal_pending = sig;
      return;
    }
    static const char msg[] =
      "\nrios-lua: a second signal: ending now, without cancelling the batch jobs of this run\n";
    ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)n;
  }
  act_on_signal(sig);
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
  sigaddset(&sa.sa_mask, SIGINT);
  sigaddset(&sa.sa_mask, SIGTERM);
  sigaction(sig, &sa, NULL);
}

void rios_ffi_signals_defer(int on) {
  pthread_mutex_lock(&rios_process.temp_lock);
  if (on && !rios_process.temp_handlers_installed) {
    install(SIGINT, &rios_process.temp_old_int);
    install(SIGTERM, &rios_process.temp_old_term);
    rios_process.temp_handlers_installed = 1;
  }
  rios_process.signals_deferred = on ? 1 : 0;
  pthread_mutex_unlock(&rios_process.temp_lock);
}

int rios_ffi_signal_pending(void) { return rios_process.signal_pending; }

void rios_ffi_signal_resume(void) {
  int sig = rios_process.signal_pending;
  if (!sig) return;
  rios_process.signals_deferred = 0;
  rios_process.signal_pending = 0;
  /* As in the handler, with the signals blocked so another one cannot
     interleave; a re-raised one is delivered when they are unblocked. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  act_on_signal(sig);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int rios_ffi_tempdir_new(const char *parent, rios_tempdir **out, rios_err *err) {
  rios_tempdir *t = calloc(1, sizeof(*t));
  if (!t) {
    rios_seterr(err, "out of memory");
    return RIOS_FAIL;
  }
  int n = snprintf(t->path, sizeof(t->path), "%s/rios-lua-XXXXXX", parent);
  if (n < 0 || (size_t)n >= sizeof(t->path)) {
    rios_seterr(err, "tempdir '%s' is too long a path", parent);
    free(t);
    return RIOS_FAIL;
  }
  pthread_mutex_lock(&rios_process.temp_lock);
  int slot = -1;
  for (int i = 0; i < RIOS_TEMP_SLOTS; i++) {
    if (rios_process.temps[i].state == RIOS_TEMP_FREE) {
      slot = i;
      rios_process.temps[i].state = RIOS_TEMP_FILLING;
      break;
    }
  }
  if (slot >= 0 && !rios_process.temp_handlers_installed) {
    install(SIGINT, &rios_process.temp_old_int);
    install(SIGTERM, &rios_process.temp_old_term);
    rios_process.temp_handlers_installed = 1;
  }
  pthread_mutex_unlock(&rios_process.temp_lock);
  if (slot < 0) {
    rios_seterr(err, "too many temporary folders at once (%d)", RIOS_TEMP_SLOTS);
    free(t);
    return RIOS_FAIL;
  }
  if (!mkdtemp(t->path)) {
    rios_seterr(err, "cannot make a temporary folder in tempdir '%s': %s", parent,
              strerror(errno));
    rios_process.temps[slot].state = RIOS_TEMP_FREE;
    free(t);
    return RIOS_FAIL;
  }
  memcpy(rios_process.temps[slot].path, t->path, sizeof(t->path));
  /* The path is in place before a signal handler (on any thread) sees READY. */
  __atomic_store_n(&rios_process.temps[slot].state, RIOS_TEMP_READY, __ATOMIC_SEQ_CST);
  t->slot = slot;
  *out = t;
  return RIOS_OK;
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
  remove_folder(t->path);
  if (ours) slot->state = RIOS_TEMP_FREE;
  free(t);
}

/* Remove every live folder: the fault handler's cleanup (runtime/guard.c)
   before it ends the process. Async-signal-safe. */
void rios_tempfiles_remove_all(void) {
  for (int i = 0; i < RIOS_TEMP_SLOTS; i++) {
    if (rios_process.temps[i].state == RIOS_TEMP_READY) {
      remove_folder(rios_process.temps[i].path);
      rios_process.temps[i].state = RIOS_TEMP_FREE;
    }
  }
}
