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

:func:`to_geotiff` writes a DataArray; :class:`GeoTiffWriter` is the same file written piece by
piece (row windows of any band), for outputs too large to hold in memory (the streamed forecasts of
:func:`emberxr.forecast.write_prediction`). Both share one profile, one nodata rule and one COG step.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..atomic import atomic_path
from ..errors import WriteError
from ..schema import require_crs, transform_of

__all__ = ["OVERVIEW_RESAMPLING", "GeoTiffWriter", "to_geotiff"]

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


def _check_resampling(resampling: str) -> None:
    if resampling not in OVERVIEW_RESAMPLING:
        raise WriteError(
            f"resampling={resampling!r} is not an overview method emberxr writes; use one of "
            f"{', '.join(OVERVIEW_RESAMPLING)}"
        )


def _file_dtype(dtype: Any) -> np.dtype:
    """The GeoTIFF data type of an array dtype (bool → uint8, float16 → float32)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.dtype(np.uint8)
    if dtype.kind not in "uif":
        raise WriteError(f"cannot write dtype {dtype} to GeoTIFF; cast to a number type first")
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype


def _cap_block_cache(stack: contextlib.ExitStack, cap: int) -> None:
    """Lower GDAL's block cache (``GDAL_CACHEMAX``) to ``cap`` bytes until ``stack`` closes."""
    from rasterio.env import get_gdal_config, set_gdal_config

    old = get_gdal_config("GDAL_CACHEMAX")
    try:
        current = int(old)
    except (TypeError, ValueError):
        return
    if current < 100_000:  # GDAL reads small values as megabytes
        current *= 2**20
    if current <= cap:
        return
    set_gdal_config("GDAL_CACHEMAX", int(cap))
    stack.callback(set_gdal_config, "GDAL_CACHEMAX", old)


class GeoTiffWriter:
    """A tiled, DEFLATE-compressed GeoTIFF (or COG) written window by window, atomically.

    Use it as a context manager: :meth:`write` row windows of any band in any order; on a clean
    exit the band descriptions, colour interpretation and tags are set, COG overviews are built
    and the file is renamed into place (an exception leaves nothing behind). Memory stays bounded
    by the windows written: GDAL keeps written blocks in its block cache until the cache is full
    (by default 5 % of the machine's memory: a whole 8192² float32 file on a 24 GB machine), so
    while a writer is open the cache is capped at :attr:`CACHE_BYTES` (GDAL's ``GDAL_CACHEMAX``,
    restored afterwards; a lower setting is kept).

    Parameters
    ----------
    path
        Destination file.
    crs, transform
        Coordinate reference system and affine transform of the grid.
    height, width, count
        Raster size and number of bands.
    dtype
        Data type (bool is written as uint8, float16 as float32).
    nodata
        Nodata value; NaN cells of float data are written as it (default: NaN for floats, none
        for integers).
    band_descriptions
        One name per band, or None.
    cog, resampling
        Make a Cloud-Optimised GeoTIFF with overviews computed by ``resampling`` (one of
        :data:`OVERVIEW_RESAMPLING`).
    tags
        Dataset tags (metadata) to record.

    Examples
    --------
    >>> with GeoTiffWriter("p.tif", crs=crs, transform=tr, height=H, width=W) as out:  # doctest: +SKIP
    ...     for y0, rows in strips:
    ...         out.write(rows, row=y0)
    """

    #: GDAL block cache while a writer is open (bytes)
    CACHE_BYTES = 64 * 2**20

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        crs: Any,
        transform: Any,
        height: int,
        width: int,
        count: int = 1,
        dtype: Any = np.float32,
        nodata: float | None = None,
        band_descriptions: Sequence[str] | None = None,
        cog: bool = False,
        resampling: str = "nearest",
        tags: dict[str, Any] | None = None,
    ) -> None:
        _check_resampling(resampling)
        if crs is None:
            raise WriteError(
                "cannot write a GeoTIFF without a CRS: tag the array with da.rio.write_crs(...) "
                "(predictions from emberxr keep the input event's spatial_ref)"
            )
        self.dtype = _file_dtype(dtype)
        if nodata is None and self.dtype.kind == "f":
            nodata = np.nan
        if band_descriptions is not None:
            band_descriptions = [str(d) for d in band_descriptions]
            if len(band_descriptions) != int(count):
                raise WriteError(
                    f"band_descriptions has {len(band_descriptions)} names but the raster has {count} band(s)"
                )
        self.path = Path(path)
        self.height, self.width, self.count = int(height), int(width), int(count)
        self.nodata = nodata
        self.descriptions = band_descriptions
        self.cog, self.resampling = bool(cog), resampling
        self.tags = {str(k): str(v) for k, v in (tags or {}).items() if not str(k).startswith("_")}
        self.block = _block(self.height, self.width)
        self.profile: dict[str, Any] = {
            "driver": "GTiff",
            "width": self.width,
            "height": self.height,
            "count": self.count,
            "dtype": self.dtype.name,
            "crs": crs,
            "transform": transform,
            "nodata": nodata,
            "tiled": True,
            "blockxsize": self.block,
            "blockysize": self.block,
            "compress": "DEFLATE",
            "predictor": 3 if self.dtype.kind == "f" else 2,
            "photometric": "MINISBLACK",
            "BIGTIFF": "IF_SAFER",
        }
        self._stack: contextlib.ExitStack | None = None
        self._dst: Any = None

    def __enter__(self) -> GeoTiffWriter:
        import rasterio

        stack = contextlib.ExitStack()
        try:
            _cap_block_cache(stack, self.CACHE_BYTES)
            self._tmp = stack.enter_context(atomic_path(self.path))
            self._plain = self._tmp.with_name(self._tmp.stem + ".gtiff.tif") if self.cog else self._tmp
            if self.cog:
                stack.callback(self._remove_plain)
            self._dst = rasterio.open(self._plain, "w", **self.profile)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def _remove_plain(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._plain.unlink()

    def write(self, data: np.ndarray, row: int = 0, band: int | None = None, col: int = 0) -> None:
        """Write ``data`` at pixel ``(row, col)``: ``(h, w)`` into ``band`` (1-based; default 1) or
        ``(count, h, w)`` into every band."""
        from rasterio.windows import Window

        if self._dst is None:
            raise WriteError(
                "GeoTiffWriter.write outside its `with` block; open it with `with GeoTiffWriter(...)`"
            )
        a = np.asarray(data)
        if a.dtype.kind == "b":
            a = a.astype(np.uint8)
        a = a.astype(self.dtype, copy=False)
        if self.dtype.kind == "f" and self.nodata is not None and not np.isnan(self.nodata):
            a = np.where(np.isnan(a), self.nodata, a).astype(self.dtype, copy=False)
        h, w = a.shape[-2:]
        window = Window(int(col), int(row), int(w), int(h))
        if a.ndim == 3:
            self._dst.write(a, window=window)
        else:
            self._dst.write(a, 1 if band is None else int(band), window=window)

    def _finish(self, dst: Any) -> None:
        """Descriptions, colour interpretation, tags, overviews; close; the COG copy."""
        from rasterio.enums import ColorInterp, Resampling

        try:
            if self.descriptions is not None:
                for i, d in enumerate(self.descriptions):
                    dst.set_band_description(i + 1, d)
            dst.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * (self.count - 1)
            if self.tags:
                dst.update_tags(**self.tags)
            if self.cog:
                factors = _overview_factors(self.height, self.width, self.block)
                if factors:
                    dst.build_overviews(factors, Resampling[self.resampling])
        finally:
            dst.close()
        if self.cog:
            from rasterio.shutil import copy as rio_copy

            # GTiff with the source's overviews in COG layout; GDAL's COG driver would rewrite
            # 3- and 4-band byte data as RGB(A) whatever the source says
            opts = {k: v for k, v in self.profile.items() if k not in _NOT_COPY_OPTIONS}
            rio_copy(self._plain, self._tmp, driver="GTiff", COPY_SRC_OVERVIEWS="YES", **opts)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        stack, dst = self._stack, self._dst
        self._stack = self._dst = None
        if exc_type is not None:
            dst.close()
            stack.__exit__(exc_type, exc, tb)  # removes the temporary; the exception propagates
            return
        try:
            self._finish(dst)
        except BaseException:
            stack.__exit__(*sys.exc_info())
            raise
        stack.__exit__(None, None, None)


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
    import rioxarray  # noqa: F401

    _check_resampling(resampling)
    da3 = _as_3d(da)
    require_crs(da, f"a GeoTIFF without a CRS ({Path(path).name})")
    descs = _descriptions(da3, band_descriptions)
    n, h, w = (int(s) for s in da3.shape)
    dtype = _file_dtype(da3.dtype)
    if nodata is None:
        nodata = da.rio.nodata if da.rio.nodata is not None else (np.nan if dtype.kind == "f" else None)
    writer = GeoTiffWriter(
        path,
        crs=da.rio.crs,
        transform=transform_of(da),
        height=h,
        width=w,
        count=n,
        dtype=dtype,
        nodata=nodata,
        band_descriptions=descs,
        cog=cog,
        resampling=resampling,
        tags=dict(da.attrs) if da.attrs else None,
    )
    with writer:
        for i in range(n):
            writer.write(np.asarray(da3.isel({da3.dims[0]: i}).values), band=i + 1)
    return Path(path)
