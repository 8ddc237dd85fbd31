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

Scenes larger than ``tile_size`` are predicted in overlapping windows (``overlap`` pixels) and
stitched, each pixel taken from the window whose centre region owns it, so whole scenes of any
size fit in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr

from emberxr.errors import ConfigError, Problem, ThresholdNotSetError
from emberxr.schema import (
    BAND,
    BAND_KIND,
    CRS_STATUS,
    CUMULATIVE,
    DYNAMIC,
    FIRE,
    FIRE_KIND,
    VALID,
    dynamic_band_kinds,
    fire_kind,
    require_crs,
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


def _input_event(
    event: xr.Dataset,
    fire_hist: np.ndarray,
    wind_hist: np.ndarray,
    times: np.ndarray,
    dynamic_hist: np.ndarray | None = None,
) -> xr.Dataset:
    """A minimal in-memory event with ``fire_hist`` frames plus one dummy target frame (its dynamic
    bands repeat the last step's; the dataset never reads a target step's dynamic bands)."""
    from emberxr.schema import make_event

    dummy = fire_hist[-1:]
    fire = np.concatenate([fire_hist, dummy]).astype(np.uint8)
    wind = np.concatenate([wind_hist, wind_hist[-1:]])
    dyn = {}
    if dynamic_hist is not None:
        kinds = dynamic_band_kinds(event)
        dyn = {
            "dynamic": np.concatenate([dynamic_hist, dynamic_hist[-1:]]),
            "dynamic_bands": list(kinds),
            "dynamic_kinds": list(kinds.values()),
        }
    dt = times[-1] - times[-2] if len(times) > 1 else np.timedelta64(1, "h")
    t_all = np.concatenate([times, times[-1:] + dt])
    ev = make_event(
        fire,
        np.asarray(event["static"].values, np.float32),
        wind[:, 0],
        wind[:, 1],
        times=t_all,
        x=np.asarray(event["x"].values),
        y=np.asarray(event["y"].values),
        crs=event.rio.crs,
        band_names=[str(b) for b in event[BAND].values.tolist()],
        band_kinds=[str(k) for k in event[BAND_KIND].values.tolist()],
        valid=np.asarray(event[VALID].values, bool),
        event_id=str(event.attrs.get("event_id", "event")),
        source="forecast",
        attrs={FIRE_KIND: fire_kind(event), **{k: event.attrs[k] for k in (CRS_STATUS,) if k in event.attrs}},
        **dyn,
    )
    return ev


@torch.no_grad()
def predict_step(
    model: torch.nn.Module,
    stats: Any,
    event: xr.Dataset,
    fire_hist: np.ndarray,
    wind_hist: np.ndarray,
    times: np.ndarray,
    *,
    max_history: int,
    patch_size: int,
    tokens: bool = False,
    token_mode: str = "pixels",
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
    progress: bool = False,
    desc: str = "predict",
    dynamic_hist: np.ndarray | None = None,
) -> np.ndarray:
    """Probability [H, W] of the next frame given a history of fire masks (``[h, H, W]``) and,
    for events with dynamic bands, their raw values at the history steps (``[h, Cd, H, W]``).

    The history is run through the same :class:`~emberxr.data.datasets.FireSampleDataset`
    preprocessing as in training; windows of ``tile_size`` with ``overlap`` when the scene is
    larger than one tile. With ``progress``, a bar labelled ``desc`` counts the window batches
    once they take more than a second.
    """
    from emberxr.data.collate import temporal_collate
    from emberxr.data.datasets import FireSampleDataset
    from emberxr.data.tiling import stitch
    from emberxr.progress import progress as progress_bar

    H, W = fire_hist.shape[-2:]
    tile = tile_size if tile_size is not None and (H > tile_size or W > tile_size) else None
    if tile is not None and overlap is None:
        overlap = (tile // 4) // patch_size * patch_size
    ev = _input_event(event, fire_hist, wind_hist, times, dynamic_hist)
    ds = FireSampleDataset(
        [ev],
        stats,
        max_history=max_history,
        patch_size=patch_size,
        strict=False,
        tile_size=tile,
        train=False,
        tokens=tokens,
        token_mode=token_mode,
        overlap=int(overlap or 0),
        preload=True,
    )
    last_t = int(ev.sizes["time"]) - 2
    items = [i for i in range(len(ds)) if ds.sample_info(i)["t"] == last_t]
    tiles, values = [], []
    model.eval()
    starts = range(0, len(items), batch_size)
    for s in progress_bar(starts, desc, unit="batch", enabled=progress, delay=1.0):
        chunk = items[s : s + batch_size]
        batch = temporal_collate([ds[i] for i in chunk])
        batch = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        prob = torch.sigmoid(model(batch).float())[:, 0].cpu().numpy()
        for j, i in enumerate(chunk):
            info = ds.sample_info(i)
            tl = info["tile"]
            if tl is None:
                values.append(prob[j, :H, :W])
            else:
                tiles.append(tl)
                values.append(prob[j, : tl.h, : tl.w])
    if not tiles:
        return values[0].astype(np.float32)
    return stitch(tiles, values, (H, W)).astype(np.float32)


def forecast(
    model: torch.nn.Module,
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
    device: str | torch.device = "cpu",
    progress: bool = True,
    future_wind: Any = None,
    calibrator: Any = None,
    members: int | None = None,
    seed: int | None = None,
    sampling: str | None = None,
    wind_spread: Any = None,
) -> xr.Dataset:
    """Forecast ``horizon`` steps after frame ``t`` of ``event`` (see the module docstring).

    Parameters
    ----------
    model
        Trained model (in eval mode after the call).
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
        (1..horizon), ``lead_time_hours`` and ``time`` (valid time) per step, CRS kept.

    Raises
    ------
    ThresholdNotSetError
        ``threshold`` is None and ``horizon > 1``.
    """
    import rioxarray  # noqa: F401

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
    from emberxr.products.calibration import calibration_name, with_calibration
    from emberxr.products.wind import future_wind as resolve_future_wind

    model = with_calibration(model, calibrator)
    ensemble = {"seed": seed, "sampling": sampling, "wind_spread": wind_spread}
    if members is not None or any(v is not None for v in ensemble.values()):
        from emberxr.products.ensemble import ensemble_forecast

        if members is None:
            raise ConfigError([Problem("seed / sampling / wind_spread without members", "add members=N")])
        kw = {
            "max_history": max_history,
            "patch_size": patch_size,
            "tokens": tokens,
            "token_mode": token_mode,
        }
        kw.update(tile_size=tile_size, overlap=overlap, device=device, progress=progress)
        return ensemble_forecast(
            model,
            stats,
            event,
            t,
            horizon,
            threshold,
            members=members,
            future_wind=future_wind,
            **ensemble,
            **kw,
        )
    if threshold is None and int(horizon) > 1:
        raise ThresholdNotSetError(f"a {horizon}-step forecast (it feeds thresholded masks back)")
    t = int(t) % n_t
    horizon = int(horizon)
    dt = time_step_hours(event)
    times = _times(event)
    wind_all = np.asarray(wind_series(event), np.float32)
    valid = np.asarray(event[VALID].values, bool)
    h = min(t + 1, max_history)
    hist = (np.asarray(event[FIRE].isel(time=slice(t - h + 1, t + 1)).values) > 0).astype(np.uint8)
    wind_hist = wind_all[t - h + 1 : t + 1]
    t_hist = times[t - h + 1 : t + 1]
    has_dyn = DYNAMIC in event.variables
    dyn_hist = (
        np.asarray(event[DYNAMIC].isel(time=slice(t - h + 1, t + 1)).values, np.float32) if has_dyn else None
    )
    cumulative = fire_kind(event) == CUMULATIVE
    step_td = np.timedelta64(round(dt * 3600), "s")
    future = resolve_future_wind(event, t, horizon, future_wind)
    probs, masks = [], []
    prev_p = None
    thr = np.inf if threshold is None else float(threshold)  # None: one step, no mask returned
    for k in range(1, horizon + 1):
        p = predict_step(
            model,
            stats,
            event,
            hist,
            wind_hist,
            t_hist,
            max_history=max_history,
            patch_size=patch_size,
            tokens=tokens,
            token_mode=token_mode,
            tile_size=tile_size,
            overlap=overlap,
            device=device,
            progress=progress,
            desc=f"forecast step {k}/{horizon}",
            dynamic_hist=dyn_hist,
        )
        if prev_p is not None and cumulative:
            p = np.maximum(p, prev_p)
        prev_p = p
        mask = ((p >= thr) | ((hist[-1] > 0) & cumulative)) & valid
        probs.append(np.where(valid, p, np.nan).astype(np.float32))
        masks.append(mask.astype(np.uint8))
        # roll forward: append the thresholded forecast, drop frames beyond max_history
        w_next = future.uv[k - 1] if k < horizon else wind_hist[-1]
        hist = np.concatenate([hist, mask[None].astype(np.uint8)])[-max_history:]
        wind_hist = np.concatenate([wind_hist, w_next[None]])[-max_history:]
        t_hist = np.concatenate([t_hist, t_hist[-1:] + step_td])[-max_history:]
        if dyn_hist is not None:
            d_next = (
                np.asarray(event[DYNAMIC].isel(time=t + k).values, np.float32)
                if t + k < n_t
                else dyn_hist[-1]
            )
            dyn_hist = np.concatenate([dyn_hist, d_next[None]])[-max_history:]
    prob = np.stack(probs)
    fmask = np.stack(masks)
    burning = (np.asarray(event[FIRE].isel(time=t).values) > 0) & valid
    first = np.argmax(fmask > 0, axis=0)
    reached = fmask.any(axis=0)
    arrival = np.where(reached, (first + 1) * dt, np.nan).astype(np.float32)
    arrival = np.where(burning, 0.0, arrival).astype(np.float32)
    arrival = np.where(valid, arrival, np.nan).astype(np.float32)
    steps = np.arange(1, horizon + 1)
    lead = steps * dt
    coords = {
        "step": steps,
        "lead_time_hours": ("step", lead.astype(np.float64)),
        "time": ("step", times[t] + steps * step_td),
        "wind_u": ("step", future.step_inputs()[:, 0]),
        "wind_v": ("step", future.step_inputs()[:, 1]),
        "y": event["y"].values,
        "x": event["x"].values,
    }
    attrs = {
        "event_id": str(event.attrs.get("event_id", "event")),
        "issue_time": str(np.datetime_as_string(times[t], unit="s")),
        "issue_index": t,
        "threshold": thr,
        "time_step_hours": dt,
        "feedback": "thresholded",
        "calibration": calibration_name(model),
        **future.attrs(),
    }
    if threshold is None:
        del attrs["threshold"]
    ds = xr.Dataset({"probability": (("step", "y", "x"), prob)}, coords=coords, attrs=attrs)
    ds["probability"].attrs.update(long_name="fire probability", units="1", _FillValue=np.nan)
    if threshold is not None:
        ds["fire_mask"] = (("step", "y", "x"), fmask)
        ds["arrival_time"] = (("y", "x"), arrival)
        ds["fire_mask"].attrs.update(long_name=f"forecast fire mask (probability >= {thr:.3f})")
        ds["arrival_time"].attrs.update(long_name="estimated arrival time", units="hours since issue time")
    if event.rio.crs is not None:
        ds = ds.rio.write_crs(event.rio.crs)
    elif CRS_STATUS in event.attrs:  # not georeferenced: writing it as a GeoTIFF is refused
        ds.attrs[CRS_STATUS] = event.attrs[CRS_STATUS]
    ds = ds.rio.write_transform(event.rio.transform())
    return ds


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
    da = ds["probability"].assign_coords({k: ds[k] for k in ("fire_mask", "arrival_time") if k in ds})
    da.attrs.update(ds.attrs)
    labels = step_labels(ds)
    if squeeze and da.sizes["step"] == 1:
        da = da.isel(step=0)
    da.name = "fire_probability"
    da.attrs.update(description=ds["probability"].attrs.get("long_name", "fire probability"))
    da.attrs["long_name"] = labels
    da.attrs["band_descriptions"] = labels
    da = da.rio.write_nodata(np.nan, encoded=False)
    return da.rio.write_crs(ds.rio.crs) if ds.rio.crs is not None else da


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
