"""``emberxr ablate CONFIG``: train every arm of a study file with the same data, budget and seeds.

CONFIG is a study YAML (a path, or the name of a shipped one such as ``ablate_emberformer``; the
format is in ``emberxr/study.py``). Every arm's configuration is checked before anything trains
(a ``pretrained: true`` arm without its weight file stops the study at once). Writes to OUT
(default ``outputs/<study name>``): ``runs.csv`` (every run's metrics), ``summary.csv`` and
``summary.md`` (mean ± std over seeds, the paired per-seed difference to the reference arm with its
95 % interval, and which differences exceed the seed spread), ``study.json`` and one run directory
per arm and seed. Run it again to resume: finished runs are reused.

    emberxr ablate ablate_emberformer
    emberxr ablate ablate_emberformer --arms reference no-wind --seeds 0 1 2 --steps 500
    emberxr ablate my_study.yaml --dry-run
"""

from __future__ import annotations

import argparse


def add_study_options(p: argparse.ArgumentParser, data: bool = True) -> None:
    """The options every study command shares (``ablate``, ``benchmark sim-shift``); ``data``
    adds ``--data`` (training data instead of the study file's)."""
    p.add_argument(
        "--seeds", type=int, nargs="+", metavar="S", help="seeds of every arm (default: the file's)"
    )
    p.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="training steps of every run (split into at most the file's epochs; default: the file's budget)",
    )
    if data:
        p.add_argument("--data", help="training data instead of the file's (catalog name/path, event store)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: outputs/<study name>)")
    p.add_argument(
        "--dry-run", action="store_true", help="check every arm and the data, print the plan, train nothing"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar over the runs")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ablate`` sub-command."""
    p = subparsers.add_parser(
        "ablate",
        help="arms x seeds with the same data and budget: mean ± std, paired differences (study YAML)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "config",
        metavar="CONFIG",
        help="study YAML, or a shipped one's name (ablate_emberformer, ablate_decoder_widths)",
    )
    p.add_argument(
        "--arms", nargs="+", metavar="ARM", help="run only these arms (and the references they need)"
    )
    add_study_options(p)
    p.set_defaults(func=run)


def apply_options(spec: object, args: argparse.Namespace) -> object:
    """The study with the command line's seeds, steps and data."""
    from emberxr.study import split_steps

    if args.seeds:
        spec.seeds = list(args.seeds)
    if getattr(args, "data", None):
        spec.data = args.data
    if args.steps is not None:
        budget = {
            k: v for k, v in spec.budget.items() if k.split(".")[-1] not in ("epochs", "steps_per_epoch")
        }
        epochs = spec.budget.get("epochs", spec.budget.get("training.epochs", 20))
        budget["epochs"], budget["steps_per_epoch"] = split_steps(args.steps, int(epochs))
        spec.budget = budget
    return spec


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr ablate``."""
    from pathlib import Path

    from emberxr.study import load_study_spec

    spec = load_study_spec(args.config)
    if args.arms:
        spec = spec.select(args.arms)
    spec = apply_options(spec, args)
    out = Path(args.out or Path("outputs") / spec.name)
    runs = spec.run(out, show_progress=not args.no_progress, dry_run=args.dry_run)
    if args.dry_run:
        return 0
    print((out / "summary.md").read_text())
    print(
        f"[emberxr ablate] {len(runs)} rows -> {out / 'runs.csv'}; tables -> {out / 'summary.md'}, {out / 'summary.csv'}"
    )
    return 0
