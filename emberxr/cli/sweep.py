"""``emberxr sweep CONFIG``: a hyper-parameter sweep from a YAML in W&B's sweep format.

The same YAML runs offline with Optuna (default) or on a W&B server::

    emberxr sweep sweep_emberformer --trials 12 training.epochs=6 training.steps_per_epoch=60
    emberxr sweep sweep_utae --workers 2                    # two trial processes, one study
    emberxr sweep sweep_unets --storage journal:/shared/unets.log --study unets-1   # many machines
    emberxr sweep sweep_emberformer --backend wandb          # needs WANDB_API_KEY
    emberxr sweep sweep_emberformer --dry-run                # check it, show the Optuna space
    emberxr sweep --report sweeps/sweep_emberformer          # best trials + PNG plots

Running the same command again continues the study up to its trial count (interrupted trials are
queued again). key=value words are fixed overrides for every trial. See docs/sweeps.md.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` sub-command."""
    p = subparsers.add_parser(
        "sweep",
        help="hyper-parameter sweep from a W&B sweep YAML (offline with Optuna, or on W&B)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "config",
        nargs="?",
        metavar="CONFIG",
        help="sweep YAML (configs/sweep_*.yaml) or a shipped name such as 'sweep_emberformer'",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="fixed overrides for every trial, e.g. training.epochs=6 training.steps_per_epoch=60",
    )
    p.add_argument(
        "--backend",
        choices=("optuna", "wandb"),
        default="optuna",
        help="optuna: offline, trials in this process (default); wandb: a W&B server samples",
    )
    p.add_argument(
        "--trials", type=int, help="trials the study holds when done (default: run_cap, or the grid's size)"
    )
    p.add_argument("--workers", type=int, default=1, help="trial processes run in parallel here (default 1)")
    p.add_argument(
        "--storage",
        help="study storage: a SQLAlchemy URL (postgresql://..., sqlite:///f.db) or journal:PATH "
        "(default: SQLite in the sweep folder)",
    )
    p.add_argument("--study", help="study name (default: the YAML's name)")
    p.add_argument("-o", "--output-dir", help="sweep folder (default: sweeps/<study>)")
    p.add_argument(
        "--data", help="catalog name/path or event store the trials train on (default: the config's)"
    )
    p.add_argument("--device", help="training.device of every trial on this machine: cpu, cuda, cuda:N, mps")
    p.add_argument("--seed", type=int, help="sampler seed (reproducible proposals with one worker)")
    p.add_argument("--no-wandb", action="store_true", help="turn W&B logging of the trials off")
    p.add_argument("--dry-run", action="store_true", help="check the YAML and print the search space only")
    p.add_argument(
        "--report",
        metavar="STUDY",
        help="summarise a sweep folder (or, with --storage, a study name): best trials, trials.csv, PNG plots",
    )
    p.add_argument("--top", type=int, default=5, help="best trials printed by --report (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr sweep``."""
    from emberxr.errors import ConfigError, Problem

    if args.report:
        if args.config or args.overrides:
            raise ConfigError(
                [Problem("--report takes no CONFIG", "run `emberxr sweep --report STUDY` alone")]
            )
        from emberxr.sweep.report import sweep_report

        rep = sweep_report(args.report, storage=args.storage, study=args.study, output_dir=args.output_dir)
        print(rep.text(args.top))
        for f in rep.files:
            print(f"wrote {f}")
        return 0
    if not args.config:
        raise ConfigError(
            [
                Problem(
                    "no sweep YAML given", "emberxr sweep CONFIG (e.g. sweep_emberformer), or --report STUDY"
                )
            ]
        )
    from emberxr.sweep.spec import load_sweep

    spec = load_sweep(args.config, backend=args.backend, overrides=args.overrides)
    if args.dry_run:
        _print_space(spec)
        return 0
    if args.backend == "wandb":
        from emberxr.sweep.wandb_backend import wandb_sweep

        if args.no_wandb:
            raise ConfigError([Problem("--no-wandb with --backend wandb", "drop one of them")])
        wandb_sweep(
            spec,
            overrides=args.overrides,
            trials=args.trials,
            workers=args.workers,
            data=args.data,
            device=args.device,
        )
        return 0
    from emberxr.sweep.optuna_backend import run_sweep
    from emberxr.sweep.report import sweep_report

    study = run_sweep(
        spec,
        trials=args.trials,
        storage=args.storage,
        study=args.study,
        output_dir=args.output_dir,
        workers=args.workers,
        data=args.data,
        device=args.device,
        seed=args.seed,
        no_wandb=args.no_wandb,
    )
    folder = args.output_dir or f"sweeps/{study.study_name}"
    rep = sweep_report(folder)
    print(rep.text(args.top))
    print(
        f"report: {folder} (trials.csv, best.json, "
        + ", ".join(f.name for f in rep.files if f.suffix == ".png")
        + ")"
    )
    return 0


def _print_space(spec: object) -> None:
    grid = spec.method == "grid"
    print(f"sweep {spec.name!r}: method {spec.method}, metric {spec.metric} ({spec.goal})")
    print(f"trains: emberxr fit {spec.config} " + " ".join(f"{k}={v}" for k, v in spec.fixed.items()))
    if spec.hyperband:
        hb = spec.hyperband
        print(
            f"pruning: Hyperband (min_iter {hb['min_iter']}, max_iter {hb['max_iter'] or 'training.epochs'}, eta {hb['eta']})"
        )
    if spec.run_cap:
        print(f"run_cap: {spec.run_cap}")
    if grid:
        print(f"grid: {spec.grid_size()} points")
    width = max(len(p.name) for p in spec.params)
    for p in spec.params:
        print(f"  {p.name:<{width}}  {p.kind:<22}  -> {p.describe(grid)}")
