/* util.c: clock, dtype sizes, heap blocks and block arenas for the FFI. */
#define _POSIX_C_SOURCE 200809L
#include "rl_ffi.h"
#include "rl_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double rl_ffi_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const int dtype_sizes[RL_NDTYPES] = {1, 1, 2, 2, 4, 4, 4, 8};
static const char *const dtype_names[RL_NDTYPES] = {
  "int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64"};

int rl_ffi_dtype_size(int dtype) {
  return (dtype >= 0 && dtype < RL_NDTYPES) ? dtype_sizes[dtype] : 0;
}

const char *rl_dtype_name(int dtype) {
  return (dtype >= 0 && dtype < RL_NDTYPES) ? dtype_names[dtype] : "?";
}

/* Sizes and offsets the layout spec compares with ffi.sizeof/ffi.offsetof. */
size_t rl_ffi_layout(int what) {
  switch (what) {
    case 0: return sizeof(rl_err);
    case 1: return sizeof(rl_raster_info);
    case 2: return offsetof(rl_raster_info, transform);
    case 3: return offsetof(rl_raster_info, is_vector);
    case 4: return sizeof(rl_finish_opts);
    case 5: return offsetof(rl_finish_opts, overview_levels);
    case 6: return offsetof(rl_finish_opts, overview_aggtype);
    case 7: return sizeof(rl_finish_times);
    default: return 0;
  }
}

void rl_seterr(rl_err *err, const char *fmt, ...) {
  if (!err) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
}

/* Pixel memory is aligned for vector loads; RL_ALIGN must be a power of 2. */
#define RL_ALIGN 64

void *rl_ffi_heap_alloc(size_t nbytes, rl_err *err) {
  size_t rounded = (nbytes + RL_ALIGN - 1) & ~(size_t)(RL_ALIGN - 1);
  if (rounded == 0) rounded = RL_ALIGN;
  void *p = aligned_alloc(RL_ALIGN, rounded);
  if (!p) {
    rl_seterr(err, "out of memory allocating %zu bytes", nbytes);
    return NULL;
  }
  memset(p, 0, rounded);
  return p;
}

void rl_ffi_heap_free(void *p) { free(p); }

/*
 * A block arena hands out zeroed pixel memory for arrays made while one block
 * is computed and takes it all back at once when that block has been written.
 * It grows to the largest block's need; reset folds its chunks into one, so
 * after the first block or two a run allocates nothing.
 */
typedef struct rl_chunk {
  struct rl_chunk *next;
  size_t size, used;
  unsigned char *mem;
} rl_chunk;

struct rl_arena {
  rl_chunk *head;        /* chunk being filled; older ones follow */
  size_t total;          /* sum of chunk sizes */
};

static rl_chunk *chunk_new(size_t size) {
  rl_chunk *c = malloc(sizeof(*c));
  if (!c) return NULL;
  c->mem = aligned_alloc(RL_ALIGN, size);
  if (!c->mem) { free(c); return NULL; }
  c->size = size;
  c->used = 0;
  c->next = NULL;
  return c;
}

static void chunk_free_all(rl_chunk *c) {
  while (c) {
    rl_chunk *next = c->next;
    free(c->mem);
    free(c);
    c = next;
  }
}

rl_arena *rl_ffi_arena_new(rl_err *err) {
  rl_arena *a = calloc(1, sizeof(*a));
  if (!a) rl_seterr(err, "out of memory making a block arena");
  return a;
}

void *rl_ffi_arena_alloc(rl_arena *a, size_t nbytes, rl_err *err) {
  size_t need = (nbytes + RL_ALIGN - 1) & ~(size_t)(RL_ALIGN - 1);
  if (need == 0) need = RL_ALIGN;
  if (!a->head || a->head->size - a->head->used < need) {
    size_t size = a->total > need ? a->total : need;
    if (size < (size_t)1 << 20) size = (size_t)1 << 20;
    size = (size + RL_ALIGN - 1) & ~(size_t)(RL_ALIGN - 1);
    rl_chunk *c = chunk_new(size);
    if (!c) {
      rl_seterr(err, "out of memory allocating %zu bytes for a block array", nbytes);
      return NULL;
    }
    c->next = a->head;
    a->head = c;
    a->total += size;
  }
  void *p = a->head->mem + a->head->used;
  a->head->used += need;
  memset(p, 0, need);
  return p;
}

void rl_ffi_arena_reset(rl_arena *a) {
  if (a->head && a->head->next) {
    size_t total = a->total;
    chunk_free_all(a->head);
    a->head = chunk_new(total);
    a->total = a->head ? total : 0;
    return;
  }
  if (a->head) a->head->used = 0;
}

size_t rl_ffi_arena_capacity(const rl_arena *a) { return a->total; }

int rl_arena_owns(const rl_arena *a, const void *p, size_t nbytes) {
  const unsigned char *q = p;
  for (const rl_chunk *c = a->head; c; c = c->next) {
    if (q >= c->mem && q + nbytes <= c->mem + c->used) return 1;
  }
  return 0;
}

void rl_ffi_arena_free(rl_arena *a) {
  if (!a) return;
  chunk_free_all(a->head);
  free(a);
}
