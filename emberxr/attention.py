"""Where EmberFormer looks: temporal attention by frame age and history length, spatial maps.

The design notes ask "are early frames attended?". EmberFormer keeps, after every forward pass,
``last_attention [B, N, heads, T]``: the attention of each patch's last real step over the batch's
T frames in the last temporal layer (zero at padded frames). :func:`temporal_attention` runs a
model over many evaluation samples and records, per sample, head and frame, the attention mass
averaged over patches, with the frame's **age** (steps back from the prediction time: 0 = the
last observed frame) and the sample's **history length** (frames the model attended). Two patch
scopes are kept: ``all`` (every patch inside the event footprint) and ``fire`` (patches with fire
in the last frame or the target — where the forecast is decided).

:func:`attention_summary` answers the question with numbers, per scope and history length: the
mean mass on the last frame, on the last three, on older frames, and what uniform attention would
give (``1/L``, ``min(3, L)/L``). :func:`spatial_attention` reads, for one sample, the weights of
each cross-patch attention layer from one query patch to every patch of the grid.
:func:`analyze_attention` does it all for a fitted model and a data split and writes
``attention_by_age.csv`` (long table), ``attention_summary.csv``, ``temporal_attention.png`` and
``spatial_attention.png`` (``emberxr attention CKPT DATA``).

The model is only read (no plotting or analysis code lives in it): temporal weights through
``last_attention``, spatial weights through the ``keep_weights`` switch of
:class:`emberxr.layers.AttentionBlock`. Any model that keeps ``last_attention`` can be analysed
(U-TAE's L-TAE attention is ``[B, h*w, heads, T]`` on its lowest-resolution grid: its cells are
averaged as the ``all`` scope); the spatial maps need EmberFormer's cross-patch layers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emberxr.errors import ConfigError, Problem

__all__ = [
    "AttentionReport",
    "analyze_attention",
    "attention_summary",
    "plot_spatial_attention",
    "plot_temporal_attention",
    "spatial_attention",
    "temporal_attention",
]

SCOPES = ("all", "fire")


def _needs_attention(model: Any) -> None:
    if getattr(model, "last_attention", None) is None:
        name = getattr(model, "name", type(model).__name__)
        raise ConfigError(
            [
                Problem(
                    f"model {name!r} keeps no temporal attention (last_attention is empty after a forward pass)",
                    "analyse an EmberFormer checkpoint with at least one temporal layer",
                )
            ],
            subject="attention",
        )


def _patch_masks(batch: Mapping[str, Any], p: int) -> dict[str, Any]:
    """``{scope: [B, N] bool}``: patches inside the footprint, and those with fire now or next."""
    import torch

    from emberxr.models.base import last_frame, pixel_valid
    from emberxr.tokens import patch_mean, valid_token_mask

    inside = valid_token_mask(pixel_valid(batch)[:, 0], p)
    burning = (last_frame(batch)[:, 0] > 0) | (batch["target"][:, 0] > 0)
    fire = (patch_mean(burning.to(torch.float32), p) > 0) & inside
    return {"all": inside, "fire": fire}


def temporal_attention(
    model: Any,
    loader: Any,
    *,
    patch_size: int,
    max_samples: int | None = None,
    progress: bool = False,
) -> Any:
    """Temporal attention mass per sample, scope, head and frame over ``loader``'s samples.

    Parameters
    ----------
    model
        A model that fills ``last_attention [B, N, heads, T]`` (EmberFormer).
    loader
        Batches of evaluation samples (:func:`emberxr.data.loaders.validation_loader`).
    patch_size
        The model's patch size (patch masks are cut with it).
    max_samples
        Stop after this many samples.
    progress
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        Long table: ``scope, sample, event_id, t, hist_len, age, head, mass`` (one row per
        attended frame), plus the attention on padded frames in ``attrs["padded_mass_max"]``
        (0 for a correct model).
    """
    import pandas as pd
    import torch

    from emberxr.models.base import steps_back
    from emberxr.progress import progress as bar

    rows: list[dict[str, Any]] = []
    padded_max = 0.0
    seen = 0
    was = model.training
    model.eval()
    it = bar(loader, "attention", enabled=progress, unit="batch")
    with torch.no_grad():
        for batch in it:
            model(batch)
            _needs_attention(model)
            att = model.last_attention.to(torch.float64)  # [B, N, h, T]
            valid_t = batch["valid_t"].to(torch.bool)
            back = steps_back(valid_t)
            # frames the model can attend: its attention window (EmberFormer's max_seq_len, else
            # the history it declares)
            seq = getattr(model, "max_seq_len", None) or getattr(model.requires, "max_history", None)
            seq = seq or valid_t.shape[1]
            keep = valid_t & (back < seq)
            hist = keep.sum(dim=1)
            if att.shape[-1] != valid_t.shape[1]:  # pragma: no cover - model contract
                raise ConfigError(
                    [Problem("last_attention does not cover the batch's frames", "update the model")]
                )
            pad = (att * (~valid_t)[:, None, None, :]).sum(dim=-1)  # [B, N, h]
            padded_max = max(padded_max, float(pad.max()) if pad.numel() else 0.0)
            masks = _patch_masks(batch, patch_size)
            if masks["all"].shape[1] != att.shape[1]:  # attention on another grid (U-TAE): every cell
                masks = {"all": torch.ones(att.shape[:2], dtype=torch.bool), "fire": None}
            meta = batch.get("meta") or [{}] * att.shape[0]
            for scope in SCOPES:
                if masks[scope] is None:
                    continue
                m = masks[scope].to(torch.float64)  # [B, N]
                cnt = m.sum(dim=1)
                mass = torch.einsum("bn,bnht->bht", m, att) / cnt.clamp(min=1)[:, None, None]
                for b in range(att.shape[0]):
                    if seen + b >= (max_samples or math.inf) or cnt[b] == 0:
                        continue
                    for t in torch.nonzero(keep[b]).flatten().tolist():
                        for h in range(att.shape[2]):
                            rows.append(
                                {
                                    "scope": scope,
                                    "sample": seen + b,
                                    "event_id": meta[b].get("event_id"),
                                    "t": meta[b].get("t"),
                                    "hist_len": int(hist[b]),
                                    "age": int(back[b, t]),
                                    "head": h,
                                    "mass": float(mass[b, h, t]),
                                }
                            )
            seen += att.shape[0]
            if max_samples is not None and seen >= max_samples:
                break
    it.close()
    model.train(was)
    df = pd.DataFrame(rows, columns=["scope", "sample", "event_id", "t", "hist_len", "age", "head", "mass"])
    df.attrs["padded_mass_max"] = padded_max
    return df


def attention_summary(df: Any) -> Any:
    """Per scope and history length: samples, mean mass on the last frame, the last three and older
    frames (means over samples and heads), and the uniform shares for comparison.

    Returns
    -------
    pandas.DataFrame
        ``scope, hist_len, n_samples, last, last3, older, uniform_last, uniform_last3,
        uniform_older``.
    """
    import pandas as pd

    if df.empty:
        return pd.DataFrame(
            columns=[
                "scope",
                "hist_len",
                "n_samples",
                "last",
                "last3",
                "older",
                "uniform_last",
                "uniform_last3",
                "uniform_older",
            ]
        )
    per = df.assign(
        last=df["mass"].where(df["age"] == 0, 0.0),
        last3=df["mass"].where(df["age"] < 3, 0.0),
        older=df["mass"].where(df["age"] >= 3, 0.0),
    )
    # per sample and head: the three shares; then the mean over samples and heads
    g = per.groupby(["scope", "hist_len", "sample", "head"])[["last", "last3", "older"]].sum().reset_index()
    out = g.groupby(["scope", "hist_len"]).agg(
        n_samples=("sample", "nunique"),
        last=("last", "mean"),
        last3=("last3", "mean"),
        older=("older", "mean"),
    )
    out = out.reset_index()
    L = out["hist_len"].astype(float)
    out["uniform_last"] = 1.0 / L
    out["uniform_last3"] = np.minimum(3.0, L) / L
    out["uniform_older"] = np.maximum(L - 3.0, 0.0) / L
    return out


def answer(summary: Any, scope: str = "fire") -> str:
    """The notes' question answered in one paragraph from :func:`attention_summary`."""
    s = summary[summary["scope"] == scope]
    if s.empty:
        return f"no samples with {scope} patches"
    long = s[s["hist_len"] >= 4]
    w = long["n_samples"]
    lines = []
    if len(long):
        older = float((long["older"] * w).sum() / w.sum())
        uni = float((long["uniform_older"] * w).sum() / w.sum())
        last = float((long["last"] * w).sum() / w.sum())
        uni_last = float((long["uniform_last"] * w).sum() / w.sum())
        verdict = "more" if older > uni else "less"
        lines.append(
            f"Are early frames attended? Over {int(w.sum())} samples with 4 or more frames ({scope} patches), "
            f"frames older than the last three get {older:.1%} of the temporal attention "
            f"({verdict} than the {uni:.1%} uniform attention would give); the last frame gets {last:.1%} "
            f"(uniform {uni_last:.1%})."
        )
    else:
        lines.append("No sample had 4 or more frames: older frames cannot be assessed.")
    return " ".join(lines)


# ---------------------------------------------------------------------------------------------
# spatial attention
# ---------------------------------------------------------------------------------------------
def spatial_attention(
    model: Any, batch: Mapping[str, Any], index: int = 0, patch: tuple[int, int] | None = None
) -> dict[str, Any]:
    """Cross-patch attention of one sample: each spatial layer's weights from a query patch.

    Parameters
    ----------
    model
        EmberFormer with ``spatial_layers >= 1``.
    batch
        A batch; sample ``index`` is analysed.
    patch
        Query patch ``(row, col)`` on the patch grid (default: the patch with the most newly
        burning pixels in the target, else the most burning pixels).

    Returns
    -------
    dict
        ``maps [layers, Gy, Gx]`` (mean over heads, rows sum to 1 over valid patches),
        ``patch``, ``grid``, ``last`` and ``target`` ``[H, W]`` of the sample, ``patch_size``.

    Raises
    ------
    ConfigError
        The model has no spatial attention layers, or ``patch`` is off the grid.
    """
    import torch

    from emberxr.models.base import last_frame
    from emberxr.tokens import patch_mean

    layers = list(getattr(model, "spatial", []) or [])
    if not layers:
        raise ConfigError(
            [
                Problem(
                    "the model has no spatial attention layers",
                    "train EmberFormer with model.spatial_layers >= 1",
                )
            ],
            subject="attention",
        )
    one = {k: (v[index : index + 1] if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
    if isinstance(one.get("meta"), list):
        one["meta"] = one["meta"][index : index + 1]
    p = int(model.p)
    H, W = one["fire"].shape[-2:]
    gy, gx = H // p, W // p
    last = last_frame(one)[0, 0]
    target = one["target"][0, 0].to(torch.float32)
    if patch is None:
        new = patch_mean(((target > 0) & (last <= 0)).to(torch.float32), p)
        score = new if float(new.max()) > 0 else patch_mean((target > 0).to(torch.float32), p)
        k = int(torch.argmax(score))
        patch = (k // gx, k % gx)
    r, c = int(patch[0]), int(patch[1])
    if not (0 <= r < gy and 0 <= c < gx):
        raise ConfigError(
            [
                Problem(
                    f"patch ({r}, {c}) is off the {gy}x{gx} patch grid",
                    f"give 0 <= row < {gy}, 0 <= col < {gx}",
                )
            ],
            subject="attention",
        )
    was = model.training
    model.eval()
    for blk in layers:
        blk.keep_weights = True
    try:
        with torch.no_grad():
            model(one)
        maps = [blk.weights[0].mean(dim=0)[r * gx + c].reshape(gy, gx).double().numpy() for blk in layers]
    finally:
        for blk in layers:
            blk.keep_weights = False
            blk.weights = None
        model.train(was)
    return {
        "maps": np.stack(maps),
        "patch": (r, c),
        "grid": (gy, gx),
        "patch_size": p,
        "last": last.numpy(),
        "target": target.numpy(),
        "meta": (one.get("meta") or [{}])[0],
    }


# ---------------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------------
def plot_temporal_attention(df: Any, summary: Any, path: str | os.PathLike, scope: str = "fire") -> Path:
    """Two panels: mean attention by frame age per history length (uniform dashed), and the share
    of the last frame / frames 2-3 / older frames per history length against uniform attention."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emberxr.atomic import atomic_path

    d = df[df["scope"] == scope]
    s = summary[summary["scope"] == scope].sort_values("hist_len")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
    per = d.groupby(["hist_len", "sample", "age"])["mass"].mean().reset_index()
    by = per.groupby(["hist_len", "age"])["mass"].mean().reset_index()
    cmap = plt.get_cmap("viridis")
    lens = sorted(by["hist_len"].unique())
    for i, L in enumerate(lens):
        cur = by[by["hist_len"] == L].sort_values("age")
        color = cmap(i / max(1, len(lens) - 1))
        a1.plot(cur["age"], cur["mass"], "o-", color=color, label=f"{L} frames")
        a1.hlines(1.0 / L, 0, L - 1, colors=[color], linestyles="dashed", linewidth=0.8)
    a1.set_xlabel("frame age (steps back from the prediction time; 0 = last frame)")
    a1.set_ylabel("mean attention")
    a1.set_title(f"temporal attention by frame age ({scope} patches; dashed = uniform)")
    if lens:
        a1.legend(fontsize=8, title="history")
    x = np.arange(len(s))
    last, mid, old = s["last"].to_numpy(), (s["last3"] - s["last"]).to_numpy(), s["older"].to_numpy()
    a2.bar(x, last, color="#d62728", label="last frame")
    a2.bar(x, mid, bottom=last, color="#ff7f0e", label="frames 2-3")
    a2.bar(x, old, bottom=last + mid, color="#1f77b4", label="older frames")
    a2.scatter(x, s["uniform_last"], marker="_", s=400, color="k", label="uniform: last frame")
    a2.scatter(x, s["uniform_last3"], marker="_", s=400, color="grey", label="uniform: last 3")
    a2.set_xticks(x, [f"{int(L)}\n(n={int(n)})" for L, n in zip(s["hist_len"], s["n_samples"])])
    a2.set_xlabel("frames attended (samples)")
    a2.set_ylabel("share of attention")
    a2.set_ylim(0, 1.05)
    a2.set_title("where the attention goes, by history length")
    a2.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def plot_spatial_attention(result: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """The sample (last frame, new burn, query patch) and each spatial layer's attention map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from emberxr.atomic import atomic_path

    maps, p = result["maps"], result["patch_size"]
    r, c = result["patch"]
    n = maps.shape[0]
    fig, axes = plt.subplots(1, n + 1, figsize=(4.2 * (n + 1), 4.4))
    axes = np.atleast_1d(axes)
    last, target = result["last"], result["target"]
    img = np.zeros((*last.shape, 3))
    img[last > 0] = (0.55, 0.1, 0.1)
    img[(target > 0) & (last <= 0)] = (1.0, 0.6, 0.0)
    axes[0].imshow(img, interpolation="nearest")
    meta = result.get("meta") or {}
    axes[0].set_title(
        f"event {meta.get('event_id', '?')} t={meta.get('t', '?')}: burnt / new burn", fontsize=9
    )
    for ax in axes:
        ax.add_patch(Rectangle((c * p - 0.5, r * p - 0.5), p, p, fill=False, edgecolor="cyan", linewidth=2))
        ax.set_xticks([])
        ax.set_yticks([])
    for i in range(n):
        up = np.kron(maps[i], np.ones((p, p)))
        im = axes[i + 1].imshow(up, cmap="magma", interpolation="nearest")
        if (last > 0).any():
            axes[i + 1].contour(last > 0, levels=[0.5], colors="white", linewidths=0.8)
        axes[i + 1].set_title(f"spatial layer {i + 1}: attention of patch ({r}, {c})", fontsize=9)
        fig.colorbar(im, ax=axes[i + 1], fraction=0.046, pad=0.04)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


# ---------------------------------------------------------------------------------------------
# the whole analysis
# ---------------------------------------------------------------------------------------------
@dataclass
class AttentionReport:
    """What :func:`analyze_attention` found and wrote."""

    table: Any
    summary: Any
    answer: str
    padded_mass_max: float
    spatial: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _pick_sample(loader: Any, event: str | None, t: int | None) -> tuple[Any, int]:
    """The batch and index of the sample for the spatial map: the given event (and time), else the
    sample with the most newly burning pixels."""
    from emberxr.models.base import last_frame

    best, best_score = None, -1.0
    for batch in loader:
        meta = batch.get("meta") or []
        new = ((batch["target"][:, 0] > 0) & (last_frame(batch)[:, 0] <= 0)).sum(dim=(-1, -2))
        for i in range(batch["fire"].shape[0]):
            m = meta[i] if i < len(meta) else {}
            if event is not None and str(m.get("event_id")) != str(event):
                continue
            if t is not None and m.get("t") != t:
                continue
            score = float(new[i])
            if score > best_score:
                best, best_score = (batch, i), score
    if best is None:
        what = f"event {event!r}" + (f" at t={t}" if t is not None else "")
        raise ConfigError(
            [
                Problem(
                    f"no sample of {what} in the data",
                    "check --event / --time (event ids are in the data's catalog)",
                )
            ],
            subject="attention",
        )
    return best


def analyze_attention(
    fitted: Any,
    data: Any,
    split: str = "test",
    output_dir: str | os.PathLike = "attention",
    *,
    max_samples: int | None = 2000,
    batch_size: int | None = None,
    event: str | None = None,
    time: int | None = None,
    patch: Sequence[int] | None = None,
    progress: bool = False,
) -> AttentionReport:
    """Temporal attention over many samples of ``data[split]`` and a spatial map of one sample.

    Parameters
    ----------
    fitted
        A fitted EmberFormer (:func:`emberxr.load`).
    data, split
        Anything :meth:`emberxr.Fitted.evaluate` takes, and the split to analyse.
    output_dir
        Where the tables and PNGs go.
    max_samples
        Samples analysed (a fixed subset when the split has more; None = all).
    batch_size
        Evaluation batch size (default: the training configuration's).
    event, time, patch
        The sample and query patch of the spatial map (defaults: the sample with the most newly
        burning pixels, and its patch with the most new burn).

    Returns
    -------
    AttentionReport
    """
    from emberxr.data.loaders import build_dataset, build_loader, sample_subset
    from emberxr.data.sources import resolve_split

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    events = resolve_split(data, split)
    for ev in events:
        fitted.check_event(ev)
    cfg = fitted.config
    ds = build_dataset(events, fitted.stats, cfg, fitted.model, train=False)
    ds = sample_subset(ds, max_samples, int(cfg["training"]["seed"]) + 7)
    loader = build_loader(ds, cfg, batch_size=batch_size)
    p = int(cfg["data"]["patch_size"])
    model = fitted.model
    table = temporal_attention(model, loader, patch_size=p, progress=progress)
    summary = attention_summary(table)
    rep = AttentionReport(table, summary, answer(summary), float(table.attrs.get("padded_mass_max", 0.0)))
    from emberxr.atomic import atomic_path

    for name, frame in (("attention_by_age.csv", table), ("attention_summary.csv", summary)):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
        rep.files.append(out / name)
    rep.files.append(plot_temporal_attention(table, summary, out / "temporal_attention.png"))
    if getattr(model, "spatial", None):
        batch, i = _pick_sample(loader, event, time)
        rep.spatial = spatial_attention(model, batch, i, tuple(patch) if patch else None)
        rep.files.append(plot_spatial_attention(rep.spatial, out / "spatial_attention.png"))
    else:
        rep.notes.append(
            "no spatial attention layers (EmberFormer with model.spatial_layers >= 1 has them): no spatial map"
        )
    return rep
