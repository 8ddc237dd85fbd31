"""Probability calibration: expected calibration error, reliability diagrams, and calibrators.

A forecast probability is *calibrated* when, of all cells given probability ``p``, a share ``p``
burns. Models trained with a positive-class weight (emberxr's default ``pos_weight: auto``) are
not: the weight shifts every logit up, so probabilities overstate fire.

Measuring
---------
:func:`reliability_bins` groups pixels by predicted probability and compares, per bin, the mean
probability with the observed frequency of fire. Two binnings:

``width`` (default)
    ``n_bins`` equal-width bins of probability (``[0, 1/n), [1/n, 2/n) ... [(n-1)/n, 1]``), the
    usual definition (Guo et al. 2017) and the one the reliability diagram shows;
``mass``
    bins holding (about) the same number of pixels, cut at quantiles of the predicted probability
    (pixels with the very same score are never split, so heavy ties make some bins larger). With
    fire's imbalance most pixels sit near 0, so equal-mass bins resolve the low probabilities
    that equal-width bins lump together.

The expected calibration error is ``ECE = sum_b (n_b / N) * |mean_prob_b - freq_b|`` over
non-empty bins. Evaluation gets it from the score tables the metrics already keep
(:class:`~emberxr.train.metrics.ScoreCounts`: counts per distinct logit), so it costs no extra pass
and is exact while those tables are. ``emberxr evaluate --calibration`` (``Fitted.evaluate(...,
calibration=True)``) adds an ``ece`` column for the next fire mask and the newly burned pixels
and writes a reliability diagram (``reliability.png``) and its bins (``calibration_bins.csv``).

Calibrating
-----------
:func:`fit_calibration` fits a map from logits to calibrated probabilities on the validation
split's valid pixels (at most ``max_pixels`` of them, a seeded random subset), by default all of
them (``pixels="all"``): one non-decreasing map for every pixel, so the ranking of the pixels, the
AP and the decisions at the (re-chosen) threshold stay those of the model and only the
probabilities change. ``pixels="unburned"`` fits and maps only the pixels not burning at the
issue time (the spread forecast; the burning pixels keep the model's probability): it calibrates
the new-burn probabilities more closely, where the old fire — certain and burned — would dominate
the high probabilities of a map fitted on every pixel, but it reorders burning against unburned
pixels, so the next-mask AP and the F1-best threshold change too. The methods:

``temperature``
    ``sigmoid(z / T)`` with ``T > 0`` minimising the negative log-likelihood (one parameter,
    keeps the ranking: AP and the F1-best decision are unchanged; it sharpens or softens but
    cannot remove a constant shift);
``isotonic``
    scikit-learn's :class:`~sklearn.isotonic.IsotonicRegression` of the fire label on the logit: a
    non-decreasing step map, linearly interpolated between its knots, clipped at both ends. It
    also removes the shift a positive-class weight causes; pixels of a flat step share one
    probability (ties).

The result is a dict of plain floats and lists (weights_only-safe), stored in the checkpoint as
``CheckpointRecord.calibration`` (``fit(..., calibrate="temperature")`` / the config key
``training.calibrate``, or after the fact :func:`calibrate` / ``emberxr evaluate CKPT DATA
--calibrate isotonic --save model.pt``) and applied everywhere the model's probabilities are used
(:func:`with_calibration`: predict, forecast, ensembles, evaluation, threshold choice).

**The threshold is re-chosen on calibrated probabilities** (the maximum next-mask F1 over the
same validation samples) right after calibrating, so a calibrated checkpoint's
``probability >= threshold`` is the F1-best decision on the probabilities it returns. For
temperature scaling this is the same decision as before up to float ties; for isotonic it can
differ slightly where the map is flat.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from emberxr.errors import ConfigError, Problem

__all__ = [
    "BINNINGS",
    "METHODS",
    "Calibrated",
    "calibrate",
    "calibrate_logits",
    "calibration_method",
    "calibration_report",
    "check_calibration",
    "expected_calibration_error",
    "fit_calibration",
    "reliability_bins",
    "reliability_diagram",
    "with_calibration",
]

METHODS = ("temperature", "isotonic")
PIXELS = ("unburned", "all")
BINNINGS = ("width", "mass")
_EPS = 1e-6  # calibrated probabilities are kept in [eps, 1 - eps] so their logits stay finite


# -- measuring -----------------------------------------------------------------------------------------
def _check_binning(n_bins: int, binning: str) -> None:
    problems = []
    if int(n_bins) < 1:
        problems.append(Problem(f"n_bins={n_bins}", "use at least one bin (15 is usual)"))
    if binning not in BINNINGS:
        problems.append(Problem(f"binning={binning!r}", f"use one of {', '.join(BINNINGS)}"))
    if problems:
        raise ConfigError(problems, subject="calibration bins")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-x)), np.exp(np.minimum(x, 0)) / (1.0 + np.exp(x)))


def _points(scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probability, negatives, positives) per distinct score, in increasing probability.

    ``scores``: a :class:`~emberxr.train.metrics.ScoreCounts` or a pair ``(probabilities, labels)``.
    """
    if hasattr(scores, "table"):
        lower, upper, counts = scores.table()
        with np.errstate(invalid="ignore"):
            mid = np.where(lower == upper, lower, lower + (upper - lower) / 2)
        mid = np.where(np.isnan(mid), lower, mid)
        return _sigmoid(mid), counts[0].astype(np.float64), counts[1].astype(np.float64)
    p, y = (np.asarray(a).ravel() for a in scores)
    order = np.argsort(p, kind="stable")
    p, y = p[order].astype(np.float64), y[order].astype(bool)
    return p, (~y).astype(np.float64), y.astype(np.float64)


def reliability_bins(scores: Any, n_bins: int = 15, binning: str = "width") -> Any:
    """Calibration per probability bin (see the module docstring for the binnings).

    Parameters
    ----------
    scores
        A :class:`~emberxr.train.metrics.ScoreCounts` table (logits with counts) or a pair
        ``(probabilities, labels)`` of arrays.
    n_bins, binning
        Number of bins and ``"width"`` or ``"mass"``.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin``, ``p_low``, ``p_high`` (its edges; for ``mass`` the
        lowest and highest probability in it), ``mean_probability``, ``observed_frequency``,
        ``count``.
    """
    import pandas as pd

    _check_binning(n_bins, binning)
    p, neg, pos = _points(scores)
    n = neg + pos
    total = float(n.sum())
    cols = ["bin", "p_low", "p_high", "mean_probability", "observed_frequency", "count"]
    if total == 0:
        return pd.DataFrame(columns=cols)
    if binning == "width":
        b = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    else:
        centre = np.cumsum(n) - n / 2
        b = np.minimum((centre / total * n_bins).astype(np.int64), n_bins - 1)
    rows = []
    for i in np.unique(b):
        m = b == i
        cnt = float(n[m].sum())
        if cnt == 0:
            continue
        lo, hi = (i / n_bins, (i + 1) / n_bins) if binning == "width" else (p[m].min(), p[m].max())
        rows.append(
            [
                int(i),
                float(lo),
                float(hi),
                float((p[m] * n[m]).sum() / cnt),
                float(pos[m].sum() / cnt),
                int(cnt),
            ]
        )
    return pd.DataFrame(rows, columns=cols)


def expected_calibration_error(scores: Any, n_bins: int = 15, binning: str = "width") -> float:
    """``sum_b (n_b / N) |mean_prob_b - freq_b|`` over the bins of :func:`reliability_bins`
    (``scores`` and the bins as there); NaN without pixels."""
    bins = scores if hasattr(scores, "observed_frequency") else reliability_bins(scores, n_bins, binning)
    if len(bins) == 0:
        return float("nan")
    w = bins["count"].to_numpy(np.float64)
    gap = np.abs(bins["mean_probability"].to_numpy() - bins["observed_frequency"].to_numpy())
    return float((w * gap).sum() / w.sum())


def reliability_diagram(
    bins: Mapping[str, Any],
    path: str | Path,
    title: str | None = None,
    eces: Mapping[str, float] | None = None,
) -> Path:
    """Write a reliability diagram PNG (atomic): per target, observed frequency against mean
    predicted probability per bin, the diagonal of perfect calibration, and the pixel count per
    bin underneath (log scale).

    Parameters
    ----------
    bins
        Target name (``next``, ``new`` ...) → :func:`reliability_bins` table.
    path
        The PNG.
    title
        Figure title.
    eces
        Target → ECE, shown in the legend.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from emberxr.atomic import atomic_path

    labels = {"next": "next fire mask", "new": "newly burned pixels"}
    fig, (ax, axh) = plt.subplots(
        2, 1, figsize=(5.2, 6.0), gridspec_kw={"height_ratios": [3, 1]}, sharex=True, constrained_layout=True
    )
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfectly calibrated")
    width = 1.0 / max(len(b) for b in bins.values()) if bins and any(len(b) for b in bins.values()) else 0.1
    for i, (name, b) in enumerate(bins.items()):
        if len(b) == 0:
            continue
        label = labels.get(name, name)
        if eces is not None and name in eces:
            label += f" (ECE {eces[name]:.4f})"
        ax.plot(b["mean_probability"], b["observed_frequency"], marker="o", ms=4, lw=1.5, label=label)
        centres = (b["p_low"] + b["p_high"]) / 2
        axh.bar(centres + (i - 0.5) * width * 0.4, b["count"], width=width * 0.4, alpha=0.7)
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="observed frequency of fire", title=title or "reliability")
    ax.set_aspect("equal", adjustable="box")
    ax.legend(loc="upper left", fontsize=8)
    axh.set_yscale("log")
    axh.set(xlabel="predicted probability", ylabel="pixels")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


def calibration_report(
    acc: Any,
    df: Any,
    n_bins: int = 15,
    binning: str = "width",
    output_dir: str | Path | None = None,
    title: str | None = None,
) -> Any:
    """The metrics table ``df`` of :class:`~emberxr.train.metrics.MetricAccumulator` ``acc`` with an
    ``ece`` column (per target, scope and group); with ``output_dir``, also write
    ``reliability.png`` (next fire mask and newly burned pixels, all samples) and
    ``calibration_bins.csv`` there."""
    import pandas as pd

    _check_binning(n_bins, binning)
    df = df.copy()
    ece = []
    for target, scope, group in zip(df["target"], df["scope"], df["group"]):
        g = acc.groups.get((target, scope, group))
        ece.append(expected_calibration_error(g.scores, n_bins, binning) if g is not None else float("nan"))
    df["ece"] = ece
    if output_dir is not None:
        from emberxr.atomic import atomic_path

        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        bins = {}
        for target in ("next", "new"):
            g = acc.groups.get((target, "all", "all"))
            if g is not None:
                bins[target] = reliability_bins(g.scores, n_bins, binning)
        eces = {t: expected_calibration_error(b) for t, b in bins.items()}
        reliability_diagram(bins, out / "reliability.png", title=title, eces=eces)
        table = pd.concat([b.assign(target=t) for t, b in bins.items()], ignore_index=True)
        table = table[["target", *[c for c in table.columns if c != "target"]]]
        with atomic_path(out / "calibration_bins.csv") as tmp:
            table.to_csv(tmp, index=False)
    return df


# -- applying -----------------------------------------------------------------------------------------
def check_calibration(calibration: Mapping[str, Any]) -> None:
    """Raise :class:`~emberxr.errors.ConfigError` when ``calibration`` is not one
    :func:`fit_calibration` makes (temperature > 0, or isotonic points; ``pixels`` all|unburned)."""
    method = calibration.get("method") if isinstance(calibration, Mapping) else None
    ok = (method == "temperature" and float(calibration.get("temperature", 0)) > 0) or (
        method == "isotonic"
        and len(calibration.get("logits", ())) == len(calibration.get("probabilities", ())) > 0
    )
    ok = ok and calibration.get("pixels", "all") in PIXELS
    if not ok:
        raise ConfigError(
            [
                Problem(
                    f"not a calibration: {str(calibration)[:120]}",
                    "use a dict made by emberxr.products.calibration.fit_calibration (method temperature "
                    "with temperature > 0, or isotonic with logits and probabilities)",
                )
            ],
            subject="calibration",
        )


def calibrate_logits(logits: Any, calibration: Mapping[str, Any] | None, last: Any = None) -> Any:
    """Calibrated logits (a tensor like ``logits``); ``calibration=None`` returns them as they are.

    ``last`` (the last history frame, ``[B, 1, H, W]``): with a calibration fitted on the pixels not
    burning at the issue time (``pixels="unburned"``), the burning pixels keep their logits."""
    import torch

    if calibration is None:
        return logits
    out = _mapped(logits, calibration)
    if last is not None and calibration.get("pixels", "all") == "unburned":
        out = torch.where(last.reshape(out.shape) > 0.5, logits, out)
    return out


def _mapped(logits: Any, calibration: Mapping[str, Any]) -> Any:
    import torch

    if calibration["method"] == "temperature":
        return logits / float(calibration["temperature"])
    xs = torch.as_tensor(calibration["logits"], dtype=torch.float64, device=logits.device)
    ys = torch.as_tensor(calibration["probabilities"], dtype=torch.float64, device=logits.device)
    z = logits.double().clamp(float(xs[0]), float(xs[-1]))
    if len(xs) == 1:
        q = ys[0].expand_as(z)
    else:
        i = torch.searchsorted(xs, z.contiguous(), right=True).clamp(1, len(xs) - 1)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        w = torch.where(x1 > x0, (z - x0) / (x1 - x0).clamp_min(1e-300), torch.zeros_like(z))
        q = y0 + w * (y1 - y0)
    q = q.clamp(_EPS, 1 - _EPS)
    return torch.log(q / (1 - q)).to(logits.dtype)


class Calibrated(nn.Module):
    """A model whose outputs are calibrated logits (the wrapped model's, mapped by ``calibration``).

    Made by :func:`with_calibration`; it only runs the model (the weights stay the wrapped model's
    and are saved from it). Attributes it lacks are read from the wrapped model.
    """

    def __init__(self, model: Any, calibration: Mapping[str, Any]):
        super().__init__()
        check_calibration(calibration)
        self.model = model
        self.calibration = dict(calibration)

    def forward(self, batch: Any) -> Any:
        from emberxr.models.base import last_frame

        last = last_frame(batch) if self.calibration.get("pixels", "all") == "unburned" else None
        return calibrate_logits(self.model(batch), self.calibration, last)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["model"], name)


def calibration_method(calibration: Mapping[str, Any] | None) -> str:
    """The method of a calibration (``none`` for None: uncalibrated probabilities)."""
    return "none" if calibration is None else str(calibration["method"])


def with_calibration(model: Any, calibration: Mapping[str, Any] | None) -> Any:
    """``model`` itself without a calibration, else a :class:`Calibrated` wrapper of it."""
    if calibration is None:
        return model
    return Calibrated(model, calibration)


# -- fitting ------------------------------------------------------------------------------------------
def _bce(z: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def collect_pixels(
    model: Any,
    loader: Any,
    max_pixels: int = 2_000_000,
    seed: int = 0,
    progress: bool = False,
    pixels: str = "all",
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and next-mask labels of the valid pixels of every sample of ``loader`` (float64, bool):
    all of them, or (``pixels="unburned"``) those not burning in the last history frame.

    Beyond ``max_pixels`` a seeded random subset is kept: every pixel is kept with the same rate,
    halved whenever the kept ones exceed the bound (the result depends only on the data and
    ``seed``).
    """
    import torch

    from emberxr.models.base import last_frame
    from emberxr.progress import progress as progress_bar
    from emberxr.train.loop import to_device

    rng = np.random.default_rng(seed)
    zs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    rate, kept = 1.0, 0
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with torch.inference_mode():
        for batch in progress_bar(loader, "calibrate", unit="batch", enabled=progress):
            batch = to_device(batch, device)
            z = model(batch).float().cpu().numpy().ravel()
            y = (batch["target"].reshape(-1) > 0.5).cpu().numpy()
            m = batch["valid"].reshape(-1).bool().cpu().numpy()
            if pixels == "unburned":
                m &= (last_frame(batch).reshape(-1) <= 0.5).cpu().numpy()
            z, y = z[m], y[m]
            if rate < 1.0:
                keep = rng.random(z.size) < rate
                z, y = z[keep], y[keep]
            zs.append(z.astype(np.float64))
            ys.append(y)
            kept += z.size
            while kept > max_pixels:
                rate /= 2
                for i in range(len(zs)):
                    keep = rng.random(zs[i].size) < 0.5
                    zs[i], ys[i] = zs[i][keep], ys[i][keep]
                kept = sum(a.size for a in zs)
    model.train(was_training)
    if not zs:
        return np.zeros(0), np.zeros(0, bool)
    return np.concatenate(zs), np.concatenate(ys)


def fit_calibration(
    model: Any,
    loader: Any,
    method: str = "temperature",
    *,
    max_pixels: int = 2_000_000,
    seed: int = 0,
    progress: bool = False,
    pixels: str = "all",
) -> dict[str, Any]:
    """Fit a calibration of ``model``'s probabilities on ``loader``'s samples (validation).

    Parameters
    ----------
    model
        The trained model (uncalibrated).
    loader
        Batches of validation samples (``emberxr.data.loaders.validation_loader``).
    method
        ``"temperature"`` or ``"isotonic"`` (see the module docstring).
    max_pixels, seed
        Bound on the pixels fitted on and the seed of the subset beyond it.
    pixels
        ``"all"`` valid pixels (default) or only those not burning at the issue time
        (``"unburned"``, see the module docstring).
    progress
        Show a progress bar.

    Returns
    -------
    dict
        ``method``, its parameters (``temperature``, or ``logits`` and ``probabilities``: the
        isotonic knots), ``pixels``, ``n_pixels``, and ``ece_before`` / ``ece_after`` (15 equal-width bins, on
        the pixels fitted on: in-sample). Plain floats and lists, ready for the checkpoint.

    Raises
    ------
    ConfigError
        Unknown method, or no validation pixel with fire and without (nothing to calibrate on).
    """
    problems = []
    if method not in METHODS:
        problems.append(
            Problem(f"calibration method {method!r}", f"use one of {', '.join(METHODS)} (or none)")
        )
    if pixels not in PIXELS:
        problems.append(Problem(f"pixels={pixels!r}", f"use one of {', '.join(PIXELS)}"))
    if problems:
        raise ConfigError(problems, subject="calibration")
    z, y = collect_pixels(model, loader, max_pixels=max_pixels, seed=seed, progress=progress, pixels=pixels)
    if z.size == 0 or y.all() or not y.any():
        raise ConfigError(
            [
                Problem(
                    f"the validation data has {int(y.sum())} burning and {int((~y).sum())} unburned valid pixels",
                    "calibrate on validation data with both (more events or samples)",
                )
            ],
            subject="calibration",
        )
    z = np.clip(np.nan_to_num(z, nan=0.0), -60.0, 60.0)
    yf = y.astype(np.float64)
    out: dict[str, Any] = {"method": method, "pixels": pixels, "n_pixels": int(z.size)}
    if method == "temperature":
        from scipy.optimize import minimize_scalar

        res = minimize_scalar(lambda s: _bce(z / math.exp(s), yf), bounds=(-5.0, 5.0), method="bounded")
        out["temperature"] = float(math.exp(res.x))
    else:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(z, yf)
        out["logits"] = [float(v) for v in iso.X_thresholds_]
        out["probabilities"] = [float(v) for v in iso.y_thresholds_]
    import torch

    p_after = _sigmoid(calibrate_logits(torch.from_numpy(z), out).numpy())
    out["ece_before"] = expected_calibration_error((_sigmoid(z), y))
    out["ece_after"] = expected_calibration_error((p_after, y))
    return out


def calibrate(
    fitted: Any,
    data: Any,
    method: str = "temperature",
    split: str = "val",
    progress: bool = False,
    pixels: str = "all",
) -> dict[str, Any] | None:
    """Calibrate a fitted model after training, on split ``split`` of ``data``, then re-choose its
    threshold on the calibrated probabilities of the same samples.

    ``method="none"`` removes a calibration (and re-chooses the threshold); ``pixels`` as in
    :func:`fit_calibration`. ``fitted.calibration``,
    ``fitted.threshold`` and ``fitted.metrics[f"{split}/ap" | "/best_f1"]`` are updated; call
    ``fitted.save(path)`` to keep them. Returns the calibration (None for ``none``).
    """
    from emberxr.data.loaders import validation_loader
    from emberxr.train.evaluate import choose_threshold

    events = fitted._events(data, split)
    loader = validation_loader(events, fitted.stats, fitted.config, fitted.model)
    cal = (
        None
        if method == "none"
        else fit_calibration(fitted.model, loader, method, progress=progress, pixels=pixels)
    )
    fitted.calibration = cal
    fitted.threshold, chosen = choose_threshold(fitted.model, loader, progress=progress, calibrator=cal)
    fitted.metrics.update({f"{split}/{k}": v for k, v in chosen.items()})
    return cal
