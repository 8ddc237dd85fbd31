"""Benchmark every registered model: parameters and forward+backward seconds per batch.

Batch: B=8, T=8, 128×128 pixels, 8 static bands, patch 16 (``emberxr.testing.make_batch``).
Runs each model at 1 and 2 torch threads, reports the median of ``--repeats`` timed steps after
one warm-up step, the per-sample ratio EmberFormer / U-TAE, and (with ``--write``) saves the results
to ``benchmarks/results/models.json`` and rewrites the block ``bench:models`` of
``docs/benchmarks.md`` (through ``benchmarks/benchlib.py``).

With ``--accuracy`` it instead trains the given models on the ``sim-small`` catalog through
``emberxr.fit`` (from ``configs/<model>.yaml``) with the same fixed step budget and prints validation next-mask AP / F1 and
new-burn AP / F1 (a sanity check, not a tuned result), the block ``bench:models-accuracy``
(results in ``benchmarks/results/models-accuracy.json``).

Usage::

    .venv/bin/python benchmarks/bench_models.py --repeats 3 --write
    .venv/bin/python benchmarks/bench_models.py --models emberformer utae --threads 1
    .venv/bin/python benchmarks/bench_models.py --accuracy --models copylast utae emberformer --steps 300 --write
    .venv/bin/python benchmarks/bench_models.py --smoke
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib

CONFIGS = benchlib.ROOT / "configs"


def bench_one(name: str, batch: dict, threads: int, repeats: int, config: dict) -> tuple[int, float]:
    """Return (trainable parameters, median forward+backward seconds per batch)."""
    import torch

    from emberxr.registry import create_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create_model(name, **config).train()
    params = [p for p in model.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        out = model(batch)
        if params:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(out, batch["target"])
            loss.backward()
            model.zero_grad(set_to_none=True)
        if i:  # first step is warm-up
            times.append(time.perf_counter() - t0)
    return n_params, statistics.median(times)


def render(r: dict) -> str:
    """The ``bench:models`` block."""
    rows, threads = r["rows"], r["threads"]
    b = r["batch"]
    head = "| model | decoder | parameters | " + " | ".join(f"s/batch ({t} thr)" for t in threads) + " |"
    lines = [
        "## Models: parameters and training-step time",
        "",
        f"Forward + backward of one batch (B={b['B']}, T={b['T']}, {b['size']}×{b['size']}, {b['static']} static "
        f"bands, patch {b['patch']}), median of timed steps after a warm-up. {benchlib.machine_line(r['machine'])} "
        f"Command: `{r['command']}`. Other jobs share the machine, so compare rows of one run and treat "
        f"differences below ~1.5× as noise (2-thread numbers suffer most from contention).",
        "",
        head,
        "|" + "---|" * (3 + len(threads)),
    ]
    for row in rows:
        cells = " | ".join(f"{row['s'][str(t)]:.3f}" for t in threads)
        lines.append(f"| {row['label']} | {row.get('decoder', '')} | {row['params']:,} | {cells} |")
    by = {row["label"]: row for row in rows}
    if "emberformer" in by and "utae" in by:
        for t in threads:
            ratio = by["emberformer"]["s"][str(t)] / by["utae"]["s"][str(t)]
            lines.append("")
            lines.append(
                f"EmberFormer (default) / U-TAE (small) time per sample at {t} thread(s): **{ratio:.2f}**"
            )
    return "\n".join(lines)


def accuracy(models: list[str], steps: int, threads: int, val_samples: int) -> list[dict]:
    """Train each model for ``steps`` optimisation steps on sim-small; validation metrics per model."""
    import emberxr

    rows = []
    epochs = 4
    for name in models:
        cfg = CONFIGS / f"{name}.yaml"
        fitted = emberxr.fit(
            "sim-small",
            model=name,
            config=str(cfg) if cfg.exists() else None,
            epochs=epochs,
            steps_per_epoch=max(steps // epochs, 1),
            batch_size=8,
            tile_size=64,
            max_history=6,
            lr_temporal=2e-3,
            lr_spatial=2e-3,
            warmup_steps=20,
            early_stopping=None,
            max_val_samples=val_samples,
            num_threads=threads,
            progress=False,
            run_name=f"bench-{name}",
            output_dir="outputs/bench",
            wandb__enabled=False,
        )
        df = fitted.evaluate("sim-small", split="val", per_event=False)
        allrows = df[df["scope"] == "all"].set_index("target")
        row = {
            "model": name,
            "params": sum(p.numel() for p in fitted.model.parameters() if p.requires_grad),
            "steps": fitted.steps,
            "seconds": fitted.train_seconds,
            "next_ap": float(allrows.loc["next", "ap"]),
            "next_f1": float(allrows.loc["next", "f1"]),
            "new_ap": float(allrows.loc["new", "ap"]),
            "new_f1": float(allrows.loc["new", "f1"]),
        }
        print(row, flush=True)
        rows.append(row)
    return rows


def render_accuracy(r: dict) -> str:
    """The ``bench:models-accuracy`` block."""
    lines = [
        "## Models: accuracy sanity run (sim-small, fixed step budget)",
        "",
        f"Each model trained with `emberxr.fit` from its `configs/<model>.yaml` on 64×64 crops of the sim-small "
        f"train split, the same number of optimisation steps (batch 8, history 6, lr 2e-3 for every parameter "
        f"group, cosine), evaluated on the whole validation split (threshold "
        f"chosen on validation). Not tuned; a sanity check that the models learn. Command: `{r['command']}`.",
        "",
        "| model | parameters | steps | train s | next AP | next F1 | new-burn AP | new-burn F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for x in r["rows"]:
        lines.append(
            f"| {x['model']} | {x['params']:,} | {x['steps']} | {x['seconds']:.0f} | {x['next_ap']:.3f} | "
            f"{x['next_f1']:.3f} | {x['new_ap']:.3f} | {x['new_f1']:.3f} |"
        )
    lines += [
        "",
        "Training seconds include per-epoch validation and depend on what else ran on the shared machine; "
        "the step budget, not the time, is fixed.",
    ]
    return "\n".join(lines)


BLOCKS = {"bench:models": render, "bench:models-accuracy": render_accuracy}


def main(argv: list[str] | None = None) -> int:
    parser = benchlib.parser(__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None, help="registry names (default: all)")
    parser.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--decoders", action="store_true", help="also time emberformer with every decoder")
    parser.add_argument("--accuracy", action="store_true", help="accuracy sanity run on sim-small instead")
    parser.add_argument("--steps", type=int, default=300, help="optimisation steps per model (--accuracy)")
    parser.add_argument("--val-samples", type=int, default=96, help="validation samples during training")
    args = parser.parse_args(argv)

    if args.accuracy:
        names = args.models or ["copylast", "unets", "utae", "emberformer"]
        if args.smoke:
            names, args.steps, args.val_samples = names[:2], 4, 4
        rows = accuracy(names, args.steps, args.threads[0], args.val_samples)
        opts = [
            "--accuracy",
            "--models",
            *names,
            "--steps",
            str(args.steps),
            "--threads",
            str(args.threads[0]),
        ]
        results = {"rows": rows, "command": benchlib.command("bench_models.py", args, opts)}
        benchlib.publish(args, BLOCKS, {"bench:models-accuracy": results})
        return 0

    from emberxr.registry import list_decoders, list_models
    from emberxr.testing import make_batch

    shape = {"B": 8, "T": 8, "size": 128, "static": 8, "patch": 16}
    if args.smoke:
        shape.update(B=2, T=2, size=32)
        args.threads, args.repeats = [1], 1
    batch = make_batch(
        B=shape["B"],
        T=shape["T"],
        H=shape["size"],
        W=shape["size"],
        in_static=shape["static"],
        patch_size=shape["patch"],
        hist_lens=[shape["T"]] * shape["B"],
        invalid_cols=0,
    )
    base = {"in_static": shape["static"], "patch_size": shape["patch"], "max_history": shape["T"]}
    jobs = [(n, n, {}) for n in (args.models or list_models())]
    if "utae" in [j[1] for j in jobs]:
        jobs.append(("utae-paper", "utae", {"preset": "paper"}))
    if args.decoders:
        jobs += [(f"emberformer+{d}", "emberformer", {"decoder": d}) for d in list_decoders() if d != "light"]
    rows = []
    for label, name, extra in jobs:
        row = {
            "label": label,
            "name": name,
            "decoder": extra.get("decoder", "light" if name == "emberformer" else ""),
            "s": {},
        }
        for t in args.threads:
            row["params"], row["s"][str(t)] = bench_one(name, batch, t, args.repeats, {**base, **extra})
        print(
            f"{label:24s} params={row['params']:>10,}  "
            + "  ".join(f"{t}thr={row['s'][str(t)]:.3f}s" for t in args.threads),
            flush=True,
        )
        rows.append(row)
    opts = ([f"--models={' '.join(args.models)}"] if args.models else []) + [
        "--threads",
        *map(str, args.threads),
    ]
    opts += ["--repeats", str(args.repeats)] + (["--decoders"] if args.decoders else [])
    results = {
        "rows": rows,
        "threads": args.threads,
        "batch": shape,
        "machine": benchlib.machine(args.threads),
        "command": benchlib.command("bench_models.py", args, opts),
    }
    benchlib.publish(args, BLOCKS, {"bench:models": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
