/*
 * guard.c: pixel memory with a guard after it, and the SIGSEGV handler that
 * turns a block function running into a guard into one line naming the
 * block.
 *
 * Every array's memory (input buffers, block arenas, arrays made outside a
 * block: util.c, pipeline.c) is a region of its own: whole pages mapped
 * readable and writable, followed by RIOS_GUARD_BYTES mapped PROT_NONE. The
 * array is placed at the end of its region, so the element after its last
 * one is the guard's first byte and even a one-element overrun faults. The
 * start of every live guard is listed in a fixed table in rios_process
 * (process.h), which the handler reads without locks or allocation.
 *
 * Each thread that computes blocks says which block its block function is
 * running (rios_ffi_fault_block, from the block loop), as a label made
 * before the function runs. A SIGSEGV on a guard while a label is set is
 * reported as
 *
 *   rios-lua: the block function read or wrote past the end of an array in
 *   block (row 3, col 1) [x=.. y=.. WxH] (an index past rows * cols * bands
 *   in a loop over data?); run with --check to find the line
 *
 * and the process removes its temporary folders and exits 1. A worker
 * process (rios-luaworker) writes the line to the file its main process
 * reads when it loses the worker (rios_ffi_fault_report), so the user gets
 * it once, from the main process. Any other fault stays a crash: the
 * temporary folders are removed and the fault goes to the action that was
 * there before ours (the default: the process dies of SIGSEGV). Only
 * async-signal-safe calls are made in the handler.
 */
#include "process.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The block this thread's block function is computing: its label is made
   when the block is handed to the function, so the handler only copies
   bytes. active is set last and cleared first. */
static _Thread_local struct {
  volatile sig_atomic_t active;
  char label[200];
} fault_block;

void rios_ffi_fault_block(const rios_block *b) {
  fault_block.active = 0;
  if (!b) return;
  rios_text t;
  rios_ffi_block_label(b, &t);
  size_t n = strlen(t.s);
  if (n >= sizeof(fault_block.label)) n = sizeof(fault_block.label) - 1;
  memcpy(fault_block.label, t.s, n);
  fault_block.label[n] = '\0';
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  fault_block.active = 1;
}

int rios_ffi_fault_report(const char *path, rios_err *err) {
  size_t n = path ? strlen(path) : 0;
  if (n >= sizeof(rios_process.guard.report)) {
    rios_seterr(err, "fault report path too long: %s", path);
    return RIOS_FAIL;
  }
  pthread_mutex_lock(&rios_process.guard.lock);
  memcpy(rios_process.guard.report, n ? path : "", n + 1);
  pthread_mutex_unlock(&rios_process.guard.lock);
  return RIOS_OK;
}

/* ---- the handler -------------------------------------------------------- */

static int in_guard(uintptr_t a) {
  uint32_t used = __atomic_load_n(&rios_process.guard.used, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < used && i < RIOS_GUARD_SLOTS; i++) {
    uintptr_t s = __atomic_load_n(&rios_process.guard.starts[i], __ATOMIC_RELAXED);
    if (s && a >= s && a - s < RIOS_GUARD_BYTES) return 1;
  }
  return 0;
}

/* Append s to buf (size cap, used *n); async-signal-safe. */
static void put(char *buf, size_t cap, size_t *n, const char *s) {
  while (*s && *n + 1 < cap) buf[(*n)++] = *s++;
}

static void write_all(int fd, const char *s, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, s, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w;
    len -= (size_t)w;
  }
}

static void report_overrun(void) {
  char line[512];
  size_t n = 0;
  put(line, sizeof(line), &n, "the block function read or wrote past the end of an array in block ");
  put(line, sizeof(line), &n, fault_block.label);
  put(line, sizeof(line), &n, " (an index past rows * cols * bands in a loop over data?); "
                              "run with --check to find the line\n");
  if (rios_process.guard.report[0]) {
    int fd = open(rios_process.guard.report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      write_all(fd, line, n);
      close(fd);
      return;
    }
  }
  if (rios_process.guard.stderr_tty) write_all(STDERR_FILENO, "\r\033[K", 4);
  const char *prog = rios_process.guard.worker ? "rios-luaworker: " : "rios-lua: ";
  write_all(STDERR_FILENO, prog, strlen(prog));
  write_all(STDERR_FILENO, line, n);
}

static void on_fault(int sig, siginfo_t *si, void *uctx) {
  (void)uctx;
  int saved = errno;
  if (sig == SIGSEGV && si->si_code == SEGV_ACCERR && fault_block.active &&
      in_guard((uintptr_t)si->si_addr)) {
    report_overrun();
    rios_tempfiles_remove_all();
    _exit(1);
  }
  /* Not a block function running into a guard: still a crash, but one
     that leaves no temporary folder. The old action takes the fault when
     the instruction runs again (or at once, for a SIGSEGV sent by kill). */
  rios_tempfiles_remove_all();
  sigaction(SIGSEGV, &rios_process.guard.old_segv, NULL);
  if (si->si_code <= 0) raise(sig);
  errno = saved;
}

/* Install the handler once, under the lock. */
static void install_locked(void) {
  if (rios_process.guard.installed) return;
  rios_process.guard.installed = 1;
  rios_process.guard.stderr_tty = isatty(STDERR_FILENO);
  const char *slash = strrchr(rios_process.exe_path, '/');
  rios_process.guard.worker = strstr(slash ? slash + 1 : rios_process.exe_path, "luaworker") != NULL;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &rios_process.guard.old_segv);
}

/* ---- regions ------------------------------------------------------------ */

static size_t page_size(void) {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? (size_t)p : 4096;
}

/* A free entry of the guard table, or -1. Under the lock. */
static int slot_take_locked(void) {
  if (rios_process.guard.nfree > 0) return (int)rios_process.guard.free_list[--rios_process.guard.nfree];
  if (rios_process.guard.used < RIOS_GUARD_SLOTS) {
    int s = (int)rios_process.guard.used;
    __atomic_store_n(&rios_process.guard.used, rios_process.guard.used + 1, __ATOMIC_RELEASE);
    return s;
  }
  return -1;
}

int rios_region_new(size_t nbytes, rios_region *out, rios_err *err) {
  size_t page = page_size();
  if (nbytes > SIZE_MAX - RIOS_GUARD_BYTES - 2 * page) {
    rios_seterr(err, "out of memory allocating %zu bytes", nbytes);
    return RIOS_FAIL;
  }
  size_t rw = (nbytes + page - 1) / page * page;
  if (rw == 0) rw = page;
  out->base = NULL;
  out->rw_len = rw;
  out->slot = -1;

  pthread_mutex_lock(&rios_process.guard.lock);
  int slot = slot_take_locked();
  if (slot >= 0) install_locked();
  pthread_mutex_unlock(&rios_process.guard.lock);

  if (slot >= 0) {
    void *m = mmap(NULL, rw + RIOS_GUARD_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED && mprotect((unsigned char *)m + rw, RIOS_GUARD_BYTES, PROT_NONE) != 0) {
      munmap(m, rw + RIOS_GUARD_BYTES);
      m = MAP_FAILED;
    }
    if (m != MAP_FAILED) {
      out->base = m;
      out->slot = slot;
      __atomic_store_n(&rios_process.guard.starts[slot], (uintptr_t)m + rw, __ATOMIC_RELEASE);
      return RIOS_OK;
    }
    pthread_mutex_lock(&rios_process.guard.lock);
    rios_process.guard.free_list[rios_process.guard.nfree++] = (uint32_t)slot;
    pthread_mutex_unlock(&rios_process.guard.lock);
  }
  /* No guard to be had (too many regions, or the kernel's mappings ran
     out): plain zeroed memory from the C heap. */
  void *m = aligned_alloc(page, rw);
  if (!m) {
    rios_seterr(err, "out of memory allocating %zu bytes", nbytes);
    return RIOS_FAIL;
  }
  memset(m, 0, rw);
  out->base = m;
  return RIOS_OK;
}

void rios_region_free(rios_region *r) {
  if (!r->base) return;
  if (r->slot < 0) {
    free(r->base);
  } else {
    /* Out of the table before the memory goes, so an address reused by a
       later mapping is never taken for a guard. */
    __atomic_store_n(&rios_process.guard.starts[r->slot], 0, __ATOMIC_RELEASE);
    munmap(r->base, r->rw_len + RIOS_GUARD_BYTES);
    pthread_mutex_lock(&rios_process.guard.lock);
    rios_process.guard.free_list[rios_process.guard.nfree++] = (uint32_t)r->slot;
    pthread_mutex_unlock(&rios_process.guard.lock);
  }
  r->base = NULL;
  r->slot = -1;
}
