"""Benchmark ensemble forecasts: N members in one ensemble vs N single roll-outs.

An ensemble (``forecast(..., members=N)``, :mod:`emberxr.products.ensemble`) predicts every
member's next step through :func:`emberxr.inference.predict_histories`, with the members as the
batch dimension of the model call (and one call for all members while their histories are equal, as
at step 1). This script times that against ``N`` deterministic single
roll-outs (``forecast`` without members: the cost of running the ensemble one member at a time),
on a synthetic event of ``--size``² cells with an untrained model of the registry (the weights do
not change the cost). Reported: median seconds of ``--repeats`` runs after one warm-up, and the
ratio ensemble / (N × single); the issue's target is "far less than 1" at 32 members on 256².

Usage::

    .venv/bin/python benchmarks/bench_ensemble.py                      # 32 members, 256², unets
    .venv/bin/python benchmarks/bench_ensemble.py --smoke              # 4 members, 64², 2 steps
    .venv/bin/python benchmarks/bench_ensemble.py --write              # also docs/benchmarks.md

With ``--write`` the raw results go to ``benchmarks/results/ensemble.json`` and the table replaces
the block ``bench:ensemble`` of ``docs/benchmarks.md`` (:mod:`emberxr.doc_blocks`).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib

BLOCK = "bench:ensemble"


def measure(
    members: int, size: int, horizon: int, model: str, repeats: int, threads: int, device: str
) -> dict[str, Any]:
    """Median seconds of an ensemble and of one single roll-out, and their ratio."""
    import torch

    from emberxr.data.loaders import sample_kwargs
    from emberxr.forecast import forecast
    from emberxr.normalize import compute_stats
    from emberxr.registry import create_model, get_model_class
    from emberxr.testing import synthetic_event
    from emberxr.train.config import build_config, model_kwargs

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    event = synthetic_event(height=size, width=size, steps=8)
    stats = compute_stats([event])
    cfg = build_config(model, None, {})
    net = create_model(model, **model_kwargs(cfg, get_model_class(model), stats.n_static)).eval().to(device)
    kw = {**sample_kwargs(cfg, net), "device": device, "progress": False}
    t = 7 - horizon

    def ensemble() -> None:
        forecast(net, stats, event, t, horizon, members=members, seed=0, **kw)

    def single() -> None:
        forecast(net, stats, event, t, horizon, threshold=0.5, **kw)

    out = {}
    for name, fn in (("ensemble", ensemble), ("single", single)):
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
    out.update(
        members=members,
        size=size,
        horizon=horizon,
        model=model,
        threads=threads,
        device=device,
        ratio=out["ensemble"] / (members * out["single"]),
    )
    return out


def render(r: dict[str, Any]) -> str:
    """The ``bench:ensemble`` block."""
    return "\n".join(
        [
            f"Ensemble of {r['members']} members vs {r['members']} single roll-outs: {r['model']} (untrained), "
            f"{r['size']}² cells, {r['horizon']} steps, {r['threads']} torch thread(s), device {r['device']}. "
            f"{benchlib.machine_line(r['machine'])}",
            "",
            "| members | ensemble (s) | one roll-out (s) | members × one roll-out (s) | ratio |",
            "|---:|---:|---:|---:|---:|",
            f"| {r['members']} | {r['ensemble']:.2f} | {r['single']:.3f} | {r['members'] * r['single']:.2f} | "
            f"{r['ratio']:.2f} |",
            "",
            f"Command: `{r['command']}`",
        ]
    )


BLOCKS = {BLOCK: render}


def main(argv: list[str] | None = None) -> int:
    ap = benchlib.parser(__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--size", type=int, default=256, help="grid size in cells (square)")
    ap.add_argument("--horizon", type=int, default=3, help="forecast steps (<= 6)")
    ap.add_argument("--model", default="unets", help="registry model (untrained)")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs after one warm-up")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--device", default="cpu", help="cpu, cuda ...")
    args = ap.parse_args(argv)
    if args.smoke:
        args.members, args.size, args.horizon = 4, 64, 2
    r = measure(args.members, args.size, args.horizon, args.model, args.repeats, args.threads, args.device)
    opts = [] if args.smoke else [
        f"--members={args.members}", f"--size={args.size}", f"--horizon={args.horizon}",
        f"--model={args.model}", f"--threads={args.threads}", f"--device={args.device}",
    ]  # fmt: skip
    r.update(
        machine=benchlib.machine(args.threads), command=benchlib.command("bench_ensemble.py", args, opts)
    )
    benchlib.publish(args, BLOCKS, {BLOCK: r})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
