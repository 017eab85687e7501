/*
 * channel.c: the hub (main process) and the channel (worker) over TCP: the
 * handshake, the I/O threads, heartbeats, the inbox. The bytes themselves
 * are wire.c's; the wire format and the security model are in channel.h.
 *
 * One structure, a link, is one connection seen from either end: its
 * socket, the lock that keeps a frame whole while one thread writes it, and
 * the loop its I/O thread runs (link_loop): read frames into the inbox,
 * send heartbeats, notice silence. A hub has many links and one inbox; a
 * channel has one of each. Sockets are non-blocking and every wait is a
 * poll() with a deadline that also watches a wake pipe, so closing a hub or
 * a channel ends every thread at once.
 */
#include "channel.h"
#include "../runtime/process.h"
#include "../runtime/rios_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <gdal.h>
#include <limits.h>
#include <luajit.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef RIOS_FFI_HASH
#error "RIOS_FFI_HASH (the SHA-256 of rios_ffi.h's FFI section) comes from the Makefile"
#endif

#define MAX_PENDING 64         /* connections in their handshake at once */

/* ---- what both ends share -------------------------------------------- */

/* The inbox and the state that every thread of a hub or channel reads:
   one mutex guards it all (there are few threads, and none holds it while
   it waits for the network). */
typedef struct rios_core {
  pthread_mutex_t mu;
  pthread_cond_t arrived;      /* on CLOCK_MONOTONIC */
  rios_frame_box *head, *tail; /* the inbox */
  int stopping;
  int wake[2];                 /* a pipe; a byte in it wakes every poll */
  double heartbeat, lost_after, handshake_timeout;
  uint64_t max_payload;
} rios_core;

typedef struct rios_link {
  rios_core *core;
  int fd;
  int number;                  /* hub: the worker's number once joined, else 0 */
  char address[64];            /* the peer's "ip:port" */
  char name[160];              /* the peer in messages */
  rios_chan_hello hello;       /* hub: what the worker said */
  double heartbeat;            /* min of ours and the peer's */
  pthread_t thread;
  int started;
  pthread_mutex_t send_mu;     /* one frame at a time on the socket */
  double last_tx;              /* guarded by send_mu */
  /* Guarded by core->mu. */
  int lost;
  int done;                    /* the I/O thread has finished */
  char why[256];
  char drop_why[160];          /* set by rios_ffi_hub_drop */
} rios_link;

static void log_line(const char *fmt, ...) RIOS_PRINTF(1, 2);
static void log_line(const char *fmt, ...) {
  char line[768];
  int n = snprintf(line, sizeof(line), "rios-lua: channel: ");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = strlen(line);
  line[len++] = '\n';
  /* One write, so lines from several threads do not interleave. */
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
}

static int core_init(rios_core *c, double heartbeat, double lost_after, double handshake,
                     uint64_t max_payload, rios_err *err) {
  memset(c, 0, sizeof(*c));
  c->wake[0] = c->wake[1] = -1;
  c->heartbeat = heartbeat;
  c->lost_after = lost_after;
  c->handshake_timeout = handshake;
  c->max_payload = max_payload;
  if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
    rios_seterr(err, "channel: cannot make a pipe: %s", strerror(errno));
    return -1;
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int rc = pthread_cond_init(&c->arrived, &ca);
  pthread_condattr_destroy(&ca);
  if (rc != 0 || pthread_mutex_init(&c->mu, NULL) != 0) {
    if (rc == 0) pthread_cond_destroy(&c->arrived);
    close(c->wake[0]);
    close(c->wake[1]);
    rios_seterr(err, "channel: cannot make a lock: %s", strerror(rc ? rc : errno));
    return -1;
  }
  return 0;
}

/* Wake every thread blocked in poll; they see stopping and end. */
static void core_stop(rios_core *c) {
  pthread_mutex_lock(&c->mu);
  c->stopping = 1;
  pthread_cond_broadcast(&c->arrived);
  pthread_mutex_unlock(&c->mu);
  ssize_t w = write(c->wake[1], "x", 1);
  (void)w;
}

static void core_destroy(rios_core *c) {
  for (rios_frame_box *b = c->head; b;) {
    rios_frame_box *next = b->next;
    rios_ffi_frame_free(&b->pub);
    b = next;
  }
  c->head = c->tail = NULL;
  pthread_cond_destroy(&c->arrived);
  pthread_mutex_destroy(&c->mu);
  close(c->wake[0]);
  close(c->wake[1]);
}

/* Takes the frame; caller holds c->mu. */
static void inbox_push_locked(rios_core *c, rios_frame *f) {
  rios_frame_box *b = (rios_frame_box *)f;
  b->next = NULL;
  if (c->tail)
    c->tail->next = b;
  else
    c->head = b;
  c->tail = b;
  pthread_cond_signal(&c->arrived);
}

static void inbox_push(rios_core *c, rios_frame *f) {
  pthread_mutex_lock(&c->mu);
  inbox_push_locked(c, f);
  pthread_mutex_unlock(&c->mu);
}

static void deadline_ts(double seconds, struct timespec *ts) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  double whole = (double)(long)seconds;
  ts->tv_sec += (time_t)whole;
  ts->tv_nsec += (long)((seconds - whole) * 1e9);
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* The next frame, waiting up to timeout seconds (< 0: forever); NULL on
   timeout or when stopping. Caller holds c->mu. */
static rios_frame *inbox_pop_locked(rios_core *c, double timeout) {
  struct timespec until;
  if (timeout >= 0) deadline_ts(timeout > 1e9 ? 1e9 : timeout, &until);
  while (!c->head && !c->stopping) {
    int rc = timeout < 0 ? pthread_cond_wait(&c->arrived, &c->mu)
                         : pthread_cond_timedwait(&c->arrived, &c->mu, &until);
    if (rc == ETIMEDOUT) break;
  }
  rios_frame_box *b = c->head;
  if (!b) return NULL;
  c->head = b->next;
  if (!c->head) c->tail = NULL;
  b->next = NULL;
  return &b->pub;
}

static int poll_ms(double seconds) {
  if (seconds <= 0) return 0;
  if (seconds > 3600) return 3600 * 1000;
  return (int)(seconds * 1000) + 1;
}

/* ---- sockets ---------------------------------------------------------- */

static void sock_name(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen) {
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    snprintf(out, outlen, "?");
    return;
  }
  if (sa->sa_family == AF_INET6)
    snprintf(out, outlen, "[%.46s]:%.8s", host, port);
  else
    snprintf(out, outlen, "%.46s:%.8s", host, port);
}

static void sock_tune(int fd) {
  int one = 1;
  /* Small frames (heartbeats, requests) go out at once; a frame is one
     sendmsg, so Nagle would only add latency. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Read exactly n bytes before the deadline (handshake only). 0, or -1 with
   why. Returns -2 when the hub or channel is stopping. */
static int read_exact(rios_core *c, int fd, uint8_t *buf, size_t n, double deadline,
                      char *why, size_t whylen) {
  size_t got = 0;
  while (got < n) {
    double left = deadline - rios_ffi_now();
    if (left <= 0) {
      if (got)
        snprintf(why, whylen, "handshake not finished within %.1f s (%zu of %zu bytes came)",
                 c->handshake_timeout, got, n);
      else
        snprintf(why, whylen, "silent for %.1f s during the handshake",
                 c->handshake_timeout);
      return -1;
    }
    struct pollfd p[2] = {{fd, POLLIN, 0}, {c->wake[0], POLLIN, 0}};
    int rc = poll(p, 2, poll_ms(left));
    if (rc < 0 && errno != EINTR) {
      snprintf(why, whylen, "poll: %s", strerror(errno));
      return -1;
    }
    if (p[1].revents) return -2;
    if (rc <= 0) continue;
    ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
    if (r == 0) {
      snprintf(why, whylen, "closed the connection during the handshake%s",
               got ? " in the middle of a frame" : "");
      return -1;
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      snprintf(why, whylen, "connection failed during the handshake: %s", strerror(errno));
      return -1;
    }
    got += (size_t)r;
  }
  return 0;
}

/* Write the iovecs whole. Progress must come at least every `stall`
   seconds; -1 with why (and *partial set when some bytes went out: the
   stream is then broken). */
static int write_iov(int fd, struct iovec *iov, int niov, double stall, size_t *partial,
                     char *why, size_t whylen) {
  double last = rios_ffi_now();
  *partial = 0;
  while (niov > 0) {
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)(niov > IOV_MAX ? IOV_MAX : niov);
    ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        snprintf(why, whylen, "%s", errno == EPIPE ? "the connection is closed"
                                                    : strerror(errno));
        return -1;
      }
      double left = last + stall - rios_ffi_now();
      if (left <= 0) {
        snprintf(why, whylen, "the peer took nothing for %.1f s", stall);
        return -1;
      }
      struct pollfd p = {fd, POLLOUT, 0};
      if (poll(&p, 1, poll_ms(left)) < 0 && errno != EINTR) {
        snprintf(why, whylen, "poll: %s", strerror(errno));
        return -1;
      }
      continue;
    }
    last = rios_ffi_now();
    *partial += (size_t)w;
    size_t left = (size_t)w;
    while (niov > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      niov--;
    }
    if (niov > 0) {
      iov->iov_base = (char *)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

/* A whole handshake frame (header and payload), before the deadline. */
static int write_frame_simple(int fd, int type, const void *payload, size_t len,
                              double stall, char *why, size_t whylen) {
  uint8_t head[RIOS_CHAN_HEADER];
  rios_wire_put_header(head, type, 0, len);
  struct iovec iov[2] = {{head, sizeof(head)}, {(void *)payload, len}};
  size_t partial;
  return write_iov(fd, iov, len ? 2 : 1, stall, &partial, why, whylen);
}

/* Read a handshake frame's header, check it against exp, then its payload
   (at most cap bytes). 0, -1 (why), -2 (stopping). */
static int read_fixed_frame(rios_core *c, int fd, const rios_wire_expect *exp, uint8_t *payload,
                            size_t cap, rios_wire_header *h, double deadline, char *why,
                            size_t whylen) {
  uint8_t head[RIOS_CHAN_HEADER];
  int rc = read_exact(c, fd, head, sizeof(head), deadline, why, whylen);
  if (rc < 0) return rc;
  if (rios_wire_check_header(head, exp, h, why, whylen) < 0) return -1;
  if (h->len > cap) {
    snprintf(why, whylen, "handshake frame too large");
    return -1;
  }
  return h->len ? read_exact(c, fd, payload, (size_t)h->len, deadline, why, whylen) : 0;
}

/* ---- the I/O loop ----------------------------------------------------- */

/* The link's send: the header then every part, whole, under the lock. */
static int link_send(rios_link *l, int type, int64_t block, const rios_part *parts, int nparts,
                     rios_err *err) {
  rios_core *c = l->core;
  if (!rios_wire_type_name(type) || type < RIOS_FRAME_JOB || type > RIOS_FRAME_STOP) {
    rios_seterr(err, "channel: cannot send a frame of type %d (JOB to STOP only)", type);
    return -1;
  }
  if (block < -1 || block > RIOS_CHAN_MAX_BLOCK) {
    rios_seterr(err, "channel: block number %lld out of range", (long long)block);
    return -1;
  }
  if (nparts < 0 || (nparts > 0 && !parts)) {
    rios_seterr(err, "channel: bad list of %d parts", nparts);
    return -1;
  }
  uint64_t total = 0;
  for (int i = 0; i < nparts; i++) {
    if (parts[i].len && !parts[i].data) {
      rios_seterr(err, "channel: part %d of the %s frame has no data", i + 1,
                  rios_wire_type_name(type));
      return -1;
    }
    if (parts[i].len > c->max_payload || total + parts[i].len > c->max_payload) {
      rios_seterr(err, "channel: a %s frame larger than the limit of %llu bytes",
                  rios_wire_type_name(type), (unsigned long long)c->max_payload);
      return -1;
    }
    total += parts[i].len;
  }
  pthread_mutex_lock(&c->mu);
  int lost = l->lost;
  char why[256];
  snprintf(why, sizeof(why), "%s", l->why);
  pthread_mutex_unlock(&c->mu);
  if (lost) {
    rios_seterr(err, "cannot send to %s: lost: %s", l->name, why);
    return -1;
  }

  struct iovec small[17];
  struct iovec *iov = small;
  if (nparts + 1 > (int)(sizeof(small) / sizeof(small[0]))) {
    iov = malloc(sizeof(*iov) * ((size_t)nparts + 1));
    if (!iov) {
      rios_seterr(err, "channel: out of memory for %d parts", nparts);
      return -1;
    }
  }
  uint8_t head[RIOS_CHAN_HEADER];
  rios_wire_put_header(head, type, block, total);
  int niov = 0;
  iov[niov++] = (struct iovec){head, sizeof(head)};
  for (int i = 0; i < nparts; i++)
    if (parts[i].len) iov[niov++] = (struct iovec){(void *)parts[i].data, parts[i].len};

  pthread_mutex_lock(&l->send_mu);
  size_t partial;
  int rc = write_iov(l->fd, iov, niov, c->lost_after, &partial, why, sizeof(why));
  if (rc == 0) l->last_tx = rios_ffi_now();
  pthread_mutex_unlock(&l->send_mu);
  if (iov != small) free(iov);
  if (rc < 0) {
    /* Half a frame on the stream: the peer could only misread what follows. */
    if (partial) shutdown(l->fd, SHUT_RDWR);
    rios_seterr(err, "cannot send a %s frame to %s: %s", rios_wire_type_name(type), l->name,
                why);
    return -1;
  }
  return 0;
}

/* What a link's I/O thread does once the handshake is over, until the
   connection ends or the hub or channel stops: read frames into the inbox,
   send a heartbeat whenever nothing has gone out for an interval, and give
   up on a peer silent for lost_after. Then it records why and queues a
   LOST event (not when stopping). */
static void link_loop(rios_link *l) {
  rios_core *c = l->core;
  rios_rx rx;
  rios_rx_init(&rx, c->max_payload);
  char why[256] = "";
  int bad = 0, stopped = 0;
  double now = rios_ffi_now();
  double last_rx = now, next_hb = now;
  int hb_holding = 0;          /* holding send_mu while a heartbeat goes out */
  uint8_t hb[RIOS_CHAN_HEADER];
  size_t hb_sent = 0;
  rios_wire_put_header(hb, RIOS_FRAME_HEARTBEAT, 0, 0);

  for (;;) {
    now = rios_ffi_now();
    if (now - last_rx >= c->lost_after) {
      snprintf(why, sizeof(why), "no sign of life for %.1f s (missed heartbeats)",
               now - last_rx);
      break;
    }
    if (!hb_holding && now >= next_hb) {
      /* A send in progress holds the lock: its bytes are the sign of life. */
      if (pthread_mutex_trylock(&l->send_mu) == 0) {
        if (now - l->last_tx >= l->heartbeat * 0.9) {
          hb_holding = 1;
          hb_sent = 0;
        } else {
          next_hb = l->last_tx + l->heartbeat;
          pthread_mutex_unlock(&l->send_mu);
        }
      } else {
        next_hb = now + l->heartbeat;
      }
    }
    if (hb_holding) {
      ssize_t w = send(l->fd, hb + hb_sent, sizeof(hb) - hb_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        snprintf(why, sizeof(why), "%s", errno == EPIPE ? "the connection is closed"
                                                        : strerror(errno));
        break;
      }
      if (w > 0) hb_sent += (size_t)w;
      if (hb_sent == sizeof(hb)) {
        l->last_tx = rios_ffi_now();
        next_hb = l->last_tx + l->heartbeat;
        hb_holding = 0;
        pthread_mutex_unlock(&l->send_mu);
      }
    }
    double until = last_rx + c->lost_after;
    if (!hb_holding && next_hb < until) until = next_hb;
    struct pollfd p[2] = {{l->fd, (short)(POLLIN | (hb_holding ? POLLOUT : 0)), 0},
                          {c->wake[0], POLLIN, 0}};
    int rc = poll(p, 2, poll_ms(until - rios_ffi_now()));
    if (rc < 0 && errno != EINTR) {
      snprintf(why, sizeof(why), "poll: %s", strerror(errno));
      break;
    }
    if (p[1].revents) {
      stopped = 1;
      break;
    }
    if (rc <= 0 || !(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    void *dst;
    size_t want;
    rios_rx_want(&rx, &dst, &want);
    ssize_t r = recv(l->fd, dst, want, MSG_DONTWAIT);
    if (r == 0) {
      pthread_mutex_lock(&c->mu);
      if (l->drop_why[0])
        snprintf(why, sizeof(why), "dropped by the main process: %s", l->drop_why);
      else
        snprintf(why, sizeof(why), "the connection was closed%s",
                 rx.have || rx.frame ? " in the middle of a frame" : "");
      pthread_mutex_unlock(&c->mu);
      break;
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      snprintf(why, sizeof(why), "connection failed: %s", strerror(errno));
      break;
    }
    last_rx = rios_ffi_now();
    rios_frame *f;
    char bwhy[200];
    int got = rios_rx_got(&rx, (size_t)r, &f, bwhy, sizeof(bwhy));
    if (got == RIOS_RX_BAD) {
      snprintf(why, sizeof(why), "sent a bad frame: %s", bwhy);
      bad = 1;
      break;
    }
    if (got == RIOS_RX_FRAME) {
      f->worker = l->number;
      inbox_push(c, f);
    }
  }
  if (hb_holding) pthread_mutex_unlock(&l->send_mu);
  rios_rx_free(&rx);
  shutdown(l->fd, SHUT_RDWR);
  if (bad) log_line("dropped %s: %s", l->name, why);

  char text[512];
  snprintf(text, sizeof(text), "%s lost: %s", l->name, why);
  rios_frame *ev = stopped ? NULL : rios_frame_text(RIOS_FRAME_LOST, l->number, text);
  pthread_mutex_lock(&c->mu);
  l->lost = 1;
  snprintf(l->why, sizeof(l->why), "%s", stopped ? "closed" : why);
  if (ev) inbox_push_locked(c, ev);
  pthread_mutex_unlock(&c->mu);
  if (!stopped && !ev) log_line("%s lost (%s), and no memory to say so in the inbox", l->name,
                                why);
}

static int link_init(rios_link *l, rios_core *c, int fd) {
  memset(l, 0, sizeof(*l));
  l->core = c;
  l->fd = fd;
  l->heartbeat = c->heartbeat;
  return pthread_mutex_init(&l->send_mu, NULL);
}

static void hello_clean(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) *s = '?';
}

/* ---- defaults --------------------------------------------------------- */

size_t rios_ffi_chan_layout(int what) {
  switch (what) {
    case 0: return sizeof(rios_chan_hello);
    case 1: return offsetof(rios_chan_hello, ffi_hash);
    case 2: return offsetof(rios_chan_hello, pid);
    case 3: return sizeof(rios_chan_address);
    case 4: return sizeof(rios_frame);
    case 5: return offsetof(rios_frame, block);
    case 6: return offsetof(rios_frame, data);
    case 7: return sizeof(rios_part);
    case 8: return sizeof(rios_hub_config);
    case 9: return offsetof(rios_hub_config, max_payload);
    case 10: return offsetof(rios_hub_config, hello);
    case 11: return sizeof(rios_chan_config);
    case 12: return offsetof(rios_chan_config, hello);
    case 13: return sizeof(rios_chan_peer);
    case 14: return offsetof(rios_chan_peer, why);
    default: return 0;
  }
}

void rios_ffi_chan_hello_defaults(rios_chan_hello *out) {
  memset(out, 0, sizeof(*out));
  snprintf(out->rios_version, sizeof(out->rios_version), "%s", RIOS_VERSION);
  snprintf(out->luajit_version, sizeof(out->luajit_version), "%s", LUAJIT_VERSION);
  snprintf(out->gdal_version, sizeof(out->gdal_version), "%s",
           GDALVersionInfo("RELEASE_NAME"));
  snprintf(out->ffi_hash, sizeof(out->ffi_hash), "%s", RIOS_FFI_HASH);
  if (gethostname(out->host, sizeof(out->host) - 1) != 0) snprintf(out->host, 2, "?");
  out->host[sizeof(out->host) - 1] = '\0';
  hello_clean(out->host);
  hello_clean(out->gdal_version);
  out->pid = (int)getpid();
}

void rios_ffi_hub_config_defaults(rios_hub_config *out) {
  memset(out, 0, sizeof(*out));
  out->bind = "127.0.0.1";
  out->heartbeat = 1.0;
  out->lost_after = 10.0;
  out->handshake_timeout = 10.0;
  out->max_payload = (uint64_t)1 << 30;
  rios_ffi_chan_hello_defaults(&out->hello);
}

void rios_ffi_chan_config_defaults(rios_chan_config *out) {
  memset(out, 0, sizeof(*out));
  out->heartbeat = 1.0;
  out->lost_after = 10.0;
  out->handshake_timeout = 10.0;
  out->max_payload = (uint64_t)1 << 30;
  rios_ffi_chan_hello_defaults(&out->hello);
}

static int check_times(const char *who, double heartbeat, double lost_after, double handshake,
                       uint64_t max_payload, rios_err *err) {
  if (!(heartbeat >= 0.01 && heartbeat <= 3600)) {
    rios_seterr(err, "%s: heartbeat must be from 0.01 to 3600 seconds, not %g", who,
                heartbeat);
    return -1;
  }
  if (!(lost_after >= 2 * heartbeat && lost_after <= 86400)) {
    rios_seterr(err, "%s: lost_after (%g s) must be at least twice the heartbeat (%g s)",
                who, lost_after, heartbeat);
    return -1;
  }
  if (!(handshake > 0 && handshake <= 3600)) {
    rios_seterr(err, "%s: handshake_timeout must be from 0 to 3600 seconds, not %g", who,
                handshake);
    return -1;
  }
  if (max_payload < 1 || max_payload > ((uint64_t)1 << 40)) {
    rios_seterr(err, "%s: max_payload must be from 1 byte to 1 TiB", who);
    return -1;
  }
  return 0;
}

static uint32_t to_ms(double s) { return (uint32_t)(s * 1000 + 0.5); }

/* ---- the hub ---------------------------------------------------------- */

typedef struct rios_hub_conn {
  rios_link link;
  rios_hub *hub;
} rios_hub_conn;

struct rios_hub {
  rios_core core;
  rios_chan_key key;
  rios_chan_hello hello;
  int listen_fd;
  int port;
  char host[NI_MAXHOST];       /* the numeric address listened on */
  pthread_t accept_thread;
  int accept_started;
  /* Guarded by core.mu. */
  rios_hub_conn **conns;       /* every connection not yet reaped */
  int nconns, capconns;
  rios_hub_conn **workers;     /* workers[i] is worker i + 1 */
  int nworkers, capworkers;
  int pending;                 /* connections in their handshake */
  /* Set by rios_ffi_hub_quiet when the run ends: workers still in their
     handshake are being ended on purpose, their drops are not logged. */
  volatile int quiet;
};

void rios_ffi_hub_quiet(rios_hub *hub) { __atomic_store_n(&hub->quiet, 1, __ATOMIC_SEQ_CST); }

/* log_line, unless the hub has been made quiet. */
#define HUB_LOG(hub, ...) \
  do { if (!__atomic_load_n(&(hub)->quiet, __ATOMIC_SEQ_CST)) log_line(__VA_ARGS__); } while (0)

/* The handshake from the main side. 0: the worker joined (number set);
   -1: dropped or refused (logged); -2: the hub is closing. */
static int hub_handshake(rios_hub *hub, rios_link *l) {
  rios_core *c = &hub->core;
  double deadline = rios_ffi_now() + c->handshake_timeout;
  char why[512];
  uint8_t nonce_m[RIOS_CHAN_NONCE];
  if (getrandom(nonce_m, sizeof(nonce_m), 0) != (ssize_t)sizeof(nonce_m)) {
    HUB_LOG(hub, "dropped %s: getrandom: %s", l->address, strerror(errno));
    return -1;
  }
  if (write_frame_simple(l->fd, RIOS_FRAME_CHALLENGE, nonce_m, sizeof(nonce_m),
                         c->handshake_timeout, why, sizeof(why)) < 0) {
    HUB_LOG(hub, "dropped %s: %s", l->address, why);
    return -1;
  }
  uint8_t payload[RIOS_CHAN_HELLO_LEN];
  rios_wire_header h;
  rios_wire_expect exp = {RIOS_FRAME_HELLO, RIOS_CHAN_HELLO_LEN, 0};
  int rc = read_fixed_frame(c, l->fd, &exp, payload, sizeof(payload), &h, deadline, why,
                            sizeof(why));
  if (rc == -2) return -2;
  if (rc < 0) {
    HUB_LOG(hub, "dropped %s: %s", l->address, why);
    return -1;
  }
  rios_wire_hello wh;
  if (rios_wire_hello_verify(&hub->key, nonce_m, payload, &wh, why, sizeof(why)) < 0) {
    HUB_LOG(hub, "dropped %s: %s", l->address, why);
    return -1;
  }
  uint8_t mac_m[RIOS_CHAN_MAC];
  rios_wire_main_mac(&hub->key, nonce_m, wh.nonce, wh.mac, mac_m);
  if (write_frame_simple(l->fd, RIOS_FRAME_AUTH, mac_m, sizeof(mac_m), c->handshake_timeout,
                         why, sizeof(why)) < 0) {
    HUB_LOG(hub, "dropped %s: %s", l->address, why);
    return -1;
  }
  if (rios_wire_compare_versions(&wh.hello, &hub->hello, why, sizeof(why)) < 0) {
    char sub[200];
    write_frame_simple(l->fd, RIOS_FRAME_REFUSE, why, strlen(why), c->handshake_timeout, sub,
                       sizeof(sub));
    HUB_LOG(hub, "refused %s: %s", l->address, why);
    return -1;
  }
  l->hello = wh.hello;
  double theirs = wh.heartbeat_ms / 1000.0;
  if (theirs < l->heartbeat) l->heartbeat = theirs < 0.01 ? 0.01 : theirs;

  pthread_mutex_lock(&c->mu);
  if (hub->nworkers == hub->capworkers) {
    int cap = hub->capworkers ? hub->capworkers * 2 : 8;
    rios_hub_conn **w = realloc(hub->workers, sizeof(*w) * (size_t)cap);
    if (!w) {
      pthread_mutex_unlock(&c->mu);
      HUB_LOG(hub, "dropped %s: out of memory", l->address);
      return -1;
    }
    hub->workers = w;
    hub->capworkers = cap;
  }
  hub->workers[hub->nworkers] = (rios_hub_conn *)l;
  l->number = ++hub->nworkers;
  snprintf(l->name, sizeof(l->name), "worker %d (%s pid %d, %s)", l->number, l->hello.host,
           l->hello.pid, l->address);
  pthread_mutex_unlock(&c->mu);

  uint8_t welcome[RIOS_CHAN_WELCOME_LEN];
  for (int i = 0; i < 4; i++) welcome[i] = (uint8_t)((uint32_t)l->number >> (8 * i));
  uint32_t ms = to_ms(l->heartbeat);
  for (int i = 0; i < 4; i++) welcome[4 + i] = (uint8_t)(ms >> (8 * i));
  rc = write_frame_simple(l->fd, RIOS_FRAME_WELCOME, welcome, sizeof(welcome),
                          c->handshake_timeout, why, sizeof(why));
  char text[512];
  snprintf(text, sizeof(text), "%s joined", l->name);
  rios_frame *ev = rios_frame_text(RIOS_FRAME_JOINED, l->number, text);
  char lost[512];
  snprintf(lost, sizeof(lost), "%s lost: %.250s", l->name, why);
  rios_frame *ev2 = rc < 0 ? rios_frame_text(RIOS_FRAME_LOST, l->number, lost) : NULL;
  pthread_mutex_lock(&c->mu);
  if (ev) inbox_push_locked(c, ev);
  if (rc < 0) {
    l->lost = 1;
    snprintf(l->why, sizeof(l->why), "%.250s", why);
    if (ev2) inbox_push_locked(c, ev2);
  }
  pthread_mutex_unlock(&c->mu);
  if (!ev || (rc < 0 && !ev2)) HUB_LOG(hub, "%s: out of memory for an event", l->name);
  return rc < 0 ? -1 : 0;
}

static void *hub_conn_main(void *arg) {
  rios_hub_conn *hc = arg;
  rios_link *l = &hc->link;
  rios_hub *hub = hc->hub;
  int rc = hub_handshake(hub, l);
  pthread_mutex_lock(&hub->core.mu);
  hub->pending--;
  pthread_mutex_unlock(&hub->core.mu);
  if (rc == 0) {
    link_loop(l);
  } else {
    shutdown(l->fd, SHUT_RDWR);
  }
  pthread_mutex_lock(&hub->core.mu);
  l->done = 1;
  pthread_mutex_unlock(&hub->core.mu);
  return NULL;
}

static void hub_conn_free(rios_hub_conn *hc) {
  if (hc->link.started) pthread_join(hc->link.thread, NULL);
  close(hc->link.fd);
  pthread_mutex_destroy(&hc->link.send_mu);
  free(hc);
}

/* Free the connections whose handshake failed (never workers); caller
   holds mu, and gets them to join outside it. */
static int hub_take_failed_locked(rios_hub *hub, rios_hub_conn **out, int max) {
  int n = 0;
  for (int i = 0; i < hub->nconns && n < max;) {
    rios_hub_conn *hc = hub->conns[i];
    if (hc->link.done && hc->link.number == 0) {
      out[n++] = hc;
      hub->conns[i] = hub->conns[--hub->nconns];
    } else {
      i++;
    }
  }
  return n;
}

static void hub_accept_one(rios_hub *hub, int fd, const char *address) {
  rios_core *c = &hub->core;
  rios_hub_conn *done[16];
  pthread_mutex_lock(&c->mu);
  int ndone = hub_take_failed_locked(hub, done, 16);
  int pending = hub->pending;
  pthread_mutex_unlock(&c->mu);
  for (int i = 0; i < ndone; i++) hub_conn_free(done[i]);
  if (pending >= MAX_PENDING) {
    log_line("dropped %s: %d connections are already in their handshake", address, pending);
    close(fd);
    return;
  }
  rios_hub_conn *hc = calloc(1, sizeof(*hc));
  if (!hc || link_init(&hc->link, c, fd) != 0) {
    log_line("dropped %s: out of memory", address);
    free(hc);
    close(fd);
    return;
  }
  hc->hub = hub;
  snprintf(hc->link.address, sizeof(hc->link.address), "%s", address);
  snprintf(hc->link.name, sizeof(hc->link.name), "%s", address);
  sock_tune(fd);
  pthread_mutex_lock(&c->mu);
  if (hub->nconns == hub->capconns) {
    int cap = hub->capconns ? hub->capconns * 2 : 8;
    rios_hub_conn **v = realloc(hub->conns, sizeof(*v) * (size_t)cap);
    if (!v) {
      pthread_mutex_unlock(&c->mu);
      log_line("dropped %s: out of memory", address);
      hub_conn_free(hc);
      return;
    }
    hub->conns = v;
    hub->capconns = cap;
  }
  hub->conns[hub->nconns++] = hc;
  hub->pending++;
  int rc = pthread_create(&hc->link.thread, NULL, hub_conn_main, hc);
  if (rc == 0) {
    hc->link.started = 1;
  } else {
    hub->pending--;
    hc->link.done = 1;
  }
  pthread_mutex_unlock(&c->mu);
  if (rc != 0) log_line("dropped %s: cannot start a thread: %s", address, strerror(rc));
}

static void *hub_accept_main(void *arg) {
  rios_hub *hub = arg;
  for (;;) {
    struct pollfd p[2] = {{hub->listen_fd, POLLIN, 0}, {hub->core.wake[0], POLLIN, 0}};
    int rc = poll(p, 2, -1);
    if (rc < 0 && errno != EINTR) {
      log_line("the hub stops accepting workers: poll: %s", strerror(errno));
      return NULL;
    }
    if (p[1].revents) return NULL;
    if (rc <= 0) continue;
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    int fd = accept4(hub->listen_fd, (struct sockaddr *)&sa, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED ||
          errno == EWOULDBLOCK || errno == EPROTO)
        continue;
      /* Out of descriptors or memory: say so, wait a little, go on. */
      log_line("cannot accept a connection: %s", strerror(errno));
      struct pollfd w = {hub->core.wake[0], POLLIN, 0};
      if (poll(&w, 1, 100) > 0) return NULL;
      continue;
    }
    char address[64];
    sock_name((struct sockaddr *)&sa, len, address, sizeof(address));
    hub_accept_one(hub, fd, address);
  }
}

int rios_ffi_hub_new(const rios_hub_config *cfg, const rios_chan_key *key, rios_hub **out,
                     rios_err *err) {
  *out = NULL;
  if (check_times("hub", cfg->heartbeat, cfg->lost_after, cfg->handshake_timeout,
                  cfg->max_payload, err) < 0)
    return -1;
  const char *bind_to = cfg->bind && *cfg->bind ? cfg->bind : "127.0.0.1";
  rios_hub *hub = calloc(1, sizeof(*hub));
  if (!hub) {
    rios_seterr(err, "hub: out of memory");
    return -1;
  }
  hub->listen_fd = -1;
  if (core_init(&hub->core, cfg->heartbeat, cfg->lost_after, cfg->handshake_timeout,
                cfg->max_payload, err) < 0) {
    free(hub);
    return -1;
  }
  hub->key = *key;
  hub->hello = cfg->hello;

  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(bind_to, "0", &hints, &res);
  if (gai != 0) {
    rios_seterr(err, "hub: cannot listen on %s: %s", bind_to, gai_strerror(gai));
    goto fail;
  }
  int last = 0;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    a->ai_protocol);
    if (fd < 0) {
      last = errno;
      continue;
    }
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 64) == 0) {
      hub->listen_fd = fd;
      break;
    }
    last = errno;
    close(fd);
  }
  freeaddrinfo(res);
  if (hub->listen_fd < 0) {
    rios_seterr(err, "hub: cannot listen on %s: %s", bind_to, strerror(last));
    goto fail;
  }
  struct sockaddr_storage sa;
  socklen_t salen = sizeof(sa);
  char port[NI_MAXSERV];
  if (getsockname(hub->listen_fd, (struct sockaddr *)&sa, &salen) < 0 ||
      getnameinfo((struct sockaddr *)&sa, salen, hub->host, sizeof(hub->host), port,
                  sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    rios_seterr(err, "hub: cannot learn the port it listens on: %s", strerror(errno));
    goto fail;
  }
  hub->port = atoi(port);
  int rc = pthread_create(&hub->accept_thread, NULL, hub_accept_main, hub);
  if (rc != 0) {
    rios_seterr(err, "hub: cannot start its accept thread: %s", strerror(rc));
    goto fail;
  }
  hub->accept_started = 1;
  *out = hub;
  return 0;
fail:
  if (hub->listen_fd >= 0) close(hub->listen_fd);
  OPENSSL_cleanse(&hub->key, sizeof(hub->key));
  core_destroy(&hub->core);
  free(hub);
  return -1;
}

int rios_ffi_hub_port(const rios_hub *hub) { return hub->port; }

const char *rios_ffi_hub_host(const rios_hub *hub) { return hub->host; }

int rios_ffi_hub_next(rios_hub *hub, double timeout, rios_frame **out, rios_err *err) {
  (void)err;
  pthread_mutex_lock(&hub->core.mu);
  *out = inbox_pop_locked(&hub->core, timeout);
  pthread_mutex_unlock(&hub->core.mu);
  return 0;
}

/* The worker's link, or NULL with a message. */
static rios_link *hub_worker(rios_hub *hub, int worker, rios_err *err) {
  rios_link *l = NULL;
  pthread_mutex_lock(&hub->core.mu);
  if (worker >= 1 && worker <= hub->nworkers) l = &hub->workers[worker - 1]->link;
  int n = hub->nworkers;
  pthread_mutex_unlock(&hub->core.mu);
  if (!l) rios_seterr(err, "hub: no worker %d (%d have joined)", worker, n);
  return l;
}

int rios_ffi_hub_send(rios_hub *hub, int worker, int type, int64_t block,
                      const rios_part *parts, int nparts, rios_err *err) {
  rios_link *l = hub_worker(hub, worker, err);
  if (!l) return -1;
  return link_send(l, type, block, parts, nparts, err);
}

int rios_ffi_hub_peer(rios_hub *hub, int worker, rios_chan_peer *out, rios_err *err) {
  rios_link *l = hub_worker(hub, worker, err);
  if (!l) return -1;
  memset(out, 0, sizeof(*out));
  pthread_mutex_lock(&hub->core.mu);
  out->hello = l->hello;
  snprintf(out->address, sizeof(out->address), "%s", l->address);
  out->lost = l->lost;
  snprintf(out->why, sizeof(out->why), "%s", l->why);
  pthread_mutex_unlock(&hub->core.mu);
  return 0;
}

void rios_ffi_hub_drop(rios_hub *hub, int worker, const char *why) {
  rios_link *l = hub_worker(hub, worker, NULL);
  if (!l) return;
  pthread_mutex_lock(&hub->core.mu);
  if (!l->lost && !l->drop_why[0]) {
    snprintf(l->drop_why, sizeof(l->drop_why), "%s", why && *why ? why : "no reason given");
    shutdown(l->fd, SHUT_RDWR);
  }
  pthread_mutex_unlock(&hub->core.mu);
}

void rios_ffi_hub_close(rios_hub *hub) {
  if (!hub) return;
  core_stop(&hub->core);
  if (hub->accept_started) pthread_join(hub->accept_thread, NULL);
  close(hub->listen_fd);
  /* No thread adds connections now; each one's thread sees the wake pipe,
     and a write in progress fails at once. */
  pthread_mutex_lock(&hub->core.mu);
  for (int i = 0; i < hub->nconns; i++) shutdown(hub->conns[i]->link.fd, SHUT_RDWR);
  pthread_mutex_unlock(&hub->core.mu);
  for (int i = 0; i < hub->nconns; i++) hub_conn_free(hub->conns[i]);
  free(hub->conns);
  free(hub->workers);
  OPENSSL_cleanse(&hub->key, sizeof(hub->key));
  core_destroy(&hub->core);
  free(hub);
}

/* ---- the worker's channel --------------------------------------------- */

struct rios_chan {
  rios_core core;
  rios_link link;
  int number;
  int lost_seen;               /* the LOST event was handed out (core.mu) */
};

static void *chan_main(void *arg) {
  rios_chan *ch = arg;
  link_loop(&ch->link);
  pthread_mutex_lock(&ch->core.mu);
  ch->link.done = 1;
  /* rios-luaworker: the main process is gone. The Lua side closes the
     channel when it looks; a block function that never returns never
     looks, so after lost_after the process ends itself (its folders
     removed), rather than run on with nobody to take its results. */
  if (rios_process.orphan_exit && !ch->core.stopping) {
    struct timespec until;
    deadline_ts(ch->core.lost_after, &until);
    while (!ch->core.stopping) {
      if (pthread_cond_timedwait(&ch->core.arrived, &ch->core.mu, &until) == ETIMEDOUT) break;
    }
    if (!ch->core.stopping) {
      fprintf(stderr, "rios-luaworker: %s lost (%s) and the block function did not return "
              "within %g s; ending\n", ch->link.name, ch->link.why, ch->core.lost_after);
      rios_ffi_exit_now(1);
    }
  }
  pthread_mutex_unlock(&ch->core.mu);
  return NULL;
}

/* A connected socket to host:port before the deadline; -1 with err. */
static int chan_dial(const char *host, int port, double deadline, rios_err *err) {
  char service[16];
  snprintf(service, sizeof(service), "%d", port);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int gai = getaddrinfo(host, service, &hints, &res);
  if (gai != 0) {
    rios_seterr(err, "cannot connect to the main process at %s:%d: %s", host, port,
                gai_strerror(gai));
    return -1;
  }
  char why[128] = "no address";
  int fd = -1;
  for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      snprintf(why, sizeof(why), "%s", strerror(errno));
      continue;
    }
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      struct pollfd p = {fd, POLLOUT, 0};
      int pr;
      do {
        pr = poll(&p, 1, poll_ms(deadline - rios_ffi_now()));
      } while (pr < 0 && errno == EINTR);
      int soerr = 0;
      socklen_t sl = sizeof(soerr);
      if (pr == 0) {
        soerr = ETIMEDOUT;
      } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
        soerr = errno;
      }
      rc = soerr ? -1 : 0;
      errno = soerr;
    }
    if (rc < 0) {
      snprintf(why, sizeof(why), "%s", strerror(errno));
      close(fd);
      fd = -1;
      continue;
    }
  }
  freeaddrinfo(res);
  if (fd < 0)
    rios_seterr(err, "cannot connect to the main process at %s:%d: %s", host, port, why);
  else
    sock_tune(fd);
  return fd;
}

static int chan_handshake(rios_chan *ch, const rios_chan_key *key, const rios_chan_config *cfg,
                          double deadline, rios_err *err) {
  rios_core *c = &ch->core;
  rios_link *l = &ch->link;
  char why[512];
  uint8_t nonce_m[RIOS_CHAN_NONCE], nonce_w[RIOS_CHAN_NONCE];
  rios_wire_header h;
  rios_wire_expect exp = {RIOS_FRAME_CHALLENGE, RIOS_CHAN_NONCE, 0};
  const char *hint = "";
  if (read_fixed_frame(c, l->fd, &exp, nonce_m, sizeof(nonce_m), &h, deadline, why,
                       sizeof(why)) < 0)
    goto fail;
  if (getrandom(nonce_w, sizeof(nonce_w), 0) != (ssize_t)sizeof(nonce_w)) {
    snprintf(why, sizeof(why), "getrandom: %s", strerror(errno));
    goto fail;
  }
  uint8_t hello[RIOS_CHAN_HELLO_LEN];
  if (rios_wire_hello_encode(key, nonce_m, nonce_w, to_ms(cfg->heartbeat), &cfg->hello, hello,
                             why, sizeof(why)) < 0 ||
      write_frame_simple(l->fd, RIOS_FRAME_HELLO, hello, sizeof(hello), cfg->handshake_timeout,
                         why, sizeof(why)) < 0)
    goto fail;
  uint8_t mac_m[RIOS_CHAN_MAC], want[RIOS_CHAN_MAC];
  exp = (rios_wire_expect){RIOS_FRAME_AUTH, RIOS_CHAN_MAC, 0};
  hint = " (a wrong key?)";
  if (read_fixed_frame(c, l->fd, &exp, mac_m, sizeof(mac_m), &h, deadline, why,
                       sizeof(why)) < 0)
    goto fail;
  hint = "";
  rios_wire_main_mac(key, nonce_m, nonce_w, hello + RIOS_CHAN_NONCE, want);
  if (!rios_wire_mac_equal(mac_m, want)) {
    snprintf(why, sizeof(why), "it did not prove the run's key: not our main process, or "
             "another run's key");
    goto fail;
  }
  /* Authenticated: now WELCOME, or a REFUSE of bounded size. */
  uint8_t head[RIOS_CHAN_HEADER];
  uint8_t payload[RIOS_CHAN_REFUSE_MAX];
  if (read_exact(c, l->fd, head, sizeof(head), deadline, why, sizeof(why)) < 0) goto fail;
  int refused = head[6] == RIOS_FRAME_REFUSE && head[7] == 0;
  exp = refused ? (rios_wire_expect){RIOS_FRAME_REFUSE, 0, RIOS_CHAN_REFUSE_MAX}
                : (rios_wire_expect){RIOS_FRAME_WELCOME, RIOS_CHAN_WELCOME_LEN, 0};
  if (rios_wire_check_header(head, &exp, &h, why, sizeof(why)) < 0 ||
      (h.len && read_exact(c, l->fd, payload, (size_t)h.len, deadline, why, sizeof(why)) < 0))
    goto fail;
  if (refused) {
    char line[RIOS_CHAN_REFUSE_MAX + 1];
    rios_wire_printable(payload, (size_t)h.len, line, sizeof(line));
    rios_seterr(err, "refused by the main process at %s: %s", l->address, line);
    return -1;
  }
  uint32_t number = 0, ms = 0;
  for (int i = 3; i >= 0; i--) number = (number << 8) | payload[i];
  for (int i = 3; i >= 0; i--) ms = (ms << 8) | payload[4 + i];
  if (number < 1 || number > INT_MAX || ms == 0) {
    snprintf(why, sizeof(why), "a WELCOME with worker number %lu and heartbeat %lu ms",
             (unsigned long)number, (unsigned long)ms);
    goto fail;
  }
  ch->number = (int)number;
  if (ms / 1000.0 < l->heartbeat) l->heartbeat = ms < 10 ? 0.01 : ms / 1000.0;
  return 0;
fail:
  rios_seterr(err, "handshake with the main process at %s failed: %s%s", l->address, why, hint);
  return -1;
}

int rios_ffi_chan_connect(const char *host, int port, const rios_chan_key *key,
                          const rios_chan_config *cfg, rios_chan **out, rios_err *err) {
  *out = NULL;
  if (check_times("channel", cfg->heartbeat, cfg->lost_after, cfg->handshake_timeout,
                  cfg->max_payload, err) < 0)
    return -1;
  if (port < 1 || port > 65535) {
    rios_seterr(err, "cannot connect to %s:%d: the port is not from 1 to 65535", host, port);
    return -1;
  }
  rios_chan *ch = calloc(1, sizeof(*ch));
  if (!ch) {
    rios_seterr(err, "channel: out of memory");
    return -1;
  }
  if (core_init(&ch->core, cfg->heartbeat, cfg->lost_after, cfg->handshake_timeout,
                cfg->max_payload, err) < 0) {
    free(ch);
    return -1;
  }
  double deadline = rios_ffi_now() + cfg->handshake_timeout;
  int fd = chan_dial(host, port, deadline, err);
  if (fd < 0 || link_init(&ch->link, &ch->core, fd) != 0) {
    if (fd >= 0) {
      close(fd);
      rios_seterr(err, "channel: cannot make a lock");
    }
    core_destroy(&ch->core);
    free(ch);
    return -1;
  }
  snprintf(ch->link.address, sizeof(ch->link.address), "%s:%d", host, port);
  snprintf(ch->link.name, sizeof(ch->link.name), "the main process at %s:%d", host, port);
  if (chan_handshake(ch, key, cfg, deadline, err) < 0) goto fail;
  int rc = pthread_create(&ch->link.thread, NULL, chan_main, ch);
  if (rc != 0) {
    rios_seterr(err, "channel: cannot start its I/O thread: %s", strerror(rc));
    goto fail;
  }
  ch->link.started = 1;
  *out = ch;
  return 0;
fail:
  close(ch->link.fd);
  pthread_mutex_destroy(&ch->link.send_mu);
  core_destroy(&ch->core);
  free(ch);
  return -1;
}

int rios_ffi_chan_worker(const rios_chan *chan) { return chan->number; }

int rios_ffi_chan_next(rios_chan *chan, double timeout, rios_frame **out, rios_err *err) {
  rios_core *c = &chan->core;
  pthread_mutex_lock(&c->mu);
  if (!c->head && chan->lost_seen) {
    rios_seterr(err, "%s lost: %s", chan->link.name, chan->link.why);
    pthread_mutex_unlock(&c->mu);
    *out = NULL;
    return -1;
  }
  *out = inbox_pop_locked(c, timeout);
  if (*out && (*out)->type == RIOS_FRAME_LOST) chan->lost_seen = 1;
  pthread_mutex_unlock(&c->mu);
  return 0;
}

int rios_ffi_chan_send(rios_chan *chan, int type, int64_t block, const rios_part *parts,
                       int nparts, rios_err *err) {
  return link_send(&chan->link, type, block, parts, nparts, err);
}

void rios_ffi_chan_close(rios_chan *chan) {
  if (!chan) return;
  core_stop(&chan->core);
  if (chan->link.started) pthread_join(chan->link.thread, NULL);
  close(chan->link.fd);
  pthread_mutex_destroy(&chan->link.send_mu);
  core_destroy(&chan->core);
  free(chan);
}
