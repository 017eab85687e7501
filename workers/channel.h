/*
 * channel.h: the data channel between the main rios-lua process (the hub)
 * and its rios-luaworker processes (each one channel). Lua reaches it
 * through the rios_ffi_hub_*, rios_ffi_chan_* and rios_ffi_frame_*
 * functions declared in runtime/rios_ffi.h ("The data channel"); this
 * header is what the C files under workers/ and the fuzz target share.
 *
 * WIRE FORMAT. TCP; every message is a frame: a 24-byte header, all fields
 * little-endian, then `length` payload bytes:
 *
 *   offset 0   u32  magic    0x4C4F4952 (the bytes "RIOL")
 *          4   u16  version  RIOS_CHAN_PROTOCOL (1)
 *          6   u16  type     RIOS_FRAME_* (see rios_ffi.h)
 *          8   i64  block    -1 (none) .. 2^53 (exact as a Lua number)
 *         16   u64  length   payload bytes, at most the receiver's
 *                            max_payload (default 1 GiB)
 *
 * A receiver checks every header field before it allocates anything; a bad
 * field drops the connection with a message naming the peer. The payload of
 * JOB, BLOCK, OUTPUT, ERROR, RESULT and STOP means what the job protocol
 * says (the codec's bytes and raw little-endian arrays); the channel only
 * carries it. HEARTBEAT has no payload and block 0.
 *
 * HANDSHAKE. Before authentication only fixed-size frames are read, each
 * checked against the exact type and length expected:
 *
 *   main -> worker  CHALLENGE  nonce_m (32 random bytes)
 *   worker -> main  HELLO      nonce_w (32), mac_w (32), heartbeat ms (u32),
 *                              pid (i32), rios-lua, LuaJIT and GDAL versions
 *                              (char[32] each), FFI hash (char[72]), host
 *                              name (char[64]); strings are printable ASCII,
 *                              NUL-terminated and zero-padded
 *                              mac_w = HMAC-SHA256(key, "rios-lua channel 1
 *                              worker" | nonce_m | nonce_w | the fields)
 *   main -> worker  AUTH       mac_m = HMAC-SHA256(key, "rios-lua channel 1
 *                              main" | nonce_m | nonce_w | mac_w)
 *   main -> worker  WELCOME    worker number (u32), heartbeat ms (u32)
 *               or  REFUSE     one line (at most 1024 bytes) naming both
 *                              sides' versions; the connection then closes
 *
 * The main process checks mac_w before it looks at any field of the hello
 * (a wrong key is dropped, the hello unread); the worker checks mac_m before
 * it reads WELCOME or REFUSE, the first variable-size frame. Macs are
 * compared in constant time (CRYPTO_memcmp). Each side then sends a
 * heartbeat every min(own, peer's) interval.
 *
 * SECURITY MODEL. The key is 32 bytes from getrandom(), new for each run. It
 * reaches workers through the address file (mode 0600 in the run's private
 * folder), a key file or an environment variable, never the command line.
 * The handshake proves, both ways, that the peer holds the key without
 * sending it: a worker never runs a job from a process without the key,
 * and the main process never reads more than the fixed-size hello from a
 * peer that has not proved it. Fresh nonces on both sides defeat replays;
 * the two labels keep one side's proof from being reflected as the other's.
 * What it does not do: the frames after the handshake are neither encrypted
 * nor authenticated one by one, so someone who can rewrite the TCP stream
 * between the hosts (not merely connect to the port) could alter them.
 * Cluster runs therefore belong on a network the user trusts, as RIOS's
 * own channel does; local kinds bind to loopback only.
 *
 * THREADS. A hub has an accept thread and one I/O thread per connection; a
 * channel one I/O thread. An I/O thread does the handshake, then reads
 * frames into the inbox (one per hub, shared by all its connections), sends
 * heartbeats and declares the peer lost when no byte has arrived for
 * lost_after seconds (any byte counts: a large frame can take long). Lua
 * sends from its own thread; a lock per connection keeps frames whole. A
 * send makes progress or fails within lost_after, it never hangs on a
 * stopped peer. Inboxes are unbounded: the job protocol bounds what is in
 * flight.
 */
#ifndef RIOS_CHANNEL_H
#define RIOS_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "../runtime/rios_ffi.h"

#define RIOS_CHAN_MAGIC 0x4C4F4952u
#define RIOS_CHAN_HEADER 24
#define RIOS_CHAN_NONCE 32
#define RIOS_CHAN_MAC 32
#define RIOS_CHAN_MAX_BLOCK ((int64_t)1 << 53)
#define RIOS_CHAN_REFUSE_MAX 1024
/* HELLO fields after nonce and mac: heartbeat, pid, 3 versions, hash, host. */
#define RIOS_CHAN_HELLO_FIELDS (4 + 4 + 32 * 3 + 72 + 64)
#define RIOS_CHAN_HELLO_LEN (RIOS_CHAN_NONCE + RIOS_CHAN_MAC + RIOS_CHAN_HELLO_FIELDS)
#define RIOS_CHAN_WELCOME_LEN 8

/* A checked header. */
typedef struct rios_wire_header {
  int type;
  int64_t block;
  uint64_t len;
} rios_wire_header;

/* What a side may receive now: during the handshake exactly one type of one
   length; once open, any frame type of the job protocol and HEARTBEAT. */
typedef struct rios_wire_expect {
  int type;            /* 0: open (any post-handshake type) */
  uint64_t len;        /* the exact length (handshake) */
  uint64_t max_len;    /* open: the largest payload taken; handshake: if
                          nonzero, a length up to this is taken instead */
} rios_wire_expect;

void rios_wire_put_header(uint8_t out[RIOS_CHAN_HEADER], int type, int64_t block,
                          uint64_t len);
/* 0 with *h filled, or -1 with why (a phrase, e.g. "bad magic 0x..."). */
int rios_wire_check_header(const uint8_t in[RIOS_CHAN_HEADER], const rios_wire_expect *exp,
                           rios_wire_header *h, char *why, size_t whylen);
const char *rios_wire_type_name(int type);

/* The hello as sent: the caller's fields plus the heartbeat interval. */
typedef struct rios_wire_hello {
  uint8_t nonce[RIOS_CHAN_NONCE];
  uint8_t mac[RIOS_CHAN_MAC];
  uint32_t heartbeat_ms;
  rios_chan_hello hello;
} rios_wire_hello;

/* Encode a HELLO payload (RIOS_CHAN_HELLO_LEN bytes) with its mac over
   nonce_m. Returns 0, or -1 (a field not printable or too long; why). */
int rios_wire_hello_encode(const rios_chan_key *key, const uint8_t nonce_m[RIOS_CHAN_NONCE],
                           const uint8_t nonce_w[RIOS_CHAN_NONCE], uint32_t heartbeat_ms,
                           const rios_chan_hello *h, uint8_t out[RIOS_CHAN_HELLO_LEN],
                           char *why, size_t whylen);
/* The main side: 0 when the mac proves the key (then the fields are decoded
   into *out and checked), -1 with why ("wrong key", "malformed hello: ...").
   The fields are not looked at before the mac holds. */
int rios_wire_hello_verify(const rios_chan_key *key, const uint8_t nonce_m[RIOS_CHAN_NONCE],
                           const uint8_t in[RIOS_CHAN_HELLO_LEN], rios_wire_hello *out,
                           char *why, size_t whylen);
/* The mac a HELLO payload (nonce_w first) must carry for this nonce_m. */
void rios_wire_hello_mac(const rios_chan_key *key, const uint8_t nonce_m[RIOS_CHAN_NONCE],
                         const uint8_t in[RIOS_CHAN_HELLO_LEN], uint8_t out[RIOS_CHAN_MAC]);
/* mac_m for the AUTH frame. */
void rios_wire_main_mac(const rios_chan_key *key, const uint8_t nonce_m[RIOS_CHAN_NONCE],
                        const uint8_t nonce_w[RIOS_CHAN_NONCE],
                        const uint8_t mac_w[RIOS_CHAN_MAC], uint8_t out[RIOS_CHAN_MAC]);
/* 1 when a and b are equal, in time independent of where they differ. */
int rios_wire_mac_equal(const uint8_t a[RIOS_CHAN_MAC], const uint8_t b[RIOS_CHAN_MAC]);
/* 0 when the versions agree; else -1 with the one-line refusal naming both. */
int rios_wire_compare_versions(const rios_chan_hello *worker, const rios_chan_hello *main_side,
                               char *msg, size_t msglen);
/* A REFUSE payload as a printable line (control bytes become '?'). */
void rios_wire_printable(const uint8_t *in, size_t n, char *out, size_t outlen);

/* Decoding a stream of frames once the handshake is over, zero-copy: the
   reader says where the next bytes go (the header buffer, then the payload
   of the frame being filled) and is told how many arrived. */
typedef struct rios_rx {
  uint8_t head[RIOS_CHAN_HEADER];
  size_t have;             /* bytes of the header or payload received */
  rios_wire_header h;
  rios_frame *frame;       /* being filled, owned */
  uint64_t max_payload;
} rios_rx;

enum { RIOS_RX_MORE = 0, RIOS_RX_FRAME = 1, RIOS_RX_HEARTBEAT = 2, RIOS_RX_BAD = -1 };

void rios_rx_init(rios_rx *rx, uint64_t max_payload);
void rios_rx_want(rios_rx *rx, void **p, size_t *n);
/* n bytes arrived at the place rios_rx_want gave. RIOS_RX_FRAME: *out is a
   complete frame (owned by the caller); RIOS_RX_BAD: why says what;
   RIOS_RX_MORE, RIOS_RX_HEARTBEAT: nothing to take. */
int rios_rx_got(rios_rx *rx, size_t n, rios_frame **out, char *why, size_t whylen);
void rios_rx_free(rios_rx *rx);

/* Frames live in boxes so that an inbox can chain them; the public frame is
   the first member, so a rios_frame * is the box's address. */
typedef struct rios_frame_box {
  rios_frame pub;
  struct rios_frame_box *next;
} rios_frame_box;

/* A frame with room for len payload bytes (64-byte aligned, NUL after);
   NULL when out of memory. */
rios_frame *rios_frame_new(int type, int worker, int64_t block, size_t len);
/* An event frame whose payload is the text. */
rios_frame *rios_frame_text(int type, int worker, const char *text);

/* The address file's text (see rios_ffi_chan_address_read). Returns 0, or -1
   with why (a phrase naming the line). */
int rios_address_parse(const char *text, size_t len, rios_chan_address *out, char *why,
                       size_t whylen);
/* 64 hex digits (upper or lower case) into a key; 0 or -1. */
int rios_key_parse_hex(const char *hex, size_t len, rios_chan_key *out);

#endif
