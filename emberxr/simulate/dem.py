"""Real terrain for the wide generator: a DEM reprojected to a UTM grid, and windows of it.

Two sources:

- ``"jacksboro"``: the real DEM matplotlib ships (``jacksboro_fault_dem.npz``: Tennessee,
  344 x 403 cells of 3 arc-seconds, WGS 84 longitude/latitude, metres);
- a GeoTIFF path: any single-band elevation raster (metres) with a CRS.

Either is reprojected (bilinear, :func:`rioxarray` / GDAL) to a north-up grid of square cells of the
requested size in the WGS 84 UTM zone of the DEM's centre (EPSG:326xx north, 327xx south), aligned
to multiples of the cell size; cells outside the source footprint (or on its nodata) are NaN. An
event takes a ``size x size`` window without NaN. The reprojected grid is cached per process.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emberxr.errors import ReaderError

JACKSBORO = "jacksboro"
#: where the matplotlib sample DEM lies: cell-edge bounds in degrees (from the file's fields)
_JACKSBORO_WEST, _JACKSBORO_NORTH, _JACKSBORO_STEP = -84.41375, 36.73291666666667, 0.0008333333333333334


@dataclass(frozen=True)
class UtmDem:
    """A DEM on a north-up UTM grid.

    Attributes
    ----------
    elevation
        (rows, cols) float64 metres, NaN outside the source's data.
    x0, y0
        Coordinates of the grid's north-west corner (metres).
    cell_size
        Cell edge in metres.
    crs
        ``"EPSG:326xx"`` or ``"EPSG:327xx"``.
    source
        ``"jacksboro"`` or the GeoTIFF's path.
    """

    elevation: np.ndarray
    x0: float
    y0: float
    cell_size: float
    crs: str
    source: str

    @property
    def shape(self) -> tuple[int, int]:
        """Grid shape ``(rows, cols)``."""
        return tuple(self.elevation.shape)  # type: ignore[return-value]


def utm_crs_for(lon: float, lat: float) -> str:
    """The WGS 84 UTM zone (``"EPSG:326zz"`` north / ``"EPSG:327zz"`` south) that holds a point.

    >>> utm_crs_for(-84.25, 36.6), utm_crs_for(151.2, -33.9)
    ('EPSG:32616', 'EPSG:32756')
    """
    zone = int(np.floor((float(lon) + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


@functools.lru_cache(maxsize=16)
def _sha256(path: str, stamp: tuple[int, int]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file (hex), to tie an event to the exact DEM it was cut from (cached while the
    file's size and modification time stay the same)."""
    name, stamp = _key(path)
    return _sha256(name, stamp)


def _jacksboro_raster() -> Any:
    """The matplotlib sample DEM as a CRS-tagged DataArray (EPSG:4326)."""
    import matplotlib.cbook as cbook
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr

    with cbook.get_sample_data("jacksboro_fault_dem.npz") as data:
        z = np.asarray(data["elevation"], dtype=np.float64)
    rows, cols = z.shape
    lon = _JACKSBORO_WEST + _JACKSBORO_STEP * (np.arange(cols) + 0.5)
    lat = _JACKSBORO_NORTH - _JACKSBORO_STEP * (np.arange(rows) + 0.5)
    da = xr.DataArray(z, dims=("y", "x"), coords={"y": lat, "x": lon}, name="elevation")
    return da.rio.write_crs("EPSG:4326").rio.write_nodata(np.nan)


def _read_geotiff(path: Path) -> Any:
    """A DEM GeoTIFF as a masked float64 DataArray, refused with a fix when it cannot serve."""
    import rioxarray

    if not path.is_file():
        raise ReaderError(
            f"DEM file {path} does not exist. Fix: pass the path of a GeoTIFF elevation raster."
        )
    try:
        da = rioxarray.open_rasterio(path, masked=True)
    except Exception as exc:  # rasterio raises several types for unreadable files
        raise ReaderError(
            f"DEM file {path} is not a readable raster ({type(exc).__name__}: {exc}). "
            "Fix: pass a GeoTIFF elevation raster (one band, metres, with a CRS)."
        ) from exc
    if da.sizes.get("band", 1) != 1:
        raise ReaderError(
            f"DEM file {path} has {da.sizes['band']} bands; a DEM has one (elevation in metres). "
            "Fix: extract the elevation band, e.g. `gdal_translate -b 1 in.tif dem.tif`."
        )
    if da.rio.crs is None:
        raise ReaderError(
            f"DEM file {path} has no CRS, so it cannot be placed on a UTM grid. Fix: assign the "
            "CRS it was made in, e.g. `gdal_edit.py -a_srs EPSG:4326 dem.tif` or "
            "`rio edit-info --crs EPSG:4326 dem.tif`."
        )
    da = da.squeeze("band", drop=True).astype(np.float64)
    if not np.isfinite(da.values).any():
        raise ReaderError(
            f"DEM file {path} holds no elevation values (every cell is nodata). "
            "Fix: pass a DEM with data, or check its nodata value."
        )
    return da


def _reproject(da: Any, cell_size: float, source: str) -> UtmDem:
    """Reproject a CRS-tagged DataArray to the UTM zone of its centre on an aligned grid."""
    from pyproj import Transformer
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin
    from rasterio.warp import transform_bounds

    left, bottom, right, top = da.rio.bounds()
    to_lonlat = Transformer.from_crs(da.rio.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform((left + right) / 2.0, (bottom + top) / 2.0)
    crs = utm_crs_for(lon, lat)
    w, s, e, n = transform_bounds(da.rio.crs, crs, left, bottom, right, top, densify_pts=21)
    x0 = np.floor(w / cell_size) * cell_size
    y0 = np.ceil(n / cell_size) * cell_size
    cols = int(np.ceil((e - x0) / cell_size))
    rows = int(np.ceil((y0 - s) / cell_size))
    out = da.rio.reproject(
        crs,
        shape=(rows, cols),
        transform=from_origin(x0, y0, cell_size, cell_size),
        resampling=Resampling.bilinear,
        nodata=np.nan,
    )
    z = np.asarray(out.values, dtype=np.float64)
    return UtmDem(elevation=z, x0=float(x0), y0=float(y0), cell_size=float(cell_size), crs=crs, source=source)


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _cached(source: str, cell_size: float, stamp: tuple[int, int]) -> UtmDem:
    da = _jacksboro_raster() if source == JACKSBORO else _read_geotiff(Path(source))
    return _reproject(da, cell_size, source)


def _key(source: str | Path) -> tuple[str, tuple[int, int]]:
    """The canonical source name and a stamp that changes when the file does."""
    if str(source) == JACKSBORO:
        return JACKSBORO, (0, 0)
    p = Path(source).expanduser().resolve()
    return str(p), ((p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else (0, 0))


def utm_dem(source: str | Path, cell_size: float) -> UtmDem:
    """The DEM ``source`` (``"jacksboro"`` or a GeoTIFF path) on a UTM grid of ``cell_size`` metres.

    Raises
    ------
    ReaderError
        The file is missing, unreadable, multi-band, has no CRS or no data.
    """
    name, stamp = _key(source)
    with _LOCK:  # generation threads share one reprojection
        return _cached(name, float(cell_size), stamp)


def _valid_windows(valid: np.ndarray, size: int) -> np.ndarray:
    """(rows - size + 1, cols - size + 1) boolean: windows whose cells are all valid."""
    c = np.pad(np.cumsum(np.cumsum(~valid, axis=0), axis=1), ((1, 0), (1, 0)))
    bad = c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]
    return bad == 0


@functools.lru_cache(maxsize=8)
def _starts(
    source: str, cell_size: float, size: int, stamp: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    dem = utm_dem(source, cell_size)
    if dem.shape[0] < size or dem.shape[1] < size:
        return np.zeros(0, int), np.zeros(0, int)
    rows, cols = np.nonzero(_valid_windows(np.isfinite(dem.elevation), size))
    return rows, cols


def _window_starts(source: str | Path, cell_size: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets of every gap-free ``size x size`` window of the DEM."""
    name, stamp = _key(source)
    return _starts(name, float(cell_size), int(size), stamp)


def check_dem(source: str | Path, size: int, cell_size: float) -> UtmDem:
    """Load ``source`` on its UTM grid and check that a ``size x size`` window fits in its data.

    Raises
    ------
    ReaderError
        The DEM cannot be read (see :func:`utm_dem`) or is too small for the domain.
    """
    dem = utm_dem(source, cell_size)
    rows, _cols = _window_starts(dem.source, cell_size, size)
    if len(rows) == 0:
        valid = np.isfinite(dem.elevation)
        span_r = int(valid.any(axis=1).sum())
        span_c = int(valid.any(axis=0).sum())
        raise ReaderError(
            f"DEM {source} is too small: on {cell_size:g} m cells in {dem.crs} its data spans "
            f"about {span_r} x {span_c} cells and holds no {size} x {size} window without gaps. "
            f"Fix: use a smaller --size, a larger --cell-size (the domain is {size * cell_size / 1000:g} km "
            "wide now), or a DEM that covers a larger area."
        )
    return dem


def draw_dem_window(
    rng: np.random.Generator, source: str | Path, size: int, cell_size: float
) -> dict[str, Any]:
    """Draw a gap-free ``size x size`` window of a DEM (parameters as plain JSON types)."""
    dem = check_dem(source, size, cell_size)
    rows, cols = _window_starts(dem.source, cell_size, size)
    k = int(rng.integers(0, len(rows)))
    out: dict[str, Any] = {"source": JACKSBORO if dem.source == JACKSBORO else "file", "crs": dem.crs,
                           "row": int(rows[k]), "col": int(cols[k])}  # fmt: skip
    if dem.source != JACKSBORO:
        out["path"] = dem.source
        out["sha256"] = file_sha256(dem.source)
    return out


def dem_window(window: dict[str, Any], size: int, cell_size: float) -> tuple[np.ndarray, float, float, str]:
    """The elevation of a drawn window and the coordinates of its north-west corner.

    Returns
    -------
    elevation, x0, y0, crs

    Raises
    ------
    ReaderError
        The window's GeoTIFF is missing or is not the file the window was drawn from.
    """
    source = JACKSBORO if window["source"] == JACKSBORO else str(window["path"])
    if window["source"] != JACKSBORO:
        p = Path(source)
        if not p.is_file() or file_sha256(p) != window["sha256"]:
            raise ReaderError(
                f"this event was cut from the DEM {source} (sha256 {window['sha256'][:12]}...), which "
                f"is {'missing' if not p.is_file() else 'a different file now'}. Fix: put the original "
                "DEM back at that path to regenerate the event."
            )
    dem = utm_dem(source, cell_size)
    r, c = int(window["row"]), int(window["col"])
    z = dem.elevation[r : r + size, c : c + size]
    if z.shape != (size, size) or not np.isfinite(z).all():
        raise ReaderError(
            f"the DEM window at row {r}, col {c} of {source} is not {size} x {size} cells of data"
        )
    return z.copy(), dem.x0 + c * dem.cell_size, dem.y0 - r * dem.cell_size, dem.crs
