"""Forecasts on the input grid: next-step and multi-step (autoregressive) fire probability.

:func:`forecast` takes a trained model, its normalisation statistics and a FireEvent, and returns
an :class:`xarray.Dataset` on the event's grid (``x``, ``y`` and ``spatial_ref`` kept, so
``.rio.to_raster`` works) with

``probability`` (step, y, x) float32
    probability that each cell is burned ``step`` time steps after the issue time ``time[t]``;
    NaN outside the event's validity footprint (nodata).
``fire_mask`` (step, y, x) uint8
    ``probability >= threshold`` (the threshold chosen on validation).
``arrival_time`` (y, x) float32
    estimated hours from the issue time until the cell burns: 0 for cells already burning at
    ``time[t]``, ``k * dt`` for the first step ``k`` whose binary forecast is 1, NaN when the fire
    does not reach the cell within the horizon.

Without a threshold (``threshold=None``: a checkpoint whose threshold was never chosen) a
one-step forecast holds ``probability`` only; the binary mask, the arrival time and multi-step
forecasts (which feed thresholded masks back) raise :class:`~emberxr.errors.ThresholdNotSetError`.

Multi-step forecasts roll the model forward: step ``k + 1`` sees the observed history up to
``time[t]`` followed by the **thresholded** forecasts of steps ``1..k`` (cumulative fire masks:
each fed-back mask is OR-ed with the previous one). Thresholded feedback keeps the model's input in
the distribution it was trained on (binary masks). For cumulative fire the probability of step
``k + 1`` is made non-decreasing over steps (``max`` with step ``k``) for the same reason; active
fire (event attribute ``fire_kind: active``) is neither OR-ed nor made non-decreasing, since
detections switch off again. Wind and dynamic bands for future steps are taken from the event
when it has those time steps, else the last known ones are held; the future wind may also be
given (``future_wind``: a what-if wind file or array, :mod:`emberxr.products.wind`). The
attributes ``wind_source`` / ``wind_future`` record it and the ``step`` coordinates ``wind_u`` /
``wind_v`` hold the wind of each step's last input frame.

Products built on this roll-out live in :mod:`emberxr.products`: ensembles (``members=N``),
calibrated probabilities (``calibrator``), perimeters, styles and quick-looks.

Every step runs :func:`emberxr.inference.predict_histories`: scenes larger than the window
(``tile_size``) are predicted in overlapping windows blended with a cosine taper (no seams),
batched, on ``device``. :func:`forecast` returns the forecast in memory; :func:`write_prediction`
streams it to GeoTIFF/COG files strip by strip, reading a lazy event window by window, so scenes
of any size are predicted in bounded memory (a multi-step forecast keeps one bit-packed mask per
step in memory; the previous step's probability and the first step each pixel was reached go to
a temporary file for a huge scene: :class:`~emberxr.inference.SceneBuffer`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from emberxr.errors import ConfigError, Problem, ThresholdNotSetError
from emberxr.schema import (
    CRS_STATUS,
    CUMULATIVE,
    DYNAMIC,
    FIRE,
    VALID,
    fire_kind,
    require_crs,
    transform_of,
    wind_series,
)


def _times(event: xr.Dataset) -> np.ndarray:
    return np.asarray(event["time"].values, dtype="datetime64[ns]")


def time_step_hours(event: xr.Dataset) -> float:
    """Hours between frames: ``attrs['time_step_hours']``, else the median time difference."""
    dt = event.attrs.get("time_step_hours")
    if dt:
        return float(dt)
    t = _times(event)
    if len(t) > 1:
        return float(np.median(np.diff(t)) / np.timedelta64(1, "h"))
    return 1.0


def predict_step(
    model: Any,
    stats: Any,
    event: xr.Dataset,
    fire_hist: Any,
    wind_hist: np.ndarray,
    times: np.ndarray,
    **options: Any,
) -> np.ndarray | None:
    """Probability [H, W] of the next frame given one history of fire masks (``[h, H, W]``).

    The one-history case of :func:`emberxr.inference.predict_histories` (``options`` are its
    keyword arguments: ``max_history``, ``patch_size``, ``tile_size``, ``device``,
    ``dynamic_hist`` (``[h, Cd, H, W]`` raw dynamic bands of events that have them),
    ``calibrator`` ...); None when a ``sink`` option took the rows.
    """
    from emberxr.inference import predict_histories

    hist = fire_hist[None]
    wind = np.asarray(wind_hist, np.float32)[None]
    out = predict_histories(model, stats, event, hist, wind, times, **options)
    return None if out is None else out[0]


def _check_request(
    event: xr.Dataset, t: int | None, horizon: int, threshold: float | None, ensemble: bool = False
) -> int:
    """Validate ``t`` and ``horizon``; return ``t`` as a non-negative index."""
    n_t = int(event.sizes["time"])
    problems = []
    if int(horizon) < 1:
        problems.append(Problem(f"horizon={horizon}", "use horizon >= 1"))
    if t is None:
        t = n_t - 1
    if not -n_t <= int(t) < n_t:
        problems.append(
            Problem(
                f"t={t} is outside the event's {n_t} frame(s)", f"use 0..{n_t - 1} (or negative from the end)"
            )
        )
    if problems:
        raise ConfigError(problems, subject="forecast")
    if threshold is None and int(horizon) > 1 and not ensemble:
        raise ThresholdNotSetError(f"a {horizon}-step forecast (it feeds thresholded masks back)")
    return int(t) % n_t


def _row_reader(a: Any, event: xr.Dataset) -> Any:
    """``reader(rows, cols)``: a 2-D array (numpy, PackedMask or lazy Dask) as numpy, panel by
    panel; a lazy one is decoded by storage chunk rows, each once, as the finished rows move down
    (:class:`emberxr.inference.PanelRows`)."""
    from emberxr.inference import PanelRows, storage_rows

    return PanelRows(a, storage_rows(event))


def arrival_rows(first_step: np.ndarray, burning: np.ndarray, valid: np.ndarray, dt: float) -> np.ndarray:
    """Arrival time in hours: 0 where burning at the issue time, ``k * dt`` for the first step ``k``
    (1-based; 0 = never) whose binary forecast is 1, NaN where not reached or outside ``valid``."""
    arrival = np.where(first_step > 0, first_step.astype(np.float32) * np.float32(dt), np.nan)
    arrival = np.where(burning, 0.0, arrival)
    return np.where(valid, arrival, np.nan).astype(np.float32)


def dynamic_history(event: xr.Dataset, t: int, h: int) -> list[Any] | None:
    """The raw dynamic bands ``[Cd, H, W]`` of the ``h`` history steps ending at frame ``t`` (lazy
    when the event is), or None when the event has no dynamic bands."""
    if DYNAMIC not in event.variables:
        return None
    data = event[DYNAMIC].data
    return [data[i] for i in range(t - h + 1, t + 1)]


def next_dynamic(event: xr.Dataset, index: int, frames: list[Any]) -> Any:
    """The dynamic bands of the roll-out's next input step (frame ``index`` of the event): the
    event's own when it has that step, else the last known ones held."""
    return event[DYNAMIC].data[index] if index < int(event.sizes["time"]) else frames[-1]


def _rollout(
    model: Any,
    stats: Any,
    event: xr.Dataset,
    t: int,
    horizon: int,
    threshold: float | None,
    emit: Any,
    future: Any,
    *,
    max_history: int = 8,
    progress: bool = True,
    **predict: Any,
) -> None:
    """Run ``horizon`` steps from frame ``t``; for every finished strip of rows of step ``k`` call
    ``emit(k, row0, col0, probability, mask, valid)`` (blocks whose top-left pixel is ``(row0,
    col0)``, in the order of :data:`emberxr.inference.BlockSink`; probability NaN outside
    ``valid``; without a threshold the mask is only the cells burning at the issue time).

    The history is read lazily from the event; the thresholded mask of each step is fed back (kept
    in memory at one bit per pixel) for the next, with the next wind from ``future``
    (:class:`emberxr.products.wind.FutureWind`) and the next dynamic bands (:func:`next_dynamic`).
    For cumulative fire, probabilities are made non-decreasing over steps and masks keep the cells
    burning at the previous step.
    """
    from emberxr.inference import FrameStack, PackedMask, SceneBuffer, predict_histories

    H, W = int(event.sizes["y"]), int(event.sizes["x"])
    times = _times(event)
    wind_all = np.asarray(wind_series(event), np.float32)
    fire = event[FIRE].data
    valid = event[VALID].data
    cumulative = fire_kind(event) == CUMULATIVE
    h = min(t + 1, max_history)
    frames = FrameStack([fire[t - h + 1 : t + 1]])  # one run: a chunk of several steps decodes once
    wind_hist = wind_all[t - h + 1 : t + 1]
    t_hist = times[t - h + 1 : t + 1]
    dyn = dynamic_history(event, t, h)
    step_td = np.timedelta64(round(time_step_hours(event) * 3600), "s")
    thr = np.inf if threshold is None else float(threshold)
    valid_rows = _row_reader(valid, event)
    # cumulative fire: probabilities never fall from one step to the next (the previous step's
    # are kept in a temporary file for a huge scene: SceneBuffer)
    prev_p = SceneBuffer((H, W), np.float32) if horizon > 1 and cumulative else None
    with prev_p if prev_p is not None else contextlib.nullcontext():
        for k in range(1, horizon + 1):
            last = _row_reader(frames.last, event)
            mask_k = PackedMask.zeros((H, W)) if k < horizon else None  # fed back: one bit per pixel

            def on_rows(
                row0: int, col0: int, rows: np.ndarray, k: int = k, last: Any = last, mask_k: Any = mask_k
            ) -> None:
                ys, xs = slice(row0, row0 + rows.shape[1]), slice(col0, col0 + rows.shape[2])
                p = rows[0]
                if prev_p is not None:
                    if k > 1:
                        p = np.maximum(p, prev_p.get(row0, col0, *p.shape))
                    if k < horizon:
                        prev_p.put(row0, col0, p)
                v = valid_rows(ys, xs).astype(bool)
                mask = (p >= thr) & v
                if cumulative:
                    mask |= (last(ys, xs) > 0) & v
                if mask_k is not None:
                    mask_k.put(row0, col0, mask)
                emit(k, row0, col0, np.where(v, p, np.nan).astype(np.float32), mask, v)

            predict_histories(
                model,
                stats,
                event,
                frames,
                wind_hist[None],
                t_hist,
                dynamic_hist=dyn,
                max_history=max_history,
                progress=progress,
                desc=f"forecast step {k}/{horizon}",
                sink=on_rows,
                **predict,
            )
            if mask_k is None:
                break
            # roll forward: append the thresholded forecast, drop frames beyond max_history
            frames = frames.rolled(mask_k, max_history)
            wind_hist = np.concatenate([wind_hist, future.uv[k - 1][None]])[-max_history:]
            t_hist = np.concatenate([t_hist, t_hist[-1:] + step_td])[-max_history:]
            if dyn is not None:
                dyn = [*dyn, next_dynamic(event, t + k, dyn)][-max_history:]


def _attrs(
    event: xr.Dataset, t: int, threshold: float | None, calibrator: Any, future: Any
) -> dict[str, Any]:
    """Dataset attributes of a forecast issued at frame ``t`` (also the tags of its GeoTIFFs)."""
    from emberxr.products.calibration import calibration_method

    attrs = {
        "event_id": str(event.attrs.get("event_id", "event")),
        "issue_time": str(np.datetime_as_string(_times(event)[t], unit="s")),
        "issue_index": t,
        "threshold": np.inf if threshold is None else float(threshold),
        "time_step_hours": time_step_hours(event),
        "feedback": "thresholded",
        "calibration": calibration_method(calibrator),
        **future.attrs(),
    }
    if threshold is None:
        del attrs["threshold"]
    return attrs


def _variable_attrs(variable: str, threshold: float | None) -> dict[str, Any]:
    """Attributes of each forecast variable (also the tags of its GeoTIFF)."""
    if variable == "probability":
        return {"long_name": "fire probability", "units": "1"}
    if variable == "fire_mask":
        return {"long_name": f"forecast fire mask (probability >= {float(threshold):.3f})"}
    return {"long_name": "estimated arrival time", "units": "hours since issue time"}


def georeference(ds: xr.Dataset, event: xr.Dataset, inplace: bool = False) -> xr.Dataset:
    """``ds`` on ``event``'s grid: its CRS and transform, or (an event without a CRS) its
    ``crs_status``, so that writing the forecast as a GeoTIFF is refused with the reason.
    ``inplace``: change ``ds`` itself (a dataset the caller has just made) instead of a copy.

    The event's grid-mapping coordinate is copied as it is, with its ``GeoTransform``
    (:func:`emberxr.schema.transform_of`, what the GeoTIFF writer uses), and the
    variables on the ``(y, x)`` grid point to it (CF ``grid_mapping``, as rioxarray writes it).
    """
    import rioxarray  # noqa: F401

    ds = ds if inplace else ds.copy()
    gm = event.rio.grid_mapping
    if gm in event.coords and "crs_wkt" in event[gm].attrs:  # the event's grid mapping, as it is
        var = event.variables[gm].copy(deep=False)
        var.attrs = {**var.attrs, "GeoTransform": " ".join(str(v) for v in transform_of(event).to_gdal())}
        ds.coords[gm] = var
        for attr in ("transform", "grid_mapping"):
            ds.attrs.pop(attr, None)
        ds.encoding["grid_mapping"] = gm
        for v in ds.data_vars.values():
            v.attrs.pop("grid_mapping", None)
            if {"y", "x"} <= set(v.dims):
                v.encoding["grid_mapping"] = gm
        return ds
    if (crs := event.rio.crs) is not None:
        ds = ds.rio.write_crs(crs, inplace=True)
    elif CRS_STATUS in event.attrs:
        ds.attrs[CRS_STATUS] = event.attrs[CRS_STATUS]
    return ds.rio.write_transform(transform_of(event), inplace=True)


def forecast(
    model: Any,
    stats: Any,
    event: xr.Dataset,
    t: int | None = None,
    horizon: int = 1,
    threshold: float | None = None,
    *,
    max_history: int = 8,
    patch_size: int = 16,
    tokens: bool = False,
    token_mode: str = "pixels",
    tile_size: int | None = None,
    overlap: int | None = None,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
    channels_last: bool | None = None,
    compile: bool = False,
    amp: bool = False,
    progress: bool = True,
    future_wind: Any = None,
    calibrator: Mapping[str, Any] | None = None,
    members: int | None = None,
    seed: int | None = None,
    sampling: str | None = None,
    wind_spread: Any = None,
) -> xr.Dataset:
    """Forecast ``horizon`` steps after frame ``t`` of ``event`` (see the module docstring).

    Parameters
    ----------
    model
        Trained model (or an :class:`emberxr.inference.Runner`, e.g. an exported model).
    stats
        The ``NormStats`` the model was trained with.
    event
        FireEvent; only frames ``<= t`` are used as history.
    t
        Index of the last observed frame (negative counts from the end; default: the last frame).
    horizon
        Number of steps to forecast (``>= 1``).
    threshold
        Probability threshold of the binary forecast; None (not chosen) allows ``horizon=1``
        only and leaves out ``fire_mask`` and ``arrival_time``.
    max_history, patch_size, tokens, token_mode
        How the model's samples are cut (``Fitted.forecast`` passes the training settings).
    tile_size, overlap
        Window side and overlap for large scenes (:func:`emberxr.inference.plan_windows`).
    device
        Where the model runs: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``; None
        keeps the model's device (``Fitted.forecast`` passes the training device when this
        machine has it, else the CPU).
    batch_size, channels_last, compile, amp
        Windows per model call (default: about 262 k pixels), channels-last convolutions (default:
        on the CPU), ``torch.compile`` and mixed precision (bfloat16 on the CPU, float16 on CUDA;
        :class:`emberxr.inference.TorchRunner`).
    progress
        Show a progress bar per step for scenes that take more than a second (large scenes cut
        into many windows).
    future_wind
        Wind after the issue time: a CSV path (``time,speed,direction`` or ``time,u,v``) or u, v
        values ``(horizon - 1, 2)`` in m/s (:func:`emberxr.products.wind.future_wind`); default
        the event's own series, the last value held beyond it.
    calibrator
        A probability calibration (``Fitted.calibration``, :mod:`emberxr.products.calibration`)
        applied to every probability.
    members, seed, sampling, wind_spread
        An ensemble of ``members`` roll-outs sampled from the probabilities (seeded), optionally
        with perturbed future wind: :func:`emberxr.products.ensemble.ensemble_forecast`, whose
        Dataset (burn probability, mean arrival time and its spread) is returned instead.

    Returns
    -------
    xarray.Dataset
        ``probability``, ``fire_mask`` (step, y, x) and ``arrival_time`` (y, x), with ``step``
        (1..horizon), ``lead_time_hours``, ``time`` (valid time) and ``wind_u`` / ``wind_v`` per
        step, CRS kept.

    Raises
    ------
    ThresholdNotSetError
        ``threshold`` is None and ``horizon > 1`` (not an ensemble).
    """
    from emberxr.products.wind import future_wind as resolve_future_wind

    ensemble = {"seed": seed, "sampling": sampling, "wind_spread": wind_spread}
    is_ensemble = members is not None or any(v is not None for v in ensemble.values())
    t = _check_request(event, t, horizon, threshold, ensemble=is_ensemble)
    horizon = int(horizon)
    run = {
        "max_history": max_history,
        "patch_size": patch_size,
        "tokens": tokens,
        "token_mode": token_mode,
        "tile_size": tile_size,
        "overlap": overlap,
        "device": device,
        "batch_size": batch_size,
        "channels_last": channels_last,
        "compile": compile,
        "amp": amp,
        "calibrator": calibrator,
    }
    if is_ensemble:
        from emberxr.products.ensemble import ensemble_forecast

        if members is None:
            raise ConfigError([Problem("seed / sampling / wind_spread without members", "add members=N")])
        return ensemble_forecast(
            model,
            stats,
            event,
            t,
            horizon,
            threshold,
            members=members,
            future_wind=future_wind,
            progress=progress,
            **ensemble,
            **run,
        )
    future = resolve_future_wind(event, t, horizon, future_wind)
    H, W = int(event.sizes["y"]), int(event.sizes["x"])
    prob = np.empty((horizon, H, W), np.float32)
    fmask = np.zeros((horizon, H, W), np.uint8)
    valid = np.ones((H, W), bool)

    def emit(k: int, row0: int, col0: int, p: np.ndarray, mask: np.ndarray, v: np.ndarray) -> None:
        ys, xs = slice(row0, row0 + p.shape[0]), slice(col0, col0 + p.shape[1])
        prob[k - 1, ys, xs] = p
        fmask[k - 1, ys, xs] = mask
        valid[ys, xs] = v

    _rollout(model, stats, event, t, horizon, threshold, emit, future, progress=progress, **run)
    data = {
        "probability": (
            ("step", "y", "x"),
            prob,
            {**_variable_attrs("probability", threshold), "_FillValue": np.nan},
        )
    }
    if threshold is not None:
        burning = (np.asarray(event[FIRE].data[t]) > 0) & valid
        first = np.zeros((H, W), np.int64)  # the first step (1-based) whose mask is set, 0 = none
        for k in range(horizon, 0, -1):  # a few steps: masks of whole scenes, the earliest wins
            first[fmask[k - 1] > 0] = k
        arrival = arrival_rows(first, burning, valid, time_step_hours(event))
        data["fire_mask"] = (("step", "y", "x"), fmask, _variable_attrs("fire_mask", threshold))
        data["arrival_time"] = (("y", "x"), arrival, _variable_attrs("arrival_time", threshold))
    ds = xr.Dataset(
        data,
        coords=step_coords(event, t, horizon, future),
        attrs=_attrs(event, t, threshold, calibrator, future),
    )
    return georeference(ds, event, inplace=True)


def step_coords(event: xr.Dataset, t: int, horizon: int, future: Any) -> dict[str, Any]:
    """Coordinates of a forecast issued at frame ``t``: ``step`` (1..horizon), ``lead_time_hours``,
    ``time`` (valid time), ``wind_u`` / ``wind_v`` (each step's last input wind), ``y``, ``x``."""
    dt = time_step_hours(event)
    steps = np.arange(1, int(horizon) + 1)
    step_wind = future.step_inputs()
    return {
        "step": steps,
        "lead_time_hours": ("step", (steps * dt).astype(np.float64)),
        "time": ("step", _times(event)[t] + steps * np.timedelta64(round(dt * 3600), "s")),
        "wind_u": ("step", step_wind[:, 0]),
        "wind_v": ("step", step_wind[:, 1]),
        "y": event["y"].values,
        "x": event["x"].values,
    }


def step_labels(ds: xr.Dataset | xr.DataArray) -> list[str]:
    """Band descriptions ``t+1h``, ``t+2h`` ... from ``lead_time_hours``."""
    return [f"t+{_fmt(h)}h" for h in np.asarray(ds["lead_time_hours"].values).tolist()]


def _fmt(h: float) -> str:
    return str(int(h)) if float(h).is_integer() else f"{h:g}"


MASK_NODATA = 255
"""Value of ``fire_mask`` GeoTIFF cells outside the data footprint (the file's nodata)."""

# per variable: COG overview resampling and the file's nodata
_OUTPUTS = {
    "probability": ("average", float("nan")),
    "fire_mask": ("nearest", MASK_NODATA),
    "arrival_time": ("nearest", float("nan")),
    "arrival_time_std": ("nearest", float("nan")),
}


def to_dataarray(ds: xr.Dataset, squeeze: bool = True) -> xr.DataArray:
    """The probability as a DataArray (``(y, x)`` for one step when ``squeeze``) with the binary
    forecast as the ``fire_mask`` coordinate and ``arrival_time`` as a (y, x) coordinate.

    Ready for ``da.rio.to_raster(path)``: nodata is NaN (``_FillValue``) and the band names
    ``t+1h`` ... are in ``long_name`` (what rioxarray writes as band descriptions) and
    ``band_descriptions`` (what :func:`emberxr.io.to_geotiff` reads), as ``emberxr predict``
    writes them.
    """
    # set_coords only relabels ds's variables: no alignment, no copy
    da = ds.set_coords([k for k in ("fire_mask", "arrival_time") if k in ds.data_vars])["probability"]
    da.attrs.update(ds.attrs)
    labels = step_labels(ds)
    if squeeze and da.sizes["step"] == 1:
        da = da.isel(step=0)
    da.name = "fire_probability"
    da.attrs.update(description=ds["probability"].attrs.get("long_name", "fire probability"))
    da.attrs["long_name"] = labels
    da.attrs["band_descriptions"] = labels
    da = da.rio.write_nodata(np.nan, encoded=False, inplace=True)  # da is ours: a new DataArray
    gm = ds.rio.grid_mapping
    if gm in da.coords:  # the grid mapping came along with the variable
        return da.rio.write_grid_mapping(gm, inplace=True)
    crs = ds.rio.crs
    return da.rio.write_crs(crs, inplace=True) if crs is not None else da


def write_forecast(ds: xr.Dataset, path: str, cog: bool = False, variable: str = "probability") -> None:
    """Write one variable of a forecast as a GeoTIFF with band descriptions ``t+1h`` ... (atomic).

    Every file has nodata: NaN for ``probability`` and ``arrival_time``, :data:`MASK_NODATA`
    (255) for ``fire_mask`` cells outside the data footprint (where the probability is NaN).
    COG overviews average probabilities and take the nearest value of masks and arrival times.

    Raises
    ------
    ThresholdNotSetError
        ``variable`` is ``fire_mask`` or ``arrival_time`` and the forecast was made without a
        threshold.
    NotGeoreferencedError
        The forecast's event had no CRS (an NDWS tile, a WildfireSpreadTS HDF5 fire).
    """
    from emberxr.errors import WriteError
    from emberxr.io.geotiff import to_geotiff

    require_crs(ds, f"the forecast GeoTIFF {path}")
    if variable not in _OUTPUTS:
        raise WriteError(f"cannot write forecast variable {variable!r}; use one of {', '.join(_OUTPUTS)}")
    if variable in ("fire_mask", "arrival_time") and variable not in ds:
        raise ThresholdNotSetError(f"the {variable} GeoTIFF")
    if variable not in ds:
        raise WriteError(f"this forecast has no {variable} (arrival_time_std: ensembles only, members=N)")
    resampling, nodata = _OUTPUTS[variable]
    da = ds[variable].assign_attrs({**ds.attrs, **ds[variable].attrs})  # the forecast's attrs as tags
    if variable == "fire_mask":
        da = da.where(ds["probability"].notnull(), MASK_NODATA).astype(np.uint8)
    descs = step_labels(ds) if "step" in da.dims else [variable]
    to_geotiff(
        da.rio.write_crs(ds.rio.crs),
        path,
        cog=cog,
        nodata=nodata,
        band_descriptions=descs,
        resampling=resampling,
    )


def as_event(event: Any, what: str = "forecast") -> xr.Dataset:
    """The one FireEvent a forecast runs on: an ``xarray.Dataset``, or the Dataset of a DataTree
    node that holds one event (an item of :func:`emberxr.open_events` or a catalog split).

    Raises
    ------
    ConfigError
        Anything else (a collection of events, a path, an array), with what to pass instead.
    """
    if isinstance(event, xr.Dataset):
        return event
    if isinstance(event, xr.DataTree) and FIRE in event.data_vars:
        return event.to_dataset()
    if isinstance(event, xr.DataTree):
        names = list(event.children)[:3]
        hint = f"one of its events, e.g. tree[{names[0]!r}]" if names else "one event"
        raise ConfigError(
            [Problem(f"{what} got a DataTree of {len(event.children)} node(s)", f"pass {hint}")]
        )
    raise ConfigError(
        [
            Problem(
                f"{what} got a {type(event).__name__}, not a FireEvent",
                "pass an xarray.Dataset, e.g. emberxr.open_event(path) or one event of a catalog split",
            )
        ]
    )


def _parts(source: Any, options: dict[str, Any]) -> tuple[Any, Any, float | None, dict[str, Any]]:
    """Model (or runner), stats, threshold and forecast options of a ``Fitted`` or an exported model
    (its sample settings, calibration and default device, overridden by ``options``)."""
    from emberxr.export import ExportedModel

    if isinstance(source, ExportedModel):
        runner = source.runner(device=options.pop("device", None))
        kw = {**source.sample_kwargs, "calibrator": source.calibration, **options}
        return runner, source.stats, source.threshold, kw
    from emberxr.data.loaders import sample_kwargs
    from emberxr.inference import training_device

    kw = {**sample_kwargs(source.config, source.model), "calibrator": source.calibration, **options}
    kw["device"] = kw.get("device") or training_device(source.config)
    return source.model, source.stats, source.threshold, kw


def forecast_from(
    source: Any, event: xr.Dataset, t: int | None = None, horizon: int = 1, **options: Any
) -> xr.Dataset:
    """:func:`forecast` of a :class:`emberxr.Fitted` or an :class:`emberxr.export.ExportedModel`
    (its model, statistics, threshold, sample settings and calibration; ``device`` defaults to the
    training device when this machine has it). ``options`` go to :func:`forecast`."""
    event = as_event(event, "forecast")
    model, stats, threshold, kw = _parts(source, dict(options))
    check = getattr(source, "check_event", None)
    if check is not None:
        check(event)
    return forecast(model, stats, event, t, horizon, threshold, **kw)


def write_prediction(
    source: Any,
    event: xr.Dataset,
    path: str | os.PathLike,
    *,
    t: int | None = None,
    horizon: int = 1,
    mask: str | os.PathLike | None = None,
    arrival: str | os.PathLike | None = None,
    cog: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Forecast ``event`` and stream the result to GeoTIFF/COG files, strip by strip.

    The files are those :func:`write_forecast` writes from :func:`forecast` (same bands, band
    descriptions, nodata, tags, overviews), but nothing scene-sized is held in memory for a
    one-step forecast: inputs are read window by window from the (lazy) event and finished rows
    are written as soon as no later window touches them. ``emberxr predict`` calls this (except
    for products that need the whole forecast: ensembles, perimeters, quick-looks).

    Parameters
    ----------
    source
        A :class:`emberxr.Fitted` (``emberxr.load(CKPT)``) or an :class:`emberxr.export.ExportedModel`
        (``emberxr.export.load_exported(FILE)``).
    event
        FireEvent with the model's static bands (zarr, COG, raw folder, or in memory).
    path
        Probability GeoTIFF (one band per step, ``t+1h`` ...; NaN outside the footprint).
    t, horizon
        Last observed frame (default the last) and steps ahead (as in :func:`forecast`).
    mask, arrival
        Also write the binary forecast (uint8, nodata 255) and the arrival time (hours) here.
    cog
        Write Cloud-Optimised GeoTIFFs (overviews built from each finished tiled GeoTIFF).
    **options
        Passed to :func:`forecast`'s core (``device``, ``tile_size``, ``overlap``,
        ``batch_size``, ``channels_last``, ``compile``, ``amp``, ``progress``, ``future_wind``,
        ``calibrator``); the model's sample settings and calibration are the defaults.

    Returns
    -------
    dict
        ``event_id``, ``issue_time``, ``labels`` (band names), ``attrs`` (the forecast's
        attributes, as :func:`forecast` gives them) and the written paths under ``probability``,
        ``fire_mask``, ``arrival_time``.

    Raises
    ------
    ThresholdNotSetError
        ``mask``/``arrival`` or ``horizon > 1`` without a chosen threshold.
    NotGeoreferencedError
        The event has no CRS (the files could not be placed on a map).
    """
    from pathlib import Path

    from emberxr.inference import SceneBuffer
    from emberxr.io.geotiff import GeoTiffWriter
    from emberxr.products.wind import future_wind as resolve_future_wind

    options = dict(options)
    future_wind = options.pop("future_wind", None)
    event = as_event(event, "write_prediction")
    model, stats, threshold, kw = _parts(source, options)
    check = getattr(source, "check_event", None)
    if check is not None:
        check(event)
    require_crs(event, f"the forecast GeoTIFF {path}")
    t = _check_request(event, t, horizon, threshold)
    if threshold is None and (mask or arrival):
        raise ThresholdNotSetError("the fire_mask / arrival_time GeoTIFF")
    horizon = int(horizon)
    future = resolve_future_wind(event, t, horizon, future_wind)
    attrs = _attrs(event, t, threshold, kw.get("calibrator"), future)
    H, W = int(event.sizes["y"]), int(event.sizes["x"])
    dt = time_step_hours(event)
    labels = [f"t+{_fmt(k * dt)}h" for k in range(1, horizon + 1)]
    grid = dict(
        crs=event.rio.crs,
        transform=transform_of(event),
        height=H,
        width=W,
        cog=cog,
    )
    written: dict[str, Any] = {"probability": Path(path)}
    fire_rows = _row_reader(event[FIRE].data[t], event)
    with contextlib.ExitStack() as stack:
        prob_w = stack.enter_context(
            GeoTiffWriter(
                path,
                count=horizon,
                dtype=np.float32,
                band_descriptions=labels,
                resampling=_OUTPUTS["probability"][0],
                tags={**attrs, **_variable_attrs("probability", threshold)},
                **grid,
            )
        )
        mask_w = arr_w = None
        if mask:
            mask_w = stack.enter_context(
                GeoTiffWriter(
                    mask,
                    count=horizon,
                    dtype=np.uint8,
                    nodata=MASK_NODATA,
                    band_descriptions=labels,
                    resampling=_OUTPUTS["fire_mask"][0],
                    tags={**attrs, **_variable_attrs("fire_mask", threshold)},
                    **grid,
                )
            )
            written["fire_mask"] = Path(mask)
        if arrival:
            arr_w = stack.enter_context(
                GeoTiffWriter(
                    arrival,
                    dtype=np.float32,
                    band_descriptions=["arrival_time"],
                    resampling=_OUTPUTS["arrival_time"][0],
                    tags={**attrs, **_variable_attrs("arrival_time", threshold)},
                    **grid,
                )
            )
            written["arrival_time"] = Path(arrival)
        # the first step each pixel was reached (in a temporary file for a huge scene)
        first = (
            stack.enter_context(SceneBuffer((H, W), np.uint8)) if arr_w is not None and horizon > 1 else None
        )

        def emit(k: int, row0: int, col0: int, p: np.ndarray, m: np.ndarray, v: np.ndarray) -> None:
            ys, xs = slice(row0, row0 + p.shape[0]), slice(col0, col0 + p.shape[1])
            prob_w.write(p, row=row0, band=k, col=col0)
            if mask_w is not None:
                mask_w.write(np.where(v, m, MASK_NODATA).astype(np.uint8), row=row0, band=k, col=col0)
            if arr_w is None:
                return
            if first is None:
                reached = m.astype(np.uint8)
            else:
                reached = first.get(row0, col0, *p.shape)
                reached[(reached == 0) & m] = k
                if k < horizon:
                    first.put(row0, col0, reached)
            if k == horizon:
                burning = (fire_rows(ys, xs) > 0) & v
                arr_w.write(arrival_rows(reached, burning, v, dt), row=row0, col=col0)

        _rollout(model, stats, event, t, horizon, threshold, emit, future, **kw)
    written.update(
        event_id=attrs["event_id"],
        issue_time=attrs["issue_time"],
        labels=labels,
        attrs=attrs,
    )
    return written
