/*
 * output_internal.h: what the five files of an output raster share; Lua
 * sees none of it.
 *   output.c     the raster's life: create, write blocks, flush finished
 *                tiles, finish, seal (close, checked), commit,
 *                close (discard what was not committed)
 *   outfile.c    the file on disk: the private folder it is written in
 *                beside its final path, moving it into place, leftovers of
 *                killed runs
 *   stats.c      running statistics and the fine histogram, gathered as
 *                blocks are written; storing the basic statistics
 *   histogram.c  choosing the histogram's bins and storing it, with the
 *                metadata RIOS writes
 *   overviews.c  overviews built while blocks are written, or by GDAL after
 *                the last one
 *   cog.c        a Cloud Optimized GeoTIFF copied from the finished output
 */
#ifndef RIOS_OUTPUT_INTERNAL_H
#define RIOS_OUTPUT_INTERNAL_H

#include "dtype.h"
#include "rios_ffi.h"

#include <gdal.h>
#include <stddef.h>
#include <stdint.h>

/* Bins of the fine histogram of 32-bit and float data (stats.c). */
#define RIOS_FINE_BINS 65536
/* Most overview levels an output keeps (rios_finish_opts.overview_levels). */
#define RIOS_MAX_LEVELS 32

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

/* One row of an overview level whose sums are still being gathered. */
typedef struct rios_ovrrow {
  double *sum;             /* nbands * width of the level */
  uint32_t *cnt;           /* nbands * width: valid pixels summed */
  uint64_t seen;           /* level 0 (and NEAREST): source pixels of one band
                              written under this row; AVERAGE levels > 0:
                              first-level rows merged into it */
} rios_ovrrow;

/* Overviews built while writing (overviews.c). */
typedef struct rios_ovr {
  int active;
  int nearest;             /* NEAREST (thematic) instead of AVERAGE */
  int nlevels, levels[RIOS_MAX_LEVELS];  /* ascending */
  int ow[RIOS_MAX_LEVELS], oh[RIOS_MAX_LEVELS];  /* size of each level */
  rios_ovrrow **rows[RIOS_MAX_LEVELS];  /* oh[k] per level, NULL unless in progress */
  double *line;            /* one row of the widest level, being stored */
  /* Stored rows wait here, in the dtype, until they make a whole row of
     the level's tiles, which then goes to GDAL at once (see output.c on
     the order of tiles): strip_rows[k] rows of every band from row
     strip_y0[k], ow[k] wide. */
  unsigned char *strip[RIOS_MAX_LEVELS];
  int strip_y0[RIOS_MAX_LEVELS], strip_rows[RIOS_MAX_LEVELS];
} rios_ovr;

struct rios_output {
  GDALDatasetH ds;         /* NULL once sealed */
  GDALDriverH driver;
  int sealed;              /* closed without error, not yet moved into place */
  char *path;              /* as the user gave it: every message names it */
  char *target;            /* where the file goes: path, or what a link there points to */
  rios_tempdir *folder;    /* the private folder it is written in (outfile.c) */
  char *write_path;        /* folder/NAME: what GDAL writes */
  /* How writes reach the file (output.c), chosen at the first write: the
     file's tiles, and for windows that are not whole tiles the strip that
     gathers a row of tiles (strip_rows rows of every band from row
     strip_y0, the file's width) before it goes to GDAL. */
  int writes_chosen, tile_w, tile_h;
  unsigned char *strip;
  int strip_y0, strip_rows;
  int xsize, ysize, nbands, dtype;
  int has_nodata;
  double nodata;           /* as given, and as the file's nodata */
  double nodata_pixel;     /* as a pixel of the dtype holds it (float32:
                              rounded): what pixels are compared with */
  int thematic;
  rios_bandacc *acc;       /* nbands of them */
  int gather_stats, gather_hist;  /* what write gathers (both by default) */
  rios_ovr ovr;            /* overviews built while writing, when active */
};

/* The number of per-value counters of a dtype counted directly (8- and
   16-bit integers), and the value of counter 0; 0 for the others. */
RIOS_INLINE int rios_direct_range(int dtype, long *offset) {
#define RIOS_DIRECT_(CODE, name, T, GDT, gdal_name, integer, min, max)       \
  case RIOS_##CODE:                                                         \
    if ((integer) && sizeof(T) <= 2) {                                      \
      *offset = (long)(min);                                                \
      return (int)((long)(max) - (long)(min) + 1);                          \
    }                                                                       \
    break;
  switch (dtype) { RIOS_DTYPES(RIOS_DIRECT_) default: break; }
#undef RIOS_DIRECT_
  *offset = 0;
  return 0;
}

/* output.c: set a band's metadata item to v (integer: no decimals). */
int rios_output_set_number(rios_output *o, int b, const char *key, double v, int integer,
                           rios_err *err);
int rios_output_set_item(rios_output *o, int b, const char *key, const char *value,
                         rios_err *err);

/* outfile.c: make the private folder beside o->path (removing what killed
   runs left there) and set target, folder and write_path; discard removes
   the folder with all in it; commit moves the sealed dataset over target
   and removes the old dataset's sidecars it did not replace. (rios_seterr
   takes the private folder out of every message.) */
int rios_outfile_open(rios_output *o, rios_err *err);
void rios_outfile_discard(rios_output *o);
int rios_outfile_commit(rios_output *o, GDALDriverH driver, rios_err *err);

/* stats.c */
int rios_stats_init(rios_output *o, rios_err *err);
void rios_stats_free(rios_output *o);
/* Add band b's window of one block (plane: the band's buffer, margin
   included) to its running statistics and histogram. */
void rios_stats_add(rios_output *o, int b, const unsigned char *plane, int xsize, int ysize,
                    int buf_cols, int margin);
/* Store band b's minimum, maximum, mean and standard deviation. */
int rios_stats_store(rios_output *o, int b, rios_err *err);

/* histogram.c: store band b's histogram (GDAL's default histogram and
   RIOS's metadata keys) from the counts gathered by stats.c. */
int rios_histogram_store(rios_output *o, int b, rios_err *err);

/* overviews.c */
void rios_ovr_free(rios_output *o);
/* Add one block (all bands, plane_bytes apart) to the overviews being
   built; stores the overview rows it completes. */
int rios_ovr_add(rios_output *o, int xoff, int yoff, int xsize, int ysize,
                 const unsigned char *buf, size_t plane_bytes, int buf_cols, int margin,
                 rios_err *err);
/* After the last block: check that every row was stored, or have GDAL
   build the overviews when they were not built while writing. */
int rios_ovr_finish(rios_output *o, const rios_finish_opts *opts, rios_err *err);

#endif
