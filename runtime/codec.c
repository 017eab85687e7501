/*
 * codec.c: a check of rios.codec's bytes before LuaJIT's string.buffer
 * decodes them. The decoder itself is safe against truncated or malformed
 * input, but it allocates a table at the size the bytes declare before it
 * reads the table's elements: ten bytes can make it allocate half a
 * gigabyte. This walks the serialization format (LuaJIT's lj_serialize.c)
 * first and refuses what rios.codec never writes, so that decoding takes
 * memory in proportion to the bytes:
 *   - only nil, false, true, numbers, strings and tables, and the one
 *     metatable rios.codec marks arrays with (no light userdata, 64-bit
 *     integer or complex cdata, string dictionaries);
 *   - a table's declared slots are at most the bytes left (every slot
 *     takes at least one byte, every hash entry two);
 *   - tables nest at most RIOS_CODEC_DEPTH deep (the encoder's own limit).
 */
#include "rios_ffi.h"
#include "rios_internal.h"

#include <stdint.h>
#include <string.h>

#define RIOS_CODEC_DEPTH 100

/* The tags of LuaJIT's serialization format (lj_serialize.c). */
enum {
  TAG_NIL = 0, TAG_FALSE = 1, TAG_TRUE = 2, TAG_INT = 6, TAG_NUM = 7,
  TAG_TAB = 8, TAG_DICT_MT = 14, TAG_STR = 32
};

typedef struct scan {
  const uint8_t *p, *end;
  const char *why;
} scan;

/* A U124 number (LuaJIT's 1, 2 or 5 byte encoding). */
static int read_u124(scan *s, uint32_t *out) {
  if (s->p >= s->end) return -1;
  uint32_t v = *s->p++;
  if (v >= 0xe0) {
    if (v != 0xff) {
      if (s->p >= s->end) return -1;
      v = ((v & 0x1f) << 8) + *s->p++ + 0xe0;
    } else {
      if (s->end - s->p < 4) return -1;
      v = (uint32_t)s->p[0] | (uint32_t)s->p[1] << 8 | (uint32_t)s->p[2] << 16 |
          (uint32_t)s->p[3] << 24;
      s->p += 4;
    }
  }
  *out = v;
  return 0;
}

static int value(scan *s, int depth) {
  uint32_t tp;
  if (read_u124(s, &tp) != 0) {
    s->why = "it ends in the middle of a value";
    return -1;
  }
  size_t left = (size_t)(s->end - s->p);
  if (tp >= TAG_STR) {
    if (tp - TAG_STR > left) {
      s->why = "a string runs past the end";
      return -1;
    }
    s->p += tp - TAG_STR;
    return 0;
  }
  if (tp <= TAG_TRUE) return 0;
  if (tp == TAG_INT || tp == TAG_NUM) {
    size_t n = tp == TAG_INT ? 4 : 8;
    if (n > left) {
      s->why = "a number runs past the end";
      return -1;
    }
    s->p += n;
    return 0;
  }
  if (tp == TAG_DICT_MT) {
    uint32_t idx;
    if (read_u124(s, &idx) != 0 || idx != 0 || read_u124(s, &tp) != 0 ||
        tp < TAG_TAB || tp >= TAG_DICT_MT) {
      s->why = "a table has a metatable rios-lua does not use";
      return -1;
    }
  }
  if (tp < TAG_TAB || tp >= TAG_DICT_MT) {
    s->why = "it holds a kind of value rios-lua never encodes";
    return -1;
  }
  if (depth >= RIOS_CODEC_DEPTH) {
    s->why = "tables nest too deep";
    return -1;
  }
  uint32_t narray = 0, nhash = 0;
  if (tp >= TAG_TAB + 2 && read_u124(s, &narray) != 0) {
    s->why = "a table's size runs past the end";
    return -1;
  }
  if ((tp & 1) && read_u124(s, &nhash) != 0) {
    s->why = "a table's size runs past the end";
    return -1;
  }
  uint32_t nvalues = narray - (tp >= TAG_TAB + 4 && narray > 0 ? 1 : 0);
  left = (size_t)(s->end - s->p);
  if (nvalues > left || (uint64_t)nhash * 2 > left - nvalues) {
    s->why = "a table declares more entries than there are bytes";
    return -1;
  }
  for (uint32_t i = 0; i < nvalues; i++)
    if (value(s, depth + 1) != 0) return -1;
  for (uint32_t i = 0; i < nhash; i++)
    if (value(s, depth + 1) != 0 || value(s, depth + 1) != 0) return -1;
  return 0;
}

int rios_ffi_codec_check(const char *bytes, size_t len, rios_err *err) {
  scan s = {(const uint8_t *)bytes, (const uint8_t *)bytes + len, NULL};
  if (value(&s, 0) != 0) {
    rios_seterr(err, "%s", s.why);
    return RIOS_FAIL;
  }
  if (s.p != s.end) {
    rios_seterr(err, "%zu bytes left over after the value", (size_t)(s.end - s.p));
    return RIOS_FAIL;
  }
  return RIOS_OK;
}
