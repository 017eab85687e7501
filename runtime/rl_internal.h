/* rl_internal.h: helpers shared by the runtime's C files, not seen by Lua. */
#ifndef RL_INTERNAL_H
#define RL_INTERNAL_H

#include <stdarg.h>
#include "rl_ffi.h"

#if defined(__GNUC__)
#define RL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RL_PRINTF(a, b)
#endif

void rl_seterr(rl_err *err, const char *fmt, ...) RL_PRINTF(2, 3);
const char *rl_dtype_name(int dtype);
/* Whether [p, p + nbytes) lies in memory the arena has handed out. */
int rl_arena_owns(const rl_arena *a, const void *p, size_t nbytes);

#endif
