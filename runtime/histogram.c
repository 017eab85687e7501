/*
 * histogram.c: an output band's histogram, from the counts stats.c
 * gathered while the blocks were written: the bins RIOS would choose, GDAL's
 * default histogram (what gdalinfo and QGIS read) and the metadata keys RIOS
 * writes beside it (median, mode, the bins as "c0|c1|...|").
 *
 * A thematic band whose bins are one per value from 0 also gets them as its
 * attribute table's "Histogram" column, as RIOS writes it (calcstats.py,
 * writeHistogram): a real column of usage PixelCount (an existing column of
 * that usage is reused), row i the count of value i, the table's binning
 * row 0 = value 0 and 1 per row. GTiff keeps the table in the .aux.xml. HFA
 * is left to its driver, which makes the same column from the metadata keys
 * (RIOS too writes only the keys for HFA). Unlike RIOS, the keys are also
 * kept beside the column.
 *
 * The bins, as RIOS chooses them:
 *   uint8 and thematic data: one bin per value from 0 to the maximum;
 *   other integers: one bin per value from min to max when that is at most
 *   256 values, else 256 equal bins from min to max;
 *   floats: 256 equal bins from min to max (one bin when min == max).
 */
#include "bandtables.h"
#include "dtype.h"
#include "output_internal.h"
#include "rios_internal.h"

#include <cpl_error.h>
#include <gdal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* lo/hi are the outer edges GDAL stores; vmin/vmax are the values RIOS
   stores as STATISTICS_HISTOMIN/MAX; bin i starts at vmin + i * step. */
typedef struct rios_hist {
  int nbins, direct;
  double lo, hi, vmin, vmax, step;
  GUIntBig *counts;
} rios_hist;

static void choose_bins(const rios_output *o, const rios_bandacc *a, rios_hist *h) {
  double mn = a->min, mx = a->max;
  int integer = rios_dtype_is_integer(o->dtype);
  if (integer && (o->thematic || o->dtype == RIOS_UINT8) && mn >= 0) mn = 0;
  /* A thematic band's classes get a bin each, up to a sane number of bins. */
  if (integer && ((o->thematic && mx - mn < (1 << 20)) || o->dtype == RIOS_UINT8 ||
                  mx - mn + 1 <= 256)) {
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
    /* Halves first: hi - lo overflows for data spanning most of float64. */
    h->step = (h->hi * 0.5 - h->lo * 0.5) / h->nbins * 2;
  }
  h->vmin = mn;
  h->vmax = mx;
}

static int bin_of(const rios_hist *h, double v) {
  int i;
  if (h->direct) i = (int)(v - h->vmin);
  else {
    double t = (v * 0.5 - h->lo * 0.5) / (h->hi * 0.5 - h->lo * 0.5) * h->nbins;
    i = t >= h->nbins ? h->nbins - 1 : t > 0 ? (int)t : 0;
  }
  if (i < 0) i = 0;
  if (i >= h->nbins) i = h->nbins - 1;
  return i;
}

/* Fill h->counts from the per-value counts or the fine histogram. */
static void count_bins(const rios_output *o, const rios_bandacc *a, rios_hist *h) {
  if (a->direct) {
    long offset;
    int n = rios_direct_range(o->dtype, &offset);
    for (int i = 0; i < n; i++) {
      if (!a->direct[i]) continue;
      h->counts[bin_of(h, (double)(i + offset))] += a->direct[i];
    }
    return;
  }
  int integer_bins = a->width == 1 && rios_dtype_is_integer(o->dtype);
  for (int64_t i = 0; i < RIOS_FINE_BINS; i++) {
    uint64_t c = a->fine[i];
    if (!c) continue;
    /* The bin's centre (its value, for integer bins of width 1), kept
       inside the data's range. */
    double v = a->origin + ((double)(a->k0 + i) + (integer_bins ? 0.0 : 0.5)) * a->width;
    if (v < a->min) v = a->min;
    if (v > a->max) v = a->max;
    h->counts[bin_of(h, v)] += c;
  }
  h->counts[0] += a->neg_inf;
  h->counts[h->nbins - 1] += a->pos_inf;
}

/* Median and mode, as the value where their bin starts (the value itself
   for one bin per value), and the bins as RIOS stores them in metadata, for
   tools that read those keys. */
static int store_rios_keys(rios_output *o, int b, const rios_hist *h, rios_err *err) {
  uint64_t total = 0, best = 0, running = 0;
  int mode = 0, median = -1;
  for (int i = 0; i < h->nbins; i++) total += h->counts[i];
  for (int i = 0; i < h->nbins; i++) {
    if (h->counts[i] > best) { best = h->counts[i]; mode = i; }
    running += h->counts[i];
    if (median < 0 && running * 2 >= total) median = i;
  }
  if (median < 0) median = 0;
  int integer = rios_dtype_is_integer(o->dtype);
  if (rios_output_set_number(o, b, "STATISTICS_MEDIAN", h->vmin + median * h->step, integer,
                             err) != 0 ||
      rios_output_set_number(o, b, "STATISTICS_MODE", h->vmin + mode * h->step, integer,
                             err) != 0 ||
      rios_output_set_number(o, b, "STATISTICS_HISTOMIN", h->vmin, integer, err) != 0 ||
      rios_output_set_number(o, b, "STATISTICS_HISTOMAX", h->vmax, integer, err) != 0 ||
      rios_output_set_number(o, b, "STATISTICS_HISTONUMBINS", h->nbins, 1, err) != 0 ||
      rios_output_set_item(o, b, "STATISTICS_HISTOBINFUNCTION",
                           h->direct ? "direct" : "linear", err) != 0)
    return RIOS_FAIL;
  /* "c0|c1|...|" as RIOS writes it; 20 characters per count is enough. */
  size_t len = (size_t)h->nbins * 21 + 1;
  char *s = malloc(len);
  if (!s) {
    rios_seterr(err, "%s: out of memory for the histogram", o->path);
    return RIOS_FAIL;
  }
  size_t pos = 0;
  for (int i = 0; i < h->nbins; i++)
    pos += (size_t)snprintf(s + pos, len - pos, "%llu|", (unsigned long long)h->counts[i]);
  int rc = rios_output_set_item(o, b, "STATISTICS_HISTOBINVALUES", s, err);
  free(s);
  return rc;
}

/* The column of usage PixelCount of a band's table, made when there is none
   (RIOS's findOrCreateColumn). */
static int pixelcount_column(rios_rat *t, int *col, rios_err *err) {
  int n = rios_ffi_rat_column_count(t);
  for (int i = 0; i < n; i++) {
    const char *name;
    int type, usage;
    if (rios_ffi_rat_column(t, i, &name, &type, &usage, err) != RIOS_OK) return RIOS_FAIL;
    if (usage == GFU_PixelCount) {
      *col = i;
      return RIOS_OK;
    }
  }
  return rios_ffi_rat_create_column(t, "Histogram", GFT_Real, GFU_PixelCount, col, err);
}

static int store_rat_column(rios_output *o, int b, const rios_hist *h, rios_err *err) {
  double *values = malloc((size_t)h->nbins * sizeof(double));
  if (!values) {
    rios_seterr(err, "%s: out of memory for the histogram column", o->path);
    return RIOS_FAIL;
  }
  for (int i = 0; i < h->nbins; i++) values[i] = (double)h->counts[i];
  rios_rat *t = NULL;
  int col = -1;
  int rc = rios_rat_attach(o->ds, b + 1, o->path, 1, &t, err);
  if (rc == RIOS_OK &&
      (pixelcount_column(t, &col, err) != RIOS_OK ||
       rios_ffi_rat_set_row_count(t, h->nbins, err) != RIOS_OK ||
       rios_ffi_rat_write(t, col, 0, h->nbins, values, RIOS_FLOAT64, err) != RIOS_OK ||
       rios_ffi_rat_set_linear_binning(t, 0, 1, err) != RIOS_OK)) {
    rios_ffi_rat_discard(t);
    rc = RIOS_FAIL;
  } else if (rc == RIOS_OK) {
    rc = rios_ffi_rat_close(t, err);
  }
  free(values);
  return rc;
}

static int is_driver(const rios_output *o, const char *name) {
  GDALDriverH drv = GDALGetDatasetDriver(o->ds);
  return drv && strcmp(GDALGetDriverShortName(drv), name) == 0;
}

int rios_histogram_store(rios_output *o, int b, rios_err *err) {
  rios_bandacc *a = &o->acc[b];
  rios_hist h;
  choose_bins(o, a, &h);
  h.counts = calloc((size_t)h.nbins, sizeof(GUIntBig));
  if (!h.counts) {
    rios_seterr(err, "%s: out of memory for the histogram", o->path);
    return RIOS_FAIL;
  }
  count_bins(o, a, &h);
  GDALRasterBandH band = GDALGetRasterBand(o->ds, b + 1);
  CPLErrorReset();
  if (!band || GDALSetDefaultHistogramEx(band, h.lo, h.hi, h.nbins, h.counts) != CE_None) {
    rios_seterr(err, "%s: cannot store the histogram of band %d: %s", o->path, b + 1,
                rios_gdal_error());
    free(h.counts);
    return RIOS_FAIL;
  }
  int rc = store_rios_keys(o, b, &h, err);
  if (rc == RIOS_OK && o->thematic && h.direct && h.vmin == 0 && !is_driver(o, "HFA"))
    rc = store_rat_column(o, b, &h, err);
  free(h.counts);
  return rc;
}
