"""Generate a simulated event collection: parallel, resumable, with a progress bar.

Candidates ``0, 1, 2, ...`` are simulated in index order and kept when they burn meaningfully
(:func:`emberxr.simulate.build.burns_meaningfully`) until ``n_events`` are kept, so the kept set
does not depend on the number of workers. Work goes to the simulator in batches; ``workers``
threads each prepare a batch (landscapes, in numpy), run it in one simulator process and build
the events, while the calling thread selects and writes finished batches in index order. Kept events are appended to the zarr
collection batch by batch; candidates that were rejected are remembered in a small
``.sim-progress.json`` inside the store. Re-running skips everything already decided, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emberxr.atomic import atomic_path
from emberxr.simulate.build import burns_meaningfully
from emberxr.simulate.engine import Simulator, find_simulator
from emberxr.simulate.run import simulate_params
from emberxr.simulate.scenario import draw_event
from emberxr.simulate.store import write_events

PROGRESS_FILE = ".sim-progress.json"


@dataclass
class GenerationReport:
    """What a generation run did."""

    path: Path
    kept: list[str] = field(default_factory=list)  # every kept id in the store, sorted
    written: int = 0  # events written by this run
    rejected: int = 0  # candidates rejected by this run
    candidates: int = 0  # candidate indices decided in total (kept + rejected, all runs)
    seconds: float = 0.0
    simulator: str = ""

    @property
    def events_per_minute(self) -> float:
        """Written events per minute of wall time in this run."""
        return 60.0 * self.written / self.seconds if self.seconds > 0 else 0.0


def _check_settings(**kw: Any) -> None:
    from emberxr.errors import ConfigError, Problem
    from emberxr.simulate.landscape import DEM_MODES

    problems = []
    for name in ("n_events", "workers", "batch_size"):
        if not isinstance(kw[name], int) or kw[name] < 1:
            problems.append(Problem(f"{name} is {kw[name]!r}", f"pass a positive integer {name}"))
    if not isinstance(kw["size"], int) or kw["size"] < 16:
        problems.append(Problem(f"size is {kw['size']!r} cells", "use at least 16 (sim-small uses 128)"))
    if not isinstance(kw["steps"], int) or kw["steps"] < 2:
        problems.append(Problem(f"steps is {kw['steps']!r} frames", "use at least 2 (sim-small uses 12)"))
    if kw["dem"] not in DEM_MODES:
        problems.append(Problem(f"dem is {kw['dem']!r}", f"use one of {', '.join(DEM_MODES)}"))
    if kw["limit"] is not None and (not isinstance(kw["limit"], int) or kw["limit"] < 0):
        problems.append(Problem(f"limit is {kw['limit']!r}", "pass None or an integer >= 0"))
    if problems:
        raise ConfigError(problems, subject="simulate")


def _read_progress(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _write_progress(path: Path, progress: dict[str, Any]) -> None:
    with atomic_path(path / PROGRESS_FILE) as tmp:
        tmp.write_text(json.dumps(progress))


def generate_collection(
    path: str | Path,
    *,
    n_events: int,
    seed: int,
    size: int = 128,
    steps: int = 12,
    dem: str = "fractal",
    prefix: str = "sim",
    workers: int = 1,
    batch_size: int = 8,
    limit: int | None = None,
    select: bool = True,
    progress: bool = True,
    simulator: Simulator | None = None,
    on_batch: Callable[[GenerationReport], None] | None = None,
) -> GenerationReport:
    """Simulate events into the zarr collection at ``path`` until it holds ``n_events``.

    Parameters
    ----------
    path
        Event collection store (created if missing, appended to otherwise).
    n_events
        Number of kept events the finished collection holds.
    seed, size, steps, dem, prefix
        Passed to :func:`emberxr.simulate.scenario.draw_event`.
    workers
        Simulator processes running at once.
    batch_size
        Candidates per simulator call.
    limit
        Stop after writing this many new events (for a partial run).
    select
        Apply the selection rule (otherwise every candidate is kept).

    Returns
    -------
    GenerationReport

    Raises
    ------
    SimulatorNotAvailableError
        pyretechnics was not found (``make sim-venv``).
    ConfigError
        Bad settings (every problem listed).
    CatalogError
        The store was generated with other settings (seed, size, steps, dem), or the burn rule
        rejects nearly every candidate.
    """
    from emberxr.errors import CatalogError
    from emberxr.io.events import list_event_ids

    _check_settings(n_events=n_events, size=size, steps=steps, dem=dem, workers=workers,
                    batch_size=batch_size, limit=limit)  # fmt: skip
    path = Path(path)
    t0 = time.perf_counter()
    sim = simulator or find_simulator()
    if workers > 1 and sim.in_process:
        sim = Simulator(sys.executable)  # one process per batch, so batches run in parallel
    settings = {"seed": int(seed), "size": int(size), "steps": int(steps), "dem": dem, "prefix": prefix}
    if not path.exists():
        write_events([], path, mode="w")  # an empty collection, so appends and resumes work
    existing = list_event_ids(path, allow_empty=True)
    prog = _read_progress(path)
    if prog and prog.get("settings") != settings:
        raise CatalogError(
            f"{path} was generated with {prog.get('settings')}, not {settings}. "
            "Fix: delete the store to start over, or generate into another path."
        )
    rejected = set(prog.get("rejected", []))
    kept = set(existing)
    report = GenerationReport(path=path, simulator=sim.describe())
    want_new = n_events - len(kept)
    if limit is not None:
        want_new = min(want_new, limit)
    bar = None
    if progress and want_new > 0:
        from emberxr.progress import progress as progress_bar

        bar = progress_bar(total=want_new, desc=f"simulate {path.name}", unit="event", leave=True)

    def undecided() -> Iterator[int]:
        index = 0
        while True:
            if f"{prefix}-{index:05d}" not in kept and index not in rejected:
                yield index
            index += 1

    def job(indices: list[int]) -> list[Any]:
        drawn = [draw_event(seed, i, size=size, steps=steps, dem=dem, prefix=prefix) for i in indices]
        return simulate_params([p for p, _ in drawn], sim, [land for _, land in drawn])

    candidates = undecided()
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    pending: deque[Future] = deque()
    try:
        while report.written < want_new:
            # keep every worker busy (plus one batch queued) while this thread selects and writes
            while len(pending) < max(1, workers) + 1:
                pending.append(pool.submit(job, list(itertools.islice(candidates, batch_size))))
            events = pending.popleft().result()
            to_write = []
            for ev in events:
                if report.written + len(to_write) >= want_new:
                    break  # enough: later candidates stay undecided for a later run
                if not select or burns_meaningfully(ev):
                    to_write.append(ev)
                else:
                    rejected.add(int(ev.attrs["event_index"]))
                    report.rejected += 1
            if report.rejected > max(100, 10 * want_new):
                raise CatalogError(
                    f"the burn rule rejected {report.rejected} candidates for {report.written} kept; "
                    "these settings almost never make a growing fire. Fix: more steps or a larger "
                    "domain, or --no-select (select=False) to keep every candidate."
                )
            if to_write:
                write_events(to_write, path, mode="a")
                kept.update(ev.attrs["event_id"] for ev in to_write)
                report.written += len(to_write)
                if bar is not None:
                    bar.update(len(to_write))
            _write_progress(path, {"settings": settings, "rejected": sorted(rejected)})
            report.kept = sorted(kept)
            report.candidates = len(kept) + len(rejected)
            report.seconds = time.perf_counter() - t0
            if on_batch is not None:
                on_batch(report)
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
    report.kept = sorted(kept)
    report.candidates = len(kept) + len(rejected)
    report.seconds = time.perf_counter() - t0
    return report


def default_workers() -> int:
    """A polite default: half the CPUs, at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


def assign_splits(
    ids: list[str], seed: int, fractions: dict[str, float] | None = None
) -> dict[str, list[str]]:
    """Split event ids by event with a seeded permutation (exact shares, rounded; the last split
    takes the remainder). Each split's ids are sorted."""
    import numpy as np

    fractions = fractions or {"train": 0.7, "val": 0.15, "test": 0.15}
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 1])).permutation(sorted(ids))
    out: dict[str, list[str]] = {}
    start = 0
    names = list(fractions)
    for i, name in enumerate(names):
        stop = len(order) if i == len(names) - 1 else start + round(fractions[name] * len(order))
        out[name] = sorted(str(e) for e in order[start:stop])
        start = stop
    return out


def write_catalog(path: str | Path, spec: dict[str, Any]) -> Path:
    """Write a catalog YAML atomically (keys in the order given)."""
    import yaml

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100))
    return path
