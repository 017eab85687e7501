/* rios_internal.h: helpers shared by the runtime's C files, not seen by Lua. */
#ifndef RIOS_INTERNAL_H
#define RIOS_INTERNAL_H

#include <gdal.h>
#include <stdarg.h>
#include <stddef.h>
#include "rios_ffi.h"

#if defined(__GNUC__)
#define RIOS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RIOS_PRINTF(a, b)
#endif

void rios_seterr(rios_err *err, const char *fmt, ...) RIOS_PRINTF(2, 3);
/* GDAL's last error message on this thread, or "unknown GDAL error" when it
   left none; reset with CPLErrorReset before the call it describes. */
const char *rios_gdal_error(void);
/* msg with every output's private folder taken out of its paths
   (".../.NAME.rios-partial-HOST-PID-XXXXXX/NAME" reads ".../NAME"), so a
   message names the file the user asked for (outfile.c). */
void rios_unmask_partial(const char *msg, char *out, size_t size);
/* A GDAL message as one line (line breaks become "; ") into line. */
void rios_gdal_one_line(const char *msg, char *line, size_t size);

/* The first failure GDAL reports while a call of its utility library
   (GDALWarp, GDALTranslate, GDALRasterize, GDALVectorTranslate) runs: those
   report the cause (a bad SQL statement) and then its consequences ("cannot
   create ..."), and may reset the last error before returning. Warnings
   are printed as the process's handler prints them. */
typedef struct rios_gdal_capture {
  char first[1024];
} rios_gdal_capture;
void rios_gdal_capture_begin(rios_gdal_capture *c);
void rios_gdal_capture_end(void);
/* The first failure as one line, else rios_gdal_error(). */
const char *rios_gdal_capture_text(rios_gdal_capture *c);
/* Guarded regions (runtime/guard.c): rw_len zeroed bytes from base, then a
   guard of RIOS_GUARD_BYTES that faults on any access. An array of n bytes
   placed at rios_region_end(r) - n ends where the guard begins, so a loop
   that runs one element past it faults, and the SIGSEGV handler names the
   block the thread was computing (rios_ffi_fault_block). slot: the
   region's entry in the guard table; -1 when the memory came unguarded
   from the C heap (the table or the kernel's mappings were exhausted). */
#define RIOS_GUARD_BYTES ((size_t)64 * 1024)
typedef struct rios_region {
  unsigned char *base;
  size_t rw_len;
  int slot;
} rios_region;
/* A region with room for at least nbytes; fails only when out of memory. */
int rios_region_new(size_t nbytes, rios_region *out, rios_err *err);
/* Unmap (or free) it; a region of base NULL is left alone. */
void rios_region_free(rios_region *r);
static inline unsigned char *rios_region_end(const rios_region *r) { return r->base + r->rw_len; }
/* Remove every live temporary folder (runtime/tempfiles.c); async-signal-safe. */
void rios_tempfiles_remove_all(void);
/* A new private folder from a mkdtemp template (".../name-XXXXXX"), removed
   by rios_ffi_tempdir_remove, or by a signal, os.exit or a crash first.
   kind: RIOS_TEMP_SCRATCH or RIOS_TEMP_OUTPUT (process.h); what: the folder
   in the message when it cannot be made. */
int rios_tempdir_make(const char *template_path, int kind, const char *what,
                      rios_tempdir **out, rios_err *err);
/* Empty a folder (recursively, links not followed) and remove it;
   async-signal-safe. */
void rios_remove_tree(const char *path);
/* Whether a run is under way or a private folder is live (tempfiles.c):
   then os.exit ends the process with rios_ffi_exit_now. */
int rios_tempfiles_busy(void);
/* A copy of s in memory from rios_ffi_heap_alloc (owned: rios_ffi_heap_free). */
int rios_heap_strdup(const char *s, char **out, rios_err *err);
/* Whether [p, p + nbytes) lies in memory the arena has handed out. */
int rios_arena_owns(const rios_arena *a, const void *p, size_t nbytes);
/* The dataset and path of an open rios_raster (borrowed; raster.c). */
GDALDatasetH rios_raster_dataset(rios_raster *r);
const char *rios_raster_path(rios_raster *r);
/* Band `band` (1-based) of r, or NULL with a message naming the file when
   it has no such band. */
GDALRasterBandH rios_raster_band(rios_raster *r, int band, rios_err *err);

/* A kind of worker that keeps pointers to a pipeline holds a reference
   (runtime/pipeline.c); the last unref frees it. */
void rios_pipeline_ref(rios_pipeline *p);
void rios_pipeline_unref(rios_pipeline *p);

#endif
