"""Feature normalisation: statistics from the training split, applied identically at predict time.

* continuous static bands: ``(x - mean) / std`` with mean/std over the valid footprint of the
  training events; NaN becomes 0 after scaling.
* binary bands: passed through (NaN -> 0), never scaled.
* categorical bands: one-hot over the vocabulary seen in training; an unseen category (or NaN)
  maps to all zeros.
* wind: ``u`` and ``v`` are divided by one global scale (the root mean square of the components,
  ``sqrt(E[u² + v²] / 2)``) and are *not* mean-shifted, so the direction of every vector is kept.

:class:`NormStats` holds plain Python numbers only; :meth:`NormStats.to_dict` is JSON-serialisable
and safe for ``torch.load(weights_only=True)`` checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from .errors import EventValidationError, Problem
from .schema import BAND, BAND_KINDS, BINARY, CATEGORICAL, CONTINUOUS, STATIC, VALID, WIND_U, WIND_V

__all__ = ["NormStats", "compute_stats", "identity_stats"]

_FORMAT_VERSION = 1


@dataclass
class NormStats:
    """Per-band and wind normalisation statistics.

    Attributes
    ----------
    band_names, band_kinds
        Static bands in the order the events store them, with their kinds.
    mean, std
        Per band; used for continuous bands only (0 and 1 for the others).
    categories
        Band name -> sorted integer vocabulary, for categorical bands.
    wind_scale
        One positive scale dividing both wind components.
    """

    band_names: list[str]
    band_kinds: list[str]
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    categories: dict[str, list[int]] = field(default_factory=dict)
    wind_scale: float = 1.0

    def __post_init__(self) -> None:
        self.band_names = [str(b) for b in self.band_names]
        self.band_kinds = [str(k) for k in self.band_kinds]
        n = len(self.band_names)
        if not self.mean:
            self.mean = [0.0] * n
        if not self.std:
            self.std = [1.0] * n
        problems = []
        if len(self.band_kinds) != n or len(self.mean) != n or len(self.std) != n:
            problems.append(
                f"band_names ({n}), band_kinds ({len(self.band_kinds)}), mean ({len(self.mean)}) and "
                f"std ({len(self.std)}) must have the same length"
            )
        bad = [k for k in self.band_kinds if k not in BAND_KINDS]
        if bad:
            problems.append(f"unknown band kinds {bad}; use {', '.join(BAND_KINDS)}")
        for b, k in zip(self.band_names, self.band_kinds):
            if k == CATEGORICAL and b not in self.categories:
                problems.append(f"categorical band {b!r} has no vocabulary in categories")
        if not (self.wind_scale > 0 and math.isfinite(self.wind_scale)):
            problems.append(f"wind_scale must be a positive number, got {self.wind_scale!r}")
        if problems:
            raise ValueError("invalid NormStats: " + "; ".join(problems))
        self.mean = [float(m) for m in self.mean]
        self.std = [float(s) for s in self.std]
        self.categories = {str(b): [int(c) for c in v] for b, v in self.categories.items()}
        self.wind_scale = float(self.wind_scale)

    # -- shape of the features ---------------------------------------------------------------------
    @property
    def n_static(self) -> int:
        """Number of static feature channels after one-hot expansion (``Cs``)."""
        return len(self.feature_names)

    @property
    def feature_names(self) -> list[str]:
        """Names of the static feature channels, e.g. ``"elevation"``, ``"fuel_model=102"``."""
        out: list[str] = []
        for b, k in zip(self.band_names, self.band_kinds):
            if k == CATEGORICAL:
                out += [f"{b}={c}" for c in self.categories[b]]
            else:
                out.append(b)
        return out

    # -- transforms -------------------------------------------------------------------------------
    def transform_static(self, static: np.ndarray) -> np.ndarray:
        """Normalise raw static bands.

        Parameters
        ----------
        static
            ``[C, H, W]`` raw bands in the order of :attr:`band_names`.

        Returns
        -------
        numpy.ndarray
            ``[Cs, H, W]`` float32 features (NaN replaced by 0).
        """
        a = np.asarray(static)
        if a.ndim != 3 or a.shape[0] != len(self.band_names):
            raise ValueError(
                f"transform_static expects [C={len(self.band_names)}, H, W] bands "
                f"({', '.join(self.band_names)}), got shape {a.shape}"
            )
        chans: list[np.ndarray] = []
        for i, (b, k) in enumerate(zip(self.band_names, self.band_kinds)):
            x = a[i].astype(np.float32, copy=False)
            if k == CONTINUOUS:
                y = (x - np.float32(self.mean[i])) / np.float32(self.std[i])
                chans.append(np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0))
            elif k == BINARY:
                chans.append(np.nan_to_num(x, nan=0.0))
            else:
                vocab = self.categories[b]
                codes = np.where(np.isfinite(x), np.rint(x), np.nan)
                chans += [(codes == c).astype(np.float32) for c in vocab]
        if not chans:
            return np.zeros((0, *a.shape[1:]), np.float32)
        return np.stack(chans).astype(np.float32, copy=False)

    def transform_wind(self, wind: np.ndarray) -> np.ndarray:
        """Scale wind vectors ``[..., 2]`` (u, v) by the global scale; NaN becomes 0."""
        w = np.asarray(wind, dtype=np.float32)
        if w.shape[-1:] != (2,):
            raise ValueError(f"transform_wind expects [..., 2] (u, v), got shape {w.shape}")
        return np.nan_to_num(w / np.float32(self.wind_scale), nan=0.0).astype(np.float32, copy=False)

    # -- persistence ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (JSON-serialisable) for checkpoints and sidecar files."""
        return {
            "version": _FORMAT_VERSION,
            "band_names": list(self.band_names),
            "band_kinds": list(self.band_kinds),
            "mean": list(self.mean),
            "std": list(self.std),
            "categories": {b: list(v) for b, v in self.categories.items()},
            "wind_scale": self.wind_scale,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NormStats:
        """Rebuild from :meth:`to_dict` output."""
        version = d.get("version", _FORMAT_VERSION)
        if version != _FORMAT_VERSION:
            raise ValueError(
                f"NormStats format version {version} is not supported (expected {_FORMAT_VERSION})"
            )
        keys = ("band_names", "band_kinds", "mean", "std", "categories", "wind_scale")
        missing = [k for k in keys if k not in d]
        if missing:
            raise ValueError(f"NormStats dict lacks {missing}")
        return cls(**{k: d[k] for k in keys})

    # -- compatibility ----------------------------------------------------------------------------
    def check_compatible(self, event: xr.Dataset) -> None:
        """Check that an event has exactly these static bands, in this order, with these kinds.

        Raises
        ------
        EventValidationError
            Naming missing, extra, reordered or re-kinded bands.
        """
        names = [str(b) for b in event[BAND].values.tolist()] if BAND in event.coords else []
        kinds = (
            [str(k) for k in np.asarray(event["band_kind"].values).tolist()]
            if "band_kind" in event.coords
            else list(self.band_kinds)
        )
        problems: list[Problem] = []
        missing = [b for b in self.band_names if b not in names]
        extra = [b for b in names if b not in self.band_names]
        if missing:
            problems.append(
                Problem(
                    f"bands missing from the event: {missing}",
                    "provide the same static layers as in training",
                )
            )
        if extra:
            problems.append(
                Problem(
                    f"bands not seen in training: {extra}",
                    f"drop them: event.sel(band={self.band_names!r})",
                )
            )
        if not missing and not extra and names != self.band_names:
            problems.append(
                Problem(
                    f"bands are in order {names}, training used {self.band_names}",
                    f"reorder: event.sel(band={self.band_names!r})",
                )
            )
        ours = dict(zip(self.band_names, self.band_kinds))
        rekinded = [
            f"{b}: {k} (training: {ours[b]})" for b, k in zip(names, kinds) if b in ours and ours[b] != k
        ]
        if rekinded:
            problems.append(
                Problem(f"band kinds differ: {'; '.join(rekinded)}", "declare the same kinds as in training")
            )
        if problems:
            raise EventValidationError(
                problems, subject=f"event {event.attrs.get('event_id', '?')!r} vs normalisation statistics"
            )


# -- computing statistics ---------------------------------------------------------------------------
def compute_stats(events: Iterable[xr.Dataset] | xr.DataTree, progress: bool = False) -> NormStats:
    """Compute normalisation statistics over training events, one event at a time.

    Parameters
    ----------
    events
        Iterable of FireEvents (a generator is fine; each event is reduced then released), or a
        DataTree collection. All events must have the same bands in the same order.
    progress
        Show a progress bar over the events.

    Returns
    -------
    NormStats
        Continuous bands: mean and std over valid pixels (Chan's parallel combination in float64).
        Categorical bands: sorted vocabulary of the integer codes seen in valid pixels.
        Wind: one scale ``sqrt(E[u² + v²] / 2)`` over all steps (and cells, for gridded wind).
    """
    from .io.events import iter_events

    names: list[str] | None = None
    kinds: list[str] = []
    count = mean = m2 = None
    vocab: dict[str, set[int]] = {}
    wind_sq, wind_n = 0.0, 0
    n_events = 0
    from emberxr.progress import progress as progress_bar

    for ev in progress_bar(iter_events(events), "normalisation stats", unit="event", enabled=progress):
        ev_names = [str(b) for b in ev[BAND].values.tolist()]
        ev_kinds = [str(k) for k in np.asarray(ev["band_kind"].values).tolist()]
        if names is None:
            names, kinds = ev_names, ev_kinds
            count = np.zeros(len(names))
            mean = np.zeros(len(names))
            m2 = np.zeros(len(names))
            vocab = {b: set() for b, k in zip(names, kinds) if k == CATEGORICAL}
        elif ev_names != names or ev_kinds != kinds:
            raise EventValidationError(
                [
                    Problem(
                        f"bands {list(zip(ev_names, ev_kinds))} differ from the first event's "
                        f"{list(zip(names, kinds))}",
                        "give every training event the same static bands, kinds and order",
                    )
                ],
                subject=f"event {ev.attrs.get('event_id', '?')!r}",
            )
        n_events += 1
        valid = np.asarray(ev[VALID].values, dtype=bool)
        for i, (b, k) in enumerate(zip(names, kinds)):
            if k == BINARY:
                continue
            x = np.asarray(ev[STATIC].isel({BAND: i}).values, dtype=np.float64)[valid]
            x = x[np.isfinite(x)]
            if x.size == 0:
                continue
            if k == CATEGORICAL:
                vocab[b].update(int(c) for c in np.unique(np.rint(x)))
                continue
            nb, mb = float(x.size), float(x.mean())
            m2b = float(((x - mb) ** 2).sum())
            na = count[i]
            delta = mb - mean[i]
            tot = na + nb
            mean[i] += delta * nb / tot
            m2[i] += m2b + delta**2 * na * nb / tot
            count[i] = tot
        u = np.asarray(ev[WIND_U].values, dtype=np.float64)
        v = np.asarray(ev[WIND_V].values, dtype=np.float64)
        sq = u**2 + v**2
        ok = np.isfinite(sq)
        wind_sq += float(sq[ok].sum())
        wind_n += int(ok.sum())
    if names is None:
        raise ValueError("compute_stats needs at least one training event, got none")
    std = []
    for i, k in enumerate(kinds):
        s = math.sqrt(m2[i] / count[i]) if k == CONTINUOUS and count[i] > 0 else 1.0
        std.append(s if s > 1e-12 else 1.0)
    means = [float(mean[i]) if k == CONTINUOUS else 0.0 for i, k in enumerate(kinds)]
    scale = math.sqrt(wind_sq / (2 * wind_n)) if wind_n else 1.0
    return NormStats(
        band_names=names,
        band_kinds=kinds,
        mean=means,
        std=std,
        categories={b: sorted(v) for b, v in vocab.items()},
        wind_scale=scale if scale > 1e-12 else 1.0,
    )


def identity_stats(event: xr.Dataset) -> NormStats:
    """Statistics that do not scale anything (mean 0, std 1, wind scale 1).

    Categorical bands still need a vocabulary for one-hot encoding: it is taken from ``event``.
    """
    names = [str(b) for b in event[BAND].values.tolist()]
    kinds = [str(k) for k in np.asarray(event["band_kind"].values).tolist()]
    cats: dict[str, list[int]] = {}
    for i, (b, k) in enumerate(zip(names, kinds)):
        if k == CATEGORICAL:
            x = np.asarray(event[STATIC].isel({BAND: i}).values, dtype=np.float64)
            x = x[np.isfinite(x)]
            cats[b] = sorted({int(c) for c in np.unique(np.rint(x))})
    return NormStats(band_names=names, band_kinds=kinds, categories=cats, wind_scale=1.0)
