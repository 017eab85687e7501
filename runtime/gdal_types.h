/* gdal_types.h: mapping between rios dtypes and GDAL data types. */
#ifndef RIOS_GDAL_TYPES_H
#define RIOS_GDAL_TYPES_H

#include <gdal.h>

/* GDAL before 3.7 has no GDT_Int8: int8 is Byte with PIXELTYPE=SIGNEDBYTE. */
#if GDAL_VERSION_NUM >= 3070000
#define RIOS_HAVE_GDT_INT8 1
#else
#define RIOS_HAVE_GDT_INT8 0
#endif

/* The GDAL type that holds a dtype's bytes in memory. */
GDALDataType rios_gdal_type(int dtype);
/* The dtype of a band, or -1 if rios has no array type for it. */
int rios_band_dtype(GDALRasterBandH band);
/* Store v into element i of a typed buffer, clamped to the type's range. */
void rios_store_value(void *buf, size_t i, int dtype, double v);
/* The dataset and path of an open rios_raster (borrowed). */
struct rios_raster;
GDALDatasetH rios_raster_dataset(struct rios_raster *r);
const char *rios_raster_path(struct rios_raster *r);

#endif
