/*
 * threads.c: the compute workers of kind "threads": C threads in this
 * process, each with its own Lua state from rios_state_new, that run the
 * user's script again (lua/rios/worker.lua) and then the block loop on the
 * run's pipeline: blocks from its read buffer, outputs into its compute
 * buffer, which the main thread writes from (runtime/pipeline.c).
 *
 * The job every worker boots from (the script's source, arg, otherargs,
 * the grid...) is bytes from rios.codec; each worker leaves its result
 * (its otherargs copy and timers, also codec bytes) here for the main
 * thread to take after joining it.
 */
#include "host.h"
#include "registry.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <errno.h>
#include <math.h>
#include <time.h>
#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rios_cthread {
  rios_threads *owner;
  int id;                /* 1-based */
  int started;
  pthread_t thread;
  char *result;          /* the worker's result bytes, owned */
  size_t result_len;
} rios_cthread;

struct rios_threads {
  rios_pipeline *p;      /* referenced (rios_pipeline_ref) while we live */
  int n;
  rios_cthread *workers;
  char *job;             /* what every worker's Lua state boots from */
  size_t job_len;
  int joined;
  int abandoned;         /* a thread did not stop in time: never freed */
};

/* The bootstrap a worker's Lua state runs: rios.worker reads what it
   needs from the registry entry RIOS_REG_WORKER. */
static const char worker_boot[] = "return require('rios.worker').boot()";

static void worker_failf(rios_cthread *w, const char *fmt, const char *msg) {
  char buf[2048];
  snprintf(buf, sizeof(buf), fmt, w->id, msg);
  rios_ffi_pipeline_fail(w->owner->p, buf);
}

static void *cthread_main(void *arg) {
  rios_cthread *w = arg;
  rios_threads *t = w->owner;
  char msg[1024];
  lua_State *L = rios_state_new(msg, sizeof(msg));
  if (!L) {
    worker_failf(w, "compute worker %d: %s", msg);
    return NULL;
  }
  lua_createtable(L, 0, 5);
  lua_pushliteral(L, "threads");
  lua_setfield(L, -2, "kind");
  lua_pushlightuserdata(L, t->p);
  lua_setfield(L, -2, "pipeline");
  lua_pushlightuserdata(L, t);
  lua_setfield(L, -2, "threads");
  lua_pushinteger(L, w->id);
  lua_setfield(L, -2, "id");
  lua_pushlstring(L, t->job, t->job_len);
  lua_setfield(L, -2, "job");
  lua_setfield(L, LUA_REGISTRYINDEX, RIOS_REG_WORKER);
  int status = luaL_loadbuffer(L, worker_boot, sizeof(worker_boot) - 1, "=rios.worker");
  if (status == 0) status = rios_docall(L, 0, 0);
  if (status != 0) {
    /* rios.worker reports the errors it catches itself; this is one it
       could not (a broken installation, out of memory). */
    const char *m = lua_tostring(L, -1);
    worker_failf(w, "compute worker %d: %s", m ? m : "(error object is not a string)");
  }
  lua_close(L);
  return NULL;
}

static void threads_destroy(rios_threads *t) {
  if (t->workers) {
    for (int i = 0; i < t->n; i++) free(t->workers[i].result);
    free(t->workers);
  }
  free(t->job);
  if (t->p) rios_pipeline_unref(t->p);
  free(t);
}

int rios_ffi_threads_start(rios_pipeline *p, int n, const char *job, size_t len,
                           rios_threads **out, rios_err *err) {
  *out = NULL;
  rios_threads *t = calloc(1, sizeof(*t));
  if (!t) {
    rios_seterr(err, "out of memory starting compute threads");
    return RIOS_FAIL;
  }
  rios_pipeline_ref(p);
  t->p = p;
  t->n = n;
  t->workers = calloc((size_t)(n > 0 ? n : 1), sizeof(rios_cthread));
  t->job = malloc(len + 1);
  if (!t->workers || !t->job) {
    threads_destroy(t);
    rios_seterr(err, "out of memory starting compute threads");
    return RIOS_FAIL;
  }
  memcpy(t->job, job, len);
  t->job[len] = '\0';
  t->job_len = len;
  *out = t;
  for (int i = 0; i < n; i++) {
    rios_cthread *w = &t->workers[i];
    w->owner = t;
    w->id = i + 1;
    /* LuaJIT and GDAL want more stack than some defaults give. */
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) rc = pthread_attr_setstacksize(&attr, (size_t)16 << 20);
    if (rc == 0) rc = pthread_create(&w->thread, &attr, cthread_main, w);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      rios_seterr(err, "cannot start compute worker %d: %s", i + 1, strerror(rc));
      rios_ffi_pipeline_fail(p, err->msg);
      return RIOS_FAIL;
    }
    w->started = 1;
  }
  return RIOS_OK;
}

/* Called by worker `worker` (1-based) from its own thread. */
int rios_ffi_threads_set_result(rios_threads *t, int worker, const char *s, size_t len,
                                rios_err *err) {
  if (worker < 1 || worker > t->n) {
    rios_seterr(err, "no compute worker %d", worker);
    return RIOS_FAIL;
  }
  char *copy = malloc(len + 1);
  if (!copy) {
    rios_seterr(err, "out of memory keeping compute worker %d's result", worker);
    return RIOS_FAIL;
  }
  memcpy(copy, s, len);
  copy[len] = '\0';
  rios_cthread *w = &t->workers[worker - 1];
  free(w->result);
  w->result = copy;
  w->result_len = len;
  return RIOS_OK;
}

/* Wait for every thread to end (after a failure they stop at their next
   wait on the pipeline), at most timeout seconds in all (negative: as long
   as it takes). Fails, naming the first worker that is still running, when
   one did not end in time: a block function in an endless compiled loop
   never looks at the pipeline again. Such a thread is left running (the
   process ends without it) and the threads are never freed. Safe to call
   more than once. */
int rios_ffi_threads_join(rios_threads *t, double timeout, rios_err *err) {
  if (t->joined) return RIOS_OK;
  struct timespec dl;
  if (timeout >= 0) {
    clock_gettime(CLOCK_REALTIME, &dl);
    double whole = floor(timeout);
    dl.tv_sec += (time_t)whole;
    dl.tv_nsec += (long)((timeout - whole) * 1e9);
    if (dl.tv_nsec >= 1000000000L) {
      dl.tv_sec += 1;
      dl.tv_nsec -= 1000000000L;
    }
  }
  for (int i = 0; i < t->n; i++) {
    rios_cthread *w = &t->workers[i];
    if (!w->started) continue;
    int rc = timeout >= 0 ? pthread_timedjoin_np(w->thread, NULL, &dl)
                          : pthread_join(w->thread, NULL);
    if (rc == ETIMEDOUT) {
      rios_seterr(err, "compute worker %d did not stop within %g seconds", w->id, timeout);
      t->abandoned = 1;
      return RIOS_FAIL;
    }
    w->started = 0;
  }
  t->joined = 1;
  t->abandoned = 0;
  return RIOS_OK;
}

/* Worker `worker`'s result after the join: borrowed; *s is NULL when it
   left none. */
int rios_ffi_threads_result(rios_threads *t, int worker, const char **s, size_t *len,
                            rios_err *err) {
  if (worker < 1 || worker > t->n || !t->joined) {
    rios_seterr(err, "no result of compute worker %d yet", worker);
    return RIOS_FAIL;
  }
  *s = t->workers[worker - 1].result;
  *len = t->workers[worker - 1].result_len;
  return RIOS_OK;
}

void rios_ffi_threads_free(rios_threads *t) {
  if (!t) return;
  if (!t->joined) rios_ffi_pipeline_fail(t->p, "the run was stopped");
  /* A thread that did not stop when asked still uses t and its pipeline:
     both stay allocated until the process ends. */
  if (t->abandoned) return;
  rios_err ignored;
  rios_ffi_threads_join(t, -1, &ignored);
  threads_destroy(t);
}
