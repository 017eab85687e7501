/*
 * dtype.h: the eight dtypes, listed once, and the one way the runtime's C
 * does something per dtype.
 *
 * RIOS_DTYPES(X) calls X(CODE, name, T, GDT, gdal_name, integer, min, max)
 * for each dtype in code order: CODE the suffix of its enum (RIOS_CODE in
 * rios_ffi.h), name its rios name, T its C type, GDT the GDAL type holding
 * its bytes and gdal_name that type's name, integer 1 for integer types
 * with min..max their range. Every table and every switch over dtypes in
 * the runtime expands from this list (dtype.c builds the table Lua reads).
 *
 * Hot loops are written once, as plain C, in a static inline function that
 * takes the dtype as its last argument and reads elements with rios_get.
 * RIOS_DTYPE_SWITCH calls it with a constant dtype in each case, so the
 * compiler makes one loop per element type with a single typed load in it
 * (what Torch7's TH does with its generic/ include, without the include):
 *
 *   #define RIOS_DTYPE_BODY(D) sum_band(plane, n, &sum, D)
 *   RIOS_DTYPE_SWITCH(dtype)
 *   #undef RIOS_DTYPE_BODY
 */
#ifndef RIOS_DTYPE_H
#define RIOS_DTYPE_H

#include "rios_ffi.h"

#include <gdal.h>
#include <stddef.h>
#include <stdint.h>

/* GDAL before 3.7 has no GDT_Int8: int8 is Byte with PIXELTYPE=SIGNEDBYTE. */
#if GDAL_VERSION_NUM >= 3070000
#define RIOS_HAVE_GDT_INT8 1
#define RIOS_GDT_INT8 GDT_Int8
#define RIOS_GDT_INT8_NAME "Int8"
#else
#define RIOS_HAVE_GDT_INT8 0
#define RIOS_GDT_INT8 GDT_Byte
#define RIOS_GDT_INT8_NAME "Byte"
#endif

#define RIOS_DTYPES(X)                                                              \
  X(INT8, int8, int8_t, RIOS_GDT_INT8, RIOS_GDT_INT8_NAME, 1, INT8_MIN, INT8_MAX)   \
  X(UINT8, uint8, uint8_t, GDT_Byte, "Byte", 1, 0, UINT8_MAX)                       \
  X(INT16, int16, int16_t, GDT_Int16, "Int16", 1, INT16_MIN, INT16_MAX)             \
  X(UINT16, uint16, uint16_t, GDT_UInt16, "UInt16", 1, 0, UINT16_MAX)               \
  X(INT32, int32, int32_t, GDT_Int32, "Int32", 1, INT32_MIN, INT32_MAX)             \
  X(UINT32, uint32, uint32_t, GDT_UInt32, "UInt32", 1, 0, UINT32_MAX)               \
  X(FLOAT32, float32, float, GDT_Float32, "Float32", 0, 0, 0)                       \
  X(FLOAT64, float64, double, GDT_Float64, "Float64", 0, 0, 0)

/* switch (dtype) { case RIOS_INT8: RIOS_DTYPE_BODY(RIOS_INT8); break; ... }
   with the caller's RIOS_DTYPE_BODY(D); an unknown dtype does nothing. */
#define RIOS_DTYPE_CASE_(CODE, ...) case RIOS_##CODE: RIOS_DTYPE_BODY(RIOS_##CODE); break;
#define RIOS_DTYPE_SWITCH(dtype) \
  switch (dtype) { RIOS_DTYPES(RIOS_DTYPE_CASE_) default: break; }

/* For the per-dtype loops: inlined even at -O1 (the sanitizer builds), so
   the dtype is a constant inside them. */
#define RIOS_INLINE static inline __attribute__((always_inline))

/* Element i of a buffer of dtype elements, as a double. Inlined with a
   constant dtype it is one typed load. */
RIOS_INLINE double rios_get(const void *p, size_t i, int dtype) {
#define RIOS_GET_(CODE, name, T, ...) case RIOS_##CODE: return (double)((const T *)p)[i];
  switch (dtype) { RIOS_DTYPES(RIOS_GET_) default: return 0; }
#undef RIOS_GET_
}

/* Element i as a whole number (for integer dtypes: exact). */
RIOS_INLINE int64_t rios_get_int(const void *p, size_t i, int dtype) {
#define RIOS_GET_INT_(CODE, name, T, ...) case RIOS_##CODE: return (int64_t)((const T *)p)[i];
  switch (dtype) { RIOS_DTYPES(RIOS_GET_INT_) default: return 0; }
#undef RIOS_GET_INT_
}

/* Bytes per element (0 for an unknown dtype); constant for a constant dtype. */
RIOS_INLINE int rios_dtype_bytes(int dtype) {
#define RIOS_BYTES_(CODE, name, T, ...) case RIOS_##CODE: return (int)sizeof(T);
  switch (dtype) { RIOS_DTYPES(RIOS_BYTES_) default: return 0; }
#undef RIOS_BYTES_
}

/* The rios name of a dtype ("?" for an unknown one). */
const char *rios_dtype_name(int dtype);
/* Whether a dtype is an integer type. */
int rios_dtype_is_integer(int dtype);
/* The GDAL type that holds a dtype's bytes in memory (GDT_Unknown if none). */
GDALDataType rios_gdal_type(int dtype);
/* The dtype of a band, or -1 if rios has no array type for it. */
int rios_band_dtype(GDALRasterBandH band);
/* Store v into element i of a typed buffer, clamped to an integer type's
   range (NaN stores 0 there). */
void rios_store_value(void *buf, size_t i, int dtype, double v);

#endif
