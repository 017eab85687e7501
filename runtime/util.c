/* util.c: clock, struct layouts, error messages, heap arrays and block
   arenas for the FFI (their guarded memory: guard.c). */
#define _POSIX_C_SOURCE 200809L
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_error.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    case 10: return sizeof(rios_path_facts);
    case 11: return offsetof(rios_path_facts, canonical);
    default: return 0;
  }
}

/* Messages name the files the user asked for: an output's private folder
   (where GDAL writes it, outfile.c) is taken out of every path. */
void rios_seterr(rios_err *err, const char *fmt, ...) {
  if (!err) return;
  char msg[sizeof(err->msg)];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  rios_unmask_partial(msg, err->msg, sizeof(err->msg));
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

void rios_gdal_one_line(const char *msg, char *line, size_t size) { one_line(msg, line, size); }

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
    char line[2048];
    rios_unmask_partial(msg, line, sizeof(line));
    fprintf(stderr, "rios-lua: GDAL warning: %s\n", line);
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

/*
 * Heap arrays: each in a guarded region of its own (guard.c), placed at the
 * region's end so that the guard follows its last byte. A header at the
 * region's start says how to free it; the array starts at least
 * HEAP_HEADER bytes after it, so rios_ffi_heap_free finds the header at the
 * page below p - HEAP_HEADER. The array's start is then aligned to its
 * size's largest power of two up to a page (to its element, at least).
 */
#define HEAP_HEADER 64
#define HEAP_MAGIC 0x72696f7368656170ull  /* "rioheap" */

typedef struct rios_heap_header {
  uint64_t magic;
  rios_region region;
} rios_heap_header;

int rios_ffi_heap_alloc(size_t nbytes, void **out, rios_err *err) {
  if (nbytes == 0) nbytes = 1;
  if (nbytes > SIZE_MAX / 2) {
    rios_seterr(err, "out of memory allocating %zu bytes", nbytes);
    return RIOS_FAIL;
  }
  rios_region r;
  if (rios_region_new(nbytes + HEAP_HEADER, &r, err) != RIOS_OK) return RIOS_FAIL;
  rios_heap_header *h = (rios_heap_header *)r.base;
  h->magic = HEAP_MAGIC;
  h->region = r;
  *out = rios_region_end(&r) - nbytes;
  return RIOS_OK;
}

void rios_ffi_heap_free(void *p) {
  if (!p) return;
  long page = sysconf(_SC_PAGESIZE);
  uintptr_t base = ((uintptr_t)p - HEAP_HEADER) & ~(uintptr_t)((page > 0 ? page : 4096) - 1);
  rios_heap_header *h = (rios_heap_header *)base;
  if (h->magic != HEAP_MAGIC) {
    /* Something wrote before the array's start (an index below 0): the
       header cannot be trusted, so the memory is kept rather than freed. */
    fprintf(stderr, "rios-lua: warning: the memory before an array was overwritten (a "
            "negative index into data?); its memory is not freed\n");
    return;
  }
  rios_region r = h->region;
  h->magic = 0;
  rios_region_free(&r);
}

int rios_heap_strdup(const char *s, char **out, rios_err *err) {
  size_t n = strlen(s) + 1;
  void *p;
  if (rios_ffi_heap_alloc(n, &p, err) != RIOS_OK) return RIOS_FAIL;
  memcpy(p, s, n);
  *out = p;
  return RIOS_OK;
}

/*
 * A block arena hands out zeroed memory for the arrays made while one block
 * is computed and takes it all back at once when that block has been
 * written. Each array gets a guarded region of its own (guard.c), its end
 * against the guard; the regions stay with the arena and are handed out
 * again block after block (to the array of the next block that fits one
 * best), so after the first block a run maps nothing more unless a block
 * makes more or larger arrays than any before it.
 */
struct rios_arena {
  rios_region *regions;  /* [0, used): this block's arrays; the rest free */
  size_t nregions, cap, used;
  size_t total;          /* sum of the regions' sizes */
};

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
  if (nbytes == 0) nbytes = 1;
  /* The free region that fits best. */
  size_t best = a->nregions;
  for (size_t i = a->used; i < a->nregions; i++) {
    if (a->regions[i].rw_len >= nbytes &&
        (best == a->nregions || a->regions[i].rw_len < a->regions[best].rw_len))
      best = i;
  }
  if (best == a->nregions) {
    /* None fits: a new region, in place of the largest free one (which is
       too small) or after the others. */
    rios_region r;
    if (rios_region_new(nbytes, &r, err) != RIOS_OK) {
      rios_seterr(err, "out of memory allocating %zu bytes for a block array", nbytes);
      return RIOS_FAIL;
    }
    size_t at = a->nregions;
    for (size_t i = a->used; i < a->nregions; i++) {
      if (at == a->nregions || a->regions[i].rw_len > a->regions[at].rw_len) at = i;
    }
    if (at < a->nregions) {
      a->total -= a->regions[at].rw_len;
      rios_region_free(&a->regions[at]);
    } else {
      if (a->nregions == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        rios_region *bigger = realloc(a->regions, cap * sizeof(rios_region));
        if (!bigger) {
          rios_region_free(&r);
          rios_seterr(err, "out of memory allocating %zu bytes for a block array", nbytes);
          return RIOS_FAIL;
        }
        a->regions = bigger;
        a->cap = cap;
      }
      a->nregions++;
    }
    a->regions[at] = r;
    a->total += r.rw_len;
    best = at;
  }
  rios_region chosen = a->regions[best];
  a->regions[best] = a->regions[a->used];
  a->regions[a->used++] = chosen;
  unsigned char *p = rios_region_end(&chosen) - nbytes;
  memset(p, 0, nbytes);
  *out = p;
  return RIOS_OK;
}

void rios_ffi_arena_reset(rios_arena *a) { a->used = 0; }

size_t rios_ffi_arena_capacity(const rios_arena *a) { return a->total; }

int rios_arena_owns(const rios_arena *a, const void *p, size_t nbytes) {
  const unsigned char *q = p;
  for (size_t i = 0; i < a->used; i++) {
    const rios_region *r = &a->regions[i];
    if (q >= r->base && q + nbytes <= rios_region_end(r)) return 1;
  }
  return 0;
}

void rios_ffi_arena_free(rios_arena *a) {
  if (!a) return;
  for (size_t i = 0; i < a->nregions; i++) rios_region_free(&a->regions[i]);
  free(a->regions);
  free(a);
}
