/* rios_internal.h: helpers shared by the runtime's C files, not seen by Lua. */
#ifndef RIOS_INTERNAL_H
#define RIOS_INTERNAL_H

#include <stdarg.h>
#include "rios_ffi.h"

#if defined(__GNUC__)
#define RIOS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RIOS_PRINTF(a, b)
/* A kind of worker that keeps pointers to a pipeline holds a reference
   (runtime/pipeline.c); the last unref frees it. */
void rios_pipeline_ref(rios_pipeline *p);
void rios_pipeline_unref(rios_pipeline *p);

#endif

void rios_seterr(rios_err *err, const char *fmt, ...) RIOS_PRINTF(2, 3);
const char *rios_dtype_name(int dtype);
/* Whether [p, p + nbytes) lies in memory the arena has handed out. */
int rios_arena_owns(const rios_arena *a, const void *p, size_t nbytes);

/* A kind of worker that keeps pointers to a pipeline holds a reference
   (runtime/pipeline.c); the last unref frees it. */
void rios_pipeline_ref(rios_pipeline *p);
void rios_pipeline_unref(rios_pipeline *p);

#endif
