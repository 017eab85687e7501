/*
 * rios_ffi.h: every C function and struct that Lua reaches through the FFI.
 *
 * This header is the single source of the FFI declarations: the build copies
 * the text between the RIOS_FFI_BEGIN and RIOS_FFI_END markers into
 * lua/rios/cdef.lua, and spec/ffi_layout_spec.lua compares ffi.sizeof and
 * ffi.offsetof with the values the C compiler reports (rios_ffi_layout).
 * Keep that section free of preprocessor lines and comments that span lines.
 *
 * The contract (after lua-resty-core):
 *   - functions meant for the FFI have the rios_ffi_ prefix and never raise;
 *   - a function that can fail returns int: RIOS_OK (0), or RIOS_FAIL (-1)
 *     with a one-line message in the caller's rios_err (made once per Lua
 *     state, never per call). Its results, new objects and other outcomes
 *     (yes/no, "none stored", "no more", counts) go through out-parameters,
 *     which are set only when it returns RIOS_OK;
 *   - a function that cannot fail says so and may return its value: a
 *     yes/no as bool (a Lua boolean through the FFI), a size, a borrowed
 *     string; free/close/remove accept NULL;
 *   - ownership is said on each declaration: "owned" means the caller must
 *     release it with the matching _free/_close; "borrowed" means it lives as
 *     long as the object it came from.
 */
#ifndef RIOS_FFI_H
#define RIOS_FFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RIOS_FFI_BEGIN */
typedef struct rios_err { char msg[1024]; } rios_err;

/* What every rios_ffi_* function that can fail returns (mirrored once in
   Lua as rios.base.OK / FAIL). */
enum { RIOS_OK = 0, RIOS_FAIL = -1 };

/* The dtype codes; runtime/dtype.h lists their facts. */
enum {
  RIOS_INT8 = 0, RIOS_UINT8 = 1, RIOS_INT16 = 2, RIOS_UINT16 = 3,
  RIOS_INT32 = 4, RIOS_UINT32 = 5, RIOS_FLOAT32 = 6, RIOS_FLOAT64 = 7,
  RIOS_NDTYPES = 8
};

typedef struct rios_raster rios_raster;
typedef struct rios_output rios_output;
typedef struct rios_arena rios_arena;
typedef struct rios_tempdir rios_tempdir;

typedef struct rios_raster_info {
  int xsize, ysize, nbands, dtype;
  double transform[6];
  int is_vector;
} rios_raster_info;

typedef struct rios_finish_opts {
  int omit_basic_stats, omit_histogram, omit_pyramids, thematic;
  int noverview_levels;
  int overview_levels[32];
  int overview_min_dim;
  const char *overview_aggtype;
} rios_finish_opts;

typedef struct rios_finish_times {
  double basicstats, histogram, pyramids;
} rios_finish_times;

/* One dtype (dtype.c builds the table from the list in dtype.h): name "uint16", ctype "uint16_t", gdal_name "UInt16". */
typedef struct rios_dtype_info {
  const char *name, *ctype, *gdal_name;
  int size, is_integer;
} rios_dtype_info;

/* A short text filled by C. */
typedef struct rios_text { char s[512]; } rios_text;

/* util.c, dtype.c: the monotonic clock in seconds, the dtype table (static, borrowed), bytes per element (0 for no such dtype), struct layouts for the layout spec; all cannot fail. */
double rios_ffi_now(void);
const rios_dtype_info *rios_ffi_dtypes(void);
int rios_ffi_dtype_size(int dtype);
size_t rios_ffi_layout(int what);
/* dtype.c: *stored = nodata as an element of dtype holds it (float32: rounded to single precision; NaN stays NaN); fails, *stored untouched, when no element can hold it: a fraction, NaN or a number outside the range of an integer dtype, a finite number beyond float32's largest. */
int rios_ffi_dtype_nodata(int dtype, double nodata, double *stored, rios_err *err);

/* Zeroed pixel memory whose last byte is followed by a guard that faults (runtime/guard.c); its start is aligned to the element of any dtype when nbytes is a whole number of elements: *out owned (rios_ffi_heap_free, cannot fail). */
int rios_ffi_heap_alloc(size_t nbytes, void **out, rios_err *err);
void rios_ffi_heap_free(void *p);

/* A block arena: *out owned (rios_ffi_arena_free); arena_alloc's *out is zeroed, followed by a guard as heap_alloc's, and borrowed until the next reset; reset, capacity and free cannot fail. */
int rios_ffi_arena_new(rios_arena **out, rios_err *err);
int rios_ffi_arena_alloc(rios_arena *a, size_t nbytes, void **out, rios_err *err);
void rios_ffi_arena_reset(rios_arena *a);
size_t rios_ffi_arena_capacity(const rios_arena *a);
void rios_ffi_arena_free(rios_arena *a);

/* raster.c: *out owned (rios_ffi_raster_close, cannot fail). info and projection (borrowed, "" for none) cannot fail. */
int rios_ffi_raster_open(const char *path, rios_raster **out, rios_err *err);
void rios_ffi_raster_close(rios_raster *r);
int rios_ffi_raster_set_label(rios_raster *r, const char *label, rios_err *err);
void rios_ffi_raster_info(rios_raster *r, rios_raster_info *out);
const char *rios_ffi_raster_projection(rios_raster *r);
/* *has: whether the band has a nodata value, *value that value (else 0) */
int rios_ffi_raster_nodata(rios_raster *r, int band, int *has, double *value, rios_err *err);
/* *out borrowed, "" when the band has none */
int rios_ffi_raster_band_description(rios_raster *r, int band, const char **out, rios_err *err);
int rios_ffi_raster_read(rios_raster *r, int xoff, int yoff, int xsize, int ysize,
                         int nbands, const int *bands, void *buf, int dtype,
                         rios_err *err);
/* *same: 1 when GDAL reads both as the same projection (a text it cannot read is the same only as itself) */
int rios_ffi_same_projection(const char *wkt_a, const char *wkt_b, int *same, rios_err *err);
/* the WKT of "EPSG:n", WKT or anything GDAL's SetFromUserInput takes; *out owned (rios_ffi_heap_free) */
int rios_ffi_wkt_from_user_input(const char *text, char **out, rios_err *err);

/* output.c: an output is written beside its path (outfile.c) and reaches it only through commit. *out owned (rios_ffi_output_close, cannot fail: it removes whatever was not committed, leaving the path as it was). seal closes the dataset, checked, after finish; commit (after seal) moves it over the path. gather cannot fail. */
int rios_ffi_output_create(const char *path, const char *driver, int xsize, int ysize,
                           int nbands, int dtype, const double *transform,
                           const char *projection, const char *const *options,
                           int has_nodata, double nodata, const char *const *layer_names,
                           int thematic, rios_output **out, rios_err *err);
int rios_ffi_output_write(rios_output *o, int xoff, int yoff, int xsize, int ysize,
                          const void *buf, int buf_cols, int buf_rows, int margin,
                          rios_err *err);
void rios_ffi_output_gather(rios_output *o, int stats, int histogram);
int rios_ffi_output_overviews(rios_output *o, const rios_finish_opts *opts, rios_err *err);
int rios_ffi_output_finish(rios_output *o, const rios_finish_opts *opts,
                           rios_finish_times *times, rios_err *err);
int rios_ffi_output_seal(rios_output *o, rios_err *err);
int rios_ffi_output_commit(rios_output *o, rios_err *err);
void rios_ffi_output_close(rios_output *o);
/* on an output not yet finished (controls.color_table, controls.before_close); bands 1-based, band 0 of set_metadata is the dataset. range: *found 0 when band's pixels were all nodata or nothing was gathered (omit_basic_stats and omit_histogram), else their *min and *max */
int rios_ffi_output_set_metadata(rios_output *o, int band, const char *key, const char *value, rios_err *err);
int rios_ffi_output_set_description(rios_output *o, int band, const char *text, rios_err *err);
int rios_ffi_output_set_nodata(rios_output *o, int band, double value, rios_err *err);
int rios_ffi_output_set_color_table(rios_output *o, int band, int n, const uint8_t *rgba, rios_err *err);
int rios_ffi_output_range(const rios_output *o, int band, int *found, double *min, double *max, rios_err *err);
/* cog.c: driver "COG" writes blocks into a GeoTIFF made with these options (borrowed, NULL-terminated; cannot fail); once sealed, output_cog replaces it, in the output's private folder, with GDAL's COG driver's copy (options: the COG driver's creation options), which commit then moves into place. A failure leaves the GeoTIFF, which close removes. */
const char *const *rios_ffi_cog_temp_options(void);
int rios_ffi_output_cog(rios_output *o, const char *const *options, rios_err *err);
/* outfile.c: what the checks before a run see of an output's path. folder: where the file goes ("." for a bare name; a link at the path is followed); folder_why: "" when a file can be made there, else why not (strerror: no such folder, not a folder, no permission, read-only); canonical: the folder's real path, '/', the name (the same for every spelling of one file; "" unless folder_why is ""). */
typedef struct rios_path_facts {
  int exists, is_dir, is_file;
  long long size;
  unsigned long long dev, ino;
  char folder_why[256];
  char folder[4096];
  char canonical[4096];
} rios_path_facts;
int rios_ffi_path_facts(const char *path, rios_path_facts *out, rios_err *err);
/* *kind: 0 nothing GDAL opens, 1 a raster, 2 a vector dataset that is no raster; driver: its driver's short name */
int rios_ffi_dataset_kind(const char *path, int *kind, rios_text *driver, rios_err *err);
/* overviews.c: the default overview levels (4..512), minimum dimension (128) and aggregation (NULL: AVERAGE, NEAREST for thematic outputs), set there only; cannot fail. */
void rios_ffi_finish_defaults(rios_finish_opts *opts);

/* warp.c: argv is a NULL-terminated gdalwarp/gdal_translate/gdal_rasterize/ogr2ogr argument list; VRT texts and WKT are *out owned (rios_ffi_heap_free). gdal_version cannot fail. */
int rios_ffi_gdal_version(void);
int rios_ffi_warp_vrt(const char *src, const char *const *argv, char **out, rios_err *err);
int rios_ffi_translate_vrt(const char *src, const char *const *argv, int nbands, const double *nodata, char **out, rios_err *err);
int rios_ffi_rasterize(const char *src, const char *dst, const char *const *argv, rios_err *err);
int rios_ffi_transform_extent(const char *src_wkt, const char *dst_wkt, const double *in, double *out, rios_err *err);
/* names: each layer's name and a newline; *count 0 when GDAL cannot open path as a vector source */
int rios_ffi_vector_layers(const char *path, char *names, size_t len, int *count, rios_err *err);
int rios_ffi_vector_translate(const char *src, const char *dst, const char *const *argv, rios_err *err);
/* *out: the layer's projection as WKT, "" when it has none */
int rios_ffi_vector_layer_wkt(const char *path, int index, char **out, rios_err *err);

/* tempfiles.c: *out owned (rios_ffi_tempdir_remove, cannot fail, removes the folder and all in it); the path is borrowed and cannot fail. */
int rios_ffi_tempdir_new(const char *parent, rios_tempdir **out, rios_err *err);
const char *rios_ffi_tempdir_path(const rios_tempdir *t);
int rios_ffi_tempdir_name(rios_tempdir *t, const char *stem, const char *suffix, char *out, size_t outlen, rios_err *err);
void rios_ffi_tempdir_remove(rios_tempdir *t);
/* SIGINT/SIGTERM/SIGHUP while a run has batch jobs to cancel (workers/cluster.lua) or moves its outputs into place; all cannot fail. defer(1): a first signal is only noted (a second acts at once); defer(0): undoes one defer(1) (a count); a noted signal stays noted. pending: the noted signal, or 0. resume(said): act on the noted signal as the handler would have (remove the private folders, say so in one line unless said, then the action that was there before: the default ends the process); nothing when none is noted. */
void rios_ffi_signals_defer(int on);
int rios_ffi_signal_pending(void);
void rios_ffi_signal_resume(int said);
/* A rios.apply begins (its run ends with run_end): the SIGINT/SIGTERM/SIGHUP handlers are installed (a signal removes the private folders, says so in one line and ends the process by the signal), and until the end os.exit ends the process at once (exit_now). Cannot fail. */
void rios_ffi_run_begin(void);
void rios_ffi_run_end(void);
/* os.exit during a run, or in a compute worker: remove the private folders, flush stdio and end the process with code at once (no destructors while other threads run). Does not return. */
void rios_ffi_exit_now(int code);
/* The writer's progress (written of total blocks, nx blocks per row; total 0: none), for the line SIGINT/SIGTERM/SIGHUP print: "interrupted at block (row r, col c), N of M blocks written". Cannot fail. */
void rios_ffi_run_progress(int written, int total, int nx);

/* terminal.c: whether fd is a terminal; whether Ctrl-C was pressed at the prompt while a chunk runs (true once per press); both cannot fail. */
bool rios_ffi_isatty(int fd);
bool rios_ffi_interrupt_pending(void);

/* explore.c: exploring rasters. driver: borrowed from GDAL, "" when unknown; cannot fail. */
const char *rios_ffi_raster_driver(rios_raster *r);
/* *can: whether GDAL's driver of that name can create files; no such driver is a failure */
/* the raster driver GDAL's tools pick for the path's extension (GTiff first); *found 0 when none claims it; *can_create whether it writes block by block */
int rios_ffi_driver_for_path(const char *path, rios_text *name, int *found, int *can_create, rios_err *err);
int rios_ffi_driver_can_create(const char *name, int *can, rios_err *err);
/* "WGS 84 / UTM zone 55S (EPSG:32755)", "" for no projection; fails for WKT GDAL cannot read */
int rios_ffi_projection_name(const char *wkt, rios_text *out, rios_err *err);
/* *found 1: out4 = min, max, mean, stddev; 0: none stored (compute = 0) or every pixel nodata */
int rios_ffi_raster_stats(rios_raster *r, int band, int compute, int *found, double *out4, rios_err *err);
/* *count: the band's overviews; sizes[2i], sizes[2i+1] = cols, rows of the first max */
int rios_ffi_raster_overviews(rios_raster *r, int band, int *sizes, int max, int *count, rios_err *err);
/* *out: borrowed "KEY=VALUE" i of the dataset (band 0) or a band, NULL past the end */
int rios_ffi_raster_metadata(rios_raster *r, int band, int i, const char **out, rios_err *err);
/* overview 0: full resolution; the window resampled (nearest) to buf_cols x buf_rows */
int rios_ffi_raster_read_scaled(rios_raster *r, int overview, int xoff, int yoff, int xsize,
                                int ysize, int buf_cols, int buf_rows, int nbands,
                                const int *bands, void *buf, int dtype, rios_err *err);
/* ascending, in place (no NaN); cannot fail */
void rios_ffi_sort_doubles(double *v, size_t n);
/* band-major bytes: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA */
int rios_ffi_png_write(const char *path, const uint8_t *pixels, int nbands, int rows, int cols,
                       rios_err *err);

/* The blocks of a run in flight (runtime/pipeline.c): read workers, the
   read and compute buffers, their timeouts; block geometry. */
typedef struct rios_pipeline rios_pipeline;

/* read_name: what each reader opens (a file or VRT XML, see rios/inputs.lua); label: the file named in messages. */
typedef struct rios_pipe_input {
  const char *read_name, *label;
  int nbands, dtype, xshift, yshift;
} rios_pipe_input;

/* schedule: which blocks are read, in what order. ALL: every block in order. OPEN: every block in order, then the blocks rios_ffi_pipeline_schedule adds until rios_ffi_pipeline_close_schedule (a lost worker's blocks read again). ASSIGNED: only the blocks rios_ffi_pipeline_schedule adds, in that order, until closed (a worker that reads its own input). */
enum { RIOS_SCHEDULE_ALL = 0, RIOS_SCHEDULE_OPEN = 1, RIOS_SCHEDULE_ASSIGNED = 2 };

typedef struct rios_pipe_config {
  int grid_cols, grid_rows, wx, wy, overlap;
  int ninputs, noutputs;
  const rios_pipe_input *inputs;
  int read_workers, compute_workers, schedule;
  double read_insert_timeout, read_pop_timeout, compute_insert_timeout, compute_pop_timeout;
} rios_pipe_config;

typedef struct rios_block_out {
  void *data;
  int dtype, bands, rows, cols;
} rios_block_out;

/* A block in flight: its place on the grid (xoff, yoff, cols, rows: the window without the overlap), one buffer per input ((cols + 2 * overlap) x (rows + 2 * overlap) x bands), the arena of the arrays its function makes, its outputs; slot: which of the pipeline's slots it is in (its buffers and arena stay with the slot). Borrowed from the pipeline. */
typedef struct rios_block {
  int xblock, yblock, xoff, yoff, cols, rows, slot;
  void **inputs;
  rios_arena *arena;
  rios_block_out *outputs;
  int64_t index;
} rios_block;

size_t rios_ffi_pipeline_layout(int what);
/* the blocks across and down a grid */
int rios_ffi_grid_blocks(int grid_cols, int grid_rows, int wx, int wy, int *nx, int *ny, rios_err *err);
/* "(row r, col c) [x=.. y=.. WxH]": cannot fail */
void rios_ffi_block_label(const rios_block *b, rios_text *out);
/* guard.c: the block this thread's block function computes (NULL: none), named when it runs into a guard after an array; cannot fail. fault_report: the file a worker process writes that line to for its main process (NULL or "": stderr). */
void rios_ffi_fault_block(const rios_block *b);
int rios_ffi_fault_report(const char *path, rios_err *err);
/* *out is owned: rios_ffi_pipeline_free */
int rios_ffi_pipeline_new(const rios_pipe_config *cfg, rios_pipeline **out, rios_err *err);
int rios_ffi_pipeline_blocks(const rios_pipeline *p, int *nx, int *ny);
/* the bytes of input buffers a pipeline with cfg would allocate, and its number of slots */
int rios_ffi_pipeline_memory(const rios_pipe_config *cfg, double *bytes, int *nslots, rios_err *err);
/* the machine's physical memory in bytes (0 when unknown) */
int rios_ffi_physical_memory(double *bytes);
int rios_ffi_pipeline_start(rios_pipeline *p, rios_err *err);
int rios_ffi_pipeline_schedule(rios_pipeline *p, int64_t index, rios_err *err);
/* cannot fail */
void rios_ffi_pipeline_close_schedule(rios_pipeline *p);
/* The next block of the schedule, read (by the caller when there is no read worker). poll < 0: wait up to read_pop_timeout, a failure of the run when it passes; poll >= 0: at most poll seconds. *out NULL: none now, and *ended 1 when none will ever come. */
int rios_ffi_pipeline_pop_read(rios_pipeline *p, double poll, rios_block **out, int *ended, double *waited, rios_err *err);
/* a free slot for block index, not read; *out NULL when every slot is in use */
int rios_ffi_pipeline_claim(rios_pipeline *p, int64_t index, rios_block **out, rios_err *err);
int rios_ffi_pipeline_set_output(rios_pipeline *p, rios_block *b, int j, void *data, int dtype, int bands, int rows, int cols, rios_err *err);
/* into the compute buffer; wait 0: even when it is full (a thread that also writes must not wait on itself) */
int rios_ffi_pipeline_push(rios_pipeline *p, rios_block *b, int wait, double *waited, rios_err *err);
/* the next computed block in block order; poll and *ended as pop_read's */
int rios_ffi_pipeline_pop_done(rios_pipeline *p, double poll, rios_block **out, int *ended, double *waited, rios_err *err);
/* cannot fail */
void rios_ffi_pipeline_release(rios_pipeline *p, rios_block *b);
/* stop the run with msg as its failure (the first failure is the one reported); cannot fail */
void rios_ffi_pipeline_fail(rios_pipeline *p, const char *msg);
/* join the read workers; fails with the run's first failure when it failed */
int rios_ffi_pipeline_finish(rios_pipeline *p, rios_err *err);
int rios_ffi_pipeline_timer(rios_pipeline *p, int which, double *out, size_t n, size_t *total);
void rios_ffi_pipeline_free(rios_pipeline *p);
int rios_ffi_cpu_count(void);
void rios_ffi_sleep(double seconds);

/* Compute workers of kind "threads" (workers/threads.c). */
typedef struct rios_threads rios_threads;
/* *out is owned: rios_ffi_threads_free (which stops and joins them) */
int rios_ffi_threads_start(rios_pipeline *p, int n, const char *job, size_t len, rios_threads **out, rios_err *err);
int rios_ffi_threads_set_result(rios_threads *t, int worker, const char *s, size_t len, rios_err *err);
/* wait at most timeout seconds (negative: forever); fails naming a worker that did not stop, which is then left running and never freed */
int rios_ffi_threads_join(rios_threads *t, double timeout, rios_err *err);
/* *s borrowed, NULL when the worker left no result */
int rios_ffi_threads_result(rios_threads *t, int worker, const char **s, size_t *len, rios_err *err);
void rios_ffi_threads_free(rios_threads *t);

/* ---- Colour tables and raster attribute tables (colortable.c, rat.c; the forms on an open dataset: bandtables.h) ---- */
/* A colour entry is 4 bytes r, g, b, a (0..255); entry i is for pixel value i. Bands are 1-based; RAT rows and columns 0-based (row i: pixel value i). */
/* Column types are GDAL's GFT_* (0 integer, 1 real, 2 string); usages GFU_* (0 Generic, 1 PixelCount, 2 Name, ..., 6-9 Red, Green, Blue, Alpha). */
/* whether a band of dtype in a file of nbands written by driver can keep these entries (GTiff: uint8/uint16, one band, no alpha but 255) */
int rios_ffi_color_table_check(const char *driver, int dtype, int nbands, int n, const uint8_t *rgba, rios_err *err);
/* opens path for update, sets the table and the Palette interpretation of the band, closes */
int rios_ffi_color_table_write(const char *path, int band, int n, const uint8_t *rgba, rios_err *err);
/* *count = the band's entries (0: no table); the first min(*count, max) go into rgba */
int rios_ffi_raster_color_table(rios_raster *r, int band, int max, uint8_t *rgba, int *count, rios_err *err);

typedef struct rios_rat rios_rat;
/* *out owned: release with rios_ffi_rat_close; update = 1 opens the file for writing */
int rios_ffi_rat_open(const char *path, int band, int update, rios_rat **out, rios_err *err);
/* writes a changed table back to the band, closes the file it opened and frees r, always; -1 if writing back failed */
int rios_ffi_rat_close(rios_rat *r, rios_err *err);
/* after a failure: frees r and closes the file it opened without giving a working copy back (drivers that write straight to the file keep what was written); cannot fail */
void rios_ffi_rat_discard(rios_rat *r);
/* cannot fail */
int rios_ffi_rat_row_count(const rios_rat *r);
/* cannot fail */
int rios_ffi_rat_column_count(const rios_rat *r);
/* the column's index, or -1 when there is none of that name; cannot fail */
int rios_ffi_rat_find_column(const rios_rat *r, const char *name);
/* the band's dtype (-1: none rios has), nodata and LAYER_TYPE; cannot fail */
void rios_ffi_rat_band(const rios_rat *r, int *dtype, int *has_nodata, double *nodata, int *thematic);
/* *name borrowed until the table next changes */
int rios_ffi_rat_column(const rios_rat *r, int col, const char **name, int *type, int *usage, rios_err *err);
int rios_ffi_rat_create_column(rios_rat *r, const char *name, int type, int usage, int *col, rios_err *err);
int rios_ffi_rat_set_row_count(rios_rat *r, int n, rios_err *err);
/* rows start..start+n-1 of a number column into buf as RIOS_FLOAT64, or RIOS_INT32 for an integer column */
int rios_ffi_rat_read(rios_rat *r, int col, int start, int n, void *buf, int dtype, rios_err *err);
/* n values of any dtype (contiguous) into rows start..; an integer column takes whole numbers in int32's range only */
int rios_ffi_rat_write(rios_rat *r, int col, int start, int n, const void *buf, int dtype, rios_err *err);
/* out[0..n-1] owned: release with rios_ffi_rat_strings_free (also after a failure) */
int rios_ffi_rat_read_strings(rios_rat *r, int col, int start, int n, char **out, rios_err *err);
void rios_ffi_rat_strings_free(char **list, int n);
int rios_ffi_rat_write_strings(rios_rat *r, int col, int start, int n, const char *const *list, rios_err *err);
/* row i holds the values from row0_min + i * bin_size (a histogram's bins) */
int rios_ffi_rat_set_linear_binning(rios_rat *r, double row0_min, double bin_size, rios_err *err);

/* ---- The data channel (workers/channel.c): main process <-> rios-luaworker ---- */
/* Wire format, handshake and security model: workers/channel.h. A hub (main process) listens; a chan (worker) connects. */
enum {
  RIOS_CHAN_PROTOCOL = 1, RIOS_CHAN_KEY_SIZE = 32, RIOS_FRAME_HEADER_SIZE = 24,
  RIOS_FRAME_CHALLENGE = 1, RIOS_FRAME_HELLO = 2, RIOS_FRAME_AUTH = 3, RIOS_FRAME_WELCOME = 4,
  RIOS_FRAME_REFUSE = 5, RIOS_FRAME_HEARTBEAT = 6,
  RIOS_FRAME_JOB = 16, RIOS_FRAME_BLOCK = 17, RIOS_FRAME_OUTPUT = 18, RIOS_FRAME_ERROR = 19,
  RIOS_FRAME_RESULT = 20, RIOS_FRAME_STOP = 21,
  RIOS_FRAME_JOINED = 64, RIOS_FRAME_LOST = 65
};
/* Types 1-6: the channel's own (never returned by next); 16-21: the job protocol's, payload is the caller's; 64-65: events made locally, never on the wire, payload a one-line text. */
typedef struct rios_chan_key { uint8_t bytes[32]; } rios_chan_key;
/* What a worker says about itself; rios_ffi_chan_hello_defaults fills this process's values. Strings: printable ASCII, NUL-terminated. */
typedef struct rios_chan_hello {
  char rios_version[32], luajit_version[32], gdal_version[32];
  char ffi_hash[72];
  char host[64];
  int pid;
} rios_chan_hello;
typedef struct rios_chan_address { char host[256]; int port; rios_chan_key key; } rios_chan_address;
/* A received frame or event; owned by the caller until rios_ffi_frame_free. data: len bytes, 64-byte aligned, a NUL after them. */
typedef struct rios_frame {
  int type;
  int worker;
  int64_t block;
  size_t len;
  char *data;
} rios_frame;
/* One piece of a payload to send; the bytes are written from where they are (writev), not copied. */
typedef struct rios_part { const void *data; size_t len; } rios_part;
/* Seconds. bind: a numeric address or host name to listen on ("127.0.0.1" for local kinds). hello: the main process's versions, compared with each worker's. */
typedef struct rios_hub_config {
  const char *bind;
  double heartbeat, lost_after, handshake_timeout;
  uint64_t max_payload;
  rios_chan_hello hello;
} rios_hub_config;
typedef struct rios_chan_config {
  double heartbeat, lost_after, handshake_timeout;
  uint64_t max_payload;
  rios_chan_hello hello;
} rios_chan_config;
/* A worker as the hub knows it: its hello, its address "ip:port", lost = 1 once lost, with why. */
typedef struct rios_chan_peer {
  rios_chan_hello hello;
  char address[64];
  int lost;
  char why[256];
} rios_chan_peer;
typedef struct rios_hub rios_hub;
typedef struct rios_chan rios_chan;

size_t rios_ffi_chan_layout(int what);
/* Cannot fail: this process's versions, FFI hash, host name and pid. */
void rios_ffi_chan_hello_defaults(rios_chan_hello *out);
/* Cannot fail: loopback, heartbeat 1 s, lost after 10 s, handshake 10 s, 1 GiB payloads, this process's hello. */
void rios_ffi_hub_config_defaults(rios_hub_config *out);
void rios_ffi_chan_config_defaults(rios_chan_config *out);

/* Keys: a new random one (getrandom), from a file or an environment variable (64 hex digits; the file must be private to the user), as 64 hex digits. */
int rios_ffi_chan_key_new(rios_chan_key *out, rios_err *err);
int rios_ffi_chan_key_from_file(const char *path, rios_chan_key *out, rios_err *err);
int rios_ffi_chan_key_from_env(const char *name, rios_chan_key *out, rios_err *err);
/* Cannot fail: out gets 64 hex digits and a NUL. */
void rios_ffi_chan_key_hex(const rios_chan_key *key, char *out);
/* The address file: written atomically with mode 0600 into a folder private to the user (never through a symlink); read back only when it is a regular private file of ours in the expected format. */
int rios_ffi_chan_address_write(const char *path, const char *host, int port, const rios_chan_key *key, rios_err *err);
int rios_ffi_chan_address_read(const char *path, rios_chan_address *out, rios_err *err);

/* The main side. new: listens and accepts in its own thread; *out owned (rios_ffi_hub_close). */
int rios_ffi_hub_new(const rios_hub_config *cfg, const rios_chan_key *key, rios_hub **out, rios_err *err);
/* Cannot fail: the port the OS chose. */
int rios_ffi_hub_port(const rios_hub *hub);
/* Cannot fail: the numeric address the hub listens on ("10.1.2.3", "::1"); borrowed from the hub. */
const char *rios_ffi_hub_host(const rios_hub *hub);
/* Waits up to timeout seconds (< 0: forever) for the next frame or event of any worker; *out NULL on timeout, else owned (rios_ffi_frame_free). */
int rios_ffi_hub_next(rios_hub *hub, double timeout, rios_frame **out, rios_err *err);
/* One frame to worker (its number from JOINED): the header, then each part in order. Fails when the worker is lost or unknown. */
int rios_ffi_hub_send(rios_hub *hub, int worker, int type, int64_t block, const rios_part *parts, int nparts, rios_err *err);
int rios_ffi_hub_peer(rios_hub *hub, int worker, rios_chan_peer *out, rios_err *err);
/* Closes one worker's connection; a LOST event with why follows. Cannot fail (an unknown or lost worker is left as it is). */
void rios_ffi_hub_drop(rios_hub *hub, int worker, const char *why);
/* Stops listening, closes every connection, joins every thread, frees undelivered frames. */
void rios_ffi_hub_close(rios_hub *hub);
/* From now on connections dropped in their handshake are not logged (the run is ending its workers on purpose). Cannot fail. */
void rios_ffi_hub_quiet(rios_hub *hub);

/* The worker side. connect: the whole handshake (at most cfg->handshake_timeout); a refusal is an error naming both sides' versions. *out owned (rios_ffi_chan_close). */
int rios_ffi_chan_connect(const char *host, int port, const rios_chan_key *key, const rios_chan_config *cfg, rios_chan **out, rios_err *err);
/* Cannot fail: the number the main process gave this worker. */
int rios_ffi_chan_worker(const rios_chan *chan);
/* As hub_next; frames have worker 0. The loss of the connection comes once as a LOST event; next then fails with the reason. */
int rios_ffi_chan_next(rios_chan *chan, double timeout, rios_frame **out, rios_err *err);
int rios_ffi_chan_send(rios_chan *chan, int type, int64_t block, const rios_part *parts, int nparts, rios_err *err);
void rios_ffi_chan_close(rios_chan *chan);
/* Cannot fail; NULL is fine. */
void rios_ffi_frame_free(rios_frame *frame);
/* rios.codec's bytes (after its magic) checked before string.buffer decodes them (runtime/codec.c): only what rios.codec writes, no table larger than its bytes. */
int rios_ffi_codec_check(const char *bytes, size_t len, rios_err *err);

/* Local worker processes (workers/procs.c): kind "subproc". */
enum { RIOS_PROC_RUNNING = 0, RIOS_PROC_EXITED = 1, RIOS_PROC_KILLED = 2 };
/* argv[0] is the program's path; env_add: NAME=VALUE strings added to the environment (NULL-terminated, or NULL). Fails when the program cannot be run. */
int rios_ffi_proc_spawn(const char *const *argv, const char *const *env_add, int *pid, rios_err *err);
/* *state: RIOS_PROC_*, *code: the exit status or the signal */
int rios_ffi_proc_poll(int pid, int *state, int *code, rios_err *err);
int rios_ffi_proc_kill(int pid, int sig, rios_err *err);
/* wait up to timeout seconds, then SIGKILL and wait */
int rios_ffi_proc_reap(int pid, double timeout, int *state, int *code, rios_err *err);
/* RIOS_FFI_END */

#endif
