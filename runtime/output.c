/*
 * output.c: output rasters. Created at the first block from the first array
 * given for them, written block by block from the array's own buffer (only
 * the centre when the array carries an overlap margin), and finished with
 * statistics, a histogram and overviews that gdalinfo and QGIS read as they
 * are.
 *
 * Basic statistics are gathered while blocks are written. So is the histogram
 * for 8- and 16-bit data, by counting every value; 32-bit and float data,
 * whose bins depend on the final range, get a second pass over the file.
 */
#include "gdal_types.h"
#include "rl_ffi.h"
#include "rl_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Running statistics of one band, over the pixels that are not ignored. */
typedef struct rl_bandacc {
  uint64_t count;
  double min, max;
  double shift;            /* first value seen: sums are of (v - shift) */
  double sum, sumsq;
  uint64_t *direct;        /* per-value counts for 8/16-bit data, or NULL */
} rl_bandacc;

struct rl_output {
  GDALDatasetH ds;
  char *path;
  int xsize, ysize, nbands, dtype;
  int has_nodata;
  double nodata;
  int thematic;
  rl_bandacc *acc;         /* nbands of them */
};

static const char *last_gdal_error(void) {
  const char *m = CPLGetLastErrorMsg();
  return (m && *m) ? m : "unknown GDAL error";
}

/* Number of per-value counters and the value of counter 0, for direct types. */
static int direct_range(int dtype, long *offset) {
  switch (dtype) {
    case RL_INT8: *offset = -128; return 256;
    case RL_UINT8: *offset = 0; return 256;
    case RL_INT16: *offset = -32768; return 65536;
    case RL_UINT16: *offset = 0; return 65536;
    default: *offset = 0; return 0;
  }
}

static void output_free(rl_output *o) {
  if (!o) return;
  if (o->acc) {
    for (int b = 0; b < o->nbands; b++) free(o->acc[b].direct);
    free(o->acc);
  }
  free(o->path);
  free(o);
}

rl_output *rl_ffi_output_create(const char *path, const char *driver,
                                int xsize, int ysize, int nbands, int dtype,
                                const double *transform, const char *projection,
                                const char *const *options, int has_nodata,
                                double nodata, const char *const *layer_names,
                                int thematic, rl_err *err) {
  GDALDriverH drv = GDALGetDriverByName(driver);
  if (!drv) {
    rl_seterr(err, "%s: no GDAL driver named '%s'", path, driver);
    return NULL;
  }
  if (!GDALGetMetadataItem(drv, GDAL_DCAP_CREATE, NULL)) {
    rl_seterr(err, "%s: the GDAL driver '%s' cannot create files", path, driver);
    return NULL;
  }
  /* An existing file is replaced, with its sidecars (.aux.xml, .ovr). */
  if (access(path, F_OK) == 0) {
    GDALDriverH old = GDALIdentifyDriver(path, NULL);
    CPLErrorReset();
    if (!(old && GDALDeleteDataset(old, path) == CE_None) && unlink(path) != 0) {
      rl_seterr(err, "%s: exists and cannot be removed to be replaced", path);
      return NULL;
    }
  }
  char **opts = NULL;
  for (int i = 0; options && options[i]; i++) opts = CSLAddString(opts, options[i]);
  if (dtype == RL_INT8 && !RL_HAVE_GDT_INT8)
    opts = CSLSetNameValue(opts, "PIXELTYPE", "SIGNEDBYTE");

  rl_output *o = calloc(1, sizeof(*o));
  if (o) o->path = strdup(path);
  if (o) o->acc = calloc((size_t)nbands, sizeof(rl_bandacc));
  if (!o || !o->path || !o->acc) {
    output_free(o);
    CSLDestroy(opts);
    rl_seterr(err, "%s: out of memory", path);
    return NULL;
  }
  o->xsize = xsize;
  o->ysize = ysize;
  o->nbands = nbands;
  o->dtype = dtype;
  o->has_nodata = has_nodata;
  o->nodata = nodata;
  o->thematic = thematic;
  long offset;
  int ndirect = direct_range(dtype, &offset);
  for (int b = 0; b < nbands; b++) {
    o->acc[b].min = INFINITY;
    o->acc[b].max = -INFINITY;
    if (ndirect) {
      o->acc[b].direct = calloc((size_t)ndirect, sizeof(uint64_t));
      if (!o->acc[b].direct) {
        output_free(o);
        CSLDestroy(opts);
        rl_seterr(err, "%s: out of memory", path);
        return NULL;
      }
    }
  }

  CPLErrorReset();
  o->ds = GDALCreate(drv, path, xsize, ysize, nbands, rl_gdal_type(dtype), opts);
  CSLDestroy(opts);
  if (!o->ds) {
    rl_seterr(err, "%s: cannot create with driver %s: %s", path, driver, last_gdal_error());
    output_free(o);
    return NULL;
  }
  if (GDALSetGeoTransform(o->ds, (double *)transform) != CE_None ||
      (projection && *projection && GDALSetProjection(o->ds, projection) != CE_None)) {
    rl_seterr(err, "%s: cannot set the grid: %s", path, last_gdal_error());
    rl_ffi_output_close(o);
    return NULL;
  }
  for (int b = 1; b <= nbands; b++) {
    GDALRasterBandH band = GDALGetRasterBand(o->ds, b);
    if (has_nodata && GDALSetRasterNoDataValue(band, nodata) != CE_None) {
      rl_seterr(err, "%s: cannot set nodata %g on band %d: %s", path, nodata, b,
                last_gdal_error());
      rl_ffi_output_close(o);
      return NULL;
    }
    if (layer_names && layer_names[b - 1]) GDALSetDescription(band, layer_names[b - 1]);
    GDALSetMetadataItem(band, "LAYER_TYPE", thematic ? "thematic" : "athematic", NULL);
  }
  return o;
}

/*
 * Accumulate one block's window of one band. The loop is instantiated per
 * element type; v is the element as double, skipped when it is the ignore
 * value or NaN.
 */
#define ACCUMULATE(T, DIRECT_OFFSET)                                          \
  do {                                                                        \
    const T *src = (const T *)plane;                                          \
    for (int r = 0; r < ysize; r++) {                                         \
      const T *row = src + (size_t)(r + margin) * (size_t)buf_cols + margin;  \
      for (int c = 0; c < xsize; c++) {                                       \
        double v = (double)row[c];                                            \
        if (v != v || (has_nodata && v == nodata)) continue;                  \
        if (count == 0 && a->count == 0) a->shift = v;                       \
        double d = v - a->shift;                                              \
        count++;                                                              \
        sum += d;                                                             \
        sumsq += d * d;                                                       \
        if (v < mn) mn = v;                                                   \
        if (v > mx) mx = v;                                                   \
        if (DIRECT_OFFSET) a->direct[(long)row[c] - offset]++;                \
      }                                                                       \
    }                                                                         \
  } while (0)

static void accumulate(rl_output *o, int b, const void *plane, int xsize, int ysize,
                       int buf_cols, int margin) {
  rl_bandacc *a = &o->acc[b];
  int has_nodata = o->has_nodata;
  double nodata = o->nodata;
  uint64_t count = 0;
  double sum = 0, sumsq = 0, mn = a->min, mx = a->max;
  long offset;
  direct_range(o->dtype, &offset);
  switch (o->dtype) {
    case RL_INT8: ACCUMULATE(int8_t, 1); break;
    case RL_UINT8: ACCUMULATE(uint8_t, 1); break;
    case RL_INT16: ACCUMULATE(int16_t, 1); break;
    case RL_UINT16: ACCUMULATE(uint16_t, 1); break;
    case RL_INT32: ACCUMULATE(int32_t, 0); break;
    case RL_UINT32: ACCUMULATE(uint32_t, 0); break;
    case RL_FLOAT32: ACCUMULATE(float, 0); break;
    case RL_FLOAT64: ACCUMULATE(double, 0); break;
    default: break;
  }
  a->count += count;
  a->sum += sum;
  a->sumsq += sumsq;
  a->min = mn;
  a->max = mx;
}
#undef ACCUMULATE

int rl_ffi_output_write(rl_output *o, int xoff, int yoff, int xsize, int ysize,
                        const void *buf, int buf_cols, int buf_rows, int margin,
                        rl_err *err) {
  int esize = rl_ffi_dtype_size(o->dtype);
  if (xoff < 0 || yoff < 0 || xoff + xsize > o->xsize || yoff + ysize > o->ysize ||
      buf_cols < xsize + 2 * margin || buf_rows < ysize + 2 * margin) {
    rl_seterr(err, "%s: write of window x=%d y=%d %dx%d is outside the %dx%d raster",
              o->path, xoff, yoff, xsize, ysize, o->xsize, o->ysize);
    return -1;
  }
  size_t plane = (size_t)buf_cols * (size_t)buf_rows * (size_t)esize;
  const unsigned char *start = (const unsigned char *)buf +
      ((size_t)margin * (size_t)buf_cols + (size_t)margin) * (size_t)esize;
  CPLErrorReset();
  CPLErr e = GDALDatasetRasterIO(o->ds, GF_Write, xoff, yoff, xsize, ysize, (void *)start,
                                 xsize, ysize, rl_gdal_type(o->dtype), o->nbands, NULL,
                                 esize, (GSpacing)buf_cols * esize, (GSpacing)plane);
  if (e != CE_None) {
    rl_seterr(err, "%s: write of window x=%d y=%d %dx%d failed: %s", o->path, xoff, yoff,
              xsize, ysize, last_gdal_error());
    return -1;
  }
  for (int b = 0; b < o->nbands; b++)
    accumulate(o, b, (const unsigned char *)buf + (size_t)b * plane, xsize, ysize,
               buf_cols, margin);
  return 0;
}

/*
 * The histogram's bins, chosen as RIOS chooses them:
 *   uint8 and thematic data: one bin per value from 0 to the maximum;
 *   other integers: one bin per value from min to max when that is at most
 *   256 values, else 256 equal bins from min to max;
 *   floats: 256 equal bins from min to max (one bin when min == max).
 * lo/hi are the outer edges GDAL stores; vmin/vmax are the values RIOS
 * stores as STATISTICS_HISTOMIN/MAX; bin i starts at vmin + i * step.
 */
typedef struct rl_hist {
  int nbins, direct;
  double lo, hi, vmin, vmax, step;
  GUIntBig *counts;
} rl_hist;

static int is_integer_dtype(int dtype) { return dtype <= RL_UINT32; }

static void choose_bins(const rl_output *o, const rl_bandacc *a, rl_hist *h) {
  double mn = a->min, mx = a->max;
  int integer = is_integer_dtype(o->dtype);
  if (integer && (o->thematic || o->dtype == RL_UINT8) && mn >= 0) mn = 0;
  if (integer && (o->thematic || o->dtype == RL_UINT8 || mx - mn + 1 <= 256)) {
    h->direct = 1;
    h->nbins = (int)(mx - mn + 1);
    h->lo = mn - 0.5;
    h->hi = mx + 0.5;
    h->step = 1;
  } else {
    h->direct = 0;
    h->nbins = 256;
    h->lo = mn;
    h->hi = mx;
    if (mx <= mn) {
      h->hi = mn + 0.5;
      h->nbins = 1;
    }
    h->step = (h->hi - h->lo) / h->nbins;
  }
  h->vmin = mn;
  h->vmax = mx;
}

static int bin_of(const rl_hist *h, double v) {
  int i;
  if (h->direct) i = (int)(v - h->vmin);
  else i = (int)((v - h->lo) / (h->hi - h->lo) * h->nbins);
  if (i < 0) i = 0;
  if (i >= h->nbins) i = h->nbins - 1;
  return i;
}

/* Fill h->counts for band b: from the per-value counts when there are any,
   otherwise by reading the written band back strip by strip. */
static int histogram_counts(rl_output *o, int b, rl_hist *h, rl_err *err) {
  rl_bandacc *a = &o->acc[b];
  if (a->direct) {
    long offset;
    int n = direct_range(o->dtype, &offset);
    for (int i = 0; i < n; i++) {
      if (!a->direct[i]) continue;
      h->counts[bin_of(h, (double)(i + offset))] += a->direct[i];
    }
    return 0;
  }
  GDALRasterBandH band = GDALGetRasterBand(o->ds, b + 1);
  int rows = 256;
  double *strip = malloc(sizeof(double) * (size_t)o->xsize * (size_t)rows);
  if (!strip) {
    rl_seterr(err, "%s: out of memory for the histogram", o->path);
    return -1;
  }
  for (int y = 0; y < o->ysize; y += rows) {
    int n = o->ysize - y < rows ? o->ysize - y : rows;
    if (GDALRasterIO(band, GF_Read, 0, y, o->xsize, n, strip, o->xsize, n, GDT_Float64,
                     0, 0) != CE_None) {
      rl_seterr(err, "%s: reading band %d back for the histogram failed: %s", o->path,
                b + 1, last_gdal_error());
      free(strip);
      return -1;
    }
    size_t m = (size_t)o->xsize * (size_t)n;
    for (size_t i = 0; i < m; i++) {
      double v = strip[i];
      if (v != v || (o->has_nodata && v == o->nodata)) continue;
      h->counts[bin_of(h, v)]++;
    }
  }
  free(strip);
  return 0;
}

static void set_double_item(GDALRasterBandH band, const char *key, double v, int integer) {
  char s[64];
  if (integer) snprintf(s, sizeof(s), "%.0f", v);
  else snprintf(s, sizeof(s), "%.17g", v);
  GDALSetMetadataItem(band, key, s, NULL);
}

static int write_histogram(rl_output *o, int b, rl_err *err) {
  rl_bandacc *a = &o->acc[b];
  GDALRasterBandH band = GDALGetRasterBand(o->ds, b + 1);
  rl_hist h;
  choose_bins(o, a, &h);
  h.counts = calloc((size_t)h.nbins, sizeof(GUIntBig));
  if (!h.counts) {
    rl_seterr(err, "%s: out of memory for the histogram", o->path);
    return -1;
  }
  if (histogram_counts(o, b, &h, err) != 0) {
    free(h.counts);
    return -1;
  }
  if (GDALSetDefaultHistogramEx(band, h.lo, h.hi, h.nbins, h.counts) != CE_None) {
    rl_seterr(err, "%s: cannot store the histogram of band %d: %s", o->path, b + 1,
              last_gdal_error());
    free(h.counts);
    return -1;
  }
  /* Median and mode, as the centre value of their bins; and the histogram
     as RIOS stores it in metadata, for tools that read those keys. */
  uint64_t total = 0, best = 0, running = 0;
  int mode = 0, median = -1;
  for (int i = 0; i < h.nbins; i++) total += h.counts[i];
  for (int i = 0; i < h.nbins; i++) {
    if (h.counts[i] > best) { best = h.counts[i]; mode = i; }
    running += h.counts[i];
    if (median < 0 && running * 2 >= total) median = i;
  }
  if (median < 0) median = 0;
  int integer = is_integer_dtype(o->dtype);
  set_double_item(band, "STATISTICS_MEDIAN", h.vmin + median * h.step, integer);
  set_double_item(band, "STATISTICS_MODE", h.vmin + mode * h.step, integer);
  set_double_item(band, "STATISTICS_HISTOMIN", h.vmin, integer);
  set_double_item(band, "STATISTICS_HISTOMAX", h.vmax, integer);
  set_double_item(band, "STATISTICS_HISTONUMBINS", h.nbins, 1);
  GDALSetMetadataItem(band, "STATISTICS_HISTOBINFUNCTION", h.direct ? "direct" : "linear",
                      NULL);
  /* "c0|c1|...|" as RIOS writes it; 20 characters per count is enough. */
  size_t len = (size_t)h.nbins * 21 + 1;
  char *s = malloc(len);
  if (s) {
    size_t pos = 0;
    for (int i = 0; i < h.nbins; i++)
      pos += (size_t)snprintf(s + pos, len - pos, "%llu|", (unsigned long long)h.counts[i]);
    GDALSetMetadataItem(band, "STATISTICS_HISTOBINVALUES", s, NULL);
    free(s);
  }
  free(h.counts);
  return 0;
}

static int write_basic_stats(rl_output *o, int b, rl_err *err) {
  rl_bandacc *a = &o->acc[b];
  GDALRasterBandH band = GDALGetRasterBand(o->ds, b + 1);
  double n = (double)a->count;
  double mean = a->shift + a->sum / n;
  double var = (a->sumsq - a->sum * a->sum / n) / n;
  double sd = var > 0 ? sqrt(var) : 0;
  if (GDALSetRasterStatistics(band, a->min, a->max, mean, sd) != CE_None) {
    rl_seterr(err, "%s: cannot store the statistics of band %d: %s", o->path, b + 1,
              last_gdal_error());
    return -1;
  }
  if (o->has_nodata) set_double_item(band, "STATISTICS_EXCLUDEDVALUES", o->nodata, 0);
  GDALSetMetadataItem(band, "STATISTICS_SKIPFACTORX", "1", NULL);
  GDALSetMetadataItem(band, "STATISTICS_SKIPFACTORY", "1", NULL);
  return 0;
}

int rl_ffi_output_finish(rl_output *o, const rl_finish_opts *opts,
                         rl_finish_times *times, rl_err *err) {
  times->basicstats = times->histogram = times->pyramids = 0;
  if (!opts->omit_pyramids) {
    double t0 = rl_ffi_now();
    int levels[32], n = 0;
    int mindim = o->xsize < o->ysize ? o->xsize : o->ysize;
    for (int i = 0; i < opts->noverview_levels && i < 32; i++) {
      if (mindim / opts->overview_levels[i] < opts->overview_min_dim) break;
      levels[n++] = opts->overview_levels[i];
    }
    if (n > 0) {
      const char *agg = opts->overview_aggtype;
      if (!agg || !*agg) agg = opts->thematic ? "NEAREST" : "AVERAGE";
      CPLErrorReset();
      if (GDALBuildOverviews(o->ds, agg, n, levels, 0, NULL, NULL, NULL) != CE_None) {
        rl_seterr(err, "%s: building overviews failed: %s", o->path, last_gdal_error());
        return -1;
      }
    }
    times->pyramids = rl_ffi_now() - t0;
  }
  for (int b = 0; b < o->nbands; b++) {
    if (o->acc[b].count == 0) continue;  /* all nodata: nothing to describe */
    if (!opts->omit_basic_stats) {
      double t0 = rl_ffi_now();
      if (write_basic_stats(o, b, err) != 0) return -1;
      times->basicstats += rl_ffi_now() - t0;
    }
    if (!opts->omit_histogram) {
      double t0 = rl_ffi_now();
      if (write_histogram(o, b, err) != 0) return -1;
      times->histogram += rl_ffi_now() - t0;
    }
  }
  return 0;
}

void rl_ffi_output_close(rl_output *o) {
  if (!o) return;
  if (o->ds) GDALClose(o->ds);
  output_free(o);
}
