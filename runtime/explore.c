/*
 * explore.c: what rios.open's raster objects and rios.quicklook need beyond
 * block reads: the driver and projection names, statistics (stored or
 * computed without writing anything next to the file), overviews, metadata,
 * reads from an overview or resampled to a smaller buffer, and PNG previews
 * written by GDAL's PNG driver from an in-memory dataset.
 */
#include "dtype.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Borrowed: lives as long as the driver registry. */
const char *rios_ffi_raster_driver(rios_raster *r) {
  GDALDriverH d = GDALGetDatasetDriver(rios_raster_dataset(r));
  const char *name = d ? GDALGetDriverShortName(d) : NULL;
  return name ? name : "";
}

/* "WGS 84 / UTM zone 55S (EPSG:32755)", or "" for no projection. */
int rios_ffi_projection_name(const char *wkt, rios_text *out, rios_err *err) {
  out->s[0] = '\0';
  if (!wkt || !*wkt) return RIOS_OK;
  OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
  if (!srs) {
    rios_seterr(err, "out of memory reading a projection");
    return RIOS_FAIL;
  }
  CPLErrorReset();
  if (OSRSetFromUserInput(srs, wkt) != OGRERR_NONE) {
    rios_seterr(err, "a projection GDAL cannot read: %s", rios_gdal_error());
    OSRDestroySpatialReference(srs);
    return RIOS_FAIL;
  }
  const char *name = OSRGetName(srs);
  const char *auth = OSRGetAuthorityName(srs, NULL);
  const char *code = OSRGetAuthorityCode(srs, NULL);
  if (!auth && OSRAutoIdentifyEPSG(srs) == OGRERR_NONE) {
    auth = OSRGetAuthorityName(srs, NULL);
    code = OSRGetAuthorityCode(srs, NULL);
  }
  if (auth && code) {
    snprintf(out->s, sizeof(out->s), "%s (%s:%s)", name ? name : "unnamed", auth, code);
  } else {
    snprintf(out->s, sizeof(out->s), "%s", name ? name : "unnamed");
  }
  OSRDestroySpatialReference(srs);
  return RIOS_OK;
}

/* Every pixel of a band that is neither nodata nor NaN, read a strip of rows
   at a time: min, max, mean, stddev (population) into out4. */
static int compute_stats(rios_raster *r, GDALRasterBandH b, int *found, double *out4,
                         rios_err *err) {
  int cols = GDALGetRasterBandXSize(b), rows = GDALGetRasterBandYSize(b);
  int has_nodata = 0;
  double nodata = GDALGetRasterNoDataValue(b, &has_nodata);
  /* Pixels are compared with the nodata as their dtype holds it (as GDAL's
     statistics do); one it cannot hold matches no pixel. */
  int dtype = rios_band_dtype(b);
  rios_err ignored;
  if (has_nodata && dtype >= 0 &&
      rios_ffi_dtype_nodata(dtype, nodata, &nodata, &ignored) != RIOS_OK)
    has_nodata = 0;
  int strip = 256;
  double *buf = malloc(sizeof(double) * (size_t)cols * (size_t)strip);
  if (!buf) {
    rios_seterr(err, "%s: out of memory computing statistics", rios_raster_path(r));
    return RIOS_FAIL;
  }
  double mn = INFINITY, mx = -INFINITY, shift = 0, sum = 0, sumsq = 0;
  size_t count = 0;
  for (int y = 0; y < rows; y += strip) {
    int n = rows - y < strip ? rows - y : strip;
    CPLErrorReset();
    if (GDALRasterIO(b, GF_Read, 0, y, cols, n, buf, cols, n, GDT_Float64, 0, 0) != CE_None) {
      rios_seterr(err, "%s: reading rows %d-%d for statistics failed: %s", rios_raster_path(r), y,
                y + n - 1, rios_gdal_error());
      free(buf);
      return RIOS_FAIL;
    }
    size_t m = (size_t)cols * (size_t)n;
    for (size_t i = 0; i < m; i++) {
      double v = buf[i];
      if (v != v || (has_nodata && v == nodata)) continue;
      if (count == 0) shift = v;
      double d = v - shift;
      count++;
      sum += d;
      sumsq += d * d;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
  }
  free(buf);
  *found = count > 0;
  if (count == 0) return RIOS_OK;
  double nn = (double)count;
  double var = (sumsq - sum * sum / nn) / nn;
  out4[0] = mn;
  out4[1] = mx;
  out4[2] = shift + sum / nn;
  out4[3] = var > 0 ? sqrt(var) : 0;
  return RIOS_OK;
}

/* Statistics of a band into out4 (min, max, mean, stddev); *found 0 when
   none are stored (compute = 0) or every pixel is nodata (compute = 1).
   Computing writes nothing to the file or beside it. */
int rios_ffi_raster_stats(rios_raster *r, int band, int compute, int *found, double *out4,
                          rios_err *err) {
  *found = 0;
  GDALRasterBandH b = rios_raster_band(r, band, err);
  if (!b) return RIOS_FAIL;
  if (compute) return compute_stats(r, b, found, out4, err);
  CPLPushErrorHandler(CPLQuietErrorHandler);
  CPLErr e = GDALGetRasterStatistics(b, TRUE, FALSE, &out4[0], &out4[1], &out4[2], &out4[3]);
  CPLPopErrorHandler();
  CPLErrorReset();
  *found = e == CE_None;
  return RIOS_OK;
}

/* The number of overviews of a band into *count; the first max of them
   have their cols and rows written to sizes[2i], sizes[2i+1]. */
int rios_ffi_raster_overviews(rios_raster *r, int band, int *sizes, int max, int *count,
                              rios_err *err) {
  GDALRasterBandH b = rios_raster_band(r, band, err);
  if (!b) return RIOS_FAIL;
  int n = GDALGetOverviewCount(b);
  for (int i = 0; i < n && i < max; i++) {
    GDALRasterBandH o = GDALGetOverview(b, i);
    if (!o) {
      rios_seterr(err, "%s: cannot open overview %d of band %d", rios_raster_path(r), i + 1,
                  band);
      return RIOS_FAIL;
    }
    sizes[2 * i] = GDALGetRasterBandXSize(o);
    sizes[2 * i + 1] = GDALGetRasterBandYSize(o);
  }
  *count = n;
  return RIOS_OK;
}

/* The i-th "KEY=VALUE" of the default metadata domain of the dataset (band
   0) or a band into *out, NULL past the end. Borrowed from GDAL. */
int rios_ffi_raster_metadata(rios_raster *r, int band, int i, const char **out,
                             rios_err *err) {
  char **md;
  if (band == 0) {
    md = GDALGetMetadata(rios_raster_dataset(r), NULL);
  } else {
    GDALRasterBandH b = rios_raster_band(r, band, err);
    if (!b) return RIOS_FAIL;
    md = GDALGetMetadata(b, NULL);
  }
  *out = i >= 0 && i < CSLCount(md) ? md[i] : NULL;
  return RIOS_OK;
}

/* Read window (xoff, yoff, xsize, ysize) of overview `overview` (0: the full
   resolution, n: the n-th overview) of each listed band into buf, resampled
   (nearest neighbour) to buf_cols x buf_rows. GDAL takes a smaller buffer
   from the overviews when the file has them. */
int rios_ffi_raster_read_scaled(rios_raster *r, int overview, int xoff, int yoff, int xsize,
                              int ysize, int buf_cols, int buf_rows, int nbands,
                              const int *bands, void *buf, int dtype, rios_err *err) {
  int esize = rios_ffi_dtype_size(dtype);
  const char *path = rios_raster_path(r);
  if (esize == 0 || buf_cols <= 0 || buf_rows <= 0 || nbands <= 0) {
    rios_seterr(err, "%s: bad read request (%d x %d, %d bands)", path, buf_cols, buf_rows, nbands);
    return RIOS_FAIL;
  }
  size_t plane = (size_t)buf_cols * (size_t)buf_rows * (size_t)esize;
  for (int i = 0; i < nbands; i++) {
    GDALRasterBandH b = rios_raster_band(r, bands[i], err);
    if (!b) return RIOS_FAIL;
    if (overview > 0) {
      int n = GDALGetOverviewCount(b);
      if (overview > n) {
        rios_seterr(err, "%s: band %d has no overview %d (it has %d)", path, bands[i], overview, n);
        return RIOS_FAIL;
      }
      b = GDALGetOverview(b, overview - 1);
      if (!b) {
        rios_seterr(err, "%s: cannot open overview %d of band %d", path, overview, bands[i]);
        return RIOS_FAIL;
      }
    }
    int cols = GDALGetRasterBandXSize(b), rows = GDALGetRasterBandYSize(b);
    if (xoff < 0 || yoff < 0 || xsize < 1 || ysize < 1 || xoff + xsize > cols ||
        yoff + ysize > rows) {
      rios_seterr(err, "%s: window x=%d y=%d %dx%d is not inside %s (%d cols x %d rows)", path,
                xoff, yoff, xsize, ysize, overview > 0 ? "the overview" : "the raster", cols,
                rows);
      return RIOS_FAIL;
    }
    GDALRasterIOExtraArg extra;
    INIT_RASTERIO_EXTRA_ARG(extra);
    extra.eResampleAlg = GRIORA_NearestNeighbour;
    CPLErrorReset();
    if (GDALRasterIOEx(b, GF_Read, xoff, yoff, xsize, ysize, (char *)buf + plane * (size_t)i,
                       buf_cols, buf_rows, rios_gdal_type(dtype), esize,
                       (GSpacing)esize * buf_cols, &extra) != CE_None) {
      rios_seterr(err, "%s: read of band %d failed: %s", path, bands[i], rios_gdal_error());
      return RIOS_FAIL;
    }
  }
  return RIOS_OK;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sort in place, ascending (the values must not be NaN). */
void rios_ffi_sort_doubles(double *v, size_t n) { qsort(v, n, sizeof(double), cmp_double); }

/* Write a PNG from band-major bytes: 1 band grey, 2 grey + alpha, 3 RGB,
   4 RGB + alpha. */
int rios_ffi_png_write(const char *path, const uint8_t *pixels, int nbands, int rows, int cols,
                     rios_err *err) {
  static const GDALColorInterp interp[4][4] = {
    {GCI_GrayIndex},
    {GCI_GrayIndex, GCI_AlphaBand},
    {GCI_RedBand, GCI_GreenBand, GCI_BlueBand},
    {GCI_RedBand, GCI_GreenBand, GCI_BlueBand, GCI_AlphaBand},
  };
  if (nbands < 1 || nbands > 4 || rows < 1 || cols < 1) {
    rios_seterr(err, "%s: a PNG needs 1 to 4 bands and at least one pixel", path);
    return RIOS_FAIL;
  }
  GDALDriverH mem = GDALGetDriverByName("MEM");
  GDALDriverH png = GDALGetDriverByName("PNG");
  if (!mem || !png) {
    rios_seterr(err, "%s: GDAL has no %s driver", path, mem ? "PNG" : "MEM");
    return RIOS_FAIL;
  }
  CPLErrorReset();
  GDALDatasetH ds = GDALCreate(mem, "", cols, rows, nbands, GDT_Byte, NULL);
  if (!ds) {
    rios_seterr(err, "%s: cannot make the in-memory image: %s", path, rios_gdal_error());
    return RIOS_FAIL;
  }
  int ok = GDALDatasetRasterIO(ds, GF_Write, 0, 0, cols, rows, (void *)pixels, cols, rows,
                               GDT_Byte, nbands, NULL, 1, cols,
                               (GSpacing)cols * rows) == CE_None;
  for (int b = 0; ok && b < nbands; b++) {
    ok = GDALSetRasterColorInterpretation(GDALGetRasterBand(ds, b + 1),
                                          interp[nbands - 1][b]) == CE_None;
  }
  if (!ok) {
    rios_seterr(err, "%s: cannot fill the in-memory image: %s", path, rios_gdal_error());
    GDALClose(ds);
    return RIOS_FAIL;
  }
  GDALDatasetH out = GDALCreateCopy(png, path, ds, FALSE, NULL, NULL, NULL);
  GDALClose(ds);
  if (!out) {
    rios_seterr(err, "%s: cannot write the PNG: %s", path, rios_gdal_error());
    return RIOS_FAIL;
  }
  GDALClose(out);
  return RIOS_OK;
}

/* Whether GDAL's driver of that name can create files; no such driver is a
   failure. */
/* Whether the space-separated list holds ext (case-insensitive). */
static int has_extension(const char *list, const char *ext) {
  size_t n = strlen(ext);
  for (const char *p = list; p && *p;) {
    while (*p == ' ') p++;
    const char *e = strchr(p, ' ');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && EQUALN(p, ext, n)) return 1;
    p = e;
  }
  return 0;
}

/* The raster driver GDAL's tools would pick for path's extension: of the
   drivers that write files with that extension, GTiff when it is one (the
   COG driver claims .tif too), else the first that can create files, else
   the first. *found 0 when no driver claims the extension. */
int rios_ffi_driver_for_path(const char *path, rios_text *name, int *found, int *can_create,
                             rios_err *err) {
  (void)err;
  *found = 0;
  *can_create = 0;
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  const char *dot = strrchr(base, '.');
  if (!dot || !dot[1]) return RIOS_OK;
  const char *ext = dot + 1;
  GDALDriverH best = NULL;
  int best_rank = -1;
  for (int i = 0; i < GDALGetDriverCount(); i++) {
    GDALDriverH d = GDALGetDriver(i);
    if (!GDALGetMetadataItem(d, GDAL_DCAP_RASTER, NULL)) continue;
    int create = GDALGetMetadataItem(d, GDAL_DCAP_CREATE, NULL) != NULL;
    int copy = GDALGetMetadataItem(d, GDAL_DCAP_CREATECOPY, NULL) != NULL;
    if (!create && !copy) continue;
    const char *exts = GDALGetMetadataItem(d, GDAL_DMD_EXTENSIONS, NULL);
    const char *one = GDALGetMetadataItem(d, GDAL_DMD_EXTENSION, NULL);
    if (!has_extension(exts, ext) && !(one && EQUAL(one, ext))) continue;
    int rank = EQUAL(GDALGetDriverShortName(d), "GTiff") ? 2 : create ? 1 : 0;
    if (rank > best_rank) {
      best = d;
      best_rank = rank;
    }
  }
  if (!best) return RIOS_OK;
  snprintf(name->s, sizeof(name->s), "%s", GDALGetDriverShortName(best));
  *found = 1;
  *can_create = GDALGetMetadataItem(best, GDAL_DCAP_CREATE, NULL) != NULL;
  return RIOS_OK;
}

int rios_ffi_driver_can_create(const char *name, int *can, rios_err *err) {
  GDALDriverH d = GDALGetDriverByName(name);
  if (!d) {
    rios_seterr(err, "no GDAL driver named '%s'", name);
    return RIOS_FAIL;
  }
  *can = GDALGetMetadataItem(d, GDAL_DCAP_CREATE, NULL) != NULL;
  return RIOS_OK;
}
