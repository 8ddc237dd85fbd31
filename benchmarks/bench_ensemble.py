"""Benchmark ensemble forecasts: N members in one ensemble vs N single roll-outs.

An ensemble (``forecast(..., members=N)``, :mod:`emberxr.products.ensemble`) predicts every
member's next step through one function, ``_member_probabilities``, with the members as the batch
dimension of the model call (and one call for all members while their histories are equal, as at
step 1). This script times whatever that function does today against ``N`` deterministic single
roll-outs (``forecast`` without members: the cost of running the ensemble one member at a time),
on a synthetic event of ``--size``² cells with an untrained model of the registry (the weights do
not change the cost). Reported: median seconds of ``--repeats`` runs after one warm-up, and the
ratio ensemble / (N × single); the issue's target is "far less than 1" at 32 members on 256².

Usage::

    .venv/bin/python benchmarks/bench_ensemble.py                      # 32 members, 256², unets
    .venv/bin/python benchmarks/bench_ensemble.py --members 4 --size 64 --horizon 2   # smoke
    .venv/bin/python benchmarks/bench_ensemble.py --write              # also docs/benchmarks.md

With ``--write`` the table replaces the block ``bench:ensemble`` of ``docs/benchmarks.md``
(:mod:`emberxr.doc_blocks`).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
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


def render(r: dict[str, Any], command: str) -> str:
    """The markdown block of one measurement."""
    machine = f"{platform.machine()}, {r['threads']} torch thread(s), device {r['device']}"
    return "\n".join(
        [
            f"Ensemble of {r['members']} members vs {r['members']} single roll-outs: {r['model']} (untrained), "
            f"{r['size']}² cells, {r['horizon']} steps. Machine: {machine}.",
            "",
            "| members | ensemble (s) | one roll-out (s) | members × one roll-out (s) | ratio |",
            "|---:|---:|---:|---:|---:|",
            f"| {r['members']} | {r['ensemble']:.2f} | {r['single']:.3f} | {r['members'] * r['single']:.2f} | "
            f"{r['ratio']:.2f} |",
            "",
            f"Command: `{command}`",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--size", type=int, default=256, help="grid size in cells (square)")
    parser.add_argument("--horizon", type=int, default=3, help="forecast steps (<= 6)")
    parser.add_argument("--model", default="unets", help="registry model (untrained)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs after one warm-up")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu, cuda ...")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    r = measure(args.members, args.size, args.horizon, args.model, args.repeats, args.threads, args.device)
    command = (
        f".venv/bin/python benchmarks/bench_ensemble.py --members {args.members} --size {args.size} "
        f"--horizon {args.horizon} --model {args.model} --threads {args.threads} --device {args.device}"
    )
    text = render(r, command)
    print(text)
    if args.write:
        from emberxr.doc_blocks import replace_block

        replace_block(DOC, BLOCK, text)


if __name__ == "__main__":
    main()
