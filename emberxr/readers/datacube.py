"""The ``datacube`` reader: fire events cut from zarr / NetCDF datacubes (Mesogeos, SeasFire style).

A datacube holds one variable per band on a shared ``(time, y, x)`` grid (``lat``/``lon`` are
accepted for ``y``/``x``); static variables may lack the time dimension. A catalog names what to
cut from it (``reader_options``, checked up front; every problem is listed at once)::

    reader: datacube
    path: ${MESOGEOS_ROOT}/mesogeos_cube.zarr          # a .zarr store or a .nc file
    reader_options:
      fire: {variable: burned_areas, threshold: 0, kind: cumulative}   # fire = value > threshold
      static: {dem: elevation, slope: slope, aspect: aspect, lc_forest: lc_forest}
      dynamic: [t2m, rh, wind_speed, ndvi]             # a list, or {variable: band name}
      categorical: []                                   # static band names holding class codes
      angles: [aspect]                                  # degrees -> <band>_sin / <band>_cos
      wind: {speed: wind_speed, direction: wind_direction}   # or {u: u10, v: v10}, or null
      crs: EPSG:4326                                    # when the cube does not record it
      reproject: {crs: EPSG:3035, resolution: 1000}     # needed for geographic cubes
      static_time: window_start                         # or year_start, or a date
      events:
        - {id: evia-2021, time: [2021-08-03, 2021-08-13], x: [23.0, 23.5], y: [38.7, 39.1]}

Each event is the window ``time × y × x`` (coordinate ranges, inclusive, in the cube's own
coordinates). ``fire`` is binarised as ``value > threshold`` (NaN: 0 and outside ``valid``); with
``kind: cumulative`` (the default, the data model's "burned by that step") a cell stays burned
once it burned inside the window, with ``kind: active`` each step keeps its own mask (attribute
``fire_kind``). Static variables with a time dimension take the value at ``static_time``.
``wind_u``/``wind_v`` come from speed and the direction the wind blows from (or from u/v);
without wind variables they are 0 and the attribute ``wind_source`` says so.

Everything stays lazy (Dask): nothing is read until a value is needed. Geographic cubes
(Mesogeos is EPSG:4326) are reprojected per window to ``reproject.crs`` with nearest-neighbour
resampling (no value invented), lazily too. Angles keep their values (the small rotation between
grid north and true north of the new grid is not applied).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, Problem, ReaderError
from ..schema import CATEGORICAL, CONTINUOUS, make_event
from .assemble import attach_dynamic, fill_frame_mean, sin_cos, stack, wind_components
from .base import FireReader

__all__ = ["DatacubeOptions", "DatacubeReader", "open_cube", "open_window"]


# -- options ----------------------------------------------------------------------------------------
class _Opt(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FireSpec(_Opt):
    """Which variable is the fire mask and how it is binarised."""

    variable: str
    threshold: float = 0.0
    kind: Literal["cumulative", "active"] = "cumulative"


class WindSpec(_Opt):
    """Wind from speed + direction (blowing from, degrees) or from u/v components (m/s)."""

    speed: str | None = None
    direction: str | None = None
    u: str | None = None
    v: str | None = None


class ReprojectSpec(_Opt):
    """Target grid of geographic cubes."""

    crs: str
    resolution: float = Field(gt=0)


class EventWindow(_Opt):
    """One event: an id and coordinate ranges (inclusive) in time, y and x."""

    id: str
    time: tuple[str, str]
    x: tuple[float, float]
    y: tuple[float, float]


class DatacubeOptions(_Opt):
    """The ``reader_options`` of a datacube catalog (see the module docstring)."""

    fire: FireSpec
    static: dict[str, str] | list[str] = Field(default_factory=list)
    dynamic: dict[str, str] | list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    angles: list[str] = Field(default_factory=list)
    wind: WindSpec | None = None
    crs: str | None = None
    reproject: ReprojectSpec | None = None
    static_time: str = "window_start"
    events: list[EventWindow] = Field(default_factory=list)
    chunks: dict[str, int] | None = None


_NESTED: dict[str, type[BaseModel]] = {
    "fire": FireSpec,
    "wind": WindSpec,
    "reproject": ReprojectSpec,
    "events": EventWindow,
}


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the option model at ``loc`` accepts (for close matches of a misspelt key)."""
    names = [str(p) for p in loc if isinstance(p, str)]
    model = _NESTED.get(names[0]) if names else DatacubeOptions
    return list((model or DatacubeOptions).model_fields)


def parse_options(options: dict[str, Any]) -> DatacubeOptions:
    """Check ``reader_options``; every problem at once as a :class:`ConfigError`."""
    try:
        opts = DatacubeOptions.model_validate(options)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "reader_options"
            if err["type"] == "extra_forbidden":
                known = _known_keys(err["loc"][:-1])
                close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                fix = f"{hint}known keys here: {', '.join(known)}"
            elif err["type"] == "missing":
                fix = "add it (see the datacube reader's documentation)"
            else:
                fix = f"{err['msg']}"
            problems.append(Problem(f"datacube option {where!r}: {err['msg']}", fix))
        raise ConfigError(problems, subject="datacube reader_options") from None
    problems = []
    w = opts.wind
    if w is not None and not ((w.speed and w.direction) or (w.u and w.v)):
        problems.append(
            Problem("wind needs speed + direction or u + v", "name both variables, or set wind: null")
        )
    ids = [e.id for e in opts.events]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        problems.append(Problem(f"event ids {dup} appear more than once", "give every window its own id"))
    if problems:
        raise ConfigError(problems, subject="datacube reader_options")
    return opts


def _mapping(spec: dict[str, str] | list[str]) -> dict[str, str]:
    return dict(spec) if isinstance(spec, dict) else {v: v for v in spec}


# -- the cube ---------------------------------------------------------------------------------------
_RENAME = {"lat": "y", "latitude": "y", "lon": "x", "longitude": "x"}


def open_cube(path: str | os.PathLike, chunks: dict[str, int] | None = None) -> xr.Dataset:
    """Open a zarr store or NetCDF file lazily with dims renamed to ``time, y, x``.

    Raises
    ------
    ReaderError
        The path is missing or not a datacube with ``time`` and ``y``/``x`` (or ``lat``/``lon``).
    """
    p = Path(path)
    if not p.exists():
        raise ReaderError(f"datacube {str(p)!r} does not exist. Fix: check the catalog's path.")
    try:
        if p.suffix in (".nc", ".nc4", ".h5", ".hdf5", ".cdf"):
            ds = xr.open_dataset(p, chunks=chunks or {}, engine="h5netcdf" if p.suffix != ".cdf" else None)
        else:
            ds = xr.open_zarr(p, chunks=chunks or {})
    except Exception as exc:  # the file cannot be opened: say which and why
        raise ReaderError(f"{str(p)!r} is not a readable zarr or NetCDF datacube ({exc}).") from exc
    ds = ds.rename({k: v for k, v in _RENAME.items() if k in ds.dims or k in ds.coords})
    missing = [d for d in ("time", "y", "x") if d not in ds.dims]
    if missing:
        raise ReaderError(
            f"{str(p)!r} lacks the dimension(s) {missing} (it has {list(ds.dims)}). Fix: a datacube has "
            "dims time, y (or lat) and x (or lon)."
        )
    return ds


def _cube_crs(ds: xr.Dataset, given: str | None) -> Any:
    from rasterio.crs import CRS

    if given:
        return CRS.from_user_input(given)
    try:
        import rioxarray  # noqa: F401

        if ds.rio.crs is not None:
            return ds.rio.crs
    except Exception:  # a malformed grid mapping: fall back to the attribute
        pass
    if ds.attrs.get("crs"):
        return CRS.from_user_input(ds.attrs["crs"])
    return None


def _range(coord: np.ndarray, lo: float, hi: float) -> slice:
    lo, hi = min(lo, hi), max(lo, hi)
    return slice(lo, hi) if coord.size < 2 or coord[1] > coord[0] else slice(hi, lo)


def open_window(
    cube: xr.Dataset, window: EventWindow, opts: DatacubeOptions, source: str = "datacube"
) -> xr.Dataset:
    """The lazy FireEvent of one window of an opened cube (:func:`open_cube`)."""
    names = {opts.fire.variable, *_mapping(opts.static), *_mapping(opts.dynamic)}
    if opts.wind is not None:
        names |= {n for n in (opts.wind.speed, opts.wind.direction, opts.wind.u, opts.wind.v) if n}
    missing = sorted(n for n in names if n not in cube.data_vars)
    if missing:
        raise ReaderError(
            f"the datacube has no variable(s) {', '.join(missing)} (it has {', '.join(sorted(map(str, cube.data_vars)))}). "
            "Fix: correct the variable names in reader_options."
        )
    t0, t1 = np.datetime64(window.time[0]), np.datetime64(window.time[1])
    sub = cube.sel(
        time=slice(t0, t1),
        y=_range(np.asarray(cube["y"].values), *window.y),
        x=_range(np.asarray(cube["x"].values), *window.x),
    )
    if min(sub.sizes["time"], sub.sizes["y"], sub.sizes["x"]) == 0:
        raise ReaderError(
            f"window {window.id!r} ({window.time}, y {window.y}, x {window.x}) selects no cell of the cube "
            f"(time {str(cube['time'].values[0])[:10]}..{str(cube['time'].values[-1])[:10]}, "
            f"y {float(cube['y'].min()):g}..{float(cube['y'].max()):g}, x {float(cube['x'].min()):g}.."
            f"{float(cube['x'].max()):g}). Fix: give ranges inside the cube, in its own coordinates."
        )
    if sub.sizes["y"] > 1 and sub["y"].values[1] > sub["y"].values[0]:
        sub = sub.isel(y=slice(None, None, -1))
    if sub.sizes["x"] > 1 and sub["x"].values[1] < sub["x"].values[0]:
        sub = sub.isel(x=slice(None, None, -1))
    crs = _cube_crs(cube, opts.crs)
    if crs is None:
        raise ReaderError(
            "the datacube records no CRS. Fix: set reader_options crs (e.g. 'EPSG:4326' for Mesogeos)."
        )
    static_at = _static_time(sub, cube, opts.static_time)

    def grid(name: str, need_time: bool) -> Any:
        da = cube[name] if "time" not in cube[name].dims else None
        if da is None:
            da = sub[name]
        else:
            da = da.sel(y=sub["y"], x=sub["x"])
        extra = [d for d in da.dims if d not in ("time", "y", "x")]
        if extra:
            raise ReaderError(
                f"variable {name!r} has dims {da.dims}; the reader takes (time, y, x) or (y, x)."
            )
        if need_time:
            if "time" not in da.dims:
                raise ReaderError(
                    f"variable {name!r} has no time dimension. Fix: list it under static, not dynamic/fire/wind."
                )
            return da.transpose("time", "y", "x").data.astype(np.float32)
        if "time" in da.dims:
            da = cube[name].sel(time=static_at, method="nearest").sel(y=sub["y"], x=sub["x"])
        return da.transpose("y", "x").data.astype(np.float32)

    raw = grid(opts.fire.variable, True)
    warp = _Warp.make(sub, crs, opts.reproject)
    raw = warp(raw)
    import dask.array as dsa

    raw = dsa.asarray(raw)
    burned = dsa.where(dsa.isnan(raw), False, raw > opts.fire.threshold)
    if opts.fire.kind == "cumulative":
        burned = burned.astype(np.int32).cumsum(axis=0) > 0
    fire = burned.astype(np.uint8)
    valid = dsa.isfinite(raw).all(axis=0)

    angles = set(opts.angles)
    static_layers: list[tuple[str, Any]] = []
    for var, band in _mapping(opts.static).items():
        a = warp(grid(var, False))
        static_layers += sin_cos(band, a) if var in angles or band in angles else [(band, a)]
    dynamic_layers: list[tuple[str, Any]] = []
    for var, band in _mapping(opts.dynamic).items():
        a = warp(grid(var, True))
        dynamic_layers += sin_cos(band, a) if var in angles or band in angles else [(band, a)]
    if static_layers:
        static = stack([a for _, a in static_layers])
        valid = valid & dsa.isfinite(static).all(axis=0)
    else:
        static = np.zeros((0, *warp.shape), np.float32)
    T = sub.sizes["time"]
    w = opts.wind
    if w is None:
        wind_u = wind_v = dsa.zeros((T, *warp.shape), np.float32)
        wind_source = "none: the cube names no wind variables, wind_u/wind_v are 0"
    elif w.u and w.v:
        wind_u = fill_frame_mean(warp(grid(w.u, True)))
        wind_v = fill_frame_mean(warp(grid(w.v, True)))
        wind_source = f"u/v from {w.u}/{w.v}; NaN cells take the frame's mean"
    else:
        wind_u, wind_v, _ = wind_components(warp(grid(w.speed, True)), warp(grid(w.direction, True)))  # type: ignore[arg-type]
        wind_source = f"speed {w.speed} and direction (from) {w.direction}; NaN cells take the frame's mean"
    times = np.asarray(sub["time"].values, dtype="datetime64[ns]")
    dt = float(np.median(np.diff(times)) / np.timedelta64(1, "h")) if times.size > 1 else 24.0
    event = make_event(
        fire,
        static,
        wind_u,
        wind_v,
        times=times,
        x=warp.x,
        y=warp.y,
        crs=warp.crs,
        transform=warp.transform,
        band_names=[n for n, _ in static_layers],
        band_kinds={n: (CATEGORICAL if n in opts.categorical else CONTINUOUS) for n, _ in static_layers},
        valid=valid,
        event_id=window.id,
        source=source,
        attrs={
            "time_step_hours": dt,
            "fire_kind": opts.fire.kind,
            "fire_definition": f"{opts.fire.variable} > {opts.fire.threshold:g}"
            + (" (cumulative inside the window)" if opts.fire.kind == "cumulative" else ""),
            "window_time": list(window.time),
            "window_x": list(window.x),
            "window_y": list(window.y),
            "wind_source": wind_source,
            **({"reprojected_from": str(crs)} if warp.reprojected else {}),
        },
    )
    return attach_dynamic(event, dynamic_layers)


def _static_time(sub: xr.Dataset, cube: xr.Dataset, spec: str) -> np.datetime64:
    start = np.datetime64(sub["time"].values[0], "D")
    if spec == "window_start":
        return start
    if spec == "year_start":
        return np.datetime64(f"{str(start)[:4]}-01-01")
    try:
        return np.datetime64(spec)
    except ValueError as exc:
        raise ConfigError(
            [
                Problem(
                    f"static_time {spec!r} is not understood",
                    "use window_start, year_start or a date (2021-01-01)",
                )
            ],
            subject="datacube reader_options",
        ) from exc


class _Warp:
    """The event grid of a window: the cube's own grid, or its reprojection (lazy, nearest)."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, crs: Any, transform: Any, shape: tuple[int, int], fn: Any
    ):
        self.x, self.y, self.crs, self.transform, self.shape, self._fn = x, y, crs, transform, shape, fn
        self.reprojected = fn is not None

    def __call__(self, a: Any) -> Any:
        return a if self._fn is None else self._fn(a)

    @classmethod
    def make(cls, sub: xr.Dataset, crs: Any, spec: ReprojectSpec | None) -> _Warp:
        from affine import Affine

        from ..schema import grid_transform

        x = np.asarray(sub["x"].values, np.float64)
        y = np.asarray(sub["y"].values, np.float64)
        src_t = grid_transform(x, y) if x.size > 1 or y.size > 1 else Affine.identity()
        if spec is None:
            if crs.is_geographic:
                raise ReaderError(
                    f"the datacube is in the geographic CRS {crs.to_string()}; FireEvents need a projected "
                    "grid in metres. Fix: add reader_options reproject: {crs: 'EPSG:3035', resolution: 1000} "
                    "(any projected CRS of the region and a cell size in its units)."
                )
            return cls(x, y, crs, src_t, (y.size, x.size), None)
        from rasterio.crs import CRS
        from rasterio.warp import calculate_default_transform

        dst_crs = CRS.from_user_input(spec.crs)
        h, w = y.size, x.size
        left, top = src_t.c, src_t.f
        right, bottom = left + src_t.a * w, top + src_t.e * h
        dst_t, dw, dh = calculate_default_transform(
            crs, dst_crs, w, h, left=left, bottom=bottom, right=right, top=top, resolution=spec.resolution
        )
        dx = dst_t.c + dst_t.a * (np.arange(dw) + 0.5)
        dy = dst_t.f + dst_t.e * (np.arange(dh) + 0.5)

        def fn(a: Any) -> Any:
            import dask
            import dask.array as dsa

            shape = (*a.shape[:-2], dh, dw)
            task = dask.delayed(_reproject, pure=True)(
                a, crs.to_wkt(), tuple(src_t)[:6], dst_crs.to_wkt(), tuple(dst_t)[:6], shape
            )
            return dsa.from_delayed(task, shape, dtype=np.float32)

        return cls(dx, dy, dst_crs, dst_t, (dh, dw), fn)


def _reproject(
    a: np.ndarray,
    src_crs: str,
    src_t: tuple[float, ...],
    dst_crs: str,
    dst_t: tuple[float, ...],
    shape: tuple[int, ...],
) -> np.ndarray:
    from affine import Affine
    from rasterio.warp import Resampling, reproject

    src = np.asarray(a, np.float32)
    out = np.full(shape, np.nan, np.float32)
    src3 = src.reshape(-1, *src.shape[-2:])
    out3 = out.reshape(-1, *shape[-2:])
    for i in range(src3.shape[0]):
        reproject(
            src3[i],
            out3[i],
            src_transform=Affine(*src_t),
            src_crs=src_crs,
            dst_transform=Affine(*dst_t),
            dst_crs=dst_crs,
            src_nodata=np.nan,
            dst_nodata=np.nan,
            resampling=Resampling.nearest,
        )
    return out


# -- the reader -------------------------------------------------------------------------------------
class DatacubeReader(FireReader):
    """Cut FireEvents from a zarr / NetCDF datacube by the windows a catalog names."""

    name = "datacube"
    description = (
        "zarr/NetCDF datacube (Mesogeos, SeasFire style): events are windows named in reader_options"
    )

    def guess_can_open(self, path: str | os.PathLike) -> bool:
        """Never guessed: a datacube needs its reader_options (fire variable, windows)."""
        return False

    def open(self, path: str | os.PathLike, *, event: str | None = None, **options: Any) -> xr.Dataset:
        """Open one window of the cube at ``path`` (``event``: its id; may be left out when
        ``events`` names one window). ``options`` are the catalog's ``reader_options``."""
        opts = parse_options(options)
        if not opts.events:
            raise ConfigError(
                [
                    Problem(
                        "no events (windows) are named",
                        "add events: [{id, time, x, y}, ...] to reader_options",
                    )
                ],
                subject="datacube reader_options",
            )
        by_id = {e.id: e for e in opts.events}
        if event is None:
            if len(by_id) > 1:
                raise ReaderError(
                    f"the options name {len(by_id)} windows; pick one with event=<id> ({', '.join(by_id)})."
                )
            event = next(iter(by_id))
        if event not in by_id:
            raise ReaderError(f"no window {event!r} in the options (windows: {', '.join(by_id)}).")
        cube = open_cube(path, opts.chunks)
        return open_window(cube, by_id[event], opts)

    def list_events(self, root: str | os.PathLike, **options: Any) -> list[str]:
        """The ids of the windows the options name."""
        return [e.id for e in parse_options(options).events]

    def open_catalog_event(self, root: str | os.PathLike, event_id: str, **options: Any) -> xr.Dataset:
        """Open (and validate) window ``event_id``."""
        from . import open_event

        return open_event(root, reader=self, event=event_id, **options)
