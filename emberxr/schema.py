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
    dynamic       (time, dband, y, x) float32  gridded time-varying inputs (weather, NDVI,
                  forecasts), one named band each; NaN = missing (optional; coords dband,
                  dband_kind)

    attrs    event_id (str), source (str), time_step_hours (float), fire_kind (cumulative |
             active, optional: default cumulative), plus reader/simulator metadata;
             crs_status (str) on events without a CRS (see :func:`is_georeferenced`)

Wind is stored as the vector the air moves *towards* (u east, v north), so "wind from the west"
is u > 0. Readers that receive speed/direction convert with :func:`wind_uv_from_speed_dir`.
Other directions (wind direction among the dynamic bands, aspect as a static band pair) are stored
as vector pairs named by convention (:data:`VECTOR_SUFFIXES`, :func:`vector_pairs`): a compass
bearing ``θ`` as ``<name>_sin`` = sin θ (east component) and ``<name>_cos`` = cos θ (north
component), a vector as ``<name>_u`` (east) and ``<name>_v`` (north); augmentation rotates them
with the raster.
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
DYNAMIC = "dynamic"
BAND = "band"
BAND_KIND = "band_kind"
DBAND = "dband"
DBAND_KIND = "dband_kind"
FIRE_KIND = "fire_kind"

CONTINUOUS = "continuous"
BINARY = "binary"
CATEGORICAL = "categorical"
BAND_KINDS = (CONTINUOUS, BINARY, CATEGORICAL)

#: attribute of an event that has no CRS, saying why (e.g. "none (NDWS tiles are not
#: georeferenced)"); its x/y are then cell centres of a local grid in metres
CRS_STATUS = "crs_status"

REQUIRED_VARS = (FIRE, STATIC, WIND_U, WIND_V, VALID)

#: what ``fire`` holds (event attribute ``fire_kind``) and what a model predicts (``data.target``):
#: ``cumulative`` = burned by that time step (scars persist; the default), ``active`` = fire
#: detected at that time step only (e.g. satellite active-fire detections)
CUMULATIVE = "cumulative"
ACTIVE = "active"
FIRE_KINDS = (CUMULATIVE, ACTIVE)

#: name suffixes of band pairs that hold one direction as (east, north) components: a compass
#: bearing θ (clockwise from north) as ``<name>_sin`` = sin θ, ``<name>_cos`` = cos θ, or a vector
#: as ``<name>_u``, ``<name>_v``; flips and rotations transform them like the wind
VECTOR_SUFFIXES = (("_sin", "_cos"), ("_u", "_v"))


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


def vector_pairs(names: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs ``(east, north)`` of the bands that hold one direction (:data:`VECTOR_SUFFIXES`).

    ``["ndvi", "wind_dir_sin", "wind_dir_cos"]`` gives ``[(1, 2)]``. A ``_sin`` band without its
    ``_cos`` partner (or a ``_u`` without ``_v``, and the other way round) is not a pair; the
    validator reports it (:func:`unpaired_vector_bands`).
    """
    names = [str(n) for n in names]
    where = {n: i for i, n in enumerate(names)}
    out = []
    for east, north in VECTOR_SUFFIXES:
        for i, n in enumerate(names):
            if n.endswith(east) and len(n) > len(east):
                j = where.get(n[: -len(east)] + north)
                if j is not None:
                    out.append((i, j))
    return sorted(out)


def unpaired_vector_bands(names: Sequence[str]) -> list[str]:
    """Bands named like half of a vector pair (``x_sin`` without ``x_cos`` ...) whose partner is missing."""
    names = [str(n) for n in names]
    paired = {names[i] for p in vector_pairs(names) for i in p}
    out = []
    for suffixes in VECTOR_SUFFIXES:
        for n in names:
            for k, suf in enumerate(suffixes):
                if n.endswith(suf) and len(n) > len(suf) and n not in paired:
                    out.append(f"{n} (no {n[: -len(suf)] + suffixes[1 - k]})")
    return out


def fire_kind(event: xr.Dataset) -> str:
    """What the event's ``fire`` holds: attribute ``fire_kind``, default :data:`CUMULATIVE`."""
    return str(event.attrs.get(FIRE_KIND, CUMULATIVE))


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
    dynamic: Any = None,
    dynamic_bands: Sequence[str] | None = None,
    dynamic_kinds: Sequence[str] | Mapping[str, str] | None = None,
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
    dynamic
        Gridded time-varying inputs (daily weather, NDVI, forecasts): a (T, Cd, H, W) array with
        ``dynamic_bands``, or a mapping band name → (T, H, W) array. NaN marks missing values.
        Directions are stored as vector pairs (``<name>_sin`` / ``<name>_cos`` of a compass
        bearing, see :data:`VECTOR_SUFFIXES`). Default: no dynamic bands.
    dynamic_bands
        Names of the dynamic bands (default ``dband0, dband1 ...``).
    dynamic_kinds
        One of ``continuous | binary | categorical`` per dynamic band (default: continuous).
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

    static, band_names = _stacked(static, band_names, axis=0)
    static = _array(static, np.float32)
    if band_names is None:
        band_names = [f"band{i}" for i in range(static.shape[0])]
    band_names = [str(b) for b in band_names]
    kinds = _kinds(band_kinds, band_names)
    if not _is_lazy(fire):
        fire = np.asarray(fire)
    dkinds: list[str] = []
    if dynamic is not None:
        dynamic, dynamic_bands = _stacked(dynamic, dynamic_bands, axis=1)
        dynamic = _array(dynamic, np.float32)
        if dynamic_bands is None:
            dynamic_bands = [f"dband{i}" for i in range(dynamic.shape[1] if dynamic.ndim == 4 else 0)]
        dynamic_bands = [str(b) for b in dynamic_bands]
        dkinds = _kinds(dynamic_kinds, dynamic_bands)
    _check_shapes(fire, static, wind_u, wind_v, times, x, y, band_names, kinds, valid, arrival_time)
    if dynamic is not None:
        _check_dynamic_shape(fire, dynamic, dynamic_bands or [], dkinds)
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
    coords: dict[str, Any] = {
        "time": np.asarray(times, dtype="datetime64[ns]"),
        "y": np.asarray(y, dtype=np.float64),
        "x": np.asarray(x, dtype=np.float64),
        BAND: np.asarray(band_names, dtype=str),
        BAND_KIND: (BAND, np.asarray(kinds, dtype=str)),
    }
    if dynamic is not None:
        data_vars[DYNAMIC] = (("time", DBAND, "y", "x"), dynamic)
        coords[DBAND] = np.asarray(dynamic_bands, dtype=str)
        coords[DBAND_KIND] = (DBAND, np.asarray(dkinds, dtype=str))
    ds = xr.Dataset(
        data_vars,
        coords=coords,
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


def _stacked(bands: Any, names: Sequence[str] | None, axis: int) -> tuple[Any, Sequence[str] | None]:
    """A mapping name → layer stacked along ``axis`` (Dask layers stay lazy), with its names."""
    if not isinstance(bands, Mapping):
        return bands, names
    names = list(bands)
    layers = [bands[b] for b in names]
    if any(_is_lazy(a) for a in layers):
        import dask.array as dsa

        return dsa.stack([dsa.asarray(a) for a in layers], axis=axis), names
    if not layers:
        raise ValueError("an empty band mapping has no shape: pass a zero-band array instead")
    return np.stack([np.asarray(a) for a in layers], axis=axis), names


def _kinds(given: Sequence[str] | Mapping[str, str] | None, names: Sequence[str]) -> list[str]:
    if given is None:
        return [CONTINUOUS] * len(names)
    if isinstance(given, Mapping):
        return [given.get(b, CONTINUOUS) for b in names]
    return [str(k) for k in given]


def _check_dynamic_shape(fire: Any, dynamic: Any, names: Sequence[str], kinds: Sequence[str]) -> None:
    """Raise one EventValidationError when ``dynamic`` does not fit ``fire`` or its names/kinds."""
    from .errors import EventValidationError, Problem

    T, H, W = fire.shape
    problems: list[Problem] = []
    if dynamic.ndim != 4 or dynamic.shape[0] != T or dynamic.shape[2:] != (H, W):
        problems.append(
            Problem(
                f"dynamic has shape {tuple(dynamic.shape)} but fire has {T} time steps on a {H}×{W} grid",
                f"give dynamic as (time, band, y, x) = ({T}, Cd, {H}, {W}), or a mapping of (time, y, x) layers",
            )
        )
    elif len(names) != dynamic.shape[1]:
        problems.append(
            Problem(
                f"{len(names)} dynamic band name(s) for {dynamic.shape[1]} dynamic band(s)",
                "name every dynamic band once",
            )
        )
    if len(kinds) != len(names):
        problems.append(
            Problem(
                f"{len(kinds)} dynamic band kind(s) for {len(names)} band(s)",
                "give one kind per dynamic band",
            )
        )
    if problems:
        raise EventValidationError(problems, "make_event")


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


def transform_of(obj: xr.Dataset | xr.DataArray) -> Any:
    """The affine transform (``affine.Affine``) of a dataset or DataArray on a ``(y, x)`` grid.

    From the cell centres (:func:`grid_transform`: no pass over the data, unlike rioxarray's
    ``rio.transform()``, which re-derives it on every call), except where the centres cannot
    describe the grid: its grid mapping stores a rotated ``GeoTransform``, or a side is one cell
    long (the centres do not give the cell size). Then the stored transform is used, through
    rioxarray. The owner of this choice for every output: forecasts, the GeoTIFF writer and the
    streamed prediction files.

    Raises
    ------
    ValueError
        A 1×1 grid without a stored transform (nothing gives its cell size).
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    x, y = obj.coords["x"].values, obj.coords["y"].values
    gm = obj.coords.get(obj.rio.grid_mapping)
    stored = np.fromstring(gm.attrs.get("GeoTransform", ""), sep=" ") if gm is not None else np.zeros(0)
    rotated = stored.size == 6 and (stored[2] != 0 or stored[4] != 0)
    if not rotated and x.size >= 2 and y.size >= 2:
        return grid_transform(x, y)
    try:
        return obj.rio.transform()
    except Exception:  # rioxarray could not derive one either: the centres' (or a clear ValueError)
        return grid_transform(x, y)


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


def dynamic_band_names(event: xr.Dataset) -> list[str]:
    """The event's dynamic band names in order (empty when it has no ``dynamic`` variable)."""
    if DYNAMIC not in event.variables or DBAND not in event.coords:
        return []
    return [str(b) for b in event[DBAND].values.tolist()]


def dynamic_band_kinds(event: xr.Dataset) -> dict[str, str]:
    """Map each dynamic band name to its kind (``dband_kind``; continuous when absent)."""
    names = dynamic_band_names(event)
    if DBAND_KIND not in event.coords:
        return dict.fromkeys(names, CONTINUOUS)
    return dict(zip(names, [str(k) for k in np.asarray(event[DBAND_KIND].values).tolist()], strict=True))


def wind_series(event: xr.Dataset) -> np.ndarray:
    """The event's wind as a (T, 2) float32 array (u, v); gridded wind is averaged over space."""
    u, v = event[WIND_U], event[WIND_V]
    if "y" in u.dims:
        u = u.mean(("y", "x"))
        v = v.mean(("y", "x"))
    return np.stack([np.asarray(u.values, np.float32), np.asarray(v.values, np.float32)], axis=-1)
