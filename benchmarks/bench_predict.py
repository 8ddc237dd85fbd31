"""Whole scenes at scale: time and peak memory of a streamed forecast, 512² to 8192².

For each scene size N (``--sizes``) a synthetic event of N×N cells (``T`` history frames plus the
last, 8 static bands; a growing fire) is written to a chunked zarr store (emberxr's chunks of 8 steps × 256², streamed
from Dask: the benchmark never holds the scene either). A child process then opens it lazily
(``emberxr.open_event``) and runs :func:`emberxr.forecast.write_prediction` — what
``emberxr predict CKPT EVENT -o out.tif`` does — with the ``make demo`` EmberFormer architecture
(``cpu`` preset, 64² windows with 16-pixel overlaps, random weights), writing a tiled GeoTIFF. The
child reports the time and peak resident memory of opening the event (``emberxr.open_event``: the
store opened lazily and validated in one Dask pass) and, apart (the kernel's peak counter is reset
in between, ``/proc/self/clear_refs``), the wall and CPU time and the peak resident memory of the
prediction, together with the resident memory just before predicting (interpreter, torch, model,
the open store).

Targets (issue 14): peak RSS at 8192² below 2 GB and flat from 2048² up; time linear in area
(constant µs per pixel).

Usage::

    .venv/bin/python benchmarks/bench_predict.py --write               # 512² .. 8192² (~4 min on 2 idle cores)
    .venv/bin/python benchmarks/bench_predict.py --sizes 512 1024 2048
    .venv/bin/python benchmarks/bench_predict.py --smoke
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib

BLOCK = "bench:predict"
RSS_TARGET_MB = 2048
PLOT = "bench-predict.png"
DEFAULT_SIZES = [512, 1024, 2048, 4096, 8192]
DEFAULTS = {"history": 8, "threads": 2, "tile": 64}


def _hwm_mb() -> float:
    """Peak resident memory since the last reset (Linux ``VmHWM``), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(store: str, out: str, threads: int, tile: int, frames: int) -> None:
    """In a fresh process: open the store as ``emberxr predict`` does (lazily, validated), then
    stream a forecast to ``out``; print JSON with the times and the peak memory of each phase."""
    import torch

    torch.set_num_threads(threads)
    import emberxr
    from emberxr.forecast import write_prediction
    from emberxr.normalize import compute_stats

    stats = compute_stats([benchlib.synthetic_event(256, frames, bands=8)])
    fitted = benchlib.demo_fitted(
        "emberformer", stats.n_static, stats, tile_size=tile, max_history=frames - 1
    )
    t0 = time.perf_counter()
    event = emberxr.open_event(store)
    open_s = time.perf_counter() - t0
    open_peak = _hwm_mb()
    base = _rss_mb()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak: what follows is the prediction
    t0, c0 = time.perf_counter(), time.process_time()
    write_prediction(fitted, event, out, progress=False, device="cpu")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    row = {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": _hwm_mb(), "base_rss_mb": base}
    row.update(open_seconds=open_s, open_peak_rss_mb=open_peak)
    print(json.dumps(row))


def measure(sizes: list[int], frames: int, threads: int, tile: int) -> list[dict]:
    from emberxr.io.events import save_events

    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
            store = Path(tmp) / "scene.zarr"
            t0 = time.perf_counter()
            save_events([benchlib.synthetic_event(n, frames, chunk=512, bands=8)], store, check=False)
            written = time.perf_counter() - t0
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            cmd = [sys.executable, __file__, "--child", str(store), str(Path(tmp) / "p.tif"), str(threads)]
            cmd += [str(tile), str(frames)]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode:
                raise SystemExit(f"child failed for {n}²:\n{res.stderr[-4000:]}")
            row = json.loads(res.stdout.strip().splitlines()[-1])
            row.update(size=n, pixels=n * n, write_seconds=written)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def _largest_step(rows: list[dict], per_px: list[float]) -> str:
    """Where CPU µs per pixel changes most between two consecutive sizes, as text."""
    if len(rows) < 2:
        return "not measurable with one size"
    ratios = [b / a for a, b in itertools.pairwise(per_px)]
    i = max(range(len(ratios)), key=lambda k: abs(math.log(ratios[k])))
    return f"{ratios[i]:.2f}× from {rows[i]['size']}² to {rows[i + 1]['size']}²"


def render(r: dict) -> str:
    """The ``bench:predict`` block."""
    rows = r["rows"]
    lines = [
        f"Streamed forecast (`write_prediction`, what `emberxr predict` runs) of a synthetic event read "
        f"lazily from zarr (chunks of 8 steps × 256² cells, one Dask chunk each), T={r['history']} history frames, 8 static bands; the `make demo` "
        f"EmberFormer architecture (`cpu` preset) on {r['tile']}² windows, {r['threads']} torch threads, "
        f"one child process per size; scenes wider than 2048 columns run in vertical panels. Peak RSS of the prediction is measured from the moment the event is "
        f"open (the peak is reset then); the RSS before predicting (interpreter, torch, model, open store) "
        f"is part of it. Opening the event (`emberxr.open_event`, which validates every pixel, a slab of "
        f"chunk rows at a time) is listed apart. {benchlib.machine_line(r['machine'])}",
        "",
        "| scene | pixels | seconds | CPU s | µs / pixel | peak RSS predicting (MB) | RSS before (MB) "
        "| opening: s | opening: peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in rows:
        lines.append(
            f"| {x['size']}² | {x['pixels']:,} | {x['seconds']:.1f} | {x['cpu_seconds']:.1f} | "
            f"{1e6 * x['seconds'] / x['pixels']:.2f} | {x['peak_rss_mb']:,.0f} | {x['base_rss_mb']:,.0f} | "
            f"{x['open_seconds']:.1f} | {x['open_peak_rss_mb']:,.0f} |"
        )
    big = rows[-1]
    since = 2048 if any(x["size"] >= 2048 for x in rows) else rows[0]["size"]
    flat = [x["peak_rss_mb"] for x in rows if x["size"] >= since]
    flat_area = rows[-1]["pixels"] / next(x["pixels"] for x in rows if x["size"] >= since)
    linear = [x for x in rows if x["size"] >= 512] or rows
    per_px = [1e6 * x["cpu_seconds"] / x["pixels"] for x in linear]
    wall_px = [1e6 * x["seconds"] / x["pixels"] for x in linear]
    ok = "met" if big["peak_rss_mb"] < RSS_TARGET_MB else "NOT met"
    lines += [
        "",
        f"Peak RSS of the prediction at {big['size']}²: **{big['peak_rss_mb']:,.0f} MB** (target < "
        f"{RSS_TARGET_MB} MB: {ok}); from {since}² up it spans {min(flat):,.0f}–{max(flat):,.0f} MB "
        f"({max(flat) / min(flat) - 1:.0%} apart while the area grows {flat_area:.0f}×). Wall time per "
        f"pixel from {linear[0]['size']}² up: {min(wall_px):.2f}–{max(wall_px):.2f} µs, "
        f"{max(wall_px) / min(wall_px):.1f}× apart; CPU time per pixel {min(per_px):.2f}–{max(per_px):.2f} µs "
        f"(linear in area would keep both constant; the largest step of CPU time is "
        f"{_largest_step(linear, per_px)}; wall time on a shared machine also measures the other jobs, and "
        "CPU time includes OpenMP threads spinning while they wait for work).",
        "",
        f"![time and peak memory against scene area](img/{PLOT})",
        "",
        f"Command: `{r['command']}`",
    ]
    return "\n".join(lines)


BLOCKS = {BLOCK: render}


def plot(r: dict, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = r["rows"]
    area = [x["pixels"] / 1e6 for x in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    a.plot(area, [x["seconds"] for x in rows], "o-", label="wall")
    a.plot(area, [x["cpu_seconds"] for x in rows], "s--", label="CPU")
    a.set(xscale="log", yscale="log", xlabel="scene area (Mpixels)", ylabel="seconds", title="time")
    a.legend(fontsize=8)
    b.plot(area, [x["peak_rss_mb"] for x in rows], "o-", label="peak, predicting")
    b.plot(area, [x["base_rss_mb"] for x in rows], "s--", label="before predicting")
    b.plot(area, [x["open_peak_rss_mb"] for x in rows], "^:", label="peak, opening")
    b.axhline(RSS_TARGET_MB, color="grey", lw=0.8, ls=":", label="target")
    b.set(xscale="log", xlabel="scene area (Mpixels)", ylabel="MB", title="peak resident memory")
    b.legend(fontsize=8)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(folder / PLOT, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = benchlib.parser(__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    ap.add_argument("--history", type=int, default=DEFAULTS["history"], help="history frames T (default 8)")
    ap.add_argument("--threads", type=int, default=DEFAULTS["threads"])
    ap.add_argument(
        "--tile", type=int, default=DEFAULTS["tile"], help="window side (the demo's training tile)"
    )
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        store, out, threads, tile, frames = args.child
        child(store, out, int(threads), int(tile), int(frames))
        return 0
    if args.smoke:
        args.sizes, args.history = [64, 96], 3
    opts = [] if args.smoke or args.sizes == DEFAULT_SIZES else ["--sizes", *map(str, args.sizes)]
    opts += [
        f"--{k}={getattr(args, k)}" for k, v in DEFAULTS.items() if getattr(args, k) != v and not args.smoke
    ]
    rows = measure(args.sizes, args.history + 1, args.threads, args.tile)
    results = {
        "rows": rows,
        "history": args.history,
        "threads": args.threads,
        "tile": args.tile,
        "machine": benchlib.machine(args.threads),
        "command": benchlib.command("bench_predict.py", args, opts),
    }
    benchlib.publish(args, BLOCKS, {BLOCK: results})
    if args.write:
        plot(results, args.img)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
