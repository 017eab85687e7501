/*
 * rl_ffi.h: every C function and struct that Lua reaches through the FFI.
 *
 * This header is the single source of the FFI declarations: the build copies
 * the text between the RL_FFI_BEGIN and RL_FFI_END markers into
 * lua/rios/cdef.lua, and spec/ffi_layout_spec.lua compares ffi.sizeof and
 * ffi.offsetof with the values the C compiler reports (rl_ffi_layout).
 * Keep that section free of preprocessor lines and comments that span lines.
 *
 * Conventions (after lua-resty-core):
 *   - functions meant for the FFI have the rl_ffi_ prefix and never raise;
 *   - they return 0 on success and -1 on failure, writing a one-line message
 *     into the caller's rl_err (made once per Lua state, never per call);
 *   - ownership is said on each declaration: "owned" means the caller must
 *     release it with the matching _free/_close; "borrowed" means it lives as
 *     long as the object it came from.
 */
#ifndef RL_FFI_H
#define RL_FFI_H

#include <stddef.h>
#include <stdint.h>

/* RL_FFI_BEGIN */
typedef struct rl_err { char msg[1024]; } rl_err;

enum {
  RL_INT8 = 0, RL_UINT8 = 1, RL_INT16 = 2, RL_UINT16 = 3,
  RL_INT32 = 4, RL_UINT32 = 5, RL_FLOAT32 = 6, RL_FLOAT64 = 7,
  RL_NDTYPES = 8
};

typedef struct rl_raster rl_raster;
typedef struct rl_output rl_output;
typedef struct rl_arena rl_arena;

typedef struct rl_raster_info {
  int xsize, ysize, nbands, dtype;
  double transform[6];
  int is_vector;
} rl_raster_info;

typedef struct rl_finish_opts {
  int omit_basic_stats, omit_histogram, omit_pyramids, thematic;
  int noverview_levels;
  int overview_levels[32];
  int overview_min_dim;
  const char *overview_aggtype;
} rl_finish_opts;

typedef struct rl_finish_times {
  double basicstats, histogram, pyramids;
} rl_finish_times;

double rl_ffi_now(void);
int rl_ffi_dtype_size(int dtype);
size_t rl_ffi_layout(int what);

void *rl_ffi_heap_alloc(size_t nbytes, rl_err *err);
void rl_ffi_heap_free(void *p);

rl_arena *rl_ffi_arena_new(rl_err *err);
void *rl_ffi_arena_alloc(rl_arena *a, size_t nbytes, rl_err *err);
void rl_ffi_arena_reset(rl_arena *a);
size_t rl_ffi_arena_capacity(const rl_arena *a);
void rl_ffi_arena_free(rl_arena *a);

rl_raster *rl_ffi_raster_open(const char *path, rl_err *err);
void rl_ffi_raster_close(rl_raster *r);
int rl_ffi_raster_info(rl_raster *r, rl_raster_info *out, rl_err *err);
const char *rl_ffi_raster_projection(rl_raster *r);
int rl_ffi_raster_nodata(rl_raster *r, int band, double *out);
const char *rl_ffi_raster_band_description(rl_raster *r, int band);
int rl_ffi_raster_read(rl_raster *r, int xoff, int yoff, int xsize, int ysize,
                       int nbands, const int *bands, void *buf, int dtype,
                       rl_err *err);
int rl_ffi_same_projection(const char *wkt_a, const char *wkt_b);
char *rl_ffi_wkt_from_user_input(const char *text, rl_err *err);

rl_output *rl_ffi_output_create(const char *path, const char *driver,
                                int xsize, int ysize, int nbands, int dtype,
                                const double *transform, const char *projection,
                                const char *const *options, int has_nodata,
                                double nodata, const char *const *layer_names,
                                int thematic, rl_err *err);
int rl_ffi_output_write(rl_output *o, int xoff, int yoff, int xsize, int ysize,
                        const void *buf, int buf_cols, int buf_rows, int margin,
                        rl_err *err);
int rl_ffi_output_gather(rl_output *o, int stats, int histogram);
int rl_ffi_output_overviews(rl_output *o, const rl_finish_opts *opts, rl_err *err);
int rl_ffi_output_finish(rl_output *o, const rl_finish_opts *opts,
                         rl_finish_times *times, rl_err *err);
void rl_ffi_output_close(rl_output *o);
/* RL_FFI_END */

#endif
