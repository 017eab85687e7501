/* 3x3 mean with an overlap of 1 (zero outside the raster), float32 in and
   out: mean3x3 in out [block]. */
#include "bench.h"

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: mean3x3 in out [block]\n"); return 2; }
  int bs = argc > 3 ? atoi(argv[3]) : 256, ov = 1;
  GDALAllRegister();
  GDALDatasetH in = open_input(argv[1]);
  GDALDatasetH out = create_output(argv[2], in, 1, GDT_Float32);
  int cols = GDALGetRasterXSize(in), rows = GDALGetRasterYSize(in);
  size_t n = (size_t)(bs + 2 * ov) * (bs + 2 * ov);
  float *a = malloc(n * 4), *o = calloc(n, 4);
  if (!a || !o) return 1;
  for (int y = 0; y < rows; y += bs) {
    for (int x = 0; x < cols; x += bs) {
      int w = cols - x < bs ? cols - x : bs, h = rows - y < bs ? rows - y : bs;
      int bw = w + 2 * ov, bh = h + 2 * ov;
      read_window(in, argv[1], x - ov, y - ov, bw, bh, 1, a, GDT_Float32);
      for (int r = 1; r < bh - 1; r++) {
        const float *up = a + (size_t)(r - 1) * bw, *mid = up + bw, *down = mid + bw;
        float *dst = o + (size_t)r * bw;
        for (int c = 1; c < bw - 1; c++) {
          double s = (double)up[c - 1] + up[c] + up[c + 1] + mid[c - 1] + mid[c] + mid[c + 1] +
                     down[c - 1] + down[c] + down[c + 1];
          dst[c] = (float)(s / 9);
        }
      }
      write_window(out, argv[2], x, y, w, h, 1, o, bw, bh, ov, GDT_Float32);
    }
  }
  close_output(out, argv[2]);
  GDALClose(in);
  free(a); free(o);
  return 0;
}
