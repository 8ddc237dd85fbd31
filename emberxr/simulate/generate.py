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
from emberxr.simulate.scenario import draw_event, draw_wide_event
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
    from emberxr.errors import ConfigError, Problem, ReaderError
    from emberxr.simulate.landscape import DEM_MODES

    problems = []
    wide = kw["params_version"] == 2
    if kw["params_version"] not in (1, 2):
        problems.append(
            Problem(
                f"params_version is {kw['params_version']!r}", "use 1 (sim-small) or 2 (the wide generator)"
            )
        )
    for name in ("n_events", "workers", "batch_size"):
        if not isinstance(kw[name], int) or kw[name] < 1:
            problems.append(Problem(f"{name} is {kw[name]!r}", f"pass a positive integer {name}"))
    if not isinstance(kw["size"], int) or kw["size"] < 16:
        problems.append(Problem(f"size is {kw['size']!r} cells", "use at least 16 (sim-small uses 128)"))
    if not wide and (not isinstance(kw["steps"], int) or kw["steps"] < 2):
        problems.append(Problem(f"steps is {kw['steps']!r} frames", "use at least 2 (sim-small uses 12)"))
    if not wide and kw["dem"] not in DEM_MODES:
        problems.append(
            Problem(
                f"dem is {kw['dem']!r}",
                f"use one of {', '.join(DEM_MODES)} (a DEM file needs the wide generator)",
            )
        )
    if wide:
        if not isinstance(kw["cell_size"], (int, float)) or not 1.0 <= kw["cell_size"] <= 1000.0:
            problems.append(Problem(f"cell_size is {kw['cell_size']!r} m", "use 1-1000 m (sim-wide uses 30)"))
        share = kw["real_share"]
        if not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
            problems.append(Problem(f"real_share is {share!r}", "use a share between 0 and 1"))
        elif share > 0 and kw["dem"] != "fractal" and not problems:
            from emberxr.simulate.dem import check_dem

            try:
                check_dem(kw["dem"], kw["size"], float(kw["cell_size"]))
            except ReaderError as exc:  # its message ends with "Fix: ..."
                what, _, fix = str(exc).partition(" Fix: ")
                problems.append(Problem(what, fix or "pass another DEM"))
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
    params_version: int = 1,
    cell_size: float = 30.0,
    real_share: float = 0.2,
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
        Passed to :func:`emberxr.simulate.scenario.draw_event` (version 1).
    params_version
        1: the sim-small generator (:func:`~emberxr.simulate.scenario.draw_event`); 2: the wide
        generator (:func:`~emberxr.simulate.scenario.draw_wide_event`, which draws its own
        observation windows, so ``steps`` is not used; ``dem`` is then ``"jacksboro"`` or a
        GeoTIFF path, used for a ``real_share`` of the events, on cells of ``cell_size`` m).
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
        Bad settings (every problem listed, a DEM that cannot serve included).
    CatalogError
        The store was generated with other settings (seed, size, steps, dem, ...), or the burn
        rule rejects nearly every candidate.
    """
    from emberxr.errors import CatalogError
    from emberxr.io.events import list_event_ids

    _check_settings(n_events=n_events, size=size, steps=steps, dem=dem, workers=workers,
                    batch_size=batch_size, limit=limit, params_version=params_version,
                    cell_size=cell_size, real_share=real_share)  # fmt: skip
    path = Path(path)
    t0 = time.perf_counter()
    sim = simulator or find_simulator()
    if workers > 1 and sim.in_process:
        sim = Simulator(sys.executable)  # one process per batch, so batches run in parallel
    if params_version == 2:
        if dem not in ("jacksboro", "fractal"):
            dem = str(Path(dem).expanduser().resolve())
        settings: dict[str, Any] = {
            "params_version": 2, "seed": int(seed), "size": int(size), "cell_size": float(cell_size),
            "dem": dem, "real_share": 0.0 if dem == "fractal" else float(real_share), "prefix": prefix,
        }  # fmt: skip
    else:
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

    def draw(i: int) -> tuple[dict[str, Any], Any]:
        if params_version == 2:
            real = 0.0 if dem == "fractal" else float(real_share)
            source = "jacksboro" if dem == "fractal" else dem
            return draw_wide_event(
                seed, i, size=size, cell_size=cell_size, real_share=real, dem=source, prefix=prefix
            )
        return draw_event(seed, i, size=size, steps=steps, dem=dem, prefix=prefix)

    def job(indices: list[int]) -> list[Any]:
        drawn = [draw(i) for i in indices]
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


def _rule_members(table: Any, name: str, rule: dict[str, Any]) -> set[str]:
    """Event ids a held-out rule selects (see :func:`assign_shift_splits`)."""
    from emberxr.errors import CatalogError

    attr = rule.get("attr")
    if attr not in table.columns:
        raise CatalogError(
            f"held-out split {name!r} names attribute {attr!r}, which the events do not have. "
            f"Fix: use one of {', '.join(table.columns)}."
        )
    col = table[attr]
    kinds = [k for k in ("top", "bottom", "equals") if k in rule]
    if len(kinds) != 1:
        raise CatalogError(
            f"held-out split {name!r} needs exactly one of top/bottom (a share) or equals (a value), got {rule!r}"
        )
    if kinds[0] == "equals":
        return set(col.index[col.astype(str) == str(rule["equals"])])
    share = float(rule[kinds[0]])
    if not 0.0 < share < 1.0:
        raise CatalogError(
            f"held-out split {name!r}: {kinds[0]} must be a share between 0 and 1, got {share}"
        )
    k = round(share * len(col))
    # rank by value, ties broken by event id, so the selection is exact and reproducible
    order = sorted(col.index, key=lambda e: (float(col[e]), e), reverse=kinds[0] == "top")
    return set(order[:k])


def assign_shift_splits(
    table: Any, held_out: dict[str, dict[str, Any]], seed: int, fractions: dict[str, float] | None = None
) -> dict[str, list[str]]:
    """Splits that hold regimes out: held-out splits first, then train/val/test from the rest.

    Parameters
    ----------
    table
        :func:`emberxr.simulate.stats.regime_table` of every event in the store.
    held_out
        Split name -> rule, in priority order. A rule is ``{attr: NAME, top: SHARE}`` (the
        ``SHARE`` of all events with the largest values), ``{attr: NAME, bottom: SHARE}`` (the
        smallest) or ``{attr: NAME, equals: VALUE}``. Shares are taken over *all* events; an event
        that two rules select goes to the first, so held-out splits never overlap.
    seed, fractions
        The remaining events are split by :func:`assign_splits` (default 70/15/15).

    Returns
    -------
    dict
        ``train``, ``val``, ``test`` (in-regime), then the held-out splits; ids sorted.
    """
    taken: set[str] = set()
    out_held: dict[str, list[str]] = {}
    for name, rule in held_out.items():
        members = _rule_members(table, name, dict(rule)) - taken
        out_held[name] = sorted(members)
        taken |= members
    rest = [str(e) for e in table.index if e not in taken]
    return {**assign_splits(rest, seed, fractions), **out_held}


def write_catalog(path: str | Path, spec: dict[str, Any]) -> Path:
    """Write a catalog YAML atomically (keys in the order given)."""
    import yaml

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100))
    return path
