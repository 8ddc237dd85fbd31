"""Check that a FireEvent follows the data model (``docs/data-model.md``).

:func:`validate` gathers *every* problem it finds and raises one
:class:`~emberxr.errors.EventValidationError` listing them all, each with a fix. Value checks
(binary fire, NaN, burned pixels) are counts over the pixels: a large lazy event opened from zarr
is read in slabs of whole chunk rows, one at a time (each chunk read once), and the counts are
added up, so it is validated without loading it whole into memory.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import xarray as xr

from .errors import EventValidationError, Problem
from .memory import release
from .schema import (
    ARRIVAL,
    BAND,
    BAND_KIND,
    BAND_KINDS,
    BINARY,
    CATEGORICAL,
    CONTINUOUS,
    CRS_STATUS,
    DBAND,
    DBAND_KIND,
    DYNAMIC,
    FIRE,
    FIRE_KIND,
    FIRE_KINDS,
    REQUIRED_VARS,
    STATIC,
    VALID,
    WIND_U,
    WIND_V,
    unpaired_vector_bands,
)

__all__ = ["event_problems", "validate"]

_SPATIAL_VARS = (STATIC, VALID, ARRIVAL, DYNAMIC)
#: lazy events smaller than this are loaded once for the value checks (Dask overhead dominates
#: tiny reductions)
_LOAD_BELOW_BYTES = 256 * 2**20
#: larger ones are checked in slabs of whole chunk rows of about this many bytes, one at a time
_SLAB_BYTES = 128 * 2**20


def validate(event: xr.Dataset) -> xr.Dataset:
    """Check a FireEvent and return it unchanged.

    Parameters
    ----------
    event
        The event to check (numpy- or Dask-backed).

    Returns
    -------
    xarray.Dataset
        ``event`` itself, so calls can be chained: ``ds = validate(open_raw(...))``.

    Raises
    ------
    EventValidationError
        With every problem found (missing CRS, grids that differ, non-binary or NaN fire,
        non-increasing time, wind of the wrong length, fewer than 2 steps, no burned pixel,
        unknown band kinds, NaN static values inside the footprint, a malformed ``dynamic``
        variable, ...), each with a fix.
    """
    problems = event_problems(event)
    if problems:
        subject = None
        if isinstance(event, xr.Dataset):
            subject = f"event_id={event.attrs.get('event_id', '?')!r}"
        raise EventValidationError(problems, subject=subject)
    return event


def event_problems(event: Any) -> list[Problem]:
    """Return the list of problems :func:`validate` would raise (empty when the event is valid)."""
    if not isinstance(event, xr.Dataset):
        return [
            Problem(
                f"expected an xarray.Dataset, got {type(event).__name__}",
                "build events with emberxr.make_event or open them with emberxr.open_event",
            )
        ]
    problems: list[Problem] = []
    missing = [v for v in REQUIRED_VARS if v not in event.variables]
    for v in missing:
        problems.append(Problem(f"variable {v!r} is missing", _MISSING_FIX[v]))
    problems += _structure_problems(event)
    problems += _value_problems(event)
    return problems


_MISSING_FIX = {
    FIRE: "add fire (time, y, x) with 0/1 burned-by-time masks",
    STATIC: "add static (band, y, x); use a zero-band array if there are no static layers",
    WIND_U: "add wind_u (time,) in m/s towards east (see schema.wind_uv_from_speed_dir)",
    WIND_V: "add wind_v (time,) in m/s towards north (see schema.wind_uv_from_speed_dir)",
    VALID: "add valid (y, x) bool footprint (all True if every pixel has data)",
}


# -- structure: dims, coordinates, CRS, grids ------------------------------------------------------
def _structure_problems(ev: xr.Dataset) -> list[Problem]:
    out: list[Problem] = []
    out += _time_problems(ev)
    out += _crs_problems(ev)
    if FIRE in ev.variables:
        fire = ev[FIRE]
        if fire.dims != ("time", "y", "x"):
            out.append(
                Problem(
                    f"fire has dims {fire.dims}, expected ('time', 'y', 'x')",
                    "rename/transposes dims: fire.transpose('time', 'y', 'x')",
                )
            )
    out += _axis_problems(ev)
    out += _grid_problems(ev)
    out += _wind_structure_problems(ev)
    out += _band_problems(ev)
    out += _dynamic_problems(ev)
    if FIRE_KIND in ev.attrs and ev.attrs[FIRE_KIND] not in FIRE_KINDS:
        out.append(
            Problem(
                f"attribute fire_kind is {ev.attrs[FIRE_KIND]!r}",
                f"use one of {', '.join(FIRE_KINDS)} (cumulative = burned by then, active = detected then)",
            )
        )
    if VALID in ev.variables and ev[VALID].dtype != bool:
        out.append(Problem(f"valid has dtype {ev[VALID].dtype}, expected bool", "use valid.astype(bool)"))
    if "event_id" not in ev.attrs:
        out.append(
            Problem("attribute 'event_id' is missing", "set event.attrs['event_id'] to a unique string id")
        )
    elif not isinstance(ev.attrs["event_id"], str) or not ev.attrs["event_id"]:
        out.append(
            Problem(f"event_id {ev.attrs['event_id']!r} is not a non-empty string", "use a string event id")
        )
    return out


def _time_problems(ev: xr.Dataset) -> list[Problem]:
    if "time" not in ev.dims:
        return [Problem("dimension 'time' is missing", "fire must have dims (time, y, x)")]
    out: list[Problem] = []
    n = ev.sizes["time"]
    if n < 2:
        out.append(
            Problem(
                f"the event has {n} time step(s); at least 2 are needed (history + next-step target)",
                "drop this event or add more fire frames",
            )
        )
    if "time" not in ev.coords:
        out.append(
            Problem("coordinate 'time' is missing", "assign real time stamps: event.assign_coords(time=...)")
        )
        return out
    t = ev["time"].values
    if not np.issubdtype(t.dtype, np.datetime64):
        out.append(
            Problem(
                f"time has dtype {t.dtype}, expected datetime64",
                "assign real time stamps, e.g. np.datetime64('2026-07-01T12:00') + np.arange(T) * np.timedelta64(1, 'h')",
            )
        )
        return out
    if np.isnat(t).any():
        out.append(Problem("time contains NaT", "give every time step a real time stamp"))
    elif n >= 2:
        bad = np.flatnonzero(np.diff(t) <= np.timedelta64(0, "ns"))
        if bad.size:
            out.append(
                Problem(
                    f"time is not strictly increasing (at index {', '.join(str(i + 1) for i in bad[:5])})",
                    "sort by time (event.sortby('time')) and drop duplicate time stamps",
                )
            )
    return out


def _crs_problems(ev: xr.Dataset) -> list[Problem]:
    import rioxarray  # noqa: F401

    try:
        crs = ev.rio.crs
    except Exception as exc:  # malformed spatial_ref
        return [Problem(f"the CRS cannot be read ({exc})", "write it again with event.rio.write_crs(...)")]
    if crs is None:
        if ev.attrs.get(CRS_STATUS):  # a source without georeferencing, saying so (NDWS tiles ...)
            return []
        return [
            Problem(
                "the event has no CRS (no spatial_ref coordinate with crs_wkt)",
                "tag it with event.rio.write_crs('EPSG:...') (the projected CRS of x/y); for a source "
                "without georeferencing set attrs['crs_status'] = 'none (<why>)'",
            )
        ]
    if crs.is_geographic:
        return [
            Problem(
                f"the CRS {crs.to_string()} is geographic; x/y must be projected (metres)",
                "reproject the rasters to a projected CRS such as the local UTM zone (rio.reproject)",
            )
        ]
    return []


def _regular(c: np.ndarray) -> bool:
    if c.size < 2:
        return True
    d = np.diff(c.astype(np.float64))
    return bool(np.allclose(d, d[0], rtol=1e-6, atol=1e-9 * max(1.0, abs(float(d[0])))) and d[0] != 0)


def _axis_problems(ev: xr.Dataset) -> list[Problem]:
    out: list[Problem] = []
    for ax in ("y", "x"):
        if ax not in ev.dims:
            out.append(Problem(f"dimension {ax!r} is missing", "spatial dims must be named y and x"))
            continue
        if ax not in ev.coords:
            out.append(
                Problem(f"coordinate {ax!r} is missing", f"assign cell-centre {ax} coordinates in CRS units")
            )
            continue
        c = np.asarray(ev[ax].values)
        if not _regular(c):
            out.append(
                Problem(
                    f"coordinate {ax!r} is not regularly spaced",
                    "resample onto a regular grid (rio.reproject)",
                )
            )
        elif c.size >= 2:
            step = float(c[1] - c[0])
            if ax == "y" and step > 0:
                out.append(
                    Problem(
                        "y increases (south-up raster); the data model is north-up",
                        "flip it: event.isel(y=slice(None, None, -1))",
                    )
                )
            if ax == "x" and step < 0:
                out.append(
                    Problem("x decreases; it must increase eastwards", "event.isel(x=slice(None, None, -1))")
                )
    return out


def _grid_of(da: xr.DataArray) -> tuple[tuple[str, str], tuple[int, int], tuple[float, ...] | None] | None:
    if da.ndim < 2:
        return None
    ydim, xdim = da.dims[-2], da.dims[-1]
    shape = (da.sizes[ydim], da.sizes[xdim])
    transform = None
    if ydim in da.coords and xdim in da.coords and min(shape) >= 2:
        yc = np.asarray(da[ydim].values, dtype=np.float64)
        xc = np.asarray(da[xdim].values, dtype=np.float64)
        dx, dy = xc[1] - xc[0], yc[1] - yc[0]
        transform = (dx, xc[0] - dx / 2, dy, yc[0] - dy / 2)
    return (ydim, xdim), shape, transform


def _grid_problems(ev: xr.Dataset) -> list[Problem]:
    if FIRE not in ev.variables or ev[FIRE].ndim != 3:
        return []
    ref = _grid_of(ev[FIRE])
    assert ref is not None
    out: list[Problem] = []
    for name in _SPATIAL_VARS:
        if name not in ev.variables:
            continue
        g = _grid_of(ev[name])
        if g is None:
            out.append(Problem(f"{name} has no spatial dims", f"{name} must end with dims (y, x)"))
            continue
        if g[1] != ref[1]:
            out.append(
                Problem(
                    f"{name} grid has shape {g[1]} but fire grid has shape {ref[1]}",
                    f"resample {name} onto the fire grid (rio.reproject_match) so both share y and x",
                )
            )
        elif g[0] != ("y", "x"):
            same = (
                g[2] is not None
                and ref[2] is not None
                and np.allclose(g[2], ref[2], rtol=0, atol=1e-3 * max(abs(ref[2][0]), abs(ref[2][2])))
            )
            what = "the same transform" if same else "a different transform"
            out.append(
                Problem(
                    f"{name} uses spatial dims {g[0]} (with {what}) instead of ('y', 'x')",
                    f"resample {name} onto the fire grid (rio.reproject_match) and name its dims y, x",
                )
            )
    # the transform written on spatial_ref must match the coordinates
    if "spatial_ref" in ev.coords and ref[2] is not None:
        gt = ev["spatial_ref"].attrs.get("GeoTransform")
        if gt:
            try:
                vals = [float(s) for s in str(gt).split()]
                c0, a, _b, f0, _d, e = vals
                got = (a, c0, e, f0)
                tol = 1e-6 * max(abs(ref[2][0]), abs(ref[2][2]), 1.0)
                if not np.allclose(got, ref[2], rtol=0, atol=tol):
                    out.append(
                        Problem(
                            f"spatial_ref GeoTransform {gt!r} does not match the x/y coordinates",
                            "rewrite it: event.rio.write_transform(event.rio.transform(recalc=True))",
                        )
                    )
            except ValueError:
                out.append(
                    Problem(
                        f"spatial_ref GeoTransform {gt!r} is malformed", "rewrite it with rio.write_transform"
                    )
                )
    return out


def _wind_structure_problems(ev: xr.Dataset) -> list[Problem]:
    out: list[Problem] = []
    nt = ev.sizes.get("time")
    for name in (WIND_U, WIND_V):
        if name not in ev.variables:
            continue
        w = ev[name]
        if w.dims not in (("time",), ("time", "y", "x")):
            length = w.shape[0] if w.ndim else 0
            msg = f"{name} has dims {w.dims}, expected ('time',) or ('time', 'y', 'x')"
            if nt is not None and length != nt:
                msg = f"{name} has {length} values along {w.dims[0] if w.ndim else '()'} but there are {nt} time steps"
            out.append(Problem(msg, "give one wind value per fire time step, on the time dimension"))
    if WIND_U in ev.variables and WIND_V in ev.variables and ev[WIND_U].dims != ev[WIND_V].dims:
        out.append(
            Problem(
                f"wind_u dims {ev[WIND_U].dims} differ from wind_v dims {ev[WIND_V].dims}",
                "store both components the same way (both series or both gridded)",
            )
        )
    return out


def _band_problems(ev: xr.Dataset) -> list[Problem]:
    if STATIC not in ev.variables:
        return []
    out: list[Problem] = []
    if ev[STATIC].dims[:1] != (BAND,) or ev[STATIC].ndim != 3:
        out.append(
            Problem(f"static has dims {ev[STATIC].dims}, expected ('band', 'y', 'x')", "transpose/rename it")
        )
        return out
    if BAND not in ev.coords:
        out.append(Problem("coordinate 'band' (band names) is missing", "assign_coords(band=[names...])"))
        return out
    names = [str(b) for b in ev[BAND].values.tolist()]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        out.append(Problem(f"duplicate band names {dup}", "give every static band a unique name"))
    if BAND_KIND not in ev.coords:
        out.append(
            Problem(
                "coordinate 'band_kind' is missing",
                f"assign_coords(band_kind=('band', [...])) with one of {', '.join(BAND_KINDS)} per band",
            )
        )
        return out
    kinds = [str(k) for k in np.asarray(ev[BAND_KIND].values).tolist()]
    bad = [(n, k) for n, k in zip(names, kinds) if k not in BAND_KINDS]
    if bad:
        listed = ", ".join(f"{n}={k!r}" for n, k in bad)
        out.append(Problem(f"unknown band kind(s): {listed}", f"use one of {', '.join(BAND_KINDS)}"))
    out += _unpaired_problems("static", names)
    return out


def _unpaired_problems(what: str, names: list[str]) -> list[Problem]:
    half = unpaired_vector_bands(names)
    if not half:
        return []
    return [
        Problem(
            f"{what} band(s) named like half of a direction pair: {', '.join(half)}",
            "store a direction as both <name>_sin and <name>_cos (or <name>_u and <name>_v), or rename "
            "the band so it does not end in _sin/_cos/_u/_v (augmentation rotates such pairs)",
        )
    ]


def _dynamic_problems(ev: xr.Dataset) -> list[Problem]:
    """Structure of the optional ``dynamic (time, dband, y, x)`` variable and its coordinates."""
    if DYNAMIC not in ev.variables:
        if DBAND in ev.coords:
            return [
                Problem(
                    "coordinate 'dband' exists but variable 'dynamic' is missing",
                    "add dynamic (time, dband, y, x) or drop the dband coordinate",
                )
            ]
        return []
    da = ev[DYNAMIC]
    if da.dims != ("time", DBAND, "y", "x"):
        return [
            Problem(
                f"dynamic has dims {da.dims}, expected ('time', 'dband', 'y', 'x')",
                "transpose/rename it: dynamic.transpose('time', 'dband', 'y', 'x')",
            )
        ]
    out: list[Problem] = []
    if da.dtype.kind != "f":
        out.append(
            Problem(f"dynamic has dtype {da.dtype}, expected float32", "use dynamic.astype('float32')")
        )
    if DBAND not in ev.coords:
        out.append(
            Problem("coordinate 'dband' (dynamic band names) is missing", "assign_coords(dband=[names...])")
        )
        return out
    names = [str(b) for b in ev[DBAND].values.tolist()]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        out.append(Problem(f"duplicate dynamic band names {dup}", "give every dynamic band a unique name"))
    if DBAND_KIND in ev.coords:
        kinds = [str(k) for k in np.asarray(ev[DBAND_KIND].values).tolist()]
        bad = [(n, k) for n, k in zip(names, kinds) if k not in BAND_KINDS]
        if bad:
            listed = ", ".join(f"{n}={k!r}" for n, k in bad)
            out.append(
                Problem(f"unknown dynamic band kind(s): {listed}", f"use one of {', '.join(BAND_KINDS)}")
            )
    out += _unpaired_problems("dynamic", names)
    return out


# -- values: counts over the pixels, in slabs of chunk rows for large lazy events -----------------
def _compute(checks: dict[str, xr.DataArray]) -> dict[str, Any]:
    """The values of scalar checks, computed together."""
    if not checks:
        return {}
    return dict(xr.Dataset({k: v.drop_vars(list(v.coords)) for k, v in checks.items()}).compute().items())


def _row_free_checks(ev: xr.Dataset) -> dict[str, xr.DataArray]:
    """Value checks of variables without a ``y`` axis (the wind series)."""
    checks = {}
    for name in (WIND_U, WIND_V):
        if name in ev.variables and ev[name].dims and ev[name].dims[0] == "time":
            checks[f"{name}_nan"] = ev[name].isnull().sum()
    return checks


def _slabs(ev: xr.Dataset) -> list[slice]:
    """Row ranges of a lazy event: whole chunk rows of its fire frames, about :data:`_SLAB_BYTES`
    each (at least one chunk row)."""
    chunks = ev[FIRE].chunks
    heights = chunks[1] if chunks is not None else (int(ev.sizes["y"]),)
    row_bytes = max(1, ev.nbytes // max(int(ev.sizes["y"]), 1))
    slabs, start, rows = [], 0, 0
    for h in heights:
        rows += int(h)
        if rows * row_bytes >= _SLAB_BYTES:
            slabs.append(slice(start, start + rows))
            start, rows = start + rows, 0
    if rows:
        slabs.append(slice(start, start + rows))
    return slabs


def _spatial_checks(ev: xr.Dataset) -> tuple[dict[str, xr.DataArray], dict[str, str], list[tuple[str, str]]]:
    """Value checks over the pixels (counts, so they add up over row slabs), with the static bands'
    kinds and the dynamic bands' (name, kind) pairs they cover."""
    checks: dict[str, xr.DataArray] = {}
    fire = ev[FIRE]
    valid = ev[VALID].astype(bool)
    checks["fire_nan"] = fire.isnull().sum()
    checks["fire_nonbinary"] = ((fire != 0) & (fire != 1) & fire.notnull()).sum()
    checks["fire_burned"] = (fire == 1).where(valid, False).sum()
    checks["valid_any"] = valid.sum()
    kinds: dict[str, str] = {}
    if (
        STATIC in ev.variables
        and BAND_KIND in ev.coords
        and ev[STATIC].dims == (BAND, "y", "x")
        and BAND in ev.coords
    ):
        names = [str(b) for b in ev[BAND].values.tolist()]
        kinds = dict(zip(names, [str(k) for k in np.asarray(ev[BAND_KIND].values).tolist()]))
        for i, (n, k) in enumerate(kinds.items()):
            band = ev[STATIC].isel({BAND: i})
            inside = band.where(valid)
            checks[f"nan:{n}"] = (band.isnull() & valid).sum()
            if k == BINARY:
                checks[f"nonbin:{n}"] = ((inside != 0) & (inside != 1) & inside.notnull()).sum()
            elif k == CATEGORICAL:
                checks[f"nonint:{n}"] = ((inside != np.round(inside)) & inside.notnull()).sum()
    dbands: list[tuple[str, str]] = []  # (name, kind) per dynamic band; names may repeat (reported)
    if (
        DYNAMIC in ev.variables
        and ev[DYNAMIC].dims == ("time", DBAND, "y", "x")
        and DBAND in ev.coords
        and ev[DYNAMIC].dtype.kind == "f"
    ):
        dnames = [str(b) for b in ev[DBAND].values.tolist()]
        dk = (
            [str(k) for k in np.asarray(ev[DBAND_KIND].values).tolist()]
            if DBAND_KIND in ev.coords
            else [CONTINUOUS] * len(dnames)
        )
        dbands = list(zip(dnames, dk))
        for i, (_, k) in enumerate(dbands):
            band = ev[DYNAMIC].isel({DBAND: i})
            checks[f"dinf:{i}"] = np.isinf(band).sum()
            if k == BINARY:
                checks[f"dnonbin:{i}"] = ((band != 0) & (band != 1) & band.notnull()).sum()
            elif k == CATEGORICAL:
                checks[f"dnonint:{i}"] = ((band != np.round(band)) & band.notnull()).sum()
    if ARRIVAL in ev.variables and ev[ARRIVAL].dims == ("y", "x"):
        checks["arrival_negative"] = (ev[ARRIVAL] < 0).sum()
    return checks, kinds, dbands


def _value_problems(ev: xr.Dataset) -> list[Problem]:
    if any(v not in ev.variables for v in (FIRE, VALID)) or ev[FIRE].dims != ("time", "y", "x"):
        return []
    if ev[VALID].dims != ("y", "x"):
        return []
    lazy = any(v.chunks is not None for v in ev.variables.values())
    if lazy and ev.nbytes <= _LOAD_BELOW_BYTES:
        ev = ev.compute()  # small lazy events: one read, then fast numpy reductions (not in place)
        lazy = False
    res = {k: int(v) for k, v in _compute(_row_free_checks(ev)).items()}
    # a large lazy event in slabs of whole chunk rows, loaded one at a time (each chunk read once);
    # an event in memory as one slab
    for ys in _slabs(ev) if lazy else [slice(None)]:
        part = ev.isel(y=ys).compute() if lazy else ev
        spatial, kinds, dbands = _spatial_checks(part)
        for k, v in _compute(spatial).items():
            res[k] = res.get(k, 0) + int(v)
        del part, spatial  # one slab in memory at a time
    if lazy:
        release()  # the slabs' memory goes back to the system

    out: list[Problem] = []
    if res["fire_nan"]:
        out.append(
            Problem(
                f"fire has {res['fire_nan']} NaN value(s)",
                "fill them (0 = not burned) and mark no-data pixels as False in valid",
            )
        )
    if res["fire_nonbinary"]:
        out.append(
            Problem(
                f"fire has {res['fire_nonbinary']} value(s) other than 0 and 1",
                "binarise it, e.g. (fire > 0).astype('uint8')",
            )
        )
    if res["valid_any"] == 0:
        out.append(
            Problem("the validity footprint is empty (valid is all False)", "mark pixels with data as True")
        )
    elif not res["fire_burned"] and not res["fire_nan"]:
        out.append(
            Problem(
                "no pixel is burned at any time step inside the footprint",
                "drop this event (nothing to learn) or check the fire frames' band/threshold",
            )
        )
    for name in (WIND_U, WIND_V):
        if res.get(f"{name}_nan"):
            out.append(
                Problem(f"{name} has {res[f'{name}_nan']} NaN value(s)", "interpolate missing wind in time")
            )
    for n, k in kinds.items():
        if res.get(f"nan:{n}"):
            fix = (
                "fill it (e.g. nearest neighbour) or mark those pixels False in valid"
                if k != CONTINUOUS
                else "fill it (interpolate) or mark those pixels False in valid (NaN outside the footprint is fine)"
            )
            out.append(
                Problem(f"static band {n!r} has {res[f'nan:{n}']} NaN value(s) inside the footprint", fix)
            )
        if res.get(f"nonbin:{n}"):
            out.append(
                Problem(
                    f"binary band {n!r} has {res[f'nonbin:{n}']} value(s) other than 0 and 1",
                    "binarise it or declare it 'continuous'",
                )
            )
        if res.get(f"nonint:{n}"):
            out.append(
                Problem(
                    f"categorical band {n!r} has {res[f'nonint:{n}']} non-integer value(s)",
                    "categories must be integer codes; declare the band 'continuous' if it is a measurement",
                )
            )
    for i, (n, _) in enumerate(dbands):
        if res.get(f"dinf:{i}"):
            out.append(
                Problem(
                    f"dynamic band {n!r} has {res[f'dinf:{i}']} infinite value(s)",
                    "replace them with NaN (missing) or a finite value",
                )
            )
        if res.get(f"dnonbin:{i}"):
            out.append(
                Problem(
                    f"binary dynamic band {n!r} has {res[f'dnonbin:{i}']} value(s) other than 0, 1 and NaN",
                    "binarise it or declare it 'continuous'",
                )
            )
        if res.get(f"dnonint:{i}"):
            out.append(
                Problem(
                    f"categorical dynamic band {n!r} has {res[f'dnonint:{i}']} non-integer value(s)",
                    "categories must be integer codes (NaN = missing); declare the band 'continuous' otherwise",
                )
            )
    if res.get("arrival_negative"):
        out.append(
            Problem(
                f"arrival_time has {res['arrival_negative']} negative value(s)",
                "arrival_time is hours since time[0]; NaN means never burned",
            )
        )
    return out


class _CallableModule(types.ModuleType):
    """``emberxr.validate`` is both this module and the function :func:`validate`.

    Importing the submodule makes Python set the package attribute ``emberxr.validate`` to the
    module, shadowing the lazily exported function; making the module callable keeps
    ``emberxr.validate(event)`` working in either case.
    """

    def __call__(self, event: xr.Dataset) -> xr.Dataset:
        return validate(event)


sys.modules[__name__].__class__ = _CallableModule
