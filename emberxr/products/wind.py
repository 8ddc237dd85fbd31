"""The wind a multi-step forecast runs on after the issue time, and what-if wind files.

A model predicting step ``k + 1`` sees the wind of its input frames, the last of which is the
valid time ``issue + k * dt`` (``dt`` = the event's time step). So a ``horizon``-step forecast
needs the wind at ``horizon - 1`` future times; a one-step forecast uses observed wind only.
:func:`future_wind` gives those values, from one of three sources:

``None`` (default)
    the event's own series where the event has those frames (e.g. a hindcast, or a weather
    forecast written into the event), beyond its last frame the last value held;
a CSV file (what-if weather, ``emberxr predict --wind FILE.csv``)
    columns ``time,u,v`` (m/s, the vector the air moves towards: east, north) or
    ``time,speed,direction`` (speed in m/s, direction in degrees clockwise from north the wind
    blows *from*, as weather forecasts give it); times in ISO 8601 (``2026-07-01T13:00``;
    time-zone aware stamps are converted to UTC), strictly increasing. The same columns and units
    as ``wind.csv`` of a raw event folder (``docs/raw-format.md``). Rows at or before the issue
    time may be present (they are used only to hold a value into the first step). Each future
    step ``k`` takes the vector mean of the rows in ``(tau_k - dt, tau_k]``; a step without a row
    there holds the latest earlier row, for at most ``max(dt, the file's median spacing)`` —
    so hourly, 3-hourly or daily forecast files all work with any model step. A file whose rows
    do not reach every needed step is refused;
an array ``(n, 2)``
    u, v in m/s for the future steps ``1..n`` (``n >= horizon - 1``), for what-if studies in Python.

Every problem of a file is listed at once in a :class:`~emberxr.errors.WindFileError`. The
forecast records the source and the values in its attributes ``wind_source`` and ``wind_future``
(and so in the GeoTIFF tags).

Ensembles (:mod:`emberxr.products.ensemble`) can perturb the future wind per member:
:func:`parse_wind_spread` reads ``SPEED_KMH,DIR_DEG`` or ``auto`` (:func:`auto_wind_spread`: the
variability of the event's recent observed wind) and :func:`perturb_wind` applies one speed and
one direction offset per member, held over the horizon (forecast errors of wind are persistent
more than random from hour to hour).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from emberxr.errors import ConfigError, Problem, WindFileError
from emberxr.schema import wind_series, wind_speed_dir_from_uv, wind_uv_from_speed_dir

__all__ = [
    "FutureWind",
    "WindTable",
    "auto_wind_spread",
    "future_wind",
    "parse_wind_spread",
    "perturb_wind",
    "read_wind_file",
    "resample_wind",
]

_KMH = 3.6  # km/h per m/s


@dataclass(frozen=True)
class WindTable:
    """A wind series read from a file: times, u and v (m/s, towards east/north)."""

    times: np.ndarray  # datetime64[ns], strictly increasing
    u: np.ndarray  # float32
    v: np.ndarray  # float32
    source: str  # "file NAME (sha256 ...)"


@dataclass(frozen=True)
class FutureWind:
    """The wind of a forecast's input frames.

    Attributes
    ----------
    issue_uv
        (2,) observed u, v at the issue time (the last input frame of step 1).
    uv
        (horizon - 1, 2) u, v at the valid times ``issue + k * dt``, ``k = 1 .. horizon - 1``: the
        last input frame of step ``k + 1``.
    times
        Those valid times (datetime64[ns]).
    source
        Where the values come from (``event``, ``event, last value held after ...``, ``file ...``,
        ``array``).
    """

    issue_uv: np.ndarray
    uv: np.ndarray
    times: np.ndarray
    source: str

    def step_inputs(self) -> np.ndarray:
        """(horizon, 2): the wind of the last input frame of each forecast step."""
        return np.concatenate([self.issue_uv[None], self.uv]).astype(np.float32)

    def attrs(self) -> dict[str, str]:
        """``wind_source`` and ``wind_future`` (``TIME speed m/s from DIR°; ...``) for forecast
        attributes and GeoTIFF tags."""
        parts = []
        for t, (u, v) in zip(self.times, self.uv):
            s, d = wind_speed_dir_from_uv(u, v)
            parts.append(f"{np.datetime_as_string(t, unit='s')} {float(s):.2f} m/s from {float(d):.0f} deg")
        return {"wind_source": self.source, "wind_future": "; ".join(parts) or "none (one-step forecast)"}


# -- files -------------------------------------------------------------------------------------------
def _parse(path: Path) -> tuple[WindTable | None, list[Problem], np.ndarray | None]:
    """(table or None, problems, the parsed time stamps or None) of a wind CSV: the format
    problems of :func:`emberxr.readers.raw_reader._read_wind` (columns, numbers, time stamps) and
    the order of the times, found together."""
    import pandas as pd

    from emberxr.readers.raw_reader import _read_wind

    problems: list[Problem] = []
    if not path.is_file():
        fix = "pass the path of a CSV with columns time,speed,direction (or time,u,v)"
        return None, [Problem(f"{path} does not exist", fix)], None
    read = _read_wind(path, None, problems)
    if read is not None:
        times = read[0]
    else:  # the values are unusable; still check the order of the time stamps that parse
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
            col = next(c for c in df.columns if str(c).strip().lower() == "time")
            t = pd.to_datetime(df[col].str.strip(), errors="coerce", format="ISO8601", utc=True)
            times = t.dropna().dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
        except Exception:  # no readable time column: already reported
            times = None
    if times is not None:
        if len(times) == 0 and read is not None:
            problems.append(Problem(f"{path} has no rows", "write one row per time after the header"))
        back = np.flatnonzero(np.diff(times) <= np.timedelta64(0, "ns"))
        if back.size:
            shown = ", ".join(f"{_iso(times[i + 1])} after {_iso(times[i])}" for i in back[:5])
            more = f" (and {back.size - 5} more)" if back.size > 5 else ""
            problems.append(
                Problem(
                    f"{path}: times are not strictly increasing ({shown}{more})",
                    "sort the rows by time and remove duplicate time stamps",
                )
            )
            times = np.unique(times)  # coverage is still checked, on the sorted times
    if problems or read is None:
        return None, problems, times
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return WindTable(read[0], read[1], read[2], source=f"file {path.name} (sha256 {digest})"), problems, times


def read_wind_file(path: str | os.PathLike) -> WindTable:
    """Read and check a what-if wind CSV (format: see the module docstring).

    Raises
    ------
    WindFileError
        Unreadable file, missing or non-numeric columns, bad or non-increasing time stamps; every
        problem is listed.
    """
    table, problems, _ = _parse(Path(path))
    if table is None:
        raise WindFileError(problems, subject=str(path))
    return table


def _plan(
    times: np.ndarray, issue: np.datetime64, dt_hours: float, n: int
) -> tuple[list[Any], list[Problem]]:
    """Per future step ``k = 1..n``: the indices of the rows it averages (or the one it holds),
    and the coverage problems (steps with no row to take or hold)."""
    step = np.timedelta64(round(dt_hours * 3600), "s").astype("timedelta64[ns]")
    t = np.asarray(times, dtype="datetime64[ns]")
    spacing = np.median(np.diff(t)) if len(t) > 1 else step
    max_hold = max(step, spacing)
    rows: list[Any] = []
    early, gaps = [], []
    for k in range(1, n + 1):
        tau = np.datetime64(issue, "ns") + k * step
        inside = np.flatnonzero((t > tau - step) & (t <= tau))
        before = np.flatnonzero(t <= tau)
        if inside.size:
            rows.append(inside)
        elif before.size and tau - t[before[-1]] <= max_hold:
            rows.append(before[-1:])
        else:
            rows.append(None)
            if before.size:
                gaps.append((tau, t[before[-1]]))
            else:
                early.append(tau)
    problems = []
    hold_h = float(max_hold / np.timedelta64(1, "h"))
    if early:
        first = f"the file starts at {_iso(t[0])}" if len(t) else "the file has no rows"
        problems.append(
            Problem(
                f"no wind at or before {_iso(early[0])} (the first forecast step needing wind); {first}",
                f"add rows from {_iso(early[0])} or earlier",
            )
        )
    if gaps:
        shown = ", ".join(f"{_iso(tau)} (last row {_iso(last)})" for tau, last in gaps[:5])
        more = f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
        last_needed = np.datetime64(issue, "ns") + n * step
        problems.append(
            Problem(
                f"the file does not cover the forecast horizon: {len(gaps)} step(s) lie more than "
                f"{hold_h:g} h after the latest row before them: {shown}{more}",
                f"give rows at least every {hold_h:g} h up to {_iso(last_needed)}, or shorten --horizon",
            )
        )
    return rows, problems


def resample_wind(table: WindTable, issue: np.datetime64, dt_hours: float, n: int) -> np.ndarray:
    """u, v ``(n, 2)`` of ``table`` at the valid times ``issue + k * dt``, ``k = 1 .. n``.

    Each step takes the vector mean of the rows in ``(tau_k - dt, tau_k]``, else holds the latest
    earlier row for at most ``max(dt, the file's median spacing)``.

    Raises
    ------
    WindFileError
        Steps without a row to take or hold (the file starts too late, ends too early, or has a gap).
    """
    rows, problems = _plan(table.times, issue, dt_hours, n)
    if problems:
        raise WindFileError(problems, subject=table.source)
    out = np.zeros((n, 2), np.float32)
    for k, idx in enumerate(rows):
        out[k] = table.u[idx].mean(), table.v[idx].mean()
    return out


def _iso(t: Any) -> str:
    return str(np.datetime_as_string(np.datetime64(t, "s"), unit="s"))


# -- the wind of a forecast ---------------------------------------------------------------------------
def future_wind(
    event: xr.Dataset,
    t: int,
    horizon: int,
    wind: str | os.PathLike | WindTable | np.ndarray | Sequence[Sequence[float]] | None = None,
) -> FutureWind:
    """The wind of a ``horizon``-step forecast issued at frame ``t`` (see the module docstring).

    Parameters
    ----------
    event
        The FireEvent (its times, time step and observed wind).
    t
        Index of the issue frame (``0 <= t < n_frames``).
    horizon
        Steps ahead (``>= 1``).
    wind
        None (the event's series, held beyond its end), a CSV path, a :class:`WindTable`, or
        u, v values ``(n, 2)`` in m/s for the future steps.

    Raises
    ------
    WindFileError
        The file or table cannot supply the horizon.
    ConfigError
        ``wind`` given for a one-step forecast (which uses observed wind only), or an array of the
        wrong shape.
    """
    from emberxr.forecast import time_step_hours

    times = np.asarray(event["time"].values, dtype="datetime64[ns]")
    n_t = len(times)
    dt = time_step_hours(event)
    step = np.timedelta64(round(dt * 3600), "s").astype("timedelta64[ns]")
    observed = np.asarray(wind_series(event), np.float32)
    n = int(horizon) - 1
    fut_times = times[t] + np.arange(1, n + 1) * step
    if wind is None:
        idx = np.minimum(np.arange(t + 1, t + n + 1), n_t - 1)
        uv = observed[idx] if n else np.zeros((0, 2), np.float32)
        held = t + n > n_t - 1
        source = "event"
        if held:
            source = f"event, last value held after {_iso(times[-1])}"
        return FutureWind(observed[t], uv.astype(np.float32), fut_times, source)
    if n == 0:
        raise ConfigError(
            [
                Problem(
                    "a future wind was given for a one-step forecast, which sees only observed wind",
                    "forecast two or more steps (--horizon 2 or more) to use a what-if wind",
                )
            ],
            subject="future wind",
        )
    if isinstance(wind, (str, os.PathLike)):
        table, problems, parsed = _parse(Path(wind))
        if parsed is not None:  # coverage problems too, listed with the format problems
            problems = problems + _plan(parsed, times[t], dt, n)[1]
        if problems:
            raise WindFileError(problems, subject=str(wind))
        wind = table
    if isinstance(wind, WindTable):
        return FutureWind(observed[t], resample_wind(wind, times[t], dt, n), fut_times, wind.source)
    arr = np.asarray(wind, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < n or not np.isfinite(arr[:n]).all():
        raise ConfigError(
            [
                Problem(
                    f"future wind array of shape {arr.shape}"
                    + ("" if arr.ndim != 2 or np.isfinite(arr[:n]).all() else " with non-finite values"),
                    f"give finite u, v in m/s for at least {n} future step(s): shape ({n}, 2)",
                )
            ],
            subject="future wind",
        )
    return FutureWind(observed[t], arr[:n].astype(np.float32), fut_times, "array")


# -- ensembles: wind spread ---------------------------------------------------------------------------
def parse_wind_spread(
    value: str | Sequence[float] | None,
) -> tuple[float, float] | Literal["auto"] | None:
    """``SPEED_KMH,DIR_DEG`` (standard deviations of the per-member speed and direction offsets),
    ``auto``, a pair of numbers, or None.

    Raises
    ------
    ConfigError
        Anything else, or a negative or non-finite spread.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        parts = [p.strip() for p in text.split(",")]
    else:
        parts = list(value)
    fix = "give SPEED_KMH,DIR_DEG (e.g. 5,20: speed spread in km/h, direction spread in degrees) or auto"
    try:
        nums = [float(p) for p in parts]
    except (TypeError, ValueError):
        nums = []
    if len(nums) != 2 or not all(np.isfinite(nums)) or min(nums) < 0:
        raise ConfigError([Problem(f"wind spread {value!r}", fix)], subject="wind spread")
    return nums[0], nums[1]


def auto_wind_spread(event: xr.Dataset, t: int, frames: int) -> tuple[float, float]:
    """Standard deviation of the observed wind speed (km/h) and circular standard deviation of its
    direction (degrees) over the last ``frames`` frames up to ``t`` (at least two).

    Raises
    ------
    ConfigError
        Fewer than two observed frames.
    """
    start = max(0, t - max(int(frames), 2) + 1)
    uv = np.asarray(wind_series(event), np.float64)[start : t + 1]
    if len(uv) < 2:
        raise ConfigError(
            [
                Problem(
                    "wind spread 'auto' needs at least two observed frames, the forecast is issued at frame 0",
                    "give the spread explicitly as SPEED_KMH,DIR_DEG (e.g. 5,20)",
                )
            ],
            subject="wind spread",
        )
    speed = np.hypot(uv[:, 0], uv[:, 1])
    unit = uv / np.maximum(speed, 1e-9)[:, None]
    moving = speed > 1e-6
    r = float(np.hypot(*unit[moving].mean(axis=0))) if moving.any() else 1.0
    dir_sd = float(np.degrees(np.sqrt(-2.0 * np.log(min(max(r, 1e-12), 1.0)))))
    return float(np.std(speed) * _KMH), dir_sd


def perturb_wind(
    uv: np.ndarray, speed_sd_kmh: float, dir_sd_deg: float, rngs: Sequence[np.random.Generator]
) -> np.ndarray:
    """``(N, n, 2)``: ``uv`` ``(n, 2)`` with one speed offset ``~ N(0, speed_sd)`` (speed kept
    ``>= 0``) and one direction offset ``~ N(0, dir_sd)`` per member (one generator each), held
    over all ``n`` steps."""
    uv = np.asarray(uv, np.float32)
    if speed_sd_kmh == 0 and dir_sd_deg == 0:  # no spread: the very same wind for every member
        return np.repeat(uv[None], len(rngs), axis=0)
    speed, direction = wind_speed_dir_from_uv(uv[:, 0], uv[:, 1])
    out = np.empty((len(rngs), *uv.shape), np.float32)
    for i, rng in enumerate(rngs):
        ds, dd = rng.normal(0.0, 1.0, 2) * (speed_sd_kmh / _KMH, dir_sd_deg)
        u, v = wind_uv_from_speed_dir(np.maximum(speed + ds, 0.0), direction + dd)
        out[i, :, 0], out[i, :, 1] = u, v
    return out
