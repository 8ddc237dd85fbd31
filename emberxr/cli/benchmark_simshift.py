"""``emberxr benchmark sim-shift``: in-regime vs held-out-regime skill on ``sim-wide-small-shift``.

The shift catalog holds out regimes: its ``train`` / ``val`` / ``test`` splits share one regime
distribution, while ``test-windy`` (the windiest fifth), ``test-dry`` (the driest fifth),
``test-real-terrain`` and ``test-<style>`` (a landscape style never seen in training) hold events
of regimes that no training event has. The benchmark trains each ``--model`` on train/val (or
takes a ``--checkpoint``) and scores next-mask and new-burn F1 and AP on ``test`` and on every
held-out split, also pooled by regime bin (wind, dead fuel moisture, style, terrain, ignition).

Training goes through the study runner: every model and seed is one run with the same data,
budget and seeds (the shipped study ``study_simshift``: the demo's settings, 2000 steps of batch
8; ``--steps`` changes the budget of every run). Several models or seeds give mean ± std over
seeds and the paired per-seed difference to U-TAE (the reference) with its 95 % interval. Tables
go to OUT (default ``outputs/sim-shift``): ``shift.md``, ``summary.md``, ``summary.csv``,
``runs.csv``; a second call resumes (finished runs are reused).

    emberxr benchmark sim-shift --model emberformer --steps 500
    emberxr benchmark sim-shift --model unets utae emberformer --seeds 0 1 2
    emberxr benchmark sim-shift --checkpoint outputs/runs/emberformer/model.pt

Tuned arms: ``--tuned SWEEP ...`` takes each sweep folder's best trial (``best.json``, from
``emberxr sweep --report``) as that model's configuration, so tuned baselines meet tuned
EmberFormer under one budget. Tune on the shift catalog's own train/val splits
(``emberxr sweep sweep_utae --data sim-wide-small-shift``), never on a held-out regime. The
study's shared budget (steps, batch size) wins over a tuned batch size.

    emberxr benchmark sim-shift --tuned sweeps/shift_unets sweeps/shift_utae sweeps/shift_emberformer
"""

from __future__ import annotations

import argparse

CATALOG = "sim-wide-small-shift"
STUDY = "study_simshift"
IN_REGIME = "test"
FIT_SPLITS = ("train", "val")


def register(group: argparse._SubParsersAction) -> None:
    """Add ``benchmark sim-shift``."""
    from emberxr.cli.ablate import add_study_options

    p = group.add_parser(
        "sim-shift",
        help="train (or load) models; in-regime vs held-out-regime metrics on sim-wide-small-shift",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        nargs="+",
        metavar="NAME",
        help="model(s) to train (registry names, e.g. unets utae emberformer)",
    )
    p.add_argument(
        "--tuned",
        nargs="+",
        metavar="SWEEP",
        help="sweep folders (or best.json files): train each tuned model with its best trial's values",
    )
    p.add_argument("--checkpoint", metavar="CKPT", help="evaluate this checkpoint instead of training")
    p.add_argument("--catalog", default=CATALOG, help=f"shift catalog name or YAML (default {CATALOG})")
    p.add_argument(
        "--config", default=STUDY, help=f"study YAML with the shared settings and budget (default {STUDY})"
    )
    add_study_options(p, data=False)
    p.set_defaults(func=run)


def eval_splits(splits: list[str]) -> list[str]:
    """The evaluated splits of a shift catalog: the in-regime test split, then every held-out one."""
    from emberxr.errors import CatalogError

    missing = [s for s in (*FIT_SPLITS, IN_REGIME) if s not in splits]
    held_out = [s for s in splits if s not in (*FIT_SPLITS, IN_REGIME)]
    if missing or not held_out:
        raise CatalogError(
            f"a shift catalog needs the splits train, val, test and at least one held-out split "
            f"(test-windy, test-dry, ...); this one has {', '.join(splits)}. Fix: use "
            f"{CATALOG!r} or a catalog with held-out splits"
        )
    return [IN_REGIME, *held_out]


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr benchmark sim-shift``."""
    from pathlib import Path

    from emberxr.catalog import open_catalog
    from emberxr.errors import ConfigError, Problem

    if args.checkpoint and (args.seeds or args.steps is not None):
        raise ConfigError(
            [
                Problem(
                    "--seeds/--steps set training, but --checkpoint is evaluated as it is", "leave them out"
                )
            ],
            subject="benchmark sim-shift",
        )
    if args.checkpoint and args.tuned:
        raise ConfigError(
            [Problem("--tuned trains models, but --checkpoint is evaluated as it is", "give one of them")],
            subject="benchmark sim-shift",
        )
    if not args.checkpoint and not args.model and not args.tuned:
        raise ConfigError(
            [
                Problem(
                    "no model to train",
                    "give --model NAME [NAME ...], --tuned SWEEP ... or --checkpoint CKPT",
                )
            ],
            subject="benchmark sim-shift",
        )
    cat = open_catalog(args.catalog)
    cat.check_data()
    splits = eval_splits(list(cat))
    out = Path(args.out or "outputs/sim-shift")
    if args.checkpoint:
        runs, meta = _evaluate_checkpoint(args, cat, splits)
        if args.dry_run:
            return 0
    else:
        runs, meta = _train(args, cat, splits, out)
        if args.dry_run:
            return 0
    from emberxr.atomic import atomic_path
    from emberxr.study import render_splits

    text = render_splits(runs, meta, baseline=IN_REGIME)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "shift.md") as tmp:
        Path(tmp).write_text(f"# sim-shift: in-regime vs held-out regimes\n\n{text}\n")
    if args.checkpoint:
        with atomic_path(out / "runs.csv") as tmp:
            runs.to_csv(tmp, index=False)
    print(text)
    print(f"[emberxr benchmark sim-shift] tables -> {out}/")
    return 0


def _train(args: argparse.Namespace, cat: object, splits: list[str], out: object) -> tuple:
    from emberxr.cli.ablate import apply_options
    from emberxr.study import Arm, load_study_spec, read_study

    spec = load_study_spec(args.config)
    known = {a.name: a for a in spec.arms}
    arms = {m: known.get(m) or Arm(m, m) for m in dict.fromkeys(args.model or ())}
    for arm in tuned_arms(args.tuned or (), spec):  # the tuned configuration replaces the default arm
        arms[arm.name] = arm
    spec.arms = list(arms.values())
    names = [a.name for a in spec.arms]
    spec.reference = "utae" if "utae" in names else names[0]
    spec.eval = splits
    spec.by = "regime"
    apply_options(spec, args)
    spec.data = cat
    runs = spec.run(out, show_progress=not args.no_progress, dry_run=args.dry_run)
    return (runs, {}) if args.dry_run else read_study(out)


def tuned_arms(sources: list[str] | tuple[str, ...], spec: object) -> list:
    """One study arm per sweep: the tuned model under its registry name, with its best values.

    Keys of the study's shared budget (and the machine settings) are left out, so every arm keeps
    the same budget; two sweeps of one model are an error.
    """
    from emberxr.errors import ConfigError, Problem
    from emberxr.study import Arm
    from emberxr.sweep.report import tuned_overrides
    from emberxr.sweep.spec import MACHINE_KEYS
    from emberxr.train.config import keyword_overrides

    budget = tuple(keyword_overrides(dict(spec.budget), None))  # as dotted keys, as the study reads it
    out: dict[str, Arm] = {}
    problems = []
    for src in sources:
        model, values = tuned_overrides(src, exclude=(*budget, "training.batch_size", *MACHINE_KEYS))
        if model in out:
            problems.append(Problem(f"two sweeps tuned {model!r} ({src})", "give one sweep per model"))
            continue
        out[model] = Arm(model, model, {"model.name": model, **values})
    if problems:
        raise ConfigError(problems, subject="benchmark sim-shift")
    return list(out.values())


def _evaluate_checkpoint(args: argparse.Namespace, cat: object, splits: list[str]) -> tuple:
    import time

    import pandas as pd

    import emberxr
    from emberxr.errors import ConfigError, Problem
    from emberxr.study import RUN_COLUMNS, evaluation_rows, hardware

    fitted = emberxr.load(args.checkpoint)
    if args.model and list(args.model) != [fitted.model_name]:
        raise ConfigError(
            [
                Problem(
                    f"--model {' '.join(args.model)} but the checkpoint holds {fitted.model_name!r}",
                    "leave --model out with --checkpoint, or give the checkpoint's model",
                )
            ],
            subject="benchmark sim-shift",
        )
    seed = int(fitted.config["training"]["seed"])
    if args.dry_run:
        print(f"[emberxr benchmark sim-shift] would evaluate {fitted!r} on {', '.join(splits)}")
        return None, {}
    rows = []
    t0 = time.perf_counter()
    for split in splits:
        table = fitted.evaluate(cat, split=split, per_event=False, by="regime", progress=not args.no_progress)
        rows += evaluation_rows(table, arm=fitted.model_name, seed=seed, split=split)
    runs = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    runs["model"] = fitted.model_name
    runs["steps"] = int(fitted.steps or 0)
    # the checkpoint's own training time; evaluation measured here (on the CPU, as evaluate runs)
    runs["train_seconds"] = runs["fit_seconds"] = float(fitted.train_seconds or 0.0)
    runs["eval_seconds"] = time.perf_counter() - t0
    runs["hardware"] = hardware("cpu")
    meta = {
        "name": "sim-shift",
        "data": cat.name,
        "eval_events": {s: len(cat.event_ids(s)) for s in splits},
        "budget": {},
        "reference": fitted.model_name,
    }
    return runs, meta
