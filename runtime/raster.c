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

int rios_ffi_raster_open(const char *path, rios_raster **out, rios_err *err) {
  CPLErrorReset();
  GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR,
                               NULL, NULL, NULL);
  if (!ds) {
    rios_seterr(err, "%s: cannot open as a raster: %s", path, rios_gdal_error());
    return RIOS_FAIL;
  }
  int nbands = GDALGetRasterCount(ds);
  if (nbands < 1) {
    rios_seterr(err, "%s: has no raster bands", path);
    GDALClose(ds);
    return RIOS_FAIL;
  }
  int dtype = rios_band_dtype(GDALGetRasterBand(ds, 1));
  for (int b = 1; b <= nbands; b++) {
    GDALRasterBandH band = GDALGetRasterBand(ds, b);
    int bt = rios_band_dtype(band);
    if (bt < 0) {
      rios_seterr(err, "%s: band %d has data type %s, which rios arrays cannot hold",
                path, b, GDALGetDataTypeName(GDALGetRasterDataType(band)));
      GDALClose(ds);
      return RIOS_FAIL;
    }
    if (bt != dtype) {
      rios_seterr(err, "%s: band %d is %s but band 1 is %s; rios needs one data type per file",
                path, b, rios_dtype_name(bt), rios_dtype_name(dtype));
      GDALClose(ds);
      return RIOS_FAIL;
    }
  }
  rios_raster *r = calloc(1, sizeof(*r));
  char *p = strdup(path);
  if (!r || !p) {
    free(r);
    free(p);
    GDALClose(ds);
    rios_seterr(err, "%s: out of memory", path);
    return RIOS_FAIL;
  }
  r->ds = ds;
  r->path = p;
  r->xsize = GDALGetRasterXSize(ds);
  r->ysize = GDALGetRasterYSize(ds);
  r->nbands = nbands;
  r->dtype = dtype;
  *out = r;
  return RIOS_OK;
}

/* Messages name r by its path; a dataset opened from VRT text is named by
   the file it stands for instead. */
int rios_ffi_raster_set_label(rios_raster *r, const char *label, rios_err *err) {
  char *p = strdup(label);
  if (!p) {
    rios_seterr(err, "%s: out of memory", label);
    return RIOS_FAIL;
  }
  free(r->path);
  r->path = p;
  return RIOS_OK;
}

void rios_ffi_raster_close(rios_raster *r) {
  if (!r) return;
  if (r->ds) GDALClose(r->ds);
  free(r->path);
  free(r);
}

void rios_ffi_raster_info(rios_raster *r, rios_raster_info *out) {
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
}

const char *rios_ffi_raster_projection(rios_raster *r) {
  const char *wkt = GDALGetProjectionRef(r->ds);
  return wkt ? wkt : "";
}

GDALRasterBandH rios_raster_band(rios_raster *r, int band, rios_err *err) {
  GDALRasterBandH b = band >= 1 && band <= r->nbands ? GDALGetRasterBand(r->ds, band) : NULL;
  if (!b) rios_seterr(err, "%s: has no band %d (it has %d)", r->path, band, r->nbands);
  return b;
}

int rios_ffi_raster_nodata(rios_raster *r, int band, int *has, double *value, rios_err *err) {
  GDALRasterBandH b = rios_raster_band(r, band, err);
  if (!b) return RIOS_FAIL;
  int set = 0;
  double v = GDALGetRasterNoDataValue(b, &set);
  *has = set ? 1 : 0;
  *value = set ? v : 0;
  return RIOS_OK;
}

int rios_ffi_raster_band_description(rios_raster *r, int band, const char **out,
                                     rios_err *err) {
  GDALRasterBandH b = rios_raster_band(r, band, err);
  if (!b) return RIOS_FAIL;
  const char *d = GDALGetDescription(b);
  *out = d ? d : "";
  return RIOS_OK;
}

int rios_ffi_raster_read(rios_raster *r, int xoff, int yoff, int xsize, int ysize,
                       int nbands, const int *bands, void *buf, int dtype,
                       rios_err *err) {
  int esize = rios_ffi_dtype_size(dtype);
  if (esize == 0 || xsize <= 0 || ysize <= 0 || nbands <= 0) {
    rios_seterr(err, "%s: bad read request (%d x %d, %d bands)", r->path, xsize, ysize, nbands);
    return RIOS_FAIL;
  }
  size_t plane = (size_t)xsize * (size_t)ysize;
  int x0 = xoff < 0 ? 0 : xoff, y0 = yoff < 0 ? 0 : yoff;
  int x1 = xoff + xsize > r->xsize ? r->xsize : xoff + xsize;
  int y1 = yoff + ysize > r->ysize ? r->ysize : yoff + ysize;
  int inside = (x0 == xoff && y0 == yoff && x1 == xoff + xsize && y1 == yoff + ysize);
  for (int b = 0; b < nbands; b++) {
    int bandno = bands ? bands[b] : b + 1;
    if (bandno < 1 || bandno > r->nbands) {
      rios_seterr(err, "%s: has no band %d (it has %d)", r->path, bandno, r->nbands);
      return RIOS_FAIL;
    }
  }
  if (!inside) {
    for (int b = 0; b < nbands; b++) {
      int bandno = bands ? bands[b] : b + 1;
      int has = 0;
      double fill = 0;
      if (rios_ffi_raster_nodata(r, bandno, &has, &fill, err) != RIOS_OK) return RIOS_FAIL;
      unsigned char *p = (unsigned char *)buf + (size_t)b * plane * (size_t)esize;
      if (fill == 0) {
        memset(p, 0, plane * (size_t)esize);
      } else {
        for (size_t i = 0; i < plane; i++) rios_store_value(p, i, dtype, fill);
      }
    }
  }
  if (x1 <= x0 || y1 <= y0) return RIOS_OK;
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
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

/* Two texts are the same projection when they are equal or GDAL reads
   both and finds them the same; a text GDAL cannot read (or an empty one)
   is the same only as itself. */
int rios_ffi_same_projection(const char *wkt_a, const char *wkt_b, int *same, rios_err *err) {
  *same = strcmp(wkt_a, wkt_b) == 0;
  if (*same || !*wkt_a || !*wkt_b) return RIOS_OK;
  OGRSpatialReferenceH a = OSRNewSpatialReference(NULL);
  OGRSpatialReferenceH b = OSRNewSpatialReference(NULL);
  int rc = RIOS_OK;
  if (!a || !b) {
    rios_seterr(err, "out of memory comparing projections");
    rc = RIOS_FAIL;
  } else if (OSRSetFromUserInput(a, wkt_a) == OGRERR_NONE &&
             OSRSetFromUserInput(b, wkt_b) == OGRERR_NONE) {
    *same = OSRIsSame(a, b) ? 1 : 0;
  }
  if (a) OSRDestroySpatialReference(a);
  if (b) OSRDestroySpatialReference(b);
  return rc;
}

int rios_ffi_wkt_from_user_input(const char *text, char **out, rios_err *err) {
  OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
  if (!srs) {
    rios_seterr(err, "out of memory");
    return RIOS_FAIL;
  }
  char *wkt = NULL;
  if (OSRSetFromUserInput(srs, text) != OGRERR_NONE || OSRExportToWkt(srs, &wkt) != OGRERR_NONE) {
    rios_seterr(err, "not a projection GDAL understands: %s", text);
    OSRDestroySpatialReference(srs);
    if (wkt) CPLFree(wkt);
    return RIOS_FAIL;
  }
  OSRDestroySpatialReference(srs);
  int rc = rios_heap_strdup(wkt, out, err);
  CPLFree(wkt);
  return rc;
}

/* For the other runtime files that describe an open raster (explore.c). */
GDALDatasetH rios_raster_dataset(rios_raster *r) { return r->ds; }
const char *rios_raster_path(rios_raster *r) { return r->path; }
