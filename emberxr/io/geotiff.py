"""Write georeferenced rasters (predictions, probabilities) as GeoTIFF or Cloud-Optimised GeoTIFF.

The file is tiled, DEFLATE-compressed and keeps CRS, transform, nodata and band descriptions.
Bands are data, not colours: the photometric interpretation is ``MINISBLACK`` and the colour
interpretation is gray for band 1 and undefined for the others, so GIS software never shows a
3- or 4-band file as RGB(A) (where a 4th band would become a transparency mask).

A COG is made in a second step from a finished GeoTIFF (overviews built in it, then copied with
``COPY_SRC_OVERVIEWS`` into the COG layout), never streamed from Dask. GDAL's COG driver is not
used: it rewrites 3- and 4-band byte rasters as RGB with an alpha band. Overviews use the
``resampling`` the caller names: ``nearest`` (the default: masks, categories, arrival times) never
invents values; ``average`` suits continuous fields such as probabilities (nodata cells are left
out of the average). GDAL's own default (cubic) overshoots and spreads NaN. Every write is atomic
(:func:`emberxr.atomic.atomic_path`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..atomic import atomic_path
from ..errors import WriteError
from ..schema import grid_transform, require_crs

__all__ = ["OVERVIEW_RESAMPLING", "to_geotiff"]

OVERVIEW_RESAMPLING = ("nearest", "average", "mode")
"""Resampling methods for COG overviews that stay within the data's range (no cubic overshoot)."""

_DESC_COORDS = ("band", "step", "time", "lead", "feature")


def _as_3d(da: xr.DataArray) -> xr.DataArray:
    """(bands, y, x) with the spatial dims last."""
    problems = []
    ydim = "y" if "y" in da.dims else None
    xdim = "x" if "x" in da.dims else None
    if ydim is None or xdim is None:
        problems.append(f"dims {da.dims} lack 'y' and/or 'x'; rename the spatial dims to y and x")
    if da.ndim not in (2, 3):
        problems.append(
            f"{da.ndim} dims {da.dims}; a GeoTIFF holds (y, x) or (band, y, x): select or stack the rest"
        )
    if problems:
        raise WriteError("cannot write a GeoTIFF: " + "; ".join(problems))
    if da.ndim == 2:
        return da.transpose("y", "x").expand_dims("band", axis=0)
    other = next(d for d in da.dims if d not in ("y", "x"))
    return da.transpose(other, "y", "x")


def _descriptions(da3: xr.DataArray, given: Sequence[str] | None) -> list[str] | None:
    n = da3.sizes[da3.dims[0]]
    if given is not None:
        given = [str(g) for g in given]
        if len(given) != n:
            raise WriteError(f"band_descriptions has {len(given)} names but the raster has {n} band(s)")
        return given
    attr = da3.attrs.get("band_descriptions")
    if attr is not None and not isinstance(attr, str) and len(attr) == n:
        return [str(a) for a in attr]
    dim = da3.dims[0]
    if dim in _DESC_COORDS and dim in da3.coords:
        vals = np.asarray(da3[dim].values)
        if np.issubdtype(vals.dtype, np.datetime64):
            return [str(np.datetime_as_string(v, unit="s")) for v in vals]
        return [f"{dim}={v}" if vals.dtype.kind in "iuf" else str(v) for v in vals.tolist()]
    if da3.name is not None and n == 1:
        return [str(da3.name)]
    return None


def _transform(da: xr.DataArray) -> Any:
    """The affine transform: from the cell centres, or (a grid one cell wide, where the centres do
    not give the cell size) from the transform stored on ``spatial_ref``."""
    if da.sizes["x"] >= 2 and da.sizes["y"] >= 2:
        return grid_transform(da["x"].values, da["y"].values)
    try:
        return da.rio.transform()
    except Exception:  # rioxarray could not derive one either
        return grid_transform(da["x"].values, da["y"].values)


def _block(h: int, w: int) -> int:
    return 512 if min(h, w) >= 2048 else 256


def _overview_factors(h: int, w: int, block: int) -> list[int]:
    """Overview levels 2, 4, 8 ... until the coarsest one fits in one block (as GDAL's COG driver)."""
    factors, f = [], 2
    while -(-max(h, w) // (f // 2)) > block:
        factors.append(f)
        f *= 2
    return factors


# profile keys that describe the data, not how the copy is encoded
_NOT_COPY_OPTIONS = ("driver", "width", "height", "count", "dtype", "crs", "transform", "nodata")


def to_geotiff(
    da: xr.DataArray,
    path: str | os.PathLike,
    cog: bool = False,
    nodata: float | None = None,
    band_descriptions: Sequence[str] | None = None,
    resampling: str = "nearest",
) -> Path:
    """Write a georeferenced DataArray as a GeoTIFF (or COG), atomically.

    Parameters
    ----------
    da
        ``(y, x)`` or ``(band|step|time, y, x)`` with a CRS (``da.rio.crs``) and regular x/y.
        Booleans are written as uint8. Dask arrays are computed one band at a time.
    path
        Destination file.
    cog
        Make a Cloud-Optimised GeoTIFF (with overviews) from the finished GeoTIFF.
    nodata
        Nodata value to record; NaN cells of float data are written as this value. Default:
        ``da.rio.nodata`` if set, else NaN for float data, none for integers.
    band_descriptions
        One name per band; default from ``da.attrs["band_descriptions"]``, else the
        ``band``/``step``/``time`` coordinate (or the name).
    resampling
        How COG overviews are computed, one of :data:`OVERVIEW_RESAMPLING`: ``nearest`` (default)
        for masks, categories and arrival times, ``average`` for continuous fields.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    NotGeoreferencedError
        ``da`` has no CRS (a :class:`WriteError`; e.g. a forecast of an NDWS tile).
    WriteError
        Wrong dims, a description count that does not match the bands, or an unknown
        ``resampling``.
    """
    import rasterio
    import rioxarray  # noqa: F401
    from rasterio.enums import ColorInterp, Resampling

    if resampling not in OVERVIEW_RESAMPLING:
        raise WriteError(
            f"resampling={resampling!r} is not an overview method emberxr writes; use one of "
            f"{', '.join(OVERVIEW_RESAMPLING)}"
        )
    da3 = _as_3d(da)
    require_crs(da, f"a GeoTIFF without a CRS ({Path(path).name})")
    descs = _descriptions(da3, band_descriptions)
    n, h, w = (int(s) for s in da3.shape)
    dtype = np.dtype(da3.dtype)
    if dtype.kind == "b":
        dtype = np.dtype(np.uint8)
    if dtype.kind not in "uif":
        raise WriteError(f"cannot write dtype {da3.dtype} to GeoTIFF; cast to a number type first")
    if dtype == np.float16:
        dtype = np.dtype(np.float32)
    if nodata is None:
        nodata = da.rio.nodata if da.rio.nodata is not None else (np.nan if dtype.kind == "f" else None)
    block = _block(h, w)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": n,
        "dtype": dtype.name,
        "crs": da.rio.crs,
        "transform": _transform(da),
        "nodata": nodata,
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": "DEFLATE",
        "predictor": 3 if dtype.kind == "f" else 2,
        "photometric": "MINISBLACK",
        "BIGTIFF": "IF_SAFER",
    }
    final = Path(path)
    with atomic_path(final) as tmp:
        plain = tmp.with_name(tmp.stem + ".gtiff.tif") if cog else tmp
        try:
            with rasterio.open(plain, "w", **profile) as dst:
                for i in range(n):
                    band = np.asarray(da3.isel({da3.dims[0]: i}).values).astype(dtype, copy=False)
                    if dtype.kind == "f" and nodata is not None and not np.isnan(nodata):
                        band = np.where(np.isnan(band), nodata, band).astype(dtype, copy=False)
                    dst.write(band, i + 1)
                    if descs is not None:
                        dst.set_band_description(i + 1, descs[i])
                dst.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * (n - 1)
                if da.attrs:
                    dst.update_tags(
                        **{str(k): str(v) for k, v in da.attrs.items() if not str(k).startswith("_")}
                    )
                if cog:
                    factors = _overview_factors(h, w, block)
                    if factors:
                        dst.build_overviews(factors, Resampling[resampling])
            if cog:
                from rasterio.shutil import copy as rio_copy

                # GTiff with the source's overviews in COG layout; GDAL's COG driver would rewrite
                # 3- and 4-band byte data as RGB(A) whatever the source says
                copy_opts = {k: v for k, v in profile.items() if k not in _NOT_COPY_OPTIONS}
                rio_copy(plain, tmp, driver="GTiff", COPY_SRC_OVERVIEWS="YES", **copy_opts)
        finally:
            if cog:
                with contextlib.suppress(FileNotFoundError):
                    plain.unlink()
    return final
