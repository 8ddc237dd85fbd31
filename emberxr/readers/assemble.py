"""Pieces the public-dataset readers share to turn band stacks into FireEvents.

The ``wildfirespreadts``, ``ndws`` and ``datacube`` readers all receive daily rasters of many
variables. They build the event with :func:`emberxr.make_event` (fire, static bands, wind,
validity) and add the gridded daily variables with :func:`attach_dynamic`:

    dynamic   (time, dband, y, x)  float32   NaN = missing; coordinate ``dband`` holds the names

Angles (wind direction, aspect) never enter a model as degrees: :func:`sin_cos` turns each into
the pair ``<name>_sin`` / ``<name>_cos``. :func:`wind_components` makes ``wind_u`` / ``wind_v``
from speed and meteorological direction, filling cells without a value (the schema allows no
NaN wind) with the frame's mean, and :func:`local_grid` gives sources without georeferencing a
grid in metres (their events carry ``crs_status`` instead of a CRS). Everything works on NumPy
and on Dask arrays alike; Dask arrays stay lazy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "attach_dynamic",
    "fill_frame_mean",
    "local_grid",
    "sin_cos",
    "stack",
    "wind_components",
]

from emberxr.schema import DBAND, DYNAMIC  # the data model's names of the gridded daily bands


def _lib(a: Any) -> Any:
    """``dask.array`` for Dask arrays, else ``numpy``."""
    if hasattr(a, "__dask_graph__"):
        import dask.array as dsa

        return dsa
    return np


def stack(layers: Sequence[Any], axis: int = 0) -> Any:
    """Stack NumPy or Dask arrays (Dask when any is lazy), as float32."""
    if any(hasattr(a, "__dask_graph__") for a in layers):
        import dask.array as dsa

        return dsa.stack([dsa.asarray(a).astype(np.float32) for a in layers], axis=axis)
    return np.stack([np.asarray(a, np.float32) for a in layers], axis=axis)


def sin_cos(name: str, degrees: Any) -> list[tuple[str, Any]]:
    """``[(name_sin, sin), (name_cos, cos)]`` of an angle in degrees (NaN stays NaN)."""
    xp = _lib(degrees)
    rad = xp.deg2rad(degrees.astype(np.float32))
    return [(f"{name}_sin", xp.sin(rad).astype(np.float32)), (f"{name}_cos", xp.cos(rad).astype(np.float32))]


def wind_components(speed: Any, direction_from_deg: Any) -> tuple[Any, Any, int | None]:
    """``(u, v, n_filled)``: gridded wind towards east/north from speed and the direction it blows
    from (degrees clockwise from north), ``(time, y, x)``.

    Cells where speed or direction is NaN take the mean ``u``/``v`` of the valid cells of their
    frame (0 for a frame without any); ``n_filled`` counts them for NumPy input and is None for
    Dask input (counting would read the data).
    """
    xp = _lib(speed) if hasattr(speed, "__dask_graph__") else _lib(direction_from_deg)
    s = speed.astype(np.float32)
    d = xp.deg2rad(direction_from_deg.astype(np.float32))
    u, v = -s * xp.sin(d), -s * xp.cos(d)
    bad = xp.isnan(u) | xp.isnan(v)
    n_filled = None if xp is not np else int(bad.sum())
    return fill_frame_mean(xp.where(bad, np.nan, u)), fill_frame_mean(xp.where(bad, np.nan, v)), n_filled


def fill_frame_mean(a: Any) -> Any:
    """``a (..., y, x)`` with each NaN replaced by the mean of its frame's other cells (0 for a frame
    without any value), as float32."""
    xp = _lib(a)
    bad = xp.isnan(a)
    n = (~bad).sum(axis=(-2, -1), keepdims=True)
    total = xp.where(bad, 0, a).sum(axis=(-2, -1), keepdims=True)
    mean = xp.where(n > 0, total / xp.maximum(n, 1), 0)
    return xp.where(bad, mean, a).astype(np.float32)


def attach_dynamic(
    event: xr.Dataset,
    layers: Sequence[tuple[str, Any]] | tuple[Sequence[str], Any],
    units: dict[str, str] | None = None,
) -> xr.Dataset:
    """Add ``dynamic (time, dband, y, x)`` to an event.

    Parameters
    ----------
    event
        The event built by :func:`emberxr.make_event` (its time/y/x sizes are checked).
    layers
        Daily bands in order: a list of ``(name, (time, y, x) array)``, or ``(names, array)`` with
        the bands already stacked as ``(time, dband, y, x)``. NumPy or Dask; NaN marks missing
        values.
    units
        Band name -> unit, kept as the ``units`` attribute (a list in ``dband`` order).

    Returns
    -------
    xarray.Dataset
        ``event`` with ``dynamic`` (float32) and the ``dband`` coordinate.
    """
    from emberxr.errors import EventValidationError, Problem

    T, H, W = event.sizes["time"], event.sizes["y"], event.sizes["x"]
    if isinstance(layers, tuple) and len(layers) == 2 and not isinstance(layers[0], str):
        names = [str(n) for n in layers[0]]
        data = layers[1]
        bad = [] if tuple(np.shape(data)) == (T, len(names), H, W) else [f"stack {tuple(np.shape(data))}"]
        want = (T, len(names), H, W)
    else:
        names = [str(n) for n, _ in layers]
        want = (T, H, W)
        bad = [f"{n} {tuple(np.shape(a))}" for n, a in layers if tuple(np.shape(a)) != want]
        data = stack([a for _, a in layers], axis=1) if layers else np.zeros((T, 0, H, W), np.float32)
    dup = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if bad:
        problems.append(Problem(f"dynamic band(s) of the wrong shape: {', '.join(bad)}", f"give {want}"))
    if dup:
        problems.append(Problem(f"duplicate dynamic band names {dup}", "name every band once"))
    if problems:
        raise EventValidationError(problems, "attach_dynamic")
    data = data.astype(np.float32) if data.dtype != np.float32 else data
    ds = event.assign({DYNAMIC: (("time", DBAND, "y", "x"), data)})
    ds = ds.assign_coords({DBAND: np.asarray(names, dtype=str)})
    ds[DYNAMIC].attrs.update(long_name="gridded daily bands (NaN = missing)")
    if units:
        ds[DYNAMIC].attrs["units"] = [str(units.get(n, "")) for n in names]
    return ds


def local_grid(height: int, width: int, cell_size: float) -> tuple[np.ndarray, np.ndarray, Any]:
    """``(x, y, transform)`` of a north-up grid of square cells in metres with its origin at the
    top-left corner, for rasters without georeferencing (NDWS tiles, WildfireSpreadTS HDF5)."""
    from affine import Affine

    x = (np.arange(width) + 0.5) * float(cell_size)
    y = (height - np.arange(height) - 0.5) * float(cell_size)
    transform = Affine(float(cell_size), 0.0, 0.0, 0.0, -float(cell_size), height * float(cell_size))
    return x, y, transform
