/* NDVI floor: ndvi red.tif nir.tif out.tif [block]. uint16 in, float32 out. */
#include "bench.h"

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: ndvi red nir out [block]\n"); return 2; }
  int bs = argc > 4 ? atoi(argv[4]) : 256;
  GDALAllRegister();
  GDALDatasetH red = open_input(argv[1]), nir = open_input(argv[2]);
  GDALDatasetH out = create_output(argv[3], red, 1, GDT_Float32);
  int cols = GDALGetRasterXSize(red), rows = GDALGetRasterYSize(red);
  size_t n = (size_t)bs * bs;
  unsigned short *r = malloc(n * 2), *ni = malloc(n * 2);
  float *o = malloc(n * 4);
  if (!r || !ni || !o) return 1;
  for (int y = 0; y < rows; y += bs) {
    for (int x = 0; x < cols; x += bs) {
      int w = cols - x < bs ? cols - x : bs, h = rows - y < bs ? rows - y : bs;
      read_window(red, argv[1], x, y, w, h, 1, r, GDT_UInt16);
      read_window(nir, argv[2], x, y, w, h, 1, ni, GDT_UInt16);
      for (size_t i = 0, m = (size_t)w * h; i < m; i++) {
        double s = (double)ni[i] + r[i];
        o[i] = s == 0 ? 0 : (float)(((double)ni[i] - r[i]) / s);
      }
      write_window(out, argv[3], x, y, w, h, 1, o, w, h, 0, GDT_Float32);
    }
  }
  close_output(out, argv[3]);
  GDALClose(red);
  GDALClose(nir);
  free(r); free(ni); free(o);
  return 0;
}
