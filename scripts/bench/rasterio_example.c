/* The computation of rasterio's concurrency example: every value of a
   3-band uint8 raster goes through 2000 dependent float additions, and the
   rows of each 128x128 block are reversed. rasterio_example in out. */
#include "bench.h"

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: rasterio_example in out\n"); return 2; }
  int bs = 128;
  GDALAllRegister();
  GDALDatasetH in = open_input(argv[1]);
  int nb = GDALGetRasterCount(in);
  GDALDatasetH out = create_output(argv[2], in, nb, GDT_Byte);
  int cols = GDALGetRasterXSize(in), rows = GDALGetRasterYSize(in);
  unsigned char *a = malloc((size_t)nb * bs * bs), *o = malloc((size_t)nb * bs * bs);
  if (!a || !o) return 1;
  for (int y = 0; y < rows; y += bs) {
    for (int x = 0; x < cols; x += bs) {
      int w = cols - x < bs ? cols - x : bs, h = rows - y < bs ? rows - y : bs;
      read_window(in, argv[1], x, y, w, h, nb, a, GDT_Byte);
      for (int b = 0; b < nb; b++) {
        for (int r = 0; r < h; r++) {
          const unsigned char *src = a + ((size_t)b * h + r) * w;
          unsigned char *dst = o + ((size_t)b * h + (h - 1 - r)) * w;
          for (int c = 0; c < w; c++) {
            double val = src[c];
            for (int l = 0; l < 2000; l++) val += 1.0;
            val -= 2000.0;
            dst[c] = (unsigned char)val;
          }
        }
      }
      write_window(out, argv[2], x, y, w, h, nb, o, w, h, 0, GDT_Byte);
    }
  }
  close_output(out, argv[2]);
  GDALClose(in);
  free(a); free(o);
  return 0;
}
