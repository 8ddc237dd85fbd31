"""The ``raw`` reader: one folder per fire event, in the source layout of the design notes.

See ``docs/raw-format.md`` for the full layout::

    <event>/
    ├── terrain.tif        multi-band GeoTIFF (the grid of the event); band description = band name
    ├── fire/0000.png ...  one fire frame per time step, in frame-number order
    ├── targets/0000.png   optional isochrone masks: targets/k = burned area at step k+1
    ├── wind.csv           time,u,v  or  time,speed,direction (one row per fire frame)
    ├── valid.png          optional validity footprint (non-zero = valid)
    ├── arrival_time.tif   optional, hours since the first time step, on the terrain grid
    └── event.json         optional {"event_id": ..., "source": ..., "attrs": {...}}

The reader checks every file from its header first (grids, sizes, channels, frame names, wind,
metadata), lists every problem at once, and only then builds the event lazily: the terrain and
``arrival_time.tif`` are read in windows through rioxarray and each PNG frame is one Dask task,
so nothing is read until the values are computed (by :func:`emberxr.validate` or the user).
PNGs carry no georeferencing: they take the terrain GeoTIFF's grid and must have its size.
:func:`write_raw_event` writes a FireEvent in this layout.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rioxarray
import xarray as xr

from ..atomic import atomic_path
from ..errors import Problem, ReaderError, WriteError
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
    make_event,
    require_crs,
    wind_series,
    wind_uv_from_speed_dir,
)
from .base import BUILTIN_PRIORITY, FireReader

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

LAYOUT = (
    "a raw event folder holds terrain.tif (multi-band GeoTIFF: the grid), fire/ (one PNG per time "
    "step: 0000.png, 0001.png, ...) and wind.csv (time,u,v: one row per frame); optional targets/, "
    "valid.png, arrival_time.tif, event.json (see docs/raw-format.md)"
)
#: Dask chunks of the terrain and arrival rasters (one band × 4096² cells = 64 MB of float32)
_RASTER_CHUNKS = {"band": 1, "y": 4096, "x": 4096}
_EVENT_JSON_KEYS = ("event_id", "source", "attrs")


def _fail(folder: Path, problems: Sequence[Problem]) -> ReaderError:
    """One ReaderError listing every problem found in ``folder`` (many files with the same problem,
    e.g. every frame of the wrong size, are shown as the first two and a count)."""
    by_fix: dict[str, list[Problem]] = {}
    for prob in problems:
        by_fix.setdefault(prob.fix, []).append(prob)
    problems = []
    for fix, group in by_fix.items():
        problems += (
            group
            if len(group) <= 3
            else [*group[:2], Problem(f"... and {len(group) - 2} more file(s) with the same problem", fix)]
        )
    if len(problems) == 1:
        return ReaderError(f"{problems[0].what}. Fix: {problems[0].fix}")
    lines = [f"raw event folder {folder} has {len(problems)} problems:"]
    lines += [f"  {i}. {p.what}. Fix: {p.fix}" for i, p in enumerate(problems, 1)]
    return ReaderError("\n".join(lines))


# -- grids ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Grid:
    """Rows, columns, CRS and transform of a raster (read from its header)."""

    height: int
    width: int
    crs: Any
    transform: Any

    def describe(self) -> str:
        t = self.transform
        crs = self.crs.to_string() if self.crs is not None else "no CRS"
        return (
            f"{self.height}×{self.width} cells, {crs}, origin ({t.c:.6g}, {t.f:.6g}), "
            f"cell {t.a:.6g} × {t.e:.6g}"
        )


@dataclass(frozen=True)
class _RasterHeader:
    grid: _Grid
    count: int
    names: list[str]
    tags: list[dict[str, str]]


def _raster_header(path: Path) -> _RasterHeader:
    """Everything needed from a GeoTIFF without reading a pixel."""
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                grid = _Grid(src.height, src.width, src.crs, src.transform)
                descs = list(src.descriptions)
                tags = [src.tags(i + 1) for i in range(src.count)]
                return _RasterHeader(grid, src.count, [d or "" for d in descs], tags)
    except (RasterioError, OSError) as exc:
        raise ReaderError(
            f"{path} could not be read as a GeoTIFF ({type(exc).__name__}: {exc}). "
            "Fix: re-export it as a valid (multi-band) GeoTIFF."
        ) from exc


def _terrain_grid_problems(path: Path, grid: _Grid) -> list[Problem]:
    t = grid.transform
    out = []
    if grid.crs is None:
        out.append(Problem(f"{path} has no CRS", "assign one, e.g. gdal_edit.py -a_srs EPSG:..."))
    if t.b != 0 or t.d != 0:
        out.append(Problem(f"{path} has a rotated transform", "warp it north-up with gdalwarp"))
    if t.is_identity:
        out.append(Problem(f"{path} has no geotransform", "georeference it (gdal_edit.py -a_ullr ...)"))
    elif t.e > 0:
        out.append(Problem(f"{path} is south-up (positive row step)", "flip it north-up with gdalwarp"))
    return out


def _same_grid_problems(path: Path, grid: _Grid, ref: _Grid) -> list[Problem]:
    """``path`` must lie on the terrain grid exactly: shape, CRS and transform."""
    what = []
    if (grid.height, grid.width) != (ref.height, ref.width):
        what.append("size")
    if grid.crs is None or ref.crs is None or grid.crs != ref.crs:
        what.append("CRS")
    tol = 1e-6 * max(abs(ref.transform.a), abs(ref.transform.e), 1.0)
    if not grid.transform.almost_equals(ref.transform, precision=tol):
        what.append("transform")
    if not what:
        return []
    return [
        Problem(
            f"{path} is not on the terrain grid ({' and '.join(what)} differ): it is {grid.describe()}; "
            f"{TERRAIN} is {ref.describe()}",
            f"resample it onto the terrain grid, e.g. gdalwarp -te <bounds> -tr <cell> -t_srs <CRS> "
            f"or rioxarray's reproject_match against {TERRAIN}",
        )
    ]


def _lazy_raster(path: Path) -> Any:
    """(band, y, x) float32 Dask array of a GeoTIFF, nodata as NaN, read in windows."""
    return rioxarray.open_rasterio(path, masked=True, chunks=_RASTER_CHUNKS).data.astype(np.float32)


# -- PNGs -------------------------------------------------------------------------------------------------
#: channels of each PNG mode after palette expansion; palette images count 4 with transparency
_PNG_CHANNELS = {"1": 1, "L": 1, "I": 1, "I;16": 1, "I;16B": 1, "LA": 2, "RGB": 3, "RGBA": 4, "PA": 4}


@dataclass(frozen=True)
class _PngHeader:
    path: Path
    height: int
    width: int
    mode: str
    channels: int
    max_value: int


def _open_png(path: Path) -> Any:
    """Open a PNG lazily (header only).

    Pillow's decompression-bomb guard (about 89 Mpixels) is not applied: every PNG is checked
    against the terrain grid from its header before a pixel is decoded, so a large PNG is read
    exactly when the event's grid is that large, and rejected otherwise.
    """
    from PIL import PngImagePlugin

    return PngImagePlugin.PngImageFile(path)


def _png_header(path: Path) -> _PngHeader:
    try:
        with _open_png(path) as im:
            mode, (w, h), info = im.mode, im.size, dict(im.info)
    except (SyntaxError, OSError, ValueError, EOFError) as exc:
        raise ReaderError(
            f"{path} could not be read as a PNG ({exc}). Fix: replace it with a valid PNG image."
        ) from exc
    if mode == "P":
        channels = 4 if "transparency" in info else 3
    elif mode in _PNG_CHANNELS:
        channels = _PNG_CHANNELS[mode]
    else:
        raise ReaderError(
            f"{path} has image mode {mode!r}, which the raw reader does not read. "
            "Fix: save it as grey (L), RGB, RGBA or palette PNG."
        )
    max_value = 65535 if mode.startswith("I") else 255  # 16-bit grey, else 8-bit (1-bit read as 0/255)
    return _PngHeader(path, h, w, mode, channels, max_value)


def _png_problems(
    hdr: _PngHeader, band: int, threshold: float | None, ref: _Grid, role: str
) -> list[Problem]:
    """Size (against the terrain grid), channel and threshold of one PNG, from its header."""
    out = []
    if (hdr.height, hdr.width) != (ref.height, ref.width):
        out.append(
            Problem(
                f"{hdr.path} is {hdr.height}×{hdr.width} pixels (rows×cols) but {TERRAIN} is "
                f"{ref.height}×{ref.width}",
                "PNGs carry no georeferencing and must be rendered on the terrain grid; resample them",
            )
        )
    if not 0 <= band < hdr.channels:
        out.append(
            Problem(
                f"{hdr.path} has {hdr.channels} channel(s) (mode {hdr.mode}); {role}={band} does not exist",
                f"pass {role} between 0 and {hdr.channels - 1}",
            )
        )
    if threshold is not None and threshold >= hdr.max_value:
        out.append(
            Problem(
                f"threshold={threshold} is not below the largest value of {hdr.path} ({hdr.max_value}): "
                "no pixel could count as burned",
                f"pass a threshold below {hdr.max_value} (values are {hdr.max_value + 1} levels)",
            )
        )
    return out


def _png_channel(path: Path, band: int, shape: tuple[int, int]) -> np.ndarray:
    """Decode one channel of a PNG: palette images through their palette (what you see, never
    the index), 1-bit images as 0/255."""
    from PIL import Image

    try:
        with _open_png(path) as im:
            if (im.size[1], im.size[0]) != shape:
                raise ReaderError(
                    f"{path} changed since the event was opened: it is now {im.size[1]}×{im.size[0]}, "
                    f"the grid is {shape[0]}×{shape[1]}. Fix: open the event again."
                )
            if im.mode == "P":
                lut_im = Image.new("P", (256, 1))
                lut_im.putpalette(im.getpalette() or [])
                if "transparency" in im.info:
                    lut_im.info["transparency"] = im.info["transparency"]
                lut_im.putdata(list(range(256)))
                lut = np.asarray(lut_im.convert("RGBA" if "transparency" in im.info else "RGB"))[0]
                return lut[:, band][np.asarray(im)]
            if im.mode == "PA":
                im = im.convert("RGBA")
            elif im.mode == "1":
                im = im.convert("L")
            a = np.asarray(im)
    except (SyntaxError, OSError, ValueError, EOFError) as exc:
        raise ReaderError(f"{path} could not be decoded as a PNG ({exc}). Fix: replace the file.") from exc
    return a if a.ndim == 2 else a[..., band]


def _lazy_png_mask(path: Path, band: int, threshold: float, shape: tuple[int, int]) -> Any:
    """(y, x) uint8 0/1 Dask array: channel ``band`` of ``path`` > ``threshold``, decoded on compute.

    One task per PNG (a PNG cannot be decoded in windows), split into raster-sized chunks so that
    later reductions align with the terrain's chunks.
    """
    import dask
    import dask.array as dsa

    def load() -> np.ndarray:
        return (_png_channel(path, band, shape) > threshold).view(np.uint8)  # no copy

    a = dsa.from_delayed(dask.delayed(load)(), shape=shape, dtype=np.uint8)
    return a.rechunk((_RASTER_CHUNKS["y"], _RASTER_CHUNKS["x"]))


# -- frame order ----------------------------------------------------------------------------------------
_DIGITS = re.compile(r"(\d+)")


def frame_files(folder: Path) -> list[Path]:
    """The ``*.png`` files of ``folder`` in frame order (natural order of the numbers in the names).

    ``1.png, 2.png, ..., 10.png`` and ``0001.png, 0002.png, ...`` both sort by number. All names
    must share one pattern (the same text around the numbers), and no two may carry the same
    numbers.

    Raises
    ------
    ReaderError
        Names of different patterns, names without a number, or two names with the same number
        (e.g. ``1.png`` and ``01.png``).
    """
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() == ".png" and not f.name.startswith("."))
    if len(files) <= 1:
        return files
    keys: dict[Path, tuple[tuple[str, ...], tuple[int, ...]]] = {}
    for f in files:
        parts = _DIGITS.split(f.stem)
        keys[f] = (tuple(parts[0::2]), tuple(int(n) for n in parts[1::2]))
    patterns: dict[tuple[str, ...], list[str]] = {}
    for f, (skel, _) in keys.items():
        patterns.setdefault(skel, []).append(f.name)
    fix = "name the frames with one pattern holding the frame number, e.g. 0000.png, 0001.png, ..."
    if len(patterns) > 1:
        shown = "; ".join(
            f"{', '.join(names[:3])}{', ...' if len(names) > 3 else ''}" for names in patterns.values()
        )
        raise ReaderError(
            f"{folder} mixes frame names of {len(patterns)} patterns ({shown}); their order is ambiguous. Fix: {fix}."
        )
    if not next(iter(keys.values()))[1]:
        raise ReaderError(f"the names in {folder} carry no frame number ({files[0].name}, ...). Fix: {fix}.")
    seen: dict[tuple[int, ...], str] = {}
    for f, (_, nums) in keys.items():
        if nums in seen:
            raise ReaderError(
                f"{folder}: {seen[nums]} and {f.name} carry the same frame number; the order is ambiguous. "
                f"Fix: {fix}."
            )
        seen[nums] = f.name
    return sorted(files, key=lambda f: keys[f][1])


# -- wind and metadata -----------------------------------------------------------------------------------
def _numeric_column(df: Any, col: str, path: Path, problems: list[Problem]) -> np.ndarray:
    import pandas as pd

    raw = df[col]
    num = pd.to_numeric(raw, errors="coerce")
    bad = np.flatnonzero(~np.isfinite(num.to_numpy(np.float64)))
    if bad.size:
        shown = ", ".join(f"line {i + 2}: {raw.iloc[i]!r}" for i in bad[:5])
        more = f" (and {bad.size - 5} more)" if bad.size > 5 else ""
        problems.append(
            Problem(
                f"{path} column {col!r} has {bad.size} value(s) that are not finite numbers ({shown}{more})",
                f"write a number (m/s{', degrees' if col == 'direction' else ''}) on every row; "
                "interpolate missing wind in time",
            )
        )
    return num.to_numpy(np.float64)


def _read_wind(
    path: Path, n_steps: int | None, problems: list[Problem]
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Times and (u, v) of ``wind.csv``; problems are appended (None when it cannot be used).

    ``n_steps`` is the number of rows required (one per fire frame); None accepts any number
    (what-if wind files, :mod:`emberxr.products.wind`)."""
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as exc:  # pandas raises several types for broken CSV
        problems.append(
            Problem(
                f"{path} could not be read as CSV ({exc})", "write a header time,u,v then one row per frame"
            )
        )
        return None
    df.columns = [str(c).strip().lower() for c in df.columns]
    cols = set(df.columns)
    n_before = len(problems)
    if "time" in cols and {"u", "v"} <= cols:
        u = _numeric_column(df, "u", path, problems)
        v = _numeric_column(df, "v", path, problems)
    elif "time" in cols and {"speed", "direction"} <= cols:
        speed = _numeric_column(df, "speed", path, problems)
        direction = _numeric_column(df, "direction", path, problems)
        u, v = wind_uv_from_speed_dir(speed, direction)
    else:
        want_uv = [c for c in ("time", "u", "v") if c not in cols]
        want_sd = [c for c in ("time", "speed", "direction") if c not in cols]
        missing = want_uv if len(want_uv) <= len(want_sd) else want_sd
        problems.append(
            Problem(
                f"{path} lacks column(s) {', '.join(missing)}; found: {', '.join(df.columns) or '(none)'}",
                "columns must be time,u,v (m/s towards east/north) or time,speed,direction "
                "(m/s, degrees the wind blows from)",
            )
        )
        return None
    if n_steps is not None and len(df) != n_steps:
        problems.append(
            Problem(
                f"{path} has {len(df)} row(s) but there are {n_steps} fire frame(s)",
                "give exactly one wind row (with its time stamp) per fire frame",
            )
        )
    t = pd.to_datetime(df["time"].str.strip(), errors="coerce", format="ISO8601", utc=True)
    bad = np.flatnonzero(t.isna().to_numpy())
    if bad.size:
        shown = ", ".join(f"line {i + 2}: {df['time'].iloc[i]!r}" for i in bad[:5])
        problems.append(
            Problem(
                f"{path}: {bad.size} time stamp(s) are not ISO 8601 dates ({shown})",
                "write times like 2026-07-01T12:00:00 (time-zone aware stamps are converted to UTC)",
            )
        )
    if len(problems) > n_before:
        return None
    times = t.dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    return times, np.asarray(u, np.float32), np.asarray(v, np.float32)


def _read_meta(path: Path, problems: list[Problem]) -> dict[str, Any]:
    """``event.json``: an object with ``event_id`` (str), ``source`` (str), ``attrs`` (object);
    problems are appended."""
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        problems.append(Problem(f"{path} is not valid JSON ({exc})", "correct or delete it"))
        return {}
    shape = '{"event_id": "...", "source": "...", "attrs": {...}}'
    if not isinstance(meta, dict):
        problems.append(
            Problem(
                f"{path} holds a JSON {type(meta).__name__}, not an object", f"write an object like {shape}"
            )
        )
        return {}
    n_before = len(problems)
    for key in meta:
        if key not in _EVENT_JSON_KEYS:
            close = difflib.get_close_matches(str(key), _EVENT_JSON_KEYS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"keys are {', '.join(_EVENT_JSON_KEYS)}"
            problems.append(
                Problem(f"{path}: unknown key {key!r}", f"{hint} (put other metadata under 'attrs')")
            )
    for key in ("event_id", "source"):
        if key in meta and not (isinstance(meta[key], str) and meta[key]):
            problems.append(
                Problem(
                    f"{path}: {key!r} is {meta[key]!r} ({type(meta[key]).__name__})",
                    f"make {key} a non-empty string",
                )
            )
    attrs = meta.get("attrs", {})
    if not isinstance(attrs, dict):
        problems.append(
            Problem(f"{path}: 'attrs' is a {type(attrs).__name__}", "make attrs an object of name -> value")
        )
    elif "time_step_hours" in attrs:
        tsh = attrs["time_step_hours"]
        if isinstance(tsh, bool) or not isinstance(tsh, (int, float)) or not tsh > 0:
            problems.append(
                Problem(
                    f"{path}: attrs.time_step_hours is {tsh!r}",
                    "give a positive number of hours (or omit it)",
                )
            )
    return meta if len(problems) == n_before else {}


# -- band kinds ------------------------------------------------------------------------------------------
def _band_kinds(names: list[str], tags: list[dict[str, str]], data: Any, categorical: set[str]) -> list[str]:
    """Kind of each terrain band: tag, then name, then (reading the band) binary vs continuous."""
    import dask

    kinds: list[str | None] = []
    for name, t in zip(names, tags):
        kind = t.get("kind") or t.get("KIND")
        if kind:
            kinds.append(kind.strip().lower())  # unknown kinds pass through: validate() reports them
        elif name in categorical or name.lower() in CATEGORICAL_NAMES:
            kinds.append(CATEGORICAL)
        else:
            kinds.append(None)
    undecided = [i for i, k in enumerate(kinds) if k is None]
    if undecided:  # binary when every finite value is 0 or 1: one chunked pass over those bands
        counts = []
        for i in undecided:
            band = data[i]
            finite = np.isfinite(band)
            counts.append((finite.sum(), ((band == 0) | (band == 1)).sum()))
        for i, (n_finite, n_bin) in zip(undecided, dask.compute(*counts)):
            kinds[i] = BINARY if n_finite and n_bin == n_finite else CONTINUOUS
    return [str(k) for k in kinds]


class RawReader(FireReader):
    """Read one raw event folder (``docs/raw-format.md``) into a lazy FireEvent."""

    name = "raw"
    description = "raw event folder: terrain.tif + fire/*.png + wind.csv (docs/raw-format.md)"
    priority = BUILTIN_PRIORITY

    def guess_can_open(self, path: str | os.PathLike) -> bool:
        """True for a directory with ``terrain.tif`` and a ``fire/`` folder."""
        p = Path(path)
        return p.is_dir() and (p / TERRAIN).is_file() and (p / FIRE_DIR).is_dir()

    def diagnose(self, path: str | os.PathLike) -> str | None:
        """What is missing when ``path`` looks like a raw event folder (holds some of its files)."""
        p = Path(path)
        if not p.is_dir():
            return None

        def shown(n: str) -> str:
            return f"{n}/" if n in (FIRE_DIR, TARGET_DIR) else n

        parts = (TERRAIN, FIRE_DIR, WIND, TARGET_DIR, VALID_PNG, ARRIVAL_TIF, META)
        present = [shown(n) for n in parts if (p / n).exists()]
        missing = [shown(n) for n in (TERRAIN, FIRE_DIR, WIND) if not (p / n).exists()]
        if not present or not missing:
            return None
        return f"{p} has {', '.join(present)} but lacks {', '.join(missing)}: {LAYOUT}."

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
        """Check the folder from file headers, then build the event lazily.

        Parameters
        ----------
        path
            The event folder.
        fire_band
            Which PNG channel holds the fire (0 = first / grey; palette images are expanded to
            R, G, B (, A) through their palette first).
        threshold
            A pixel is burned where the channel value is greater than this.
        fire_from
            ``"frames"``: the fire series is ``fire/*.png``. ``"targets"``: frame 0 from ``fire/``,
            then the isochrone masks of ``targets/`` as steps 1..T-1.
        categorical
            Extra band names to read as categorical when the band has no ``kind`` tag.
        event_id
            Override the id (default: ``event.json``'s, else the folder name).

        Returns
        -------
        xarray.Dataset
            The event; its variables are Dask arrays (nothing read but headers, wind.csv,
            event.json and, for untagged terrain bands, one pass to tell binary from continuous).

        Raises
        ------
        ReaderError
            Missing or unreadable files, rasters off the terrain grid, PNGs of the wrong size or
            channel count, a bad wind CSV or event.json; every problem found is listed.
        """
        p = Path(path)
        if not p.is_dir():
            raise ReaderError(f"{p} is not a folder. Fix: pass the event folder; {LAYOUT}.")
        missing = [n for n in (TERRAIN, FIRE_DIR, WIND) if not (p / n).exists()]
        if missing:
            missing = [f"{n}/" if n == FIRE_DIR else n for n in missing]
            raise ReaderError(f"{p} is not a raw event folder: missing {', '.join(missing)}. Fix: {LAYOUT}.")
        if fire_from not in ("frames", "targets"):
            raise ReaderError(f"fire_from must be 'frames' or 'targets', got {fire_from!r}")
        if isinstance(fire_band, bool) or not isinstance(fire_band, (int, np.integer)):
            raise ReaderError(f"fire_band must be an integer channel index, got {fire_band!r}")

        # 1. headers only: every grid, size and channel, all problems at once
        terrain = _raster_header(p / TERRAIN)
        grid = terrain.grid
        problems = _terrain_grid_problems(p / TERRAIN, grid)
        names = [d if d else f"band{i + 1}" for i, d in enumerate(terrain.names)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            problems.append(
                Problem(
                    f"{p / TERRAIN} has duplicate band descriptions {dup}",
                    "give every band a unique description (its name)",
                )
            )
        frames = frame_files(p / FIRE_DIR)
        if not frames:
            raise ReaderError(
                f"{p / FIRE_DIR} holds no .png fire frame. Fix: add one PNG per time step (0000.png, ...)."
            )
        targets_dir = p / TARGET_DIR
        targets = frame_files(targets_dir) if targets_dir.is_dir() else []
        if targets and len(targets) != len(frames) - 1:
            problems.append(
                Problem(
                    f"{targets_dir} has {len(targets)} mask(s) but {p / FIRE_DIR} has {len(frames)} frame(s)",
                    f"targets/k is the burned area at step k+1, so there must be {len(frames) - 1}",
                )
            )
        if fire_from == "targets" and not targets:
            problems.append(
                Problem(
                    f"fire_from='targets' but {targets_dir} holds no masks",
                    "add targets/ or use fire_from='frames'",
                )
            )
        used = frames if fire_from == "frames" else frames[:1] + targets
        used_set = set(used)
        for f in [*frames, *targets]:
            if f in used_set:
                problems += _png_problems(_png_header(f), fire_band, threshold, grid, "fire_band")
            else:  # unused targets: only their size is checked
                problems += _png_problems(_png_header(f), 0, None, grid, "channel")
        if (p / VALID_PNG).exists():
            problems += _png_problems(_png_header(p / VALID_PNG), 0, 0.0, grid, "channel")
        if (p / ARRIVAL_TIF).exists():
            arr = _raster_header(p / ARRIVAL_TIF)
            problems += _same_grid_problems(p / ARRIVAL_TIF, arr.grid, grid)
            if arr.count != 1:
                problems.append(
                    Problem(f"{p / ARRIVAL_TIF} has {arr.count} bands", "write arrival time as one band")
                )
        wind = _read_wind(p / WIND, len(frames), problems)
        meta = _read_meta(p / META, problems)
        if problems or wind is None:
            raise _fail(p, problems)
        times, u, v = wind

        # 2. the event, lazily
        import dask.array as dsa

        shape = (grid.height, grid.width)
        static = _lazy_raster(p / TERRAIN)
        fire = dsa.stack([_lazy_png_mask(f, fire_band, threshold, shape) for f in used])
        if (p / VALID_PNG).exists():
            valid = _lazy_png_mask(p / VALID_PNG, 0, 0.0, shape).astype(bool)
        elif terrain.count:
            valid = np.isfinite(static).all(axis=0)
        else:
            valid = np.ones(shape, bool)
        arrival = _lazy_raster(p / ARRIVAL_TIF)[0] if (p / ARRIVAL_TIF).exists() else None
        kinds = _band_kinds(names, terrain.tags, static, set(categorical))

        attrs = dict(meta.get("attrs", {}))
        if "time_step_hours" not in attrs and len(times) >= 2:
            attrs["time_step_hours"] = float(np.median(np.diff(times)) / np.timedelta64(1, "h"))
        tr = grid.transform
        x = tr.c + tr.a * (np.arange(shape[1]) + 0.5)
        y = tr.f + tr.e * (np.arange(shape[0]) + 0.5)
        return make_event(
            fire,
            static,
            u,
            v,
            times=times,
            x=x,
            y=y,
            crs=grid.crs,
            band_names=names,
            band_kinds=kinds,
            valid=valid,
            arrival_time=arrival,
            event_id=event_id or str(meta.get("event_id") or p.name),
            source=str(meta.get("source", "raw")),
            attrs=attrs,
            transform=tr,
        )


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
        The event has no CRS, lacks fire/static/wind, or has dynamic bands (the raw layout has no
        place for them: they would be lost).
    """
    import pandas as pd
    import rasterio

    missing = [v for v in (FIRE, STATIC, "wind_u", "wind_v") if v not in event.variables]
    if missing:
        raise WriteError(f"cannot write a raw folder: the event lacks {', '.join(missing)}")
    if "dynamic" in event.variables:
        raise WriteError(
            "cannot write a raw folder: the event has dynamic bands, which the raw folder layout does "
            "not hold; save it as an event store instead (emberxr.save_events([event], 'events.zarr'))"
        )
    require_crs(event, "a raw event folder (its rasters are GeoTIFFs)")
    event = event.load()
    crs = event.rio.crs
    transform = event.rio.transform()
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
