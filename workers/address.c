/*
 * address.c: the run's key and the address file (RIOS's `.chnl`) that tells
 * a worker where the main process listens and with which key.
 *
 * The address file is four lines:
 *
 *   rios-lua channel 1
 *   host HOST
 *   port PORT
 *   key 64-HEX-DIGITS
 *
 * It holds the key, so it is written only into a folder that the user owns
 * and nobody else can write to, as a new file of mode 0600 renamed into
 * place (a reader never sees half a file, and an existing symlink at the
 * path is replaced, never followed). It is read back only when it is a
 * regular file of ours that no one else can read or write, opened without
 * following a symlink.
 */
#include "channel.h"
#include "../runtime/rios_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define ADDRESS_MAX 4096
static const char address_magic[] = "rios-lua channel 1";

int rios_ffi_chan_key_new(rios_chan_key *out, rios_err *err) {
  size_t got = 0;
  while (got < sizeof(out->bytes)) {
    ssize_t n = getrandom(out->bytes + got, sizeof(out->bytes) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      rios_seterr(err, "cannot make the channel key: getrandom: %s", strerror(errno));
      return -1;
    }
    got += (size_t)n;
  }
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int rios_key_parse_hex(const char *hex, size_t len, rios_chan_key *out) {
  if (len != 2 * RIOS_CHAN_KEY_SIZE) return -1;
  for (size_t i = 0; i < RIOS_CHAN_KEY_SIZE; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out->bytes[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

void rios_ffi_chan_key_hex(const rios_chan_key *key, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < RIOS_CHAN_KEY_SIZE; i++) {
    out[2 * i] = digits[key->bytes[i] >> 4];
    out[2 * i + 1] = digits[key->bytes[i] & 15];
  }
  out[2 * RIOS_CHAN_KEY_SIZE] = '\0';
}

int rios_ffi_chan_key_from_env(const char *name, rios_chan_key *out, rios_err *err) {
  const char *v = getenv(name);
  if (!v || !*v) {
    rios_seterr(err, "the environment variable %s holding the channel key is not set", name);
    return -1;
  }
  size_t n = strlen(v);
  if (n > 0 && v[n - 1] == '\n') n--;
  if (rios_key_parse_hex(v, n, out) < 0) {
    rios_seterr(err, "the environment variable %s is not a channel key (64 hex digits)", name);
    return -1;
  }
  return 0;
}

/* Read a whole small private file: opened without following a symlink, a
   regular file owned by this user with no group or other permissions. */
static int read_private(const char *path, const char *what, char *buf, size_t cap,
                        size_t *len, rios_err *err) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ELOOP)
      rios_seterr(err, "%s %s is a symbolic link; refusing to read a key through it", what,
                  path);
    else
      rios_seterr(err, "cannot open %s %s: %s", what, path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0) {
    rios_seterr(err, "cannot stat %s %s: %s", what, path, strerror(errno));
    close(fd);
    return -1;
  }
  const char *bad = NULL;
  if (!S_ISREG(st.st_mode))
    bad = "is not a regular file";
  else if (st.st_uid != geteuid())
    bad = "belongs to another user";
  else if (st.st_mode & 077)
    bad = "can be read or written by others (its mode must be 0600)";
  else if ((size_t)st.st_size >= cap)
    bad = "is too large";
  if (bad) {
    if (st.st_mode & 077 && S_ISREG(st.st_mode) && st.st_uid == geteuid())
      rios_seterr(err, "%s %s %s, not %04o", what, path, bad, (unsigned)(st.st_mode & 07777));
    else
      rios_seterr(err, "%s %s %s", what, path, bad);
    close(fd);
    return -1;
  }
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rios_seterr(err, "cannot read %s %s: %s", what, path, strerror(errno));
      close(fd);
      return -1;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n == cap - 1) {
      rios_seterr(err, "%s %s is too large", what, path);
      close(fd);
      return -1;
    }
  }
  close(fd);
  buf[n] = '\0';
  *len = n;
  return 0;
}

int rios_ffi_chan_key_from_file(const char *path, rios_chan_key *out, rios_err *err) {
  char buf[256];
  size_t n;
  if (read_private(path, "key file", buf, sizeof(buf), &n, err) < 0) return -1;
  if (n > 0 && buf[n - 1] == '\n') n--;
  int rc = rios_key_parse_hex(buf, n, out);
  OPENSSL_cleanse(buf, sizeof(buf));
  if (rc < 0) {
    rios_seterr(err, "key file %s does not hold a channel key (64 hex digits)", path);
    return -1;
  }
  return 0;
}

/* ---- the address file ------------------------------------------------- */

static int host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '-' || c == ':' || c == '_' || c == '%';
}

/* One line of the text: [*pos, end of line); 0, or -1 when there is none. */
static int next_line(const char *text, size_t len, size_t *pos, const char **line,
                     size_t *n) {
  if (*pos >= len) return -1;
  const char *start = text + *pos;
  const char *nl = memchr(start, '\n', len - *pos);
  if (!nl) return -1;
  *line = start;
  *n = (size_t)(nl - start);
  *pos += *n + 1;
  return 0;
}

static int field(const char *line, size_t n, const char *name, const char **value,
                 size_t *vlen) {
  size_t k = strlen(name);
  if (n <= k + 1 || memcmp(line, name, k) != 0 || line[k] != ' ') return -1;
  *value = line + k + 1;
  *vlen = n - k - 1;
  return 0;
}

int rios_address_parse(const char *text, size_t len, rios_chan_address *out, char *why,
                       size_t whylen) {
  memset(out, 0, sizeof(*out));
  size_t pos = 0;
  const char *line, *v;
  size_t n, vlen;
  if (memchr(text, '\0', len)) {
    snprintf(why, whylen, "holds a NUL byte; not an address file");
    return -1;
  }
  if (next_line(text, len, &pos, &line, &n) < 0 || n != strlen(address_magic) ||
      memcmp(line, address_magic, n) != 0) {
    snprintf(why, whylen, "line 1 is not \"%s\"; not a rios-lua address file",
             address_magic);
    return -1;
  }
  if (next_line(text, len, &pos, &line, &n) < 0 || field(line, n, "host", &v, &vlen) < 0) {
    snprintf(why, whylen, "line 2 is not \"host NAME\"");
    return -1;
  }
  if (vlen >= sizeof(out->host)) {
    snprintf(why, whylen, "line 2: the host name is longer than %zu characters",
             sizeof(out->host) - 1);
    return -1;
  }
  for (size_t i = 0; i < vlen; i++) {
    if (!host_char(v[i])) {
      snprintf(why, whylen, "line 2: the host name has a character (byte %d) no host "
               "name has", (unsigned char)v[i]);
      return -1;
    }
  }
  memcpy(out->host, v, vlen);
  out->host[vlen] = '\0';
  if (next_line(text, len, &pos, &line, &n) < 0 || field(line, n, "port", &v, &vlen) < 0) {
    snprintf(why, whylen, "line 3 is not \"port NUMBER\"");
    return -1;
  }
  long port = 0;
  for (size_t i = 0; i < vlen; i++) {
    if (v[i] < '0' || v[i] > '9' || vlen > 5) {
      port = -1;
      break;
    }
    port = port * 10 + (v[i] - '0');
  }
  if (port < 1 || port > 65535) {
    snprintf(why, whylen, "line 3: the port is not a number from 1 to 65535");
    return -1;
  }
  out->port = (int)port;
  if (next_line(text, len, &pos, &line, &n) < 0 || field(line, n, "key", &v, &vlen) < 0 ||
      rios_key_parse_hex(v, vlen, &out->key) < 0) {
    snprintf(why, whylen, "line 4 is not \"key\" and 64 hex digits");
    return -1;
  }
  if (pos != len) {
    snprintf(why, whylen, "more than the 4 lines of an address file");
    return -1;
  }
  return 0;
}

int rios_ffi_chan_address_read(const char *path, rios_chan_address *out, rios_err *err) {
  char buf[ADDRESS_MAX];
  size_t n;
  if (read_private(path, "address file", buf, sizeof(buf), &n, err) < 0) return -1;
  char why[256];
  int rc = rios_address_parse(buf, n, out, why, sizeof(why));
  OPENSSL_cleanse(buf, sizeof(buf));
  if (rc < 0) {
    rios_seterr(err, "address file %s: %s", path, why);
    return -1;
  }
  return 0;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int rios_ffi_chan_address_write(const char *path, const char *host, int port,
                                const rios_chan_key *key, rios_err *err) {
  char dir[PATH_MAX];
  size_t plen = strlen(path);
  if (plen == 0 || plen >= sizeof(dir) - 16) {
    rios_seterr(err, "address file path \"%s\" is empty or too long", path);
    return -1;
  }
  memcpy(dir, path, plen + 1);
  char *slash = strrchr(dir, '/');
  if (!slash)
    strcpy(dir, ".");
  else if (slash == dir)
    dir[1] = '\0';
  else
    *slash = '\0';
  if (slash && slash[1] == '\0') {
    rios_seterr(err, "address file path %s names a folder", path);
    return -1;
  }

  /* The folder must be ours and closed to others: else another user could
     swap the file between our rename and a worker's read. */
  struct stat st;
  if (lstat(dir, &st) < 0) {
    rios_seterr(err, "cannot write address file %s: folder %s: %s", path, dir,
                strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
    rios_seterr(err, "refusing to write address file %s: folder %s is not a private "
                "folder of this user (a real folder, owned by us, writable by no one "
                "else)", path, dir);
    return -1;
  }
  if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    rios_seterr(err, "refusing to write address file %s: something that is not a "
                "regular file (a symlink?) is already there", path);
    return -1;
  }
  char text[512 + 64];
  if (port < 1 || port > 65535) {
    rios_seterr(err, "address file %s: port %d is not from 1 to 65535", path, port);
    return -1;
  }
  char why[256];
  rios_chan_address check;
  char hex[2 * RIOS_CHAN_KEY_SIZE + 1];
  rios_ffi_chan_key_hex(key, hex);
  int tn = snprintf(text, sizeof(text), "%s\nhost %s\nport %d\nkey %s\n", address_magic,
                    host, port, hex);
  OPENSSL_cleanse(hex, sizeof(hex));
  if (tn < 0 || (size_t)tn >= sizeof(text) ||
      rios_address_parse(text, (size_t)tn, &check, why, sizeof(why)) < 0) {
    OPENSSL_cleanse(text, sizeof(text));
    rios_seterr(err, "address file %s: host \"%s\" is not a host name", path, host);
    return -1;
  }
  OPENSSL_cleanse(&check, sizeof(check));

  char tmp[PATH_MAX];
  snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
  int fd = mkostemp(tmp, O_CLOEXEC);  /* O_EXCL, mode 0600 */
  if (fd < 0) {
    OPENSSL_cleanse(text, sizeof(text));
    rios_seterr(err, "cannot write address file %s: %s", path, strerror(errno));
    return -1;
  }
  int rc = fchmod(fd, 0600);
  if (rc == 0) rc = write_all(fd, text, (size_t)tn);
  if (rc == 0) rc = fsync(fd);
  OPENSSL_cleanse(text, sizeof(text));
  if (close(fd) < 0) rc = -1;
  if (rc == 0) rc = rename(tmp, path);
  if (rc < 0) {
    rios_seterr(err, "cannot write address file %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}
