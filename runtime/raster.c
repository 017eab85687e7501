/*
 * raster.c: input rasters. Opens a file read-only, reports its grid, and
 * reads windows straight into runtime-owned buffers. A window may reach past
 * the raster's edge (overlap margins, union footprints); that part is filled
 * with the band's nodata value, else 0.
 */
#include "dtype.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rios_raster {
  GDALDatasetH ds;
  char *path;
  int xsize, ysize, nbands, dtype;
};

rios_raster *rios_ffi_raster_open(const char *path, rios_err *err) {
  CPLErrorReset();
  GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR,
                               NULL, NULL, NULL);
  if (!ds) {
    rios_seterr(err, "%s: cannot open as a raster: %s", path, rios_gdal_error());
    return NULL;
  }
  int nbands = GDALGetRasterCount(ds);
  if (nbands < 1) {
    rios_seterr(err, "%s: has no raster bands", path);
    GDALClose(ds);
    return NULL;
  }
  int dtype = rios_band_dtype(GDALGetRasterBand(ds, 1));
  for (int b = 1; b <= nbands; b++) {
    GDALRasterBandH band = GDALGetRasterBand(ds, b);
    int bt = rios_band_dtype(band);
    if (bt < 0) {
      rios_seterr(err, "%s: band %d has data type %s, which rios arrays cannot hold",
                path, b, GDALGetDataTypeName(GDALGetRasterDataType(band)));
      GDALClose(ds);
      return NULL;
    }
    if (bt != dtype) {
      rios_seterr(err, "%s: band %d is %s but band 1 is %s; rios needs one data type per file",
                path, b, rios_dtype_name(bt), rios_dtype_name(dtype));
      GDALClose(ds);
      return NULL;
    }
  }
  rios_raster *r = calloc(1, sizeof(*r));
  char *p = strdup(path);
  if (!r || !p) {
    free(r);
    free(p);
    GDALClose(ds);
    rios_seterr(err, "%s: out of memory", path);
    return NULL;
  }
  r->ds = ds;
  r->path = p;
  r->xsize = GDALGetRasterXSize(ds);
  r->ysize = GDALGetRasterYSize(ds);
  r->nbands = nbands;
  r->dtype = dtype;
  return r;
}

/* Messages name r by its path; a dataset opened from VRT text is named by
   the file it stands for instead. */
int rios_ffi_raster_set_label(rios_raster *r, const char *label, rios_err *err) {
  char *p = strdup(label);
  if (!p) {
    rios_seterr(err, "%s: out of memory", label);
    return -1;
  }
  free(r->path);
  r->path = p;
  return 0;
}

void rios_ffi_raster_close(rios_raster *r) {
  if (!r) return;
  if (r->ds) GDALClose(r->ds);
  free(r->path);
  free(r);
}

int rios_ffi_raster_info(rios_raster *r, rios_raster_info *out, rios_err *err) {
  out->xsize = r->xsize;
  out->ysize = r->ysize;
  out->nbands = r->nbands;
  out->dtype = r->dtype;
  out->is_vector = 0;
  if (GDALGetGeoTransform(r->ds, out->transform) != CE_None) {
    /* GDAL's default: pixel coordinates, north up. */
    double def[6] = {0, 1, 0, 0, 0, 1};
    memcpy(out->transform, def, sizeof(def));
  }
  (void)err;
  return 0;
}

const char *rios_ffi_raster_projection(rios_raster *r) {
  const char *wkt = GDALGetProjectionRef(r->ds);
  return wkt ? wkt : "";
}

int rios_ffi_raster_nodata(rios_raster *r, int band, double *out) {
  if (band < 1 || band > r->nbands) return 0;
  int has = 0;
  double v = GDALGetRasterNoDataValue(GDALGetRasterBand(r->ds, band), &has);
  if (has) *out = v;
  return has ? 1 : 0;
}

const char *rios_ffi_raster_band_description(rios_raster *r, int band) {
  if (band < 1 || band > r->nbands) return "";
  const char *d = GDALGetDescription(GDALGetRasterBand(r->ds, band));
  return d ? d : "";
}

int rios_ffi_raster_read(rios_raster *r, int xoff, int yoff, int xsize, int ysize,
                       int nbands, const int *bands, void *buf, int dtype,
                       rios_err *err) {
  int esize = rios_ffi_dtype_size(dtype);
  if (esize == 0 || xsize <= 0 || ysize <= 0 || nbands <= 0) {
    rios_seterr(err, "%s: bad read request (%d x %d, %d bands)", r->path, xsize, ysize, nbands);
    return -1;
  }
  size_t plane = (size_t)xsize * (size_t)ysize;
  int x0 = xoff < 0 ? 0 : xoff, y0 = yoff < 0 ? 0 : yoff;
  int x1 = xoff + xsize > r->xsize ? r->xsize : xoff + xsize;
  int y1 = yoff + ysize > r->ysize ? r->ysize : yoff + ysize;
  int inside = (x0 == xoff && y0 == yoff && x1 == xoff + xsize && y1 == yoff + ysize);
  if (!inside) {
    for (int b = 0; b < nbands; b++) {
      int bandno = bands ? bands[b] : b + 1;
      double fill = 0;
      if (!rios_ffi_raster_nodata(r, bandno, &fill)) fill = 0;
      unsigned char *p = (unsigned char *)buf + (size_t)b * plane * (size_t)esize;
      if (fill == 0) {
        memset(p, 0, plane * (size_t)esize);
      } else {
        for (size_t i = 0; i < plane; i++) rios_store_value(p, i, dtype, fill);
      }
    }
  }
  if (x1 <= x0 || y1 <= y0) return 0;
  for (int b = 0; b < nbands; b++) {
    int bandno = bands ? bands[b] : b + 1;
    if (bandno < 1 || bandno > r->nbands) {
      rios_seterr(err, "%s: has no band %d (it has %d)", r->path, bandno, r->nbands);
      return -1;
    }
  }
  unsigned char *start = (unsigned char *)buf +
      ((size_t)(y0 - yoff) * (size_t)xsize + (size_t)(x0 - xoff)) * (size_t)esize;
  CPLErrorReset();
  CPLErr e = GDALDatasetRasterIO(r->ds, GF_Read, x0, y0, x1 - x0, y1 - y0, start,
                                 x1 - x0, y1 - y0, rios_gdal_type(dtype), nbands,
                                 (int *)bands, esize, (GSpacing)xsize * esize,
                                 (GSpacing)plane * esize);
  if (e != CE_None) {
    rios_seterr(err, "%s: read of window x=%d y=%d %dx%d failed: %s", r->path, x0, y0,
              x1 - x0, y1 - y0, rios_gdal_error());
    return -1;
  }
  return 0;
}

int rios_ffi_same_projection(const char *wkt_a, const char *wkt_b) {
  if (strcmp(wkt_a, wkt_b) == 0) return 1;
  if (!*wkt_a || !*wkt_b) return 0;
  OGRSpatialReferenceH a = OSRNewSpatialReference(NULL);
  OGRSpatialReferenceH b = OSRNewSpatialReference(NULL);
  int same = 0;
  if (a && b && OSRSetFromUserInput(a, wkt_a) == OGRERR_NONE &&
      OSRSetFromUserInput(b, wkt_b) == OGRERR_NONE) {
    same = OSRIsSame(a, b) ? 1 : 0;
  }
  if (a) OSRDestroySpatialReference(a);
  if (b) OSRDestroySpatialReference(b);
  return same;
}

/* WKT for "EPSG:n", a WKT string or anything OSRSetFromUserInput takes.
   Owned: release with rios_ffi_heap_free. */
char *rios_ffi_wkt_from_user_input(const char *text, rios_err *err) {
  OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
  if (!srs) {
    rios_seterr(err, "out of memory");
    return NULL;
  }
  char *wkt = NULL;
  if (OSRSetFromUserInput(srs, text) != OGRERR_NONE || OSRExportToWkt(srs, &wkt) != OGRERR_NONE) {
    rios_seterr(err, "not a projection GDAL understands: %s", text);
    OSRDestroySpatialReference(srs);
    if (wkt) CPLFree(wkt);
    return NULL;
  }
  OSRDestroySpatialReference(srs);
  size_t n = strlen(wkt) + 1;
  char *out = rios_ffi_heap_alloc(n, err);
  if (out) memcpy(out, wkt, n);
  CPLFree(wkt);
  return out;
}

/* For the other runtime files that describe an open raster (explore.c). */
GDALDatasetH rios_raster_dataset(rios_raster *r) { return r->ds; }
const char *rios_raster_path(rios_raster *r) { return r->path; }
