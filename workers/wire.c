/*
 * wire.c: the channel's bytes (see channel.h): frame headers, the
 * handshake's frames and macs, and the zero-copy decoder of a stream of
 * frames. Everything here is a pure function of its arguments, so the fuzz
 * target (workers/fuzz/channel_fuzz.c) drives exactly this code.
 */
#include "channel.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- little-endian integers ------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* ---- headers ---------------------------------------------------------- */

const char *rios_wire_type_name(int type) {
  switch (type) {
    case RIOS_FRAME_CHALLENGE: return "CHALLENGE";
    case RIOS_FRAME_HELLO: return "HELLO";
    case RIOS_FRAME_AUTH: return "AUTH";
    case RIOS_FRAME_WELCOME: return "WELCOME";
    case RIOS_FRAME_REFUSE: return "REFUSE";
    case RIOS_FRAME_HEARTBEAT: return "HEARTBEAT";
    case RIOS_FRAME_JOB: return "JOB";
    case RIOS_FRAME_BLOCK: return "BLOCK";
    case RIOS_FRAME_OUTPUT: return "OUTPUT";
    case RIOS_FRAME_ERROR: return "ERROR";
    case RIOS_FRAME_RESULT: return "RESULT";
    case RIOS_FRAME_STOP: return "STOP";
    case RIOS_FRAME_JOINED: return "JOINED";
    case RIOS_FRAME_LOST: return "LOST";
    default: return NULL;
  }
}

static int is_job_type(int type) {
  return type >= RIOS_FRAME_JOB && type <= RIOS_FRAME_STOP;
}

void rios_wire_put_header(uint8_t out[RIOS_CHAN_HEADER], int type, int64_t block,
                          uint64_t len) {
  put_u32(out, RIOS_CHAN_MAGIC);
  put_u16(out + 4, RIOS_CHAN_PROTOCOL);
  put_u16(out + 6, (uint16_t)type);
  put_u64(out + 8, (uint64_t)block);
  put_u64(out + 16, len);
}

int rios_wire_check_header(const uint8_t in[RIOS_CHAN_HEADER], const rios_wire_expect *exp,
                           rios_wire_header *h, char *why, size_t whylen) {
  uint32_t magic = get_u32(in);
  if (magic != RIOS_CHAN_MAGIC) {
    snprintf(why, whylen, "bad magic 0x%08x, not the rios-lua channel", (unsigned)magic);
    return -1;
  }
  unsigned version = get_u16(in + 4);
  if (version != RIOS_CHAN_PROTOCOL) {
    snprintf(why, whylen, "channel protocol %u, this side speaks %d", version,
             RIOS_CHAN_PROTOCOL);
    return -1;
  }
  int type = get_u16(in + 6);
  int64_t block = (int64_t)get_u64(in + 8);
  uint64_t len = get_u64(in + 16);
  if (exp->type == 0) {
    if (!is_job_type(type) && type != RIOS_FRAME_HEARTBEAT) {
      const char *name = rios_wire_type_name(type);
      if (name)
        snprintf(why, whylen, "a %s frame after the handshake", name);
      else
        snprintf(why, whylen, "unknown frame type %d", type);
      return -1;
    }
    if (block < -1 || block > RIOS_CHAN_MAX_BLOCK) {
      snprintf(why, whylen, "%s frame with block number %lld out of range",
               rios_wire_type_name(type), (long long)block);
      return -1;
    }
    if (type == RIOS_FRAME_HEARTBEAT && (len != 0 || block != 0)) {
      snprintf(why, whylen, "HEARTBEAT frame with block %lld and %llu payload bytes",
               (long long)block, (unsigned long long)len);
      return -1;
    }
    if (len > exp->max_len) {
      snprintf(why, whylen, "%s frame of %llu bytes, more than the limit of %llu",
               rios_wire_type_name(type), (unsigned long long)len,
               (unsigned long long)exp->max_len);
      return -1;
    }
  } else {
    const char *want = rios_wire_type_name(exp->type);
    if (type != exp->type) {
      const char *name = rios_wire_type_name(type);
      if (name)
        snprintf(why, whylen, "a %s frame where %s was due", name, want);
      else
        snprintf(why, whylen, "unknown frame type %d where %s was due", type, want);
      return -1;
    }
    if (block != 0) {
      snprintf(why, whylen, "%s frame with block %lld (0 expected)", want, (long long)block);
      return -1;
    }
    int len_ok = exp->max_len ? len <= exp->max_len : len == exp->len;
    if (!len_ok) {
      snprintf(why, whylen, "%s frame of %llu bytes (%llu expected)", want,
               (unsigned long long)len,
               (unsigned long long)(exp->max_len ? exp->max_len : exp->len));
      return -1;
    }
  }
  h->type = type;
  h->block = block;
  h->len = len;
  return 0;
}

/* ---- the hello -------------------------------------------------------- */

static const char worker_label[] = "rios-lua channel 1 worker";
static const char main_label[] = "rios-lua channel 1 main";

/* HMAC-SHA256 of label | a | b | c (c may be empty) with the run's key. */
static void mac3(const rios_chan_key *key, const char *label, const uint8_t *a, size_t alen,
                 const uint8_t *b, size_t blen, const uint8_t *c, size_t clen,
                 uint8_t out[RIOS_CHAN_MAC]) {
  uint8_t buf[64 + RIOS_CHAN_NONCE * 2 + RIOS_CHAN_HELLO_FIELDS];
  size_t n = strlen(label);
  memcpy(buf, label, n);
  memcpy(buf + n, a, alen);
  n += alen;
  memcpy(buf + n, b, blen);
  n += blen;
  if (clen) memcpy(buf + n, c, clen);
  n += clen;
  unsigned outlen = RIOS_CHAN_MAC;
  if (!HMAC(EVP_sha256(), key->bytes, RIOS_CHAN_KEY_SIZE, buf, n, out, &outlen)) {
    /* HMAC-SHA256 fails only when libcrypto cannot allocate; a mac that
       matches nothing makes the handshake fail safe. */
    memset(out, 0, RIOS_CHAN_MAC);
  }
  OPENSSL_cleanse(buf, sizeof(buf));
}

int rios_wire_mac_equal(const uint8_t a[RIOS_CHAN_MAC], const uint8_t b[RIOS_CHAN_MAC]) {
  return CRYPTO_memcmp(a, b, RIOS_CHAN_MAC) == 0;
}

static int put_string(uint8_t *p, size_t size, const char *s, const char *what, char *why,
                      size_t whylen) {
  size_t n = strnlen(s, size);
  if (n >= size) {
    snprintf(why, whylen, "the hello's %s is longer than %zu characters", what, size - 1);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
      snprintf(why, whylen, "the hello's %s is not printable ASCII", what);
      return -1;
    }
  }
  memset(p, 0, size);
  memcpy(p, s, n);
  return 0;
}

/* A string field: printable ASCII, then a NUL, then only NULs. */
static int get_string(const uint8_t *p, size_t size, char *out, const char *what, char *why,
                      size_t whylen) {
  size_t n = 0;
  while (n < size && p[n] != 0) {
    if (p[n] < 0x20 || p[n] > 0x7e) {
      snprintf(why, whylen, "malformed hello: its %s is not printable ASCII", what);
      return -1;
    }
    n++;
  }
  if (n == size) {
    snprintf(why, whylen, "malformed hello: its %s has no end", what);
    return -1;
  }
  for (size_t i = n; i < size; i++) {
    if (p[i] != 0) {
      snprintf(why, whylen, "malformed hello: bytes after the end of its %s", what);
      return -1;
    }
  }
  memcpy(out, p, n + 1);
  return 0;
}

#define FIELD_STRINGS(X)                                     \
  X(rios_version, "rios-lua version")                        \
  X(luajit_version, "LuaJIT version")                        \
  X(gdal_version, "GDAL version")                            \
  X(ffi_hash, "FFI hash")                                    \
  X(host, "host name")

static int encode_fields(uint32_t heartbeat_ms, const rios_chan_hello *h, uint8_t *p,
                         char *why, size_t whylen) {
  put_u32(p, heartbeat_ms);
  put_u32(p + 4, (uint32_t)h->pid);
  size_t off = 8;
#define PUT(field, what)                                                               \
  if (put_string(p + off, sizeof(h->field), h->field, what, why, whylen) < 0) return -1; \
  off += sizeof(h->field);
  FIELD_STRINGS(PUT)
#undef PUT
  return 0;
}

int rios_wire_hello_encode(const rios_chan_key *key, const uint8_t nonce_m[RIOS_CHAN_NONCE],
                           const uint8_t nonce_w[RIOS_CHAN_NONCE], uint32_t heartbeat_ms,
                           const rios_chan_hello *h, uint8_t out[RIOS_CHAN_HELLO_LEN],
                           char *why, size_t whylen) {
  uint8_t *fields = out + RIOS_CHAN_NONCE + RIOS_CHAN_MAC;
  if (encode_fields(heartbeat_ms, h, fields, why, whylen) < 0) return -1;
  memcpy(out, nonce_w, RIOS_CHAN_NONCE);
  mac3(key, worker_label, nonce_m, RIOS_CHAN_NONCE, nonce_w, RIOS_CHAN_NONCE, fields,
       RIOS_CHAN_HELLO_FIELDS, out + RIOS_CHAN_NONCE);
  return 0;
}

void rios_wire_hello_mac(const rios_chan_key *key, const uint8_t nonce_m[RIOS_CHAN_NONCE],
                         const uint8_t in[RIOS_CHAN_HELLO_LEN], uint8_t out[RIOS_CHAN_MAC]) {
  mac3(key, worker_label, nonce_m, RIOS_CHAN_NONCE, in, RIOS_CHAN_NONCE,
       in + RIOS_CHAN_NONCE + RIOS_CHAN_MAC, RIOS_CHAN_HELLO_FIELDS, out);
}

int rios_wire_hello_verify(const rios_chan_key *key, const uint8_t nonce_m[RIOS_CHAN_NONCE],
                           const uint8_t in[RIOS_CHAN_HELLO_LEN], rios_wire_hello *out,
                           char *why, size_t whylen) {
  const uint8_t *fields = in + RIOS_CHAN_NONCE + RIOS_CHAN_MAC;
  uint8_t want[RIOS_CHAN_MAC];
  rios_wire_hello_mac(key, nonce_m, in, want);
  if (!rios_wire_mac_equal(want, in + RIOS_CHAN_NONCE)) {
    snprintf(why, whylen, "wrong key (its hello does not prove the run's key)");
    return -1;
  }
  memset(out, 0, sizeof(*out));
  memcpy(out->nonce, in, RIOS_CHAN_NONCE);
  memcpy(out->mac, in + RIOS_CHAN_NONCE, RIOS_CHAN_MAC);
  out->heartbeat_ms = get_u32(fields);
  uint32_t pid = get_u32(fields + 4);
  if (pid == 0 || pid > 0x7fffffffu) {
    snprintf(why, whylen, "malformed hello: pid %lu", (unsigned long)pid);
    return -1;
  }
  out->hello.pid = (int)pid;
  if (out->heartbeat_ms == 0 || out->heartbeat_ms > 3600 * 1000) {
    snprintf(why, whylen, "malformed hello: heartbeat of %lu ms",
             (unsigned long)out->heartbeat_ms);
    return -1;
  }
  size_t off = 8;
#define GET(field, what)                                                                 \
  if (get_string(fields + off, sizeof(out->hello.field), out->hello.field, what, why,    \
                 whylen) < 0)                                                            \
    return -1;                                                                           \
  off += sizeof(out->hello.field);
  FIELD_STRINGS(GET)
#undef GET
  return 0;
}

void rios_wire_main_mac(const rios_chan_key *key, const uint8_t nonce_m[RIOS_CHAN_NONCE],
                        const uint8_t nonce_w[RIOS_CHAN_NONCE],
                        const uint8_t mac_w[RIOS_CHAN_MAC], uint8_t out[RIOS_CHAN_MAC]) {
  mac3(key, main_label, nonce_m, RIOS_CHAN_NONCE, nonce_w, RIOS_CHAN_NONCE, mac_w,
       RIOS_CHAN_MAC, out);
}

static void describe(const rios_chan_hello *h, char *out, size_t outlen) {
  snprintf(out, outlen, "rios-lua %s, %s, GDAL %s, FFI %.12s", h->rios_version,
           h->luajit_version, h->gdal_version, h->ffi_hash);
}

int rios_wire_compare_versions(const rios_chan_hello *worker, const rios_chan_hello *main_side,
                               char *msg, size_t msglen) {
  if (strcmp(worker->rios_version, main_side->rios_version) == 0 &&
      strcmp(worker->luajit_version, main_side->luajit_version) == 0 &&
      strcmp(worker->gdal_version, main_side->gdal_version) == 0 &&
      strcmp(worker->ffi_hash, main_side->ffi_hash) == 0)
    return 0;
  char w[256], m[256];
  describe(worker, w, sizeof(w));
  describe(main_side, m, sizeof(m));
  snprintf(msg, msglen, "versions differ: the worker (%s pid %d) runs %s; the main process "
           "runs %s", worker->host, worker->pid, w, m);
  return -1;
}

void rios_wire_printable(const uint8_t *in, size_t n, char *out, size_t outlen) {
  if (outlen == 0) return;
  size_t k = 0;
  for (size_t i = 0; i < n && k + 1 < outlen; i++)
    out[k++] = (in[i] >= 0x20 && in[i] <= 0x7e) ? (char)in[i] : '?';
  out[k] = '\0';
}

/* ---- frames ----------------------------------------------------------- */

/* The payload sits in its own 64-byte aligned block so that arrays in it
   can be used in place; one NUL byte follows it for text payloads. */
rios_frame *rios_frame_new(int type, int worker, int64_t block, size_t len) {
  if (len > SIZE_MAX - 128) return NULL;
  rios_frame_box *box = malloc(sizeof(*box));
  if (!box) return NULL;
  box->next = NULL;
  rios_frame *f = &box->pub;
  size_t room = (len + 1 + 63) & ~(size_t)63;
  f->data = aligned_alloc(64, room);
  if (!f->data) {
    free(box);
    return NULL;
  }
  f->data[len] = '\0';
  f->type = type;
  f->worker = worker;
  f->block = block;
  f->len = len;
  return f;
}

rios_frame *rios_frame_text(int type, int worker, const char *text) {
  size_t n = strlen(text);
  rios_frame *f = rios_frame_new(type, worker, -1, n);
  if (f) memcpy(f->data, text, n);
  return f;
}

void rios_ffi_frame_free(rios_frame *frame) {
  if (!frame) return;
  free(frame->data);
  free((rios_frame_box *)frame);
}

/* ---- the stream decoder ----------------------------------------------- */

void rios_rx_init(rios_rx *rx, uint64_t max_payload) {
  memset(rx, 0, sizeof(*rx));
  rx->max_payload = max_payload;
}

void rios_rx_want(rios_rx *rx, void **p, size_t *n) {
  if (rx->frame) {
    *p = rx->frame->data + rx->have;
    *n = rx->frame->len - rx->have;
  } else {
    *p = rx->head + rx->have;
    *n = RIOS_CHAN_HEADER - rx->have;
  }
}

int rios_rx_got(rios_rx *rx, size_t n, rios_frame **out, char *why, size_t whylen) {
  *out = NULL;
  rx->have += n;
  if (rx->frame) {
    if (rx->have < rx->frame->len) return RIOS_RX_MORE;
    *out = rx->frame;
    rx->frame = NULL;
    rx->have = 0;
    return RIOS_RX_FRAME;
  }
  if (rx->have < RIOS_CHAN_HEADER) return RIOS_RX_MORE;
  rx->have = 0;
  rios_wire_expect open = {0, 0, rx->max_payload};
  if (rios_wire_check_header(rx->head, &open, &rx->h, why, whylen) < 0) return RIOS_RX_BAD;
  if (rx->h.type == RIOS_FRAME_HEARTBEAT) return RIOS_RX_HEARTBEAT;
  if (rx->h.len > SIZE_MAX - 128) {
    snprintf(why, whylen, "a frame of %llu bytes does not fit in memory",
             (unsigned long long)rx->h.len);
    return RIOS_RX_BAD;
  }
  rios_frame *f = rios_frame_new(rx->h.type, 0, rx->h.block, (size_t)rx->h.len);
  if (!f) {
    snprintf(why, whylen, "out of memory for a %s frame of %llu bytes",
             rios_wire_type_name(rx->h.type), (unsigned long long)rx->h.len);
    return RIOS_RX_BAD;
  }
  if (f->len == 0) {
    *out = f;
    return RIOS_RX_FRAME;
  }
  rx->frame = f;
  return RIOS_RX_MORE;
}

void rios_rx_free(rios_rx *rx) {
  rios_ffi_frame_free(rx->frame);
  rx->frame = NULL;
}
