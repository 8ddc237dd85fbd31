"""Sanity report of a dataset: per split events, samples, history lengths, target balance, bands.

Every event is reduced in one Dask pass (counts and band moments only), so big lazy events are
streamed, not loaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from emberxr.data.samples import SampleIndex
from emberxr.schema import BAND, BAND_KIND, FIRE, STATIC, VALID

__all__ = ["DataReport", "SplitReport", "data_check"]


@dataclass
class SplitReport:
    """Statistics of one split (rates are over valid pixels of all samples)."""

    events: int = 0
    samples: int = 0
    history: dict[int, int] = field(default_factory=dict)
    target_positive_rate: float = 0.0
    new_burn_positive_rate: float = 0.0
    empty_target_share: float = 0.0
    empty_new_burn_share: float = 0.0
    bands: dict[str, dict[str, float | str]] = field(default_factory=dict)


@dataclass
class DataReport:
    """The result of :func:`data_check`: one :class:`SplitReport` per split.

    ``verified``/``unverified``: events of a zarr store whose chunk files were (or, written
    before emberxr recorded them, could not be) checked against their write-time record.
    """

    splits: dict[str, SplitReport]
    max_history: int
    verified: int = 0
    unverified: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (JSON-serialisable)."""
        from dataclasses import asdict

        return {
            "max_history": self.max_history,
            "integrity": {"verified": self.verified, "unverified": list(self.unverified)},
            "splits": {k: asdict(v) for k, v in self.splits.items()},
        }

    def to_markdown(self) -> str:
        """The report as markdown tables."""
        lines = [f"# Data check (max_history={self.max_history})", ""]
        if self.verified or self.unverified:
            lines.append(
                f"Chunk integrity: {self.verified} event(s) verified against their write-time record"
            )
            if self.unverified:
                shown = ", ".join(self.unverified[:5]) + (", ..." if len(self.unverified) > 5 else "")
                lines[-1] += (
                    f"; {len(self.unverified)} event(s) have no record (written by an older emberxr), "
                    f"not verified: {shown}"
                )
            lines.append("")
        lines += [
            "| split | events | samples | target + rate | new-burn + rate | empty targets | empty new burn |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in self.splits.items():
            lines.append(
                f"| {name} | {r.events} | {r.samples} | {r.target_positive_rate:.4f} | "
                f"{r.new_burn_positive_rate:.4f} | {r.empty_target_share:.1%} | {r.empty_new_burn_share:.1%} |"
            )
        for name, r in self.splits.items():
            lines += ["", f"## {name}", "", "History length histogram:", ""]
            lines += ["| history | samples |", "|---:|---:|"]
            lines += [f"| {h} | {c} |" for h, c in r.history.items()]
            lines += ["", "Static bands (valid pixels):", ""]
            lines += [
                "| band | kind | min | mean | std | max | NaN share |",
                "|---|---|---:|---:|---:|---:|---:|",
            ]
            for b, s in r.bands.items():
                lines.append(
                    f"| {b} | {s['kind']} | {s['min']:.4g} | {s['mean']:.4g} | {s['std']:.4g} | "
                    f"{s['max']:.4g} | {s['nan_share']:.2%} |"
                )
        return "\n".join(lines) + "\n"


def _event_counts(ev: xr.Dataset) -> dict[str, np.ndarray]:
    import dask

    fire, valid, static = ev[FIRE].data, ev[VALID].data, ev[STATIC].data
    burned = (fire > 0) & valid[None]
    s = static.astype(np.float64)
    finite = (s == s) & (abs(s) != np.inf) & valid[None]
    z = np.where(finite, s, 0.0)
    big = np.where(finite, s, -np.inf).max(axis=(1, 2))
    small = np.where(finite, s, np.inf).min(axis=(1, 2))
    parts = {
        "burned": burned.sum(axis=(1, 2)),
        "new": (burned[1:] & ~burned[:-1]).sum(axis=(1, 2)),
        "n_valid": valid.sum(),
        "n_finite": finite.sum(axis=(1, 2)),
        "sum": z.sum(axis=(1, 2)),
        "sumsq": (z * z).sum(axis=(1, 2)),
        "min": small,
        "max": big,
    }
    keys = list(parts)
    vals = dask.compute(*parts.values(), scheduler="synchronous")
    return {k: np.asarray(v) for k, v in zip(keys, vals)}


def _split_report(events: Sequence[xr.Dataset], max_history: int) -> SplitReport:
    rep = SplitReport(events=len(events))
    index = SampleIndex.from_events(events, max_history)
    rep.samples = len(index)
    rep.history = index.histogram()
    pos = new = denom = 0.0
    empty_t = empty_n = 0
    agg: dict[str, dict[str, Any]] = {}
    for e, ev in enumerate(events):
        c = _event_counts(ev)
        ts = index.t[index.event == e]
        nv = float(c["n_valid"])
        pos += float(c["burned"][ts + 1].sum())
        new += float(c["new"][ts].sum())
        denom += nv * len(ts)
        empty_t += int((c["burned"][ts + 1] == 0).sum())
        empty_n += int((c["new"][ts] == 0).sum())
        names = [str(b) for b in ev[BAND].values.tolist()]
        kinds = (
            [str(k) for k in ev[BAND_KIND].values.tolist()] if BAND_KIND in ev.coords else ["?"] * len(names)
        )
        for i, (b, k) in enumerate(zip(names, kinds)):
            a = agg.setdefault(
                b, {"kind": k, "n": 0.0, "s": 0.0, "ss": 0.0, "min": np.inf, "max": -np.inf, "px": 0.0}
            )
            a["n"] += float(c["n_finite"][i])
            a["s"] += float(c["sum"][i])
            a["ss"] += float(c["sumsq"][i])
            a["min"] = min(a["min"], float(c["min"][i]))
            a["max"] = max(a["max"], float(c["max"][i]))
            a["px"] += nv
    if denom:
        rep.target_positive_rate = pos / denom
        rep.new_burn_positive_rate = new / denom
    if rep.samples:
        rep.empty_target_share = empty_t / rep.samples
        rep.empty_new_burn_share = empty_n / rep.samples
    for b, a in agg.items():
        n = max(a["n"], 1.0)
        mean = a["s"] / n
        var = max(a["ss"] / n - mean * mean, 0.0)
        rep.bands[b] = {
            "kind": a["kind"],
            "min": a["min"] if a["n"] else float("nan"),
            "mean": mean if a["n"] else float("nan"),
            "std": float(np.sqrt(var)) if a["n"] else float("nan"),
            "max": a["max"] if a["n"] else float("nan"),
            "nan_share": 1.0 - a["n"] / a["px"] if a["px"] else 0.0,
        }
    return rep


def data_check(catalog: Any, max_history: int = 8) -> DataReport:
    """Check a dataset and report per split.

    Parameters
    ----------
    catalog
        A catalog (name, YAML path or ``Catalog``), an event-collection zarr path, a mapping
        ``split -> events``, or a list of events (split ``"all"``).
    max_history
        History cap used to enumerate samples.

    Returns
    -------
    DataReport
        Events, samples, history histogram, positive rate of targets (fire at ``t + 1``) and of
        new burn (pixels that ignite between ``t`` and ``t + 1``), share of samples with an empty
        target / no new burn, per-band statistics over valid pixels, and how many events of a
        zarr store were verified against their write-time chunk record.

    Raises
    ------
    CorruptStoreError
        Events of the store lost chunks or metadata since they were written (every damaged
        event and variable listed).
    NoReaderError
        A folder that is neither a catalog, an event store nor anything a reader recognises.
    """
    from emberxr.data.sources import resolve_splits
    from emberxr.errors import CorruptStoreError
    from emberxr.io.events import check_store, list_event_ids

    store = _store_path(catalog)
    verified, unverified = 0, []
    if store is not None:
        problems, unverified = check_store(store)
        if problems:
            raise CorruptStoreError(problems, str(store))
        verified = len(list_event_ids(store)) - len(unverified)
    splits = resolve_splits(catalog, auto_split=False)
    report = DataReport({s: _split_report(evs, max_history) for s, evs in splits.items()}, int(max_history))
    report.verified, report.unverified = verified, list(unverified)
    return report


def _store_path(source: Any) -> Path | None:
    """The zarr store behind a store path or a catalog name/file (None for in-memory events and
    for folders that a reader opens)."""
    from emberxr.io.events import is_zarr_store

    if not isinstance(source, (str, os.PathLike)):
        return getattr(source, "data_path", None)
    p = Path(source).expanduser()
    if is_zarr_store(p):
        return p
    if p.is_dir():  # a folder a reader opens (raw event folders, plugins)
        return None
    from emberxr.catalog import open_catalog

    data = open_catalog(source).data_path
    return data if is_zarr_store(data) else None
