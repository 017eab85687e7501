/*
 * overviews.c: an output's overviews, built while blocks are written, so
 * that finishing an output never reads the raster back.
 *
 * For AVERAGE an overview pixel is the mean of the valid source pixels of
 * its level x level footprint (clipped at the raster's right and bottom
 * edges; nodata when none is valid): the first (smallest) level sums the
 * written pixels, and each larger level, a multiple of it, sums the first
 * level's sums and counts as its rows complete, so every level is exact.
 * For NEAREST (thematic) an overview pixel is the source pixel at its
 * footprint's centre (clipped). A row of a level is stored as soon as every
 * source pixel under it has been written; its sums live only until then, so
 * memory follows the block height, not the raster.
 *
 * Another aggregation, levels that are not multiples of the first, or a
 * driver that cannot make empty overviews first: GDAL builds them after the
 * last block instead (rios_ovr_finish).
 */
#include "dtype.h"
#include "output_internal.h"
#include "rios_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <math.h>
#include <stdlib.h>

/* The defaults of rios.apply's overview controls and of rios.write, set
   here only (see rios_ffi.h). */
void rios_ffi_finish_defaults(rios_finish_opts *opts) {
  static const int levels[] = {4, 8, 16, 32, 64, 128, 256, 512};
  int n = (int)(sizeof(levels) / sizeof(levels[0]));
  opts->noverview_levels = n;
  for (int i = 0; i < n; i++) opts->overview_levels[i] = levels[i];
  opts->overview_min_dim = 128;
  opts->overview_aggtype = NULL;
}

/* The levels kept for this raster, chosen as RIOS chooses them: count the
   levels whose whole division of the smaller dimension is greater than
   min_dim, and keep that many from the start of the list as given. Then
   ascending. */
static int kept_levels(const rios_output *o, const rios_finish_opts *opts, int *levels) {
  int mindim = o->xsize < o->ysize ? o->xsize : o->ysize;
  int count = 0, n = 0;
  int nlevels = opts->noverview_levels < RIOS_MAX_LEVELS ? opts->noverview_levels : RIOS_MAX_LEVELS;
  for (int i = 0; i < nlevels; i++) {
    int l = opts->overview_levels[i];
    if (l > 1 && mindim / l > opts->overview_min_dim) count++;
  }
  for (int i = 0; i < count; i++)
    if (opts->overview_levels[i] > 1) levels[n++] = opts->overview_levels[i];
  for (int i = 1; i < n; i++)
    for (int k = i; k > 0 && levels[k - 1] > levels[k]; k--) {
      int t = levels[k];
      levels[k] = levels[k - 1];
      levels[k - 1] = t;
    }
  return n;
}

/* The aggregation: the one asked for, else AVERAGE (NEAREST if thematic). */
static const char *overview_agg(const rios_finish_opts *opts) {
  const char *agg = opts->overview_aggtype;
  if (!agg || !*agg) agg = opts->thematic ? "NEAREST" : "AVERAGE";
  return agg;
}

/* The overview band of b (0-based) with the size of level l, or NULL. */
static GDALRasterBandH overview_band(rios_output *o, int b, int l) {
  GDALRasterBandH band = GDALGetRasterBand(o->ds, b + 1);
  if (!band) return NULL;
  int ox = (o->xsize + l - 1) / l, oy = (o->ysize + l - 1) / l;
  for (int k = 0; k < GDALGetOverviewCount(band); k++) {
    GDALRasterBandH ov = GDALGetOverview(band, k);
    if (ov && GDALGetRasterBandXSize(ov) == ox && GDALGetRasterBandYSize(ov) == oy) return ov;
  }
  return NULL;
}

int rios_ffi_output_overviews(rios_output *o, const rios_finish_opts *opts, rios_err *err) {
  rios_ovr *v = &o->ovr;
  if (opts->omit_pyramids || v->active) return RIOS_OK;
  int n = kept_levels(o, opts, v->levels);
  const char *agg = overview_agg(opts);
  int nearest = EQUAL(agg, "NEAREST");
  if (n == 0 || (!nearest && !EQUAL(agg, "AVERAGE"))) return RIOS_OK;
  for (int k = 1; k < n && !nearest; k++)
    if (v->levels[k] % v->levels[0] != 0) return RIOS_OK;
  /* Make the (empty) overviews now; a driver that cannot gets them built
     by GDAL after the last block instead. */
  CPLErrorReset();
  if (GDALBuildOverviews(o->ds, "NONE", n, v->levels, 0, NULL, NULL, NULL) != CE_None) {
    CPLErrorReset();
    return RIOS_OK;
  }
  for (int b = 0; b < o->nbands; b++)
    for (int k = 0; k < n; k++)
      if (!overview_band(o, b, v->levels[k])) return RIOS_OK;
  v->nlevels = n;
  for (int k = 0; k < n; k++) {
    int l = v->levels[k];
    v->ow[k] = (o->xsize + l - 1) / l;
    v->oh[k] = (o->ysize + l - 1) / l;
    v->rows[k] = calloc((size_t)v->oh[k], sizeof(rios_ovrrow *));
    if (!v->rows[k]) goto oom;
    int tile_w = 0, tile_h = 0;
    GDALGetBlockSize(overview_band(o, 0, l), &tile_w, &tile_h);
    v->strip_rows[k] = tile_h > 0 && tile_h < v->oh[k] ? tile_h : v->oh[k];
    v->strip[k] = malloc((size_t)v->strip_rows[k] * (size_t)v->ow[k] * (size_t)o->nbands *
                         (size_t)rios_ffi_dtype_size(o->dtype));
    if (!v->strip[k]) goto oom;
  }
  v->line = malloc(sizeof(double) * (size_t)v->ow[0]);
  if (!v->line) goto oom;
  v->nearest = nearest;
  v->active = 1;
  return RIOS_OK;
oom:
  rios_seterr(err, "%s: out of memory for overviews", o->path);
  return RIOS_FAIL;
}

static void row_free(rios_ovrrow *row) {
  if (!row) return;
  free(row->sum);
  free(row->cnt);
  free(row);
}

void rios_ovr_free(rios_output *o) {
  rios_ovr *v = &o->ovr;
  for (int k = 0; k < v->nlevels; k++) {
    if (!v->rows[k]) continue;
    for (int j = 0; j < v->oh[k]; j++) row_free(v->rows[k][j]);
    free(v->rows[k]);
    v->rows[k] = NULL;
  }
  free(v->line);
  v->line = NULL;
  for (int k = 0; k < RIOS_MAX_LEVELS; k++) {
    free(v->strip[k]);
    v->strip[k] = NULL;
  }
}

/* Row j of level k, made (zeroed) when first needed; NULL if out of memory. */
static rios_ovrrow *ovr_row(rios_output *o, int k, int j) {
  rios_ovr *v = &o->ovr;
  if (v->rows[k][j]) return v->rows[k][j];
  rios_ovrrow *row = calloc(1, sizeof(*row));
  size_t n = (size_t)o->nbands * (size_t)v->ow[k];
  if (row) row->sum = calloc(n, sizeof(double));
  if (row && row->sum) row->cnt = calloc(n, sizeof(uint32_t));
  if (!row || !row->sum || !row->cnt) {
    row_free(row);
    return NULL;
  }
  v->rows[k][j] = row;
  return row;
}

static int ovr_store(rios_output *o, int k, int j, rios_err *err);

/* A row of overview pixels (doubles) into the dtype, as GDAL's RasterIO
   stores doubles: rounded to the nearest integer (halves away from zero)
   and clamped to an integer type's range. GDAL before 3.7 has no int8
   type (its bytes are Byte), so int8 is rounded and clamped here. */
static void store_row(const double *line, unsigned char *dst, int dtype, int n) {
  if (dtype == RIOS_INT8 && !RIOS_HAVE_GDT_INT8) {
    for (int i = 0; i < n; i++) {
      double x = line[i];
      x = x != x ? 0 : x < -128 ? -128 : x > 127 ? 127 : x;
      ((int8_t *)dst)[i] = (int8_t)(x >= 0 ? x + 0.5 : x - 0.5);
    }
    return;
  }
  GDALCopyWords(line, GDT_Float64, (int)sizeof(double), dst, rios_gdal_type(dtype),
                rios_ffi_dtype_size(dtype), n);
}

/* Rows strip_y0..j of level k are stored in the strip: when row j ends a
   row of the level's tiles (or the level), write them to every band's
   overview and hand the tiles to GDAL, band by band. */
static int strip_store(rios_output *o, int k, int j, rios_err *err) {
  rios_ovr *v = &o->ovr;
  int y0 = v->strip_y0[k], n = j + 1 - y0;
  if (n < v->strip_rows[k] && j + 1 != v->oh[k]) return RIOS_OK;
  size_t esize = (size_t)rios_ffi_dtype_size(o->dtype);
  size_t plane = (size_t)v->strip_rows[k] * (size_t)v->ow[k] * esize;
  for (int b = 0; b < o->nbands; b++) {
    GDALRasterBandH ov = overview_band(o, b, v->levels[k]);
    CPLErrorReset();
    if (!ov ||
        GDALRasterIO(ov, GF_Write, 0, y0, v->ow[k], n, v->strip[k] + (size_t)b * plane, v->ow[k],
                     n, rios_gdal_type(o->dtype), 0, 0) != CE_None ||
        GDALFlushRasterCache(ov) != CE_None) {
      rios_seterr(err, "%s: writing rows %d-%d of the 1:%d overview of band %d failed: %s",
                  o->path, y0, j, v->levels[k], b + 1, rios_gdal_error());
      return RIOS_FAIL;
    }
  }
  v->strip_y0[k] = j + 1;
  return RIOS_OK;
}

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
      return RIOS_FAIL;
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
    if (dst->seen == (uint64_t)under && ovr_store(o, k, J, err) != 0) return RIOS_FAIL;
  }
  return RIOS_OK;
}

/* Store row j of level k (complete) in every band, then free it. */
static int ovr_store(rios_output *o, int k, int j, rios_err *err) {
  rios_ovr *v = &o->ovr;
  rios_ovrrow *row = v->rows[k][j];
  if (!v->nearest && k == 0 && ovr_merge_up(o, j, err) != 0) return RIOS_FAIL;
  double empty = o->has_nodata ? o->nodata_pixel : (rios_dtype_is_integer(o->dtype) ? 0 : NAN);
  int w = v->ow[k];
  size_t esize = (size_t)rios_ffi_dtype_size(o->dtype);
  for (int b = 0; b < o->nbands; b++) {
    const double *sum = row->sum + (size_t)b * w;
    const uint32_t *cnt = row->cnt + (size_t)b * w;
    for (int i = 0; i < w; i++) v->line[i] = cnt[i] ? sum[i] / cnt[i] : empty;
    store_row(v->line, v->strip[k] + (((size_t)b * (size_t)v->strip_rows[k] +
                                       (size_t)(j - v->strip_y0[k])) * (size_t)w) * esize,
              o->dtype, w);
  }
  row_free(row);
  v->rows[k][j] = NULL;
  return strip_store(o, k, j, err);
}

/* One band's window of a block: where it is, and what is skipped. */
typedef struct rios_ovr_window {
  const unsigned char *plane;  /* the band's buffer, margin included */
  int b, xoff, yoff, xsize, ysize, buf_cols, margin;
  int has_nodata;
  double nodata;
} rios_ovr_window;

RIOS_INLINE const void *window_row(const rios_ovr_window *w, int r, int dtype) {
  return w->plane + ((size_t)(r + w->margin) * (size_t)w->buf_cols + (size_t)w->margin) *
                        (size_t)rios_dtype_bytes(dtype);
}

/* AVERAGE: add one band's window to the first level's sums. */
RIOS_INLINE void add_average(rios_ovr *v, const rios_ovr_window *w, int dtype) {
  int l = v->levels[0];
  int has_nodata = w->has_nodata;
  double nodata = w->nodata;
  for (int r = 0; r < w->ysize; r++) {
    const void *row = window_row(w, r, dtype);
    rios_ovrrow *orow = v->rows[0][(w->yoff + r) / l];
    double *sum = orow->sum + (size_t)w->b * v->ow[0];
    uint32_t *cnt = orow->cnt + (size_t)w->b * v->ow[0];
    int c = 0;
    while (c < w->xsize) {
      int i = (w->xoff + c) / l;
      int end = (i + 1) * l - w->xoff;
      if (end > w->xsize) end = w->xsize;
      double s = 0;
      uint32_t n = 0;
      for (; c < end; c++) {
        double x = rios_get(row, (size_t)c, dtype);
        if (x != x || (has_nodata && x == nodata)) continue;
        s += x;
        n++;
      }
      sum[i] += s;
      cnt[i] += n;
    }
  }
}

/* NEAREST, level k: the source pixel at the centre of each footprint. */
RIOS_INLINE void add_nearest(const rios_output *o, int k, const rios_ovr_window *w,
                             int dtype) {
  const rios_ovr *v = &o->ovr;
  int l = v->levels[k];
  for (int r = 0; r < w->ysize; r++) {
    int y = w->yoff + r, j = y / l;
    int cy = j * l + l / 2;
    if (cy >= o->ysize) cy = o->ysize - 1;
    if (y != cy) continue;
    const void *row = window_row(w, r, dtype);
    double *sum = v->rows[k][j]->sum + (size_t)w->b * v->ow[k];
    uint32_t *cnt = v->rows[k][j]->cnt + (size_t)w->b * v->ow[k];
    for (int i = w->xoff / l; i * l < w->xoff + w->xsize; i++) {
      int cx = i * l + l / 2;
      if (cx >= o->xsize) cx = o->xsize - 1;
      if (cx < w->xoff || cx >= w->xoff + w->xsize) continue;
      double x = rios_get(row, (size_t)(cx - w->xoff), dtype);
      if (x != x || (w->has_nodata && x == w->nodata)) continue;
      sum[i] = x;
      cnt[i] = 1;
    }
  }
}

/* Count what was written under the rows of level k that the block covers
   and store the rows now complete. */
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
      return RIOS_FAIL;
  }
  return RIOS_OK;
}

int rios_ovr_add(rios_output *o, int xoff, int yoff, int xsize, int ysize,
                 const unsigned char *buf, size_t plane_bytes, int buf_cols, int margin,
                 rios_err *err) {
  rios_ovr *v = &o->ovr;
  int nk = v->nearest ? v->nlevels : 1;   /* levels fed from the pixels */
  for (int k = 0; k < nk; k++) {
    int l = v->levels[k];
    for (int j = yoff / l; j <= (yoff + ysize - 1) / l; j++) {
      if (!ovr_row(o, k, j)) {
        rios_seterr(err, "%s: out of memory for overviews", o->path);
        return RIOS_FAIL;
      }
    }
    for (int b = 0; b < o->nbands; b++) {
      rios_ovr_window w = {buf + (size_t)b * plane_bytes, b, xoff, yoff, xsize, ysize,
                           buf_cols, margin, o->has_nodata, o->nodata_pixel};
      if (v->nearest) {
#define RIOS_DTYPE_BODY(D) add_nearest(o, k, &w, D)
        RIOS_DTYPE_SWITCH(o->dtype)
#undef RIOS_DTYPE_BODY
      } else {
#define RIOS_DTYPE_BODY(D) add_average(v, &w, D)
        RIOS_DTYPE_SWITCH(o->dtype)
#undef RIOS_DTYPE_BODY
      }
    }
    if (ovr_rows_done(o, k, yoff, ysize, xsize, err) != 0) return RIOS_FAIL;
  }
  return RIOS_OK;
}

/* GDAL builds the overviews from the finished raster. It reads it in
   chunks of whole rows, whose memory grows with the raster's width; smaller
   chunks keep peak RSS flat (README "Memory"), unless the user sets the
   option. */
static int gdal_build(rios_output *o, const rios_finish_opts *opts, rios_err *err) {
  int levels[RIOS_MAX_LEVELS];
  int n = kept_levels(o, opts, levels);
  if (n == 0) return RIOS_OK;
  const char *agg = overview_agg(opts);
  CPLErrorReset();
  int chunky = CPLGetConfigOption("GDAL_OVR_CHUNKYSIZE", NULL) == NULL;
  if (chunky) CPLSetThreadLocalConfigOption("GDAL_OVR_CHUNKYSIZE", "64");
  CPLErr built = GDALBuildOverviews(o->ds, agg, n, levels, 0, NULL, NULL, NULL);
  if (chunky) CPLSetThreadLocalConfigOption("GDAL_OVR_CHUNKYSIZE", NULL);
  if (built != CE_None) {
    rios_seterr(err, "%s: building overviews failed: %s", o->path, rios_gdal_error());
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

int rios_ovr_finish(rios_output *o, const rios_finish_opts *opts, rios_err *err) {
  rios_ovr *v = &o->ovr;
  if (!v->active) return gdal_build(o, opts, err);
  /* Every row of every level must have been stored by the last block. */
  for (int k = 0; k < v->nlevels; k++) {
    for (int j = 0; j < v->oh[k]; j++) {
      if (v->rows[k][j]) {
        rios_seterr(err, "%s: row %d of the 1:%d overview was not complete when the output "
                    "was finished", o->path, j, v->levels[k]);
        return RIOS_FAIL;
      }
    }
  }
  return RIOS_OK;
}
