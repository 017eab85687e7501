/*
 * stats.c: an output's running statistics and the counts its histogram is
 * made from, gathered while blocks are written, in one pass: nothing is
 * read back from the file.
 *   - 8- and 16-bit data: a count per possible value, so the histogram is
 *     exact whatever its final bins.
 *   - 32-bit and float data, whose bins depend on the final range: a fine
 *     histogram of RIOS_FINE_BINS bins of a power-of-two width that doubles
 *     (merging pairs of bins) when the data outgrow it; histogram.c counts
 *     each fine bin in the final bin holding its centre. So a value may be
 *     counted in the bin next to its own only when it lies within one fine
 *     bin (at most 1/16384 of the data's range) of a bin edge. Integer data
 *     whose range is under 32768 get fine bins of width 1: exact.
 *   - Minimum, maximum, mean and standard deviation are exact (running sums
 *     of the values less the first one, in double).
 * A value is skipped when it is NaN or the output's nodata (stats_ignore) as
 * its dtype holds it (float32: rounded; see rios_ffi_dtype_nodata).
 */
#include "dtype.h"
#include "output_internal.h"
#include "rios_internal.h"

#include <cpl_error.h>
#include <gdal.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int rios_stats_init(rios_output *o, rios_err *err) {
  o->acc = calloc((size_t)o->nbands, sizeof(rios_bandacc));
  if (!o->acc) goto oom;
  long offset;
  int ndirect = rios_direct_range(o->dtype, &offset);
  for (int b = 0; b < o->nbands; b++) {
    rios_bandacc *a = &o->acc[b];
    a->min = INFINITY;
    a->max = -INFINITY;
    if (ndirect) a->direct = calloc((size_t)ndirect, sizeof(uint64_t));
    else a->fine = calloc(RIOS_FINE_BINS, sizeof(uint64_t));
    if (!a->direct && !a->fine) goto oom;
  }
  return RIOS_OK;
oom:
  rios_seterr(err, "%s: out of memory", o->path);
  return RIOS_FAIL;
}

void rios_stats_free(rios_output *o) {
  if (!o->acc) return;
  for (int b = 0; b < o->nbands; b++) {
    free(o->acc[b].direct);
    free(o->acc[b].fine);
  }
  free(o->acc);
  o->acc = NULL;
}

/* floor(x / 2) for the fine bin index of a doubled width. */
static int64_t half_floor(int64_t k) { return k >= 0 ? k / 2 : -((-k + 1) / 2); }

/* Bin k of v is floor((v - origin) / width), computed as v / width -
   origin / width: width is a power of two, so the two are the same but
   for overflow, which the second cannot do for finite v. */
static int64_t fine_index(const rios_bandacc *a, double v) {
  double inv = 1.0 / a->width;
  double k = floor(v * inv - a->origin * inv);
  if (k > 4e18) k = 4e18;
  if (k < -4e18) k = -4e18;
  return (int64_t)k;
}

/* Make the fine histogram cover finite values lo..hi (of this block), with
   the bins counted so far: double the width until the span fits, then
   centre the window on it. */
static void fine_fit(rios_bandacc *a, double lo, double hi, int integer) {
  const int64_t F = RIOS_FINE_BINS;
  if (!a->fine_set) {
    a->origin = lo;
    double w = (hi * 0.5 - lo * 0.5) / (double)(F / 4);  /* halves: no overflow */
    if (!(w > 0)) {
      int e;
      frexp(fabs(lo) > 0 ? fabs(lo) : 1.0, &e);
      w = ldexp(1.0, e - 40);
    }
    int e;
    double m = frexp(w, &e);
    a->width = m == 0.5 ? w : ldexp(1.0, e);   /* a power of two >= w */
    if (integer && a->width < 1) a->width = 1;
    a->fine_set = 1;
    a->used_lo = INT64_MAX;
    a->used_hi = INT64_MIN;
    a->k0 = 0;
  }
  int64_t klo = fine_index(a, lo), khi = fine_index(a, hi);
  if (klo >= a->k0 && khi < a->k0 + F) return;
  int64_t ulo = a->used_lo, uhi = a->used_hi;
  int empty = ulo > uhi;
  for (;;) {
    int64_t lo_k = empty || klo < ulo ? klo : ulo;
    int64_t hi_k = empty || khi > uhi ? khi : uhi;
    if (hi_k - lo_k + 1 <= F) {
      int64_t k0 = lo_k - (F - (hi_k - lo_k + 1)) / 2;
      /* Move the counts to the new window (width already merged below). */
      if (k0 != a->k0) {
        int64_t shift = a->k0 - k0;
        if (shift > 0) {
          memmove(a->fine + shift, a->fine, (size_t)(F - shift) * sizeof(uint64_t));
          memset(a->fine, 0, (size_t)shift * sizeof(uint64_t));
        } else {
          memmove(a->fine, a->fine - shift, (size_t)(F + shift) * sizeof(uint64_t));
          memset(a->fine + F + shift, 0, (size_t)(-shift) * sizeof(uint64_t));
        }
        a->k0 = k0;
      }
      return;
    }
    /* Double the width: bin k of the old width goes to floor(k / 2). The
       window's first bin stays aligned by merging in place. */
    int64_t nk0 = half_floor(a->k0);
    for (int64_t i = 0; i < F; i++) {
      uint64_t c = a->fine[i];
      if (!c) continue;
      a->fine[i] = 0;
      a->fine[half_floor(a->k0 + i) - nk0] += c;
    }
    a->k0 = nk0;
    a->width *= 2;
    if (!empty) { ulo = half_floor(ulo); uhi = half_floor(uhi); }
    a->used_lo = ulo;
    a->used_hi = uhi;
    klo = fine_index(a, lo);
    khi = fine_index(a, hi);
  }
}

/* One block's window of one band: where it is and what is skipped. */
typedef struct rios_window {
  const unsigned char *plane;  /* the band's buffer, margin included */
  int xsize, ysize, buf_cols, margin;
  int has_nodata;
  double nodata;
} rios_window;

/* Row r of the window's centre. */
RIOS_INLINE const void *window_row(const rios_window *w, int r, int dtype) {
  return w->plane + ((size_t)(r + w->margin) * (size_t)w->buf_cols + (size_t)w->margin) *
                        (size_t)rios_dtype_bytes(dtype);
}

/* The sums of one window, added to the band's afterwards. */
typedef struct rios_sums {
  uint64_t count;
  double sum, sumsq, mn, mx;
} rios_sums;

/* Count, sums, extremes and (with direct) the per-value counts of a window;
   shift is the band's first value, set here if this is its first. */
RIOS_INLINE void sum_window(const rios_window *w, rios_bandacc *a, int direct, rios_sums *s,
                            int dtype) {
  long offset;
  direct = rios_direct_range(dtype, &offset) && direct;
  uint64_t count = 0;
  double sum = 0, sumsq = 0, mn = INFINITY, mx = -INFINITY;
  int has_nodata = w->has_nodata;
  double nodata = w->nodata;
  for (int r = 0; r < w->ysize; r++) {
    const void *row = window_row(w, r, dtype);
    for (int c = 0; c < w->xsize; c++) {
      double v = rios_get(row, (size_t)c, dtype);
      if (v != v || (has_nodata && v == nodata)) continue;
      if (count == 0 && a->count == 0) a->shift = v;
      double d = v - a->shift;
      count++;
      sum += d;
      sumsq += d * d;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
      if (direct) a->direct[rios_get_int(row, (size_t)c, dtype) - offset]++;
    }
  }
  s->count = count;
  s->sum = sum;
  s->sumsq = sumsq;
  s->mn = mn;
  s->mx = mx;
}

/* The smallest and largest finite valid values of a window (only needed
   when it holds infinities). */
RIOS_INLINE void finite_range(const rios_window *w, double *lo, double *hi, int dtype) {
  double flo = INFINITY, fhi = -INFINITY;
  for (int r = 0; r < w->ysize; r++) {
    const void *row = window_row(w, r, dtype);
    for (int c = 0; c < w->xsize; c++) {
      double v = rios_get(row, (size_t)c, dtype);
      if (v != v || (w->has_nodata && v == w->nodata) || isinf(v)) continue;
      if (v < flo) flo = v;
      if (v > fhi) fhi = v;
    }
  }
  *lo = flo;
  *hi = fhi;
}

/* The fine histogram's pass over the window (in cache after sum_window).
   The index is floor((v - origin) / width), computed without a call to
   floor(): truncate, then step down for negative fractions. */
RIOS_INLINE void fine_window(const rios_window *w, rios_bandacc *a, int dtype) {
  uint64_t *fine = a->fine;
  double inv = 1.0 / a->width, oinv = a->origin * inv;
  int64_t k0 = a->k0;
  int has_nodata = w->has_nodata;
  double nodata = w->nodata;
  for (int r = 0; r < w->ysize; r++) {
    const void *row = window_row(w, r, dtype);
    for (int c = 0; c < w->xsize; c++) {
      double v = rios_get(row, (size_t)c, dtype);
      if (v != v || (has_nodata && v == nodata)) continue;
      if (v == INFINITY) { a->pos_inf++; continue; }
      if (v == -INFINITY) { a->neg_inf++; continue; }
      double t = v * inv - oinv;
      int64_t k = (int64_t)t;
      k -= (double)k > t;
      int64_t i = k - k0;
      i = i < 0 ? 0 : i;
      i = i >= RIOS_FINE_BINS ? RIOS_FINE_BINS - 1 : i;
      fine[i]++;
    }
  }
}

void rios_stats_add(rios_output *o, int b, const unsigned char *plane, int xsize, int ysize,
                    int buf_cols, int margin) {
  if (!o->gather_stats && !o->gather_hist) return;
  rios_bandacc *a = &o->acc[b];
  rios_window w = {plane, xsize, ysize, buf_cols, margin, o->has_nodata, o->nodata_pixel};
  rios_sums s = {0, 0, 0, INFINITY, -INFINITY};
#define RIOS_DTYPE_BODY(D) sum_window(&w, a, o->gather_hist, &s, D)
  RIOS_DTYPE_SWITCH(o->dtype)
#undef RIOS_DTYPE_BODY
  a->count += s.count;
  a->sum += s.sum;
  a->sumsq += s.sumsq;
  if (s.mn < a->min) a->min = s.mn;
  if (s.mx > a->max) a->max = s.mx;
  if (!a->fine || s.count == 0 || !o->gather_hist) return;
  double flo = s.mn, fhi = s.mx;
  if (isinf(s.mn) || isinf(s.mx)) {
#define RIOS_DTYPE_BODY(D) finite_range(&w, &flo, &fhi, D)
    RIOS_DTYPE_SWITCH(o->dtype)
#undef RIOS_DTYPE_BODY
  }
  if (flo <= fhi) {
    fine_fit(a, flo, fhi, rios_dtype_is_integer(o->dtype));
    /* k is monotonic in v: the window's bins span those of its extremes. */
    int64_t klo = fine_index(a, flo), khi = fine_index(a, fhi);
    if (klo < a->used_lo) a->used_lo = klo;
    if (khi > a->used_hi) a->used_hi = khi;
  }
#define RIOS_DTYPE_BODY(D) fine_window(&w, a, D)
  RIOS_DTYPE_SWITCH(o->dtype)
#undef RIOS_DTYPE_BODY
}

int rios_stats_store(rios_output *o, int b, rios_err *err) {
  rios_bandacc *a = &o->acc[b];
  GDALRasterBandH band = GDALGetRasterBand(o->ds, b + 1);
  double n = (double)a->count;
  double mean = a->shift + a->sum / n;
  double var = (a->sumsq - a->sum * a->sum / n) / n;
  double sd = var > 0 ? sqrt(var) : 0;
  CPLErrorReset();
  if (!band || GDALSetRasterStatistics(band, a->min, a->max, mean, sd) != CE_None) {
    rios_seterr(err, "%s: cannot store the statistics of band %d: %s", o->path, b + 1,
                rios_gdal_error());
    return RIOS_FAIL;
  }
  if (o->has_nodata &&
      rios_output_set_number(o, b, "STATISTICS_EXCLUDEDVALUES", o->nodata, 0, err) != 0)
    return RIOS_FAIL;
  if (rios_output_set_item(o, b, "STATISTICS_SKIPFACTORX", "1", err) != 0 ||
      rios_output_set_item(o, b, "STATISTICS_SKIPFACTORY", "1", err) != 0)
    return RIOS_FAIL;
  return RIOS_OK;
}
