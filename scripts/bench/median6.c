/* Median composite of 6 uint16 dates, nodata 0 skipped, uint16 out:
   median6 out d1 d2 d3 d4 d5 d6. Per pixel, the valid values are sorted by
   Batcher's 12-comparator network for 6 (invalid ones as a huge value, so
   they sort last) and the median of the n valid is the middle one, or the
   mean of the middle two rounded to nearest, ties to even (rint); 0 where
   no date is valid. The fastest of the C versions tried (an insertion sort
   of the valid values is slower with gcc -O2: its branches follow the
   data). */
#include "bench.h"
#include <math.h>
#include <stdint.h>

#define NDATES 6
#define CE(a, b) do { double x_ = a, y_ = b; a = x_ < y_ ? x_ : y_; b = x_ < y_ ? y_ : x_; } while (0)

int main(int argc, char **argv) {
  if (argc != 2 + NDATES) { fprintf(stderr, "usage: median6 out d1 ... d6\n"); return 2; }
  int bs = 256;
  GDALAllRegister();
  GDALDatasetH in[NDATES];
  uint16_t *buf[NDATES];
  uint16_t *o = malloc((size_t)bs * bs * 2);
  if (!o) return 1;
  for (int i = 0; i < NDATES; i++) {
    in[i] = open_input(argv[i + 2]);
    buf[i] = malloc((size_t)bs * bs * 2);
    if (!buf[i]) return 1;
  }
  GDALDatasetH out = create_output(argv[1], in[0], 1, GDT_UInt16);
  if (GDALSetRasterNoDataValue(GDALGetRasterBand(out, 1), 0) != CE_None) die("nodata", argv[1]);
  int cols = GDALGetRasterXSize(in[0]), rows = GDALGetRasterYSize(in[0]);
  for (int y = 0; y < rows; y += bs) {
    for (int x = 0; x < cols; x += bs) {
      int w = cols - x < bs ? cols - x : bs, h = rows - y < bs ? rows - y : bs;
      for (int i = 0; i < NDATES; i++)
        read_window(in[i], argv[i + 2], x, y, w, h, 1, buf[i], GDT_UInt16);
      for (size_t p = 0, m = (size_t)w * h; p < m; p++) {
        double v[NDATES];
        int n = 0;
        for (int i = 0; i < NDATES; i++) {
          unsigned u = buf[i][p];
          n += u != 0;
          v[i] = u != 0 ? (double)u : 1e300;
        }
        double v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3], v4 = v[4], v5 = v[5];
        CE(v0, v4); CE(v1, v5); CE(v0, v2); CE(v1, v3); CE(v2, v4); CE(v3, v5);
        CE(v0, v1); CE(v2, v3); CE(v4, v5); CE(v1, v4); CE(v1, v2); CE(v3, v4);
        double s[NDATES] = { v0, v1, v2, v3, v4, v5 };
        o[p] = n == 0 ? 0 : (uint16_t)rint((s[(n - 1) / 2] + s[n / 2]) * 0.5);
      }
      write_window(out, argv[1], x, y, w, h, 1, o, w, h, 0, GDT_UInt16);
    }
  }
  close_output(out, argv[1]);
  for (int i = 0; i < NDATES; i++) { GDALClose(in[i]); free(buf[i]); }
  free(o);
  return 0;
}
