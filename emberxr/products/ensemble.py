"""Ensemble forecasts: burn probability as the share of members that burn a cell (as FSPro gives it).

``forecast(..., members=N)`` (``emberxr predict --members N``) rolls the model forward ``N``
times. Each member starts from the observed history; at every step the model gives the
probability ``p`` that each cell is burned, and the member's next mask is **sampled** from it:

``bernoulli`` (default)
    each cell independently burns with probability ``p`` (a Bernoulli draw per pixel);
``quantile``
    one uniform number ``u`` per member and step, and the cells with ``p > u`` burn: the member
    follows a level set of the probability field (the same per-cell probability as ``bernoulli``,
    but coherent perimeters without isolated specks);
``threshold``
    no sampling: ``p >= threshold`` (the model's threshold), as the deterministic forecast does.
    With ``members=1`` and no wind spread this is exactly :func:`emberxr.forecast.forecast`'s
    roll-out.

The burned set of a member is cumulative (a cell once burned stays burned; cells burning at the
issue time are burned in every member) and stays inside the validity footprint. The sampled mask is
fed back as the member's next history frame. Each member's probability is made non-decreasing over
steps, as in the deterministic roll-out. Draws come from one generator per member, spawned from
``seed`` (:class:`numpy.random.SeedSequence`; the wind offsets from a second one), so a seed
reproduces an ensemble exactly, the first ``M`` members of a larger ensemble are the members of
the smaller one, and adding a wind spread changes the members' wind only, not their draws.

With ``wind_spread`` (``SPEED_KMH,DIR_DEG`` or ``auto``; :mod:`emberxr.products.wind`) each member
also gets its own future wind: one speed offset and one direction offset drawn per member and held
over the horizon (the wind observed up to the issue time is never perturbed).

The result is a Dataset on the event's grid (CRS kept, like :func:`~emberxr.forecast.forecast`'s):

``probability`` (step, y, x)
    burn probability: the share of members burned at each step (non-decreasing over steps);
``mean_probability`` (step, y, x)
    the members' mean model probability;
``fire_mask`` (step, y, x)
    cells burned in at least half of the members (``probability >= 0.5``);
``arrival_time`` / ``arrival_time_std`` (y, x)
    mean and standard deviation, over the members that burn the cell within the horizon, of the
    hours from the issue time until they do (0 for cells burning at the issue time; NaN where no
    member burns the cell — read them together with the last step's ``probability``).

Members are the batch dimension of the model call: every member's next step is predicted at once
by :func:`emberxr.inference.predict_histories` (the windows, blending, device and calibration of
every forecast; dynamic bands, shared by the members, as in :func:`~emberxr.forecast.forecast`);
when all members share one history (always at step 1) the model runs once for all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from emberxr.errors import ConfigError, Problem, ThresholdNotSetError
from emberxr.schema import FIRE, VALID

__all__ = ["SAMPLINGS", "ensemble_forecast"]

SAMPLINGS = ("bernoulli", "quantile", "threshold")
MASK_LEVEL = 0.5  # the ensemble's fire_mask: burned in at least half of the members


def _check(
    members: Any, sampling: str, threshold: float | None, seed: Any, spread: Any, horizon: int
) -> None:
    problems = []
    if isinstance(members, bool) or not isinstance(members, (int, np.integer)) or int(members) < 1:
        problems.append(Problem(f"members={members!r}", "use a whole number >= 1 (e.g. 32)"))
    if sampling not in SAMPLINGS:
        problems.append(Problem(f"sampling={sampling!r}", f"use one of {', '.join(SAMPLINGS)}"))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        problems.append(Problem(f"seed={seed!r}", "use a whole number >= 0"))
    if spread is not None and int(horizon) < 2:
        problems.append(
            Problem(
                "a wind spread for a one-step forecast, which sees only observed wind",
                "forecast two or more steps (--horizon 2 or more), or leave out the wind spread",
            )
        )
    if problems:
        raise ConfigError(problems, subject="ensemble")
    if sampling == "threshold" and threshold is None:
        raise ThresholdNotSetError("an ensemble with sampling='threshold'")


def ensemble_forecast(
    model: Any,
    stats: Any,
    event: xr.Dataset,
    t: int | None = None,
    horizon: int = 1,
    threshold: float | None = None,
    *,
    members: int,
    seed: int | None = None,
    sampling: str | None = None,
    wind_spread: Any = None,
    future_wind: Any = None,
    max_history: int = 8,
    progress: bool = True,
    **run: Any,
) -> xr.Dataset:
    """An ensemble forecast of ``horizon`` steps after frame ``t`` (see the module docstring).

    Normally reached through :func:`emberxr.forecast.forecast` (``members=N``), whose other
    arguments it shares.

    Parameters
    ----------
    members
        Number of members (``>= 1``).
    seed
        Seed of the draws (default 0): the same seed gives the same ensemble.
    sampling
        ``bernoulli`` (default), ``quantile`` or ``threshold`` (needs ``threshold``).
    wind_spread
        None, ``(speed_kmh, direction_deg)`` / ``"SPEED_KMH,DIR_DEG"`` (standard deviations of the
        per-member offsets) or ``"auto"`` (the event's recent variability).
    future_wind
        The wind after the issue time (:func:`emberxr.products.wind.future_wind`).
    max_history, progress, **run
        How the model runs: :func:`emberxr.inference.predict_histories`'s options (``patch_size``,
        ``tokens``, ``tile_size``, ``device``, ``batch_size``, ``calibrator`` ...).

    Returns
    -------
    xarray.Dataset
        ``probability`` (burn probability), ``mean_probability``, ``fire_mask`` (step, y, x),
        ``arrival_time`` and ``arrival_time_std`` (y, x); coordinates and CRS as
        :func:`~emberxr.forecast.forecast`'s, attributes ``members``, ``seed``, ``sampling``,
        ``wind_spread_kmh`` / ``wind_spread_deg``, ``wind_source`` / ``wind_future``.
    """
    import rioxarray  # noqa: F401

    from emberxr.forecast import (
        dynamic_history,
        georeference,
        next_dynamic,
        step_coords,
        time_step_hours,
    )
    from emberxr.inference import predict_histories
    from emberxr.products.calibration import calibration_method
    from emberxr.products.wind import auto_wind_spread, parse_wind_spread, perturb_wind
    from emberxr.products.wind import future_wind as resolve_future
    from emberxr.progress import progress as progress_bar
    from emberxr.schema import wind_series

    n_t = int(event.sizes["time"])
    t = n_t - 1 if t is None else int(t)
    if int(horizon) < 1 or not -n_t <= t < n_t:
        raise ConfigError(
            [Problem(f"t={t}, horizon={horizon}", f"use 0 <= t < {n_t} (or negative) and horizon >= 1")],
            subject="ensemble",
        )
    sampling = "bernoulli" if sampling is None else sampling
    seed = 0 if seed is None else seed
    spread = parse_wind_spread(wind_spread)
    _check(members, sampling, threshold, seed, spread, horizon)
    n, t, horizon = int(members), t % n_t, int(horizon)
    dt = time_step_hours(event)
    times = np.asarray(event["time"].values, dtype="datetime64[ns]")
    valid = np.asarray(event[VALID].values, bool)
    h = min(t + 1, max_history)
    hist0 = (np.asarray(event[FIRE].isel(time=slice(t - h + 1, t + 1)).values) > 0).astype(np.uint8)
    wind0 = np.asarray(wind_series(event), np.float32)[t - h + 1 : t + 1]
    t_hist = times[t - h + 1 : t + 1]
    dyn = dynamic_history(event, t, h)
    step_td = np.timedelta64(round(dt * 3600), "s")
    fut = resolve_future(event, t, horizon, future_wind)
    # per member: one generator for its masks, one for its wind (draws of one never shift the other's)
    pairs = [m.spawn(2) for m in np.random.SeedSequence(int(seed)).spawn(n)]
    rngs = [np.random.default_rng(mask_seq) for mask_seq, _ in pairs]
    wind_rngs = [np.random.default_rng(wind_seq) for _, wind_seq in pairs]
    spread_attrs: dict[str, Any] = {}
    if spread == "auto":
        spread = auto_wind_spread(event, t, max_history)
        spread_attrs["wind_spread_source"] = "auto (recent observed variability)"
    if spread is not None:
        member_wind = perturb_wind(fut.uv, spread[0], spread[1], wind_rngs)  # [N, horizon - 1, 2]
        spread_attrs.update(wind_spread_kmh=float(spread[0]), wind_spread_deg=float(spread[1]))
    else:
        member_wind = np.broadcast_to(fut.uv, (n, *fut.uv.shape))
    kw = {**run, "max_history": max_history, "progress": False}
    hist = np.repeat(hist0[None], n, axis=0)  # [N, h, H, W]
    wind_hist = np.repeat(wind0[None], n, axis=0)  # [N, h, 2]
    burned = np.repeat(((hist0[-1] > 0) & valid)[None], n, axis=0)  # [N, H, W]
    count = burned.sum(axis=0).astype(np.int64)  # members that burned each cell so far
    s1 = np.zeros(valid.shape, np.float64)  # sum and sum of squares of their arrival hours
    s2 = np.zeros(valid.shape, np.float64)
    prev_p = None
    burn_prob, mean_prob = [], []
    thr = np.inf if threshold is None else float(threshold)
    for k in progress_bar(range(1, horizon + 1), "ensemble", unit="step", enabled=progress, delay=1.0):
        if (hist == hist[:1]).all() and (wind_hist == wind_hist[:1]).all():
            p = np.repeat(
                predict_histories(
                    model, stats, event, hist[:1], wind_hist[:1], t_hist, dynamic_hist=dyn, **kw
                ),
                n,
                0,
            )
        else:
            p = predict_histories(model, stats, event, hist, wind_hist, t_hist, dynamic_hist=dyn, **kw)
        if prev_p is not None:
            p = np.maximum(p, prev_p)
        prev_p = p
        if sampling == "bernoulli":
            drawn = np.stack([rng.random(p.shape[1:]) < p[i] for i, rng in enumerate(rngs)])
        elif sampling == "quantile":
            drawn = np.stack([p[i] > rng.random() for i, rng in enumerate(rngs)])
        else:
            drawn = p >= thr
        mask = (burned | drawn) & valid
        new = (mask & ~burned).sum(axis=0)
        hours = k * dt
        s1 += hours * new
        s2 += hours * hours * new
        count += new
        burned = mask
        burn_prob.append(burned.mean(axis=0))
        mean_prob.append(p.mean(axis=0))
        if k < horizon:
            w_next = member_wind[:, k - 1]
            hist = np.concatenate([hist, mask[:, None].astype(np.uint8)], axis=1)[:, -max_history:]
            wind_hist = np.concatenate([wind_hist, w_next[:, None]], axis=1)[:, -max_history:]
            t_hist = np.concatenate([t_hist, t_hist[-1:] + step_td])[-max_history:]
            if dyn is not None:
                dyn = [*dyn, next_dynamic(event, t + k, dyn)][-max_history:]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, s1 / np.maximum(count, 1), np.nan)
        var = np.where(count > 0, s2 / np.maximum(count, 1) - mean**2, np.nan)
    std = np.sqrt(np.maximum(var, 0.0))
    prob = np.where(valid, np.stack(burn_prob), np.nan).astype(np.float32)
    coords = step_coords(event, t, horizon, fut)
    attrs = {
        "event_id": str(event.attrs.get("event_id", "event")),
        "issue_time": str(np.datetime_as_string(times[t], unit="s")),
        "issue_index": t,
        **({} if threshold is None else {"threshold": float(threshold)}),
        "time_step_hours": dt,
        "feedback": "thresholded" if sampling == "threshold" else f"sampled ({sampling})",
        "members": n,
        "seed": int(seed),
        "sampling": sampling,
        "mask_level": MASK_LEVEL,
        "calibration": calibration_method(run.get("calibrator")),
        **spread_attrs,
        **fut.attrs(),
    }
    ds = xr.Dataset(
        {
            "probability": (("step", "y", "x"), prob),
            "mean_probability": (
                ("step", "y", "x"),
                np.where(valid, np.stack(mean_prob), np.nan).astype(np.float32),
            ),
            "fire_mask": (("step", "y", "x"), ((prob >= MASK_LEVEL) & valid).astype(np.uint8)),
            "arrival_time": (("y", "x"), np.where(valid, mean, np.nan).astype(np.float32)),
            "arrival_time_std": (("y", "x"), np.where(valid, std, np.nan).astype(np.float32)),
        },
        coords=coords,
        attrs=attrs,
    )
    ds["probability"].attrs.update(
        long_name=f"burn probability (share of {n} ensemble members burned)", units="1", _FillValue=np.nan
    )
    ds["mean_probability"].attrs.update(long_name="ensemble mean fire probability", units="1")
    ds["fire_mask"].attrs.update(long_name=f"burned in at least {MASK_LEVEL:.0%} of the members")
    ds["arrival_time"].attrs.update(
        long_name="ensemble mean arrival time (members that burn the cell)", units="hours since issue time"
    )
    ds["arrival_time_std"].attrs.update(
        long_name="standard deviation of the arrival time over the members that burn the cell",
        units="hours",
    )
    return georeference(ds, event)
