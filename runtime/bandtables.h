/*
 * bandtables.h: a band's colour table and raster attribute table, on a
 * GDAL dataset the caller already has open. The FFI functions in
 * colortable.c and rat.c open a file by path and call these; the output
 * side calls them on the dataset it is writing (before it is closed).
 * Not seen by Lua.
 */
#ifndef RIOS_BANDTABLES_H
#define RIOS_BANDTABLES_H

#include <gdal.h>
#include <stdint.h>
#include "rios_ffi.h"

/* Set the colour table of band `bandno` of ds to n entries (rgba: 4 bytes
   per entry, entry i for pixel value i) and its colour interpretation to
   Palette. label names the file in messages. RIOS_OK, or RIOS_FAIL with a
   message. */
int rios_band_set_color_table(GDALDatasetH ds, int bandno, const char *label, int n,
                              const uint8_t *rgba, rios_err *err);

/* The colour table of band `bandno` of ds: *count = its entries (0: none);
   the first min(*count, max) of them go into rgba (4 bytes each). */
int rios_band_get_color_table(GDALDatasetH ds, int bandno, const char *label, int max,
                              uint8_t *rgba, int *count, rios_err *err);

/* A handle on the attribute table of band `bandno` of an open dataset,
   which it borrows (the caller closes ds after rios_ffi_rat_close). update:
   whether the table may be changed (ds must be writable). The handle works
   with every rios_ffi_rat_* function; rios_ffi_rat_close writes a changed
   table back to the band (drivers that keep tables in .aux.xml need that
   before ds is closed) and frees the handle, leaving ds open. */
int rios_rat_attach(GDALDatasetH ds, int bandno, const char *label, int update,
                    rios_rat **out, rios_err *err);

/* Open a file for update (GDAL_OF_UPDATE), or NULL with a message. */
GDALDatasetH rios_open_update(const char *path, rios_err *err);
/* GDALClose, reporting a failure GDAL signals while it writes on close. */
int rios_close_checked(GDALDatasetH ds, const char *label, rios_err *err);

#endif
