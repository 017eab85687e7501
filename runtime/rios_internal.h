/* rios_internal.h: helpers shared by the runtime's C files, not seen by Lua. */
#ifndef RIOS_INTERNAL_H
#define RIOS_INTERNAL_H

#include <gdal.h>
#include <stdarg.h>
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
