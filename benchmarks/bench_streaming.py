"""Streaming training benchmark: samples/s streamed vs preloaded, and peak memory over large catalogs.

**(a) Throughput** (in this process, side by side): the training samples of a catalog split
(default ``sim-small`` train, 1848 samples) through ``emberxr``'s training loader — the dataset
``fit`` builds (``build_dataset``: history ≤ ``max_history``, patch tokens, the configuration's
tiles), :class:`~emberxr.data.loaders.EpochSampler` shuffling across events, batches of 8 collated
by ``temporal_collate`` — once **preloaded** (``data.preload: true``) and once **streamed**
(``data.preload: false``: windows read from the zarr store per sample, through the per-process
chunk cache). Each path is built and run for two epochs (epoch 1 starts with empty caches) at
every ``--workers`` count; the two paths alternate, ``--repeats`` times, and the best epoch time
of each is kept. Building (loading, for the preloaded path) is timed separately.

**(b) Memory** (one child process per run, peak RSS from ``resource.getrusage``): ``emberxr.fit``
of a small ``conv2d`` for one epoch with ``preload: false`` over a large collection — everything
``fit`` does (normalisation statistics, BCE weight, training, validation, threshold choice). The
collection is written to a temporary store: ``N`` CRS-tagged synthetic events
(``emberxr.testing.synthetic_event``, ``--size``² cells, ``--frames`` frames) saved with
``emberxr.save_events``, at every ``--sizes`` count (e.g. N and 4N; ``fit`` splits them 80/20
into train / validation), or ``--catalog NAME`` (a generated catalog such as ``sim-wide``: ``fit``
trains on its train split). The peak resident set of the main process (``VmHWM``: ``ru_maxrss``
would include the peak of the benchmark process that started it) and ``ru_maxrss`` of the largest
DataLoader worker (pages it shares copy-on-write with the main process included) are reported.

Usage::

    .venv/bin/python benchmarks/bench_streaming.py                 # print the markdown section
    .venv/bin/python benchmarks/bench_streaming.py --write         # also save the results and update docs
    .venv/bin/python benchmarks/bench_streaming.py --sizes 250 1000 --workers 0 2
    .venv/bin/python benchmarks/bench_streaming.py --catalog sim-wide --skip-throughput
    .venv/bin/python benchmarks/bench_streaming.py --smoke --out /tmp/streaming.json  # seconds

``--write`` saves ``benchmarks/results/streaming.json`` (``--results`` folder) and rewrites the
``bench:streaming`` block of ``docs/benchmarks.md`` (``--doc``) from it (:func:`render`, through :mod:`emberxr.doc_blocks`); a part
skipped with ``--skip-throughput`` / ``--skip-memory`` keeps its saved results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib

ROOT = benchlib.ROOT
DOC = benchlib.DOC
RESULTS = benchlib.RESULTS / "streaming.json"
BLOCK = "bench:streaming"
#: throughput target of the streamed path (share of the preloaded samples/s) and memory target
TARGET_RATIO = 0.7
TARGET_GIB = 4.0
#: the training settings both parts use (those of fit's defaults, a small model for part b)
DATA = {"max_history": 6, "patch_size": 16, "batch_size": 8}


# -- (a) throughput -------------------------------------------------------------------------------
def _loader(events: list, stats: Any, preload: bool, workers: int, tile_size: int | None) -> tuple:
    import emberxr
    from emberxr.data.loaders import EpochSampler, build_dataset, build_loader
    from emberxr.train.config import build_config

    cfg = build_config(
        "emberformer",
        None,
        {
            "batch_size": DATA["batch_size"],
            "max_history": DATA["max_history"],
            "patch_size": DATA["patch_size"],
            "tile_size": tile_size,
            "num_workers": workers,
            "progress": False,
            "wandb__enabled": False,
        },
    )
    model = emberxr.create_model("emberformer", in_static=stats.n_static, patch_size=DATA["patch_size"])
    t0 = time.perf_counter()
    ds = build_dataset(events, stats, cfg, model, train=True, preload=preload)
    built = time.perf_counter() - t0
    sampler = EpochSampler(len(ds), 0, True, dataset=ds)
    return build_loader(ds, cfg, sampler), sampler, built, len(ds)


def _epoch(loader: Any, sampler: Any, epoch: int) -> tuple[float, float]:
    """Samples per second of one epoch: of wall time, and of this process's CPU time (all its
    threads; with workers the work is in other processes, so only wall time means something)."""
    sampler.set_epoch(epoch)
    t0, c0 = time.perf_counter(), time.process_time()
    n = sum(len(b["hist_len"]) for b in loader)
    return n / (time.perf_counter() - t0), n / max(time.process_time() - c0, 1e-9)


def throughput(catalog: str, split: str, workers: list[int], repeats: int, limit: int | None) -> dict:
    """Samples/s of the preloaded and the streamed training loader (best of ``repeats``)."""
    import torch

    from emberxr.catalog import open_catalog
    from emberxr.normalize import compute_stats

    torch.set_num_threads(1)
    events = open_catalog(catalog).events(split)[:limit]
    stats = compute_stats(events)
    rows = []
    for w in workers:
        best: dict[str, dict[str, float]] = {}
        for _ in range(repeats):
            for mode, preload in (("preloaded", True), ("streamed", False)):
                loader, sampler, built, n = _loader(events, stats, preload, w, None)
                (e1, c1), (e2, c2) = _epoch(loader, sampler, 1), _epoch(loader, sampler, 2)
                b = best.setdefault(mode, dict.fromkeys(("epoch1", "epoch2", "cpu1", "cpu2"), 0.0))
                b["build_s"] = min(b.get("build_s", built), built)
                for k, v in (("epoch1", e1), ("epoch2", e2), ("cpu1", c1), ("cpu2", c2)):
                    b[k] = max(b[k], v)
                del loader, sampler
        rows.append({"workers": w, "samples": n, **{m: best[m] for m in best}})
    return {"catalog": catalog, "split": split, "events": len(events), "repeats": repeats, "rows": rows}


# -- (b) memory ---------------------------------------------------------------------------------------
def write_collection(path: Path, n: int, size: int, frames: int, batch: int = 50) -> float:
    """Write ``n`` synthetic ``size``² events to the store ``path`` (appending in batches);
    returns the seconds it took."""
    import emberxr
    from emberxr.testing.events import WIND_DIRECTIONS, synthetic_event

    t0 = time.perf_counter()
    for start in range(0, n, batch):
        evs = [
            synthetic_event(
                height=size,
                width=size,
                steps=frames,
                seed=i,
                event_id=f"synthetic-{i:05d}",
                wind_from_deg=WIND_DIRECTIONS[i % len(WIND_DIRECTIONS)],
            )
            for i in range(start, min(n, start + batch))
        ]
        emberxr.save_events(evs, path, mode="a", check=False)
    return time.perf_counter() - t0


def child(spec: dict) -> None:
    """Run ``emberxr.fit`` as ``spec`` says and print one JSON line with the peak RSS."""
    import resource

    import torch

    torch.set_num_threads(1)
    import emberxr

    baseline = _rss_kib("VmRSS")  # torch and emberxr imported, nothing read
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="emberxr-bench-fit-") as run:
        fitted = emberxr.fit(
            spec["data"],
            model="conv2d",
            run_dir=run,
            epochs=1,
            steps_per_epoch=spec["steps"],
            batch_size=DATA["batch_size"],
            max_history=DATA["max_history"],
            patch_size=DATA["patch_size"],
            tile_size=spec["tile_size"],
            preload=False,
            num_workers=spec["workers"],
            max_val_samples=spec["val_samples"],
            hidden=8,
            layers=2,
            device="cpu",
            early_stopping=None,
            progress=False,
            wandb__enabled=False,
        )
        steps = fitted.steps
        del fitted
    import gc

    gc.collect()
    kib = 1024 / 2**20  # ru_maxrss and VmHWM are in KiB
    print(
        json.dumps(
            {
                "steps": steps,
                "samples": steps * DATA["batch_size"],
                "baseline_mib": baseline * kib,
                "peak_main_mib": _rss_kib("VmHWM") * kib,
                "peak_worker_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * kib,
                "seconds": time.perf_counter() - t0,
            }
        )
    )


def _rss_kib(field: str = "VmHWM") -> int:
    """Resident set of this process in KiB: its peak (``VmHWM``, Linux; it restarts at exec,
    unlike ``ru_maxrss``, which keeps the peak of the process that started this one) or its
    current size (``VmRSS``); ``ru_maxrss`` where ``/proc`` is missing."""
    import resource

    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _describe(data: str) -> dict:
    """Training events ``fit`` would use and their decoded size (metadata only)."""
    from emberxr.data.sources import resolve_splits

    train = resolve_splits(data, required=("train",))["train"]
    decoded = sum(int(ev[v].nbytes) for ev in train for v in ("fire", "static", "valid"))
    return {"train_events": len(train), "decoded_gib": decoded / 2**30}


def _run_child(spec: dict) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
    )
    if out.returncode != 0:
        raise SystemExit(f"child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(
    sizes: list[int],
    catalog: str | None,
    workers: list[int],
    size: int,
    frames: int,
    tile_size: int,
    steps: int | None,
    val_samples: int,
) -> dict:
    """Peak RSS of one streamed ``fit`` epoch per collection size (or over ``catalog``)."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="emberxr-bench-stream-") as tmp:
        if catalog is not None:
            targets = [(catalog, None, 0.0)]
        else:
            targets = []
            for n in sizes:
                path = Path(tmp) / f"events-{n}.zarr"
                made = write_collection(path, n, size, frames)
                targets.append((str(path), n, made))
        for data, n, made in targets:
            about = _describe(data)
            for w in workers:
                spec = {
                    "data": data,
                    "workers": w,
                    "steps": steps,
                    "tile_size": tile_size,
                    "val_samples": val_samples,
                }
                res = _run_child(spec)
                runs.append({"events": n, "workers": w, "write_s": made, **about, **res})
    source = (
        f"catalog {catalog}"
        if catalog
        else f"synthetic {size}² events, {frames} frames, written with emberxr.save_events"
    )
    return {"source": source, "tile_size": tile_size, "runs": runs}


# -- rendering ------------------------------------------------------------------------------------------
def render(results: dict) -> str:
    """The markdown of the ``bench:streaming`` block from a results dict (as saved by ``--write``)."""
    lines = [f"Machine: {results['machine']}. Command: `{results['command']}`."]
    lines += [f"Kept from an earlier run: {k}." for k in results.get("kept", [])]
    lines.append("")
    tp = results.get("throughput")
    if tp:
        lines += [
            f"**Throughput**: the {tp['split']} split of `{tp['catalog']}` ({tp['events']} events, "
            f"{tp['rows'][0]['samples']} samples), training loader (batch {DATA['batch_size']}, history ≤ "
            f"{DATA['max_history']}, EmberFormer's patch tokens, shuffled across events); best of "
            f"{tp['repeats']} alternating runs; epoch 1 starts with empty caches. Target: streamed ≥ "
            f"{TARGET_RATIO}× preloaded. Without workers the work is all in this process, so its CPU "
            "time gives a ratio that other jobs on the machine disturb far less than wall time.",
            "",
            "| workers | preloaded: load s | preloaded samples/s (epoch 1 / 2) | streamed: index s | "
            "streamed samples/s (epoch 1 / 2) | streamed / preloaded, wall (epoch 1 / 2) | "
            "streamed / preloaded, CPU (epoch 1 / 2) |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in tp["rows"]:
            p, s = r["preloaded"], r["streamed"]
            cpu = (
                f"{s['cpu1'] / p['cpu1']:.2f}× / {s['cpu2'] / p['cpu2']:.2f}×"
                if r["workers"] == 0 and "cpu1" in p
                else "—"
            )
            lines.append(
                f"| {r['workers']} | {p['build_s']:.1f} | {p['epoch1']:.0f} / {p['epoch2']:.0f} | "
                f"{s['build_s']:.1f} | {s['epoch1']:.0f} / {s['epoch2']:.0f} | "
                f"{s['epoch1'] / p['epoch1']:.2f}× / {s['epoch2'] / p['epoch2']:.2f}× | {cpu} |"
            )
        lines.append("")
    mem = results.get("memory")
    if mem:
        lines += [
            f"**Memory**: peak RSS of one `emberxr.fit` epoch (`preload: false`, conv2d, crops of "
            f"{mem['tile_size']}) over {mem['source']}; each row is a fresh child process. "
            f"Target: < {TARGET_GIB:g} GiB, flat in the number of events.",
            "",
            "| events (train) | decoded train split (GiB) | workers | samples | RSS after imports (MiB) | "
            "peak RSS main (MiB) | peak RSS per worker (MiB) | seconds |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in mem["runs"]:
            worker = f"{r['peak_worker_mib']:.0f}" if r["workers"] else "—"
            lines.append(
                f"| {r['events'] or '—'} ({r['train_events']}) | {r['decoded_gib']:.2f} | {r['workers']} | "
                f"{r['samples']} | {r['baseline_mib']:.0f} | {r['peak_main_mib']:.0f} | {worker} | "
                f"{r['seconds']:.0f} |"
            )
    return "\n".join(lines).rstrip("\n")


BLOCKS = {BLOCK: render}


def main(argv: list[str] | None = None) -> int:
    ap = benchlib.parser(__doc__.splitlines()[0])
    ap.add_argument("--catalog", help="measure memory over this catalog instead of synthetic collections")
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 1000], help="collection sizes (events)")
    ap.add_argument("--size", type=int, default=256, help="synthetic event size in cells (default 256)")
    ap.add_argument("--frames", type=int, default=12, help="synthetic event frames (default 12)")
    ap.add_argument("--tile-size", type=int, default=128, help="training crop size for part b (default 128)")
    ap.add_argument(
        "--steps", type=int, default=None, help="steps of the memory epoch (default: a full pass)"
    )
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts")
    ap.add_argument("--throughput-catalog", default="sim-small", help="catalog of part a (default sim-small)")
    ap.add_argument("--repeats", type=int, default=2, help="throughput repeats (default 2)")
    ap.add_argument("--skip-throughput", action="store_true", help="only part b")
    ap.add_argument("--skip-memory", action="store_true", help="only part a")
    ap.add_argument("--out", type=Path, help="also write the results JSON here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    limit, val_samples = None, 64
    mem_workers = args.workers
    if args.smoke:  # every code path (workers included), a few seconds of work
        args.sizes, args.size, args.frames, args.tile_size = [3, 6], 48, 5, 32
        args.workers, args.repeats, args.steps, limit, val_samples = [0, 1], 1, 4, 4, 4
        mem_workers = [1]
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()}",
        "command": "python benchmarks/bench_streaming.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    if not args.skip_throughput:
        results["throughput"] = throughput(
            args.throughput_catalog, "train", args.workers, args.repeats, limit
        )
    if not args.skip_memory:
        results["memory"] = memory(
            args.sizes,
            args.catalog,
            mem_workers,
            args.size,
            args.frames,
            args.tile_size,
            args.steps,
            val_samples,
        )
    text = render(results)
    print(text)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    if args.write:
        from emberxr.doc_blocks import replace_block

        saved = args.results / RESULTS.name
        if saved.exists():  # a part not run this time keeps its saved numbers (and command)
            old = json.loads(saved.read_text())
            for part in ("throughput", "memory"):
                if part not in results and part in old:
                    results[part] = old[part]
                    results.setdefault("kept", []).append(f"{part}: `{old['command']}`")
        benchlib.save(results, BLOCK, args)
        replace_block(args.doc, BLOCK, render(benchlib.load(BLOCK, args.results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
