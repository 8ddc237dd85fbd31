"""The FireEvent data model: names, kinds and a builder.

A FireEvent is an :class:`xarray.Dataset` (see ``docs/data-model.md``)::

    coords   time (datetime64[ns]), y (float64, north-up: decreasing), x (float64),
             band (str), band_kind (band,) str, spatial_ref (CRS, as rioxarray writes it)
    fire          (time, y, x)  uint8    1 = burned by that time step (cumulative), 0 = not
    static        (band, y, x)  float32  terrain, fuel, canopy ... one named band each
    wind_u        (time,) or (time, y, x) float32  m/s, eastward component of the air motion
    wind_v        (time,) or (time, y, x) float32  m/s, northward component of the air motion
    valid         (y, x)        bool     validity footprint (False = outside the data)
    arrival_time  (y, x)        float32  hours since time[0]; NaN = never burned (optional)

    attrs    event_id (str), source (str), time_step_hours (float), plus reader/simulator metadata;
             crs_status (str) on events without a CRS (see :func:`is_georeferenced`)

Wind is stored as the vector the air moves *towards* (u east, v north), so "wind from the west"
is u > 0. Readers that receive speed/direction convert with :func:`wind_uv_from_speed_dir`.
A collection of events is an :class:`xarray.DataTree` with one child group per event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

FIRE = "fire"
STATIC = "static"
WIND_U = "wind_u"
WIND_V = "wind_v"
VALID = "valid"
ARRIVAL = "arrival_time"
BAND = "band"
BAND_KIND = "band_kind"

CONTINUOUS = "continuous"
BINARY = "binary"
CATEGORICAL = "categorical"
BAND_KINDS = (CONTINUOUS, BINARY, CATEGORICAL)

#: attribute of an event that has no CRS, saying why (e.g. "none (NDWS tiles are not
#: georeferenced)"); its x/y are then cell centres of a local grid in metres
CRS_STATUS = "crs_status"

REQUIRED_VARS = (FIRE, STATIC, WIND_U, WIND_V, VALID)


def wind_uv_from_speed_dir(speed: Any, direction_from_deg: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert meteorological wind (speed, direction it blows *from*, degrees clockwise from
    north) to the (u, v) vector the air moves towards.

    >>> u, v = wind_uv_from_speed_dir(10.0, 270.0)  # from the west
    >>> round(float(u), 6), round(float(v), 6)
    (10.0, 0.0)
    """
    s = np.asarray(speed, dtype=np.float64)
    d = np.deg2rad(np.asarray(direction_from_deg, dtype=np.float64))
    return (-s * np.sin(d)).astype(np.float32), (-s * np.cos(d)).astype(np.float32)


def wind_speed_dir_from_uv(u: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`wind_uv_from_speed_dir`: (speed, direction from, degrees)."""
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    speed = np.hypot(u, v)
    direction = (np.rad2deg(np.arctan2(-u, -v)) + 360.0) % 360.0
    return speed.astype(np.float32), direction.astype(np.float32)


def _is_lazy(a: Any) -> bool:
    """A Dask (or other lazily evaluated) array: keep it lazy, never ``np.asarray`` it."""
    return hasattr(a, "__dask_graph__")


def _array(a: Any, dtype: Any) -> Any:
    """``a`` as an array of ``dtype``; Dask arrays stay lazy."""
    return a.astype(dtype) if _is_lazy(a) else np.asarray(a, dtype=dtype)


def make_event(
    fire: Any,
    static: Any,
    wind_u: Any,
    wind_v: Any,
    *,
    times: Sequence[Any] | np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    crs: Any,
    band_names: Sequence[str] | None = None,
    band_kinds: Sequence[str] | Mapping[str, str] | None = None,
    valid: Any = None,
    arrival_time: Any = None,
    event_id: str = "event",
    source: str = "memory",
    attrs: Mapping[str, Any] | None = None,
    transform: Any = None,
) -> xr.Dataset:
    """Assemble a FireEvent Dataset from plain arrays.

    Arrays may be NumPy or Dask arrays; Dask arrays stay lazy (nothing is computed here), so a
    reader can build an event from files of any size and let :func:`emberxr.validate` or the
    user decide when to read the pixels.

    Parameters
    ----------
    fire
        (T, H, W) binary burned-by-time masks.
    static
        (C, H, W) array with ``band_names``, or a mapping band name → (H, W) array.
    wind_u, wind_v
        (T,) series or (T, H, W) gridded wind, m/s towards east / north.
    times
        T time stamps (anything ``numpy.datetime64`` accepts).
    x, y
        Cell-centre coordinates in the CRS units; ``y`` decreasing for north-up rasters.
    crs
        Anything rioxarray's ``write_crs`` accepts (EPSG code, WKT, ``rasterio.crs.CRS``). None
        for sources without georeferencing: then ``attrs`` must hold :data:`CRS_STATUS` saying
        why, x/y are a local grid in metres, and every georeferenced output refuses the event
        (:func:`require_crs`).
    band_kinds
        One of ``continuous | binary | categorical`` per band (default: continuous).
    valid
        (H, W) validity footprint (default: all valid).
    arrival_time
        (H, W) hours since ``times[0]``, NaN where never burned.
    transform
        The grid's ``affine.Affine`` (e.g. a GeoTIFF's). Needed when the grid is one cell wide
        along both axes (the cell size cannot be derived from ``x``/``y``); otherwise derived
        from ``x``/``y`` (:func:`grid_transform`) and, when given, checked against them.

    Returns
    -------
    xarray.Dataset
        The event, not yet validated (call :func:`emberxr.validate`).

    Raises
    ------
    EventValidationError
        Arrays whose shapes do not fit ``fire``, or a grid whose transform cannot be known.
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    if isinstance(static, Mapping):
        band_names = list(static)
        layers = [static[b] for b in band_names]
        if any(_is_lazy(a) for a in layers):
            import dask.array as dsa

            static = dsa.stack([dsa.asarray(a) for a in layers])
        else:
            static = np.stack([np.asarray(a) for a in layers])
    static = _array(static, np.float32)
    if band_names is None:
        band_names = [f"band{i}" for i in range(static.shape[0])]
    band_names = [str(b) for b in band_names]
    if band_kinds is None:
        kinds = [CONTINUOUS] * len(band_names)
    elif isinstance(band_kinds, Mapping):
        kinds = [band_kinds.get(b, CONTINUOUS) for b in band_names]
    else:
        kinds = list(band_kinds)
    if not _is_lazy(fire):
        fire = np.asarray(fire)
    _check_shapes(fire, static, wind_u, wind_v, times, x, y, band_names, kinds, valid, arrival_time)
    transform = _event_transform(x, y, transform)
    H, W = fire.shape[-2:]
    if valid is None:
        valid = np.ones((H, W), dtype=bool)
    if fire.dtype.kind in "biu":
        fire = fire.astype(np.uint8)
    elif not _is_lazy(fire) and np.isfinite(fire).all():
        fire = fire.astype(np.uint8)
    # float fire with NaN (or lazy float fire) stays float: validate() reports NaN / non-binary values

    def wind_var(a: Any) -> tuple[tuple[str, ...], Any]:
        a = _array(a, np.float32)
        return (("time",) if a.ndim == 1 else ("time", "y", "x")), a

    data_vars: dict[str, Any] = {
        FIRE: (("time", "y", "x"), fire),
        STATIC: ((BAND, "y", "x"), static),
        WIND_U: wind_var(wind_u),
        WIND_V: wind_var(wind_v),
        VALID: (("y", "x"), _array(valid, bool)),
    }
    if arrival_time is not None:
        data_vars[ARRIVAL] = (("y", "x"), _array(arrival_time, np.float32))
    ds = xr.Dataset(
        data_vars,
        coords={
            "time": np.asarray(times, dtype="datetime64[ns]"),
            "y": np.asarray(y, dtype=np.float64),
            "x": np.asarray(x, dtype=np.float64),
            BAND: np.asarray(band_names, dtype=str),
            BAND_KIND: (BAND, np.asarray(kinds, dtype=str)),
        },
        attrs={"event_id": event_id, "source": source, **(dict(attrs) if attrs else {})},
    )
    if ARRIVAL in ds:
        ds[ARRIVAL].attrs.update(units="h", long_name="arrival time, hours since time[0]")
    ds[WIND_U].attrs.update(units="m s-1", long_name="eastward wind (towards)")
    ds[WIND_V].attrs.update(units="m s-1", long_name="northward wind (towards)")
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    elif not ds.attrs.get(CRS_STATUS):
        from .errors import EventValidationError, Problem

        raise EventValidationError(
            [
                Problem(
                    "crs=None but attrs has no 'crs_status' saying why the event has no CRS",
                    "pass the CRS of x/y, or attrs={'crs_status': 'none (<why>)'} for a source "
                    "without georeferencing",
                )
            ],
            "make_event",
        )
    ds = ds.rio.write_transform(transform)
    if crs is None:  # also on the grid coordinate, so every variable taken out keeps the reason
        ds[ds.rio.grid_mapping].attrs[CRS_STATUS] = str(ds.attrs[CRS_STATUS])
    return ds


def is_georeferenced(obj: xr.Dataset | xr.DataArray) -> bool:
    """True when ``obj`` has a CRS (events without one carry :data:`CRS_STATUS` instead)."""
    import rioxarray  # noqa: F401

    return obj.rio.crs is not None


def require_crs(obj: xr.Dataset | xr.DataArray, what: str) -> None:
    """Refuse to make a georeferenced output ``what`` from ``obj`` when it has no CRS.

    Raises
    ------
    NotGeoreferencedError
        ``obj`` has no CRS; the message names ``what``, the event's ``crs_status`` when it has one,
        and how to proceed.
    """
    if is_georeferenced(obj):
        return
    from .errors import NotGeoreferencedError

    status = obj.attrs.get(CRS_STATUS)
    if not status and "spatial_ref" in obj.coords:
        status = obj["spatial_ref"].attrs.get(CRS_STATUS)
    eid = obj.attrs.get("event_id")
    who = f"event {eid!r}" if eid else "the data"
    why = f" (crs_status: {status})" if status else ""
    raise NotGeoreferencedError(
        f"cannot write {what}: {who} has no CRS{why}, so the file could not be placed on a map. "
        "Fix: keep the forecast as an array (fitted.predict returns one) or save it with "
        "xarray (to_netcdf / to_zarr); for GeoTIFFs use a georeferenced source (e.g. the "
        "WildfireSpreadTS GeoTIFF tree instead of its HDF5 conversion), or tag the array with "
        "da.rio.write_crs(...) if you know its CRS."
    )


def _event_transform(x: Any, y: Any, transform: Any) -> Any:
    """The transform of make_event's grid: given (and checked against x/y) or derived."""
    from .errors import EventValidationError, Problem

    if transform is None:
        try:
            return grid_transform(x, y)
        except ValueError as exc:
            raise EventValidationError(
                [Problem(str(exc), "pass make_event(..., transform=<affine.Affine of the grid>)")],
                "make_event",
            ) from exc
    from affine import Affine

    t = Affine(*tuple(transform)[:6])
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    want_x = t.c + t.a * (np.arange(xs.size) + 0.5)
    want_y = t.f + t.e * (np.arange(ys.size) + 0.5)
    tol = 1e-6 * max(abs(t.a), abs(t.e), 1.0)
    if (
        t.b
        or t.d
        or not (np.allclose(xs, want_x, atol=tol, rtol=0) and np.allclose(ys, want_y, atol=tol, rtol=0))
    ):
        raise EventValidationError(
            [
                Problem(
                    f"transform {tuple(t)[:6]} does not give the x/y cell centres passed",
                    "pass x = c + a * (col + 0.5), y = f + e * (row + 0.5) of a north-up transform",
                )
            ],
            "make_event",
        )
    return t


def grid_transform(x: Any, y: Any) -> Any:
    """The affine transform (``affine.Affine``) of a regular grid from its cell-centre coordinates.

    The spacing is taken from the first two cells of each axis. An axis one cell long takes the
    other axis's spacing (square cells, y decreasing north-up); a 1×1 grid has no spacing to
    take and raises ``ValueError`` (pass the transform instead, e.g. ``make_event(transform=)``).
    """
    from affine import Affine

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0 or y.size == 0:
        raise ValueError("grid_transform needs at least one cell along x and y")
    dx = float(x[1] - x[0]) if x.size >= 2 else None
    dy = float(y[1] - y[0]) if y.size >= 2 else None
    if dx is None and dy is None:
        raise ValueError("a 1×1 grid has no cell size: its transform cannot be derived from x/y")
    if dx is None:
        dx = abs(dy)  # type: ignore[arg-type]
    if dy is None:
        dy = -abs(dx)
    return Affine.translation(float(x[0]) - dx / 2, float(y[0]) - dy / 2) @ Affine.scale(dx, dy)


def _check_shapes(
    fire: Any,
    static: Any,
    wind_u: Any,
    wind_v: Any,
    times: Any,
    x: Any,
    y: Any,
    band_names: Sequence[str],
    kinds: Sequence[str],
    valid: Any,
    arrival_time: Any,
) -> None:
    """Raise one EventValidationError listing every array whose shape does not fit ``fire``."""
    from .errors import EventValidationError, Problem

    if fire.ndim != 3:
        raise EventValidationError(
            [Problem(f"fire has shape {fire.shape}", "pass fire as a (time, y, x) array of 0/1 masks")],
            "make_event",
        )
    T, H, W = fire.shape
    problems: list[Problem] = []

    def need(name: str, shape: tuple[int, ...], want: tuple[int, ...], fix: str) -> None:
        if shape != want:
            problems.append(Problem(f"{name} has shape {shape}, expected {want}", fix))

    if static.ndim != 3 or static.shape[1:] != (H, W):
        problems.append(
            Problem(
                f"static grid has shape {static.shape[1:] if static.ndim == 3 else static.shape}, "
                f"fire grid has shape {(H, W)}",
                "resample the static layers onto the fire grid",
            )
        )
    for name, w in (("wind_u", wind_u), ("wind_v", wind_v)):
        shape = np.shape(w)
        if shape not in ((T,), (T, H, W)):
            problems.append(
                Problem(
                    f"{name} has shape {shape} but fire has {T} time steps on a {H}×{W} grid",
                    f"give one value per time step: ({T},) or ({T}, {H}, {W})",
                )
            )
    need("times", np.shape(times), (T,), "one time stamp per fire frame")
    need("x", np.shape(x), (W,), "one x cell-centre coordinate per column")
    need("y", np.shape(y), (H,), "one y cell-centre coordinate per row")
    if static.ndim == 3 and len(band_names) != static.shape[0]:
        problems.append(
            Problem(
                f"{len(band_names)} band name(s) for {static.shape[0]} static band(s)", "name every band once"
            )
        )
    if len(kinds) != len(band_names):
        problems.append(
            Problem(f"{len(kinds)} band kind(s) for {len(band_names)} band(s)", "give one kind per band")
        )
    if valid is not None:
        need("valid", np.shape(valid), (H, W), "the footprint must be on the fire grid")
    if arrival_time is not None:
        need("arrival_time", np.shape(arrival_time), (H, W), "arrival_time must be on the fire grid")
    if problems:
        raise EventValidationError(problems, "make_event")


def static_band_kinds(event: xr.Dataset) -> dict[str, str]:
    """Map each static band name to its kind."""
    return dict(zip(event[BAND].values.tolist(), event[BAND_KIND].values.tolist(), strict=True))


def wind_series(event: xr.Dataset) -> np.ndarray:
    """The event's wind as a (T, 2) float32 array (u, v); gridded wind is averaged over space."""
    u, v = event[WIND_U], event[WIND_V]
    if "y" in u.dims:
        u = u.mean(("y", "x"))
        v = v.mean(("y", "x"))
    return np.stack([np.asarray(u.values, np.float32), np.asarray(v.values, np.float32)], axis=-1)
