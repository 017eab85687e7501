/*
 * warp.c: putting inputs onto the working grid. Warped VRTs built with
 * GDALWarp (the code path of gdalwarp itself, so a warped input equals what
 * gdalwarp makes for the same target grid), rasterizing vectors with
 * GDALRasterize (as gdal_rasterize), extents carried between projections,
 * and the layer names of vector sources.
 *
 * A warped VRT is returned as its XML text: GDAL opens that text as a
 * dataset name, so any thread can open its own handle on it and nothing is
 * written to disk.
 */
#include "dtype.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_utils.h>
#include <math.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>

/* Open src read-only as a raster or vector (kind: GDAL_OF_RASTER or
   GDAL_OF_VECTOR), with GDAL's reason in the message when it cannot. */
static GDALDatasetH open_source(const char *src, unsigned kind, const char *what,
                                rios_err *err) {
  CPLErrorReset();
  GDALDatasetH ds = GDALOpenEx(src, kind | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, NULL,
                               NULL, NULL);
  if (!ds) rios_seterr(err, "%s: %s", what, rios_gdal_error());
  return ds;
}

/* The XML text of an in-memory VRT into *out, owned (rios_ffi_heap_free). */
static int vrt_text(GDALDatasetH vrt, char **out, rios_err *err) {
  char **xml = GDALGetMetadata(vrt, "xml:VRT");
  if (!xml || !xml[0]) {
    rios_seterr(err, "made no VRT text: %s", rios_gdal_error());
    return RIOS_FAIL;
  }
  return rios_heap_strdup(xml[0], out, err);
}

int rios_ffi_gdal_version(void) { return atoi(GDALVersionInfo("VERSION_NUM")); }

int rios_ffi_warp_vrt(const char *src, const char *const *argv, char **out, rios_err *err) {
  GDALDatasetH in = open_source(src, GDAL_OF_RASTER, "cannot open for warping", err);
  if (!in) return RIOS_FAIL;
#if !RIOS_HAVE_GDT_INT8
  /* Before GDAL 3.7 int8 is Byte plus a PIXELTYPE flag that the warper
     ignores: it would resample the bytes as unsigned values. */
  if (rios_band_dtype(GDALGetRasterBand(in, 1)) == RIOS_INT8) {
    rios_seterr(err, "warping int8 (signed byte) rasters needs GDAL 3.7 or later (this is GDAL %s)",
              GDALVersionInfo("RELEASE_NAME"));
    GDALClose(in);
    return RIOS_FAIL;
  }
#endif
  GDALWarpAppOptions *opts = GDALWarpAppOptionsNew((char **)argv, NULL);
  if (!opts) {
    rios_seterr(err, "bad warp options: %s", rios_gdal_error());
    GDALClose(in);
    return RIOS_FAIL;
  }
  int usage_error = 0;
  rios_gdal_capture cap;
  rios_gdal_capture_begin(&cap);
  GDALDatasetH vrt = GDALWarp("", NULL, 1, &in, opts, &usage_error);
  rios_gdal_capture_end();
  GDALWarpAppOptionsFree(opts);
  if (!vrt) {
    rios_seterr(err, "warp failed: %s", rios_gdal_capture_text(&cap));
    GDALClose(in);
    return RIOS_FAIL;
  }
  int rc = vrt_text(vrt, out, err);
  GDALClose(vrt);
  GDALClose(in);
  return rc;
}

int rios_ffi_translate_vrt(const char *src, const char *const *argv, int nbands,
                           const double *nodata, char **out, rios_err *err) {
  GDALDatasetH in = open_source(src, GDAL_OF_RASTER, "cannot open", err);
  if (!in) return RIOS_FAIL;
  GDALTranslateOptions *opts = GDALTranslateOptionsNew((char **)argv, NULL);
  if (!opts) {
    rios_seterr(err, "bad translate options: %s", rios_gdal_error());
    GDALClose(in);
    return RIOS_FAIL;
  }
  int usage_error = 0;
  rios_gdal_capture cap;
  rios_gdal_capture_begin(&cap);
  GDALDatasetH vrt = GDALTranslate("", in, opts, &usage_error);
  rios_gdal_capture_end();
  GDALTranslateOptionsFree(opts);
  if (!vrt) {
    rios_seterr(err, "cannot make a VRT: %s", rios_gdal_capture_text(&cap));
    GDALClose(in);
    return RIOS_FAIL;
  }
  int rc = RIOS_FAIL;
  if (GDALGetRasterCount(vrt) != nbands) {
    rios_seterr(err, "VRT has %d bands, expected %d", GDALGetRasterCount(vrt), nbands);
  } else {
    int ok = 1;
    for (int b = 1; nodata && b <= nbands && ok; b++) {
      CPLErrorReset();
      if (GDALSetRasterNoDataValue(GDALGetRasterBand(vrt, b), nodata[b - 1]) != CE_None) {
        rios_seterr(err, "cannot set nodata of band %d: %s", b, rios_gdal_error());
        ok = 0;
      }
    }
    if (ok) rc = vrt_text(vrt, out, err);
  }
  GDALClose(vrt);
  GDALClose(in);
  return rc;
}

int rios_ffi_rasterize(const char *src, const char *dst, const char *const *argv, rios_err *err) {
  GDALDatasetH in = open_source(src, GDAL_OF_VECTOR, "cannot open as a vector", err);
  if (!in) return RIOS_FAIL;
  GDALRasterizeOptions *opts = GDALRasterizeOptionsNew((char **)argv, NULL);
  if (!opts) {
    rios_seterr(err, "bad rasterize options: %s", rios_gdal_error());
    GDALClose(in);
    return RIOS_FAIL;
  }
  int usage_error = 0;
  rios_gdal_capture cap;
  rios_gdal_capture_begin(&cap);
  GDALDatasetH out = GDALRasterize(dst, NULL, in, opts, &usage_error);
  GDALRasterizeOptionsFree(opts);
  /* Closing writes the last tiles: a failure there is caught too. */
  if (out) GDALClose(out);
  rios_gdal_capture_end();
  int rc = RIOS_OK;
  if (!out || cap.first[0]) {
    rios_seterr(err, "rasterize failed: %s", rios_gdal_capture_text(&cap));
    rc = RIOS_FAIL;
  }
  GDALClose(in);
  return rc;
}

static OGRSpatialReferenceH srs_from(const char *text) {
  OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
  if (!s) return NULL;
  if (OSRSetFromUserInput(s, text) != OGRERR_NONE) {
    OSRDestroySpatialReference(s);
    return NULL;
  }
  OSRSetAxisMappingStrategy(s, OAMS_TRADITIONAL_GIS_ORDER);
  return s;
}

/* A grid of points over the extent, edges included, is carried across;
   points that do not transform (a world-wide geographic extent seen from a
   projection that covers part of it) are left out, so the result is the
   extent of the part that exists in the target projection. */
#define RIOS_EXTENT_STEPS 40

int rios_ffi_transform_extent(const char *src_wkt, const char *dst_wkt, const double *in,
                            double *out, rios_err *err) {
  OGRSpatialReferenceH a = srs_from(src_wkt), b = srs_from(dst_wkt);
  if (!a || !b) {
    rios_seterr(err, "not a projection GDAL understands: %s", !a ? src_wkt : dst_wkt);
    if (a) OSRDestroySpatialReference(a);
    if (b) OSRDestroySpatialReference(b);
    return RIOS_FAIL;
  }
  CPLPushErrorHandler(CPLQuietErrorHandler);
  OGRCoordinateTransformationH ct = OCTNewCoordinateTransformation(a, b);
  CPLPopErrorHandler();
  OSRDestroySpatialReference(a);
  OSRDestroySpatialReference(b);
  if (!ct) {
    rios_seterr(err, "no transformation between the two projections: %s", rios_gdal_error());
    return RIOS_FAIL;
  }
  enum { N = (RIOS_EXTENT_STEPS + 1) * (RIOS_EXTENT_STEPS + 1) };
  double *x = malloc(sizeof(double) * N * 3);
  int *ok = malloc(sizeof(int) * N);
  if (!x || !ok) {
    free(x);
    free(ok);
    OCTDestroyCoordinateTransformation(ct);
    rios_seterr(err, "out of memory");
    return RIOS_FAIL;
  }
  double *y = x + N, *z = x + 2 * N;
  int n = 0;
  for (int i = 0; i <= RIOS_EXTENT_STEPS; i++) {
    for (int j = 0; j <= RIOS_EXTENT_STEPS; j++) {
      x[n] = in[0] + (in[2] - in[0]) * i / RIOS_EXTENT_STEPS;
      y[n] = in[1] + (in[3] - in[1]) * j / RIOS_EXTENT_STEPS;
      z[n] = 0;
      n++;
    }
  }
  CPLPushErrorHandler(CPLQuietErrorHandler);
  OCTTransformEx(ct, n, x, y, z, ok);
  CPLPopErrorHandler();
  CPLErrorReset();
  OCTDestroyCoordinateTransformation(ct);
  int found = 0;
  for (int k = 0; k < n; k++) {
    if (!ok[k] || !isfinite(x[k]) || !isfinite(y[k])) continue;
    if (!found) {
      out[0] = out[2] = x[k];
      out[1] = out[3] = y[k];
      found = 1;
    } else {
      if (x[k] < out[0]) out[0] = x[k];
      if (x[k] > out[2]) out[2] = x[k];
      if (y[k] < out[1]) out[1] = y[k];
      if (y[k] > out[3]) out[3] = y[k];
    }
  }
  free(x);
  free(ok);
  if (!found) {
    rios_seterr(err, "no point of the extent exists in the other projection");
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

int rios_ffi_vector_translate(const char *src, const char *dst, const char *const *argv,
                            rios_err *err) {
  GDALDatasetH in = open_source(src, GDAL_OF_VECTOR, "cannot open as a vector", err);
  if (!in) return RIOS_FAIL;
  GDALVectorTranslateOptions *opts = GDALVectorTranslateOptionsNew((char **)argv, NULL);
  if (!opts) {
    rios_seterr(err, "bad vector translate options: %s", rios_gdal_error());
    GDALClose(in);
    return RIOS_FAIL;
  }
  int usage_error = 0;
  rios_gdal_capture cap;
  rios_gdal_capture_begin(&cap);
  GDALDatasetH out = GDALVectorTranslate(dst, NULL, 1, &in, opts, &usage_error);
  rios_gdal_capture_end();
  GDALVectorTranslateOptionsFree(opts);
  int rc = RIOS_OK;
  if (!out) {
    rios_seterr(err, "reprojecting the vectors failed: %s", rios_gdal_capture_text(&cap));
    rc = RIOS_FAIL;
  } else {
    GDALClose(out);
  }
  GDALClose(in);
  return rc;
}

int rios_ffi_vector_layer_wkt(const char *path, int index, char **out, rios_err *err) {
  GDALDatasetH ds = open_source(path, GDAL_OF_VECTOR, "cannot open as a vector", err);
  if (!ds) return RIOS_FAIL;
  OGRLayerH layer = GDALDatasetGetLayer(ds, index);
  if (!layer) {
    rios_seterr(err, "has no vector layer %d", index);
    GDALClose(ds);
    return RIOS_FAIL;
  }
  OGRSpatialReferenceH srs = OGR_L_GetSpatialRef(layer);
  char *wkt = NULL;
  if (srs && OSRExportToWkt(srs, &wkt) != OGRERR_NONE) {
    CPLFree(wkt);
    wkt = NULL;
  }
  int rc = rios_heap_strdup(wkt ? wkt : "", out, err);
  CPLFree(wkt);
  GDALClose(ds);
  return rc;
}

/* The layer names of a vector source, each followed by a newline, and their
   count; 0 layers when GDAL cannot open path as a vector source. */
int rios_ffi_vector_layers(const char *path, char *names, size_t len, int *count,
                           rios_err *err) {
  *count = 0;
  if (len > 0) names[0] = '\0';
  CPLErrorReset();
  CPLPushErrorHandler(CPLQuietErrorHandler);
  GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
  CPLPopErrorHandler();
  CPLErrorReset();
  if (!ds) return RIOS_OK;
  int n = GDALDatasetGetLayerCount(ds);
  size_t used = 0;
  for (int i = 0; i < n; i++) {
    OGRLayerH layer = GDALDatasetGetLayer(ds, i);
    const char *name = layer ? OGR_L_GetName(layer) : "";
    size_t k = strlen(name);
    if (used + k + 2 > len) {
      rios_seterr(err, "%s: too many vector layers to list", path);
      GDALClose(ds);
      return RIOS_FAIL;
    }
    memcpy(names + used, name, k);
    used += k;
    names[used++] = '\n';
    names[used] = '\0';
  }
  GDALClose(ds);
  *count = n;
  return RIOS_OK;
}
