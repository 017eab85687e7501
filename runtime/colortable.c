/*
 * colortable.c: a band's colour table (GDAL's palette), read and written on
 * an open dataset (bandtables.h, for the output side too) and, through the
 * FFI, on a file opened by path or a rios_raster. Setting a table makes the
 * band's colour interpretation Palette, so viewers (QGIS, gdalinfo) show
 * the classes in their colours.
 */
#include "bandtables.h"
#include "dtype.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_error.h>
#include <gdal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static GDALRasterBandH band_or_fail(GDALDatasetH ds, int bandno, const char *label,
                                    rios_err *err) {
  int n = GDALGetRasterCount(ds);
  if (bandno < 1 || bandno > n) {
    rios_seterr(err, "%s: has no band %d (it has %d)", label, bandno, n);
    return NULL;
  }
  return GDALGetRasterBand(ds, bandno);
}

/* The largest pixel value a band of this dtype can hold, for the integer
   dtypes a palette can index (none negative); -1 for the others. */
static double largest_index(int dtype) {
  switch (dtype) {
    case RIOS_UINT8: return 255;
    case RIOS_UINT16: return 65535;
    case RIOS_INT16: return 32767;
    case RIOS_UINT32: case RIOS_INT32: return 2147483647.0;
    default: return -1;
  }
}

static int is_tiff(const char *driver) {
  return driver && (strcmp(driver, "GTiff") == 0 || strcmp(driver, "COG") == 0);
}

/* Whether a band of type t in a file of nbands bands written by driver can
   hold these n entries; the message (without the file) says why not. */
static int check_table(const char *driver, int dtype, int nbands, int n, const uint8_t *rgba,
                       rios_err *err) {
  double top = largest_index(dtype);
  if (top < 0) {
    rios_seterr(err, "a colour table needs a band of pixel values 0 and up (uint8, uint16, "
                "int16, uint32 or int32), not %s",
                dtype < 0 ? "this type" : rios_dtype_name(dtype));
    return RIOS_FAIL;
  }
  if (n < 1 || (double)(n - 1) > top) {
    rios_seterr(err, "a %s band cannot have a colour table of %d entries (values 0 to %.0f)",
                rios_dtype_name(dtype), n, top);
    return RIOS_FAIL;
  }
  if (is_tiff(driver)) {
    if (dtype != RIOS_UINT8 && dtype != RIOS_UINT16) {
      rios_seterr(err, "a GeoTIFF keeps a colour table only in a uint8 or uint16 band, not %s "
                  "(use the HFA driver, or astype first)", rios_dtype_name(dtype));
      return RIOS_FAIL;
    }
    if (nbands != 1) {
      rios_seterr(err, "a GeoTIFF keeps a colour table only in a single-band file, not one of "
                  "%d bands", nbands);
      return RIOS_FAIL;
    }
    /* TIFF palettes are RGB: GDAL reads every entry back opaque. Entries
       left empty (0, 0, 0, 0) are the only ones let through. */
    for (int i = 0; i < n; i++) {
      const uint8_t *e = rgba + 4 * i;
      if (e[3] != 255 && (e[0] || e[1] || e[2] || e[3])) {
        rios_seterr(err, "a GeoTIFF palette keeps no alpha, and entry %d has alpha %d (make "
                    "that value the nodata value, or use the HFA driver)", i, e[3]);
        return RIOS_FAIL;
      }
    }
  }
  return RIOS_OK;
}

int rios_ffi_color_table_check(const char *driver, int dtype, int nbands, int n,
                               const uint8_t *rgba, rios_err *err) {
  return check_table(driver, dtype, nbands, n, rgba, err);
}

int rios_band_set_color_table(GDALDatasetH ds, int bandno, const char *label, int n,
                              const uint8_t *rgba, rios_err *err) {
  GDALRasterBandH band = band_or_fail(ds, bandno, label, err);
  if (!band) return RIOS_FAIL;
  GDALDriverH drv = GDALGetDatasetDriver(ds);
  if (check_table(drv ? GDALGetDriverShortName(drv) : NULL, rios_band_dtype(band),
                  GDALGetRasterCount(ds), n, rgba, err) != RIOS_OK) {
    char why[sizeof(err->msg)];
    snprintf(why, sizeof(why), "%s", err->msg);
    rios_seterr(err, "%s: band %d: %s", label, bandno, why);
    return RIOS_FAIL;
  }
  GDALColorTableH ct = GDALCreateColorTable(GPI_RGB);
  if (!ct) {
    rios_seterr(err, "%s: out of memory for a colour table", label);
    return RIOS_FAIL;
  }
  for (int i = 0; i < n; i++) {
    GDALColorEntry e = {rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2], rgba[4 * i + 3]};
    GDALSetColorEntry(ct, i, &e);
  }
  CPLErrorReset();
  CPLErr e = GDALSetRasterColorTable(band, ct);
  GDALDestroyColorTable(ct);
  if (e != CE_None) {
    rios_seterr(err, "%s: cannot set the colour table of band %d: %s", label, bandno,
                rios_gdal_error());
    return RIOS_FAIL;
  }
  /* Most drivers (GTiff, HFA) already report Palette once a table is set;
     others are told. A driver that refuses leaves an interpretation that is
     not Palette, which is the error. */
  if (GDALGetRasterColorInterpretation(band) != GCI_PaletteIndex) {
    CPLPushErrorHandler(CPLQuietErrorHandler);
    GDALSetRasterColorInterpretation(band, GCI_PaletteIndex);
    CPLPopErrorHandler();
    if (GDALGetRasterColorInterpretation(band) != GCI_PaletteIndex) {
      rios_seterr(err, "%s: band %d keeps the colour interpretation %s with its colour table",
                  label, bandno,
                  GDALGetColorInterpretationName(GDALGetRasterColorInterpretation(band)));
      return RIOS_FAIL;
    }
  }
  return RIOS_OK;
}

int rios_band_get_color_table(GDALDatasetH ds, int bandno, const char *label, int max,
                              uint8_t *rgba, int *count, rios_err *err) {
  GDALRasterBandH band = band_or_fail(ds, bandno, label, err);
  if (!band) return RIOS_FAIL;
  GDALColorTableH ct = GDALGetRasterColorTable(band);
  *count = ct ? GDALGetColorEntryCount(ct) : 0;
  for (int i = 0; i < *count && i < max; i++) {
    GDALColorEntry e;
    if (!GDALGetColorEntryAsRGB(ct, i, &e)) {
      rios_seterr(err, "%s: band %d: colour table entry %d cannot be read as RGB", label, bandno,
                  i);
      return RIOS_FAIL;
    }
    rgba[4 * i] = (uint8_t)e.c1;
    rgba[4 * i + 1] = (uint8_t)e.c2;
    rgba[4 * i + 2] = (uint8_t)e.c3;
    rgba[4 * i + 3] = (uint8_t)e.c4;
  }
  return RIOS_OK;
}

/* Shared with rat.c (bandtables.h): open a file for update, and close a
   dataset reporting what GDAL said went wrong while it wrote. */
GDALDatasetH rios_open_update(const char *path, rios_err *err) {
  CPLErrorReset();
  GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_UPDATE | GDAL_OF_VERBOSE_ERROR,
                               NULL, NULL, NULL);
  if (!ds) rios_seterr(err, "%s: cannot open for update: %s", path, rios_gdal_error());
  return ds;
}

int rios_close_checked(GDALDatasetH ds, const char *label, rios_err *err) {
  CPLErrorReset();
  GDALClose(ds);
  if (CPLGetLastErrorType() == CE_Failure || CPLGetLastErrorType() == CE_Fatal) {
    rios_seterr(err, "%s: writing the file on close failed: %s", label, rios_gdal_error());
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

int rios_ffi_color_table_write(const char *path, int band, int n, const uint8_t *rgba,
                               rios_err *err) {
  GDALDatasetH ds = rios_open_update(path, err);
  if (!ds) return RIOS_FAIL;
  if (rios_band_set_color_table(ds, band, path, n, rgba, err) != RIOS_OK) {
    GDALClose(ds);
    return RIOS_FAIL;
  }
  return rios_close_checked(ds, path, err);
}

int rios_ffi_raster_color_table(rios_raster *r, int band, int max, uint8_t *rgba, int *count,
                                rios_err *err) {
  return rios_band_get_color_table(rios_raster_dataset(r), band, rios_raster_path(r), max, rgba,
                                   count, err);
}
