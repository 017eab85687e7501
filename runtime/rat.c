/*
 * rat.c: a band's raster attribute table (RAT): columns of integers, reals
 * or strings with one row per pixel value, as GDAL keeps them (HFA and KEA
 * in the file, GTiff and others in the .aux.xml beside it).
 *
 * A handle reads and writes through GDAL's table when the driver writes its
 * changes straight to the file (GDALRATChangesAreWrittenToFile); otherwise
 * it works on a copy of the band's table and gives it back to the band with
 * GDALSetDefaultRAT when closed, which is when such drivers learn of the
 * change. Opened by path, the handle owns the dataset; attached to an open
 * dataset (bandtables.h, for the output side), it borrows it.
 *
 * The working copy (GDAL's in-memory table) is read and written a value at
 * a time: GDAL's generic block I/O for it (GDALRATValuesIOAs* in GDAL 3.6)
 * indexes the caller's buffer by table row, so a block not starting at row
 * 0 lands outside the buffer. Drivers' own tables (HFA, KEA) have their
 * own block I/O, which is right and much faster than a value at a time.
 */
#include "bandtables.h"
#include "dtype.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(int) == sizeof(int32_t), "GDAL's integer RAT values are int32");

struct rios_rat {
  GDALDatasetH ds;
  int owns_ds;                    /* opened by path: closed with the handle */
  int update;                     /* the table may be changed */
  int bandno;
  GDALRasterBandH band;
  GDALRasterAttributeTableH rat;  /* GDAL's (borrowed) or a working copy */
  int owns_rat;                   /* the working copy, given back on close */
  int changed;
  char *label;                    /* the file, in messages */
};

static void rat_free(rios_rat *r) {
  if (r->owns_rat && r->rat) GDALDestroyRasterAttributeTable(r->rat);
  free(r->label);
  free(r);
}

int rios_rat_attach(GDALDatasetH ds, int bandno, const char *label, int update,
                    rios_rat **out, rios_err *err) {
  *out = NULL;
  int nb = GDALGetRasterCount(ds);
  if (bandno < 1 || bandno > nb) {
    rios_seterr(err, "%s: has no band %d (it has %d)", label, bandno, nb);
    return RIOS_FAIL;
  }
  rios_rat *r = calloc(1, sizeof(*r));
  char *l = strdup(label);
  if (!r || !l) {
    free(r);
    free(l);
    rios_seterr(err, "%s: out of memory", label);
    return RIOS_FAIL;
  }
  r->ds = ds;
  r->update = update;
  r->bandno = bandno;
  r->band = GDALGetRasterBand(ds, bandno);
  r->label = l;
  CPLErrorReset();
  GDALRasterAttributeTableH t = GDALGetDefaultRAT(r->band);
  if (t && GDALRATChangesAreWrittenToFile(t)) {
    r->rat = t;
  } else {
    r->rat = t ? GDALRATClone(t) : GDALCreateRasterAttributeTable();
    r->owns_rat = 1;
    if (!r->rat) {
      rios_seterr(err, "%s: band %d: cannot make an attribute table: %s", label, bandno,
                  rios_gdal_error());
      rat_free(r);
      return RIOS_FAIL;
    }
  }
  *out = r;
  return RIOS_OK;
}

int rios_ffi_rat_open(const char *path, int band, int update, rios_rat **out, rios_err *err) {
  *out = NULL;
  GDALDatasetH ds;
  if (update) {
    ds = rios_open_update(path, err);
  } else {
    CPLErrorReset();
    ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, NULL, NULL,
                    NULL);
    if (!ds) rios_seterr(err, "%s: cannot open as a raster: %s", path, rios_gdal_error());
  }
  if (!ds) return RIOS_FAIL;
  if (rios_rat_attach(ds, band, path, update, out, err) != RIOS_OK) {
    GDALClose(ds);
    return RIOS_FAIL;
  }
  (*out)->owns_ds = 1;
  return RIOS_OK;
}

int rios_ffi_rat_close(rios_rat *r, rios_err *err) {
  if (!r) return RIOS_OK;
  int rc = RIOS_OK;
  if (r->changed && r->owns_rat) {
    CPLErrorReset();
    if (GDALSetDefaultRAT(r->band, r->rat) != CE_None) {
      rios_seterr(err, "%s: band %d: cannot store the attribute table: %s", r->label,
                  r->bandno, rios_gdal_error());
      rc = RIOS_FAIL;
    }
  }
  if (r->owns_ds) {
    if (rc == RIOS_OK) {
      rc = rios_close_checked(r->ds, r->label, err);
    } else {
      GDALClose(r->ds);
    }
  }
  rat_free(r);
  return rc;
}

void rios_ffi_rat_discard(rios_rat *r) {
  if (!r) return;
  if (r->owns_ds) GDALClose(r->ds);
  rat_free(r);
}

int rios_ffi_rat_row_count(const rios_rat *r) { return GDALRATGetRowCount(r->rat); }

int rios_ffi_rat_column_count(const rios_rat *r) { return GDALRATGetColumnCount(r->rat); }

int rios_ffi_rat_find_column(const rios_rat *r, const char *name) {
  int n = GDALRATGetColumnCount(r->rat);
  for (int i = 0; i < n; i++) {
    const char *c = GDALRATGetNameOfCol(r->rat, i);
    if (c && strcmp(c, name) == 0) return i;
  }
  return RIOS_FAIL;
}

void rios_ffi_rat_band(const rios_rat *r, int *dtype, int *has_nodata, double *nodata,
                       int *thematic) {
  *dtype = rios_band_dtype(r->band);
  *has_nodata = 0;
  *nodata = GDALGetRasterNoDataValue(r->band, has_nodata);
  const char *lt = GDALGetMetadataItem(r->band, "LAYER_TYPE", NULL);
  *thematic = lt && strcmp(lt, "thematic") == 0;
}

static int check_col(const rios_rat *r, int col, rios_err *err) {
  int n = GDALRATGetColumnCount(r->rat);
  if (col < 0 || col >= n) {
    rios_seterr(err, "%s: band %d: the attribute table has no column %d (it has %d)", r->label,
                r->bandno, col, n);
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

static const char *col_name(const rios_rat *r, int col) {
  const char *c = GDALRATGetNameOfCol(r->rat, col);
  return c ? c : "?";
}

static int check_rows(const rios_rat *r, int col, int start, int n, rios_err *err) {
  int rows = GDALRATGetRowCount(r->rat);
  if (start < 0 || n < 0 || start > rows - n) {
    rios_seterr(err, "%s: band %d: column \"%s\": rows %d to %d are outside the table's %d rows",
                r->label, r->bandno, col_name(r, col), start, start + n - 1, rows);
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

static int check_update(const rios_rat *r, const char *what, rios_err *err) {
  if (!r->update) {
    rios_seterr(err, "%s: band %d: cannot %s: the attribute table was opened for reading",
                r->label, r->bandno, what);
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

int rios_ffi_rat_column(const rios_rat *r, int col, const char **name, int *type, int *usage,
                        rios_err *err) {
  if (check_col(r, col, err) != RIOS_OK) return RIOS_FAIL;
  *name = col_name(r, col);
  *type = (int)GDALRATGetTypeOfCol(r->rat, col);
  *usage = (int)GDALRATGetUsageOfCol(r->rat, col);
  return RIOS_OK;
}

int rios_ffi_rat_create_column(rios_rat *r, const char *name, int type, int usage, int *col,
                               rios_err *err) {
  *col = -1;
  if (check_update(r, "add a column", err) != RIOS_OK) return RIOS_FAIL;
  if (!name || !*name) {
    rios_seterr(err, "%s: band %d: a column needs a name", r->label, r->bandno);
    return RIOS_FAIL;
  }
  if (type < GFT_Integer || type > GFT_String || usage < GFU_Generic || usage >= GFU_MaxCount) {
    rios_seterr(err, "%s: band %d: column \"%s\": no column type %d or usage %d", r->label,
                r->bandno, name, type, usage);
    return RIOS_FAIL;
  }
  if (rios_ffi_rat_find_column(r, name) >= 0) {
    rios_seterr(err, "%s: band %d: the attribute table already has a column \"%s\"", r->label,
                r->bandno, name);
    return RIOS_FAIL;
  }
  int before = GDALRATGetColumnCount(r->rat);
  CPLErrorReset();
  if (GDALRATCreateColumn(r->rat, name, (GDALRATFieldType)type, (GDALRATFieldUsage)usage) !=
      CE_None) {
    rios_seterr(err, "%s: band %d: cannot add the column \"%s\": %s", r->label, r->bandno, name,
                rios_gdal_error());
    return RIOS_FAIL;
  }
  r->changed = 1;
  if ((*col = rios_ffi_rat_find_column(r, name)) < 0) {
    /* HFA names columns by their usage (Red, Histogram, Class_Names...). */
    int after = GDALRATGetColumnCount(r->rat);
    GDALDriverH drv = GDALGetDatasetDriver(r->ds);
    rios_seterr(err, "%s: band %d: the %s driver keeps a column of usage %d as \"%s\", not "
                "\"%s\"; write it under that name", r->label, r->bandno,
                drv ? GDALGetDriverShortName(drv) : "file's", usage,
                after > before ? col_name(r, before) : "another name", name);
    return RIOS_FAIL;
  }
  r->changed = 1;
  return RIOS_OK;
}

int rios_ffi_rat_set_row_count(rios_rat *r, int n, rios_err *err) {
  if (check_update(r, "change the row count", err) != RIOS_OK) return RIOS_FAIL;
  if (n < 0) {
    rios_seterr(err, "%s: band %d: a row count cannot be negative (%d)", r->label, r->bandno, n);
    return RIOS_FAIL;
  }
  CPLErrorReset();
  GDALRATSetRowCount(r->rat, n);
  if (GDALRATGetRowCount(r->rat) != n) {
    rios_seterr(err, "%s: band %d: cannot make the attribute table %d rows long: %s", r->label,
                r->bandno, n, rios_gdal_error());
    return RIOS_FAIL;
  }
  r->changed = 1;
  return RIOS_OK;
}

/* Block I/O on a table: the driver's own, or a value at a time on the
   in-memory working copy (see the top of this file). */
static CPLErr io_int(rios_rat *r, GDALRWFlag rw, int col, int start, int n, int *v) {
  if (!r->owns_rat) return GDALRATValuesIOAsInteger(r->rat, rw, col, start, n, v);
  for (int i = 0; i < n; i++) {
    if (rw == GF_Read) v[i] = GDALRATGetValueAsInt(r->rat, start + i, col);
    else GDALRATSetValueAsInt(r->rat, start + i, col, v[i]);
  }
  return CE_None;
}

static CPLErr io_double(rios_rat *r, GDALRWFlag rw, int col, int start, int n, double *v) {
  if (!r->owns_rat) return GDALRATValuesIOAsDouble(r->rat, rw, col, start, n, v);
  for (int i = 0; i < n; i++) {
    if (rw == GF_Read) v[i] = GDALRATGetValueAsDouble(r->rat, start + i, col);
    else GDALRATSetValueAsDouble(r->rat, start + i, col, v[i]);
  }
  return CE_None;
}

/* Strings read are copies GDAL allocates (CPLStrdup), freed with CPLFree. */
static CPLErr io_string(rios_rat *r, GDALRWFlag rw, int col, int start, int n, char **v) {
  if (!r->owns_rat) return GDALRATValuesIOAsString(r->rat, rw, col, start, n, (CSLConstList)v);
  for (int i = 0; i < n; i++) {
    if (rw == GF_Read) {
      const char *s = GDALRATGetValueAsString(r->rat, start + i, col);
      v[i] = CPLStrdup(s ? s : "");
    } else {
      GDALRATSetValueAsString(r->rat, start + i, col, v[i]);
    }
  }
  return CE_None;
}

int rios_ffi_rat_read(rios_rat *r, int col, int start, int n, void *buf, int dtype,
                      rios_err *err) {
  if (check_col(r, col, err) != RIOS_OK || check_rows(r, col, start, n, err) != RIOS_OK)
    return RIOS_FAIL;
  GDALRATFieldType type = GDALRATGetTypeOfCol(r->rat, col);
  if (type == GFT_String) {
    rios_seterr(err, "%s: band %d: column \"%s\" holds strings, not numbers", r->label,
                r->bandno, col_name(r, col));
    return RIOS_FAIL;
  }
  if (dtype != RIOS_FLOAT64 && !(dtype == RIOS_INT32 && type == GFT_Integer)) {
    rios_seterr(err, "%s: band %d: column \"%s\" cannot be read as %s", r->label, r->bandno,
                col_name(r, col), rios_dtype_name(dtype));
    return RIOS_FAIL;
  }
  if (n == 0) return RIOS_OK;
  CPLErrorReset();
  CPLErr e = dtype == RIOS_FLOAT64 ? io_double(r, GF_Read, col, start, n, buf)
                                   : io_int(r, GF_Read, col, start, n, buf);
  if (e != CE_None) {
    rios_seterr(err, "%s: band %d: reading rows %d to %d of column \"%s\" failed: %s", r->label,
                r->bandno, start, start + n - 1, col_name(r, col), rios_gdal_error());
    return RIOS_FAIL;
  }
  return RIOS_OK;
}

int rios_ffi_rat_write(rios_rat *r, int col, int start, int n, const void *buf, int dtype,
                       rios_err *err) {
  if (check_update(r, "write a column", err) != RIOS_OK) return RIOS_FAIL;
  if (check_col(r, col, err) != RIOS_OK || check_rows(r, col, start, n, err) != RIOS_OK)
    return RIOS_FAIL;
  if (dtype < 0 || dtype >= RIOS_NDTYPES) {
    rios_seterr(err, "%s: band %d: column \"%s\": unknown dtype %d", r->label, r->bandno,
                col_name(r, col), dtype);
    return RIOS_FAIL;
  }
  GDALRATFieldType type = GDALRATGetTypeOfCol(r->rat, col);
  if (type == GFT_String) {
    rios_seterr(err, "%s: band %d: column \"%s\" holds strings; give it strings", r->label,
                r->bandno, col_name(r, col));
    return RIOS_FAIL;
  }
  if (n == 0) return RIOS_OK;
  CPLErr e;
  if (type == GFT_Integer) {
    int32_t *tmp = malloc(sizeof(int32_t) * (size_t)n);
    if (!tmp) {
      rios_seterr(err, "%s: out of memory writing column \"%s\"", r->label, col_name(r, col));
      return RIOS_FAIL;
    }
    for (int i = 0; i < n; i++) {
      double v = rios_get(buf, (size_t)i, dtype);
      if (!(v == floor(v) && v >= INT32_MIN && v <= INT32_MAX)) {
        rios_seterr(err, "%s: band %d: column \"%s\" holds integers; row %d would get %.17g "
                    "(write a float column, or round the values first)",
                    r->label, r->bandno, col_name(r, col), start + i, v);
        free(tmp);
        return RIOS_FAIL;
      }
      tmp[i] = (int32_t)v;
    }
    CPLErrorReset();
    e = io_int(r, GF_Write, col, start, n, tmp);
    free(tmp);
  } else {
    double *tmp = malloc(sizeof(double) * (size_t)n);
    if (!tmp) {
      rios_seterr(err, "%s: out of memory writing column \"%s\"", r->label, col_name(r, col));
      return RIOS_FAIL;
    }
    for (int i = 0; i < n; i++) tmp[i] = rios_get(buf, (size_t)i, dtype);
    CPLErrorReset();
    e = io_double(r, GF_Write, col, start, n, tmp);
    free(tmp);
  }
  if (e != CE_None) {
    rios_seterr(err, "%s: band %d: writing rows %d to %d of column \"%s\" failed: %s", r->label,
                r->bandno, start, start + n - 1, col_name(r, col), rios_gdal_error());
    return RIOS_FAIL;
  }
  r->changed = 1;
  return RIOS_OK;
}

int rios_ffi_rat_read_strings(rios_rat *r, int col, int start, int n, char **out,
                              rios_err *err) {
  for (int i = 0; i < n; i++) out[i] = NULL;
  if (check_col(r, col, err) != RIOS_OK || check_rows(r, col, start, n, err) != RIOS_OK)
    return RIOS_FAIL;
  if (n == 0) return RIOS_OK;
  CPLErrorReset();
  if (io_string(r, GF_Read, col, start, n, out) != CE_None) {
    rios_seterr(err, "%s: band %d: reading rows %d to %d of column \"%s\" failed: %s", r->label,
                r->bandno, start, start + n - 1, col_name(r, col), rios_gdal_error());
    return RIOS_FAIL;
  }
  for (int i = 0; i < n; i++) {
    if (!out[i]) {
      rios_seterr(err, "%s: band %d: column \"%s\": out of memory for row %d", r->label,
                  r->bandno, col_name(r, col), start + i);
      return RIOS_FAIL;
    }
  }
  return RIOS_OK;
}

void rios_ffi_rat_strings_free(char **list, int n) {
  for (int i = 0; i < n; i++) {
    CPLFree(list[i]);
    list[i] = NULL;
  }
}

int rios_ffi_rat_write_strings(rios_rat *r, int col, int start, int n, const char *const *list,
                               rios_err *err) {
  if (check_update(r, "write a column", err) != RIOS_OK) return RIOS_FAIL;
  if (check_col(r, col, err) != RIOS_OK || check_rows(r, col, start, n, err) != RIOS_OK)
    return RIOS_FAIL;
  if (GDALRATGetTypeOfCol(r->rat, col) != GFT_String) {
    rios_seterr(err, "%s: band %d: column \"%s\" holds numbers, not strings", r->label,
                r->bandno, col_name(r, col));
    return RIOS_FAIL;
  }
  for (int i = 0; i < n; i++) {
    if (!list[i]) {
      rios_seterr(err, "%s: band %d: column \"%s\": row %d has no string", r->label, r->bandno,
                  col_name(r, col), start + i);
      return RIOS_FAIL;
    }
  }
  if (n == 0) return RIOS_OK;
  CPLErrorReset();
  if (io_string(r, GF_Write, col, start, n, (char **)list) != CE_None) {
    rios_seterr(err, "%s: band %d: writing rows %d to %d of column \"%s\" failed: %s", r->label,
                r->bandno, start, start + n - 1, col_name(r, col), rios_gdal_error());
    return RIOS_FAIL;
  }
  r->changed = 1;
  return RIOS_OK;
}

int rios_ffi_rat_set_linear_binning(rios_rat *r, double row0_min, double bin_size,
                                    rios_err *err) {
  if (check_update(r, "set the binning", err) != RIOS_OK) return RIOS_FAIL;
  CPLErrorReset();
  if (GDALRATSetLinearBinning(r->rat, row0_min, bin_size) != CE_None) {
    rios_seterr(err, "%s: band %d: cannot set the table's binning: %s", r->label, r->bandno,
                rios_gdal_error());
    return RIOS_FAIL;
  }
  r->changed = 1;
  return RIOS_OK;
}
