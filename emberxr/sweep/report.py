"""What a sweep found: the best trials, a tidy table of every trial, and three plots.

:func:`sweep_report` reads a study (from its sweep folder, or a storage URL and a study name) and
writes into the folder:

- ``trials.csv``: one row per trial (number, state, value, the metric's name, every parameter as
  applied to the configuration, best epoch, epochs run, pruning epoch, wall time, run directory);
- ``best.json``: the best trial (number, value, the model it tuned, parameters, run directory,
  its ``model.pt``); :func:`tuned_overrides` turns it into a study arm's configuration;
- ``history.png``: the objective of every finished trial and the best so far (optimisation
  history);
- ``parallel_coordinates.png``: every parameter of every complete trial against the objective;
- ``importance.png``: parameter importances (Optuna's fANOVA evaluator; needs at least two
  complete trials with different values, else it is skipped with a note).

The plots come from Optuna's matplotlib visualisation module, drawn with the ``Agg`` backend and
written atomically.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emberxr.errors import ConfigError, Problem
from emberxr.sweep.spec import show

__all__ = ["SweepReport", "sweep_report", "trials_frame", "tuned_overrides"]

PLOTS = ("history.png", "parallel_coordinates.png", "importance.png")


@dataclass
class SweepReport:
    """The result of :func:`sweep_report`.

    Attributes
    ----------
    study
        Study name.
    metric, goal
        The objective and its direction.
    table
        :func:`trials_frame` of every trial.
    best
        The best complete trial as a dict (None before any trial completed).
    files
        Written files.
    notes
        Plots that could not be drawn, and why.
    """

    study: str
    metric: str
    goal: str
    table: Any
    best: dict[str, Any] | None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self, top: int = 5) -> str:
        """The best ``top`` complete trials and the state counts, as printed by ``emberxr sweep --report``."""
        df = self.table
        counts = df["state"].value_counts().to_dict() if len(df) else {}
        lines = [
            f"study {self.study!r}: {len(df)} trials ("
            + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            + f"); objective {self.metric} ({self.goal})"
        ]
        done = df[df["state"] == "complete"]
        if len(done):
            done = done.sort_values("value", ascending=self.goal != "maximize").head(top)
            params = [c for c in df.columns if c.startswith("param:")]
            lines.append(f"best {len(done)}:")
            for _, row in done.iterrows():
                shown = "  ".join(f"{c[6:]}={show(row[c])}" for c in params if not _missing(row[c]))
                lines.append(f"  trial {int(row['number']):>4}  {self.metric} {row['value']:.4f}  {shown}")
            lines.append(f"best run: {self.best['run_dir']}")
        else:
            lines.append("no complete trial yet")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _missing(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def trials_frame(study: Any, metric: str = "value") -> Any:
    """One row per trial of an Optuna study (``param:<key>`` columns hold the applied values)."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        values = t.user_attrs.get("values", t.params)
        row = {
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value if t.value is not None else math.nan,
            "metric": metric,
            **{
                f"param:{k}": (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in values.items()
            },
            "best_epoch": t.user_attrs.get("best_epoch"),
            "epochs": t.user_attrs.get("epochs"),
            "pruned_at": t.user_attrs.get("pruned_at"),
            "train_seconds": t.user_attrs.get("train_seconds"),
            "retry_of": t.user_attrs.get("retry_of"),
            "error": t.user_attrs.get("error"),
            "run_dir": t.user_attrs.get("run_dir"),
        }
        rows.append(row)
    return pd.DataFrame(rows)


def _load(target: str | os.PathLike, storage: str | None, study: str | None) -> tuple[Any, Path]:
    import optuna

    from emberxr.sweep.optuna_backend import _optuna, open_storage, sweep_info

    _optuna()
    if storage is None:
        folder = Path(target)
        info = sweep_info(folder)
        storage, name = info["storage"], study or info["study"]
    else:
        name = study or str(target)
        folder = Path(target) if Path(target).is_dir() else Path("sweeps") / name
    st = open_storage(storage)
    try:
        return optuna.load_study(study_name=name, storage=st), folder
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage=st)]
        raise ConfigError(
            [Problem(f"no study {name!r} in {storage}", f"studies there: {', '.join(names) or 'none'}")],
            subject="sweep report",
        ) from None


def _save(fig: Any, path: Path) -> Path:
    from emberxr.atomic import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return path


def _swept_model(st: Any) -> str | None:
    """The registry name of the model a study tuned: the word after ``fit`` in its command."""
    command = ((st.user_attrs.get("emberxr_sweep") or {}).get("sweep") or {}).get("command") or []
    words = [str(w) for w in command]
    if "fit" in words[:-1]:
        word = words[words.index("fit") + 1]
        return None if word.startswith("$") else word
    return None


def tuned_overrides(
    source: str | os.PathLike, *, exclude: tuple[str, ...] = ()
) -> tuple[str, dict[str, Any]]:
    """The model and configuration values of a sweep's best trial, ready for a study arm.

    Parameters
    ----------
    source
        A sweep folder (its ``best.json``, written by :func:`sweep_report`) or a ``best.json``.
    exclude
        Dotted keys (or prefixes ending in ``.``) left out: e.g. the study's shared budget
        (``training.batch_size``), which an arm may not change.

    Returns
    -------
    (model, overrides)
        The registry name and ``{dotted key: value}``.

    Raises
    ------
    ConfigError
        No ``best.json`` there (run ``emberxr sweep --report FOLDER`` first), or it does not say
        which model it tuned.
    """
    path = Path(source)
    path = path / "best.json" if path.is_dir() else path
    try:
        best = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(
            [
                Problem(
                    f"cannot read a best trial from {path} ({type(e).__name__}: {e})",
                    "give a sweep folder after `emberxr sweep --report FOLDER`, or its best.json",
                )
            ],
            subject="tuned arm",
        ) from None
    model = best.get("model_name")
    if not isinstance(model, str) or not isinstance(best.get("values"), dict):
        raise ConfigError(
            [
                Problem(
                    f"{path} does not name the tuned model or its values",
                    "write it again with `emberxr sweep --report FOLDER` (this version records the model)",
                )
            ],
            subject="tuned arm",
        )
    drop = tuple(exclude)
    values = {
        k: v
        for k, v in best["values"].items()
        if k not in drop and not any(p.endswith(".") and k.startswith(p) for p in drop)
    }
    return model, values


def sweep_report(
    target: str | os.PathLike,
    *,
    storage: str | None = None,
    study: str | None = None,
    output_dir: str | os.PathLike | None = None,
    plots: bool = True,
) -> SweepReport:
    """Summarise a study and write ``trials.csv``, ``best.json`` and the plots.

    Parameters
    ----------
    target
        A sweep folder (it names its storage and study in ``sweep.json``), or a study name when
        ``storage`` is given.
    storage, study
        A storage URL and study name instead of a folder.
    output_dir
        Where the files go (default: the sweep folder, ``sweeps/<study>`` for a bare URL).
    plots
        Draw the PNGs.

    Raises
    ------
    ConfigError
        No sweep folder / no such study.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emberxr.atomic import atomic_path

    st, folder = _load(target, storage, study)
    out = Path(output_dir) if output_dir is not None else folder
    out.mkdir(parents=True, exist_ok=True)
    metric = st.user_attrs.get("metric", "value")
    goal = st.user_attrs.get("goal", st.direction.name.lower())
    df = trials_frame(st, metric)
    rep = SweepReport(st.study_name, metric, goal, df, None)
    with atomic_path(out / "trials.csv") as tmp:
        df.to_csv(tmp, index=False)
    rep.files.append(out / "trials.csv")
    complete = [t for t in st.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if complete:
        b = st.best_trial
        run_dir = b.user_attrs.get("run_dir")
        rep.best = {
            "study": st.study_name,
            "model_name": _swept_model(st),
            "number": b.number,
            "metric": metric,
            "goal": goal,
            "value": b.value,
            "values": b.user_attrs.get("values", b.params),
            "best_epoch": b.user_attrs.get("best_epoch"),
            "run_dir": run_dir,
            "model": str(Path(run_dir) / "model.pt") if run_dir else None,
        }
        with atomic_path(out / "best.json") as tmp:
            tmp.write_text(json.dumps(rep.best, indent=2, default=str) + "\n")
        rep.files.append(out / "best.json")
    if not plots:
        return rep
    from optuna.visualization import matplotlib as ov

    drawers = {
        "history.png": lambda: ov.plot_optimization_history(st, target_name=metric),
        "parallel_coordinates.png": lambda: ov.plot_parallel_coordinate(st, target_name=metric),
        "importance.png": lambda: ov.plot_param_importances(st, target_name=metric),
    }
    for fname, draw in drawers.items():
        if not complete:
            rep.notes.append(f"{fname} not drawn: no complete trial yet")
            continue
        if fname == "importance.png" and (len(complete) < 2 or len({t.value for t in complete}) < 2):
            rep.notes.append(f"{fname} not drawn: importances need two complete trials with different values")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib module experimental
            try:
                ax = draw()
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                rep.notes.append(f"{fname} not drawn: {exc}")
                continue
        fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
        fig.set_size_inches(max(fig.get_size_inches()[0], 8), max(fig.get_size_inches()[1], 5))
        rep.files.append(_save(fig, out / fname))
        plt.close(fig)
    return rep
