"""The ``raw`` reader: one folder per fire event, in the source layout of the design notes.

See ``docs/raw-format.md`` for the full layout::

    <event>/
    ├── terrain.tif        multi-band GeoTIFF (the grid of the event); band description = band name
    ├── fire/0000.png ...  one fire frame per time step (binary from one band)
    ├── targets/0000.png   optional isochrone masks: targets/k = burned area at step k+1
    ├── wind.csv           time,u,v  or  time,speed,direction (one row per fire frame)
    ├── valid.png          optional validity footprint (non-zero = valid)
    ├── arrival_time.tif   optional, hours since the first time step
    └── event.json         optional {"event_id": ..., "source": ..., "attrs": {...}}

PNGs carry no georeferencing: they take the terrain GeoTIFF's grid and must have its size.
:func:`write_raw_event` writes a FireEvent in this layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rioxarray  # noqa: F401  (events we return carry the .rio accessor)
import xarray as xr

from ..atomic import atomic_path
from ..errors import ReaderError, WriteError
from ..schema import (
    ARRIVAL,
    BAND,
    BAND_KIND,
    BINARY,
    CATEGORICAL,
    CONTINUOUS,
    FIRE,
    STATIC,
    VALID,
    grid_transform,
    make_event,
    wind_series,
    wind_uv_from_speed_dir,
)

__all__ = ["CATEGORICAL_NAMES", "RawReader", "write_raw_event"]

TERRAIN = "terrain.tif"
FIRE_DIR = "fire"
TARGET_DIR = "targets"
WIND = "wind.csv"
VALID_PNG = "valid.png"
ARRIVAL_TIF = "arrival_time.tif"
META = "event.json"

#: band names read as categorical when the band has no ``kind`` tag
CATEGORICAL_NAMES = frozenset({"fuel_model", "fuel", "fbfm13", "fbfm40", "landcover", "land_cover"})


# -- reading pieces ----------------------------------------------------------------------------------
def _read_terrain(path: Path) -> dict[str, Any]:
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as src:
            data = src.read().astype(np.float32)
            nodata = src.nodata
            descs = list(src.descriptions)
            tags = [src.tags(i + 1) for i in range(src.count)]
            crs = src.crs
            transform = src.transform
    except (RasterioError, OSError) as exc:
        raise ReaderError(
            f"{path} could not be read as a GeoTIFF ({type(exc).__name__}: {exc}). "
            "Fix: re-export the terrain stack as a valid (multi-band) GeoTIFF."
        ) from exc
    problems = []
    if crs is None:
        problems.append("it has no CRS (fix: assign one, e.g. gdal_edit.py -a_srs EPSG:...)")
    if transform.b != 0 or transform.d != 0:
        problems.append("its transform is rotated (fix: warp it north-up with gdalwarp)")
    if transform.is_identity:
        problems.append("it has no geotransform (fix: georeference it)")
    if problems:
        raise ReaderError(f"{path} cannot give the event's grid: " + "; ".join(problems))
    if nodata is not None and not np.isnan(nodata):
        data[data == np.float32(nodata)] = np.nan
    names = [d if d else f"band{i + 1}" for i, d in enumerate(descs)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ReaderError(
            f"{path} has duplicate band descriptions {dup}. Fix: give every band a unique description (its name)."
        )
    return {"data": data, "names": names, "tags": tags, "crs": crs, "transform": transform}


def _band_kind(name: str, tags: dict[str, str], values: np.ndarray, categorical: set[str]) -> str:
    kind = tags.get("kind") or tags.get("KIND")
    if kind:
        return kind.strip().lower()  # unknown kinds pass through: validate() reports them
    if name in categorical or name.lower() in CATEGORICAL_NAMES:
        return CATEGORICAL
    finite = values[np.isfinite(values)]
    if finite.size and np.isin(finite, (0.0, 1.0)).all():
        return BINARY
    return CONTINUOUS


def _read_png(path: Path, band: int, shape: tuple[int, int], ref: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            a = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ReaderError(f"{path} could not be read as an image ({exc}). Fix: replace the file.") from exc
    if a.ndim == 2:
        a = a[..., None]
    if not 0 <= band < a.shape[-1]:
        raise ReaderError(
            f"{path} has {a.shape[-1]} band(s); fire_band={band} does not exist. "
            f"Fix: pass fire_band between 0 and {a.shape[-1] - 1}."
        )
    if a.shape[:2] != shape:
        raise ReaderError(
            f"{path} is {a.shape[0]}×{a.shape[1]} pixels (rows×cols) but {ref} is {shape[0]}×{shape[1]}. "
            "Fix: PNGs carry no georeferencing and must be rendered on the terrain grid; resample them."
        )
    return a[..., band]


def _read_wind(path: Path, n_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise ReaderError(f"{path} could not be read as CSV ({exc}). Fix: write time,u,v rows.") from exc
    df.columns = [str(c).strip().lower() for c in df.columns]
    cols = set(df.columns)
    if "time" in cols and {"u", "v"} <= cols:
        u = df["u"].to_numpy(np.float64)
        v = df["v"].to_numpy(np.float64)
    elif "time" in cols and {"speed", "direction"} <= cols:
        u, v = wind_uv_from_speed_dir(df["speed"].to_numpy(np.float64), df["direction"].to_numpy(np.float64))
    else:
        want_uv = [c for c in ("time", "u", "v") if c not in cols]
        want_sd = [c for c in ("time", "speed", "direction") if c not in cols]
        missing = want_uv if len(want_uv) <= len(want_sd) else want_sd
        raise ReaderError(
            f"{path} lacks column(s) {', '.join(missing)}; found: {', '.join(df.columns) or '(none)'}. "
            "Fix: columns must be time,u,v (m/s towards east/north) or time,speed,direction "
            "(m/s, degrees the wind blows from)."
        )
    if len(df) != n_steps:
        raise ReaderError(
            f"{path} has {len(df)} row(s) but there are {n_steps} fire frame(s). "
            "Fix: give exactly one wind row (with its time stamp) per fire frame."
        )
    try:
        t = pd.to_datetime(df["time"])
    except (ValueError, TypeError) as exc:
        raise ReaderError(
            f"{path}: the time column is not parseable as dates ({exc}). Fix: use ISO 8601."
        ) from exc
    if t.dt.tz is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    times = t.to_numpy().astype("datetime64[ns]")
    return times, np.asarray(u, np.float32), np.asarray(v, np.float32)


def _read_arrival(path: Path, shape: tuple[int, int]) -> np.ndarray:
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as src:
            a = src.read(1).astype(np.float32)
            nodata = src.nodata
    except (RasterioError, OSError) as exc:
        raise ReaderError(f"{path} could not be read as a GeoTIFF ({exc}). Fix: replace the file.") from exc
    if a.shape != shape:
        raise ReaderError(f"{path} is {a.shape[0]}×{a.shape[1]} but terrain.tif is {shape[0]}×{shape[1]}.")
    if nodata is not None and not np.isnan(nodata):
        a[a == np.float32(nodata)] = np.nan
    return a


class RawReader:
    """Read one raw event folder (``docs/raw-format.md``) into a FireEvent."""

    name = "raw"
    description = "raw event folder: terrain.tif + fire/*.png + wind.csv (docs/raw-format.md)"

    def guess_can_open(self, path: str | os.PathLike) -> bool:
        """True for a directory with ``terrain.tif`` and a ``fire/`` folder."""
        p = Path(path)
        return p.is_dir() and (p / TERRAIN).is_file() and (p / FIRE_DIR).is_dir()

    def open(
        self,
        path: str | os.PathLike,
        *,
        fire_band: int = 0,
        threshold: float = 0.0,
        fire_from: Literal["frames", "targets"] = "frames",
        categorical: Sequence[str] = (),
        event_id: str | None = None,
    ) -> xr.Dataset:
        """Read the folder.

        Parameters
        ----------
        path
            The event folder.
        fire_band
            Which PNG channel holds the fire (0 = first / grey).
        threshold
            A pixel is burned where the channel value is greater than this.
        fire_from
            ``"frames"``: the fire series is ``fire/*.png``. ``"targets"``: frame 0 from ``fire/``,
            then the isochrone masks of ``targets/`` as steps 1..T-1.
        categorical
            Extra band names to read as categorical when the band has no ``kind`` tag.
        event_id
            Override the id (default: ``event.json``'s, else the folder name).

        Raises
        ------
        ReaderError
            Missing or unreadable files, PNGs of the wrong size, a bad wind CSV.
        """
        p = Path(path)
        missing = [n for n in (TERRAIN, FIRE_DIR, WIND) if not (p / n).exists()]
        if missing:
            raise ReaderError(
                f"{p} is not a raw event folder: missing {', '.join(missing)}. "
                "Fix: see docs/raw-format.md for the layout."
            )
        if fire_from not in ("frames", "targets"):
            raise ReaderError(f"fire_from must be 'frames' or 'targets', got {fire_from!r}")
        terrain = _read_terrain(p / TERRAIN)
        data = terrain["data"]
        shape = (int(data.shape[1]), int(data.shape[2]))
        cats = set(categorical)
        kinds = [
            _band_kind(n, t, data[i], cats) for i, (n, t) in enumerate(zip(terrain["names"], terrain["tags"]))
        ]

        frames = sorted(f for f in (p / FIRE_DIR).iterdir() if f.suffix.lower() == ".png")
        if not frames:
            raise ReaderError(f"{p / FIRE_DIR} holds no .png fire frame. Fix: add one PNG per time step.")
        fire = [(_read_png(f, fire_band, shape, TERRAIN) > threshold) for f in frames]
        targets_dir = p / TARGET_DIR
        targets = (
            sorted(f for f in targets_dir.iterdir() if f.suffix.lower() == ".png")
            if targets_dir.is_dir()
            else []
        )
        if targets and len(targets) != len(frames) - 1:
            raise ReaderError(
                f"{targets_dir} has {len(targets)} mask(s) but {p / FIRE_DIR} has {len(frames)} frame(s). "
                f"Fix: targets/k is the burned area at step k+1, so there must be {len(frames) - 1}."
            )
        if fire_from == "targets":
            if not targets:
                raise ReaderError(f"fire_from='targets' but {targets_dir} holds no masks.")
            fire = fire[:1] + [(_read_png(f, fire_band, shape, TERRAIN) > threshold) for f in targets]
        times, u, v = _read_wind(p / WIND, len(frames))

        if (p / VALID_PNG).exists():
            valid = _read_png(p / VALID_PNG, 0, shape, TERRAIN) > 0
        else:
            valid = np.isfinite(data).all(axis=0) if data.shape[0] else np.ones(shape, bool)
        arrival = _read_arrival(p / ARRIVAL_TIF, shape) if (p / ARRIVAL_TIF).exists() else None

        meta: dict[str, Any] = {}
        if (p / META).exists():
            try:
                meta = json.loads((p / META).read_text())
            except ValueError as exc:
                raise ReaderError(
                    f"{p / META} is not valid JSON ({exc}). Fix: correct or delete it."
                ) from exc
        attrs = dict(meta.get("attrs", {}))
        if "time_step_hours" not in attrs and len(times) >= 2:
            attrs["time_step_hours"] = float(np.median(np.diff(times)) / np.timedelta64(1, "h"))
        tr = terrain["transform"]
        x = tr.c + tr.a * (np.arange(shape[1]) + 0.5)
        y = tr.f + tr.e * (np.arange(shape[0]) + 0.5)
        return make_event(
            np.stack(fire).astype(np.uint8),
            data,
            u,
            v,
            times=times,
            x=x,
            y=y,
            crs=terrain["crs"],
            band_names=terrain["names"],
            band_kinds=kinds,
            valid=valid,
            arrival_time=arrival,
            event_id=event_id or str(meta.get("event_id") or p.name),
            source=str(meta.get("source", "raw")),
            attrs=attrs,
        )

    def __repr__(self) -> str:
        return "RawReader()"


# -- writing -------------------------------------------------------------------------------------------
def _write_png(path: Path, mask: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.where(np.asarray(mask) > 0, 255, 0).astype(np.uint8)).save(path)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def write_raw_event(event: xr.Dataset, folder: str | os.PathLike) -> Path:
    """Write a FireEvent as a raw event folder (the layout :class:`RawReader` reads), atomically.

    Parameters
    ----------
    event
        The event (numpy or Dask). Gridded wind is written as its spatial mean series.
    folder
        Destination folder; replaced as a whole if it exists.

    Returns
    -------
    pathlib.Path
        ``folder``.

    Raises
    ------
    WriteError
        The event has no CRS or lacks fire/static/wind.
    """
    import pandas as pd
    import rasterio

    missing = [v for v in (FIRE, STATIC, "wind_u", "wind_v") if v not in event.variables]
    if missing:
        raise WriteError(f"cannot write a raw folder: the event lacks {', '.join(missing)}")
    if event.rio.crs is None:
        raise WriteError("cannot write a raw folder: the event has no CRS (use event.rio.write_crs(...))")
    event = event.load()
    crs = event.rio.crs
    transform = grid_transform(event["x"].values, event["y"].values)
    static = np.asarray(event[STATIC].values, np.float32)
    c, h, w = static.shape
    names = [str(b) for b in event[BAND].values.tolist()]
    kinds = (
        [str(k) for k in event[BAND_KIND].values.tolist()] if BAND_KIND in event.coords else [CONTINUOUS] * c
    )
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": max(c, 1),
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "nodata": np.nan,
        "compress": "DEFLATE",
    }
    fire = np.asarray(event[FIRE].values)
    wind = wind_series(event)
    times = event["time"].values
    final = Path(folder)
    with atomic_path(final, is_dir=True) as tmp:
        tmp.mkdir(parents=True)
        with rasterio.open(tmp / TERRAIN, "w", **profile) as dst:
            if c:
                dst.write(static)
            for i, (n, k) in enumerate(zip(names, kinds)):
                dst.set_band_description(i + 1, n)
                dst.update_tags(i + 1, kind=k)
        (tmp / FIRE_DIR).mkdir()
        for t in range(fire.shape[0]):
            _write_png(tmp / FIRE_DIR / f"{t:04d}.png", fire[t])
        if fire.shape[0] > 1:
            (tmp / TARGET_DIR).mkdir()
            for t in range(fire.shape[0] - 1):
                _write_png(tmp / TARGET_DIR / f"{t:04d}.png", fire[t + 1])
        df = pd.DataFrame(
            {
                "time": [pd.Timestamp(t).isoformat() for t in times],
                "u": [f"{x:.9g}" for x in wind[:, 0].tolist()],
                "v": [f"{x:.9g}" for x in wind[:, 1].tolist()],
            }
        )
        df.to_csv(tmp / WIND, index=False)
        if VALID in event.variables:
            _write_png(tmp / VALID_PNG, np.asarray(event[VALID].values, bool))
        if ARRIVAL in event.variables:
            arr_profile = {**profile, "count": 1}
            with rasterio.open(tmp / ARRIVAL_TIF, "w", **arr_profile) as dst:
                dst.write(np.asarray(event[ARRIVAL].values, np.float32), 1)
                dst.set_band_description(1, ARRIVAL)
        meta = {
            "event_id": str(event.attrs.get("event_id", final.name)),
            "source": str(event.attrs.get("source", "raw")),
            "attrs": {k: _jsonable(v) for k, v in event.attrs.items() if k not in ("event_id", "source")},
        }
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")
    return final
