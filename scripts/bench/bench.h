/*
 * bench.h: what the hand-written C floor programs of `make bench` share.
 * Each program does the work of one bench case the way a C programmer
 * would with GDAL: windows of the same size as rios-lua's blocks, read with
 * GDALDatasetRasterIO into one reused buffer, a plain loop, and written
 * with the creation options rios-lua uses by default.
 */
#ifndef BENCH_H
#define BENCH_H

#include <cpl_conv.h>
#include <cpl_multiproc.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void die(const char *what, const char *path) {
  fprintf(stderr, "%s: %s: %s\n", path, what, CPLGetLastErrorMsg());
  exit(1);
}

static inline GDALDatasetH open_input(const char *path) {
  GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
  if (!ds) die("cannot open", path);
  return ds;
}

/* rios-lua's default GTiff creation options, with the compression threads
   it adds (NUM_THREADS, one per CPU when there are several); the caller
   frees them. */
static inline char **gtiff_options(void) {
  char **opts = NULL;
  opts = CSLAddString(opts, "TILED=YES");
  opts = CSLAddString(opts, "COMPRESS=LZW");
  opts = CSLAddString(opts, "INTERLEAVE=BAND");
  opts = CSLAddString(opts, "BIGTIFF=IF_SAFER");
  if (CPLGetNumCPUs() > 1 && !CPLGetConfigOption("GDAL_NUM_THREADS", NULL)) {
    char n[16];
    snprintf(n, sizeof(n), "%d", CPLGetNumCPUs());
    opts = CSLSetNameValue(opts, "NUM_THREADS", n);
  }
  return opts;
}

/* A tiled, LZW-compressed, band-interleaved GeoTIFF on the grid of like. */
static inline GDALDatasetH create_output(const char *path, GDALDatasetH like, int nbands,
                                  GDALDataType type) {
  GDALDriverH drv = GDALGetDriverByName("GTiff");
  char **opts = gtiff_options();
  GDALDatasetH ds = GDALCreate(drv, path, GDALGetRasterXSize(like), GDALGetRasterYSize(like),
                               nbands, type, opts);
  CSLDestroy(opts);
  if (!ds) die("cannot create", path);
  double t[6];
  if (GDALGetGeoTransform(like, t) == CE_None) GDALSetGeoTransform(ds, t);
  const char *wkt = GDALGetProjectionRef(like);
  if (wkt && *wkt) GDALSetProjection(ds, wkt);
  return ds;
}

/* Read window (xoff, yoff, xsize, ysize), which may reach past the raster's
   edge, into buf (zero outside the raster). */
static inline void read_window(GDALDatasetH ds, const char *path, int xoff, int yoff, int xsize,
                        int ysize, int nbands, void *buf, GDALDataType type) {
  int esize = GDALGetDataTypeSizeBytes(type);
  int x0 = xoff < 0 ? 0 : xoff, y0 = yoff < 0 ? 0 : yoff;
  int x1 = xoff + xsize, y1 = yoff + ysize;
  if (x1 > GDALGetRasterXSize(ds)) x1 = GDALGetRasterXSize(ds);
  if (y1 > GDALGetRasterYSize(ds)) y1 = GDALGetRasterYSize(ds);
  size_t plane = (size_t)xsize * (size_t)ysize * (size_t)esize;
  if (x0 != xoff || y0 != yoff || x1 != xoff + xsize || y1 != yoff + ysize)
    memset(buf, 0, plane * (size_t)nbands);
  char *start = (char *)buf + ((size_t)(y0 - yoff) * (size_t)xsize + (size_t)(x0 - xoff)) * esize;
  if (GDALDatasetRasterIO(ds, GF_Read, x0, y0, x1 - x0, y1 - y0, start, x1 - x0, y1 - y0, type,
                          nbands, NULL, esize, (GSpacing)xsize * esize, (GSpacing)plane)
      != CE_None)
    die("read failed", path);
}

/* Write the centre (margin ov) of a buffer of bcols x brows per band. */
static inline void write_window(GDALDatasetH ds, const char *path, int xoff, int yoff, int xsize,
                         int ysize, int nbands, void *buf, int bcols, int brows, int ov,
                         GDALDataType type) {
  int esize = GDALGetDataTypeSizeBytes(type);
  char *start = (char *)buf + ((size_t)ov * (size_t)bcols + (size_t)ov) * esize;
  if (GDALDatasetRasterIO(ds, GF_Write, xoff, yoff, xsize, ysize, start, xsize, ysize, type,
                          nbands, NULL, esize, (GSpacing)bcols * esize,
                          (GSpacing)bcols * brows * esize) != CE_None)
    die("write failed", path);
}

static inline void close_output(GDALDatasetH ds, const char *path) {
  CPLErrorReset();
  GDALClose(ds);
  if (CPLGetLastErrorType() >= CE_Failure) die("close failed", path);
}

#endif
