/*
 * output.c: an output raster's life. Created at the first block from the
 * first array given for it, in a private folder beside its path (see
 * outfile.c), written block by block from the array's own buffer (only the
 * centre when the array carries an overlap margin), finished with
 * statistics, a histogram and overviews that gdalinfo and QGIS read as they
 * are, sealed (closed, every write checked), and committed: moved over its
 * path once the whole run has succeeded. Closing an output that was not
 * committed removes what was written, so the path is as it was before.
 *
 * Each write also hands the block to stats.c (statistics and histogram
 * counts) and overviews.c, so finishing never reads the raster back;
 * histogram.c turns the counts into the stored histogram. What they share
 * is in output_internal.h.
 */
#include "bandtables.h"
#include "dtype.h"
#include "output_internal.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void output_free(rios_output *o) {
  if (!o) return;
  rios_stats_free(o);
  rios_ovr_free(o);
  rios_outfile_discard(o);
  free(o->strip);
  free(o->path);
  free(o);
}

/* What GDAL reports while an output is flushed and closed: its first
   failure (the cause comes before its consequences), and its first warning
   (GDAL only warns when it cannot save a sidecar such as the .aux.xml). */
typedef struct close_capture {
  char failure[1024];
  char warning[1024];
} close_capture;

static void close_handler(CPLErr level, CPLErrorNum num, const char *msg) {
  (void)num;
  close_capture *c = CPLGetErrorHandlerUserData();
  if (!c || !msg) return;
  char *slot = level >= CE_Failure ? c->failure : level == CE_Warning ? c->warning : NULL;
  if (slot && !slot[0]) snprintf(slot, sizeof(c->failure), "%s", msg);
}

/* The grid, nodata, band names and layer type of a new file. */
static int describe(rios_output *o, const double *transform, const char *projection,
                    const char *const *layer_names, rios_err *err) {
  CPLErrorReset();
  if (GDALSetGeoTransform(o->ds, (double *)transform) != CE_None ||
      (projection && *projection && GDALSetProjection(o->ds, projection) != CE_None)) {
    rios_seterr(err, "%s: cannot set the grid: %s", o->path, rios_gdal_error());
    return RIOS_FAIL;
  }
  for (int b = 0; b < o->nbands; b++) {
    GDALRasterBandH band = GDALGetRasterBand(o->ds, b + 1);
    if (!band) {
      rios_seterr(err, "%s: GDAL made no band %d", o->path, b + 1);
      return RIOS_FAIL;
    }
    if (o->has_nodata && GDALSetRasterNoDataValue(band, o->nodata) != CE_None) {
      rios_seterr(err, "%s: cannot set nodata %g on band %d: %s", o->path, o->nodata, b + 1,
                  rios_gdal_error());
      return RIOS_FAIL;
    }
    if (layer_names && layer_names[b]) {
      CPLErrorReset();
      GDALSetDescription(band, layer_names[b]);
      if (CPLGetLastErrorType() >= CE_Failure) {
        rios_seterr(err, "%s: cannot name band %d: %s", o->path, b + 1, rios_gdal_error());
        return RIOS_FAIL;
      }
    }
    if (rios_output_set_item(o, b, "LAYER_TYPE", o->thematic ? "thematic" : "athematic",
                             err) != 0)
      return RIOS_FAIL;
  }
  return RIOS_OK;
}

/* Compression on every core: GTiff compresses tiles on as many threads as
   there are online CPUs, unless the creation options or GDAL_NUM_THREADS
   say how many. Its tiles are still written in the order they were handed
   over, so the bytes do not depend on the number of threads (the one other
   driver that takes NUM_THREADS, RMF, writes other bytes on every run even
   on one thread, so is left as it is). */
static char **with_num_threads(GDALDriverH drv, char **opts) {
  int ncpu = rios_ffi_cpu_count();
  if (ncpu < 2 || !EQUAL(GDALGetDriverShortName(drv), "GTiff") ||
      CSLFetchNameValue(opts, "NUM_THREADS") || CPLGetConfigOption("GDAL_NUM_THREADS", NULL))
    return opts;
  char n[16];
  snprintf(n, sizeof(n), "%d", ncpu);
  return CSLSetNameValue(opts, "NUM_THREADS", n);
}

int rios_ffi_output_create(const char *path, const char *driver, int xsize, int ysize,
                           int nbands, int dtype, const double *transform,
                           const char *projection, const char *const *options,
                           int has_nodata, double nodata, const char *const *layer_names,
                           int thematic, rios_output **out, rios_err *err) {
  GDALDriverH drv = GDALGetDriverByName(driver);
  if (!drv) {
    rios_seterr(err, "%s: no GDAL driver named '%s'", path, driver);
    return RIOS_FAIL;
  }
  if (!GDALGetMetadataItem(drv, GDAL_DCAP_CREATE, NULL)) {
    rios_seterr(err, "%s: the GDAL driver '%s' cannot create files", path, driver);
    return RIOS_FAIL;
  }
  if (dtype < 0 || dtype >= RIOS_NDTYPES || nbands < 1 || xsize < 1 || ysize < 1) {
    rios_seterr(err, "%s: cannot make a raster of %d x %d pixels, %d bands of dtype %d", path,
                xsize, ysize, nbands, dtype);
    return RIOS_FAIL;
  }
  double nodata_pixel = nodata;
  rios_err why;
  if (has_nodata && rios_ffi_dtype_nodata(dtype, nodata, &nodata_pixel, &why) != RIOS_OK) {
    rios_seterr(err, "%s: the nodata value %s", path, why.msg);
    return RIOS_FAIL;
  }
  rios_output *o = calloc(1, sizeof(*o));
  if (o) o->path = strdup(path);
  if (!o || !o->path) {
    output_free(o);
    rios_seterr(err, "%s: out of memory", path);
    return RIOS_FAIL;
  }
  o->driver = drv;
  if (rios_outfile_open(o, err) != 0) {
    output_free(o);
    return RIOS_FAIL;
  }
  o->xsize = xsize;
  o->ysize = ysize;
  o->nbands = nbands;
  o->dtype = dtype;
  o->has_nodata = has_nodata;
  o->nodata = nodata;
  o->nodata_pixel = nodata_pixel;
  o->thematic = thematic;
  o->gather_stats = o->gather_hist = 1;
  if (rios_stats_init(o, err) != 0) {
    output_free(o);
    return RIOS_FAIL;
  }

  char **opts = NULL;
  for (int i = 0; options && options[i]; i++) opts = CSLAddString(opts, options[i]);
  if (dtype == RIOS_INT8 && !RIOS_HAVE_GDT_INT8)
    opts = CSLSetNameValue(opts, "PIXELTYPE", "SIGNEDBYTE");
  opts = with_num_threads(drv, opts);
  CPLErrorReset();
  o->ds = GDALCreate(drv, o->write_path, xsize, ysize, nbands, rios_gdal_type(dtype), opts);
  CSLDestroy(opts);
  if (!o->ds) {
    rios_seterr(err, "%s: cannot create with driver %s: %s", path, driver, rios_gdal_error());
    output_free(o);
    return RIOS_FAIL;
  }
  if (describe(o, transform, projection, layer_names, err) != 0) {
    rios_ffi_output_close(o);
    return RIOS_FAIL;
  }
  *out = o;
  return RIOS_OK;
}

int rios_output_set_item(rios_output *o, int b, const char *key, const char *value,
                         rios_err *err) {
  GDALRasterBandH band = GDALGetRasterBand(o->ds, b + 1);
  CPLErrorReset();
  if (!band || GDALSetMetadataItem(band, key, value, NULL) != CE_None) {
    rios_seterr(err, "%s: cannot set %s on band %d: %s", o->path, key, b + 1,
                rios_gdal_error());
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

int rios_output_set_number(rios_output *o, int b, const char *key, double v, int integer,
                           rios_err *err) {
  char s[64];
  if (integer) snprintf(s, sizeof(s), "%.0f", v);
  else snprintf(s, sizeof(s), "%.17g", v);
  return rios_output_set_item(o, b, key, s, err);
}

/* Which of statistics and histogram the writes gather; an omitted one costs
   nothing. Call before the first write. */
void rios_ffi_output_gather(rios_output *o, int stats, int histogram) {
  o->gather_stats = stats != 0;
  o->gather_hist = histogram != 0;
}

/*
 * Tiles reach the file in one order whatever the scale of the run, so the
 * same script writes the same bytes sequentially, with read workers and
 * with any number of compute workers. Blocks arrive in order, left to right
 * and top to bottom, and a tile is handed to GDAL (compressed, written) as
 * soon as it is whole, band by band, never left for GDAL's cache to write
 * when it needs room: that order would depend on what else (input tiles,
 * read ahead by workers) is in the cache. With compression on several
 * threads (NUM_THREADS) the tiles are compressed while the next blocks are
 * computed.
 *
 * Windows that are whole tiles (the default: 256 x 256 windows and tiles),
 * or the whole raster, are written straight to GDAL, and each block's
 * tiles are handed over after it. Other windows complete a tile only over
 * several blocks, so their pixels wait in the output's strip, a row of
 * tiles (and a row of blocks) of every band, and each row of tiles goes to
 * GDAL whole once the row of blocks that completes it is written.
 */

/* Write rows of every band (line and band the buffer's strides, in bytes)
   to the file. */
static int write_window(rios_output *o, int xoff, int yoff, int xsize, int ysize,
                        const void *start, GSpacing line, GSpacing band, rios_err *err) {
  int esize = rios_ffi_dtype_size(o->dtype);
  /* A write may flush tiles out of GDAL's cache: the first failure is the
     cause. */
  rios_gdal_capture c;
  rios_gdal_capture_begin(&c);
  CPLErr e = GDALDatasetRasterIO(o->ds, GF_Write, xoff, yoff, xsize, ysize, (void *)start, xsize,
                                 ysize, rios_gdal_type(o->dtype), o->nbands, NULL, esize, line,
                                 band);
  if (e != CE_None)
    rios_seterr(err, "%s: write of window x=%d y=%d %dx%d failed: %s", o->path, xoff, yoff,
                xsize, ysize, rios_gdal_capture_text(&c));
  rios_gdal_capture_end();
  return e != CE_None ? RIOS_FAIL : RIOS_OK;
}

/* Hand every band's finished tiles to GDAL, band by band. */
static int flush_tiles(rios_output *o, int yend, rios_err *err) {
  /* libtiff reports the cause (no space left) before its consequence. */
  rios_gdal_capture c;
  rios_gdal_capture_begin(&c);
  int rc = RIOS_OK;
  for (int b = 1; b <= o->nbands && rc == RIOS_OK; b++) {
    if (GDALFlushRasterCache(GDALGetRasterBand(o->ds, b)) != CE_None) {
      rios_seterr(err, "%s: writing rows up to %d failed: %s", o->path, yend,
                  rios_gdal_capture_text(&c));
      rc = RIOS_FAIL;
    }
  }
  rios_gdal_capture_end();
  return rc;
}

/* At the first write: are the windows (this one's size) whole tiles? If
   not, make the strip: a row of tiles plus a row of blocks. */
static int choose_writes(rios_output *o, int xsize, int ysize, rios_err *err) {
  o->writes_chosen = 1;
  GDALGetBlockSize(GDALGetRasterBand(o->ds, 1), &o->tile_w, &o->tile_h);
  if (o->tile_w <= 0 || o->tile_h <= 0) o->tile_w = o->tile_h = 0;
  int whole_x = o->tile_w == 0 || xsize % o->tile_w == 0 || xsize == o->xsize;
  int whole_y = o->tile_h == 0 || ysize % o->tile_h == 0 || ysize == o->ysize;
  if (whole_x && whole_y) return RIOS_OK;
  int rows = ysize + o->tile_h;
  o->strip_rows = rows < o->ysize ? rows : o->ysize;
  o->strip = calloc((size_t)o->strip_rows * (size_t)o->xsize * (size_t)o->nbands,
                    (size_t)rios_ffi_dtype_size(o->dtype));
  if (!o->strip) {
    rios_seterr(err, "%s: out of memory for a row of tiles of %d x %d pixels, %d bands", o->path,
                o->xsize, o->strip_rows, o->nbands);
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

/* Copy a block's centre into the strip. */
static int strip_add(rios_output *o, int xoff, int yoff, int xsize, int ysize,
                     const unsigned char *start, size_t plane, int buf_cols, rios_err *err) {
  if (yoff < o->strip_y0 || yoff + ysize > o->strip_y0 + o->strip_rows) {
    rios_seterr(err, "%s: write of window x=%d y=%d %dx%d is not in the rows %d..%d being "
                "gathered (windows must come in order, of one size)", o->path, xoff, yoff,
                xsize, ysize, o->strip_y0, o->strip_y0 + o->strip_rows - 1);
    return RIOS_FAIL;
  }
  size_t esize = (size_t)rios_ffi_dtype_size(o->dtype), w = (size_t)o->xsize;
  for (int b = 0; b < o->nbands; b++)
    for (int r = 0; r < ysize; r++)
      memcpy(o->strip + (((size_t)b * (size_t)o->strip_rows + (size_t)(yoff + r - o->strip_y0))
                         * w + (size_t)xoff) * esize,
             start + (size_t)b * plane + (size_t)r * (size_t)buf_cols * esize,
             (size_t)xsize * esize);
  return RIOS_OK;
}

/* At the end of a row of blocks: write the rows of tiles it completed and
   hand them to GDAL; the rows below move to the top of the strip. */
static int strip_store(rios_output *o, int xend, int yend, rios_err *err) {
  if (xend != o->xsize) return RIOS_OK;
  int done = yend == o->ysize ? yend : yend / o->tile_h * o->tile_h;
  if (done <= o->strip_y0) return RIOS_OK;
  size_t esize = (size_t)rios_ffi_dtype_size(o->dtype), row = (size_t)o->xsize * esize;
  size_t band = (size_t)o->strip_rows * row;
  if (write_window(o, 0, o->strip_y0, o->xsize, done - o->strip_y0, o->strip, (GSpacing)row,
                   (GSpacing)band, err) != 0 ||
      flush_tiles(o, done, err) != 0)
    return RIOS_FAIL;
  int left = yend - done;
  for (int b = 0; b < o->nbands && left > 0; b++)
    memmove(o->strip + (size_t)b * band, o->strip + (size_t)b * band +
            (size_t)(done - o->strip_y0) * row, (size_t)left * row);
  o->strip_y0 = done;
  return RIOS_OK;
}

int rios_ffi_output_write(rios_output *o, int xoff, int yoff, int xsize, int ysize,
                        const void *buf, int buf_cols, int buf_rows, int margin,
                        rios_err *err) {
  int esize = rios_ffi_dtype_size(o->dtype);
  if (xoff < 0 || yoff < 0 || xoff + xsize > o->xsize || yoff + ysize > o->ysize ||
      buf_cols < xsize + 2 * margin || buf_rows < ysize + 2 * margin) {
    rios_seterr(err, "%s: write of window x=%d y=%d %dx%d is outside the %dx%d raster",
              o->path, xoff, yoff, xsize, ysize, o->xsize, o->ysize);
    return RIOS_FAIL;
  }
  if (!o->writes_chosen && choose_writes(o, xsize, ysize, err) != 0) return RIOS_FAIL;
  size_t plane = (size_t)buf_cols * (size_t)buf_rows * (size_t)esize;
  const unsigned char *start = (const unsigned char *)buf +
      ((size_t)margin * (size_t)buf_cols + (size_t)margin) * (size_t)esize;
  if (o->strip ? strip_add(o, xoff, yoff, xsize, ysize, start, plane, buf_cols, err)
               : write_window(o, xoff, yoff, xsize, ysize, start, (GSpacing)buf_cols * esize,
                              (GSpacing)plane, err))
    return RIOS_FAIL;
  for (int b = 0; b < o->nbands; b++)
    rios_stats_add(o, b, (const unsigned char *)buf + (size_t)b * plane, xsize, ysize,
                   buf_cols, margin);
  if (o->ovr.active &&
      rios_ovr_add(o, xoff, yoff, xsize, ysize, (const unsigned char *)buf, plane, buf_cols,
                   margin, err) != 0)
    return RIOS_FAIL;
  if (o->strip) return strip_store(o, xoff + xsize, yoff + ysize, err);
  return flush_tiles(o, yoff + ysize, err);
}

/*
 * What a script changes on an output still open, before it is finished
 * (controls.color_table and controls.before_close, lua/rios/outputs.lua).
 * Statistics, the histogram and overviews are gathered as blocks are
 * written and follow the nodata given at creation (stats_ignore), whatever
 * is set here.
 */
static GDALRasterBandH edit_band(rios_output *o, int band, rios_err *err) {
  if (band < 1 || band > o->nbands) {
    rios_seterr(err, "%s: has no band %d (it has %d)", o->path, band, o->nbands);
    return NULL;
  }
  return GDALGetRasterBand(o->ds, band);
}

int rios_ffi_output_set_metadata(rios_output *o, int band, const char *key, const char *value,
                                 rios_err *err) {
  GDALMajorObjectH obj = band == 0 ? (GDALMajorObjectH)o->ds
                                   : (GDALMajorObjectH)edit_band(o, band, err);
  if (!obj) return RIOS_FAIL;
  CPLErrorReset();
  if (GDALSetMetadataItem(obj, key, value, NULL) != CE_None) {
    if (band == 0)
      rios_seterr(err, "%s: cannot set metadata %s: %s", o->path, key, rios_gdal_error());
    else
      rios_seterr(err, "%s: cannot set metadata %s on band %d: %s", o->path, key, band,
                  rios_gdal_error());
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

int rios_ffi_output_set_description(rios_output *o, int band, const char *text,
                                    rios_err *err) {
  GDALRasterBandH b = edit_band(o, band, err);
  if (!b) return RIOS_FAIL;
  CPLErrorReset();
  GDALSetDescription(b, text);
  if (CPLGetLastErrorType() >= CE_Failure) {
    rios_seterr(err, "%s: cannot name band %d: %s", o->path, band, rios_gdal_error());
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

int rios_ffi_output_set_nodata(rios_output *o, int band, double value, rios_err *err) {
  GDALRasterBandH b = edit_band(o, band, err);
  if (!b) return RIOS_FAIL;
  CPLErrorReset();
  if (GDALSetRasterNoDataValue(b, value) != CE_None) {
    rios_seterr(err, "%s: cannot set nodata %g on band %d: %s", o->path, value, band,
                rios_gdal_error());
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

int rios_ffi_output_set_color_table(rios_output *o, int band, int n, const uint8_t *rgba,
                                    rios_err *err) {
  return rios_band_set_color_table(o->ds, band, o->path, n, rgba, err);
}

int rios_ffi_output_range(const rios_output *o, int band, int *found, double *min,
                          double *max, rios_err *err) {
  if (band < 1 || band > o->nbands) {
    rios_seterr(err, "%s: has no band %d (it has %d)", o->path, band, o->nbands);
    return RIOS_FAIL;
  }
  const rios_bandacc *a = &o->acc[band - 1];
  *found = (o->gather_stats || o->gather_hist) && a->count > 0;
  *min = *found ? a->min : 0;
  *max = *found ? a->max : 0;
  return RIOS_OK;
}

int rios_ffi_output_finish(rios_output *o, const rios_finish_opts *opts,
                         rios_finish_times *times, rios_err *err) {
  times->basicstats = times->histogram = times->pyramids = 0;
  if (!o->ds) {
    rios_seterr(err, "%s: finished after it was sealed", o->path);
    return RIOS_FAIL;
  }
  if (!opts->omit_pyramids) {
    double t0 = rios_ffi_now();
    if (rios_ovr_finish(o, opts, err) != 0) return RIOS_FAIL;
    times->pyramids = rios_ffi_now() - t0;
  }
  for (int b = 0; b < o->nbands; b++) {
    if (o->acc[b].count == 0) continue;  /* all nodata: nothing to describe */
    if (!opts->omit_basic_stats && (o->gather_stats || o->gather_hist)) {
      double t0 = rios_ffi_now();
      if (rios_stats_store(o, b, err) != 0) return RIOS_FAIL;
      times->basicstats += rios_ffi_now() - t0;
    }
    if (!opts->omit_histogram && o->gather_hist) {
      double t0 = rios_ffi_now();
      if (rios_histogram_store(o, b, err) != 0) return RIOS_FAIL;
      times->histogram += rios_ffi_now() - t0;
    }
  }
  return RIOS_OK;
}

/*
 * Closing is where most of a file is written: the tiles still in GDAL's
 * cache, the TIFF directory, the .aux.xml of statistics and histogram. In
 * GDAL 3.6 neither GDALFlushCache nor GDALClose returns a status, so every
 * error GDAL reports meanwhile is caught: a failure, or a warning (GDAL
 * only warns when it cannot save the .aux.xml), fails the seal.
 */
int rios_ffi_output_seal(rios_output *o, rios_err *err) {
  if (!o->ds) {
    rios_seterr(err, "%s: sealed twice", o->path);
    return RIOS_FAIL;
  }
  close_capture c = {{0}, {0}};
  CPLErrorReset();
  CPLPushErrorHandlerEx(close_handler, &c);
  GDALFlushCache(o->ds);
  GDALClose(o->ds);
  o->ds = NULL;
  CPLPopErrorHandler();
  CPLErrorReset();
  if (c.failure[0] || c.warning[0]) {
    char line[1024];
    rios_gdal_one_line(c.failure[0] ? c.failure : c.warning, line, sizeof(line));
    rios_seterr(err, "%s: writing failed: %s", o->path, line);
    return RIOS_FAIL;
  }
  o->sealed = 1;
  return RIOS_OK;
}

int rios_ffi_output_commit(rios_output *o, rios_err *err) {
  if (!o->sealed) {
    rios_seterr(err, "%s: committed before it was sealed", o->path);
    return RIOS_FAIL;
  }
  if (rios_outfile_commit(o, o->driver, err) != 0) return RIOS_FAIL;
  o->sealed = 0;
  return RIOS_OK;
}

/* Whatever was not committed is removed; GDAL's complaints about a dataset
   closed half-written are of no interest then. */
void rios_ffi_output_close(rios_output *o) {
  if (!o) return;
  if (o->ds) {
    CPLPushErrorHandler(CPLQuietErrorHandler);
    GDALClose(o->ds);
    CPLPopErrorHandler();
    CPLErrorReset();
    o->ds = NULL;
  }
  output_free(o);
}
