/* process.c: the process-wide state (see process.h) and how it is found. */
#include "process.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

rios_process_state rios_process = {.temp_lock = PTHREAD_MUTEX_INITIALIZER,
                                   .guard.lock = PTHREAD_MUTEX_INITIALIZER};

static int is_file(const char *path) {
  return access(path, R_OK) == 0;
}

/* The modules live beside the binary in the build tree (./lua) and under
   PREFIX/share/rios-lua/lua after `make install PREFIX=...`. */
int rios_process_init(const char *argv0, char *err, size_t errlen) {
  ssize_t n = readlink("/proc/self/exe", rios_process.exe_path,
                       sizeof(rios_process.exe_path) - 1);
  if (n <= 0) {
    if (!realpath(argv0, rios_process.exe_path)) {
      snprintf(err, errlen, "cannot find the rios-lua executable (%s)", argv0);
      return -1;
    }
  } else {
    rios_process.exe_path[n] = '\0';
  }
  char dir[PATH_MAX];
  memcpy(dir, rios_process.exe_path, sizeof(dir));
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';

  static const char *const candidates[] = {"%s/lua", "%s/../share/rios-lua/lua"};
  for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
    char probe[PATH_MAX + 64];
    char base[PATH_MAX + 32];
    snprintf(base, sizeof(base), candidates[i], dir);
    snprintf(probe, sizeof(probe), "%s/rios.lua", base);
    if (is_file(probe)) {
      if (realpath(base, rios_process.lua_dir)) {
        memcpy(rios_process.root_dir, rios_process.lua_dir, sizeof(rios_process.root_dir));
        char *up = strrchr(rios_process.root_dir, '/');
        if (up && up != rios_process.root_dir) *up = '\0';
        return 0;
      }
      snprintf(err, errlen, "cannot resolve the module folder %.*s", PATH_MAX, base);
      return -1;
    }
  }
  snprintf(err, errlen, "cannot find the rios Lua modules beside %s "
           "(looked in %s/lua and %s/../share/rios-lua/lua)",
           rios_process.exe_path, dir, dir);
  return -1;
}
