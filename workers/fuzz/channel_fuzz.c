/*
 * channel_fuzz.c: the libFuzzer target over everything that decodes bytes
 * from a peer: frame headers, the stream decoder, the handshake's frames,
 * the address file, and the payload codec (lua/rios/codec.lua, through one
 * persistent LuaJIT state). `make fuzz` builds it with clang
 * (-fsanitize=fuzzer,address,undefined) and runs it.
 *
 * The first byte of an input picks what the rest is fed to:
 *   0  a stream of frames after the handshake, cut into pieces whose sizes
 *      the next byte sets; every complete frame's payload goes to the codec
 *   1  a HELLO frame as the main process reads it, then again with its mac
 *      made right, so that the hello's fields and the version check are
 *      reached too
 *   2  the frames a worker reads in its handshake (CHALLENGE, AUTH, then
 *      WELCOME or REFUSE)
 *   3  an address file
 *   4  a payload straight to the codec
 * A crash, a sanitizer report, or a Lua error from the codec other than
 * its own "cannot decode" is a finding.
 */
#include "../channel.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RIOS_LUA_DIR
#error "RIOS_LUA_DIR (the folder holding rios.lua) comes from the Makefile"
#endif

/* The fuzzer's own state: one per process, as libFuzzer runs one input at
   a time. */
static struct {
  lua_State *L;
  int has_codec;
  unsigned long decodes;
} fz;

static void codec_decode(const uint8_t *p, size_t n) {
  if (!fz.has_codec) return;
  lua_State *L = fz.L;
  lua_pushvalue(L, 1);  /* codec.decode, kept at index 1 */
  lua_pushlstring(L, (const char *)p, n);
  lua_pushliteral(L, "a frame");
  int rc = lua_pcall(L, 2, 0, 0);
  /* Arrays the codec makes are C memory that LuaJIT's GC frees (ffi.gc)
     when it next runs; a full collection every 1024 decodes keeps that
     bounded. (LeakSanitizer cannot see references held in LuaJIT's own
     heap, so `make fuzz` runs without leak detection; `make asan` checks
     the channel for leaks in real processes.) */
  if (++fz.decodes % 1024 == 0) lua_gc(L, LUA_GCCOLLECT, 0);
  if (rc != 0) {
    const char *msg = lua_tostring(L, -1);
    if (!msg || strncmp(msg, "cannot decode a frame: ", 23) != 0 ||
        strstr(msg, "attempt to ") || strstr(msg, "bad argument")) {
      fprintf(stderr, "codec.decode raised an error that is not its own: %s\n",
              msg ? msg : "(not a string)");
      abort();
    }
    lua_pop(L, 1);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz.L = luaL_newstate();
  if (!fz.L) abort();
  luaL_openlibs(fz.L);
  static const char boot[] =
      "package.path = ... .. '/?.lua;' .. package.path\n"
      "local ok, codec = pcall(require, 'rios.codec')\n"
      "if not ok then return nil, codec end\n"
      "return codec.decode\n";
  if (luaL_loadstring(fz.L, boot) != 0) abort();
  lua_pushstring(fz.L, RIOS_LUA_DIR);
  if (lua_pcall(fz.L, 1, 2, 0) != 0) {
    fprintf(stderr, "channel_fuzz: %s\n", lua_tostring(fz.L, -1));
    abort();
  }
  fz.has_codec = lua_isfunction(fz.L, 1);
  if (fz.has_codec) {
    lua_settop(fz.L, 1);
    fprintf(stderr, "channel_fuzz: payloads go to rios.codec.decode too\n");
  } else {
    fprintf(stderr, "channel_fuzz: no rios.codec (%s): frames only\n",
            lua_tostring(fz.L, 2));
    lua_settop(fz.L, 0);
  }
  return 0;
}

static const rios_chan_key fuzz_key = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                        17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
                                        31, 32}};
static const uint8_t fuzz_nonce[RIOS_CHAN_NONCE] = {42};

static void fuzz_stream(const uint8_t *p, size_t n) {
  if (n == 0) return;
  size_t piece = (size_t)p[0] + 1;  /* 1..256 bytes a read */
  p++;
  n--;
  rios_rx rx;
  rios_rx_init(&rx, (uint64_t)1 << 13);  /* as -max_len: larger frames cannot complete */
  char why[256];
  while (n > 0) {
    void *dst;
    size_t want;
    rios_rx_want(&rx, &dst, &want);
    size_t k = want < piece ? want : piece;
    if (k > n) k = n;
    memcpy(dst, p, k);
    p += k;
    n -= k;
    rios_frame *f;
    int rc = rios_rx_got(&rx, k, &f, why, sizeof(why));
    if (rc == RIOS_RX_BAD) break;
    if (rc == RIOS_RX_FRAME) {
      if (f->data[f->len] != '\0') abort();
      codec_decode((const uint8_t *)f->data, f->len);
      rios_ffi_frame_free(f);
    }
  }
  rios_rx_free(&rx);
}

static void fuzz_hello(const uint8_t *p, size_t n) {
  char why[512];
  rios_wire_header h;
  rios_wire_expect exp = {RIOS_FRAME_HELLO, RIOS_CHAN_HELLO_LEN, 0};
  if (n < RIOS_CHAN_HEADER + RIOS_CHAN_HELLO_LEN) return;
  (void)rios_wire_check_header(p, &exp, &h, why, sizeof(why));
  uint8_t hello[RIOS_CHAN_HELLO_LEN];
  memcpy(hello, p + RIOS_CHAN_HEADER, sizeof(hello));
  rios_wire_hello wh;
  if (rios_wire_hello_verify(&fuzz_key, fuzz_nonce, hello, &wh, why, sizeof(why)) == 0) {
    fprintf(stderr, "a hello with a guessed mac was taken\n");
    abort();
  }
  /* The same fields with the right mac: only now are they decoded. */
  rios_wire_hello_mac(&fuzz_key, fuzz_nonce, hello, hello + RIOS_CHAN_NONCE);
  if (rios_wire_hello_verify(&fuzz_key, fuzz_nonce, hello, &wh, why, sizeof(why)) == 0) {
    rios_chan_hello mine;
    memset(&mine, 0, sizeof(mine));
    strcpy(mine.rios_version, "0.1.0");
    strcpy(mine.luajit_version, "LuaJIT 2.1.0-beta3");
    strcpy(mine.gdal_version, "3.6.2");
    strcpy(mine.ffi_hash, "0123");
    char msg[1024];
    (void)rios_wire_compare_versions(&wh.hello, &mine, msg, sizeof(msg));
    uint8_t mac[RIOS_CHAN_MAC];
    rios_wire_main_mac(&fuzz_key, fuzz_nonce, wh.nonce, wh.mac, mac);
    /* Re-encoding what was decoded gives the same bytes back. */
    uint8_t again[RIOS_CHAN_HELLO_LEN];
    if (rios_wire_hello_encode(&fuzz_key, fuzz_nonce, wh.nonce, wh.heartbeat_ms, &wh.hello,
                               again, why, sizeof(why)) != 0 ||
        memcmp(again, hello, sizeof(again)) != 0) {
      fprintf(stderr, "a hello decoded and encoded again differs\n");
      abort();
    }
  }
}

static void fuzz_worker_side(const uint8_t *p, size_t n) {
  char why[256];
  rios_wire_header h;
  const rios_wire_expect steps[] = {
      {RIOS_FRAME_CHALLENGE, RIOS_CHAN_NONCE, 0},
      {RIOS_FRAME_AUTH, RIOS_CHAN_MAC, 0},
  };
  for (size_t i = 0; i < 2; i++) {
    if (n < RIOS_CHAN_HEADER) return;
    if (rios_wire_check_header(p, &steps[i], &h, why, sizeof(why)) < 0) return;
    p += RIOS_CHAN_HEADER;
    n -= RIOS_CHAN_HEADER;
    if (n < h.len) return;
    if (i == 1) {
      uint8_t want[RIOS_CHAN_MAC] = {0};
      (void)rios_wire_mac_equal(p, want);
    }
    p += h.len;
    n -= (size_t)h.len;
  }
  if (n < RIOS_CHAN_HEADER) return;
  int refused = p[6] == RIOS_FRAME_REFUSE && p[7] == 0;
  rios_wire_expect last = refused
                              ? (rios_wire_expect){RIOS_FRAME_REFUSE, 0, RIOS_CHAN_REFUSE_MAX}
                              : (rios_wire_expect){RIOS_FRAME_WELCOME, RIOS_CHAN_WELCOME_LEN, 0};
  if (rios_wire_check_header(p, &last, &h, why, sizeof(why)) < 0) return;
  p += RIOS_CHAN_HEADER;
  n -= RIOS_CHAN_HEADER;
  if (n < h.len) return;
  char line[RIOS_CHAN_REFUSE_MAX + 1];
  rios_wire_printable(p, (size_t)h.len, line, sizeof(line));
  for (const char *s = line; *s; s++)
    if (*s < 0x20 || *s > 0x7e) abort();
}

static void fuzz_address(const uint8_t *p, size_t n) {
  rios_chan_address a;
  char why[256];
  if (rios_address_parse((const char *)p, n, &a, why, sizeof(why)) == 0) {
    if (a.port < 1 || a.port > 65535 || strlen(a.host) >= sizeof(a.host)) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  switch (data[0] % 5) {
    case 0: fuzz_stream(p, n); break;
    case 1: fuzz_hello(p, n); break;
    case 2: fuzz_worker_side(p, n); break;
    case 3: fuzz_address(p, n); break;
    case 4: codec_decode(p, n); break;
  }
  return 0;
}
