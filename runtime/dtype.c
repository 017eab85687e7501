/*
 * dtype.c: the dtype table, built from the one list in dtype.h: names,
 * sizes, C types and GDAL types, for C and (through rios_ffi_dtypes) for
 * Lua, which reads it once when rios.base loads.
 */
#include "dtype.h"
#include "rios_ffi.h"

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
