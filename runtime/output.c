/*
 * output.c: output rasters. Created at the first block from the first array
 * given for them, written block by block from the array's own buffer (only
 * the centre when the array carries an overlap margin), and finished with
 * statistics, a histogram and overviews, all gathered while writing, that
 * gdalinfo and QGIS read as they are.
 *
 * Basic statistics and the histogram are gathered while blocks are written,
 * in one pass: nothing is read back from the file.
 *   - 8- and 16-bit data: a count per possible value, so the histogram is
 *     exact whatever its final bins.
 *   - 32-bit and float data, whose bins depend on the final range: a fine
 *     histogram of RIOS_FINE_BINS bins of a power-of-two width that doubles
 *     (merging pairs of bins) when the data outgrow it; at the end each fine
 *     bin is counted in the final bin holding its centre. So a value may be
 *     counted in the bin next to its own only when it lies within one fine
 *     bin (at most 1/16384 of the data's range) of a bin edge. Integer data
 *     whose range is under 32768 get fine bins of width 1: exact.
 *   - Minimum, maximum, mean and standard deviation are exact (running sums
 *     of the values less the first one, in double).
 */
#include "dtype.h"
#include "rios_ffi.h"
#include "rios_internal.h"

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

#define RIOS_FINE_BINS 65536

/* Running statistics of one band, over the pixels that are not ignored. */
typedef struct rios_bandacc {
  uint64_t count;
  double min, max;
  double shift;            /* first value seen: sums are of (v - shift) */
  double sum, sumsq;
  uint64_t *direct;        /* per-value counts for 8/16-bit data, or NULL */
  /* The fine histogram of 32-bit and float data: fine[i] counts the finite
     values v with floor((v - origin) / width) == k0 + i. */
  uint64_t *fine;
  int fine_set;            /* origin, width, k0 chosen */
  double origin, width;
  int64_t k0, used_lo, used_hi;  /* used: lowest and highest k counted */
  uint64_t neg_inf, pos_inf;
} rios_bandacc;

/*
 * Overviews built while blocks are written, so that finishing an output
 * never reads the raster back. For AVERAGE an overview pixel is the mean of
 * the valid source pixels of its level x level footprint (clipped at the
 * raster's right and bottom edges; nodata when none is valid): the first
 * (smallest) level sums the written pixels, and each larger level, a
 * multiple of it, sums the first level's sums and counts as its rows
 * complete, so every level is exact. For NEAREST (thematic) an overview
 * pixel is the source pixel at its footprint's centre (clipped). A row of a
 * level is stored as soon as every source pixel under it has been written;
 * its sums live only until then, so memory follows the block height, not
 * the raster.
 */
typedef struct rios_ovrrow {
  double *sum;             /* nbands * width of the level */
  uint32_t *cnt;           /* nbands * width: valid pixels summed */
  uint64_t seen;           /* level 0 (and NEAREST): source pixels of one band
                              written under this row; AVERAGE levels > 0:
                              first-level rows merged into it */
} rios_ovrrow;

typedef struct rios_ovr {
  int active;
  int nearest;             /* NEAREST (thematic) instead of AVERAGE */
  int nlevels, levels[32]; /* ascending */
  int ow[32], oh[32];      /* size of each level */
  rios_ovrrow **rows[32];    /* oh[k] of them per level, NULL unless in progress */
  double *line;            /* one row of the widest level, being stored */
} rios_ovr;

struct rios_output {
  GDALDatasetH ds;
  int flush_rows;          /* hand finished rows of tiles to GDAL as written */
  char *path;
  int xsize, ysize, nbands, dtype;
  int has_nodata;
  double nodata;
  int thematic;
  rios_bandacc *acc;         /* nbands of them */
  int gather_stats, gather_hist;  /* what write gathers (both by default) */
  rios_ovr ovr;              /* overviews built while writing, when active */
};

/* Number of per-value counters and the value of counter 0, for direct types. */
static int direct_range(int dtype, long *offset) {
  switch (dtype) {
    case RIOS_INT8: *offset = -128; return 256;
    case RIOS_UINT8: *offset = 0; return 256;
    case RIOS_INT16: *offset = -32768; return 65536;
    case RIOS_UINT16: *offset = 0; return 65536;
    default: *offset = 0; return 0;
  }
}

static void output_free(rios_output *o) {
  if (!o) return;
  if (o->acc) {
    for (int b = 0; b < o->nbands; b++) {
      free(o->acc[b].direct);
      free(o->acc[b].fine);
    }
    free(o->acc);
  }
  for (int k = 0; k < o->ovr.nlevels; k++) {
    if (!o->ovr.rows[k]) continue;
    for (int j = 0; j < o->ovr.oh[k]; j++) {
      if (!o->ovr.rows[k][j]) continue;
      free(o->ovr.rows[k][j]->sum);
      free(o->ovr.rows[k][j]->cnt);
      free(o->ovr.rows[k][j]);
    }
    free(o->ovr.rows[k]);
  }
  free(o->ovr.line);
  free(o->path);
  free(o);
}

rios_output *rios_ffi_output_create(const char *path, const char *driver,
                                int xsize, int ysize, int nbands, int dtype,
                                const double *transform, const char *projection,
                                const char *const *options, int has_nodata,
                                double nodata, const char *const *layer_names,
                                int thematic, rios_err *err) {
  GDALDriverH drv = GDALGetDriverByName(driver);
  if (!drv) {
    rios_seterr(err, "%s: no GDAL driver named '%s'", path, driver);
    return NULL;
  }
  if (!GDALGetMetadataItem(drv, GDAL_DCAP_CREATE, NULL)) {
    rios_seterr(err, "%s: the GDAL driver '%s' cannot create files", path, driver);
    return NULL;
  }
  /* An existing file is replaced, with its sidecars (.aux.xml, .ovr). */
  if (access(path, F_OK) == 0) {
    GDALDriverH old = GDALIdentifyDriver(path, NULL);
    CPLErrorReset();
    if (!(old && GDALDeleteDataset(old, path) == CE_None) && unlink(path) != 0) {
      rios_seterr(err, "%s: exists and cannot be removed to be replaced", path);
      return NULL;
    }
  }
  char **opts = NULL;
  for (int i = 0; options && options[i]; i++) opts = CSLAddString(opts, options[i]);
  if (dtype == RIOS_INT8 && !RIOS_HAVE_GDT_INT8)
    opts = CSLSetNameValue(opts, "PIXELTYPE", "SIGNEDBYTE");

  rios_output *o = calloc(1, sizeof(*o));
  if (o) o->path = strdup(path);
  if (o) o->acc = calloc((size_t)nbands, sizeof(rios_bandacc));
  if (!o || !o->path || !o->acc) {
    output_free(o);
    CSLDestroy(opts);
    rios_seterr(err, "%s: out of memory", path);
    return NULL;
  }
  o->xsize = xsize;
  o->ysize = ysize;
  o->nbands = nbands;
  o->dtype = dtype;
  o->has_nodata = has_nodata;
  o->nodata = nodata;
  o->thematic = thematic;
  o->gather_stats = o->gather_hist = 1;
  long offset;
  int ndirect = direct_range(dtype, &offset);
  for (int b = 0; b < nbands; b++) {
    o->acc[b].min = INFINITY;
    o->acc[b].max = -INFINITY;
    if (ndirect) o->acc[b].direct = calloc((size_t)ndirect, sizeof(uint64_t));
    else o->acc[b].fine = calloc(RIOS_FINE_BINS, sizeof(uint64_t));
    {
      if (!o->acc[b].direct && !o->acc[b].fine) {
        output_free(o);
        CSLDestroy(opts);
        rios_seterr(err, "%s: out of memory", path);
        return NULL;
      }
    }
  }

  CPLErrorReset();
  o->ds = GDALCreate(drv, path, xsize, ysize, nbands, rios_gdal_type(dtype), opts);
  CSLDestroy(opts);
  if (!o->ds) {
    rios_seterr(err, "%s: cannot create with driver %s: %s", path, driver, rios_gdal_error());
    output_free(o);
    return NULL;
  }
  if (GDALSetGeoTransform(o->ds, (double *)transform) != CE_None ||
      (projection && *projection && GDALSetProjection(o->ds, projection) != CE_None)) {
    rios_seterr(err, "%s: cannot set the grid: %s", path, rios_gdal_error());
    rios_ffi_output_close(o);
    return NULL;
  }
  for (int b = 1; b <= nbands; b++) {
    GDALRasterBandH band = GDALGetRasterBand(o->ds, b);
    if (has_nodata && GDALSetRasterNoDataValue(band, nodata) != CE_None) {
      rios_seterr(err, "%s: cannot set nodata %g on band %d: %s", path, nodata, b,
                rios_gdal_error());
      rios_ffi_output_close(o);
      return NULL;
    }
    if (layer_names && layer_names[b - 1]) GDALSetDescription(band, layer_names[b - 1]);
    GDALSetMetadataItem(band, "LAYER_TYPE", thematic ? "thematic" : "athematic", NULL);
  }
  return o;
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
    a->origin = integer ? lo : lo;
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

/* The fine histogram's pass over the block (in cache after ACCUMULATE).
   The index is floor((v - origin) / width), computed without a call to
   floor(): truncate, then step down for negative fractions. */
#define FINE(T)                                                               \
  do {                                                                        \
    const T *src = (const T *)plane;                                          \
    uint64_t *fine = a->fine;                                                 \
    double inv = 1.0 / a->width, oinv = a->origin * inv;                      \
    int64_t k0 = a->k0;                                                       \
    for (int r = 0; r < ysize; r++) {                                         \
      const T *row = src + (size_t)(r + margin) * (size_t)buf_cols + margin;  \
      for (int c = 0; c < xsize; c++) {                                       \
        double v = (double)row[c];                                            \
        if (v != v || (has_nodata && v == nodata)) continue;                  \
        if (v == INFINITY) { a->pos_inf++; continue; }                        \
        if (v == -INFINITY) { a->neg_inf++; continue; }                       \
        double t = v * inv - oinv;                                            \
        int64_t k = (int64_t)t;                                               \
        k -= (double)k > t;                                                   \
        int64_t i = k - k0;                                                   \
        i = i < 0 ? 0 : i;                                                    \
        i = i >= RIOS_FINE_BINS ? RIOS_FINE_BINS - 1 : i;                         \
        fine[i]++;                                                            \
      }                                                                       \
    }                                                                         \
  } while (0)

/* The smallest and largest finite valid values of a block (only needed when
   the block holds infinities). */
#define FINITE_RANGE(T)                                                       \
  do {                                                                        \
    const T *src = (const T *)plane;                                          \
    for (int r = 0; r < ysize; r++) {                                         \
      const T *row = src + (size_t)(r + margin) * (size_t)buf_cols + margin;  \
      for (int c = 0; c < xsize; c++) {                                       \
        double v = (double)row[c];                                            \
        if (v != v || (has_nodata && v == nodata) || isinf(v)) continue;      \
        if (v < flo) flo = v;                                                 \
        if (v > fhi) fhi = v;                                                 \
      }                                                                       \
    }                                                                         \
  } while (0)

static void accumulate(rios_output *o, int b, const void *plane, int xsize, int ysize,
                       int buf_cols, int margin) {
  if (!o->gather_stats && !o->gather_hist) return;
  rios_bandacc *a = &o->acc[b];
  int has_nodata = o->has_nodata;
  double nodata = o->nodata;
  uint64_t count = 0;
  double sum = 0, sumsq = 0, mn = INFINITY, mx = -INFINITY;
  long offset;
  direct_range(o->dtype, &offset);
  int direct = o->gather_hist;
  switch (o->dtype) {
    case RIOS_INT8: ACCUMULATE(int8_t, direct); break;
    case RIOS_UINT8: ACCUMULATE(uint8_t, direct); break;
    case RIOS_INT16: ACCUMULATE(int16_t, direct); break;
    case RIOS_UINT16: ACCUMULATE(uint16_t, direct); break;
    case RIOS_INT32: ACCUMULATE(int32_t, 0); break;
    case RIOS_UINT32: ACCUMULATE(uint32_t, 0); break;
    case RIOS_FLOAT32: ACCUMULATE(float, 0); break;
    case RIOS_FLOAT64: ACCUMULATE(double, 0); break;
    default: break;
  }
  a->count += count;
  a->sum += sum;
  a->sumsq += sumsq;
  if (mn < a->min) a->min = mn;
  if (mx > a->max) a->max = mx;
  if (!a->fine || count == 0 || !o->gather_hist) return;
  double flo = mn, fhi = mx;
  if (isinf(mn) || isinf(mx)) {
    flo = INFINITY;
    fhi = -INFINITY;
    switch (o->dtype) {
      case RIOS_FLOAT32: FINITE_RANGE(float); break;
      case RIOS_FLOAT64: FINITE_RANGE(double); break;
      default: break;
    }
  }
  if (flo <= fhi) {
    fine_fit(a, flo, fhi, o->dtype == RIOS_INT32 || o->dtype == RIOS_UINT32);
    /* k is monotonic in v: the block's bins span those of its extremes. */
    int64_t klo = fine_index(a, flo), khi = fine_index(a, fhi);
    if (klo < a->used_lo) a->used_lo = klo;
    if (khi > a->used_hi) a->used_hi = khi;
  }
  switch (o->dtype) {
    case RIOS_INT32: FINE(int32_t); break;
    case RIOS_UINT32: FINE(uint32_t); break;
    case RIOS_FLOAT32: FINE(float); break;
    case RIOS_FLOAT64: FINE(double); break;
    default: break;
  }
}
#undef ACCUMULATE
#undef FINE
#undef FINITE_RANGE

/* The levels kept for this raster (those whose smaller dimension stays at
   least min_dim), ascending. */
static int kept_levels(const rios_output *o, const rios_finish_opts *opts, int *levels) {
  int n = 0;
  int mindim = o->xsize < o->ysize ? o->xsize : o->ysize;
  for (int i = 0; i < opts->noverview_levels && i < 32; i++) {
    int l = opts->overview_levels[i];
    if (l > 1 && mindim / l >= opts->overview_min_dim) levels[n++] = l;
  }
  for (int i = 1; i < n; i++)
    for (int k = i; k > 0 && levels[k - 1] > levels[k]; k--) {
      int t = levels[k];
      levels[k] = levels[k - 1];
      levels[k - 1] = t;
    }
  return n;
}

static const char *overview_agg(const rios_finish_opts *opts) {
  const char *agg = opts->overview_aggtype;
  if (!agg || !*agg) agg = opts->thematic ? "NEAREST" : "AVERAGE";
  return agg;
}

/* The overview band of b (0-based) with the size of level l, or NULL. */
static GDALRasterBandH overview_band(rios_output *o, int b, int l) {
  GDALRasterBandH band = GDALGetRasterBand(o->ds, b + 1);
  int ox = (o->xsize + l - 1) / l, oy = (o->ysize + l - 1) / l;
  for (int k = 0; k < GDALGetOverviewCount(band); k++) {
    GDALRasterBandH ov = GDALGetOverview(band, k);
    if (ov && GDALGetRasterBandXSize(ov) == ox && GDALGetRasterBandYSize(ov) == oy) return ov;
  }
  return NULL;
}

int rios_ffi_output_overviews(rios_output *o, const rios_finish_opts *opts, rios_err *err) {
  rios_ovr *v = &o->ovr;
  if (opts->omit_pyramids || v->active) return 0;
  int n = kept_levels(o, opts, v->levels);
  const char *agg = overview_agg(opts);
  int nearest = EQUAL(agg, "NEAREST");
  if (n == 0 || (!nearest && !EQUAL(agg, "AVERAGE"))) return 0;
  for (int k = 1; k < n && !nearest; k++)
    if (v->levels[k] % v->levels[0] != 0) return 0;
  /* Make the (empty) overviews now; a driver that cannot gets them built
     by GDAL after the last block instead. */
  CPLErrorReset();
  if (GDALBuildOverviews(o->ds, "NONE", n, v->levels, 0, NULL, NULL, NULL) != CE_None) {
    CPLErrorReset();
    return 0;
  }
  for (int b = 0; b < o->nbands; b++)
    for (int k = 0; k < n; k++)
      if (!overview_band(o, b, v->levels[k])) return 0;
  v->nlevels = n;
  for (int k = 0; k < n; k++) {
    int l = v->levels[k];
    v->ow[k] = (o->xsize + l - 1) / l;
    v->oh[k] = (o->ysize + l - 1) / l;
    v->rows[k] = calloc((size_t)v->oh[k], sizeof(rios_ovrrow *));
    if (!v->rows[k]) {
      rios_seterr(err, "%s: out of memory for overviews", o->path);
      return -1;
    }
  }
  v->line = malloc(sizeof(double) * (size_t)v->ow[0]);
  if (!v->line) {
    rios_seterr(err, "%s: out of memory for overviews", o->path);
    return -1;
  }
  v->nearest = nearest;
  v->active = 1;
  return 0;
}

static rios_ovrrow *ovr_row(rios_output *o, int k, int j) {
  rios_ovr *v = &o->ovr;
  if (v->rows[k][j]) return v->rows[k][j];
  rios_ovrrow *row = calloc(1, sizeof(*row));
  size_t n = (size_t)o->nbands * (size_t)v->ow[k];
  if (row) row->sum = calloc(n, sizeof(double));
  if (row && row->sum) row->cnt = calloc(n, sizeof(uint32_t));
  if (!row || !row->sum || !row->cnt) {
    if (row) free(row->sum);
    free(row);
    return NULL;
  }
  v->rows[k][j] = row;
  return row;
}

static int ovr_store(rios_output *o, int k, int j, rios_err *err);

/* AVERAGE: add first-level row j, complete, into the larger levels, and
   store those that are then complete. */
static int ovr_merge_up(rios_output *o, int j, rios_err *err) {
  rios_ovr *v = &o->ovr;
  rios_ovrrow *src = v->rows[0][j];
  for (int k = 1; k < v->nlevels; k++) {
    int f = v->levels[k] / v->levels[0];
    int J = j / f;
    rios_ovrrow *dst = ovr_row(o, k, J);
    if (!dst) {
      rios_seterr(err, "%s: out of memory for overviews", o->path);
      return -1;
    }
    for (int b = 0; b < o->nbands; b++) {
      const double *s = src->sum + (size_t)b * v->ow[0];
      const uint32_t *c = src->cnt + (size_t)b * v->ow[0];
      double *ds = dst->sum + (size_t)b * v->ow[k];
      uint32_t *dc = dst->cnt + (size_t)b * v->ow[k];
      for (int i = 0; i < v->ow[0]; i++) {
        ds[i / f] += s[i];
        dc[i / f] += c[i];
      }
    }
    dst->seen++;
    int under = (J + 1) * f <= v->oh[0] ? f : v->oh[0] - J * f;
    if (dst->seen == (uint64_t)under && ovr_store(o, k, J, err) != 0) return -1;
  }
  return 0;
}

/* Store row j of level k (complete) in every band, then free it. */
static int ovr_store(rios_output *o, int k, int j, rios_err *err) {
  rios_ovr *v = &o->ovr;
  rios_ovrrow *row = v->rows[k][j];
  if (!v->nearest && k == 0 && ovr_merge_up(o, j, err) != 0) return -1;
  double empty = o->has_nodata ? o->nodata : (o->dtype >= RIOS_FLOAT32 ? NAN : 0);
  int w = v->ow[k];
  for (int b = 0; b < o->nbands; b++) {
    const double *sum = row->sum + (size_t)b * w;
    const uint32_t *cnt = row->cnt + (size_t)b * w;
    for (int i = 0; i < w; i++) v->line[i] = cnt[i] ? sum[i] / cnt[i] : empty;
    GDALRasterBandH ov = overview_band(o, b, v->levels[k]);
    if (!ov || GDALRasterIO(ov, GF_Write, 0, j, w, 1, v->line, w, 1, GDT_Float64, 0, 0)
        != CE_None) {
      rios_seterr(err, "%s: writing row %d of the 1:%d overview of band %d failed: %s",
                o->path, j, v->levels[k], b + 1, rios_gdal_error());
      return -1;
    }
  }
  free(row->sum);
  free(row->cnt);
  free(row);
  v->rows[k][j] = NULL;
  return 0;
}

/* Add one band's block to the first level's sums. */
#define OVR_AVERAGE(T)                                                        \
  do {                                                                        \
    const T *src = (const T *)plane;                                          \
    for (int r = 0; r < ysize; r++) {                                         \
      const T *row = src + (size_t)(r + margin) * (size_t)buf_cols + margin;  \
      rios_ovrrow *orow = v->rows[0][(yoff + r) / l];                           \
      double *sum = orow->sum + (size_t)b * v->ow[0];                         \
      uint32_t *cnt = orow->cnt + (size_t)b * v->ow[0];                       \
      int c = 0;                                                              \
      while (c < xsize) {                                                     \
        int i = (xoff + c) / l;                                               \
        int end = (i + 1) * l - xoff;                                         \
        if (end > xsize) end = xsize;                                         \
        double s = 0;                                                         \
        uint32_t n = 0;                                                       \
        for (; c < end; c++) {                                                \
          double x = (double)row[c];                                          \
          if (x != x || (has_nodata && x == nodata)) continue;                \
          s += x;                                                             \
          n++;                                                                \
        }                                                                     \
        sum[i] += s;                                                          \
        cnt[i] += n;                                                          \
      }                                                                       \
    }                                                                         \
  } while (0)

/* NEAREST, level k: the source pixel at the centre of each footprint. */
#define OVR_NEAREST(T)                                                        \
  do {                                                                        \
    const T *src = (const T *)plane;                                          \
    for (int r = 0; r < ysize; r++) {                                         \
      int y = yoff + r, j = y / l;                                            \
      int cy = j * l + l / 2;                                                 \
      if (cy >= o->ysize) cy = o->ysize - 1;                                  \
      if (y != cy) continue;                                                  \
      const T *row = src + (size_t)(r + margin) * (size_t)buf_cols + margin;  \
      double *sum = v->rows[k][j]->sum + (size_t)b * v->ow[k];                \
      uint32_t *cnt = v->rows[k][j]->cnt + (size_t)b * v->ow[k];              \
      for (int i = xoff / l; i * l < xoff + xsize; i++) {                     \
        int cx = i * l + l / 2;                                               \
        if (cx >= o->xsize) cx = o->xsize - 1;                                \
        if (cx < xoff || cx >= xoff + xsize) continue;                        \
        double x = (double)row[cx - xoff];                                    \
        if (x != x || (has_nodata && x == nodata)) continue;                  \
        sum[i] = x;                                                           \
        cnt[i] = 1;                                                           \
      }                                                                       \
    }                                                                         \
  } while (0)

#define OVR_SWITCH(MACRO)                                                     \
  switch (o->dtype) {                                                         \
    case RIOS_INT8: MACRO(int8_t); break;                                       \
    case RIOS_UINT8: MACRO(uint8_t); break;                                     \
    case RIOS_INT16: MACRO(int16_t); break;                                     \
    case RIOS_UINT16: MACRO(uint16_t); break;                                   \
    case RIOS_INT32: MACRO(int32_t); break;                                     \
    case RIOS_UINT32: MACRO(uint32_t); break;                                   \
    case RIOS_FLOAT32: MACRO(float); break;                                     \
    case RIOS_FLOAT64: MACRO(double); break;                                    \
    default: break;                                                           \
  }

/* Count what was written under rows j0..j1 of level k and store the rows
   now complete. */
static int ovr_rows_done(rios_output *o, int k, int yoff, int ysize, int xsize, rios_err *err) {
  rios_ovr *v = &o->ovr;
  int l = v->levels[k];
  for (int j = yoff / l; j <= (yoff + ysize - 1) / l; j++) {
    int y0 = j * l > yoff ? j * l : yoff;
    int y1 = (j + 1) * l < yoff + ysize ? (j + 1) * l : yoff + ysize;
    rios_ovrrow *row = v->rows[k][j];
    row->seen += (uint64_t)(y1 - y0) * (uint64_t)xsize;
    int under = (j + 1) * l <= o->ysize ? l : o->ysize - j * l;
    if (row->seen == (uint64_t)under * (uint64_t)o->xsize && ovr_store(o, k, j, err) != 0)
      return -1;
  }
  return 0;
}

static int ovr_accumulate(rios_output *o, int xoff, int yoff, int xsize, int ysize,
                          const unsigned char *buf, size_t plane_bytes, int buf_cols,
                          int margin, rios_err *err) {
  rios_ovr *v = &o->ovr;
  int has_nodata = o->has_nodata;
  double nodata = o->nodata;
  int nk = v->nearest ? v->nlevels : 1;   /* levels fed from the pixels */
  for (int k = 0; k < nk; k++) {
    int l = v->levels[k];
    for (int j = yoff / l; j <= (yoff + ysize - 1) / l; j++) {
      if (!ovr_row(o, k, j)) {
        rios_seterr(err, "%s: out of memory for overviews", o->path);
        return -1;
      }
    }
    for (int b = 0; b < o->nbands; b++) {
      const void *plane = buf + (size_t)b * plane_bytes;
      if (v->nearest) {
        OVR_SWITCH(OVR_NEAREST)
      } else {
        OVR_SWITCH(OVR_AVERAGE)
      }
    }
    if (ovr_rows_done(o, k, yoff, ysize, xsize, err) != 0) return -1;
  }
  return 0;
}
#undef OVR_AVERAGE
#undef OVR_NEAREST
#undef OVR_SWITCH

/* Every row of every level must have been stored by the last block. */
static int ovr_finish(rios_output *o, rios_err *err) {
  rios_ovr *v = &o->ovr;
  for (int k = 0; k < v->nlevels; k++) {
    for (int j = 0; j < v->oh[k]; j++) {
      if (v->rows[k][j]) {
        rios_seterr(err, "%s: row %d of the 1:%d overview was not complete when the output "
                  "was finished", o->path, j, v->levels[k]);
        return -1;
      }
    }
  }
  return 0;
}

/* Which of statistics and histogram the writes gather; an omitted one costs
   nothing. Call before the first write. */
int rios_ffi_output_gather(rios_output *o, int stats, int histogram) {
  o->gather_stats = stats != 0;
  o->gather_hist = histogram != 0;
  return 0;
}

/*
 * With compute threads the writing thread mostly waits, so it can compress
 * as it goes. Blocks arrive in order, left to right and top to bottom; when
 * one ends a row of blocks on a boundary of the file's own tiles (or
 * strips), every tile above is complete and is handed to GDAL now, instead
 * of all at once when the file is closed, after the threads are done. Not
 * done without compute threads: there the flush only competes with reading
 * for GDAL's cache lock, and the cache then fills with input tiles.
 */
void rios_ffi_output_flush_rows(rios_output *o, int on) { o->flush_rows = on ? 1 : 0; }

static int flush_finished_rows(rios_output *o, int xend, int yend, rios_err *err) {
  if (!o->flush_rows || xend != o->xsize) return 0;
  int tile_w = 0, tile_h = 0;
  GDALGetBlockSize(GDALGetRasterBand(o->ds, 1), &tile_w, &tile_h);
  if (tile_h <= 0 || (yend % tile_h != 0 && yend != o->ysize)) return 0;
  CPLErrorReset();
  for (int b = 1; b <= o->nbands; b++) {
    if (GDALFlushRasterCache(GDALGetRasterBand(o->ds, b)) != CE_None) {
      rios_seterr(err, "%s: writing rows up to %d failed: %s", o->path, yend, rios_gdal_error());
      return -1;
    }
  }
  return 0;
}

int rios_ffi_output_write(rios_output *o, int xoff, int yoff, int xsize, int ysize,
                        const void *buf, int buf_cols, int buf_rows, int margin,
                        rios_err *err) {
  int esize = rios_ffi_dtype_size(o->dtype);
  if (xoff < 0 || yoff < 0 || xoff + xsize > o->xsize || yoff + ysize > o->ysize ||
      buf_cols < xsize + 2 * margin || buf_rows < ysize + 2 * margin) {
    rios_seterr(err, "%s: write of window x=%d y=%d %dx%d is outside the %dx%d raster",
              o->path, xoff, yoff, xsize, ysize, o->xsize, o->ysize);
    return -1;
  }
  size_t plane = (size_t)buf_cols * (size_t)buf_rows * (size_t)esize;
  const unsigned char *start = (const unsigned char *)buf +
      ((size_t)margin * (size_t)buf_cols + (size_t)margin) * (size_t)esize;
  CPLErrorReset();
  CPLErr e = GDALDatasetRasterIO(o->ds, GF_Write, xoff, yoff, xsize, ysize, (void *)start,
                                 xsize, ysize, rios_gdal_type(o->dtype), o->nbands, NULL,
                                 esize, (GSpacing)buf_cols * esize, (GSpacing)plane);
  if (e != CE_None) {
    rios_seterr(err, "%s: write of window x=%d y=%d %dx%d failed: %s", o->path, xoff, yoff,
              xsize, ysize, rios_gdal_error());
    return -1;
  }
  for (int b = 0; b < o->nbands; b++)
    accumulate(o, b, (const unsigned char *)buf + (size_t)b * plane, xsize, ysize,
               buf_cols, margin);
  if (o->ovr.active &&
      ovr_accumulate(o, xoff, yoff, xsize, ysize, (const unsigned char *)buf, plane,
                     buf_cols, margin, err) != 0)
    return -1;
  return flush_finished_rows(o, xoff + xsize, yoff + ysize, err);
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
typedef struct rios_hist {
  int nbins, direct;
  double lo, hi, vmin, vmax, step;
  GUIntBig *counts;
} rios_hist;

static int is_integer_dtype(int dtype) { return dtype <= RIOS_UINT32; }

static void choose_bins(const rios_output *o, const rios_bandacc *a, rios_hist *h) {
  double mn = a->min, mx = a->max;
  int integer = is_integer_dtype(o->dtype);
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

/* Fill h->counts for band b from the per-value counts or the fine
   histogram gathered while the blocks were written. */
static int histogram_counts(rios_output *o, int b, rios_hist *h, rios_err *err) {
  rios_bandacc *a = &o->acc[b];
  (void)err;
  if (a->direct) {
    long offset;
    int n = direct_range(o->dtype, &offset);
    for (int i = 0; i < n; i++) {
      if (!a->direct[i]) continue;
      h->counts[bin_of(h, (double)(i + offset))] += a->direct[i];
    }
    return 0;
  }
  int integer_bins = a->width == 1 && is_integer_dtype(o->dtype);
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
  return 0;
}

static void set_double_item(GDALRasterBandH band, const char *key, double v, int integer) {
  char s[64];
  if (integer) snprintf(s, sizeof(s), "%.0f", v);
  else snprintf(s, sizeof(s), "%.17g", v);
  GDALSetMetadataItem(band, key, s, NULL);
}

static int write_histogram(rios_output *o, int b, rios_err *err) {
  rios_bandacc *a = &o->acc[b];
  GDALRasterBandH band = GDALGetRasterBand(o->ds, b + 1);
  rios_hist h;
  choose_bins(o, a, &h);
  h.counts = calloc((size_t)h.nbins, sizeof(GUIntBig));
  if (!h.counts) {
    rios_seterr(err, "%s: out of memory for the histogram", o->path);
    return -1;
  }
  if (histogram_counts(o, b, &h, err) != 0) {
    free(h.counts);
    return -1;
  }
  if (GDALSetDefaultHistogramEx(band, h.lo, h.hi, h.nbins, h.counts) != CE_None) {
    rios_seterr(err, "%s: cannot store the histogram of band %d: %s", o->path, b + 1,
              rios_gdal_error());
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

static int write_basic_stats(rios_output *o, int b, rios_err *err) {
  rios_bandacc *a = &o->acc[b];
  GDALRasterBandH band = GDALGetRasterBand(o->ds, b + 1);
  double n = (double)a->count;
  double mean = a->shift + a->sum / n;
  double var = (a->sumsq - a->sum * a->sum / n) / n;
  double sd = var > 0 ? sqrt(var) : 0;
  if (GDALSetRasterStatistics(band, a->min, a->max, mean, sd) != CE_None) {
    rios_seterr(err, "%s: cannot store the statistics of band %d: %s", o->path, b + 1,
              rios_gdal_error());
    return -1;
  }
  if (o->has_nodata) set_double_item(band, "STATISTICS_EXCLUDEDVALUES", o->nodata, 0);
  GDALSetMetadataItem(band, "STATISTICS_SKIPFACTORX", "1", NULL);
  GDALSetMetadataItem(band, "STATISTICS_SKIPFACTORY", "1", NULL);
  return 0;
}

int rios_ffi_output_finish(rios_output *o, const rios_finish_opts *opts,
                         rios_finish_times *times, rios_err *err) {
  times->basicstats = times->histogram = times->pyramids = 0;
  if (!opts->omit_pyramids && o->ovr.active) {
    double t0 = rios_ffi_now();
    if (ovr_finish(o, err) != 0) return -1;
    times->pyramids = rios_ffi_now() - t0;
  } else if (!opts->omit_pyramids) {
    double t0 = rios_ffi_now();
    int levels[32];
    int n = kept_levels(o, opts, levels);
    if (n > 0) {
      const char *agg = overview_agg(opts);
      CPLErrorReset();
      /* GDAL reads the full-resolution raster in chunks of whole rows, whose
         memory grows with the raster's width; smaller chunks keep peak RSS
         flat (README "Memory"), unless the user sets the option. */
      int chunky = CPLGetConfigOption("GDAL_OVR_CHUNKYSIZE", NULL) == NULL;
      if (chunky) CPLSetThreadLocalConfigOption("GDAL_OVR_CHUNKYSIZE", "64");
      CPLErr built = GDALBuildOverviews(o->ds, agg, n, levels, 0, NULL, NULL, NULL);
      if (chunky) CPLSetThreadLocalConfigOption("GDAL_OVR_CHUNKYSIZE", NULL);
      if (built != CE_None) {
        rios_seterr(err, "%s: building overviews failed: %s", o->path, rios_gdal_error());
        return -1;
      }
    }
    times->pyramids = rios_ffi_now() - t0;
  }
  for (int b = 0; b < o->nbands; b++) {
    if (o->acc[b].count == 0) continue;  /* all nodata: nothing to describe */
    if (!opts->omit_basic_stats && (o->gather_stats || o->gather_hist)) {
      double t0 = rios_ffi_now();
      if (write_basic_stats(o, b, err) != 0) return -1;
      times->basicstats += rios_ffi_now() - t0;
    }
    if (!opts->omit_histogram && o->gather_hist) {
      double t0 = rios_ffi_now();
      if (write_histogram(o, b, err) != 0) return -1;
      times->histogram += rios_ffi_now() - t0;
    }
  }
  return 0;
}

void rios_ffi_output_close(rios_output *o) {
  if (!o) return;
  if (o->ds) GDALClose(o->ds);
  output_free(o);
}
