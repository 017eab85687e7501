/*
 * cog.c: a Cloud Optimized GeoTIFF output. GDAL's COG driver writes only
 * copies of whole rasters, so the blocks go into a temporary tiled GeoTIFF
 * (output.c, with the options below), which gets its overviews, statistics,
 * histogram and attribute tables there as any output does; once it is
 * finished and sealed, the COG driver copies it beside it in the output's
 * private folder (outfile.c), and the copy takes the GeoTIFF's name there,
 * to be moved into place by the commit as any output is. The COG driver takes the GeoTIFF's overviews as they are
 * (its OVERVIEWS=AUTO), so the COG has the levels rios chose: none when
 * the GeoTIFF has none. What the copy does not carry (GDAL's default
 * histogram and the attribute tables, kept in the .aux.xml) is copied
 * into the COG's .aux.xml, which leaves the TIFF itself as the driver
 * wrote it.
 */
#include "output_internal.h"
#include "rios_ffi.h"
#include "rios_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The temporary GeoTIFF: tiled as the COG driver tiles by default, bands
   apart (the writer writes band planes), compressed fast when GDAL has
   ZSTD (it is read once, by the copy). */
static const char *const temp_zstd[] = {"TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512",
                                        "INTERLEAVE=BAND", "BIGTIFF=IF_SAFER",
                                        "COMPRESS=ZSTD", "ZSTD_LEVEL=1", NULL};
static const char *const temp_plain[] = {"TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512",
                                         "INTERLEAVE=BAND", "BIGTIFF=IF_SAFER", NULL};

const char *const *rios_ffi_cog_temp_options(void) {
  GDALDriverH gtiff = GDALGetDriverByName("GTiff");
  const char *list = gtiff ? GDALGetMetadataItem(gtiff, GDAL_DMD_CREATIONOPTIONLIST, NULL) : NULL;
  return list && strstr(list, "ZSTD") ? temp_zstd : temp_plain;
}

/* Band b's default histogram and attribute table, from src to dst. */
static int copy_band_tables(GDALRasterBandH from, GDALRasterBandH to, const char *dst, int b,
                            rios_err *err) {
  double lo, hi;
  int n = 0;
  GUIntBig *counts = NULL;
  CPLPushErrorHandler(CPLQuietErrorHandler);
  CPLErr e = GDALGetDefaultHistogramEx(from, &lo, &hi, &n, &counts, FALSE, NULL, NULL);
  CPLPopErrorHandler();
  CPLErrorReset();
  if (e == CE_None && n > 0) {
    CPLErr set = GDALSetDefaultHistogramEx(to, lo, hi, n, counts);
    VSIFree(counts);
    if (set != CE_None) {
      rios_seterr(err, "%s: cannot store the histogram of band %d: %s", dst, b,
                  rios_gdal_error());
      return RIOS_FAIL;
    }
  } else {
    VSIFree(counts);
  }
  GDALRasterAttributeTableH rat = GDALGetDefaultRAT(from);
  if (rat && GDALRATGetColumnCount(rat) > 0 && !GDALGetDefaultRAT(to)) {
    CPLErrorReset();
    if (GDALSetDefaultRAT(to, rat) != CE_None) {
      rios_seterr(err, "%s: cannot store the attribute table of band %d: %s", dst, b,
                  rios_gdal_error());
      return RIOS_FAIL;
    }
  }
  return RIOS_OK;
}

/* Remove the dataset at path (its sidecars too), quietly: it is in the
   output's private folder, which close removes anyway. */
static void remove_quietly(const char *path) {
  CPLPushErrorHandler(CPLQuietErrorHandler);
  GDALDriverH d = GDALIdentifyDriver(path, NULL);
  if (!(d && GDALDeleteDataset(d, path) == CE_None)) unlink(path);
  CPLPopErrorHandler();
  CPLErrorReset();
}

int rios_ffi_output_cog(rios_output *o, const char *const *options, rios_err *err) {
  const char *dst = o->path;  /* the name in messages */
  if (!o->sealed || !o->write_path) {
    rios_seterr(err, "%s: copied to a COG before it was sealed", dst);
    return RIOS_FAIL;
  }
  GDALDriverH cog = GDALGetDriverByName("COG");
  if (!cog) {
    rios_seterr(err, "%s: this GDAL has no COG driver (GDAL 3.1 and later have it)", dst);
    return RIOS_FAIL;
  }
  size_t len = strlen(o->write_path) + sizeof(".cog.tif");
  char *copy = malloc(len);
  if (!copy) {
    rios_seterr(err, "%s: out of memory", dst);
    return RIOS_FAIL;
  }
  snprintf(copy, len, "%s.cog.tif", o->write_path);
  CPLErrorReset();
  GDALDatasetH in = GDALOpenEx(o->write_path,
                               GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR,
                               NULL, NULL, NULL);
  if (!in) {
    rios_seterr(err, "%s: cannot open its GeoTIFF to copy it: %s", dst, rios_gdal_error());
    free(copy);
    return RIOS_FAIL;
  }
  char **opts = NULL;
  for (int i = 0; options && options[i]; i++) opts = CSLAddString(opts, options[i]);
  /* No overviews in the GeoTIFF: none in the COG either (else the driver
     would make its own), unless the script asks for them. */
  GDALRasterBandH band1 = GDALGetRasterBand(in, 1);
  if (band1 && GDALGetOverviewCount(band1) == 0 && !CSLFetchNameValue(opts, "OVERVIEWS"))
    opts = CSLSetNameValue(opts, "OVERVIEWS", "NONE");
  CPLErrorReset();
  GDALDatasetH out = GDALCreateCopy(cog, copy, in, FALSE, opts, NULL, NULL);
  CSLDestroy(opts);
  int rc = RIOS_OK;
  if (!out || CPLGetLastErrorType() >= CE_Failure) {
    rios_seterr(err, "%s: GDAL's COG driver cannot write it: %s", dst, rios_gdal_error());
    rc = RIOS_FAIL;
  }
  for (int b = 1; rc == RIOS_OK && b <= GDALGetRasterCount(in); b++) {
    GDALRasterBandH to = GDALGetRasterBand(out, b);
    if (!to) {
      rios_seterr(err, "%s: the COG driver made no band %d", dst, b);
      rc = RIOS_FAIL;
    } else {
      rc = copy_band_tables(GDALGetRasterBand(in, b), to, dst, b, err);
    }
  }
  GDALClose(in);
  if (out) {
    if (rc == RIOS_OK) {
      CPLErrorReset();
      GDALClose(out);
      if (CPLGetLastErrorType() >= CE_Failure) {
        rios_seterr(err, "%s: writing the COG on close failed: %s", dst, rios_gdal_error());
        rc = RIOS_FAIL;
      }
    } else {
      GDALClose(out);
    }
  }
  /* The copy takes the GeoTIFF's name (sidecars too), which commit moves. */
  if (rc == RIOS_OK) {
    remove_quietly(o->write_path);
    CPLErrorReset();
    if (GDALRenameDataset(o->driver, o->write_path, copy) != CE_None) {
      rios_seterr(err, "%s: cannot rename the COG in its private folder: %s", dst,
                  rios_gdal_error());
      rc = RIOS_FAIL;
    }
  }
  if (rc != RIOS_OK) remove_quietly(copy);
  free(copy);
  return rc;
}
