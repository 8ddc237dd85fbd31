"""Benchmark every registered model: parameters and forward+backward seconds per batch.

Batch: B=8, T=8, 128×128 pixels, 8 static bands, patch 16 (``emberxr.testing.make_batch``).
Runs each model at 1 and 2 torch threads, reports the median of ``--repeats`` timed steps after
one warm-up step, the per-sample ratio EmberFormer / U-TAE, and (with ``--write``) replaces the
section between ``<!-- bench:models:start -->`` and ``<!-- bench:models:end -->`` in
``docs/benchmarks.md``.

With ``--accuracy`` it instead trains the given models on the ``sim-small`` catalog through
``emberxr.fit`` (from ``configs/<model>.yaml``) with the same fixed step budget and prints validation next-mask AP / F1 and
new-burn AP / F1 (a sanity check, not a tuned result), writing them between
``<!-- bench:models-accuracy:start -->`` / ``<!-- bench:models-accuracy:end -->``.

Usage::

    .venv/bin/python benchmarks/bench_models.py --repeats 3 --write
    .venv/bin/python benchmarks/bench_models.py --models emberformer utae --threads 1
    .venv/bin/python benchmarks/bench_models.py --accuracy --models copylast utae emberformer --steps 300 --write
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

START, END = "<!-- bench:models:start -->", "<!-- bench:models:end -->"
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


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


def render(rows: list[dict], threads: list[int], cmd: str) -> str:
    """Markdown section for docs/benchmarks.md."""
    head = "| model | decoder | parameters | " + " | ".join(f"s/batch ({t} thr)" for t in threads) + " |"
    lines = [
        "## Models: parameters and training-step time",
        "",
        f"Forward + backward of one batch (B=8, T=8, 128×128, 8 static bands, patch 16), median of "
        f"timed steps after a warm-up, CPU ({platform.processor() or platform.machine()}), shared "
        f"2-core machine. Command: `{cmd}`. Other jobs share the machine, so compare rows of one run "
        f"and treat differences below ~1.5× as noise (2-thread numbers suffer most from contention).",
        "",
        head,
        "|" + "---|" * (3 + len(threads)),
    ]
    for r in rows:
        cells = " | ".join(f"{r['s'][t]:.3f}" for t in threads)
        lines.append(f"| {r['label']} | {r.get('decoder', '')} | {r['params']:,} | {cells} |")
    by = {r["label"]: r for r in rows}
    if "emberformer" in by and "utae" in by:
        for t in threads:
            ratio = by["emberformer"]["s"][t] / by["utae"]["s"][t]
            lines.append("")
            lines.append(
                f"EmberFormer (default) / U-TAE (small) time per sample at {t} thread(s): **{ratio:.2f}**"
            )
    return "\n".join(lines)


def write_section(text: str, path: Path = DOC, start: str = START, end: str = END) -> None:
    """Replace (or append) one marked section of ``docs/benchmarks.md`` atomically."""
    from emberxr.atomic import atomic_path

    old = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{text}\n{end}"
    if start in old and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end) :]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(new)


ACC_START, ACC_END = "<!-- bench:models-accuracy:start -->", "<!-- bench:models-accuracy:end -->"


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


def render_accuracy(rows: list[dict], cmd: str) -> str:
    """Markdown section with the accuracy sanity run."""
    lines = [
        "## Models: accuracy sanity run (sim-small, fixed step budget)",
        "",
        f"Each model trained with `emberxr.fit` from its `configs/<model>.yaml` on 64×64 crops of the sim-small "
        f"train split, the same number of optimisation steps (batch 8, history 6, lr 2e-3 for every parameter "
        f"group, cosine), evaluated on the whole validation split (threshold "
        f"chosen on validation). Not tuned; a sanity check that the models learn. Command: `{cmd}`.",
        "",
        "| model | parameters | steps | train s | next AP | next F1 | new-burn AP | new-burn F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['params']:,} | {r['steps']} | {r['seconds']:.0f} | {r['next_ap']:.3f} | "
            f"{r['next_f1']:.3f} | {r['new_ap']:.3f} | {r['new_f1']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None, help="registry names (default: all)")
    parser.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--decoders", action="store_true", help="also time emberformer with every decoder")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--accuracy", action="store_true", help="accuracy sanity run on sim-small instead")
    parser.add_argument("--steps", type=int, default=300, help="optimisation steps per model (--accuracy)")
    parser.add_argument("--val-samples", type=int, default=96, help="validation samples during training")
    args = parser.parse_args()

    if args.accuracy:
        names = args.models or ["copylast", "unets", "utae", "emberformer"]
        rows = accuracy(names, args.steps, args.threads[0], args.val_samples)
        cmd = (
            f"python benchmarks/bench_models.py --accuracy --models {' '.join(names)} --steps {args.steps} "
            f"--threads {args.threads[0]} --write"
        )
        text = render_accuracy(rows, cmd)
        print(text)
        if args.write:
            write_section(text, start=ACC_START, end=ACC_END)
        return

    from emberxr.registry import list_decoders, list_models
    from emberxr.testing import make_batch

    batch = make_batch(B=8, T=8, H=128, W=128, in_static=8, patch_size=16, hist_lens=[8] * 8, invalid_cols=0)
    base = {"in_static": 8, "patch_size": 16, "max_history": 8}
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
            row["params"], row["s"][t] = bench_one(name, batch, t, args.repeats, {**base, **extra})
        print(
            f"{label:24s} params={row['params']:>10,}  "
            + "  ".join(f"{t}thr={row['s'][t]:.3f}s" for t in args.threads),
            flush=True,
        )
        rows.append(row)
    cmd = "python benchmarks/bench_models.py " + " ".join(
        ([f"--models {' '.join(args.models)}"] if args.models else [])
        + [f"--threads {' '.join(map(str, args.threads))}", f"--repeats {args.repeats}"]
        + (["--decoders"] if args.decoders else [])
        + ["--write"]
    )
    text = render(rows, args.threads, cmd)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
