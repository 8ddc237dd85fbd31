"""Forecast perimeters and arrival-time isochrones as vectors (GeoPackage or GeoJSON).

:func:`write_perimeters` (``emberxr predict --perimeters out.gpkg``) writes, in the event's CRS:

``perimeters`` (MultiPolygon)
    one feature per forecast step and probability level: the cells whose probability (the burn
    probability of an ensemble) is ``>= level``, outlined. Attributes ``issue_time``,
    ``valid_time`` (date-times, UTC), ``step`` (1..horizon), ``lead_hours``, ``level``,
    ``area_ha``. ``area_ha`` is the forecast raster's burned area (cells at or above the level ×
    cell area); a step with no such cell has ``area_ha = 0`` and an empty (null) geometry, so every
    (step, level) pair is present;
``isochrones`` (MultiLineString)
    arrival-time isochrones: the outline of the cells the forecast has burned by step ``k``
    (``fire_mask``: the model's threshold, or at least half of an ensemble's members; for a
    deterministic forecast exactly ``arrival_time <= k * dt``), ``k = 0`` being the perimeter
    burning at the issue time (``arrival_time == 0``). Attributes ``issue_time``, ``valid_time``,
    ``step``, ``arrival_hours``. Stretches along the edge of the grid are left out (they are the
    edge of the data, not of the fire).

A ``.gpkg`` holds both as two layers; a ``.geojson`` (one layer per file) holds the perimeters,
and the isochrones go to ``<name>_isochrones.geojson`` next to it. GeoJSON files in a projected
CRS carry it in their ``crs`` member (GDAL writes it; QGIS reads it).

Outlines are traced along cell edges (:func:`rasterio.features.shapes`, 4-connected: cells
touching only at a corner are separate parts), merged (shapely), then simplified to the raster
resolution (Douglas-Peucker with a tolerance of one cell, keeping topology: holes are kept and
rings never cross), so the stair steps of the cells do not show. The outline's own area can thus
differ from ``area_ha`` by a fraction of the boundary cells.

Cell areas come from the grid's transform in metres: projected CRSs in their linear unit,
geographic CRSs (degrees) on the sphere per row. Events without a CRS (such as NDWS tiles) are
refused with :class:`~emberxr.errors.NotGeoreferencedError`: a vector file without a CRS cannot be
placed on a map.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from emberxr.errors import ConfigError, Problem, WriteError
from emberxr.schema import require_crs

__all__ = [
    "DEFAULT_LEVELS",
    "cell_area_m2",
    "cell_size_m",
    "isochrone_features",
    "outline",
    "perimeter_features",
    "write_perimeters",
]

DEFAULT_LEVELS = (0.1, 0.5, 0.9)
_EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
_DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}


# -- the grid in metres ---------------------------------------------------------------------------------
def _grid(ds: xr.Dataset | xr.DataArray) -> tuple[Any, Any]:
    import rioxarray  # noqa: F401

    return ds.rio.crs, ds.rio.transform(recalc=True)


def cell_size_m(ds: xr.Dataset | xr.DataArray) -> tuple[float, float] | None:
    """(height, width) of a cell in metres; at the grid's centre latitude for geographic CRSs;
    None without a CRS."""
    crs, tr = _grid(ds)
    if crs is None:
        return None
    dy, dx = abs(tr.e), abs(tr.a)
    if crs.is_geographic:
        lat = np.deg2rad(float(np.mean(np.asarray(ds["y"].values))))
        per_deg = np.pi * _EARTH_RADIUS_M / 180.0
        return float(dy * per_deg), float(dx * per_deg * np.cos(lat))
    factor = float(crs.linear_units_factor[1]) if crs.linear_units else 1.0
    return float(dy * factor), float(dx * factor)


def cell_area_m2(ds: xr.Dataset | xr.DataArray) -> np.ndarray:
    """Area of the cells of each row in m², shape ``(H, 1)`` (broadcasts over the grid).

    Raises
    ------
    NotGeoreferencedError
        The data has no CRS.
    """
    crs, tr = _grid(ds)
    if crs is None:
        require_crs(ds, "forecast perimeters")
    y = np.asarray(ds["y"].values, np.float64)
    if crs.is_geographic:
        half = abs(tr.e) / 2
        top, bottom = np.deg2rad(np.clip(y + half, -90, 90)), np.deg2rad(np.clip(y - half, -90, 90))
        area = _EARTH_RADIUS_M**2 * np.deg2rad(abs(tr.a)) * np.abs(np.sin(top) - np.sin(bottom))
        return area[:, None]
    dy, dx = cell_size_m(ds)  # type: ignore[misc]
    return np.full((len(y), 1), dy * dx)


# -- outlines -------------------------------------------------------------------------------------------
def outline(mask: np.ndarray, transform: Any, tolerance: float) -> Any:
    """The cells of ``mask`` as one (Multi)Polygon in the grid's coordinates, holes kept,
    simplified with ``tolerance`` (CRS units; 0 = exact cell edges); None when ``mask`` is empty."""
    import shapely
    from rasterio.features import shapes

    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    if not mask.any():
        return None
    parts = [
        shapely.geometry.shape(g) for g, _ in shapes(mask, mask=mask > 0, connectivity=4, transform=transform)
    ]
    geom = shapely.union_all(parts)
    if tolerance > 0:
        geom = shapely.simplify(geom, tolerance, preserve_topology=True)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon" and not g.is_empty]
    return shapely.MultiPolygon(polys) if polys else None


def _tolerance(transform: Any) -> float:
    return float(min(abs(transform.a), abs(transform.e)))


def _check_levels(levels: Sequence[float]) -> list[float]:
    try:
        out = [float(v) for v in levels]
    except (TypeError, ValueError):
        out = []
    if not out or not all(0.0 < v <= 1.0 for v in out):
        raise ConfigError(
            [
                Problem(
                    f"probability levels {list(levels)!r}",
                    "give one or more numbers in (0, 1], e.g. 0.1,0.5,0.9",
                )
            ],
            subject="perimeters",
        )
    return sorted(set(out))


def _issue_valid(ds: xr.Dataset) -> tuple[np.datetime64, np.ndarray]:
    issue = np.datetime64(ds.attrs["issue_time"], "ms")
    return issue, np.asarray(ds["time"].values).astype("datetime64[ms]")


def perimeter_features(ds: xr.Dataset, levels: Sequence[float] = DEFAULT_LEVELS) -> dict[str, Any]:
    """The ``perimeters`` layer of a forecast: ``geometry`` (shapely or None) and one array per
    attribute, one entry per (step, level) in step-major order (see the module docstring)."""
    levels = _check_levels(levels)
    crs, tr = _grid(ds)
    if crs is None:
        require_crs(ds, "forecast perimeters")
    area = cell_area_m2(ds)
    tol = _tolerance(tr)
    prob = np.asarray(ds["probability"].values, np.float32)
    issue, valid_times = _issue_valid(ds)
    lead = np.asarray(ds["lead_time_hours"].values, np.float64)
    out: dict[str, list[Any]] = {
        k: [] for k in ("geometry", "issue_time", "valid_time", "step", "lead_hours")
    }
    out.update(level=[], area_ha=[])
    for i, step in enumerate(np.asarray(ds["step"].values).tolist()):
        p = np.nan_to_num(prob[i], nan=0.0)
        for level in levels:
            mask = p >= level
            out["geometry"].append(outline(mask, tr, tol))
            out["issue_time"].append(issue)
            out["valid_time"].append(valid_times[i])
            out["step"].append(int(step))
            out["lead_hours"].append(float(lead[i]))
            out["level"].append(float(level))
            out["area_ha"].append(float((mask * area).sum() / 1e4))
    return _arrays(out)


def isochrone_features(ds: xr.Dataset) -> dict[str, Any]:
    """The ``isochrones`` layer of a forecast with ``fire_mask`` and ``arrival_time`` (see the module
    docstring)."""
    import shapely

    if "arrival_time" not in ds or "fire_mask" not in ds:
        raise WriteError(
            "the forecast has no fire_mask / arrival_time (made without a threshold); isochrones need them. "
            "Fix: use a checkpoint with a threshold, an ensemble, or leave out the isochrones"
        )
    crs, tr = _grid(ds)
    if crs is None:
        require_crs(ds, "forecast perimeters")
    arrival = np.asarray(ds["arrival_time"].values, np.float64)
    reached = [arrival == 0.0, *(np.asarray(ds["fire_mask"].values) > 0)]  # burning at issue, then by step
    dt = float(ds.attrs.get("time_step_hours", 1.0))
    issue, valid_times = _issue_valid(ds)
    h, w = arrival.shape
    x0, y0 = tr * (0, 0)
    x1, y1 = tr * (w, h)
    edge = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)).exterior.buffer(
        _tolerance(tr) * 0.01
    )
    out: dict[str, list[Any]] = {
        k: [] for k in ("geometry", "issue_time", "valid_time", "step", "arrival_hours")
    }
    for k in range(0, int(ds.sizes["step"]) + 1):
        hours = k * dt
        poly = outline(reached[k], tr, _tolerance(tr))
        line = None
        if poly is not None:
            line = shapely.difference(poly.boundary, edge)
            parts = [
                g for g in getattr(line, "geoms", [line]) if g.geom_type == "LineString" and not g.is_empty
            ]
            line = shapely.MultiLineString(parts) if parts else None
        out["geometry"].append(line)
        out["issue_time"].append(issue)
        out["valid_time"].append(issue if k == 0 else valid_times[k - 1])
        out["step"].append(k)
        out["arrival_hours"].append(hours)
    return _arrays(out)


def _arrays(cols: dict[str, list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"geometry": cols.pop("geometry")}
    for k, v in cols.items():
        if k.endswith("_time"):
            out[k] = np.asarray(v, dtype="datetime64[ms]")
        elif k in ("step",):
            out[k] = np.asarray(v, dtype=np.int32)
        else:
            out[k] = np.asarray(v, dtype=np.float64)
    return out


# -- writing --------------------------------------------------------------------------------------------
def _write_layer(
    path: Path, layer: str, cols: dict[str, Any], driver: str, geometry_type: str, crs: Any
) -> None:
    import shapely
    from pyogrio.raw import write

    geoms = np.array([None if g is None else shapely.to_wkb(g) for g in cols["geometry"]], dtype=object)
    names = [k for k in cols if k != "geometry"]
    write(
        str(path),
        geoms,
        [cols[k] for k in names],
        names,
        layer=layer,
        driver=driver,
        geometry_type=geometry_type,
        crs=crs.to_wkt(),
    )


def write_perimeters(
    ds: xr.Dataset,
    path: str | os.PathLike,
    levels: Sequence[float] = DEFAULT_LEVELS,
    isochrones: bool = True,
) -> list[Path]:
    """Write a forecast's perimeters (and isochrones) as a GeoPackage or GeoJSON, atomically.

    Parameters
    ----------
    ds
        A forecast (:func:`emberxr.forecast.forecast`, ensembles included).
    path
        ``.gpkg`` (both layers) or ``.geojson`` / ``.json`` (perimeters; the isochrones go to
        ``<stem>_isochrones.geojson``).
    levels
        Probability levels of the perimeters (each in (0, 1]).
    isochrones
        Also write the arrival-time isochrones (needs ``arrival_time``: a forecast with a threshold,
        or an ensemble).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    NotGeoreferencedError
        The forecast has no CRS.
    WriteError
        Unknown file extension, or isochrones asked of a forecast without ``arrival_time``.
    """
    from emberxr.atomic import atomic_path

    path = Path(path)
    driver = _DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise WriteError(
            f"cannot tell the vector format of {path.name!r}; name it .gpkg (GeoPackage) or .geojson (GeoJSON)"
        )
    crs, _ = _grid(ds)
    if crs is None:
        require_crs(ds, "forecast perimeters")
    layers = [("perimeters", perimeter_features(ds, levels), "MultiPolygon")]
    if isochrones:
        layers.append(("isochrones", isochrone_features(ds), "MultiLineString"))
    written = []
    if driver == "GPKG":
        with atomic_path(path) as tmp:
            tmp.unlink()  # GDAL creates the GeoPackage itself
            for name, cols, gtype in layers:
                _write_layer(tmp, name, cols, driver, gtype, crs)
        written.append(path)
    else:
        for name, cols, gtype in layers:
            target = path if name == "perimeters" else path.with_name(f"{path.stem}_{name}{path.suffix}")
            with atomic_path(target) as tmp:
                tmp.unlink()
                _write_layer(tmp, target.stem, cols, driver, gtype, crs)
            written.append(target)
    return written
