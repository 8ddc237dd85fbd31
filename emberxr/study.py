"""Studies: several arms trained on the same data with the same budget and seeds, compared honestly.

An *arm* is one training configuration (a model and its overrides); a *study* trains every arm
once per seed — each run is one :func:`emberxr.fit` with the very same data, step budget and seed
— and evaluates every run on every evaluation split. Ablations (``emberxr ablate``), the skill
study of the shift benchmark (``emberxr benchmark sim-shift``) and anything "A vs B over seeds"
go through :func:`run_study`::

    from emberxr.study import Arm, run_study, summarize
    arms = [Arm("reference"), Arm("no-wind", overrides={"model.use_wind": False})]
    runs = run_study(arms, [0, 1, 2], "sim-wide-small", ["test"], "outputs/wind",
                     config="emberformer", epochs=20, steps_per_epoch=100)
    table = summarize(runs, reference="reference")

Layout of ``output_dir``::

    study.json                      what was run: arms, seeds, budget, data, by (the table captions)
    runs.csv                        the long table of every finished run (see run_study)
    summary.csv, summary.md         summarize() and render_markdown() of runs.csv
    runs/<arm>/seed-<s>/            the run directory of emberxr.fit (best.pt, last.pt, model.pt)
        run.json                    the run's settings (training data ids, budget, overrides, seed,
                                    and what they resolve to: the full configuration, the model's
                                    constructor arguments with every default)
        result.json                 its metrics and timings, written when the run is done

A study that is interrupted and started again reuses every finished run (``result.json``), only
evaluates a run whose training finished (``model.pt``), and resumes an interrupted training from
its last complete epoch (``last.pt``). A run directory holding a run of other settings is an
error, never overwritten in silence. "Other settings" includes the library's defaults: a run's key
holds the resolved configuration and model (:func:`emberxr.train.config.resolved_settings`), so
a study resumed after an upgrade that changed a default (a decoder's widths, a training default)
is refused, with the changed values named, rather than mixing runs of two versions. Runs written
before the key held them are reused with a warning.

YAML study files (``emberxr/configs/ablate_emberformer.yaml``, ``study_simshift.yaml``) are read by
:func:`load_study_spec`; their format is described there.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emberxr.errors import ConfigError, Problem, WeightsError

__all__ = [
    "DEFAULT_METRICS",
    "RUN_COLUMNS",
    "Arm",
    "StudySpec",
    "evaluation_rows",
    "format_duration",
    "hardware",
    "load_study_spec",
    "provenance",
    "read_study",
    "render_arms",
    "render_markdown",
    "render_splits",
    "run_study",
    "save_study",
    "split_steps",
    "summarize",
    "validate_arms",
    "write_summary",
]

#: the columns of the long table (:func:`run_study`), in order
RUN_COLUMNS = (
    "arm",
    "seed",
    "split",
    "target",
    "scope",
    "group",
    "metric",
    "value",
    "n_samples",
    "threshold",
    "model",
    "steps",
    "train_seconds",
    "fit_seconds",
    "eval_seconds",
    "hardware",
)
#: the metrics of the evaluation table kept in the long table
METRICS = ("precision", "recall", "f1", "iou", "ap")
#: the (target, metric, caption) tables :func:`render_markdown` shows by default
DEFAULT_METRICS: tuple[tuple[str, str, str], ...] = (
    ("new", "f1", "new-burn F1"),
    ("new", "ap", "new-burn AP"),
    ("next", "f1", "next-mask F1"),
    ("next", "ap", "next-mask AP"),
)
#: shared settings that are not part of the training budget (left out of table captions)
_NOT_BUDGET = ("training.progress", "training.num_threads", "training.device", "training.output_dir")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_RUN_FILE, _RESULT_FILE, _STUDY_FILE = "run.json", "result.json", "study.json"


@dataclass(frozen=True)
class Arm:
    """One arm of a study: a model and the configuration values that make this arm.

    Parameters
    ----------
    name
        Arm name: letters, digits, ``_ . -`` (it names the run directories).
    model
        Registry name; None keeps the study configuration's ``model.name``.
    overrides
        Configuration values of this arm: dotted keys (``{"model.use_wind": False,
        "data.max_history": 3}``) or ``fit`` keywords (``{"num_layers": 1}``).
    """

    name: str
    model: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------
def run_study(
    arms: Sequence[Arm],
    seeds: Sequence[int],
    data: Any,
    eval_data: Mapping[str, Any] | Sequence[str] | None = None,
    output_dir: str | os.PathLike = "outputs/study",
    *,
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    by: str | None = None,
    name: str | None = None,
    reference: str | Mapping[str, str] | None = None,
    show_progress: bool = True,
    dry_run: bool = False,
    **budget: Any,
) -> Any:
    """Train every arm once per seed with the same data and budget; evaluate each run on every split.

    Every configuration is validated before anything trains (all arms, all problems at once); a
    ``pretrained: true`` arm whose weight file is missing fails here with
    :class:`~emberxr.errors.WeightsError`.

    Parameters
    ----------
    arms
        The arms (distinct names).
    seeds
        ``training.seed`` of the runs; every arm runs every seed.
    data
        Training data, anything :func:`emberxr.fit` accepts; its ``train`` / ``val`` splits are
        what every run trains and validates on (data without splits is split by event, the same
        way for every run).
    eval_data
        Evaluation splits: a mapping ``label -> data`` (each value anything ``fit`` accepts; a
        catalog or split dict gives its split named ``label``, or pass ``(data, split)``), a list
        of split names of ``data``, or None for every split of ``data`` besides train and val.
    output_dir
        Where the study writes (see the module docstring); a second call resumes.
    config
        Base training configuration of every arm (YAML path or name, mapping, or None).
    by
        ``"regime"`` adds regime-bin rows (:func:`emberxr.train.evaluate.regime_bins`).
    name
        Study name (recorded in ``study.json``; default: the folder name).
    reference
        Reference arm(s) for ``summary.csv`` / ``summary.md`` (see :func:`summarize`; default:
        the first arm).
    show_progress
        A progress bar over the runs (the runs' own bars follow ``training.progress``).
    dry_run
        Check everything (arms, data, output folder), print the plan and return the rows of the
        runs already finished, without training or writing anything.
    **budget
        ``fit`` keywords or dotted keys every run shares: the training budget (``epochs``,
        ``steps_per_epoch``, ``batch_size`` ...). An arm may not change them. Early stopping is off
        (``training.early_stopping: null``: every run trains its whole budget) unless the budget
        sets it.

    Returns
    -------
    pandas.DataFrame
        The long table, one row per (arm, seed, split, target, scope, group, metric):
        :data:`RUN_COLUMNS`. ``scope`` is ``all`` (the whole split), ``history`` (history-length
        buckets) or ``regime`` (with ``by="regime"``); ``value`` the metric; ``steps``,
        ``train_seconds`` (the training loop), ``fit_seconds`` (all of ``fit``), ``eval_seconds``
        and ``hardware`` describe the run.

    Raises
    ------
    ConfigError
        Bad arms, seeds or budget, any arm's invalid configuration, unreadable data, or an output
        folder holding runs made with other settings.
    WeightsError
        An arm needs a weight file that does not exist (and nothing else is wrong).
    """
    import pandas as pd

    from emberxr.data.sources import SPLITS, resolve_splits
    from emberxr.progress import progress
    from emberxr.train.config import resolved_settings

    seeds = _check_seeds(seeds)
    base = _base_config(config)
    budget_keys = _budget(budget, base)
    cfgs = validate_arms(arms, seeds, base, budget_keys)
    refs = _references(arms, reference)
    splits = resolve_splits(data, allowed=None, required=("train",))
    train = {k: v for k, v in splits.items() if k in SPLITS[:2]}
    evals = _eval_events(eval_data, splits)
    out = Path(output_dir)
    data_ids = {k: _ids(v) for k, v in train.items()}
    eval_key = {"splits": {k: _ids(v) for k, v in evals.items()}, "by": by}
    plan = []  # (arm, seed, run directory, rows of a finished run or None), all checked first
    unverified: list[Path] = []
    refused: list[Problem] = []
    for arm in arms:
        resolved = resolved_settings(cfgs[arm.name], leave_out=("training.seed",))  # seed: its own key
        for seed in seeds:
            rdir = out / "runs" / arm.name / f"seed-{seed}"
            fit_key = {
                "arm": arm.name,
                "model": arm.model,
                "overrides": _jsonable(arm.overrides),
                "budget": _jsonable(budget_keys),
                "config": _jsonable(base),
                "seed": seed,
                "data": data_ids,
                "resolved": resolved,
            }
            run = _read_json(rdir / _RUN_FILE)  # what the directory holds, read once
            fit_key = _run_key(rdir, run, fit_key, unverified)
            try:
                plan.append((arm, seed, rdir, fit_key, _finished(rdir, run, fit_key, eval_key)))
            except ConfigError as exc:  # every run of other settings is named, not only the first
                refused += exc.problems
    if refused:
        raise ConfigError(refused, subject="study")
    if unverified:
        warnings.warn(
            f"{len(unverified)} run(s) in {out / 'runs'} were written by an emberxr that did not record "
            "the resolved settings: they are reused, but whether the library's defaults changed since "
            "they trained cannot be checked (delete a run directory to train it again)",
            stacklevel=2,
        )
    if dry_run:
        return _print_plan(plan, evals, out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": name or out.resolve().name,
        "data": _label(data),
        "train_events": {k: len(v) for k, v in train.items()},
        "eval_events": {k: len(v) for k, v in evals.items()},
        "arms": [
            {"name": a.name, "model": cfgs[a.name]["model"]["name"], "overrides": _jsonable(a.overrides)}
            for a in arms
        ],
        "reference": refs,
        "seeds": list(seeds),
        "budget": _jsonable(budget_keys),
        "config": _jsonable(base),
        "by": by,
    }
    _write_json(out / _STUDY_FILE, meta)
    reused = sum(rows is not None for *_, rows in plan)
    if reused and show_progress:
        print(f"[emberxr study] {reused} of {len(plan)} run(s) already done in {out}: reused", flush=True)
    frames = []
    bar = progress(total=len(plan), desc="study", enabled=show_progress, unit="run", leave=True)
    for arm, seed, rdir, fit_key, rows in plan:
        bar.set_postfix_str(f"{arm.name} seed {seed}")
        if rows is None:
            cfg = copy.deepcopy(cfgs[arm.name])
            cfg["training"]["seed"] = seed
            rows = _run(arm.name, seed, rdir, fit_key, eval_key, train, evals, cfg, by)
            _say(arm.name, seed, rows, show_progress)
        frames.append(pd.DataFrame(rows, columns=list(RUN_COLUMNS)))
        _write_runs(out, frames)
        bar.update(1)
    bar.close()
    runs = pd.concat(frames, ignore_index=True)
    write_summary(runs, meta, out)
    return runs


def _print_plan(plan: list[tuple], evals: Mapping[str, list[Any]], out: Path) -> Any:
    """Print what a study would do; return the rows of the runs already done."""
    import pandas as pd

    todo = [f"{arm.name}/seed-{seed}" for arm, seed, _, _, rows in plan if rows is None]
    splits = ", ".join(f"{k} ({len(v)} events)" for k, v in evals.items())
    print(f"[emberxr study] {len(plan)} run(s) in {out}: {len(plan) - len(todo)} done, {len(todo)} to run")
    print(f"[emberxr study] evaluated on {splits}")
    for name in todo:
        print(f"  to run: {name}")
    frames = [pd.DataFrame(rows, columns=list(RUN_COLUMNS)) for *_, rows in plan if rows is not None]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(RUN_COLUMNS))


def validate_arms(
    arms: Sequence[Arm],
    seeds: Sequence[int],
    config: Mapping[str, Any],
    budget: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """Every arm's validated configuration (with the budget and the first seed), checked at once.

    Returns
    -------
    dict
        Arm name -> configuration.

    Raises
    ------
    ConfigError
        Bad arm names, arms that change the budget or the seed, invalid configurations (every
        problem of every arm, each prefixed with its arm).
    WeightsError
        The only problems are weight files that do not exist (``pretrained: true`` without the
        file); the message names every such arm.
    """
    from emberxr.decoders.weights import skip_weight_files
    from emberxr.train.config import build_config, keyword_overrides

    problems: list[Problem] = []
    if not arms:
        raise ConfigError([Problem("a study needs at least one arm", "give arms")], subject="study")
    names = [a.name for a in arms]
    for a in arms:
        if not isinstance(a.name, str) or not _NAME_RE.match(a.name):
            problems.append(
                Problem(f"arm name {a.name!r} is not a folder name", "use letters, digits, '_', '.', '-'")
            )
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(Problem(f"two arms are named {dup!r}", "give every arm its own name"))
    out: dict[str, dict[str, Any]] = {}
    weights: list[str] = []
    for arm in arms:
        model = arm.model or _model_name(arm, config)
        try:
            dotted = keyword_overrides(dict(arm.overrides), model)
        except ConfigError as exc:
            problems += _prefixed(arm.name, exc.problems)
            continue
        for key in sorted(dotted):
            if key in budget or key == "training.seed":
                what = "the seed" if key == "training.seed" else "the shared budget"
                problems.append(
                    Problem(
                        f"arm {arm.name!r} sets {key!r}, part of {what}",
                        "every arm trains with the same budget and seeds: set it in the budget/seeds or "
                        "leave it to the base configuration",
                    )
                )
        overrides = {**dotted, **budget, "training.seed": seeds[0]}
        try:
            with skip_weight_files():  # first everything but the weight files
                out[arm.name] = build_config(arm.model, config, overrides)
        except ConfigError as exc:
            problems += _prefixed(arm.name, exc.problems)
            continue
        try:
            build_config(arm.model, config, overrides)
        except ConfigError as exc:
            weights += [f"arm {arm.name!r}: {p.what}" for p in exc.problems]
    if problems:
        problems += [Problem(w, "give the weight file or set pretrained: false") for w in weights]
        raise ConfigError(problems, subject="study")
    if weights:
        raise WeightsError(
            "the study cannot start; nothing was trained:\n  "
            + "\n  ".join(weights)
            + "\n(make the weight file with `emberxr pretrain`, copy one to the weights directory, "
            "or drop the arm)"
        )
    return out


def _run(
    arm: str,
    seed: int,
    rdir: Path,
    fit_key: Mapping[str, Any],
    eval_key: Mapping[str, Any],
    train: Mapping[str, list[Any]],
    evals: Mapping[str, list[Any]],
    cfg: Mapping[str, Any],
    by: str | None,
) -> list[dict[str, Any]]:
    """Fit ``cfg`` (or resume, or load) for one run, evaluate it on every split, write ``result.json``."""
    from emberxr import api

    rdir.mkdir(parents=True, exist_ok=True)
    run_file = _read_json(rdir / _RUN_FILE) or {}
    _write_json(rdir / _RUN_FILE, {**run_file, "fit": fit_key})
    if (rdir / "model.pt").is_file():
        fitted = api.load(rdir / "model.pt")  # trained before an interruption: evaluate only
        fit_seconds = float(run_file.get("fit_seconds", fitted.train_seconds or math.nan))
    else:
        t0 = time.perf_counter()
        fitted = api.fit(dict(train), model=None, config=cfg, run_dir=rdir, resume=True)
        fit_seconds = time.perf_counter() - t0
        _write_json(rdir / _RUN_FILE, {"fit": fit_key, "fit_seconds": fit_seconds})
    hw = hardware(fitted.config["training"]["device"])
    rows: list[dict[str, Any]] = []
    eval_seconds = 0.0
    for split, events in evals.items():
        t0 = time.perf_counter()
        table = fitted.evaluate({split: events}, split=split, per_event=False, by=by)
        eval_seconds += time.perf_counter() - t0
        rows += evaluation_rows(table, arm=arm, seed=seed, split=split)
    for r in rows:
        r.update(
            model=fitted.model_name,
            steps=int(fitted.steps or 0),
            train_seconds=float(fitted.train_seconds or 0.0),
            fit_seconds=fit_seconds,
            eval_seconds=eval_seconds,
            hardware=hw,
        )
    _write_json(rdir / _RESULT_FILE, {"fit": fit_key, "eval": eval_key, "rows": rows})
    return rows


def _run_key(
    rdir: Path, run: Mapping[str, Any] | None, fit_key: Mapping[str, Any], unverified: list[Path]
) -> dict[str, Any]:
    """The key run directory ``rdir`` (holding ``run``, its ``run.json``) is checked and written
    with: ``fit_key``, or without its ``resolved`` part for a run written before keys held it
    (``rdir`` is then added to ``unverified``, and the key it is written back with still does not
    claim what was not checked)."""
    fit = run.get("fit") if run is not None else None
    if isinstance(fit, dict) and "resolved" not in fit:
        unverified.append(rdir)
        return {k: v for k, v in fit_key.items() if k != "resolved"}
    return dict(fit_key)


def _finished(
    rdir: Path, run: Mapping[str, Any] | None, fit_key: Mapping[str, Any], eval_key: Mapping[str, Any]
) -> list[dict] | None:
    """The rows of a finished run with these settings (``run``: the directory's ``run.json``);
    None when it must (still) run.

    Raises ConfigError when the directory holds a run of other training settings (naming what
    changed: study settings, or the library defaults they resolve to).
    """
    from emberxr.train.config import setting_changes

    key = _jsonable(fit_key)
    if run is not None and _jsonable(run.get("fit")) != key:
        old = run.get("fit") or {}
        changed = sorted(k for k in key if _jsonable(old.get(k)) != key[k])
        shown = [k for k in changed if k != "resolved"]  # a changed setting changes what it resolves to
        if shown or not changed:
            what = f"different {', '.join(shown) or 'settings'}"
        else:
            details = setting_changes(_jsonable(old.get("resolved")), key.get("resolved"))
            what = (
                "the same study settings, but the library's defaults changed since it trained: "
                + "; ".join(details[:6])
                + ("; ..." if len(details) > 6 else "")
            )
        raise ConfigError(
            [
                Problem(
                    f"{rdir} holds a run of arm {fit_key['arm']!r} seed {fit_key['seed']} made with other "
                    f"settings ({what})",
                    "use another output folder for the changed study, or delete that run directory to "
                    "train it again",
                )
            ],
            subject="study",
        )
    result = _read_json(rdir / _RESULT_FILE)
    if result is None or _jsonable(result.get("eval")) != _jsonable(eval_key):
        return None
    return list(result["rows"])


def evaluation_rows(table: Any, *, arm: str, seed: int, split: str) -> list[dict[str, Any]]:
    """The long rows of one evaluation table (:meth:`emberxr.Fitted.evaluate`): one per
    (target, scope, group, metric), per-event rows left out."""
    rows = []
    for r in table[table["scope"] != "event"].to_dict("records"):
        for metric in METRICS:
            rows.append(
                {
                    "arm": arm,
                    "seed": int(seed),
                    "split": split,
                    "target": r["target"],
                    "scope": r["scope"],
                    "group": str(r["group"]),
                    "metric": metric,
                    "value": float(r[metric]),
                    "n_samples": int(r["n_samples"]),
                    "threshold": float(r["threshold"]),
                }
            )
    return rows


def _say(arm: str, seed: int, rows: list[dict[str, Any]], show: bool) -> None:
    if not show or not rows:
        return
    parts = [
        f"{r['split']} {r['value']:.3f}"
        for r in rows
        if r["scope"] == "all" and r["target"] == "new" and r["metric"] == "f1"
    ]
    first = rows[0]
    print(
        f"[emberxr study] {arm} seed {seed}: {first['steps']} steps, fit {first['fit_seconds']:.0f} s, "
        f"eval {first['eval_seconds']:.0f} s; new-burn F1 {', '.join(parts)}",
        flush=True,
    )


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------
def _check_seeds(seeds: Sequence[int]) -> list[int]:
    problems = []
    out = []
    for s in seeds if isinstance(seeds, Sequence) and not isinstance(seeds, str) else [seeds]:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            problems.append(Problem(f"seed {s!r} is not an integer >= 0", "give seeds such as [0, 1, 2]"))
        else:
            out.append(int(s))
    if not out and not problems:
        problems.append(Problem("no seeds given", "give at least one seed, e.g. [0, 1, 2]"))
    dups = sorted({s for s in out if out.count(s) > 1})
    if dups:
        problems.append(Problem(f"seed(s) {dups} repeated", "give each seed once"))
    if problems:
        raise ConfigError(problems, subject="study seeds")
    return out


def _base_config(config: str | os.PathLike | Mapping[str, Any] | None) -> dict[str, Any]:
    from emberxr.train.config import read_yaml

    if config is None:
        return {}
    if isinstance(config, Mapping):
        return copy.deepcopy(dict(config))
    return read_yaml(config)


def _model_name(arm: Arm, config: Mapping[str, Any]) -> str:
    from emberxr.train.config import DEFAULT_MODEL

    given = arm.overrides.get("model.name") or arm.overrides.get("model__name")
    if isinstance(given, str):
        return given
    section = config.get("model")
    return section.get("name", DEFAULT_MODEL) if isinstance(section, Mapping) else DEFAULT_MODEL


def _budget(budget: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The budget as dotted keys; early stopping off unless it is part of it."""
    from emberxr.train.config import keyword_overrides

    section = config.get("model")
    model = section.get("name") if isinstance(section, Mapping) else None
    out = keyword_overrides(dict(budget), model)
    if "training.seed" in out:
        raise ConfigError(
            [Problem("the budget sets training.seed", "give the seeds as the study's seeds")], subject="study"
        )
    out.setdefault("training.early_stopping", None)
    return out


def _references(arms: Sequence[Arm], reference: str | Mapping[str, str] | None) -> str | dict[str, str]:
    names = [a.name for a in arms]
    if reference is None:
        return names[0]
    wanted = [reference] if isinstance(reference, str) else [*reference, *reference.values()]
    unknown = sorted({r for r in wanted if r not in names})
    if unknown:
        raise ConfigError(
            [Problem(f"reference arm(s) {unknown} are not arms", f"choose among {', '.join(names)}")],
            subject="study",
        )
    return reference if isinstance(reference, str) else dict(reference)


def _eval_events(
    eval_data: Mapping[str, Any] | Sequence[str] | None, splits: Mapping[str, list[Any]]
) -> dict[str, list[Any]]:
    from emberxr.data.sources import SPLITS, resolve_split

    if eval_data is None:
        names = [k for k in splits if k not in SPLITS[:2] and splits[k]]
        if not names:
            raise ConfigError(
                [
                    Problem(
                        f"the data has no split to evaluate besides train and val (it has {', '.join(splits)})",
                        "pass eval_data: split names, or a mapping label -> data",
                    )
                ],
                subject="study",
            )
        return {k: splits[k] for k in names}
    if isinstance(eval_data, Mapping):
        out = {}
        for label, value in eval_data.items():
            if isinstance(value, tuple) and len(value) == 2:
                out[str(label)] = resolve_split(value[0], str(value[1]))
            else:
                out[str(label)] = resolve_split(value, str(label))
        return out
    missing = [s for s in eval_data if not splits.get(s)]
    if missing:
        raise ConfigError(
            [Problem(f"the data has no split(s) {missing}", f"choose among {', '.join(splits)}")],
            subject="study",
        )
    return {str(s): splits[s] for s in eval_data}


def _prefixed(arm: str, problems: Sequence[Problem]) -> list[Problem]:
    return [Problem(f"arm {arm!r}: {p.what}", p.fix) for p in problems]


def _ids(events: Sequence[Any]) -> list[str]:
    from emberxr.train.evaluate import event_id_of

    return [event_id_of(ev, i) for i, ev in enumerate(events)]


def _label(data: Any) -> str:
    if isinstance(data, (str, os.PathLike)):
        return str(data)
    if hasattr(data, "events") and isinstance(getattr(data, "name", None), str):
        return str(data.name)  # a Catalog
    return f"{type(data).__name__} given in Python"


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists ...), for comparisons and files."""
    return json.loads(json.dumps(value, default=str))


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # a file cut short by a crash: the run is redone


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    from emberxr.atomic import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(_jsonable(data), indent=1) + "\n")


def _write_runs(out: Path, frames: list[Any]) -> None:
    import pandas as pd

    from emberxr.atomic import atomic_path

    with atomic_path(out / "runs.csv") as tmp:
        pd.concat(frames, ignore_index=True).to_csv(tmp, index=False)


def hardware(device: str = "auto") -> str:
    """A short description of where a run trains: accelerator or CPU model, cores, torch threads."""
    import torch

    from emberxr.train.loop import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)} (torch {torch.__version__.split('+')[0]})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()}-core CPU ({cpu}), {torch.get_num_threads()} torch thread(s) "
        f"(torch {torch.__version__.split('+')[0]})"
    )


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
def summarize(
    runs: Any, reference: str | Mapping[str, str] | None = None, *, confidence: float = 0.95
) -> Any:
    """Mean ± std over seeds per arm, and the paired per-seed difference to a reference arm.

    For every (arm, split, target, scope, group, metric):

    - ``n_seeds``, ``mean``, ``std``: over the arm's seeds (``std`` is the sample standard deviation,
      ``ddof=1``; NaN with one seed);
    - against the reference arm ``ref`` (same split, target, scope, group, metric), over the
      ``n_pairs`` seeds both have: ``diff_mean`` and ``diff_std`` of the per-seed differences
      ``d_s = value(arm, s) - value(ref, s)``, and the two-sided ``confidence`` t-interval
      ``diff_mean ± t_{(1+confidence)/2, n_pairs-1} · diff_std / sqrt(n_pairs)`` (``ci_low``,
      ``ci_high``; NaN with fewer than two pairs);
    - ``beyond_spread``: True exactly when the interval excludes 0 (``ci_low > 0`` or
      ``ci_high < 0``) AND ``|diff_mean|`` exceeds the seed-to-seed spread, the larger of the two
      arms' ``std``. A difference that a rerun with other seeds could plausibly reverse is
      therefore never flagged. False for the reference itself and without two pairs.

    Parameters
    ----------
    runs
        The long table of :func:`run_study`.
    reference
        One arm every other arm is compared with, or a mapping ``arm -> its reference`` (arms not
        in it are compared with nothing); None compares nothing (mean ± std only).
    confidence
        Level of the interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``arm, reference, split, target, scope, group, metric, n_seeds, mean, std,
        n_pairs, diff_mean, diff_std, ci_low, ci_high, beyond_spread``, arms in table order.
    """
    import numpy as np
    import pandas as pd
    from scipy import stats

    keys = ["split", "target", "scope", "group", "metric"]
    arms = list(dict.fromkeys(runs["arm"]))
    ref_of = {a: reference for a in arms} if isinstance(reference, str) else dict(reference or {})
    values = runs.pivot_table(index=[*keys, "seed"], columns="arm", values="value", aggfunc="first")
    rows = []
    for key, block in values.groupby(level=list(range(len(keys))), sort=False):
        stat_of = {}
        for arm in arms:
            if arm not in block:
                continue
            v = block[arm].dropna()
            if v.empty:
                continue
            stat_of[arm] = (len(v), float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan)
        for arm, (n, mean, std) in stat_of.items():
            ref = ref_of.get(arm)
            row = dict(zip(keys, key), arm=arm, reference=ref if ref != arm else None)
            row.update(n_seeds=n, mean=mean, std=std, n_pairs=0, diff_mean=math.nan, diff_std=math.nan)
            row.update(ci_low=math.nan, ci_high=math.nan, beyond_spread=False)
            if ref is not None and ref != arm and ref in stat_of:
                pair = block[[arm, ref]].dropna()
                d = (pair[arm] - pair[ref]).to_numpy(float)
                n_pairs = len(d)
                row.update(n_pairs=n_pairs, diff_mean=float(d.mean()) if n_pairs else math.nan)
                if n_pairs >= 2:
                    sd = float(d.std(ddof=1))
                    half = float(stats.t.ppf(0.5 + confidence / 2, n_pairs - 1)) * sd / math.sqrt(n_pairs)
                    lo, hi = row["diff_mean"] - half, row["diff_mean"] + half
                    spread = np.nanmax([std, stat_of[ref][2]])
                    row.update(diff_std=sd, ci_low=lo, ci_high=hi)
                    row["beyond_spread"] = bool((lo > 0 or hi < 0) and abs(row["diff_mean"]) > spread)
            rows.append(row)
    cols = ["arm", "reference", *keys, "n_seeds", "mean", "std", "n_pairs", "diff_mean", "diff_std"]
    out = pd.DataFrame(rows, columns=[*cols, "ci_low", "ci_high", "beyond_spread"])
    order = {a: i for i, a in enumerate(arms)}
    out["_o"] = out["arm"].map(order)
    return out.sort_values(["_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------
def format_duration(seconds: float) -> str:
    """A wall time as text: ``"42 s"``, ``"7 min 05 s"``, ``"1 h 03 min"`` (``"unknown"`` if not finite)."""
    if not math.isfinite(seconds):
        return "unknown"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def _steps_text(runs: Any) -> str:
    steps = runs.groupby(["arm", "seed"])["steps"].first()
    lo, hi = int(steps.min()), int(steps.max())
    return f"{lo} optimisation steps per run" if lo == hi else f"{lo}–{hi} optimisation steps per run"


def provenance(runs: Any, meta: Mapping[str, Any]) -> str:
    """The caption every study table carries: data, seeds, budget, hardware, wall time (and the
    results' ``source`` when ``study.json`` names one)."""
    per_run = runs.groupby(["arm", "seed"])[["fit_seconds", "eval_seconds"]].first()
    seeds = sorted({int(s) for s in runs["seed"]})
    budget = ", ".join(
        f"{k.split('.', 1)[-1]} {v}"
        for k, v in (meta.get("budget") or {}).items()
        if k.split(".", 1)[0] in ("training", "data") and k not in _NOT_BUDGET
    )
    hw = "; ".join(sorted({str(h) for h in runs["hardware"].dropna()})) or "not recorded"
    train = meta.get("train_events") or {}
    data = f"`{meta.get('data', '?')}`" + (
        f" ({', '.join(f'{k} {v}' for k, v in train.items())} events)" if train else ""
    )
    n_runs = len(per_run)
    if per_run["eval_seconds"].notna().all():
        wall, what = per_run.sum(axis=1), "training and evaluation"
    else:
        wall, what = per_run["fit_seconds"], "training (evaluation time not recorded)"
    per = (
        f"; {format_duration(float(wall.min()))}–{format_duration(float(wall.max()))} per run"
        if wall.notna().all() and n_runs > 1
        else ""
    )
    text = (
        f"Data {data}; seeds {', '.join(map(str, seeds))} ({len(seeds)} per arm); budget: "
        f"{_steps_text(runs)}{f' ({budget})' if budget else ''}; hardware: {hw}; wall time "
        f"{format_duration(float(wall.sum()))} for {n_runs} run(s), {what}{per}."
    )
    if meta.get("source"):
        text += f" Source: {meta['source']}"
    return text


def _markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows as a markdown table, cells as written (no re-formatting of numbers)."""
    import pandas as pd

    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)


def _cell(r: Any, digits: int = 3) -> str:
    if not math.isfinite(r["mean"]):
        return "–"
    text = f"{r['mean']:.{digits}f}"
    if math.isfinite(r["std"]):  # one seed: the value alone (the caption says one seed)
        text += f" ± {r['std']:.{digits}f}"
    if r["reference"] is not None and isinstance(r["reference"], str) and math.isfinite(r["diff_mean"]):
        text += f"<br>Δ {r['diff_mean']:+.{digits}f}"
        if math.isfinite(r["ci_low"]):
            text += f" [{r['ci_low']:+.{digits}f}, {r['ci_high']:+.{digits}f}]"
        if r["beyond_spread"]:
            text += " ✓"
    return text


def render_markdown(
    runs: Any,
    meta: Mapping[str, Any],
    *,
    metrics: Sequence[tuple[str, str, str]] = DEFAULT_METRICS,
    scope: str = "all",
    split: str | None = None,
    heading: str = "####",
    caption: bool = True,
) -> str:
    """Markdown tables of a study: one per metric, arms as rows.

    ``scope="all"`` puts the splits in the columns; ``"history"`` / ``"regime"`` put that scope's
    groups of one ``split`` (default: the first) in the columns. A cell is ``mean ± std`` over
    seeds and, for arms with a reference, the paired difference ``Δ`` with its 95 % interval;
    ``✓`` marks a difference beyond the seed spread (:func:`summarize`). The tables start with the
    :func:`provenance` caption (``caption=False``: below another table of the same runs that has it).
    """

    summary = summarize(runs, meta.get("reference"))
    summary = summary[summary["scope"] == scope]
    if scope == "all":
        col = "split"
        columns = list(dict.fromkeys(runs["split"]))
    else:
        split = split or next(iter(dict.fromkeys(runs["split"])), None)
        summary = summary[summary["split"] == split]
        col = "group"
        columns = list(dict.fromkeys(runs[(runs["scope"] == scope) & (runs["split"] == split)]["group"]))
    ref_text = _reference_text(meta.get("reference"))
    legend = "Cells: mean ± std over seeds (a value alone: one seed)"
    if meta.get("reference"):
        legend += (
            f"; Δ = paired per-seed difference to the reference ({ref_text}) with its 95 % t-interval; "
            "✓ = the interval excludes 0 and |Δ| exceeds both arms' seed std"
        )
    parts = [*([provenance(runs, meta), ""] if caption else []), legend + "."]
    where = "" if scope == "all" else f" by {scope} on `{split}`"
    for target, metric, caption in metrics:
        sub = summary[(summary["target"] == target) & (summary["metric"] == metric)]
        if sub.empty:
            continue
        table = []
        for arm, g in sub.groupby("arm", sort=False):
            cells = {r[col]: _cell(r) for r in g.to_dict("records")}
            table.append({"arm": f"`{arm}`", **{c: cells.get(c, "–") for c in columns}})
        parts += [
            "",
            f"{heading} {caption}{where}",
            "",
            _markdown_table(table),
        ]
    return "\n".join(parts)


def render_arms(
    runs: Any,
    meta: Mapping[str, Any],
    *,
    split: str = "test",
    metrics: Sequence[tuple[str, str, str]] = DEFAULT_METRICS,
) -> str:
    """One markdown table of one split: arms as rows with their training steps, fit time and each
    metric's mean ± std over seeds (a single seed says so), with the :func:`provenance` caption."""

    summary = summarize(runs[runs["split"] == split], None)
    summary = summary[summary["scope"] == "all"]
    per_run = runs.groupby(["arm", "seed"])[["steps", "fit_seconds"]].first()
    table = []
    for arm, g in summary.groupby("arm", sort=False):
        stat = {(r["target"], r["metric"]): r for r in g.to_dict("records")}
        mine = per_run.loc[arm]
        row = {"arm": f"`{arm}`", "steps": int(mine["steps"].iloc[0])}
        row["fit time"] = format_duration(float(mine["fit_seconds"].mean()))
        for target, metric, caption in metrics:
            r = stat.get((target, metric))
            row[caption] = "–" if r is None else _cell(r)
        table.append(row)
    return f"{provenance(runs, meta)}\n\n{_markdown_table(table)}"


def render_splits(
    runs: Any,
    meta: Mapping[str, Any],
    *,
    baseline: str = "test",
    metrics: Sequence[tuple[str, str, str]] = DEFAULT_METRICS,
    heading: str = "####",
) -> str:
    """Markdown tables of generalisation: per arm, one row per split (``baseline`` first) with each
    metric's mean ± std over seeds, and the mean change of new-burn F1 from the ``baseline`` split
    (the in-regime test split of the shift benchmark), with the :func:`provenance` caption."""

    summary = summarize(runs, None)
    summary = summary[summary["scope"] == "all"]
    splits = list(dict.fromkeys(runs["split"]))
    splits = [baseline, *(s for s in splits if s != baseline)] if baseline in splits else splits
    n_events = meta.get("eval_events") or {}
    parts = [provenance(runs, meta)]
    for arm, g in summary.groupby("arm", sort=False):
        stat = {(r["split"], r["target"], r["metric"]): r for r in g.to_dict("records")}
        base = stat.get((baseline, "new", "f1"))
        table = []
        for split in splits:
            row: dict[str, Any] = {"split": f"`{split}`"}
            if n_events:
                row["events"] = n_events.get(split, "?")
            row["regime"] = "in-regime" if split == baseline else "held out"
            for target, metric, caption in metrics:
                r = stat.get((split, target, metric))
                row[caption] = "–" if r is None else _cell({**r, "reference": None})
            r = stat.get((split, "new", "f1"))
            row[f"new-burn F1 vs `{baseline}`"] = (
                "" if split == baseline or r is None or base is None else f"{r['mean'] - base['mean']:+.3f}"
            )
            table.append(row)
        parts += [
            "",
            f"{heading} `{arm}`",
            "",
            _markdown_table(table),
        ]
    return "\n".join(parts)


def _reference_text(ref: str | Mapping[str, str] | None) -> str:
    """``reference`` in words: the common reference, then the arms compared with another one."""
    if ref is None:
        return "none"
    if isinstance(ref, str):
        return f"`{ref}`"
    values = list(ref.values())
    main = max(set(values), key=values.count) if values else None
    other = [f"`{a}` vs `{b}`" for a, b in ref.items() if b != main]
    return f"`{main}`" + (f"; {', '.join(other)}" if other else "")


def write_summary(runs: Any, meta: Mapping[str, Any], output_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``summary.csv`` (:func:`summarize`) and ``summary.md`` (:func:`render_markdown`, plus
    the regime tables of the first split when the runs have them) into ``output_dir``."""
    from emberxr.atomic import atomic_path

    out = Path(output_dir)
    csv_path, md_path = out / "summary.csv", out / "summary.md"
    with atomic_path(csv_path) as tmp:
        summarize(runs, meta.get("reference")).to_csv(tmp, index=False)
    text = [f"# Study `{meta.get('name', out.name)}`", "", render_markdown(runs, meta)]
    for scope in ("regime",):
        if (runs["scope"] == scope).any():
            for split in dict.fromkeys(runs[runs["scope"] == scope]["split"]):
                text += [
                    "",
                    render_markdown(runs, meta, scope=scope, split=split, metrics=DEFAULT_METRICS[:2]),
                ]
    with atomic_path(md_path) as tmp:
        Path(tmp).write_text("\n".join(text) + "\n")
    return csv_path, md_path


def save_study(output_dir: str | os.PathLike, runs: Any, meta: Mapping[str, Any]) -> Path:
    """Write ``runs.csv`` (the long table, :data:`RUN_COLUMNS`) and ``study.json`` — the pair
    :func:`read_study` reads — for results made outside :func:`run_study` (the demo)."""
    import pandas as pd

    from emberxr.atomic import atomic_path

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "runs.csv") as tmp:
        pd.DataFrame(runs, columns=list(RUN_COLUMNS)).to_csv(tmp, index=False)
    _write_json(out / _STUDY_FILE, meta)
    return out


def read_study(folder: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """``(runs, meta)`` of a study folder (``runs.csv`` and ``study.json``), e.g. committed results.

    Raises
    ------
    ConfigError
        A file is missing or unreadable.
    """
    import pandas as pd

    folder = Path(folder)
    meta = _read_json(folder / _STUDY_FILE)
    if meta is None or not (folder / "runs.csv").is_file():
        raise ConfigError(
            [
                Problem(
                    f"{folder} has no readable study.json and runs.csv", "run the study (or copy both files)"
                )
            ],
            subject="study results",
        )
    runs = pd.read_csv(folder / "runs.csv", dtype={"group": str})
    return runs, meta


# ---------------------------------------------------------------------------------------------
# study files (YAML)
# ---------------------------------------------------------------------------------------------
_SPEC_KEYS = (
    "name",
    "description",
    "data",
    "eval",
    "seeds",
    "reference",
    "by",
    "budget",
    "config",
    "arms",
    "command",
)


@dataclass
class StudySpec:
    """A study read from YAML (:func:`load_study_spec`); :meth:`run` runs it."""

    name: str
    data: Any
    eval: Any
    seeds: list[int]
    arms: list[Arm]
    reference: str | dict[str, str]
    budget: dict[str, Any]
    config: dict[str, Any]
    by: str | None = None
    command: str | None = None

    def select(self, names: Sequence[str]) -> StudySpec:
        """The same study with only the arms ``names`` (and the references they need)."""
        known = [a.name for a in self.arms]
        unknown = [n for n in names if n not in known]
        if unknown:
            import difflib

            hints = [difflib.get_close_matches(n, known, n=1) for n in unknown]
            near = [f"{n!r} (did you mean {h[0]!r}?)" if h else repr(n) for n, h in zip(unknown, hints)]
            raise ConfigError(
                [Problem(f"unknown arm(s) {', '.join(near)}", f"choose among {', '.join(known)}")],
                subject="study",
            )
        keep = set(names)
        refs = self.reference
        keep |= {refs} if isinstance(refs, str) else {refs[n] for n in names if n in refs}
        arms = [a for a in self.arms if a.name in keep]
        if not isinstance(refs, str):
            refs = {a: r for a, r in refs.items() if a in keep}
        return StudySpec(**{**self.__dict__, "arms": arms, "reference": refs})

    def run(self, output_dir: str | os.PathLike, show_progress: bool = True, dry_run: bool = False) -> Any:
        """:func:`run_study` of this study; returns the long table."""
        if self.data is None:
            raise ConfigError(
                [Problem(f"study {self.name!r} names no data", "add data: <catalog or path> (CLI: --data)")],
                subject="study",
            )
        return run_study(
            self.arms,
            self.seeds,
            self.data,
            self.eval,
            output_dir,
            config=self.config,
            by=self.by,
            name=self.name,
            reference=self.reference,
            show_progress=show_progress,
            dry_run=dry_run,
            **self.budget,
        )


def load_study_spec(source: str | os.PathLike | Mapping[str, Any]) -> StudySpec:
    """Read and check a study file.

    Format (``emberxr/configs/ablate_emberformer.yaml`` is a full example)::

        name: ablate-emberformer
        data: sim-wide-small          # training data: what emberxr.fit accepts (train/val splits used)
        eval: [val, test]             # splits of data to evaluate; or {label: {data: X, split: Y}}
        seeds: [0, 1, 2]
        reference: reference          # the arm others are compared with
        by: regime                    # optional: regime-bin rows too
        budget:                       # the same for every run (fit keywords or dotted keys)
          epochs: 10
          steps_per_epoch: 100
        config:                       # base training config of every arm (mapping, or a YAML name/path)
          model: {name: emberformer, preset: cpu}
        arms:
          reference: {}
          no-wind: {model.use_wind: false}               # dotted keys ...
          layers-1: {model: {num_layers: 1}}             # ... or nested sections
          pretrained: {vs: random, model.pretrained: true} # vs: this arm's own reference
          utae: {model: utae}                             # model: NAME switches the model

    Raises
    ------
    ConfigError
        Unknown keys (with close matches), wrong types, no arms, unknown references — every
        problem at once. Arm configurations are checked when the study runs (all before training).
    """
    import difflib

    from emberxr.train.config import find_config, read_yaml

    if isinstance(source, Mapping):
        spec, where = copy.deepcopy(dict(source)), "study"
    else:
        where = str(find_config(source))
        spec = read_yaml(source)
    problems = []
    for key in spec:
        if key not in _SPEC_KEYS:
            near = difflib.get_close_matches(str(key), _SPEC_KEYS, n=1)
            problems.append(
                Problem(
                    f"unknown key {key!r}",
                    f"did you mean {near[0]!r}?" if near else f"use {', '.join(_SPEC_KEYS)}",
                )
            )
    arms_spec = spec.get("arms")
    arms: list[Arm] = []
    refs: dict[str, str] = {}
    if not isinstance(arms_spec, Mapping) or not arms_spec:
        problems.append(Problem("no arms", "list the arms under arms: {name: {overrides}}"))
        arms_spec = {}
    for arm_name, body in arms_spec.items():
        body = {} if body is None else body
        if not isinstance(body, Mapping):
            problems.append(Problem(f"arm {arm_name!r} is {body!r}", "give a mapping of overrides (or {})"))
            continue
        body = dict(body)
        vs = body.pop("vs", None)
        model = body.get("model")
        if isinstance(model, str):
            body.pop("model")
        elif isinstance(model, Mapping) and isinstance(model.get("name"), str):
            model = model["name"]
        else:
            model = None
        if vs is not None:
            refs[str(arm_name)] = str(vs)
        arms.append(Arm(str(arm_name), model, _flatten(body)))
    seeds = spec.get("seeds", [0, 1, 2])
    if not isinstance(seeds, list):
        problems.append(Problem(f"seeds is {seeds!r}", "give a list such as [0, 1, 2]"))
        seeds = []
    for key, kind in (("budget", Mapping), ("config", (Mapping, str))):
        if spec.get(key) is not None and not isinstance(spec[key], kind):
            problems.append(Problem(f"{key} is {spec[key]!r}", f"give {key} as a mapping"))
    by = spec.get("by")
    if by not in (None, "regime"):
        problems.append(Problem(f"by is {by!r}", "use regime, or leave it out"))
    evals = spec.get("eval")
    if isinstance(evals, Mapping):
        parsed = {}
        for label, v in evals.items():
            if isinstance(v, Mapping) and "data" in v:
                parsed[str(label)] = (v["data"], str(v.get("split", label)))
            else:
                problems.append(
                    Problem(f"eval {label!r} is {v!r}", "give {data: catalog-or-path, split: name}")
                )
        evals = parsed
    elif evals is not None and not (isinstance(evals, list) and all(isinstance(e, str) for e in evals)):
        problems.append(Problem(f"eval is {evals!r}", "give a list of split names or a mapping"))
    reference = spec.get("reference") or (arms[0].name if arms else "")
    names = {a.name for a in arms}
    for who, r in [("reference", reference), *((f"arm {a!r} vs", r) for a, r in refs.items())]:
        if names and r not in names:
            near = difflib.get_close_matches(str(r), list(names), n=1)
            problems.append(
                Problem(
                    f"{who} {r!r} is not an arm",
                    f"did you mean {near[0]!r}?" if near else f"use one of {', '.join(sorted(names))}",
                )
            )
    if problems:
        raise ConfigError(problems, subject=where)
    config = spec.get("config") or {}
    reference_map: str | dict[str, str] = reference
    if refs:
        reference_map = {a.name: refs.get(a.name, reference) for a in arms if a.name != reference}
    return StudySpec(
        name=str(spec.get("name") or Path(where).stem),
        data=spec.get("data"),
        eval=evals,
        seeds=list(seeds),
        arms=arms,
        reference=reference_map,
        budget=dict(spec.get("budget") or {}),
        config=_base_config(config),
        by=by,
        command=spec.get("command"),
    )


def _flatten(body: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections to dotted keys; values of model options that are mappings stay whole below
    the option (``model.decoder_config.encoder``), which configuration overrides accept."""
    out: dict[str, Any] = {}
    for k, v in body.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v and key.count(".") < 1:
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = copy.deepcopy(v)
    return out


def split_steps(total: int, max_epochs: int = 20) -> tuple[int, int]:
    """``(epochs, steps_per_epoch)`` giving exactly ``total`` steps with as many epochs (validations)
    as possible up to ``max_epochs``: the largest divisor of ``total`` not above ``max_epochs``."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise ConfigError([Problem(f"steps {total!r}", "give a whole number of steps >= 1")], subject="study")
    epochs = max(d for d in range(1, min(total, max(1, max_epochs)) + 1) if total % d == 0)
    return epochs, total // epochs
