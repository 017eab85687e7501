/* util.c: clock, struct layouts, error messages, heap blocks and block
   arenas for the FFI. */
#define _POSIX_C_SOURCE 200809L
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_error.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double rios_ffi_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sizes and offsets the layout spec compares with ffi.sizeof/ffi.offsetof. */
size_t rios_ffi_layout(int what) {
  switch (what) {
    case 0: return sizeof(rios_err);
    case 1: return sizeof(rios_raster_info);
    case 2: return offsetof(rios_raster_info, transform);
    case 3: return offsetof(rios_raster_info, is_vector);
    case 4: return sizeof(rios_finish_opts);
    case 5: return offsetof(rios_finish_opts, overview_levels);
    case 6: return offsetof(rios_finish_opts, overview_aggtype);
    case 7: return sizeof(rios_finish_times);
    case 8: return sizeof(rios_dtype_info);
    case 9: return offsetof(rios_dtype_info, size);
    default: return 0;
  }
}

void rios_seterr(rios_err *err, const char *fmt, ...) {
  if (!err) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
}

/* GDAL's last error message as one line: some of its messages (an OGR SQL
   error, a PROJ failure) span lines, and every message rios-lua gives is
   one line. Line breaks and the blanks around them become "; ". The text
   lives in a per-thread buffer until the next call in the same thread. */
/* msg as one line into line (size n). */
static void one_line(const char *m, char *line, size_t size) {
  size_t n = 0;
  int pending = 0;
  for (const char *p = m; *p && n + 3 < size; p++) {
    if (*p == '\n' || *p == '\r') {
      pending = n > 0;
      continue;
    }
    if (pending) {
      while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
      line[n++] = ';';
      line[n++] = ' ';
      pending = 0;
      while (*p == ' ' || *p == '\t') p++;
      if (!*p) break;
    }
    line[n++] = *p;
  }
  while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == ';')) n--;
  line[n] = '\0';
}

const char *rios_gdal_error(void) {
  static _Thread_local char line[1024];
  const char *m = CPLGetLastErrorMsg();
  if (!m || !*m) return "unknown GDAL error";
  one_line(m, line, sizeof(line));
  return line;
}

static void capture_handler(CPLErr level, CPLErrorNum num, const char *msg) {
  (void)num;
  rios_gdal_capture *c = CPLGetErrorHandlerUserData();
  if (level >= CE_Failure && c && !c->first[0] && msg && *msg) {
    one_line(msg, c->first, sizeof(c->first));
  } else if (level == CE_Warning && msg) {
    fprintf(stderr, "rios-lua: GDAL warning: %s\n", msg);
  }
}

void rios_gdal_capture_begin(rios_gdal_capture *c) {
  c->first[0] = '\0';
  CPLErrorReset();
  CPLPushErrorHandlerEx(capture_handler, c);
}

void rios_gdal_capture_end(void) { CPLPopErrorHandler(); }

const char *rios_gdal_capture_text(rios_gdal_capture *c) {
  return c->first[0] ? c->first : rios_gdal_error();
}

/* Pixel memory is aligned for vector loads; RIOS_ALIGN must be a power of 2. */
#define RIOS_ALIGN 64

int rios_ffi_heap_alloc(size_t nbytes, void **out, rios_err *err) {
  size_t rounded = (nbytes + RIOS_ALIGN - 1) & ~(size_t)(RIOS_ALIGN - 1);
  if (rounded == 0) rounded = RIOS_ALIGN;
  void *p = aligned_alloc(RIOS_ALIGN, rounded);
  if (!p) {
    rios_seterr(err, "out of memory allocating %zu bytes", nbytes);
    return RIOS_FAIL;
  }
  memset(p, 0, rounded);
  *out = p;
  return RIOS_OK;
}

void rios_ffi_heap_free(void *p) { free(p); }

int rios_heap_strdup(const char *s, char **out, rios_err *err) {
  size_t n = strlen(s) + 1;
  void *p;
  if (rios_ffi_heap_alloc(n, &p, err) != RIOS_OK) return RIOS_FAIL;
  memcpy(p, s, n);
  *out = p;
  return RIOS_OK;
}

/*
 * A block arena hands out zeroed pixel memory for arrays made while one block
 * is computed and takes it all back at once when that block has been written.
 * It grows to the largest block's need; reset folds its chunks into one, so
 * after the first block or two a run allocates nothing.
 */
typedef struct rios_chunk {
  struct rios_chunk *next;
  size_t size, used;
  unsigned char *mem;
} rios_chunk;

struct rios_arena {
  rios_chunk *head;        /* chunk being filled; older ones follow */
  size_t total;          /* sum of chunk sizes */
};

static rios_chunk *chunk_new(size_t size) {
  rios_chunk *c = malloc(sizeof(*c));
  if (!c) return NULL;
  c->mem = aligned_alloc(RIOS_ALIGN, size);
  if (!c->mem) { free(c); return NULL; }
  c->size = size;
  c->used = 0;
  c->next = NULL;
  return c;
}

static void chunk_free_all(rios_chunk *c) {
  while (c) {
    rios_chunk *next = c->next;
    free(c->mem);
    free(c);
    c = next;
  }
}

int rios_ffi_arena_new(rios_arena **out, rios_err *err) {
  rios_arena *a = calloc(1, sizeof(*a));
  if (!a) {
    rios_seterr(err, "out of memory making a block arena");
    return RIOS_FAIL;
  }
  *out = a;
  return RIOS_OK;
}

int rios_ffi_arena_alloc(rios_arena *a, size_t nbytes, void **out, rios_err *err) {
  size_t need = (nbytes + RIOS_ALIGN - 1) & ~(size_t)(RIOS_ALIGN - 1);
  if (need == 0) need = RIOS_ALIGN;
  if (!a->head || a->head->size - a->head->used < need) {
    size_t size = a->total > need ? a->total : need;
    if (size < (size_t)1 << 20) size = (size_t)1 << 20;
    size = (size + RIOS_ALIGN - 1) & ~(size_t)(RIOS_ALIGN - 1);
    rios_chunk *c = chunk_new(size);
    if (!c) {
      rios_seterr(err, "out of memory allocating %zu bytes for a block array", nbytes);
      return RIOS_FAIL;
    }
    c->next = a->head;
    a->head = c;
    a->total += size;
  }
  void *p = a->head->mem + a->head->used;
  a->head->used += need;
  memset(p, 0, need);
  *out = p;
  return RIOS_OK;
}

void rios_ffi_arena_reset(rios_arena *a) {
  if (a->head && a->head->next) {
    size_t total = a->total;
    chunk_free_all(a->head);
    a->head = chunk_new(total);
    a->total = a->head ? total : 0;
    return;
  }
  if (a->head) a->head->used = 0;
}

size_t rios_ffi_arena_capacity(const rios_arena *a) { return a->total; }

int rios_arena_owns(const rios_arena *a, const void *p, size_t nbytes) {
  const unsigned char *q = p;
  for (const rios_chunk *c = a->head; c; c = c->next) {
    if (q >= c->mem && q + nbytes <= c->mem + c->used) return 1;
  }
  return 0;
}

void rios_ffi_arena_free(rios_arena *a) {
  if (!a) return;
  chunk_free_all(a->head);
  free(a);
}
