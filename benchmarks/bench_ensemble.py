"""Benchmark ensemble forecasts: N members in one ensemble vs N single roll-outs.

An ensemble (``forecast(..., members=N)``, :mod:`emberxr.products.ensemble`) predicts every
member's next step through :func:`emberxr.inference.predict_histories`, with the members as the
batch dimension of the model call (and one call for all members while their histories are equal, as
at step 1). This script times that against ``N`` deterministic single
roll-outs (``forecast`` without members: the cost of running the ensemble one member at a time),
on a synthetic event of ``--size``² cells with a model of the registry, untrained and trained
``--train-steps`` steps on synthetic events of the same generator (the weights change what the
members share: see the table's note). Reported: median seconds of ``--repeats`` runs after one warm-up, and the
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


def _trained(model: str, steps: int, threads: int, out: Path) -> Any:
    """``model`` fitted for ``steps`` steps on synthetic events like the benchmark's (the same
    generator, other seeds) and calibrated on their validation split (isotonic), as a user's model
    would be: probabilities near 0 away from the fire front."""
    import emberxr
    from emberxr.testing import synthetic_events

    events = synthetic_events(8, height=64, width=64, steps=8)
    epochs = 2
    return emberxr.fit(
        {"train": events[:6], "val": events[6:]},
        model=model,
        output_dir=str(out),
        training__epochs=epochs,
        training__steps_per_epoch=max(1, steps // epochs),
        training__batch_size=8,
        training__num_threads=threads,
        training__progress=False,
        training__calibrate="isotonic",
        data__tile_size=64,
        wandb__enabled=False,
    )


def measure(
    members: int,
    size: int,
    horizon: int,
    model: str,
    repeats: int,
    threads: int,
    device: str,
    train_steps: int = 0,
) -> dict[str, Any]:
    """Median seconds of an ensemble and of one single roll-out, and their ratio, for the untrained
    model and (``train_steps`` > 0) the same architecture trained that many steps."""
    import tempfile

    import torch

    from emberxr.data.loaders import sample_kwargs
    from emberxr.forecast import forecast
    from emberxr.normalize import compute_stats
    from emberxr.registry import create_model, get_model_class
    from emberxr.testing import synthetic_event
    from emberxr.train.config import build_config, model_kwargs

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    event = synthetic_event(height=size, width=size, steps=8, seed=100)
    stats = compute_stats([event])
    cfg = build_config(model, None, {})
    net = create_model(model, **model_kwargs(cfg, get_model_class(model), stats.n_static)).eval().to(device)
    states = [("untrained", net, stats, sample_kwargs(cfg, net))]
    if train_steps > 0:
        with tempfile.TemporaryDirectory(prefix="bench-ensemble-") as tmp:
            fitted = _trained(model, train_steps, threads, Path(tmp))
        states.append(
            (
                f"trained {train_steps} steps, calibrated",
                fitted.model.to(device),
                fitted.stats,
                {**sample_kwargs(fitted.config, fitted.model), "calibrator": fitted.calibration},
            )
        )
    t = 7 - horizon
    rows = []
    cases = [(label, m, st, skw, "bernoulli") for label, m, st, skw in states]
    if len(states) > 1:  # the trained model also with level-set sampling
        cases.append((*states[-1], "quantile"))
    for label, m, st, skw, sampling in cases:
        kw = {**skw, "device": device, "progress": False}

        def ensemble(m: Any = m, st: Any = st, kw: dict = kw, sampling: str = sampling) -> None:
            forecast(m, st, event, t, horizon, members=members, seed=0, sampling=sampling, **kw)

        def single(m: Any = m, st: Any = st, kw: dict = kw) -> None:
            forecast(m, st, event, t, horizon, threshold=0.5, **kw)

        row: dict[str, Any] = {"model_state": label, "sampling": sampling}
        for name, fn in (("ensemble", ensemble), ("single", single)):
            fn()  # warm-up
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            row[name] = statistics.median(times)
        row["ratio"] = row["ensemble"] / (members * row["single"])
        rows.append(row)
    return {
        "rows": rows,
        "members": members,
        "size": size,
        "horizon": horizon,
        "model": model,
        "threads": threads,
        "device": device,
        "train_steps": train_steps,
    }


def render(r: dict[str, Any]) -> str:
    """The ``bench:ensemble`` block."""
    rows = r.get("rows") or [{**r, "model_state": "untrained"}]
    n = r["members"]
    lines = [
        f"Ensemble of {n} members vs {n} single roll-outs: {r['model']}, {r['size']}² cells, "
        f"{r['horizon']} steps, {r['threads']} torch thread(s), device {r['device']}; the untrained "
        "model and the same architecture trained briefly on synthetic events and calibrated on their "
        "validation split (isotonic), measured in the same run; the single roll-outs use the same "
        f"model and calibration. {benchlib.machine_line(r['machine'])}",
        "",
        "| model | sampling | members | ensemble (s) | one roll-out (s) | members × one roll-out (s) | ratio |",
        "|:--|:--|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model_state']} | `{row.get('sampling', 'bernoulli')}` | {n} | {row['ensemble']:.2f} | "
            f"{row['single']:.3f} | {n * row['single']:.2f} | {row['ratio']:.2f} |"
        )
    lines += [
        "",
        "Members run as one batch, and a window whose inputs are equal for several members (all of "
        "step 1; later, every window the members' sampled fires agree in) is run once for all of "
        "them. With `bernoulli` sampling (one draw per cell) a member ignites a cell of probability "
        "p with chance p, so even the small probabilities a trained model gives far from the fire "
        "light isolated cells in some members, and their windows differ from step 2 on (with the "
        "untrained model, p ≈ 0.5, nearly every window): then only batching helps, which on a CPU "
        "(bound by arithmetic) saves little. With `quantile` "
        "sampling (one uniform number per member and step: each member follows a level set of the "
        "probability field, the same per-cell probability) the members differ only near the fire "
        "front, and every other window is run once.",
        "",
        f"Command: `{r['command']}`",
    ]
    return "\n".join(lines)


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
    ap.add_argument(
        "--train-steps", type=int, default=300, help="also time the model trained this many steps (0: skip)"
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.members, args.size, args.horizon, args.train_steps = 4, 64, 2, 2
    r = measure(
        args.members,
        args.size,
        args.horizon,
        args.model,
        args.repeats,
        args.threads,
        args.device,
        args.train_steps,
    )
    opts = [] if args.smoke else [
        f"--members={args.members}", f"--size={args.size}", f"--horizon={args.horizon}",
        f"--model={args.model}", f"--threads={args.threads}", f"--device={args.device}",
        f"--train-steps={args.train_steps}",
    ]  # fmt: skip
    r.update(
        machine=benchlib.machine(args.threads), command=benchlib.command("bench_ensemble.py", args, opts)
    )
    benchlib.publish(args, BLOCKS, {BLOCK: r})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
