"""The sample index: which (event, t) pairs are training samples and how much history each has.

A sample is ``(event_idx, t, hist_len)``: the history is the fire frames (and wind steps)
``t - hist_len + 1 .. t`` with ``hist_len = min(t + 1, max_history)``, the target is the fire mask
at ``t + 1``. Every ``t`` with at least ``min_history`` history frames and a next frame is a sample.

What that mask means is the **target kind** (:data:`emberxr.schema.FIRE_KINDS`, configuration key
``data.target``), which must be what the events' ``fire`` holds (their ``fire_kind`` attribute,
:func:`check_target_kind`):

``cumulative`` (default)
    the area burned by ``t + 1``: scars persist, so the last history frame is a lower bound and
    the newly burned pixels are the part to forecast (new-burn metrics apply);
``active``
    the fire detected at ``t + 1`` only (e.g. WildfireSpreadTS's next-day VIIRS active fire):
    pixels may switch off again, and there are no new-burn metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from emberxr.errors import ConfigError, Problem
from emberxr.schema import FIRE_KINDS, fire_kind

__all__ = ["MAX_HISTORY_LIMIT", "SampleIndex", "check_target_kind", "history_histogram"]

MAX_HISTORY_LIMIT = 32


def _check_history(max_history: int, min_history: int) -> None:
    problems = []
    if not 1 <= int(max_history) <= MAX_HISTORY_LIMIT:
        problems.append(
            Problem(
                f"max_history={max_history} is out of range",
                f"use 1..{MAX_HISTORY_LIMIT} (the notes use 6-8)",
            )
        )
    if not 1 <= int(min_history) <= max(int(max_history), 1):
        problems.append(Problem(f"min_history={min_history} is out of range", "use 1..max_history"))
    if problems:
        raise ConfigError(problems, subject="sample index")


@dataclass(frozen=True)
class SampleIndex:
    """All samples of a list of events, as three aligned int arrays.

    Attributes
    ----------
    event : np.ndarray
        Index of the event in the list the index was built from.
    t : np.ndarray
        Last history frame; the target is frame ``t + 1``.
    hist_len : np.ndarray
        Number of history frames (``1 .. max_history``).
    max_history : int
        The cap used to build the index.
    """

    event: np.ndarray
    t: np.ndarray
    hist_len: np.ndarray
    max_history: int

    @classmethod
    def from_lengths(cls, n_times: Sequence[int], max_history: int = 8, min_history: int = 1) -> SampleIndex:
        """Build the index from the number of time steps of each event."""
        _check_history(max_history, min_history)
        ev, ts = [], []
        for i, n in enumerate(n_times):
            t = np.arange(min_history - 1, int(n) - 1, dtype=np.int64)
            ev.append(np.full(t.shape, i, dtype=np.int64))
            ts.append(t)
        event = np.concatenate(ev) if ev else np.zeros(0, np.int64)
        t = np.concatenate(ts) if ts else np.zeros(0, np.int64)
        return cls(event, t, np.minimum(t + 1, max_history), int(max_history))

    @classmethod
    def from_events(
        cls, events: Sequence[xr.Dataset], max_history: int = 8, min_history: int = 1
    ) -> SampleIndex:
        """Build the index of a list of FireEvents (only their ``time`` length is read).

        Parameters
        ----------
        events
            FireEvent datasets (lazy ones stay lazy).
        max_history
            Longest history given to a model (1..32).
        min_history
            Skip samples with fewer history frames than this.
        """
        return cls.from_lengths([int(ev.sizes["time"]) for ev in events], max_history, min_history)

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def __getitem__(self, i: int) -> tuple[int, int, int]:
        return int(self.event[i]), int(self.t[i]), int(self.hist_len[i])

    def history_slice(self, i: int) -> slice:
        """Time slice of sample ``i``'s history frames (the target is ``stop``)."""
        _, t, h = self[i]
        return slice(t - h + 1, t + 1)

    def histogram(self) -> dict[int, int]:
        """Number of samples per history length."""
        return history_histogram(self.hist_len)


def history_histogram(hist_len: Sequence[int] | np.ndarray) -> dict[int, int]:
    """Count samples per history length, ``{hist_len: count}`` sorted by length."""
    vals, counts = np.unique(np.asarray(hist_len, dtype=np.int64), return_counts=True)
    return {int(v): int(c) for v, c in zip(vals, counts)}


def check_target_kind(events: Sequence[xr.Dataset], target: str) -> None:
    """Raise when the target kind is unknown or the events' fire is of another kind.

    Parameters
    ----------
    events
        FireEvents (only their ``fire_kind`` attribute is read; absent means ``cumulative``).
    target
        ``"cumulative"`` or ``"active"`` (``data.target``).

    Raises
    ------
    ConfigError
        Naming the events whose ``fire_kind`` differs (a model trained to forecast burned area on
        active-fire detections, or the other way round, would be scored against the wrong thing).
    """
    if target not in FIRE_KINDS:
        raise ConfigError(
            [Problem(f"target kind {target!r} is unknown", f"use one of {', '.join(FIRE_KINDS)}")],
            subject="data.target",
        )
    other: dict[str, list[str]] = {}
    for i, ev in enumerate(events):
        kind = fire_kind(ev)
        if kind != target:
            other.setdefault(kind, []).append(str(ev.attrs.get("event_id", f"#{i}")))
    if not other:
        return
    problems = []
    for kind, ids in sorted(other.items()):
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        problems.append(
            Problem(
                f"data.target is {target!r} but {len(ids)} event(s) hold {kind!r} fire ({shown})",
                f"set data.target: {kind} (the events' fire_kind attribute), or train on events whose "
                f"fire is {target}",
            )
        )
    raise ConfigError(problems, subject="target kind")
