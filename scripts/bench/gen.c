/* Bench data: gen path dtype bands cols rows seed [clouds]. A tiled LZW
   GeoTIFF whose values are a smooth pattern plus a little noise (so LZW
   compresses it as it does real imagery), the same for a given seed. With
   clouds (a percentage), that share of 64x64 cells, chosen by the seed, is
   0 and 0 is the bands' nodata: a date of a time series with clouds
   masked. */
#include "bench.h"
#include <stdint.h>

static uint32_t hash(uint32_t x) {
  x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16;
  return x;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: gen path dtype bands cols rows seed [clouds]\n");
    return 2;
  }
  GDALDataType type = GDALGetDataTypeByName(argv[2]);
  int nb = atoi(argv[3]), cols = atoi(argv[4]), rows = atoi(argv[5]);
  uint32_t seed = (uint32_t)atoi(argv[6]);
  uint32_t clouds = argc > 7 ? (uint32_t)atoi(argv[7]) : 0;
  GDALAllRegister();
  GDALDriverH drv = GDALGetDriverByName("GTiff");
  char **opts = gtiff_options();
  GDALDatasetH ds = GDALCreate(drv, argv[1], cols, rows, nb, type, opts);
  CSLDestroy(opts);
  if (!ds) die("cannot create", argv[1]);
  double t[6] = { 500000, 10, 0, 6000000, 0, -10 };
  GDALSetGeoTransform(ds, t);
  double *line = malloc(sizeof(double) * (size_t)cols);
  if (!line) return 1;
  for (int b = 0; b < nb; b++) {
    GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
    if (clouds > 0 && GDALSetRasterNoDataValue(band, 0) != CE_None) die("nodata", argv[1]);
    for (int y = 0; y < rows; y++) {
      for (int x = 0; x < cols; x++) {
        uint32_t h = hash((uint32_t)(y * 40503u + x) ^ (seed * 2654435761u + (uint32_t)b));
        double smooth = (double)((x / 7 + y / 5 + (int)seed * 31 + b * 17) % 200);
        double v;
        switch (type) {
          case GDT_Byte: v = smooth + (h & 31); break;
          case GDT_UInt16: v = 300 + (seed % 2 ? 2000 : 0) + smooth * 8 + (h & 255); break;
          case GDT_Int16: v = -1000 + smooth * 10 + (h & 511); break;
          default: v = smooth * 0.01 + (h & 1023) / 4096.0; break;
        }
        if (clouds > 0 &&
            hash((uint32_t)((y / 64) * 7919 + x / 64) ^ (seed * 40503u + 17u)) % 100 < clouds)
          v = 0;
        line[x] = v;
      }
      if (GDALRasterIO(band, GF_Write, 0, y, cols, 1, line, cols, 1, GDT_Float64, 0, 0)
          != CE_None)
        die("write failed", argv[1]);
    }
  }
  free(line);
  close_output(ds, argv[1]);
  return 0;
}
