/*
 * outfile.c: an output's file on disk, apart from its pixels.
 *
 * An output is written in a private folder beside its final path, under its
 * own file name, so a driver's sidecar files (.aux.xml, .ovr, HFA's .ige,
 * ENVI's .hdr) keep the names they will have:
 *
 *   out.tif                                        the final path
 *   .out.tif.rios-partial-HOST-PID-XXXXXX/out.tif  where it is written
 *
 * The folder is listed with the run's scratch folder (tempfiles.c), so an
 * error, a signal, os.exit or a crash removes it. Only when the whole run
 * has succeeded is the closed dataset moved over the final path with GDAL's
 * own rename (every file of the dataset, each with rename(2), which
 * replaces a file of the same name in one step); then the files of the
 * dataset that was there before and that the new one does not replace (an
 * old .ovr) are removed, and the empty folder goes. A folder left by a
 * process killed with SIGKILL says whose it was: the next run on the same
 * host that writes the same output removes it once that process is gone.
 *
 * Also here: what the path checks before a run see of a path (Lua words the
 * refusals, lua/rios/outputs.lua).
 */
#include "output_internal.h"
#include "process.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <dirent.h>
#include <errno.h>
#include <gdal.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PARTIAL_TAG ".rios-partial-"
/* The output's name in the folder's name is cut to this, so the folder's
   name stays under NAME_MAX with the tag, host, pid and suffix. */
#define NAME_IN_FOLDER 120
#define HOST_IN_FOLDER 64

/* The folder part of path ("." for a bare name) and its file name. */
static void split_path(const char *path, char *folder, size_t flen, const char **name) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(folder, flen, ".");
    *name = path;
  } else if (slash == path) {
    snprintf(folder, flen, "/");
    *name = slash + 1;
  } else {
    snprintf(folder, flen, "%.*s", (int)(slash - path), path);
    *name = slash + 1;
  }
}

/* Where an output at path goes: path, or what a symbolic link there points
   to (the file is written where the link leads, as a write through the
   link would; a dangling link is replaced). Owned. */
static char *resolve_target(const char *path) {
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
    char *real = realpath(path, NULL);
    if (real) return real;
  }
  return strdup(path);
}

/* This host's name as it goes into folder names: no '/'. */
static void host_name(char *out, size_t len) {
  if (gethostname(out, len) != 0) snprintf(out, len, "localhost");
  out[len - 1] = '\0';
  for (char *p = out; *p; p++)
    if (*p == '/') *p = '_';
}

/* ".NAME.rios-partial-" for the file name `name` into out. */
static void folder_prefix(const char *name, char *out, size_t len) {
  snprintf(out, len, ".%.*s" PARTIAL_TAG, NAME_IN_FOLDER, name);
}

/* Whether entry (a name in the output's folder) is a private folder of the
   output whose folder prefix is prefix, made on host by a process that is
   gone. */
static int is_dead_leftover(const char *entry, const char *prefix, const char *host) {
  size_t np = strlen(prefix);
  if (strncmp(entry, prefix, np) != 0) return 0;
  /* HOST-PID-XXXXXX, read from the right: the host may hold '-'. */
  const char *rest = entry + np;
  const char *suffix = strrchr(rest, '-');
  if (!suffix || suffix == rest || strlen(suffix + 1) != 6) return 0;
  const char *pid_start = suffix;
  while (pid_start > rest && pid_start[-1] >= '0' && pid_start[-1] <= '9') pid_start--;
  if (pid_start == suffix || pid_start == rest || pid_start[-1] != '-') return 0;
  size_t hlen = (size_t)(pid_start - 1 - rest);
  if (hlen != strlen(host) || strncmp(rest, host, hlen) != 0) return 0;
  long pid = strtol(pid_start, NULL, 10);
  if (pid <= 0 || pid > INT_MAX || pid == (long)getpid()) return 0;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Remove what runs killed with SIGKILL left of the output whose file name
   is name in folder: only folders of processes on this host that are gone
   (a running job's folder is its own). */
static void remove_leftovers(const char *folder, const char *name) {
  char prefix[NAME_IN_FOLDER + 32], host[HOST_IN_FOLDER + 1];
  folder_prefix(name, prefix, sizeof(prefix));
  host_name(host, sizeof(host));
  DIR *d = opendir(folder);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!is_dead_leftover(e->d_name, prefix, host)) continue;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", folder, e->d_name);
    if (n > 0 && (size_t)n < sizeof(path)) rios_remove_tree(path);
  }
  closedir(d);
}

int rios_outfile_open(rios_output *o, rios_err *err) {
  o->target = resolve_target(o->path);
  if (!o->target) {
    rios_seterr(err, "%s: out of memory", o->path);
    return RIOS_FAIL;
  }
  char folder[PATH_MAX], prefix[NAME_IN_FOLDER + 32], host[HOST_IN_FOLDER + 1];
  const char *name;
  split_path(o->target, folder, sizeof(folder), &name);
  if (!*name) {
    rios_seterr(err, "%s: an output needs a file name, not a folder", o->path);
    return RIOS_FAIL;
  }
  remove_leftovers(folder, name);
  folder_prefix(name, prefix, sizeof(prefix));
  host_name(host, sizeof(host));
  /* A bare name's folder is made as a bare name too, so GDAL's messages
     about the file, once unmasked, spell it as the user did. */
  int bare = strchr(o->target, '/') == NULL;
  char template_path[PATH_MAX];
  int n = snprintf(template_path, sizeof(template_path), "%s%s%s%s-%ld-XXXXXX",
                   bare ? "" : folder, bare ? "" : "/", prefix, host, (long)getpid());
  if (n < 0 || (size_t)n >= sizeof(template_path)) {
    rios_seterr(err, "%s: too long a path", o->path);
    return RIOS_FAIL;
  }
  char what[PATH_MAX + 64];
  snprintf(what, sizeof(what), "the folder it is written in beside it (%s)", template_path);
  if (rios_tempdir_make(template_path, RIOS_TEMP_OUTPUT, what, &o->folder, err) != RIOS_OK) {
    char why[sizeof(err->msg)];
    memcpy(why, err->msg, sizeof(why));
    rios_seterr(err, "%s: %s", o->path, why);
    return RIOS_FAIL;
  }
  const char *fpath = rios_ffi_tempdir_path(o->folder);
  size_t len = strlen(fpath) + 1 + strlen(name) + 1;
  o->write_path = malloc(len);
  if (!o->write_path) {
    rios_seterr(err, "%s: out of memory", o->path);
    return RIOS_FAIL;
  }
  snprintf(o->write_path, len, "%s/%s", fpath, name);
  return RIOS_OK;
}

void rios_outfile_discard(rios_output *o) {
  rios_ffi_tempdir_remove(o->folder);
  o->folder = NULL;
  free(o->write_path);
  o->write_path = NULL;
  free(o->target);
  o->target = NULL;
}

/* Whether c ends a path component in a message. */
static int path_break(char c) {
  return c == '/' || c == ' ' || c == '\t' || c == '\'' || c == '"' || c == '`' || c == '(';
}

void rios_unmask_partial(const char *msg, char *out, size_t size) {
  size_t n = 0, ntag = strlen(PARTIAL_TAG);
  const char *p = msg;
  while (*p && n + 1 < size) {
    const char *tag = strstr(p, PARTIAL_TAG);
    const char *start = tag, *slash = NULL;
    if (tag) {
      while (start > p && !path_break(start[-1])) start--;
      for (const char *q = tag + ntag; *q && !slash; q++) {
        if (*q == '/') slash = q;
        else if (path_break(*q)) break;
      }
    }
    int drop = tag && *start == '.' && slash;
    const char *upto = !tag ? p + strlen(p) : drop ? start : tag + ntag;
    while (p < upto && n + 1 < size) out[n++] = *p++;
    if (drop) p = slash + 1;
  }
  out[n] = '\0';
}

/* The files of the raster dataset at path (owned, NULL when there is none
   GDAL opens as a raster). */
static char **dataset_files(const char *path) {
  CPLPushErrorHandler(CPLQuietErrorHandler);
  GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
  char **files = ds ? GDALGetFileList(ds) : NULL;
  if (ds) GDALClose(ds);
  CPLPopErrorHandler();
  CPLErrorReset();
  return files;
}

/* Whether file (as GDAL lists it) is a sidecar of the old dataset at target
   that nothing of the new one replaced: in target's folder, named after
   target (NAME or NAME-without-extension, then '.'), and not one of the
   names the new dataset now has there. */
static int stale_sidecar(const char *file, const char *target, char **now) {
  char tfolder[PATH_MAX], ffolder[PATH_MAX];
  const char *tname, *fname;
  split_path(target, tfolder, sizeof(tfolder), &tname);
  split_path(file, ffolder, sizeof(ffolder), &fname);
  if (strcmp(tfolder, ffolder) != 0 || strcmp(fname, tname) == 0) return 0;
  const char *dot = strrchr(tname, '.');
  size_t stem = dot ? (size_t)(dot - tname) : strlen(tname);
  size_t whole = strlen(tname);
  int named = (strncmp(fname, tname, whole) == 0 && fname[whole] == '.') ||
              (strncmp(fname, tname, stem) == 0 && fname[stem] == '.');
  if (!named) return 0;
  for (int i = 0; now && now[i]; i++) {
    const char *slash = strrchr(now[i], '/');
    if (strcmp(slash ? slash + 1 : now[i], fname) == 0) return 0;
  }
  return 1;
}

int rios_outfile_commit(rios_output *o, GDALDriverH driver, rios_err *err) {
  /* What is there now, and what the new dataset brings. */
  char **old = dataset_files(o->target);
  char **brought = dataset_files(o->write_path);
  if (!brought) {
    rios_seterr(err, "%s: the finished file cannot be opened to be moved into place", o->path);
    CSLDestroy(old);
    return RIOS_FAIL;
  }
  CPLErrorReset();
  if (GDALRenameDataset(driver, o->target, o->write_path) != CE_None) {
    rios_seterr(err, "%s: cannot move the finished file into place: %s", o->path,
                rios_gdal_error());
    CSLDestroy(old);
    CSLDestroy(brought);
    return RIOS_FAIL;
  }
  int rc = RIOS_OK;
  for (int i = 0; old && old[i]; i++) {
    if (!stale_sidecar(old[i], o->target, brought)) continue;
    if (unlink(old[i]) != 0 && errno != ENOENT && rc == RIOS_OK) {
      rios_seterr(err, "%s: written, but the old %s, left from the file it replaced, cannot be "
                  "removed: %s", o->path, old[i], strerror(errno));
      rc = RIOS_FAIL;
    }
  }
  CSLDestroy(old);
  CSLDestroy(brought);
  return rc;
}

/* ---- what the checks before a run see ------------------------------------ */

int rios_ffi_path_facts(const char *path, rios_path_facts *out, rios_err *err) {
  memset(out, 0, sizeof(*out));
  if (!path || !*path) {
    rios_seterr(err, "an empty file name");
    return RIOS_FAIL;
  }
  struct stat st;
  if (stat(path, &st) == 0) {
    out->exists = 1;
    out->is_dir = S_ISDIR(st.st_mode);
    out->is_file = S_ISREG(st.st_mode);
    out->size = (long long)st.st_size;
    out->dev = (unsigned long long)st.st_dev;
    out->ino = (unsigned long long)st.st_ino;
  }
  char *target = resolve_target(path);
  if (!target) {
    rios_seterr(err, "%s: out of memory", path);
    return RIOS_FAIL;
  }
  const char *name;
  split_path(target, out->folder, sizeof(out->folder), &name);
  char real[PATH_MAX];
  int why = 0;
  if (stat(out->folder, &st) != 0) {
    why = errno;
  } else if (!S_ISDIR(st.st_mode)) {
    why = ENOTDIR;
  } else if (access(out->folder, W_OK | X_OK) != 0) {
    why = errno;
  } else if (!realpath(out->folder, real)) {
    why = errno;
  } else {
    int n = snprintf(out->canonical, sizeof(out->canonical), "%s%s%s", real,
                     strcmp(real, "/") == 0 ? "" : "/", name);
    if (n < 0 || (size_t)n >= sizeof(out->canonical)) why = ENAMETOOLONG;
  }
  if (why) {
    out->canonical[0] = '\0';
    snprintf(out->folder_why, sizeof(out->folder_why), "%s", strerror(why));
  }
  free(target);
  return RIOS_OK;
}

int rios_ffi_dataset_kind(const char *path, int *kind, rios_text *driver, rios_err *err) {
  (void)err;
  int k = 0;
  driver->s[0] = '\0';
  CPLPushErrorHandler(CPLQuietErrorHandler);
  GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
  if (ds) {
    k = 1;
  } else {
    ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (ds) k = 2;
  }
  if (ds) {
    GDALDriverH d = GDALGetDatasetDriver(ds);
    snprintf(driver->s, sizeof(driver->s), "%s", d ? GDALGetDriverShortName(d) : "");
    GDALClose(ds);
  }
  CPLPopErrorHandler();
  CPLErrorReset();
  *kind = k;
  return RIOS_OK;
}
