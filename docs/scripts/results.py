"""The results in the docs, generated from the committed result files (``make results``).

Usage::

    .venv/bin/python docs/scripts/results.py           # print every block
    .venv/bin/python docs/scripts/results.py --write   # rewrite the blocks (make results)

Each study's results are two committed files in ``docs/results/<study>/``: ``runs.csv`` (one row
per arm, seed, split, target, group and metric) and ``study.json`` (arms, seeds, budget, data) —
what :func:`emberxr.study.run_study` (``emberxr ablate``, ``emberxr benchmark sim-shift``) and
``emberxr demo`` write to their output folders. Every table is rendered from them by the functions
of :mod:`emberxr.study`, with its caption (data, seeds, budget, hardware, wall time);
:data:`BLOCKS` lists where each goes. ``tests/study/test_results_docs.py`` fails when a block in a
doc differs from what :func:`render` makes of the committed files.

A study without committed files renders as a note with the command that measures it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from emberxr.doc_blocks import replace_block

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"

#: study folder -> (command that measures it, estimated time on the 2-core reference CPU: from the
#: demo's measured 2000-step fits, 98 s U-Net-S, 346 s U-TAE, 113 s EmberFormer, plus evaluation)
STUDIES: dict[str, tuple[str, str]] = {
    "demo": (
        "make demo && mkdir -p docs/results/demo && cp outputs/runs.csv outputs/study.json docs/results/demo/",
        "10–16 min",
    ),
    "sim-shift": (
        "emberxr benchmark sim-shift --model unets utae emberformer --seeds 0 1 2 --steps 1000 --out outputs/sim-shift && "
        "mkdir -p docs/results/sim-shift && cp outputs/sim-shift/runs.csv outputs/sim-shift/study.json "
        "docs/results/sim-shift/",
        "about 45 min: 9 runs of 1000 steps",
    ),
    "sim-shift-tuned": (
        "for m in unets utae emberformer; do emberxr sweep sweep_$m --trials 8 --seed 0 --data "
        "sim-wide-small-shift -o sweeps/shift_$m --no-wandb data.tile_size=64 data.max_val_samples=96 "
        "training.epochs=3 training.steps_per_epoch=80 training.num_threads=1 && emberxr sweep --report "
        "sweeps/shift_$m; done && emberxr benchmark sim-shift --tuned sweeps/shift_unets sweeps/shift_utae "
        "sweeps/shift_emberformer --seeds 0 1 2 --steps 1000 --out outputs/sim-shift-tuned && mkdir -p "
        "docs/results/sim-shift-tuned && cp outputs/sim-shift-tuned/runs.csv outputs/sim-shift-tuned/study.json "
        "docs/results/sim-shift-tuned/",
        "about 3 h: three 8-trial sweeps, then 9 runs of 1000 steps",
    ),
    "ablate-emberformer": (
        "emberxr pretrain --decoder unet --data sim-wide-small --steps 500 && emberxr ablate ablate_emberformer "
        "--seeds 0 1 2 --steps 500 --out "
        "outputs/ablate-emberformer && mkdir -p docs/results/ablate-emberformer && cp "
        "outputs/ablate-emberformer/runs.csv outputs/ablate-emberformer/study.json docs/results/ablate-emberformer/",
        "about 2 h: 14 arms × 3 seeds of 500 steps",
    ),
    "ablate-decoder-widths": (
        "emberxr ablate ablate_decoder_widths --out outputs/ablate-decoder-widths && mkdir -p "
        "docs/results/ablate-decoder-widths && cp outputs/ablate-decoder-widths/runs.csv "
        "outputs/ablate-decoder-widths/study.json docs/results/ablate-decoder-widths/",
        "about 25 min: 2 arms × 3 seeds of 2000 steps",
    ),
}


def _study(name: str) -> tuple | None:
    """``(runs, meta)`` of a committed study, or None when it is not committed."""
    from emberxr.study import read_study

    folder = RESULTS / name
    if not (folder / "runs.csv").is_file():
        return None
    return read_study(folder)


def _missing(name: str) -> str:
    command, estimate = STUDIES[name]
    return f"*Not measured yet.* Run `{command}` ({estimate} on a 2-core CPU), then `make results`."


def render_demo() -> str:
    """``docs/results.md``, block ``results:demo``: the demo's models on the test split, and by
    history length."""
    from emberxr.study import render_arms, render_markdown

    found = _study("demo")
    if found is None:
        return _missing("demo")
    runs, meta = found
    parts = [render_arms(runs, meta, split="test")]
    by_history = [("new", "f1", "new-burn F1"), ("next", "ap", "next-mask AP")]
    parts += [
        "",
        "By history length (frames available at the issue time), the same runs:",
        "",
        render_markdown(runs, meta, scope="history", split="test", metrics=by_history, caption=False),
    ]
    return "\n".join(parts)


def render_sim_shift() -> str:
    """``docs/results.md``, block ``results:sim-shift``: the skill study on every split."""
    from emberxr.study import render_markdown

    found = _study("sim-shift")
    return _missing("sim-shift") if found is None else render_markdown(*found)


def render_sim_shift_tuned() -> str:
    """``docs/results.md``, block ``results:sim-shift-tuned``: tuned baselines against tuned
    EmberFormer on the shift benchmark (each arm = its sweep's best trial)."""
    from emberxr.study import render_markdown

    found = _study("sim-shift-tuned")
    if found is None:
        return _missing("sim-shift-tuned")
    return render_markdown(*found, metrics=[("new", "f1", "new-burn F1"), ("new", "ap", "new-burn AP")])


def _new_burn_tables(name: str) -> str:
    """The new-burn F1 and AP tables of the committed study ``name`` (or how to measure it)."""
    from emberxr.study import render_markdown

    found = _study(name)
    if found is None:
        return _missing(name)
    return render_markdown(*found, metrics=[("new", "f1", "new-burn F1"), ("new", "ap", "new-burn AP")])


def render_ablation() -> str:
    """``docs/results.md``, block ``results:ablation``: the EmberFormer ablations."""
    return _new_burn_tables("ablate-emberformer")


def render_decoder_widths() -> str:
    """``docs/results.md``, block ``results:decoder-widths``: the light decoder's widths at the
    demo's budget."""
    return _new_burn_tables("ablate-decoder-widths")


#: sweeps whose reports are committed in ``docs/results/sweeps/<name>/``: ``trials.csv`` and
#: ``best.json`` from ``emberxr sweep --report``, and ``run.json`` (the command, its wall time and
#: the load it ran under)
SWEEPS = ("sweep_unets", "sweep_utae", "sweep_emberformer")
SWEEP_COMMAND = (
    "emberxr sweep sweep_<model> --trials 8 --seed 0 --data sim-wide-small --no-wandb data.tile_size=64 "
    "data.max_val_samples=96 training.epochs=3 training.steps_per_epoch=80 training.num_threads=1"
)


def _render_sweeps(folder: Path, data: str, missing: str) -> str:
    import json

    import pandas as pd

    from emberxr.study import format_duration

    rows, commands = [], []
    for name in SWEEPS:
        sub = folder / name
        if not (sub / "trials.csv").is_file():
            continue
        df = pd.read_csv(sub / "trials.csv")
        run = json.loads((sub / "run.json").read_text()) if (sub / "run.json").is_file() else {}
        done = df[df["state"] == "complete"]
        counts = df["state"].value_counts().to_dict()
        params = [c for c in df.columns if c.startswith("param:")]
        if len(done):
            best = done.sort_values("value", ascending=False).iloc[0]
            shown = ", ".join(
                f"`{c[6:]}={best[c]:.3g}`" if isinstance(best[c], float) else f"`{c[6:]}={best[c]}`"
                for c in params
                if not pd.isna(best[c])
            )
            value, spread = f"{best['value']:.3f}", f"{done['value'].min():.3f}–{done['value'].max():.3f}"
        else:
            shown, value, spread = "—", "—", "—"
        states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        model = name.removeprefix("sweep_")
        rows.append(f"| `{model}` | {len(df)} ({states}) | {value} | {spread} | {shown} |")
        if run:
            commands.append(
                f"- `{model}`: `{run['command']}` — {format_duration(run['wall_seconds'])} wall, {run['load']}"
            )
    if not rows:
        return missing
    head = [
        "Optuna TPE over each model's shipped search space, Hyperband pruning after 2 of 3 epochs; "
        f"3 × 80 steps of the sampled batch size per trial on 64 × 64 crops of `{data}`'s `train` "
        "split; objective: validation new-burn AP on 96 fixed samples of its `val` split (the test "
        "splits are never seen); 2-core CPU, 1 torch thread per trial.",
        "",
        "| model | trials | best val new-burn AP | range over complete trials | best trial's parameters |",
        "|:--|:--|--:|:--|:--|",
    ]
    return "\n".join([*head, *rows, "", "Commands:", "", *commands])


def render_sweeps() -> str:
    """``docs/results.md``, block ``results:sweeps``: what each model's sweep on ``sim-wide-small``
    tried and found."""
    return _render_sweeps(
        RESULTS / "sweeps",
        "sim-wide-small",
        f"*Not measured yet.* Run `{SWEEP_COMMAND}` for each model, then `emberxr sweep --report "
        "sweeps/sweep_<model>`, copy `trials.csv` and `best.json` to `docs/results/sweeps/sweep_<model>/`, "
        "then `make results`.",
    )


def render_sweeps_shift() -> str:
    """``docs/results.md``, block ``results:sweeps-shift``: the sweeps on the shift catalog's own
    train/val splits whose best trials are the tuned arms of ``results:sim-shift-tuned``."""
    return _render_sweeps(
        RESULTS / "sweeps-shift",
        "sim-wide-small-shift",
        "*Not measured yet.* Run `"
        + SWEEP_COMMAND.replace(
            "--data sim-wide-small", "--data sim-wide-small-shift -o sweeps/shift_<model>"
        )
        + "` for each model, then `emberxr sweep --report sweeps/shift_<model>`, copy `trials.csv` and "
        "`best.json` to `docs/results/sweeps-shift/sweep_<model>/`, then `make results`.",
    )


def render_readme() -> str:
    """``README.md``, block ``results:readme``: the demo's table (one seed, said so) and, once
    measured, the skill study's in-regime means ± std over seeds."""
    from emberxr.study import render_arms

    parts = []
    demo = _study("demo")
    if demo is None:
        parts.append(_missing("demo"))
    else:
        runs, meta = demo
        n = runs["seed"].nunique()
        what = "one run per model (seed " + ", ".join(map(str, sorted(runs["seed"].unique()))) + ")"
        parts += [
            f"**`make demo`, {what if n == 1 else f'{n} seeds per model, mean ± std'}** on the test split of "
            f"`{meta.get('data')}`" + (" — a single run shows no seed spread:" if n == 1 else ":"),
            "",
            render_arms(runs, meta, split="test"),
        ]
    shift = _study("sim-shift")
    parts += ["", "**Over seeds** (mean ± std; the shift benchmark's in-regime `test` split):", ""]
    if shift is None:
        parts.append(_missing("sim-shift"))
    else:
        parts.append(render_arms(*shift, split="test"))
    return "\n".join(parts)


#: (doc, block name) -> the function rendering its text
BLOCKS: dict[tuple[str, str], Callable[[], str]] = {
    ("README.md", "results:readme"): render_readme,
    ("docs/results.md", "results:demo"): render_demo,
    ("docs/results.md", "results:sim-shift"): render_sim_shift,
    ("docs/results.md", "results:ablation"): render_ablation,
    ("docs/results.md", "results:decoder-widths"): render_decoder_widths,
    ("docs/results.md", "results:sweeps"): render_sweeps,
    ("docs/results.md", "results:sweeps-shift"): render_sweeps_shift,
    ("docs/results.md", "results:sim-shift-tuned"): render_sim_shift_tuned,
}


def render(doc: str, name: str) -> str:
    """The text of block ``name`` of ``doc`` (a path relative to the repository root)."""
    return BLOCKS[(doc, name)]()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the blocks in the docs")
    args = parser.parse_args()
    for (doc, name), fn in BLOCKS.items():
        text = fn()
        if args.write:
            changed = replace_block(ROOT / doc, name, text)
            print(f"{doc} [{name}]: {'updated' if changed else 'unchanged'}")
        else:
            print(f"<!-- {doc} {name} -->\n{text}\n")


if __name__ == "__main__":
    main()
