/*
 * pipeline.c: the blocks of one rios.apply run in flight, whoever reads,
 * computes and writes them (RIOS's BlockBuffer and ConcurrencyStyle).
 *
 *   readers  --(read buffer)-->  computing threads  --(compute buffer)-->  writer
 *
 * Every run goes through here, the sequential one too: the block loop
 * (lua/rios/loop.lua) takes its blocks from the read buffer and gives them
 * to a sink, which writes them at once (the main thread computing) or puts
 * them into the compute buffer that the main thread writes from in block
 * order (compute workers of any kind, see workers/).
 *
 * A block in flight lives in a slot: one buffer per input file, an arena for
 * the arrays its block function makes, and the outputs it produced. Slots are
 * made once and recycled, so a run allocates nothing per block once the
 * arenas have grown. A slot moves
 *
 *   FREE -> READING -> READY -> COMPUTING -> DONE -> WRITING -> FREE
 *
 * and whoever moved it last owns it. Read workers are C threads with their
 * own GDAL handle on every input; each file of each block is a separate read
 * job. With no read worker, the thread that takes the next block reads it
 * itself (the "inline reader"), so a sequential run is this same machinery
 * with one slot.
 *
 * Every wait is bounded by the timeout the user chose for it (negative:
 * forever) and ends at once when the run is stopped: the first failure
 * anywhere records its message and stops every thread; later failures are
 * counted. One mutex and one condition variable cover the whole pipeline:
 * there are few threads and every state change is worth a look by each
 * waiter.
 *
 * The block geometry (which window of the grid a block is, its label in
 * messages) is computed here and nowhere else; Lua reads it from the block.
 */
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_error.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { SLOT_FREE, SLOT_READING, SLOT_READY, SLOT_COMPUTING, SLOT_DONE, SLOT_WRITING };

typedef struct rios_slot {
  rios_block pub;        /* what Lua sees; first member */
  int64_t seq;           /* its place in the read schedule (-1: not read) */
  int state;
  int nmissing;          /* inputs not yet read */
  size_t *inbytes;       /* capacity of each input buffer */
} rios_slot;

/* Durations one thread measured, one per block or read (they feed the
   timing report's N, min, quartiles and max). Grown as blocks pass, so
   nothing is allocated up front per block of the grid. */
typedef struct rios_samples {
  double *v;
  size_t n, cap;
} rios_samples;

typedef struct rios_reader {
  rios_pipeline *p;
  int id;                /* 1-based; 0 is the inline reader */
  int started;
  pthread_t thread;
  rios_raster **rasters; /* one handle per input, never shared */
  rios_samples reads;    /* seconds per read job */
  rios_samples waits;    /* seconds waiting to put a block into the read buffer */
} rios_reader;

struct rios_pipeline {
  rios_pipe_config cfg;  /* inputs points at our own copy */
  rios_pipe_input *inputs;
  int nx, ny;
  int64_t nblocks;

  pthread_mutex_t mu;
  pthread_cond_t changed;
  int refs;              /* the owner, and each kind of worker attached (workers/) */

  int nslots;
  rios_slot *slots;

  /* Guarded by mu. */
  /* The read schedule: the blocks in the order they are read and taken
     from the read buffer. Position seq < nblocks is block seq unless the
     schedule is assigned (a worker that reads its own input reads only the
     blocks the main process gives it, in that order); every position past
     that is in sched. An open schedule may still grow (blocks read again
     for a lost worker, or assigned later); readers wait for it. */
  int assigned, sched_open;
  int64_t *sched;
  int64_t nsched, sched_cap;
  int64_t next_job;      /* read jobs (seq * ninputs + input) claimed */
  int rbuf_count, rbuf_cap;
  int64_t npopped;       /* schedule positions taken out of the read buffer */
  int cbuf_count, cbuf_cap;
  int64_t next_write;    /* the block the writer waits for */
  int stopped;
  int nfailures;
  char *errmsg;          /* the first failure, owned */

  rios_reader *readers;  /* cfg.read_workers of them */
  rios_reader inline_reader;
  int joined;
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
    case 8: return offsetof(rios_block, index);
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

static int samples_add(rios_samples *s, double v) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 256;
    double *bigger = realloc(s->v, cap * sizeof(double));
    if (!bigger) return -1;
    s->v = bigger;
    s->cap = cap;
  }
  s->v[s->n++] = v;
  return 0;
}

static void samples_free(rios_samples *s) {
  free(s->v);
  memset(s, 0, sizeof(*s));
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

/* ---- block geometry --------------------------------------------------- */

int rios_ffi_grid_blocks(int grid_cols, int grid_rows, int wx, int wy, int *nx, int *ny,
                         rios_err *err) {
  if (grid_cols < 1 || grid_rows < 1 || wx < 1 || wy < 1) {
    rios_seterr(err, "bad block grid: %d x %d pixels in windows of %d x %d", grid_cols,
                grid_rows, wx, wy);
    return RIOS_FAIL;
  }
  *nx = (int)(((int64_t)grid_cols + wx - 1) / wx);
  *ny = (int)(((int64_t)grid_rows + wy - 1) / wy);
  return RIOS_OK;
}

static void block_place(const rios_pipeline *p, int64_t index, rios_block *b) {
  b->index = index;
  b->xblock = (int)(index % p->nx);
  b->yblock = (int)(index / p->nx);
  b->xoff = (int)((int64_t)b->xblock * p->cfg.wx);
  b->yoff = (int)((int64_t)b->yblock * p->cfg.wy);
  b->cols = p->cfg.grid_cols - b->xoff < p->cfg.wx ? p->cfg.grid_cols - b->xoff : p->cfg.wx;
  b->rows = p->cfg.grid_rows - b->yoff < p->cfg.wy ? p->cfg.grid_rows - b->yoff : p->cfg.wy;
}

void rios_ffi_block_label(const rios_block *b, rios_text *out) {
  snprintf(out->s, sizeof(out->s), "(row %d, col %d) [x=%d y=%d %dx%d]", b->yblock, b->xblock,
           b->xoff, b->yoff, b->cols, b->rows);
}

static void index_label(const rios_pipeline *p, int64_t index, rios_text *out) {
  rios_block b;
  block_place(p, index, &b);
  rios_ffi_block_label(&b, out);
}

int rios_ffi_pipeline_blocks(const rios_pipeline *p, int *nx, int *ny) {
  *nx = p->nx;
  *ny = p->ny;
  return RIOS_OK;
}

/* ---- the read schedule ------------------------------------------------ */

/* Positions in the schedule so far. mu is held. */
static int64_t sched_len(const rios_pipeline *p) {
  return p->assigned ? p->nsched : p->nblocks + p->nsched;
}

/* The block at position seq (< sched_len). mu is held. */
static int64_t sched_at(const rios_pipeline *p, int64_t seq) {
  if (p->assigned) return p->sched[seq];
  return seq < p->nblocks ? seq : p->sched[seq - p->nblocks];
}

int rios_ffi_pipeline_schedule(rios_pipeline *p, int64_t index, rios_err *err) {
  if (index < 0 || index >= p->nblocks) {
    rios_seterr(err, "there is no block %lld (the grid has %lld)", (long long)index,
                (long long)p->nblocks);
    return RIOS_FAIL;
  }
  pthread_mutex_lock(&p->mu);
  int rc = RIOS_OK;
  if (!p->sched_open) {
    rios_seterr(err, "the read schedule is closed");
    rc = RIOS_FAIL;
  } else if (p->nsched == p->sched_cap) {
    int64_t cap = p->sched_cap ? p->sched_cap * 2 : 64;
    int64_t *bigger = realloc(p->sched, (size_t)cap * sizeof(int64_t));
    if (!bigger) {
      rios_seterr(err, "out of memory scheduling block %lld", (long long)index);
      rc = RIOS_FAIL;
    } else {
      p->sched = bigger;
      p->sched_cap = cap;
    }
  }
  if (rc == RIOS_OK) {
    p->sched[p->nsched++] = index;
    pthread_cond_broadcast(&p->changed);
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

void rios_ffi_pipeline_close_schedule(rios_pipeline *p) {
  pthread_mutex_lock(&p->mu);
  p->sched_open = 0;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->mu);
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

static void reader_close(rios_pipeline *p, rios_reader *r) {
  if (r->rasters) {
    for (int i = 0; i < p->cfg.ninputs; i++) rios_ffi_raster_close(r->rasters[i]);
    free(r->rasters);
    r->rasters = NULL;
  }
}

static void pipeline_destroy(rios_pipeline *p) {
  slots_free(p);
  if (p->readers) {
    for (int r = 0; r < p->cfg.read_workers; r++) {
      reader_close(p, &p->readers[r]);
      samples_free(&p->readers[r].reads);
      samples_free(&p->readers[r].waits);
    }
    free(p->readers);
  }
  reader_close(p, &p->inline_reader);
  samples_free(&p->inline_reader.reads);
  samples_free(&p->inline_reader.waits);
  if (p->inputs) {
    for (int i = 0; i < p->cfg.ninputs; i++) {
      free((char *)p->inputs[i].read_name);
      free((char *)p->inputs[i].label);
    }
    free(p->inputs);
  }
  free(p->errmsg);
  free(p->sched);
  pthread_cond_destroy(&p->changed);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

/* A kind of worker that keeps pointers to p (workers/threads.c) holds a
   reference, so p outlives its threads whatever order Lua frees them in. */
void rios_pipeline_ref(rios_pipeline *p) {
  pthread_mutex_lock(&p->mu);
  p->refs++;
  pthread_mutex_unlock(&p->mu);
}

void rios_pipeline_unref(rios_pipeline *p) {
  pthread_mutex_lock(&p->mu);
  int last = --p->refs == 0;
  pthread_mutex_unlock(&p->mu);
  if (last) pipeline_destroy(p);
}

void rios_ffi_pipeline_free(rios_pipeline *p) {
  if (!p) return;
  rios_ffi_pipeline_fail(p, "the run was stopped");
  rios_err ignored;
  rios_ffi_pipeline_finish(p, &ignored);
  rios_pipeline_unref(p);
}

/* Just enough slots that the pool itself never makes anyone wait: with no
   worker at all, the one block being computed and written; with read
   workers, the read buffer and then either the main thread's block (it
   computes and writes) or one per compute worker, the compute buffer (plus
   the block the writer waits for, which always goes in) and the one being
   written. Never more than there are blocks (and one spare). */
static int slot_count(const rios_pipe_config *cfg, int64_t nblocks) {
  int rbuf = 2 * (cfg->read_workers > 0 ? cfg->read_workers : 1);
  int cbuf = 2 * (cfg->compute_workers > 0 ? cfg->compute_workers : 1);
  int n;
  if (cfg->compute_workers > 0) {
    n = rbuf + cfg->compute_workers + cbuf + 1 + 1;
  } else if (cfg->read_workers > 0) {
    n = rbuf + 1;
  } else {
    n = 1;
  }
  return n > nblocks + 1 ? (int)(nblocks + 1) : n;
}

/* The bytes of input buffers a pipeline with cfg would allocate (its
   slots times one block of every input), computed in double so no size
   overflows; checked by rios.apply before anything is allocated. */
int rios_ffi_pipeline_memory(const rios_pipe_config *cfg, double *bytes, int *nslots,
                             rios_err *err) {
  int nx, ny;
  if (rios_ffi_grid_blocks(cfg->grid_cols, cfg->grid_rows, cfg->wx, cfg->wy, &nx, &ny, err) != 0)
    return RIOS_FAIL;
  double bcols = (double)(cfg->wx < cfg->grid_cols ? cfg->wx : cfg->grid_cols) + 2.0 * cfg->overlap;
  double brows = (double)(cfg->wy < cfg->grid_rows ? cfg->wy : cfg->grid_rows) + 2.0 * cfg->overlap;
  double one = 0;
  for (int i = 0; i < cfg->ninputs; i++)
    one += (double)cfg->inputs[i].nbands * bcols * brows * rios_ffi_dtype_size(cfg->inputs[i].dtype);
  *nslots = slot_count(cfg, (int64_t)nx * ny);
  *bytes = one * *nslots;
  return RIOS_OK;
}

int rios_ffi_physical_memory(double *bytes) {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  *bytes = pages > 0 && size > 0 ? (double)pages * (double)size : 0;
  return RIOS_OK;
}

int rios_ffi_pipeline_new(const rios_pipe_config *cfg, rios_pipeline **out, rios_err *err) {
  *out = NULL;
  int nx, ny;
  if (rios_ffi_grid_blocks(cfg->grid_cols, cfg->grid_rows, cfg->wx, cfg->wy, &nx, &ny, err) != 0)
    return RIOS_FAIL;
  if (cfg->ninputs < 1 || cfg->read_workers < 0 || cfg->compute_workers < 0 ||
      cfg->overlap < 0 || cfg->noutputs < 0) {
    rios_seterr(err, "bad block pipeline configuration");
    return RIOS_FAIL;
  }
  rios_pipeline *p = calloc(1, sizeof(*p));
  if (!p) {
    rios_seterr(err, "out of memory making the block pipeline");
    return RIOS_FAIL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->changed, &ca);
  pthread_condattr_destroy(&ca);
  p->refs = 1;
  p->joined = 1;
  p->cfg = *cfg;
  p->cfg.inputs = NULL;
  int nin = cfg->ninputs;
  p->nx = nx;
  p->ny = ny;
  p->nblocks = (int64_t)nx * ny;
  p->assigned = cfg->schedule == RIOS_SCHEDULE_ASSIGNED;
  p->sched_open = cfg->schedule != RIOS_SCHEDULE_ALL;
  p->rbuf_cap = 2 * (cfg->read_workers > 0 ? cfg->read_workers : 1);
  p->cbuf_cap = 2 * (cfg->compute_workers > 0 ? cfg->compute_workers : 1);
  p->nslots = slot_count(cfg, p->nblocks);

  p->inputs = calloc((size_t)nin, sizeof(rios_pipe_input));
  p->slots = calloc((size_t)p->nslots, sizeof(rios_slot));
  p->readers = calloc((size_t)(cfg->read_workers > 0 ? cfg->read_workers : 1),
                      sizeof(rios_reader));
  if (!p->inputs || !p->slots || !p->readers) goto oom;
  for (int i = 0; i < nin; i++) {
    p->inputs[i] = cfg->inputs[i];
    p->inputs[i].read_name = strdup(cfg->inputs[i].read_name);
    p->inputs[i].label = strdup(cfg->inputs[i].label);
    if (!p->inputs[i].read_name || !p->inputs[i].label) goto oom;
  }
  size_t bcols = (size_t)(cfg->wx < cfg->grid_cols ? cfg->wx : cfg->grid_cols) +
                 2 * (size_t)cfg->overlap;
  size_t brows = (size_t)(cfg->wy < cfg->grid_rows ? cfg->wy : cfg->grid_rows) +
                 2 * (size_t)cfg->overlap;
  for (int s = 0; s < p->nslots; s++) {
    rios_slot *sl = &p->slots[s];
    sl->pub.index = -1;
    sl->seq = -1;
    sl->pub.slot = s;
    sl->pub.inputs = calloc((size_t)nin, sizeof(void *));
    sl->inbytes = calloc((size_t)nin, sizeof(size_t));
    sl->pub.outputs = calloc((size_t)(cfg->noutputs > 0 ? cfg->noutputs : 1),
                             sizeof(rios_block_out));
    if (!sl->pub.inputs || !sl->inbytes || !sl->pub.outputs ||
        rios_ffi_arena_new(&sl->pub.arena, err) != RIOS_OK)
      goto oom;
    for (int i = 0; i < nin; i++) {
      size_t nbytes = (size_t)p->inputs[i].nbands * bcols * brows *
                      (size_t)rios_ffi_dtype_size(p->inputs[i].dtype);
      if (rios_ffi_heap_alloc(nbytes, &sl->pub.inputs[i], err) != RIOS_OK) goto oom;
      sl->inbytes[i] = nbytes;
    }
  }
  *out = p;
  return RIOS_OK;
oom:
  pipeline_destroy(p);
  rios_seterr(err, "out of memory making the block pipeline");
  return RIOS_FAIL;
}

/* ---- reading ---------------------------------------------------------- */

static rios_slot *free_slot(rios_pipeline *p) {
  for (int s = 0; s < p->nslots; s++) {
    if (p->slots[s].state == SLOT_FREE) return &p->slots[s];
  }
  return NULL;
}

/* The slot in `state` holding block `index` (the compute buffer), or
   schedule position `seq` (the read buffer). */
static rios_slot *slot_of(rios_pipeline *p, int64_t index, int state) {
  for (int s = 0; s < p->nslots; s++) {
    if (p->slots[s].pub.index == index && p->slots[s].state == state) return &p->slots[s];
  }
  return NULL;
}

static rios_slot *slot_at(rios_pipeline *p, int64_t seq, int state) {
  for (int s = 0; s < p->nslots; s++) {
    if (p->slots[s].seq == seq && p->slots[s].state == state) return &p->slots[s];
  }
  return NULL;
}

/* Open the reader's own handle on every input. mu is not held. */
static int reader_open(rios_pipeline *p, rios_reader *r, rios_err *err) {
  r->rasters = calloc((size_t)p->cfg.ninputs, sizeof(rios_raster *));
  if (!r->rasters) {
    rios_seterr(err, "out of memory opening the inputs");
    return RIOS_FAIL;
  }
  for (int i = 0; i < p->cfg.ninputs; i++) {
    const rios_pipe_input *in = &p->inputs[i];
    if (rios_ffi_raster_open(in->read_name, &r->rasters[i], err) != RIOS_OK ||
        rios_ffi_raster_set_label(r->rasters[i], in->label, err) != RIOS_OK) {
      /* A VRT's name is its XML: name the file instead. */
      if (strcmp(in->read_name, in->label) != 0) {
        rios_err e2;
        rios_seterr(&e2, "%s: %.300s", in->label, err->msg);
        *err = e2;
      }
      return RIOS_FAIL;
    }
  }
  return RIOS_OK;
}

/* Read input i of the block in slot sl with r's handles. mu is not held. */
static int read_job(rios_pipeline *p, rios_reader *r, rios_slot *sl, int i, rios_err *err) {
  const rios_pipe_input *in = &p->inputs[i];
  const rios_block *b = &sl->pub;
  int ov = p->cfg.overlap;
  double t0 = rios_ffi_now();
  int rc = rios_ffi_raster_read(r->rasters[i], b->xoff + in->xshift - ov,
                                b->yoff + in->yshift - ov, b->cols + 2 * ov, b->rows + 2 * ov,
                                in->nbands, NULL, b->inputs[i], in->dtype, err);
  if (samples_add(&r->reads, rios_ffi_now() - t0) != 0 && rc == 0) {
    rios_seterr(err, "out of memory keeping the read timers");
    return RIOS_FAIL;
  }
  return rc == 0 ? RIOS_OK : RIOS_FAIL;
}

static void *reader_main(void *arg) {
  rios_reader *r = arg;
  rios_pipeline *p = r->p;
  int nin = p->cfg.ninputs;
  rios_err err;
  /* GDAL's messages reach the user through err, not printed by GDAL's
     default handler (the handler stack is per thread). */
  CPLPushErrorHandler(CPLQuietErrorHandler);
  if (reader_open(p, r, &err) != 0) {
    pthread_mutex_lock(&p->mu);
    failf_locked(p, "read worker %d: %s", r->id, err.msg);
    pthread_mutex_unlock(&p->mu);
    reader_close(p, r);
    CPLPopErrorHandler();
    return NULL;
  }
  pthread_mutex_lock(&p->mu);
  int64_t waiting_for = -1;
  double wait0 = 0;
  struct timespec dl;
  int bounded = 0;
  for (;;) {
    if (p->stopped) break;
    if (p->next_job >= sched_len(p) * nin) {
      if (!p->sched_open) break;
      pthread_cond_wait(&p->changed, &p->mu);   /* more may be scheduled */
      continue;
    }
    int64_t job = p->next_job, seq = job / nin, index = sched_at(p, seq);
    int i = (int)(job % nin);
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
          failf_locked(p, "timeout in read worker %d inserting block %lld into the read buffer "
                       "(%lld blocks had already been taken from it); if no worker is stuck or "
                       "failing, raise controls.concurrency.read_buffer_insert_timeout "
                       "(current value = %g)", r->id, (long long)index, (long long)p->npopped,
                       p->cfg.read_insert_timeout);
          break;
        }
        continue;
      }
      if (samples_add(&r->waits, waiting_for == job ? rios_ffi_now() - wait0 : 0.0) != 0) {
        failf_locked(p, "read worker %d: out of memory keeping the timers", r->id);
        break;
      }
      sl->state = SLOT_READING;
      block_place(p, index, &sl->pub);
      sl->seq = seq;
      sl->nmissing = nin;
      p->rbuf_count++;
    } else {
      sl = slot_at(p, seq, SLOT_READING);
      if (!sl) {
        failf_locked(p, "read worker %d: internal error: no slot for block %lld", r->id,
                     (long long)index);
        break;
      }
    }
    p->next_job++;
    pthread_mutex_unlock(&p->mu);

    int rc = read_job(p, r, sl, i, &err);

    pthread_mutex_lock(&p->mu);
    if (rc != 0) {
      rios_text label;
      index_label(p, index, &label);
      failf_locked(p, "read worker %d, block %s: %s", r->id, label.s, err.msg);
      break;
    }
    if (--sl->nmissing == 0) {
      sl->state = SLOT_READY;
      pthread_cond_broadcast(&p->changed);
    }
  }
  pthread_mutex_unlock(&p->mu);
  reader_close(p, r);
  CPLPopErrorHandler();
  return NULL;
}

/* ---- the buffers ------------------------------------------------------ */

/* Take block *next (in block order) once it is in state `ready`, marking it
   `taken`; *out is NULL when every block has been taken. Both buffers are
   emptied this way; `which` describes the buffer for the timeout message. */
typedef struct rios_pop_kind {
  const char *buffer, *done, *worker, *key;
} rios_pop_kind;

/* poll < 0: wait up to timeout, whose end is a failure of the run; poll
   >= 0: wait up to poll seconds, whose end only returns no block (*ended
   0). *ended is 1 when no block will ever come. */
static int pop_in_order(rios_pipeline *p, int64_t *next, int *count, int ready, int taken,
                        int by_seq, double timeout, double poll, const rios_pop_kind *which,
                        rios_block **out, int *ended, double *waited, rios_err *err) {
  double t0 = rios_ffi_now();
  struct timespec dl;
  int bounded = poll >= 0 ? deadline_in(poll, &dl) : deadline_in(timeout, &dl);
  int rc;
  *out = NULL;
  *ended = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (p->stopped) {
      rios_seterr(err, "stopped");
      rc = RIOS_FAIL;
      break;
    }
    int64_t end = by_seq ? sched_len(p) : p->nblocks;
    if (*next >= end && (!by_seq || !p->sched_open)) {
      *ended = 1;
      rc = RIOS_OK;
      break;
    }
    rios_slot *sl = *next >= end ? NULL
                  : by_seq ? slot_at(p, *next, ready) : slot_of(p, *next, ready);
    if (sl) {
      sl->state = taken;
      (*count)--;
      (*next)++;
      pthread_cond_broadcast(&p->changed);
      *out = &sl->pub;
      rc = RIOS_OK;
      break;
    }
    if (wait_change(p, bounded, &dl)) {
      if (poll >= 0) {
        rc = RIOS_OK;
        break;
      }
      failf_locked(p, "timeout waiting for block %lld from the %s buffer (%lld blocks had "
                   "already been %s); if no %s worker is stuck or failing, raise "
                   "controls.concurrency.%s (current value = %g)",
                   (long long)*next, which->buffer, (long long)*next, which->done,
                   which->worker, which->key, timeout);
      rios_seterr(err, "stopped");
      rc = RIOS_FAIL;
      break;
    }
  }
  pthread_mutex_unlock(&p->mu);
  if (waited) *waited = rios_ffi_now() - t0;
  return rc;
}

/* With no read worker, the thread that asks for a block reads it: the next
   block in order, into the one free slot, with the inline reader's own
   handles (opened at the first block). */
static int read_inline(rios_pipeline *p, rios_block **out, int *ended, rios_err *err) {
  rios_reader *r = &p->inline_reader;
  *out = NULL;
  *ended = 0;
  pthread_mutex_lock(&p->mu);
  if (p->stopped) {
    pthread_mutex_unlock(&p->mu);
    rios_seterr(err, "stopped");
    return RIOS_FAIL;
  }
  if (p->npopped >= sched_len(p)) {
    /* nothing scheduled to read now (the caller knows whether more will be) */
    *ended = !p->sched_open;
    pthread_mutex_unlock(&p->mu);
    return RIOS_OK;
  }
  int64_t seq = p->npopped, index = sched_at(p, seq);
  rios_slot *sl = free_slot(p);
  if (!sl) {
    failf_locked(p, "internal error: no free slot for block %lld (was the last one "
                 "released?)", (long long)index);
    pthread_mutex_unlock(&p->mu);
    rios_seterr(err, "stopped");
    return RIOS_FAIL;
  }
  sl->state = SLOT_READING;
  block_place(p, index, &sl->pub);
  sl->seq = seq;
  pthread_mutex_unlock(&p->mu);

  rios_err e;
  int rc = r->rasters ? RIOS_OK : reader_open(p, r, &e);
  for (int i = 0; rc == 0 && i < p->cfg.ninputs; i++) rc = read_job(p, r, sl, i, &e);

  pthread_mutex_lock(&p->mu);
  if (rc != 0) {
    rios_text label;
    index_label(p, index, &label);
    sl->state = SLOT_FREE;
    failf_locked(p, "%s in block %s", e.msg, label.s);
    pthread_mutex_unlock(&p->mu);
    rios_seterr(err, "stopped");
    return RIOS_FAIL;
  }
  sl->state = SLOT_COMPUTING;
  p->npopped++;
  pthread_mutex_unlock(&p->mu);
  *out = &sl->pub;
  return RIOS_OK;
}

/* Blocks leave the read buffer in block order, whoever takes them: a
   compute thread that took any ready block could fill the compute buffer
   with later blocks while the one the writer waits for is still unread, and
   with one compute thread nobody would be left to compute it. In order,
   the block the writer waits for has always been taken already. */
int rios_ffi_pipeline_pop_read(rios_pipeline *p, double poll, rios_block **out, int *ended,
                               double *waited, rios_err *err) {
  static const rios_pop_kind which = {"read", "taken from it", "read", "read_buffer_pop_timeout"};
  if (p->cfg.read_workers == 0) {
    *waited = 0;
    return read_inline(p, out, ended, err);
  }
  return pop_in_order(p, &p->npopped, &p->rbuf_count, SLOT_READY, SLOT_COMPUTING, 1,
                      p->cfg.read_pop_timeout, poll, &which, out, ended, waited, err);
}

/* A free slot for block index, without reading it (the main process when
   its workers read their own input: the slot only carries the outputs to
   the writer). *out is NULL when every slot is in use. */
int rios_ffi_pipeline_claim(rios_pipeline *p, int64_t index, rios_block **out, rios_err *err) {
  *out = NULL;
  if (index < 0 || index >= p->nblocks) {
    rios_seterr(err, "there is no block %lld", (long long)index);
    return RIOS_FAIL;
  }
  pthread_mutex_lock(&p->mu);
  rios_slot *sl = p->stopped ? NULL : free_slot(p);
  if (sl) {
    sl->state = SLOT_COMPUTING;
    sl->seq = -1;
    block_place(p, index, &sl->pub);
    *out = &sl->pub;
  }
  int stopped = p->stopped;
  pthread_mutex_unlock(&p->mu);
  if (stopped) {
    rios_seterr(err, "stopped");
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

/* An output must stay put until the writer has written it: memory from the
   block's arena or input buffers does; anything else (an array the worker
   made before apply and fills again for every block) is copied into the
   arena first. */
int rios_ffi_pipeline_set_output(rios_pipeline *p, rios_block *b, int j, void *data, int dtype,
                                 int bands, int rows, int cols, rios_err *err) {
  rios_slot *sl = (rios_slot *)b;
  if (j < 0 || j >= p->cfg.noutputs || rios_ffi_dtype_size(dtype) == 0) {
    rios_seterr(err, "output %d (dtype %d) out of range", j, dtype);
    return RIOS_FAIL;
  }
  size_t nbytes = (size_t)bands * (size_t)rows * (size_t)cols * (size_t)rios_ffi_dtype_size(dtype);
  int stays = rios_arena_owns(b->arena, data, nbytes);
  for (int i = 0; !stays && i < p->cfg.ninputs; i++) {
    const unsigned char *lo = b->inputs[i];
    const unsigned char *d = data;
    stays = d >= lo && d + nbytes <= lo + sl->inbytes[i];
  }
  if (!stays) {
    void *copy;
    if (rios_ffi_arena_alloc(b->arena, nbytes, &copy, err) != RIOS_OK) return RIOS_FAIL;
    memcpy(copy, data, nbytes);
    data = copy;
  }
  rios_block_out *o = &b->outputs[j];
  o->data = data;
  o->dtype = dtype;
  o->bands = bands;
  o->rows = rows;
  o->cols = cols;
  return RIOS_OK;
}

int rios_ffi_pipeline_push(rios_pipeline *p, rios_block *b, int wait, double *waited,
                           rios_err *err) {
  rios_slot *sl = (rios_slot *)b;
  double t0 = rios_ffi_now();
  struct timespec dl;
  int bounded = deadline_in(p->cfg.compute_insert_timeout, &dl);
  int rc = RIOS_OK;
  pthread_mutex_lock(&p->mu);
  /* The block the writer waits for always goes in, so a full buffer of
     later blocks cannot block the writer. */
  while (wait && !p->stopped && p->cbuf_count >= p->cbuf_cap && b->index != p->next_write) {
    if (wait_change(p, bounded, &dl) && !p->stopped && p->cbuf_count >= p->cbuf_cap &&
        b->index != p->next_write) {
      failf_locked(p, "timeout inserting a computed block into the compute buffer (%lld blocks "
                   "had already been written); if the writer is not stuck or failing, raise "
                   "controls.concurrency.compute_buffer_insert_timeout (current value = %g)",
                   (long long)p->next_write, p->cfg.compute_insert_timeout);
    }
  }
  if (p->stopped) {
    rios_seterr(err, "stopped");
    rc = RIOS_FAIL;
  } else {
    sl->state = SLOT_DONE;
    p->cbuf_count++;
    pthread_cond_broadcast(&p->changed);
  }
  pthread_mutex_unlock(&p->mu);
  *waited = rios_ffi_now() - t0;
  return rc;
}

int rios_ffi_pipeline_pop_done(rios_pipeline *p, double poll, rios_block **out, int *ended,
                               double *waited, rios_err *err) {
  static const rios_pop_kind which = {"compute", "written", "compute",
                                      "compute_buffer_pop_timeout"};
  return pop_in_order(p, &p->next_write, &p->cbuf_count, SLOT_DONE, SLOT_WRITING, 0,
                      p->cfg.compute_pop_timeout, poll, &which, out, ended, waited, err);
}

void rios_ffi_pipeline_release(rios_pipeline *p, rios_block *b) {
  rios_slot *sl = (rios_slot *)b;
  rios_ffi_arena_reset(b->arena);
  memset(b->outputs, 0,
         sizeof(rios_block_out) * (size_t)(p->cfg.noutputs > 0 ? p->cfg.noutputs : 1));
  pthread_mutex_lock(&p->mu);
  sl->state = SLOT_FREE;
  sl->pub.index = -1;
  sl->seq = -1;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->mu);
}

/* ---- starting and stopping -------------------------------------------- */

int rios_ffi_pipeline_start(rios_pipeline *p, rios_err *err) {
  p->joined = 0;
  for (int r = 0; r < p->cfg.read_workers; r++) {
    rios_reader *rd = &p->readers[r];
    rd->p = p;
    rd->id = r + 1;
    int rc = pthread_create(&rd->thread, NULL, reader_main, rd);
    if (rc != 0) {
      rios_seterr(err, "cannot start read worker %d: %s", r + 1, strerror(rc));
      rios_ffi_pipeline_fail(p, err->msg);
      return RIOS_FAIL;
    }
    rd->started = 1;
  }
  p->inline_reader.p = p;
  return RIOS_OK;
}

/* Join the read workers (after a failure they stop at their next wait).
   Fails, with the run's first failure as the message, when the run
   failed. Safe to call more than once. */
int rios_ffi_pipeline_finish(rios_pipeline *p, rios_err *err) {
  if (!p->joined) {
    for (int r = 0; r < p->cfg.read_workers; r++) {
      rios_reader *rd = &p->readers[r];
      if (rd->started) pthread_join(rd->thread, NULL);
      rd->started = 0;
    }
    p->joined = 1;
  }
  reader_close(p, &p->inline_reader);
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
  return failed ? RIOS_FAIL : RIOS_OK;
}

/* Timers the readers kept: which 0 = reading (per read job), 1 =
   insert_readbuffer (per block). Copies up to n values into out and sets
   *total to how many there are. Only after rios_ffi_pipeline_finish. */
int rios_ffi_pipeline_timer(rios_pipeline *p, int which, double *out, size_t n,
                            size_t *total) {
  size_t k = 0;
  for (int r = -1; r < p->cfg.read_workers; r++) {
    const rios_reader *rd = r < 0 ? &p->inline_reader : &p->readers[r];
    const rios_samples *s = which == 0 ? &rd->reads : &rd->waits;
    for (size_t i = 0; i < s->n; i++, k++) {
      if (k < n) out[k] = s->v[i];
    }
  }
  *total = k;
  return RIOS_OK;
}
