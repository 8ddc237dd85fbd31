"""Feature normalisation: statistics from the training split, applied identically at predict time.

* continuous bands (static and dynamic): ``(x - mean) / std`` with mean/std over the valid
  footprint of the training events (dynamic bands: over every time step too); NaN becomes 0 after
  scaling, i.e. a missing value is imputed with the training mean.
* binary bands: passed through (NaN -> 0), never scaled.
* categorical bands: one-hot over the vocabulary seen in training; an unseen category (or NaN,
  missing) maps to all zeros.
* direction pairs (:func:`emberxr.schema.vector_pairs`: ``<name>_sin``/``<name>_cos``,
  ``<name>_u``/``<name>_v``, both continuous): no mean shift, one shared scale, the root mean
  square of the two components, so a rotated pair stays a rotated pair after normalisation.
* wind: ``u`` and ``v`` are divided by one global scale (the root mean square of the components,
  ``sqrt(E[u² + v²] / 2)``) and are *not* mean-shifted, so the direction of every vector is kept.

:class:`NormStats` holds plain Python numbers only; :meth:`NormStats.to_dict` is JSON-serialisable
and safe for ``torch.load(weights_only=True)`` checkpoints. Dictionaries written before dynamic
bands existed (no ``dynamic_*`` keys) load as statistics without dynamic bands.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from .errors import EventValidationError, Problem
from .schema import (
    BAND,
    BAND_KINDS,
    BINARY,
    CATEGORICAL,
    CONTINUOUS,
    DBAND,
    DYNAMIC,
    STATIC,
    VALID,
    WIND_U,
    WIND_V,
    dynamic_band_kinds,
    vector_pairs,
)

__all__ = ["NormStats", "compute_stats", "identity_stats"]

_FORMAT_VERSION = 1
_DYNAMIC_KEYS = ("dynamic_names", "dynamic_kinds", "dynamic_mean", "dynamic_std", "dynamic_categories")


def _band_problems(
    what: str,
    names: list[str],
    kinds: list[str],
    mean: list[float],
    std: list[float],
    categories: dict[str, list[int]],
) -> list[str]:
    n = len(names)
    problems = []
    if len(kinds) != n or len(mean) != n or len(std) != n:
        problems.append(
            f"{what} names ({n}), kinds ({len(kinds)}), mean ({len(mean)}) and std ({len(std)}) must "
            "have the same length"
        )
    bad = [k for k in kinds if k not in BAND_KINDS]
    if bad:
        problems.append(f"unknown {what} kinds {bad}; use {', '.join(BAND_KINDS)}")
    for b, k in zip(names, kinds):
        if k == CATEGORICAL and b not in categories:
            problems.append(f"categorical {what} {b!r} has no vocabulary")
    return problems


def _feature_names(names: list[str], kinds: list[str], categories: dict[str, list[int]]) -> list[str]:
    out: list[str] = []
    for b, k in zip(names, kinds):
        if k == CATEGORICAL:
            out += [f"{b}={c}" for c in categories[b]]
        else:
            out.append(b)
    return out


def _transform_bands(
    a: np.ndarray,
    names: list[str],
    kinds: list[str],
    mean: list[float],
    std: list[float],
    categories: dict[str, list[int]],
) -> np.ndarray:
    """Normalise raw bands ``[..., C, H, W]`` into features ``[..., C', H, W]`` (see the module docstring).

    Written into one preallocated float32 array (this runs per sample for dynamic bands); every
    non-finite result (a missing value) becomes 0 in one pass at the end.
    """
    widths = [len(categories[b]) if k == CATEGORICAL else 1 for b, k in zip(names, kinds)]
    out = np.empty((*a.shape[:-3], sum(widths), *a.shape[-2:]), np.float32)
    c = 0
    for i, (b, k) in enumerate(zip(names, kinds)):
        x = a[..., i, :, :].astype(np.float32, copy=False)
        if k == CATEGORICAL:
            codes = np.rint(x)  # NaN and ±inf equal no code: all zeros
            for code in categories[b]:
                np.equal(codes, code, out=out[..., c, :, :])
                c += 1
            continue
        y = out[..., c, :, :]
        if k == CONTINUOUS:
            np.subtract(x, np.float32(mean[i]), out=y)
            y /= np.float32(std[i])
        else:  # binary: passed through
            y[...] = x
        c += 1
    np.copyto(out, 0.0, where=~np.isfinite(out))
    return out


@dataclass
class NormStats:
    """Per-band, dynamic-band and wind normalisation statistics.

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
    dynamic_names, dynamic_kinds, dynamic_mean, dynamic_std, dynamic_categories
        The same for the dynamic bands (``dynamic (time, dband, y, x)``); empty when the training
        events have none.
    """

    band_names: list[str]
    band_kinds: list[str]
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    categories: dict[str, list[int]] = field(default_factory=dict)
    wind_scale: float = 1.0
    dynamic_names: list[str] = field(default_factory=list)
    dynamic_kinds: list[str] = field(default_factory=list)
    dynamic_mean: list[float] = field(default_factory=list)
    dynamic_std: list[float] = field(default_factory=list)
    dynamic_categories: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.band_names = [str(b) for b in self.band_names]
        self.band_kinds = [str(k) for k in self.band_kinds]
        self.dynamic_names = [str(b) for b in self.dynamic_names]
        self.dynamic_kinds = [str(k) for k in self.dynamic_kinds]
        if not self.mean:
            self.mean = [0.0] * len(self.band_names)
        if not self.std:
            self.std = [1.0] * len(self.band_names)
        if not self.dynamic_mean:
            self.dynamic_mean = [0.0] * len(self.dynamic_names)
        if not self.dynamic_std:
            self.dynamic_std = [1.0] * len(self.dynamic_names)
        problems = _band_problems(
            "band", self.band_names, self.band_kinds, self.mean, self.std, self.categories
        )
        problems += _band_problems(
            "dynamic band",
            self.dynamic_names,
            self.dynamic_kinds,
            self.dynamic_mean,
            self.dynamic_std,
            self.dynamic_categories,
        )
        if not (self.wind_scale > 0 and math.isfinite(self.wind_scale)):
            problems.append(f"wind_scale must be a positive number, got {self.wind_scale!r}")
        if problems:
            raise ValueError("invalid NormStats: " + "; ".join(problems))
        self.mean = [float(m) for m in self.mean]
        self.std = [float(s) for s in self.std]
        self.categories = {str(b): [int(c) for c in v] for b, v in self.categories.items()}
        self.dynamic_mean = [float(m) for m in self.dynamic_mean]
        self.dynamic_std = [float(s) for s in self.dynamic_std]
        self.dynamic_categories = {str(b): [int(c) for c in v] for b, v in self.dynamic_categories.items()}
        self.wind_scale = float(self.wind_scale)

    # -- shape of the features ---------------------------------------------------------------------
    @property
    def n_static(self) -> int:
        """Number of static feature channels after one-hot expansion (``Cs``)."""
        return len(self.feature_names)

    @property
    def feature_names(self) -> list[str]:
        """Names of the static feature channels, e.g. ``"elevation"``, ``"fuel_model=102"``."""
        return _feature_names(self.band_names, self.band_kinds, self.categories)

    @property
    def n_dynamic(self) -> int:
        """Number of dynamic feature channels after one-hot expansion (``Cd``; 0 without dynamic bands)."""
        return len(self.dynamic_feature_names)

    @property
    def dynamic_feature_names(self) -> list[str]:
        """Names of the dynamic feature channels, e.g. ``"tmax"``, ``"landcover=7"``."""
        return _feature_names(self.dynamic_names, self.dynamic_kinds, self.dynamic_categories)

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
        return _transform_bands(a, self.band_names, self.band_kinds, self.mean, self.std, self.categories)

    def transform_dynamic(self, dynamic: np.ndarray) -> np.ndarray:
        """Normalise raw dynamic bands.

        Parameters
        ----------
        dynamic
            ``[..., C, H, W]`` raw bands in the order of :attr:`dynamic_names` (e.g. ``[T, C, H, W]``
            for a history window).

        Returns
        -------
        numpy.ndarray
            ``[..., Cd, H, W]`` float32 features; missing values (NaN) become 0, which is the
            training mean of a continuous band, "absent" for a binary one and no category (all
            zeros) for a categorical one.
        """
        a = np.asarray(dynamic)
        if a.ndim < 3 or a.shape[-3] != len(self.dynamic_names):
            raise ValueError(
                f"transform_dynamic expects [..., C={len(self.dynamic_names)}, H, W] bands "
                f"({', '.join(self.dynamic_names) or 'none'}), got shape {a.shape}"
            )
        return _transform_bands(
            a,
            self.dynamic_names,
            self.dynamic_kinds,
            self.dynamic_mean,
            self.dynamic_std,
            self.dynamic_categories,
        )

    def transform_wind(self, wind: np.ndarray) -> np.ndarray:
        """Scale wind vectors ``[..., 2]`` (u, v) by the global scale; NaN becomes 0."""
        w = np.asarray(wind, dtype=np.float32)
        if w.shape[-1:] != (2,):
            raise ValueError(f"transform_wind expects [..., 2] (u, v), got shape {w.shape}")
        return np.nan_to_num(w / np.float32(self.wind_scale), nan=0.0).astype(np.float32, copy=False)

    # -- persistence ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (JSON-serialisable) for checkpoints and sidecar files.

        The ``dynamic_*`` keys are written only when there are dynamic bands, so statistics
        without them give the same dict as before dynamic bands existed.
        """
        out: dict[str, Any] = {
            "version": _FORMAT_VERSION,
            "band_names": list(self.band_names),
            "band_kinds": list(self.band_kinds),
            "mean": list(self.mean),
            "std": list(self.std),
            "categories": {b: list(v) for b, v in self.categories.items()},
            "wind_scale": self.wind_scale,
        }
        if self.dynamic_names:
            out.update(
                dynamic_names=list(self.dynamic_names),
                dynamic_kinds=list(self.dynamic_kinds),
                dynamic_mean=list(self.dynamic_mean),
                dynamic_std=list(self.dynamic_std),
                dynamic_categories={b: list(v) for b, v in self.dynamic_categories.items()},
            )
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NormStats:
        """Rebuild from :meth:`to_dict` output (dicts without ``dynamic_*`` keys: no dynamic bands)."""
        version = d.get("version", _FORMAT_VERSION)
        if version != _FORMAT_VERSION:
            raise ValueError(
                f"NormStats format version {version} is not supported (expected {_FORMAT_VERSION})"
            )
        keys = ("band_names", "band_kinds", "mean", "std", "categories", "wind_scale")
        missing = [k for k in keys if k not in d]
        if missing:
            raise ValueError(f"NormStats dict lacks {missing}")
        return cls(**{k: d[k] for k in keys}, **{k: d[k] for k in _DYNAMIC_KEYS if k in d})

    # -- compatibility ----------------------------------------------------------------------------
    def check_compatible(self, event: xr.Dataset) -> None:
        """Check that an event has exactly these static and dynamic bands, in this order, with these kinds.

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
        problems = _compat_problems("static", "band", names, kinds, self.band_names, self.band_kinds)
        dyn = dynamic_band_kinds(event)
        problems += _compat_problems(
            "dynamic", DBAND, list(dyn), list(dyn.values()), self.dynamic_names, self.dynamic_kinds
        )
        if problems:
            raise EventValidationError(
                problems, subject=f"event {event.attrs.get('event_id', '?')!r} vs normalisation statistics"
            )


def _compat_problems(
    what: str, dim: str, names: list[str], kinds: list[str], want: list[str], want_kinds: list[str]
) -> list[Problem]:
    """Missing, extra, reordered and re-kinded bands of an event against the training bands."""
    problems: list[Problem] = []
    missing = [b for b in want if b not in names]
    extra = [b for b in names if b not in want]
    label = "bands" if what == "static" else f"{what} bands"
    if missing:
        problems.append(
            Problem(
                f"{label} missing from the event: {missing}", f"provide the same {what} layers as in training"
            )
        )
    if extra:
        fix = f"drop them: event.sel({dim}={want!r})"
        if what == "dynamic" and not want:
            fix = "the model was trained without dynamic bands: event.drop_vars(['dynamic', 'dband', 'dband_kind'])"
        problems.append(Problem(f"{label} not seen in training: {extra}", fix))
    if not missing and not extra and names != want:
        problems.append(
            Problem(
                f"{label} are in order {names}, training used {want}", f"reorder: event.sel({dim}={want!r})"
            )
        )
    ours = dict(zip(want, want_kinds))
    rekinded = [f"{b}: {k} (training: {ours[b]})" for b, k in zip(names, kinds) if b in ours and ours[b] != k]
    if rekinded:
        problems.append(
            Problem(
                f"{what} band kinds differ: {'; '.join(rekinded)}", "declare the same kinds as in training"
            )
        )
    return problems


# -- computing statistics ---------------------------------------------------------------------------
class _BandMoments:
    """Running per-band statistics: Chan's parallel mean/variance (float64) and category sets."""

    def __init__(self, names: list[str], kinds: list[str]) -> None:
        self.names, self.kinds = names, kinds
        n = len(names)
        self.count, self.mean, self.m2 = np.zeros(n), np.zeros(n), np.zeros(n)
        self.vocab: dict[str, set[int]] = {b: set() for b, k in zip(names, kinds) if k == CATEGORICAL}

    def add(self, i: int, x: np.ndarray) -> None:
        """Add the finite values of band ``i`` (already restricted to valid pixels)."""
        if self.kinds[i] == BINARY:
            return
        x = x[np.isfinite(x)]
        if x.size == 0:
            return
        if self.kinds[i] == CATEGORICAL:
            self.vocab[self.names[i]].update(int(c) for c in np.unique(np.rint(x)))
            return
        nb, mb = float(x.size), float(x.mean())
        m2b = float(((x - mb) ** 2).sum())
        na = self.count[i]
        delta = mb - self.mean[i]
        tot = na + nb
        self.mean[i] += delta * nb / tot
        self.m2[i] += m2b + delta**2 * na * nb / tot
        self.count[i] = tot

    def finish(self) -> tuple[list[float], list[float], dict[str, list[int]]]:
        """``(mean, std, categories)``; direction pairs share one RMS scale and have mean 0."""
        std, means = [], []
        for i, k in enumerate(self.kinds):
            s = math.sqrt(self.m2[i] / self.count[i]) if k == CONTINUOUS and self.count[i] > 0 else 1.0
            std.append(s if s > 1e-12 else 1.0)
            means.append(float(self.mean[i]) if k == CONTINUOUS else 0.0)
        for i, j in vector_pairs(self.names):
            if self.kinds[i] != CONTINUOUS or self.kinds[j] != CONTINUOUS:
                continue
            n = self.count[i] + self.count[j]
            sq = sum(self.m2[b] + self.count[b] * self.mean[b] ** 2 for b in (i, j))  # sum of x²
            s = math.sqrt(sq / n) if n > 0 else 1.0
            means[i] = means[j] = 0.0
            std[i] = std[j] = s if s > 1e-12 else 1.0
        return means, std, {b: sorted(v) for b, v in self.vocab.items()}


def _mismatch(what: str, got: list[tuple[str, str]], want: list[tuple[str, str]], ev: xr.Dataset) -> None:
    raise EventValidationError(
        [
            Problem(
                f"{what} {got} differ from the first event's {want}",
                f"give every training event the same {what}, kinds and order",
            )
        ],
        subject=f"event {ev.attrs.get('event_id', '?')!r}",
    )


def compute_stats(events: Iterable[xr.Dataset] | xr.DataTree, progress: bool = False) -> NormStats:
    """Compute normalisation statistics over training events, one event at a time.

    Parameters
    ----------
    events
        Iterable of FireEvents (a generator is fine; each event is reduced then released), or a
        DataTree collection. All events must have the same static bands and the same dynamic
        bands (or none), in the same order.
    progress
        Show a progress bar over the events.

    Returns
    -------
    NormStats
        Continuous bands: mean and std over valid pixels (Chan's parallel combination in float64);
        dynamic bands over valid pixels of every time step, missing values (NaN) left out.
        Categorical bands: sorted vocabulary of the integer codes seen in valid pixels.
        Direction pairs: mean 0 and one shared RMS scale.
        Wind: one scale ``sqrt(E[u² + v²] / 2)`` over all steps (and cells, for gridded wind).
    """
    from .io.events import iter_events

    static: _BandMoments | None = None
    dynamic: _BandMoments | None = None
    wind_sq, wind_n = 0.0, 0
    from emberxr.progress import progress as progress_bar

    for ev in progress_bar(iter_events(events), "normalisation stats", unit="event", enabled=progress):
        ev_names = [str(b) for b in ev[BAND].values.tolist()]
        ev_kinds = [str(k) for k in np.asarray(ev["band_kind"].values).tolist()]
        dyn = dynamic_band_kinds(ev)
        if static is None or dynamic is None:
            static = _BandMoments(ev_names, ev_kinds)
            dynamic = _BandMoments(list(dyn), list(dyn.values()))
        elif ev_names != static.names or ev_kinds != static.kinds:
            _mismatch(
                "static bands",
                list(zip(ev_names, ev_kinds)),
                list(zip(static.names, static.kinds)),
                ev,
            )
        elif list(dyn.items()) != list(zip(dynamic.names, dynamic.kinds)):
            _mismatch("dynamic bands", list(dyn.items()), list(zip(dynamic.names, dynamic.kinds)), ev)
        valid = np.asarray(ev[VALID].values, dtype=bool)
        for i in range(len(static.names)):
            if static.kinds[i] != BINARY:
                static.add(i, np.asarray(ev[STATIC].isel({BAND: i}).values, dtype=np.float64)[valid])
        for i in range(len(dynamic.names)):  # one band (all its time steps) at a time
            if dynamic.kinds[i] != BINARY:
                dynamic.add(i, np.asarray(ev[DYNAMIC].isel({DBAND: i}).values, dtype=np.float64)[:, valid])
        u = np.asarray(ev[WIND_U].values, dtype=np.float64)
        v = np.asarray(ev[WIND_V].values, dtype=np.float64)
        sq = u**2 + v**2
        ok = np.isfinite(sq)
        wind_sq += float(sq[ok].sum())
        wind_n += int(ok.sum())
    if static is None or dynamic is None:
        raise ValueError("compute_stats needs at least one training event, got none")
    means, std, cats = static.finish()
    dmeans, dstd, dcats = dynamic.finish()
    scale = math.sqrt(wind_sq / (2 * wind_n)) if wind_n else 1.0
    return NormStats(
        band_names=static.names,
        band_kinds=static.kinds,
        mean=means,
        std=std,
        categories=cats,
        wind_scale=scale if scale > 1e-12 else 1.0,
        dynamic_names=dynamic.names,
        dynamic_kinds=dynamic.kinds,
        dynamic_mean=dmeans,
        dynamic_std=dstd,
        dynamic_categories=dcats,
    )


def _vocabulary(values: Any) -> list[int]:
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    return sorted({int(c) for c in np.unique(np.rint(x))})


def identity_stats(event: xr.Dataset) -> NormStats:
    """Statistics that do not scale anything (mean 0, std 1, wind scale 1).

    Categorical bands (static and dynamic) still need a vocabulary for one-hot encoding: it is
    taken from ``event``.
    """
    names = [str(b) for b in event[BAND].values.tolist()]
    kinds = [str(k) for k in np.asarray(event["band_kind"].values).tolist()]
    cats = {
        b: _vocabulary(event[STATIC].isel({BAND: i}).values)
        for i, (b, k) in enumerate(zip(names, kinds))
        if k == CATEGORICAL
    }
    dyn = dynamic_band_kinds(event)
    dcats = {
        b: _vocabulary(event[DYNAMIC].isel({DBAND: i}).values)
        for i, (b, k) in enumerate(dyn.items())
        if k == CATEGORICAL
    }
    return NormStats(
        band_names=names,
        band_kinds=kinds,
        categories=cats,
        wind_scale=1.0,
        dynamic_names=list(dyn),
        dynamic_kinds=list(dyn.values()),
        dynamic_categories=dcats,
    )
