/* Mean of a list of int16 rasters, float32 out: mean8 out in1 in2 ... */
#include "bench.h"

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: mean8 out in...\n"); return 2; }
  int bs = 256, nin = argc - 2;
  GDALAllRegister();
  GDALDatasetH *in = malloc(sizeof(*in) * nin);
  short **buf = malloc(sizeof(*buf) * nin);
  float *o = malloc((size_t)bs * bs * 4);
  if (!in || !buf || !o) return 1;
  for (int i = 0; i < nin; i++) {
    in[i] = open_input(argv[i + 2]);
    buf[i] = malloc((size_t)bs * bs * 2);
    if (!buf[i]) return 1;
  }
  GDALDatasetH out = create_output(argv[1], in[0], 1, GDT_Float32);
  int cols = GDALGetRasterXSize(in[0]), rows = GDALGetRasterYSize(in[0]);
  for (int y = 0; y < rows; y += bs) {
    for (int x = 0; x < cols; x += bs) {
      int w = cols - x < bs ? cols - x : bs, h = rows - y < bs ? rows - y : bs;
      for (int i = 0; i < nin; i++)
        read_window(in[i], argv[i + 2], x, y, w, h, 1, buf[i], GDT_Int16);
      for (size_t p = 0, m = (size_t)w * h; p < m; p++) {
        double s = 0;
        for (int i = 0; i < nin; i++) s += buf[i][p];
        o[p] = (float)(s / nin);
      }
      write_window(out, argv[1], x, y, w, h, 1, o, w, h, 0, GDT_Float32);
    }
  }
  close_output(out, argv[1]);
  for (int i = 0; i < nin; i++) { GDALClose(in[i]); free(buf[i]); }
  free(in); free(buf); free(o);
  return 0;
}
