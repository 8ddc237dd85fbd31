"""The ``wildfirespreadts`` reader: fires of WildfireSpreadTS (Gerard et al., NeurIPS 2023).

The data set (607 US fires, 2018–2021, ~375 m cells in the fire's UTM zone) comes in two layouts,
both read here, lazily with Dask::

    GeoTIFF   ROOT/{year}/{fire_id}/{YYYY-MM-DD}.tif   one 23-band GeoTIFF per fire per day
    HDF5      ROOT/{year}/{fire_id}.hdf5              dataset ``data`` (T, 23, H, W) with attributes
                                                       ``year``, ``fire_name``, ``img_dates``, ``lnglat``

Each fire becomes one FireEvent of daily steps (:data:`BANDS` lists the 23 bands):

- ``fire`` (active kind, attribute ``fire_kind: active``): band 23, the VIIRS active-fire detection
  time (``hhmm`` in the GeoTIFFs, NaN where none; the published HDF5 conversion stores the hour,
  0 where none), binarised as the published code does: ``nan_to_num(value) > 0``;
- ``static``: slope, aspect as ``aspect_sin``/``aspect_cos``, elevation and land cover (categorical,
  the 17 IGBP classes of MODIS MCD12Q1 ``LC_Type1``), taken from the first day;
- ``dynamic (time, dband, y, x)``: every other band, angles (wind direction, forecast wind
  direction) as sin/cos pairs, the detection hour as ``active_fire_hour`` (0 where none); forecast
  bands of days before 2015-07-01 (no GFS forecast: zeros in the files) and of 18-band files
  (forecasts absent) are NaN;
- ``wind_u``/``wind_v (time, y, x)``: from the gridMET wind speed and direction (the direction
  the wind blows from); NaN cells take the frame's mean wind;
- ``valid``: cells where every static band has a value.

The GeoTIFFs carry their CRS and transform. The HDF5 conversion drops them (it keeps only the
image centre ``lnglat``): such events have no CRS (attribute ``crs_status``), a local 375 m grid,
and georeferenced outputs refuse them (:func:`emberxr.schema.require_crs`).

A root is indexed by :func:`index_fires` (the catalog hooks :meth:`WildfireSpreadTSReader.list_events`,
:meth:`~WildfireSpreadTSReader.event_groups` and :meth:`~WildfireSpreadTSReader.open_catalog_event`
use it): the same fire id in two places (two years, or both layouts) is an error naming both paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ReaderError
from ..schema import CATEGORICAL, CONTINUOUS, CRS_STATUS, make_event
from .assemble import attach_dynamic, local_grid, sin_cos, stack, wind_components
from .base import FireReader

__all__ = [
    "BANDS",
    "DYNAMIC_BANDS",
    "FORECAST_START",
    "STATIC_BANDS",
    "WSTSBand",
    "WildfireSpreadTSReader",
    "index_fires",
    "open_fire",
]

CELL_SIZE_M = 375.0
#: first day with GFS 0.25° forecasts; earlier forecast bands hold zeros, read as missing (NaN)
FORECAST_START = np.datetime64("2015-07-01")
_DATE_TIF = re.compile(r"^(\d{4}-\d{2}-\d{2})\.tif$")
_YEAR = re.compile(r"^\d{4}$")
_H5_SUFFIXES = (".hdf5", ".h5")


@dataclass(frozen=True)
class WSTSBand:
    """One band of the published 23-band stack.

    Attributes
    ----------
    name
        emberxr's name (angles become ``<name>_sin``/``<name>_cos``).
    description
        The band name the published export writes (Earth Engine band names).
    role
        ``dynamic``, ``static`` or ``fire``.
    unit
        Unit of the stored values.
    angle
        Degrees: turned into a sin/cos pair.
    forecast
        A GFS forecast band (missing before :data:`FORECAST_START`).
    aliases
        Other names the band goes by (the paper's feature names), for the description check.
    """

    name: str
    description: str
    role: str
    unit: str
    angle: bool = False
    forecast: bool = False
    aliases: tuple[str, ...] = ()


#: the 23 bands of a WildfireSpreadTS GeoTIFF, in file order
BANDS: tuple[WSTSBand, ...] = (
    WSTSBand("M11", "M11", "dynamic", "reflectance", aliases=("VIIRS band M11",)),
    WSTSBand("I2", "I2", "dynamic", "reflectance", aliases=("VIIRS band I2",)),
    WSTSBand("I1", "I1", "dynamic", "reflectance", aliases=("VIIRS band I1",)),
    WSTSBand("NDVI", "NDVI_last", "dynamic", "index x 1e4"),
    WSTSBand("EVI2", "EVI2_last", "dynamic", "index x 1e4"),
    WSTSBand("total_precipitation", "total precipitation", "dynamic", "mm"),
    WSTSBand("wind_speed", "wind speed", "dynamic", "m/s"),
    WSTSBand(
        "wind_direction", "wind direction", "dynamic", "degrees (from, clockwise from north)", angle=True
    ),
    WSTSBand("min_temperature", "minimum temperature", "dynamic", "K"),
    WSTSBand("max_temperature", "maximum temperature", "dynamic", "K"),
    WSTSBand("energy_release_component", "energy release component", "dynamic", "index"),
    WSTSBand("specific_humidity", "specific humidity", "dynamic", "kg/kg"),
    WSTSBand("slope", "slope", "static", "degrees"),
    WSTSBand("aspect", "aspect", "static", "degrees", angle=True),
    WSTSBand("elevation", "elevation", "static", "m"),
    WSTSBand("pdsi", "pdsi", "dynamic", "index"),
    WSTSBand("landcover", "LC_Type1", "static", "IGBP class 1-17", aliases=("Landcover_Type1",)),
    WSTSBand(
        "forecast_total_precipitation",
        "forecast total precipitation",
        "dynamic",
        "mm",
        forecast=True,
        aliases=("total_precipitation_surface_last", "total_precipitation_surface_sum"),
    ),
    WSTSBand("forecast_wind_speed", "forecast wind speed", "dynamic", "m/s", forecast=True),
    WSTSBand(
        "forecast_wind_direction",
        "forecast wind direction",
        "dynamic",
        "degrees (atan2(v, u): towards, counter-clockwise from east)",
        angle=True,
        forecast=True,
    ),
    WSTSBand("forecast_temperature", "forecast temperature", "dynamic", "degC", forecast=True),
    WSTSBand("forecast_specific_humidity", "forecast specific humidity", "dynamic", "kg/kg", forecast=True),
    WSTSBand("active_fire", "active fire", "fire", "VIIRS detection time hhmm (NaN = none)"),
)
_BY_NAME = {b.name: i for i, b in enumerate(BANDS)}
#: an older 18-band layout: the five forecast bands absent, active fire last
_LAYOUT_18 = tuple(i for i, b in enumerate(BANDS) if not b.forecast)


def _expand(b: WSTSBand) -> list[str]:
    return [f"{b.name}_sin", f"{b.name}_cos"] if b.angle else [b.name]


#: static bands of the events, in order (land cover is categorical)
STATIC_BANDS: tuple[str, ...] = tuple(n for b in BANDS if b.role == "static" for n in _expand(b))
#: dynamic bands of the events, in order; ``active_fire_hour`` is the detection hour (0 = none)
DYNAMIC_BANDS: tuple[str, ...] = (
    *(n for b in BANDS if b.role == "dynamic" for n in _expand(b)),
    "active_fire_hour",
)
IGBP_CLASSES = (
    "evergreen needleleaf forests",
    "evergreen broadleaf forests",
    "deciduous needleleaf forests",
    "deciduous broadleaf forests",
    "mixed forests",
    "closed shrublands",
    "open shrublands",
    "woody savannas",
    "savannas",
    "grasslands",
    "permanent wetlands",
    "croplands",
    "urban and built-up lands",
    "cropland/natural vegetation mosaics",
    "permanent snow and ice",
    "barren",
    "water bodies",
)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def _layout(n_bands: int, where: str) -> tuple[int, ...]:
    """File band index of each of :data:`BANDS` (-1 where absent) for a file of ``n_bands``."""
    if n_bands == len(BANDS):
        return tuple(range(len(BANDS)))
    if n_bands == len(_LAYOUT_18):
        pos = {src: k for k, src in enumerate(_LAYOUT_18)}
        return tuple(pos.get(i, -1) for i in range(len(BANDS)))
    raise ReaderError(
        f"{where} has {n_bands} bands; a WildfireSpreadTS file has 23 (or 18 in older conversions "
        "without the forecast bands). Fix: point the reader at the published files."
    )


# -- the index of a root ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FireEntry:
    """One fire of a root: its id, year, path and layout (``geotiff`` or ``hdf5``)."""

    event_id: str
    year: int
    path: Path
    layout: str


def _entries_of_year(year_dir: Path, layout: str) -> list[FireEntry]:
    out = []
    year = int(year_dir.name)
    for e in sorted(year_dir.iterdir()):
        if e.name.startswith("."):
            continue
        if e.is_dir() and layout in ("auto", "geotiff"):
            out.append(FireEntry(e.name, year, e, "geotiff"))
        elif e.is_file() and e.suffix.lower() in _H5_SUFFIXES and layout in ("auto", "hdf5"):
            out.append(FireEntry(e.stem, year, e, "hdf5"))
    return out


def index_fires(root: str | os.PathLike, layout: str = "auto") -> list[FireEntry]:
    """Every fire under ``root`` (``{year}/{fire_id}/`` folders and/or ``{year}/{fire_id}.hdf5``
    files), by year then id.

    Parameters
    ----------
    root
        The data set's root (the folder holding ``2018/``, ``2019/`` ...), or one year folder.
    layout
        ``auto`` (both), ``geotiff`` or ``hdf5``.

    Raises
    ------
    ReaderError
        No year folder, an unknown layout, or the same fire id twice (the message names both
        paths: a fire listed in two years, or converted to HDF5 next to its GeoTIFFs).
    """
    if layout not in ("auto", "geotiff", "hdf5"):
        raise ReaderError(f"layout={layout!r} is unknown. Fix: use 'auto', 'geotiff' or 'hdf5'.")
    root = Path(root)
    if not root.is_dir():
        raise ReaderError(f"{str(root)!r} is not a folder. Fix: point at the WildfireSpreadTS root.")
    years = [root] if _YEAR.match(root.name) else sorted(p for p in root.iterdir() if _YEAR.match(p.name))
    years = [y for y in years if y.is_dir()]
    if not years:
        raise ReaderError(
            f"{str(root)!r} holds no year folder (2018/, 2019/ ...). Fix: point at the WildfireSpreadTS "
            "root (the folder that holds one folder per year)."
        )
    seen: dict[str, FireEntry] = {}
    dups: list[str] = []
    out: list[FireEntry] = []
    for y in years:
        for entry in _entries_of_year(y, layout):
            if entry.event_id in seen:
                dups.append(f"{entry.event_id!r} at {seen[entry.event_id].path} and {entry.path}")
                continue
            seen[entry.event_id] = entry
            out.append(entry)
    if dups:
        shown = "; ".join(dups[:10]) + (f"; ... ({len(dups)} in all)" if len(dups) > 10 else "")
        raise ReaderError(
            f"duplicated fire id(s) under {str(root)!r}: {shown}. Each fire must be counted once. Fix: "
            "remove the copy (a fire in two years, or GeoTIFFs and their HDF5 conversion side by side: "
            "keep one layout, or pass layout='geotiff' / layout='hdf5' in reader_options)."
        )
    return out


# -- opening one fire -----------------------------------------------------------------------------
def open_fire(
    path: str | os.PathLike, *, check_descriptions: bool = True, event_id: str | None = None
) -> xr.Dataset:
    """Read one fire (a folder of daily GeoTIFFs or an HDF5 file) into a lazy FireEvent.

    Parameters
    ----------
    path
        ``{year}/{fire_id}/`` folder or ``{year}/{fire_id}.hdf5`` file.
    check_descriptions
        Refuse GeoTIFFs whose band descriptions name other variables than :data:`BANDS` at the
        same positions (catches files of another band order; turn off for renamed exports).
    event_id
        The id to give the event (default: the folder name or file stem).

    Raises
    ------
    ReaderError
        Files that are not WildfireSpreadTS fires (names, band counts, grids that differ between
        days, a geographic CRS).
    """
    p = Path(path)
    if p.is_dir():
        return _open_geotiff(p, check_descriptions, event_id)
    if p.is_file() and p.suffix.lower() in _H5_SUFFIXES:
        return _open_hdf5(p, event_id)
    raise ReaderError(
        f"{str(p)!r} is neither a fire folder of daily GeoTIFFs nor an .hdf5 fire. Fix: pass "
        "ROOT/{year}/{fire_id} or ROOT/{year}/{fire_id}.hdf5."
    )


def _daily_tifs(folder: Path) -> list[tuple[np.datetime64, Path]]:
    tifs = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".tif", ".tiff"))
    bad = [f.name for f in tifs if not _DATE_TIF.match(f.name)]
    if not tifs or bad:
        what = f"files not named YYYY-MM-DD.tif ({', '.join(bad[:5])})" if bad else "no .tif file"
        raise ReaderError(
            f"{str(folder)!r} has {what}. Fix: a WildfireSpreadTS fire folder holds one GeoTIFF per day "
            "named by its date, e.g. 2018-07-15.tif."
        )
    return [(np.datetime64(_DATE_TIF.match(f.name).group(1)), f) for f in tifs]  # type: ignore[union-attr]


def _open_geotiff(folder: Path, check_descriptions: bool, event_id: str | None) -> xr.Dataset:
    import rasterio

    days = _daily_tifs(folder)
    grids = []
    problems: list[str] = []
    for _, f in days:
        try:
            with rasterio.open(f) as src:
                grids.append(
                    (src.count, src.height, src.width, src.crs, tuple(src.transform)[:6], src.descriptions)
                )
        except rasterio.errors.RasterioError as exc:
            raise ReaderError(
                f"{str(f)!r} is not a readable GeoTIFF ({exc}). Fix: download it again."
            ) from exc
    count, h, w, crs, transform, descriptions = grids[0]
    for (_, f), g in zip(days[1:], grids[1:]):
        if g[:5] != grids[0][:5]:
            problems.append(
                f"{f.name}: {g[0]} bands {g[1]}x{g[2]} {g[3]} differs from {days[0][1].name}: "
                f"{count} bands {h}x{w} {crs}"
            )
    if problems:
        raise ReaderError(
            f"the days of fire {str(folder)!r} do not share one grid: "
            + "; ".join(problems[:5])
            + ". Fix: every daily GeoTIFF of a fire must have the same bands, size, CRS and transform."
        )
    if crs is None or crs.is_geographic:
        raise ReaderError(
            f"{str(days[0][1])!r} has {'no CRS' if crs is None else f'the geographic CRS {crs}'}; the "
            "published WildfireSpreadTS GeoTIFFs are in the fire's UTM zone. Fix: reproject the files to "
            "a projected CRS (gdalwarp -t_srs EPSG:326xx)."
        )
    layout = _layout(count, str(days[0][1]))
    if check_descriptions:
        _check_descriptions(days[0][1], descriptions, layout)
    import dask.array as dsa
    from affine import Affine

    stack_ = _TifStack([str(f) for _, f in days], (len(days), count, h, w))
    data = dsa.from_array(stack_, chunks=(1, count, h, w), meta=np.zeros((0, 0, 0, 0), np.float32))
    t = Affine(*transform)
    x = t.c + t.a * (np.arange(w) + 0.5)
    y = t.f + t.e * (np.arange(h) + 0.5)
    return _assemble(
        data,
        layout,
        hour_from_hhmm=True,
        times=np.array([d for d, _ in days], dtype="datetime64[ns]"),
        x=x,
        y=y,
        crs=crs,
        transform=t,
        event_id=event_id or folder.name,
        year=_year_of(folder.parent.name, days[0][0]),
        attrs={"layout": "geotiff", "path": str(folder)},
    )


def _check_descriptions(f: Path, descriptions: Sequence[str | None], layout: tuple[int, ...]) -> None:
    wrong = []
    for b, src in zip(BANDS, layout):
        if src < 0 or src >= len(descriptions) or not descriptions[src]:
            continue
        names = {_norm(n) for n in (b.name, b.description, *b.aliases)}
        if _norm(descriptions[src]) not in names:
            wrong.append(f"band {src + 1} is {descriptions[src]!r}, expected {b.description!r}")
    if wrong:
        raise ReaderError(
            f"{str(f)!r} does not have the WildfireSpreadTS band order: {'; '.join(wrong[:6])}. Fix: use "
            "the published files, or pass check_descriptions=False (reader_options) if your export only "
            "names the bands differently."
        )


def _year_of(name: str, first_day: np.datetime64) -> int:
    if _YEAR.match(name):
        return int(name)
    return int(str(first_day)[:4])


class _TifStack:
    """The daily GeoTIFFs of a fire as one lazily read (T, bands, H, W) float32 array.

    Each read opens the files it needs and reads only the bands and window asked for (so a
    Dask chunk of one band of one day reads just that band); picklable, no handle kept.
    """

    def __init__(self, paths: Sequence[str], shape: tuple[int, int, int, int]):
        self.paths, self.shape, self.dtype, self.ndim = list(paths), shape, np.dtype(np.float32), 4

    def __getitem__(self, key: Any) -> np.ndarray:
        import rasterio
        from rasterio.windows import Window

        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (4 - len(key))
        if not all(isinstance(k, slice) and k.step in (None, 1) for k in key):
            return self[(slice(None),) * 4][key]
        (t0, t1, _), (b0, b1, _), (y0, y1, _), (x0, x1, _) = (k.indices(n) for k, n in zip(key, self.shape))
        out = np.empty((max(t1 - t0, 0), max(b1 - b0, 0), max(y1 - y0, 0), max(x1 - x0, 0)), np.float32)
        if out.size == 0:
            return out
        window = Window(x0, y0, x1 - x0, y1 - y0)
        for i, t in enumerate(range(t0, t1)):
            with rasterio.open(self.paths[t]) as src:
                out[i] = src.read(list(range(b0 + 1, b1 + 1)), window=window, out_dtype=np.float32)
        return out


class _H5Array:
    """A lazily opened HDF5 dataset: each read opens the file (picklable, no handle kept)."""

    def __init__(self, path: Path, name: str, shape: tuple[int, ...], dtype: Any):
        self.path, self.name, self.shape, self.dtype = str(path), name, shape, np.dtype(dtype)
        self.ndim = len(shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as f:
            return np.asarray(f[self.name][key])


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _open_hdf5(path: Path, event_id: str | None) -> xr.Dataset:
    import dask.array as dsa
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "data" not in f or f["data"].ndim != 4:
                raise ReaderError(
                    f"{str(path)!r} has no 4-D dataset 'data' (T, 23, H, W). Fix: convert the GeoTIFFs "
                    "with the published CreateHDF5Dataset script, or read the GeoTIFF tree instead."
                )
            dset = f["data"]
            shape, dtype = tuple(dset.shape), dset.dtype
            attrs = {k: dset.attrs[k] for k in dset.attrs}
    except OSError as exc:
        raise ReaderError(f"{str(path)!r} is not a readable HDF5 file ({exc}).") from exc
    missing = [k for k in ("img_dates",) if k not in attrs]
    if missing:
        raise ReaderError(f"{str(path)!r}: dataset 'data' lacks the attribute(s) {missing}.")
    dates = [_text(d)[:10] for d in np.atleast_1d(attrs["img_dates"])]
    try:
        times = np.array(dates, dtype="datetime64[D]")
    except ValueError as exc:
        raise ReaderError(f"{str(path)!r}: img_dates {dates[:3]} are not YYYY-MM-DD dates ({exc}).") from exc
    if len(times) != shape[0]:
        raise ReaderError(f"{str(path)!r}: {len(times)} img_dates for {shape[0]} images in 'data'.")
    layout = _layout(shape[1], str(path))
    _, _, H, W = shape
    data = dsa.from_array(
        _H5Array(path, "data", shape, dtype), chunks=(1, shape[1], H, W), meta=np.zeros((0,) * 4, dtype)
    )
    x, y, transform = local_grid(H, W, CELL_SIZE_M)
    lnglat = [float(v) for v in np.atleast_1d(attrs.get("lnglat", []))]
    extra = {
        "layout": "hdf5",
        "path": str(path),
        CRS_STATUS: "none (the WildfireSpreadTS HDF5 conversion keeps no georeferencing; x/y are a local "
        "375 m grid, lnglat the image centre)",
    }
    if lnglat:
        extra["lnglat"] = lnglat
    year = int(attrs["year"]) if "year" in attrs else _year_of(path.parent.name, times[0])
    if "fire_name" in attrs:
        extra["fire_name"] = _text(attrs["fire_name"])
    return _assemble(
        data,
        layout,
        hour_from_hhmm=False,
        times=times.astype("datetime64[ns]"),
        x=x,
        y=y,
        crs=None,
        transform=transform,
        event_id=event_id or path.stem,
        year=year,
        attrs=extra,
    )


# -- from the band stack to the event -----------------------------------------------------------------
def _assemble(
    data: Any,
    layout: tuple[int, ...],
    *,
    hour_from_hhmm: bool,
    times: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    crs: Any,
    transform: Any,
    event_id: str,
    year: int,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The FireEvent of a (T, bands, H, W) stack (Dask) whose file band of each of :data:`BANDS`
    is ``layout[i]`` (-1: absent)."""
    import dask.array as dsa

    T, _, H, W = data.shape
    nan = dsa.full((T, H, W), np.nan, dtype=np.float32, chunks=(1, H, W))

    def band(name: str) -> Any:
        src = layout[_BY_NAME[name]]
        return nan if src < 0 else data[:, src].astype(np.float32)

    af = band("active_fire")
    af = dsa.where(dsa.isnan(af), 0.0, af)
    fire = (af > 0).astype(np.uint8)
    hour = dsa.floor(af / 100.0) if hour_from_hhmm else af
    no_forecast = times < FORECAST_START.astype("datetime64[ns]")
    static_layers: list[tuple[str, Any]] = []
    dynamic_layers: list[tuple[str, Any]] = []
    units: dict[str, str] = {"active_fire_hour": "hour of the last detection (0 = none)"}
    for b in BANDS:
        if b.role == "fire":
            continue
        a = band(b.name)
        if b.forecast and no_forecast.any():
            a = dsa.where(no_forecast[:, None, None], np.nan, a)
        if b.role == "static":
            a = a[0]
        parts = sin_cos(b.name, a) if b.angle else [(b.name, a)]
        for n, _ in parts:
            units[n] = "1" if b.angle else b.unit
        (static_layers if b.role == "static" else dynamic_layers).extend(parts)
    dynamic_layers.append(("active_fire_hour", hour.astype(np.float32)))
    static = stack([a for _, a in static_layers])
    valid = dsa.isfinite(static).all(axis=0)
    wind_u, wind_v, _ = wind_components(band("wind_speed"), band("wind_direction"))
    event = make_event(
        fire,
        static,
        wind_u,
        wind_v,
        times=times,
        x=x,
        y=y,
        crs=crs,
        band_names=[n for n, _ in static_layers],
        band_kinds={n: (CATEGORICAL if n == "landcover" else CONTINUOUS) for n, _ in static_layers},
        valid=valid,
        event_id=str(event_id),
        source="wildfirespreadts",
        attrs={
            "time_step_hours": 24.0,
            "fire_kind": "active",
            "year": int(year),
            "fire_id": str(event_id),
            "fire_definition": "VIIRS active fire detected that day (band 23 > 0)",
            "landcover_classes": "IGBP (MODIS MCD12Q1 LC_Type1): "
            + ", ".join(f"{i} {c}" for i, c in enumerate(IGBP_CLASSES, 1)),
            "wind_fill": "wind_u/wind_v cells without speed or direction take the frame's mean wind",
            "forecast_missing": "forecast bands before 2015-07-01 (and of 18-band files) are NaN",
            **attrs,
        },
        transform=transform,
    )
    return attach_dynamic(event, dynamic_layers, units)


# -- the reader ----------------------------------------------------------------------------------------
class WildfireSpreadTSReader(FireReader):
    """Read WildfireSpreadTS fires (daily GeoTIFF folders or their HDF5 conversion)."""

    name = "wildfirespreadts"
    description = (
        "WildfireSpreadTS fire: ROOT/{year}/{fire_id}/{YYYY-MM-DD}.tif or ROOT/{year}/{fire_id}.hdf5"
    )
    priority = 10

    def guess_can_open(self, path: str | os.PathLike) -> bool:
        """A folder of ``YYYY-MM-DD.tif`` files, or an HDF5 file with a 4-D ``data`` of 23/18 bands."""
        p = Path(path)
        if p.is_dir():
            tifs = [f.name for f in p.iterdir() if f.suffix.lower() in (".tif", ".tiff")]
            return bool(tifs) and all(_DATE_TIF.match(n) for n in tifs)
        if p.is_file() and p.suffix.lower() in _H5_SUFFIXES:
            try:
                import h5py

                with h5py.File(p, "r") as f:
                    d = f.get("data")
                    return d is not None and d.ndim == 4 and d.shape[1] in (len(BANDS), len(_LAYOUT_18))
            except (OSError, ImportError):
                return False
        return False

    def diagnose(self, path: str | os.PathLike) -> str | None:
        p = Path(path)
        if p.is_dir() and any(_YEAR.match(c.name) for c in p.iterdir()):
            return (
                "this looks like a WildfireSpreadTS root (year folders); open one fire "
                "(ROOT/2018/fire_...) or use the catalog 'wildfirespreadts' with WSTS_ROOT set"
            )
        return None

    def open(
        self, path: str | os.PathLike, *, check_descriptions: bool = True, layout: str = "auto"
    ) -> xr.Dataset:
        """Read one fire lazily (see :func:`open_fire`); ``layout`` is accepted for catalogs."""
        return open_fire(path, check_descriptions=check_descriptions)

    # catalog hooks -------------------------------------------------------------------------------
    def list_events(self, root: str | os.PathLike, *, layout: str = "auto", **_: Any) -> list[str]:
        """Fire ids of every year under ``root`` (duplicates are an error, see :func:`index_fires`)."""
        return [e.event_id for e in index_fires(root, layout)]

    def event_groups(self, root: str | os.PathLike, *, layout: str = "auto", **_: Any) -> dict[str, int]:
        """Fire id -> year, for catalogs that split by year (``split_groups``)."""
        return {e.event_id: e.year for e in index_fires(root, layout)}

    def open_catalog_event(
        self,
        root: str | os.PathLike,
        event_id: str,
        *,
        layout: str = "auto",
        check_descriptions: bool = True,
    ) -> xr.Dataset:
        """Open (and validate) fire ``event_id`` of the data set at ``root``."""
        from . import open_event

        entries = {e.event_id: e for e in index_fires(root, layout)}
        if event_id not in entries:
            import difflib

            close = difflib.get_close_matches(event_id, list(entries), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ReaderError(f"fire {event_id!r} is not under {str(root)!r}.{hint}")
        return open_event(entries[event_id].path, reader=self, check_descriptions=check_descriptions)
