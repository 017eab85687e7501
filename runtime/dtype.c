/*
 * dtype.c: the dtype table, built from the one list in dtype.h: names,
 * sizes, C types and GDAL types, for C and (through rios_ffi_dtypes) for
 * Lua, which reads it once when rios.base loads.
 */
#include "dtype.h"
#include "rios_ffi.h"

#include "rios_internal.h"

#include <float.h>
#include <gdal.h>
#include <math.h>
#include <string.h>

static const rios_dtype_info dtype_table[RIOS_NDTYPES] = {
#define RIOS_ROW_(CODE, name, T, GDT, gdal_name, integer, min, max) \
  [RIOS_##CODE] = {#name, #T, gdal_name, (int)sizeof(T), integer},
  RIOS_DTYPES(RIOS_ROW_)
#undef RIOS_ROW_
};

/* The list in dtype.h covers every code (designated rows: order is free). */
#define RIOS_COUNT_(...) +1
_Static_assert(0 RIOS_DTYPES(RIOS_COUNT_) == RIOS_NDTYPES, "dtype.h lists every dtype");
#undef RIOS_COUNT_

const rios_dtype_info *rios_ffi_dtypes(void) { return dtype_table; }

int rios_ffi_dtype_size(int dtype) { return rios_dtype_bytes(dtype); }

const char *rios_dtype_name(int dtype) {
  return (dtype >= 0 && dtype < RIOS_NDTYPES) ? dtype_table[dtype].name : "?";
}

int rios_dtype_is_integer(int dtype) {
  return (dtype >= 0 && dtype < RIOS_NDTYPES) ? dtype_table[dtype].is_integer : 0;
}

GDALDataType rios_gdal_type(int dtype) {
#define RIOS_GDT_(CODE, name, T, GDT, ...) case RIOS_##CODE: return GDT;
  switch (dtype) { RIOS_DTYPES(RIOS_GDT_) default: return GDT_Unknown; }
#undef RIOS_GDT_
}

int rios_band_dtype(GDALRasterBandH band) {
  GDALDataType t = GDALGetRasterDataType(band);
  if (t == GDT_Byte) {
    const char *pt = GDALGetMetadataItem(band, "PIXELTYPE", "IMAGE_STRUCTURE");
    return (pt && strcmp(pt, "SIGNEDBYTE") == 0) ? RIOS_INT8 : RIOS_UINT8;
  }
  for (int d = 0; d < RIOS_NDTYPES; d++)
    if (rios_gdal_type(d) == t) return d;
  return -1;
}

void rios_store_value(void *buf, size_t i, int dtype, double v) {
#define RIOS_STORE_(CODE, name, T, GDT, gdal_name, integer, min, max)              \
  case RIOS_##CODE:                                                               \
    ((T *)buf)[i] = !(integer) ? (T)v                                             \
                    : (T)(isnan(v) ? 0 : v < (double)(min) ? (min)                \
                          : v > (double)(max) ? (max) : v);                       \
    break;
  switch (dtype) { RIOS_DTYPES(RIOS_STORE_) default: break; }
#undef RIOS_STORE_
}

/* Pixels are compared with the nodata value as their dtype stores it, as
   GDAL's own statistics do (float32 data against (float)nodata): 0.52 in
   a float32 raster is 0.519999980926513671875. A value the dtype cannot
   hold matches no pixel; GDAL would store it clamped or rounded, so it is
   refused where it is given as an output's nodata. */
int rios_ffi_dtype_nodata(int dtype, double nodata, double *stored, rios_err *err) {
  if (dtype < 0 || dtype >= RIOS_NDTYPES) {
    rios_seterr(err, "no dtype %d", dtype);
    return RIOS_FAIL;
  }
  const char *name = dtype_table[dtype].name;
  if (dtype_table[dtype].is_integer) {
    double lo = 0, hi = 0;
#define RIOS_RANGE_(CODE, n, T, GDT, gdal_name, integer, min, max) \
  case RIOS_##CODE: lo = (double)(min); hi = (double)(max); break;
    switch (dtype) { RIOS_DTYPES(RIOS_RANGE_) default: break; }
#undef RIOS_RANGE_
    if (isnan(nodata)) {
      rios_seterr(err, "NaN cannot be stored in %s (an integer type has no NaN)", name);
      return RIOS_FAIL;
    }
    if (nodata < lo || nodata > hi) {
      rios_seterr(err, "%.15g is outside the range of %s (%.0f to %.0f)", nodata, name, lo, hi);
      return RIOS_FAIL;
    }
    if (nodata != floor(nodata)) {
      rios_seterr(err, "%.15g is not a whole number (%s holds whole numbers only)", nodata, name);
      return RIOS_FAIL;
    }
    *stored = nodata;
    return RIOS_OK;
  }
  if (dtype == RIOS_FLOAT32 && isfinite(nodata)) {
    if (fabs(nodata) > FLT_MAX) {
      rios_seterr(err, "%.15g is beyond the range of float32 (largest %.9g)", nodata,
                  (double)FLT_MAX);
      return RIOS_FAIL;
    }
    *stored = (double)(float)nodata;
    return RIOS_OK;
  }
  *stored = nodata;
  return RIOS_OK;
}
