/*
 * pipeline.c: one apply run split into reading, computing and writing that
 * overlap (RIOS's ConcurrencyStyle, BlockBuffer and thread compute workers).
 *
 *   read workers  --(read buffer)-->  compute workers  --(compute buffer)-->  writer
 *
 * A block in flight lives in a slot: one buffer per input file, an arena for
 * the arrays its block function makes, and the outputs it produced. Slots are
 * made once when the pipeline is made and recycled, so a run allocates
 * nothing per block once the arenas have grown. A slot moves
 *
 *   FREE -> READING -> READY -> COMPUTING -> DONE -> WRITING -> FREE
 *
 * and whoever moves it owns it: readers fill its input buffers (each reader
 * one file of it), a compute worker (or the main thread when there are no
 * compute workers) fills its arena and outputs, the main thread writes it.
 *
 * Read workers are plain C threads, each with its own GDAL handle on every
 * input. Compute workers are C threads that each build a Lua state with
 * rios_state_new and run lua/rios/worker.lua, which loads the user's script
 * again and takes blocks from this pipeline until there are none left.
 *
 * Every wait is bounded by the timeout the user chose for it (negative:
 * forever) and ends at once when the run is stopped: the first failure
 * anywhere (a worker's Lua error, a GDAL error, a timeout, the main thread)
 * records its message and stops every thread; later failures are counted.
 * One mutex and one condition variable cover the whole pipeline: there are
 * few threads and every state change is worth a look by each waiter.
 */
#include "host.h"
#include "registry.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_error.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { SLOT_FREE, SLOT_READING, SLOT_READY, SLOT_COMPUTING, SLOT_DONE, SLOT_WRITING };

typedef struct rios_slot {
  rios_block pub;          /* what Lua sees; first member */
  int state;
  int nmissing;          /* inputs not yet read */
  size_t *inbytes;       /* capacity of each input buffer */
} rios_slot;

typedef struct rios_reader {
  rios_pipeline *p;
  int id;                /* 1-based, for messages */
  int started;
  pthread_t thread;
  rios_raster **rasters;   /* one handle per input, never shared */
} rios_reader;

typedef struct rios_cworker {
  rios_pipeline *p;
  int id;                /* 1-based */
  int started;
  pthread_t thread;
  char *result;          /* serialized otherargs and timers, owned */
  size_t result_len;
} rios_cworker;

struct rios_pipeline {
  rios_pipe_config cfg;    /* inputs points at our own copy */
  rios_pipe_input *inputs;
  int nx, ny, nblocks, njobs;

  pthread_mutex_t mu;
  pthread_cond_t changed;

  int nslots;
  rios_slot *slots;

  /* Guarded by mu. */
  int next_job;          /* read jobs (block * ninputs + input) claimed */
  int rbuf_count, rbuf_cap;
  int npopped;           /* blocks taken out of the read buffer */
  int cbuf_count, cbuf_cap;
  int next_write;        /* the block the writer waits for */
  int stopped;
  int nfailures;
  char *errmsg;          /* the first failure, owned */

  rios_reader *readers;
  rios_cworker *workers;
  int joined;
  char *blob;            /* what every compute worker's Lua state starts from */
  size_t blob_len;

  /* Timers written by one thread each, read after the threads are joined. */
  double *read_times;    /* per job */
  double *insert_waits;  /* per block: wait to put it into the read buffer */
};

/* ---- small helpers ---------------------------------------------------- */

size_t rios_ffi_pipeline_layout(int what) {
  switch (what) {
    case 0: return sizeof(rios_pipe_input);
    case 1: return sizeof(rios_pipe_config);
    case 2: return offsetof(rios_pipe_config, inputs);
    case 3: return offsetof(rios_pipe_config, read_insert_timeout);
    case 4: return sizeof(rios_block_out);
    case 5: return sizeof(rios_block);
    case 6: return offsetof(rios_block, inputs);
    case 7: return offsetof(rios_block, outputs);
    default: return 0;
  }
}

int rios_ffi_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

void rios_ffi_sleep(double seconds) {
  if (!(seconds > 0)) return;
  struct timespec ts;
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* A deadline timeout seconds from now on the monotonic clock; 0 when the
   wait is unbounded. */
static int deadline_in(double timeout, struct timespec *dl) {
  if (timeout < 0) return 0;
  clock_gettime(CLOCK_MONOTONIC, dl);
  double whole = floor(timeout);
  dl->tv_sec += (time_t)whole;
  dl->tv_nsec += (long)((timeout - whole) * 1e9);
  if (dl->tv_nsec >= 1000000000L) {
    dl->tv_sec += 1;
    dl->tv_nsec -= 1000000000L;
  }
  return 1;
}

/* Wait for a change; returns 1 when the deadline has passed. mu is held. */
static int wait_change(rios_pipeline *p, int bounded, const struct timespec *dl) {
  if (!bounded) {
    pthread_cond_wait(&p->changed, &p->mu);
    return 0;
  }
  return pthread_cond_timedwait(&p->changed, &p->mu, dl) == ETIMEDOUT;
}

/* Record a failure and stop everything. mu is held. */
static void fail_locked(rios_pipeline *p, const char *msg) {
  p->nfailures++;
  if (!p->stopped) {
    p->stopped = 1;
    free(p->errmsg);
    p->errmsg = strdup(msg ? msg : "unknown error");
  }
  pthread_cond_broadcast(&p->changed);
}

static void failf_locked(rios_pipeline *p, const char *fmt, ...) RIOS_PRINTF(2, 3);
static void failf_locked(rios_pipeline *p, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fail_locked(p, msg);
}

void rios_ffi_pipeline_fail(rios_pipeline *p, const char *msg) {
  pthread_mutex_lock(&p->mu);
  fail_locked(p, msg);
  pthread_mutex_unlock(&p->mu);
}

int rios_ffi_pipeline_failed(rios_pipeline *p, rios_err *err) {
  pthread_mutex_lock(&p->mu);
  int failed = p->stopped && p->errmsg;
  if (failed) {
    if (p->nfailures > 1) {
      rios_seterr(err, "%s\n(and %d more error%s in other workers)", p->errmsg,
                p->nfailures - 1, p->nfailures > 2 ? "s" : "");
    } else {
      rios_seterr(err, "%s", p->errmsg);
    }
  }
  pthread_mutex_unlock(&p->mu);
  return failed;
}

static void block_place(const rios_pipeline *p, int index, int *xoff, int *yoff, int *cols,
                        int *rows) {
  int xb = index % p->nx, yb = index / p->nx;
  *xoff = xb * p->cfg.wx;
  *yoff = yb * p->cfg.wy;
  *cols = p->cfg.grid_cols - *xoff < p->cfg.wx ? p->cfg.grid_cols - *xoff : p->cfg.wx;
  *rows = p->cfg.grid_rows - *yoff < p->cfg.wy ? p->cfg.grid_rows - *yoff : p->cfg.wy;
}

/* "(row r, col c) [x=.. y=.. WxH]", as rios/outputs.lua block_label. */
static void block_label(const rios_pipeline *p, int index, char *buf, size_t n) {
  int xoff, yoff, cols, rows;
  block_place(p, index, &xoff, &yoff, &cols, &rows);
  snprintf(buf, n, "(row %d, col %d) [x=%d y=%d %dx%d]", index / p->nx, index % p->nx, xoff,
           yoff, cols, rows);
}

static const char *fmt_timeout(double t, char *buf, size_t n) {
  snprintf(buf, n, "%g", t);
  return buf;
}

/* ---- making and freeing ----------------------------------------------- */

static void slots_free(rios_pipeline *p) {
  if (!p->slots) return;
  for (int s = 0; s < p->nslots; s++) {
    rios_slot *sl = &p->slots[s];
    if (sl->pub.inputs) {
      for (int i = 0; i < p->cfg.ninputs; i++) rios_ffi_heap_free(sl->pub.inputs[i]);
      free(sl->pub.inputs);
    }
    rios_ffi_arena_free(sl->pub.arena);
    free(sl->pub.outputs);
    free(sl->inbytes);
  }
  free(p->slots);
  p->slots = NULL;
}

void rios_ffi_pipeline_free(rios_pipeline *p) {
  if (!p) return;
  rios_ffi_pipeline_finish(p);
  slots_free(p);
  if (p->workers) {
    for (int w = 0; w < p->cfg.compute_workers; w++) free(p->workers[w].result);
    free(p->workers);
  }
  free(p->readers);
  if (p->inputs) {
    for (int i = 0; i < p->cfg.ninputs; i++) {
      free((char *)p->inputs[i].read_name);
      free((char *)p->inputs[i].label);
    }
    free(p->inputs);
  }
  free(p->read_times);
  free(p->insert_waits);
  free(p->errmsg);
  free(p->blob);
  pthread_cond_destroy(&p->changed);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

rios_pipeline *rios_ffi_pipeline_new(const rios_pipe_config *cfg, rios_err *err) {
  if (cfg->ninputs < 1 || cfg->wx < 1 || cfg->wy < 1 || cfg->grid_cols < 1 ||
      cfg->grid_rows < 1 || cfg->read_workers < 0 || cfg->compute_workers < 0 ||
      cfg->overlap < 0 || cfg->noutputs < 0) {
    rios_seterr(err, "bad pipeline configuration");
    return NULL;
  }
  rios_pipeline *p = calloc(1, sizeof(*p));
  if (!p) {
    rios_seterr(err, "out of memory making the block pipeline");
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->changed, &ca);
  pthread_condattr_destroy(&ca);
  p->joined = 1;
  p->cfg = *cfg;
  p->cfg.inputs = NULL;
  int nin = cfg->ninputs;
  p->nx = (cfg->grid_cols + cfg->wx - 1) / cfg->wx;
  p->ny = (cfg->grid_rows + cfg->wy - 1) / cfg->wy;
  p->nblocks = p->nx * p->ny;
  p->njobs = p->nblocks * nin;
  p->rbuf_cap = 2 * (cfg->read_workers > 0 ? cfg->read_workers : 1);
  p->cbuf_cap = 2 * (cfg->compute_workers > 0 ? cfg->compute_workers : 1);
  /* Just enough slots that the pool itself never makes anyone wait: the
     read buffer, and then either the main thread's block (it computes and
     writes) or one per compute thread, the compute buffer (plus the block
     the writer waits for, which always goes in) and the one being written. */
  if (cfg->compute_workers > 0) {
    p->nslots = p->rbuf_cap + cfg->compute_workers + p->cbuf_cap + 1 + 1;
  } else {
    p->nslots = p->rbuf_cap + 1;
  }
  if (p->nslots > p->nblocks + 1) p->nslots = p->nblocks + 1;

  p->inputs = calloc((size_t)nin, sizeof(rios_pipe_input));
  p->slots = calloc((size_t)p->nslots, sizeof(rios_slot));
  p->readers = calloc((size_t)(cfg->read_workers > 0 ? cfg->read_workers : 1), sizeof(rios_reader));
  p->workers = calloc((size_t)(cfg->compute_workers > 0 ? cfg->compute_workers : 1),
                      sizeof(rios_cworker));
  p->read_times = malloc(sizeof(double) * (size_t)p->njobs);
  p->insert_waits = malloc(sizeof(double) * (size_t)p->nblocks);
  if (!p->inputs || !p->slots || !p->readers || !p->workers || !p->read_times ||
      !p->insert_waits) {
    goto oom;
  }
  for (int j = 0; j < p->njobs; j++) p->read_times[j] = NAN;
  for (int b = 0; b < p->nblocks; b++) p->insert_waits[b] = NAN;
  for (int i = 0; i < nin; i++) {
    p->inputs[i] = cfg->inputs[i];
    p->inputs[i].read_name = strdup(cfg->inputs[i].read_name);
    p->inputs[i].label = strdup(cfg->inputs[i].label);
    if (!p->inputs[i].read_name || !p->inputs[i].label) goto oom;
  }
  size_t bcols = (size_t)(cfg->wx < cfg->grid_cols ? cfg->wx : cfg->grid_cols) + 2 * (size_t)cfg->overlap;
  size_t brows = (size_t)(cfg->wy < cfg->grid_rows ? cfg->wy : cfg->grid_rows) + 2 * (size_t)cfg->overlap;
  for (int s = 0; s < p->nslots; s++) {
    rios_slot *sl = &p->slots[s];
    sl->pub.index = -1;
    sl->pub.inputs = calloc((size_t)nin, sizeof(void *));
    sl->inbytes = calloc((size_t)nin, sizeof(size_t));
    sl->pub.outputs = calloc((size_t)(cfg->noutputs > 0 ? cfg->noutputs : 1), sizeof(rios_block_out));
    sl->pub.arena = rios_ffi_arena_new(err);
    if (!sl->pub.inputs || !sl->inbytes || !sl->pub.outputs || !sl->pub.arena) goto oom;
    for (int i = 0; i < nin; i++) {
      size_t nbytes = (size_t)p->inputs[i].nbands * bcols * brows *
                      (size_t)rios_ffi_dtype_size(p->inputs[i].dtype);
      sl->pub.inputs[i] = rios_ffi_heap_alloc(nbytes, err);
      if (!sl->pub.inputs[i]) goto oom;
      sl->inbytes[i] = nbytes;
    }
  }
  return p;
oom:
  rios_ffi_pipeline_free(p);
  rios_seterr(err, "out of memory making the block pipeline");
  return NULL;
}

/* ---- read workers ----------------------------------------------------- */

static rios_slot *free_slot(rios_pipeline *p) {
  for (int s = 0; s < p->nslots; s++) {
    if (p->slots[s].state == SLOT_FREE) return &p->slots[s];
  }
  return NULL;
}

static rios_slot *slot_of(rios_pipeline *p, int index, int state) {
  for (int s = 0; s < p->nslots; s++) {
    if (p->slots[s].pub.index == index && p->slots[s].state == state) return &p->slots[s];
  }
  return NULL;
}

static void *reader_main(void *arg) {
  rios_reader *r = arg;
  rios_pipeline *p = r->p;
  int nin = p->cfg.ninputs, ov = p->cfg.overlap;
  rios_err err;
  /* GDAL's messages reach the user through err, not printed by GDAL's
     default handler (the handler stack is per thread). */
  CPLPushErrorHandler(CPLQuietErrorHandler);
  for (int i = 0; i < nin; i++) {
    r->rasters[i] = rios_ffi_raster_open(p->inputs[i].read_name, &err);
    if (!r->rasters[i] || rios_ffi_raster_set_label(r->rasters[i], p->inputs[i].label, &err) != 0) {
      pthread_mutex_lock(&p->mu);
      /* A VRT's name is its XML: name the file instead. */
      if (strcmp(p->inputs[i].read_name, p->inputs[i].label) == 0) {
        failf_locked(p, "read worker %d: %s", r->id, err.msg);
      } else {
        failf_locked(p, "read worker %d: %s: %.300s", r->id, p->inputs[i].label, err.msg);
      }
      pthread_mutex_unlock(&p->mu);
      goto done;
    }
  }
  pthread_mutex_lock(&p->mu);
  int waiting_for = -1;
  double wait0 = 0;
  struct timespec dl;
  int bounded = 0;
  for (;;) {
    if (p->stopped || p->next_job >= p->njobs) break;
    int job = p->next_job, b = job / nin, i = job % nin;
    rios_slot *sl;
    if (i == 0) {
      sl = p->rbuf_count < p->rbuf_cap ? free_slot(p) : NULL;
      if (!sl) {
        if (waiting_for != job) {
          waiting_for = job;
          wait0 = rios_ffi_now();
          bounded = deadline_in(p->cfg.read_insert_timeout, &dl);
        }
        if (wait_change(p, bounded, &dl) && p->next_job == job && !p->stopped &&
            (p->rbuf_count >= p->rbuf_cap || !free_slot(p))) {
          char t[32];
          failf_locked(p, "timeout in read worker %d inserting block %d into the read buffer "
                       "(%d blocks had already been taken from it); if no worker is stuck or "
                       "failing, raise controls.concurrency.read_buffer_insert_timeout "
                       "(current value = %s)", r->id, b, p->npopped,
                       fmt_timeout(p->cfg.read_insert_timeout, t, sizeof(t)));
          break;
        }
        continue;
      }
      p->insert_waits[b] = waiting_for == job ? rios_ffi_now() - wait0 : 0.0;
      sl->state = SLOT_READING;
      sl->pub.index = b;
      sl->pub.xblock = b % p->nx;
      sl->pub.yblock = b / p->nx;
      sl->nmissing = nin;
      p->rbuf_count++;
    } else {
      sl = slot_of(p, b, SLOT_READING);
      if (!sl) {
        failf_locked(p, "read worker %d: internal error: no slot for block %d", r->id, b);
        break;
      }
    }
    p->next_job++;
    pthread_mutex_unlock(&p->mu);

    int xoff, yoff, cols, rows;
    block_place(p, b, &xoff, &yoff, &cols, &rows);
    const rios_pipe_input *in = &p->inputs[i];
    double t0 = rios_ffi_now();
    int rc = rios_ffi_raster_read(r->rasters[i], xoff + in->xshift - ov, yoff + in->yshift - ov,
                                cols + 2 * ov, rows + 2 * ov, in->nbands, NULL,
                                sl->pub.inputs[i], in->dtype, &err);
    p->read_times[job] = rios_ffi_now() - t0;

    pthread_mutex_lock(&p->mu);
    if (rc != 0) {
      char label[128];
      block_label(p, b, label, sizeof(label));
      failf_locked(p, "read worker %d, block %s: %s", r->id, label, err.msg);
      break;
    }
    if (--sl->nmissing == 0) {
      sl->state = SLOT_READY;
      pthread_cond_broadcast(&p->changed);
    }
  }
  pthread_mutex_unlock(&p->mu);
done:
  for (int i = 0; i < nin; i++) {
    rios_ffi_raster_close(r->rasters[i]);
    r->rasters[i] = NULL;
  }
  CPLPopErrorHandler();
  return NULL;
}

/* ---- the buffers ------------------------------------------------------ */

/* Take block *next (in block order) once it is in state `ready`, marking it
   `taken`; 1 when every block has been taken. Both buffers are emptied this
   way; `which` describes the buffer for the timeout message. */
typedef struct rios_pop_kind {
  const char *buffer, *done, *worker, *key;
} rios_pop_kind;

static int pop_in_order(rios_pipeline *p, int *next, int *count, int ready, int taken,
                        double timeout, const rios_pop_kind *which, rios_block **out,
                        double *waited, rios_err *err) {
  double t0 = rios_ffi_now();
  struct timespec dl;
  int bounded = deadline_in(timeout, &dl);
  int rc;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (p->stopped) {
      rios_seterr(err, "stopped");
      rc = -1;
      break;
    }
    if (*next >= p->nblocks) {
      rc = 1;
      break;
    }
    rios_slot *sl = slot_of(p, *next, ready);
    if (sl) {
      sl->state = taken;
      (*count)--;
      (*next)++;
      pthread_cond_broadcast(&p->changed);
      *out = &sl->pub;
      rc = 0;
      break;
    }
    if (wait_change(p, bounded, &dl)) {
      char t[32];
      failf_locked(p, "timeout waiting for block %d from the %s buffer (%d blocks had "
                   "already been %s); if no %s worker is stuck or failing, raise "
                   "controls.concurrency.%s (current value = %s)",
                   *next, which->buffer, *next, which->done, which->worker, which->key,
                   fmt_timeout(timeout, t, sizeof(t)));
      rios_seterr(err, "stopped");
      rc = -1;
      break;
    }
  }
  pthread_mutex_unlock(&p->mu);
  if (waited) *waited = rios_ffi_now() - t0;
  return rc;
}

/* Blocks leave the read buffer in block order, whoever takes them: a
   compute thread that took any ready block could fill the compute buffer
   with later blocks while the one the writer waits for is still unread, and
   with one compute thread nobody would be left to compute it. In order,
   the block the writer waits for has always been taken already. */
int rios_ffi_pipeline_pop_read(rios_pipeline *p, rios_block **out, double *waited, rios_err *err) {
  static const rios_pop_kind which = {"read", "taken from it", "read", "read_buffer_pop_timeout"};
  return pop_in_order(p, &p->npopped, &p->rbuf_count, SLOT_READY, SLOT_COMPUTING,
                      p->cfg.read_pop_timeout, &which, out, waited, err);
}

/* An output must stay put until the writer has written it: memory from the
   block's arena or input buffers does; anything else (an array the worker
   made before apply and fills again for every block) is copied into the
   arena first. */
int rios_ffi_pipeline_set_output(rios_pipeline *p, rios_block *b, int j, void *data, int dtype,
                               int bands, int rows, int cols, rios_err *err) {
  rios_slot *sl = (rios_slot *)b;
  if (j < 0 || j >= p->cfg.noutputs) {
    rios_seterr(err, "output %d out of range", j);
    return -1;
  }
  size_t nbytes = (size_t)bands * (size_t)rows * (size_t)cols * (size_t)rios_ffi_dtype_size(dtype);
  int stays = rios_arena_owns(b->arena, data, nbytes);
  for (int i = 0; !stays && i < p->cfg.ninputs; i++) {
    const unsigned char *lo = b->inputs[i];
    const unsigned char *d = data;
    stays = d >= lo && d + nbytes <= lo + sl->inbytes[i];
  }
  if (!stays) {
    void *copy = rios_ffi_arena_alloc(b->arena, nbytes, err);
    if (!copy) return -1;
    memcpy(copy, data, nbytes);
    data = copy;
  }
  rios_block_out *o = &b->outputs[j];
  o->data = data;
  o->dtype = dtype;
  o->bands = bands;
  o->rows = rows;
  o->cols = cols;
  return 0;
}

int rios_ffi_pipeline_push(rios_pipeline *p, rios_block *b, double *waited, rios_err *err) {
  rios_slot *sl = (rios_slot *)b;
  double t0 = rios_ffi_now();
  struct timespec dl;
  int bounded = deadline_in(p->cfg.compute_insert_timeout, &dl);
  int rc = 0;
  pthread_mutex_lock(&p->mu);
  /* The block the writer waits for always goes in, so a full buffer of
     later blocks cannot block the writer. */
  while (!p->stopped && p->cbuf_count >= p->cbuf_cap && b->index != p->next_write) {
    if (wait_change(p, bounded, &dl) && !p->stopped && p->cbuf_count >= p->cbuf_cap &&
        b->index != p->next_write) {
      char t[32];
      failf_locked(p, "timeout inserting a computed block into the compute buffer (%d blocks "
                   "had already been written); if the writer is not stuck or failing, raise "
                   "controls.concurrency.compute_buffer_insert_timeout (current value = %s)",
                   p->next_write, fmt_timeout(p->cfg.compute_insert_timeout, t, sizeof(t)));
    }
  }
  if (p->stopped) {
    rios_seterr(err, "stopped");
    rc = -1;
  } else {
    sl->state = SLOT_DONE;
    p->cbuf_count++;
    pthread_cond_broadcast(&p->changed);
  }
  pthread_mutex_unlock(&p->mu);
  if (waited) *waited = rios_ffi_now() - t0;
  return rc;
}

int rios_ffi_pipeline_pop_done(rios_pipeline *p, rios_block **out, double *waited, rios_err *err) {
  static const rios_pop_kind which = {"compute", "written", "compute",
                                    "compute_buffer_pop_timeout"};
  return pop_in_order(p, &p->next_write, &p->cbuf_count, SLOT_DONE, SLOT_WRITING,
                      p->cfg.compute_pop_timeout, &which, out, waited, err);
}

void rios_ffi_pipeline_release(rios_pipeline *p, rios_block *b) {
  rios_slot *sl = (rios_slot *)b;
  rios_ffi_arena_reset(b->arena);
  memset(b->outputs, 0, sizeof(rios_block_out) * (size_t)(p->cfg.noutputs > 0 ? p->cfg.noutputs : 1));
  pthread_mutex_lock(&p->mu);
  sl->state = SLOT_FREE;
  sl->pub.index = -1;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->mu);
}

/* ---- compute workers -------------------------------------------------- */

/* The bootstrap a compute worker's Lua state runs: rios.worker reads what it
   needs from the registry entry "rios.worker". */
static const char worker_boot[] = "return require('rios.worker').boot()";

static void *cworker_main(void *arg) {
  rios_cworker *w = arg;
  rios_pipeline *p = w->p;
  char msg[1024];
  lua_State *L = rios_state_new(msg, sizeof(msg));
  if (!L) {
    pthread_mutex_lock(&p->mu);
    failf_locked(p, "compute worker %d: %s", w->id, msg);
    pthread_mutex_unlock(&p->mu);
    return NULL;
  }
  lua_createtable(L, 0, 4);
  lua_pushlightuserdata(L, p);
  lua_setfield(L, -2, "pipeline");
  lua_pushinteger(L, w->id);
  lua_setfield(L, -2, "id");
  lua_pushlstring(L, p->blob, p->blob_len);
  lua_setfield(L, -2, "blob");
  lua_setfield(L, LUA_REGISTRYINDEX, RIOS_REG_WORKER);
  int status = luaL_loadbuffer(L, worker_boot, sizeof(worker_boot) - 1, "=rios.worker");
  if (status == 0) status = rios_docall(L, 0, 0);
  if (status != 0) {
    /* rios.worker reports the errors it catches itself; this is one it could
       not (a broken installation, out of memory). */
    const char *m = lua_tostring(L, -1);
    pthread_mutex_lock(&p->mu);
    failf_locked(p, "compute worker %d: %s", w->id, m ? m : "(error object is not a string)");
    pthread_mutex_unlock(&p->mu);
  }
  lua_close(L);
  return NULL;
}

int rios_ffi_pipeline_set_result(rios_pipeline *p, int worker, const char *s, size_t len,
                               rios_err *err) {
  if (worker < 1 || worker > p->cfg.compute_workers) {
    rios_seterr(err, "no compute worker %d", worker);
    return -1;
  }
  char *copy = malloc(len + 1);
  if (!copy) {
    rios_seterr(err, "out of memory keeping compute worker %d's otherargs", worker);
    return -1;
  }
  memcpy(copy, s, len);
  copy[len] = '\0';
  rios_cworker *w = &p->workers[worker - 1];
  free(w->result);
  w->result = copy;
  w->result_len = len;
  return 0;
}

/* Read by the main thread after rios_ffi_pipeline_finish. Borrowed. */
const char *rios_ffi_pipeline_result(rios_pipeline *p, int worker, size_t *len) {
  if (worker < 1 || worker > p->cfg.compute_workers) return NULL;
  rios_cworker *w = &p->workers[worker - 1];
  *len = w->result_len;
  return w->result;
}

/* ---- starting and stopping -------------------------------------------- */

int rios_ffi_pipeline_start(rios_pipeline *p, const char *blob, size_t len, rios_err *err) {
  if (p->cfg.compute_workers > 0) {
    p->blob = malloc(len + 1);
    if (!p->blob) {
      rios_seterr(err, "out of memory starting compute workers");
      return -1;
    }
    memcpy(p->blob, blob, len);
    p->blob[len] = '\0';
    p->blob_len = len;
  }
  p->joined = 0;
  for (int r = 0; r < p->cfg.read_workers; r++) {
    rios_reader *rd = &p->readers[r];
    rd->p = p;
    rd->id = r + 1;
    rd->rasters = calloc((size_t)p->cfg.ninputs, sizeof(rios_raster *));
    int rc = rd->rasters ? pthread_create(&rd->thread, NULL, reader_main, rd) : ENOMEM;
    if (rc != 0) {
      rios_seterr(err, "cannot start read worker %d: %s", r + 1, strerror(rc));
      rios_ffi_pipeline_fail(p, err->msg);
      return -1;
    }
    rd->started = 1;
  }
  for (int w = 0; w < p->cfg.compute_workers; w++) {
    rios_cworker *cw = &p->workers[w];
    cw->p = p;
    cw->id = w + 1;
    /* LuaJIT and GDAL want more stack than some defaults give. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)16 << 20);
    int rc = pthread_create(&cw->thread, &attr, cworker_main, cw);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      rios_seterr(err, "cannot start compute worker %d: %s", w + 1, strerror(rc));
      rios_ffi_pipeline_fail(p, err->msg);
      return -1;
    }
    cw->started = 1;
  }
  return 0;
}

/* Join every thread (after a failure they stop at their next wait). Returns
   1 when the run failed. Safe to call more than once. */
int rios_ffi_pipeline_finish(rios_pipeline *p) {
  if (!p->joined) {
    for (int r = 0; r < p->cfg.read_workers; r++) {
      rios_reader *rd = &p->readers[r];
      if (rd->started) pthread_join(rd->thread, NULL);
      rd->started = 0;
      free(rd->rasters);
      rd->rasters = NULL;
    }
    for (int w = 0; w < p->cfg.compute_workers; w++) {
      rios_cworker *cw = &p->workers[w];
      if (cw->started) pthread_join(cw->thread, NULL);
      cw->started = 0;
    }
    p->joined = 1;
  }
  pthread_mutex_lock(&p->mu);
  int failed = p->stopped;
  pthread_mutex_unlock(&p->mu);
  return failed;
}

/* Timers the C threads kept: which 0 = reading (per read job), 1 =
   insert_readbuffer (per block). Copies up to n values into out and returns
   how many there are. Only after rios_ffi_pipeline_finish. */
size_t rios_ffi_pipeline_timer(rios_pipeline *p, int which, double *out, size_t n) {
  const double *src = which == 0 ? p->read_times : p->insert_waits;
  size_t total = which == 0 ? (size_t)p->njobs : (size_t)p->nblocks;
  size_t k = 0;
  for (size_t i = 0; i < total; i++) {
    if (isnan(src[i])) continue;
    if (k < n) out[k] = src[i];
    k++;
  }
  return k;
}
