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
typedef struct rl_tempdir rl_tempdir;

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
int rl_ffi_raster_set_label(rl_raster *r, const char *label, rl_err *err);
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
void rl_ffi_output_flush_rows(rl_output *o, int on);

/* warp.c: VRT texts are owned (rl_ffi_heap_free); argv is a NULL-terminated gdalwarp/gdal_translate/gdal_rasterize/ogr2ogr argument list. */
int rl_ffi_gdal_version(void);
char *rl_ffi_warp_vrt(const char *src, const char *const *argv, rl_err *err);
char *rl_ffi_translate_vrt(const char *src, const char *const *argv, int nbands, const double *nodata, rl_err *err);
int rl_ffi_rasterize(const char *src, const char *dst, const char *const *argv, rl_err *err);
int rl_ffi_transform_extent(const char *src_wkt, const char *dst_wkt, const double *in, double *out, rl_err *err);
int rl_ffi_vector_layers(const char *path, char *names, size_t len, rl_err *err);
int rl_ffi_vector_translate(const char *src, const char *dst, const char *const *argv, rl_err *err);
char *rl_ffi_vector_layer_wkt(const char *path, int index, rl_err *err);

/* tempfiles.c: the tempdir is owned (rl_ffi_tempdir_remove removes the folder and all in it); the path is borrowed. */
rl_tempdir *rl_ffi_tempdir_new(const char *parent, rl_err *err);
const char *rl_ffi_tempdir_path(const rl_tempdir *t);
int rl_ffi_tempdir_name(rl_tempdir *t, const char *stem, const char *suffix, char *out, size_t outlen, rl_err *err);
void rl_ffi_tempdir_remove(rl_tempdir *t);

int rl_ffi_isatty(int fd);
/* 1 once per Ctrl-C pressed at the prompt while a chunk runs (runtime/repl.c), else 0 */
int rl_ffi_interrupt_pending(void);

/* Exploring rasters (runtime/explore.c). */
typedef struct rl_text { char s[512]; } rl_text;
/* borrowed from GDAL */
const char *rl_ffi_raster_driver(rl_raster *r);
/* 1: can create files, 0: cannot, -1: no such driver */
int rl_ffi_driver_can_create(const char *name);
int rl_ffi_projection_name(const char *wkt, rl_text *out);
/* 1: out4 = min, max, mean, stddev; 0: none stored (compute = 0) or all nodata; -1: error */
int rl_ffi_raster_stats(rl_raster *r, int band, int compute, double *out4, rl_err *err);
/* the overview count; sizes[2i], sizes[2i+1] = cols, rows of the first max */
int rl_ffi_raster_overviews(rl_raster *r, int band, int *sizes, int max);
/* borrowed "KEY=VALUE" i of the dataset (band 0) or a band, NULL past the end */
const char *rl_ffi_raster_metadata(rl_raster *r, int band, int i);
/* overview 0: full resolution; the window resampled (nearest) to buf_cols x buf_rows */
int rl_ffi_raster_read_scaled(rl_raster *r, int overview, int xoff, int yoff, int xsize,
                              int ysize, int buf_cols, int buf_rows, int nbands,
                              const int *bands, void *buf, int dtype, rl_err *err);
void rl_ffi_sort_doubles(double *v, size_t n);
/* band-major bytes: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA */
int rl_ffi_png_write(const char *path, const uint8_t *pixels, int nbands, int rows, int cols,
                     rl_err *err);

/* Concurrency (pipeline.c): read workers, compute threads, block buffers. */
typedef struct rl_pipeline rl_pipeline;

/* read_name: what each reader opens (a file or VRT XML, see rios/inputs.lua); label: the file named in messages. */
typedef struct rl_pipe_input {
  const char *read_name, *label;
  int nbands, dtype, xshift, yshift;
} rl_pipe_input;

typedef struct rl_pipe_config {
  int grid_cols, grid_rows, wx, wy, overlap;
  int ninputs, noutputs;
  const rl_pipe_input *inputs;
  int read_workers, compute_workers;
  double read_insert_timeout, read_pop_timeout, compute_insert_timeout, compute_pop_timeout;
} rl_pipe_config;

typedef struct rl_block_out {
  void *data;
  int dtype, bands, rows, cols;
} rl_block_out;

typedef struct rl_block {
  int index, xblock, yblock;
  void **inputs;
  rl_arena *arena;
  rl_block_out *outputs;
} rl_block;

size_t rl_ffi_pipeline_layout(int what);
rl_pipeline *rl_ffi_pipeline_new(const rl_pipe_config *cfg, rl_err *err);
int rl_ffi_pipeline_start(rl_pipeline *p, const char *blob, size_t len, rl_err *err);
int rl_ffi_pipeline_pop_read(rl_pipeline *p, rl_block **out, double *waited, rl_err *err);
int rl_ffi_pipeline_set_output(rl_pipeline *p, rl_block *b, int j, void *data, int dtype, int bands, int rows, int cols, rl_err *err);
int rl_ffi_pipeline_push(rl_pipeline *p, rl_block *b, double *waited, rl_err *err);
int rl_ffi_pipeline_pop_done(rl_pipeline *p, rl_block **out, double *waited, rl_err *err);
void rl_ffi_pipeline_release(rl_pipeline *p, rl_block *b);
void rl_ffi_pipeline_fail(rl_pipeline *p, const char *msg);
int rl_ffi_pipeline_failed(rl_pipeline *p, rl_err *err);
int rl_ffi_pipeline_set_result(rl_pipeline *p, int worker, const char *s, size_t len, rl_err *err);
const char *rl_ffi_pipeline_result(rl_pipeline *p, int worker, size_t *len);
int rl_ffi_pipeline_finish(rl_pipeline *p);
size_t rl_ffi_pipeline_timer(rl_pipeline *p, int which, double *out, size_t n);
void rl_ffi_pipeline_free(rl_pipeline *p);
int rl_ffi_cpu_count(void);
void rl_ffi_sleep(double seconds);
/* RL_FFI_END */

#endif
