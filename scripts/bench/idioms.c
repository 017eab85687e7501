/* The C floor of scripts/bench/idioms.lua: every element of a 4000 x 4000
   uint16 array through a chain of four lookups in a 256-entry table of
   float32 into float32, `passes` times (default 20): idioms [passes]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  int passes = argc > 1 ? atoi(argv[1]) : 20;
  size_t n = (size_t)4000 * 4000;
  uint16_t *x = malloc(n * sizeof(*x));
  float *o = malloc(n * sizeof(*o));
  if (!x || !o) return 1;
  float lut[256];
  for (size_t i = 0; i < n; i++) x[i] = (uint16_t)(i * 40503u);
  for (int v = 0; v < 256; v++) lut[v] = (float)((v * 167 + 13) % 256);
  for (int p = 0; p < passes; p++)
    for (size_t i = 0; i < n; i++)
      o[i] = lut[(int)lut[(int)lut[(int)lut[x[i] % 256] % 256] % 256] % 256];
  double s = 0;
  for (size_t i = 0; i < n; i++) s += o[i];
  printf("c %.17g\n", s);
  free(x);
  free(o);
  return 0;
}
