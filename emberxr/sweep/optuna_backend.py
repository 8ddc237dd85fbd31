"""The offline sweep backend: a W&B sweep configuration run by Optuna.

``method`` picks the sampler (``bayes`` → TPE, ``random`` → random, ``grid`` → grid over exactly
the grid of :meth:`~emberxr.sweep.spec.SweepSpec.grid_space`); ``early_terminate: hyperband`` →
``HyperbandPruner(min_resource=min_iter, max_resource=max_iter or training.epochs,
reduction_factor=eta)``, fed by every epoch's value of the sweep's metric through the trainer's
per-epoch hook (:class:`EpochReporter`); a pruned trial stops after that epoch and is recorded as
pruned. ``run_cap`` (or ``--trials``) is the number of trials the study holds when the sweep is
done; running the same command again continues the study up to it.

Storage (:func:`open_storage`): SQLite in the sweep folder by default; ``journal:PATH`` (or a path
ending in ``.log``/``.jsonl``) for Optuna's journal file, which several processes (or machines
sharing a file system) append to safely; any SQLAlchemy URL (``postgresql://``, ``mysql://``,
``sqlite:///``) for a database every machine reaches. Agents on several machines run the same
command with the same ``--storage`` and ``--study``.

Interruptions: each running trial records its host, process id and a heartbeat (every
:data:`HEARTBEAT_S` seconds). When a sweep (re)starts, and before each trial, a running trial whose
process is gone (same host) or whose heartbeat is older than :data:`STALE_AFTER_S` is marked
failed and queued again with the same parameters; a trial interrupted with Ctrl-C is queued again
at the next start. Retried and over-cap trials do not count toward the budget.

Each trial trains in its own run directory ``<sweep folder>/trials/trial-NNNN`` with
:func:`emberxr.fit` (and, when W&B is on, logs its own W&B run, grouped under the study name);
its parameters, run directory, best epoch and wall time are stored as trial attributes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import json
import math
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emberxr.errors import ConfigError, Problem, SweepError
from emberxr.sweep.spec import SweepSpec, show

__all__ = [
    "HEARTBEAT_S",
    "STALE_AFTER_S",
    "EpochReporter",
    "SweepRun",
    "budget_of",
    "counted_trials",
    "create_or_load_study",
    "open_storage",
    "recover_trials",
    "run_sweep",
]

#: seconds between a running trial's heartbeats
HEARTBEAT_S = 60.0
#: a running trial without a heartbeat for this long is considered dead (other hosts)
STALE_AFTER_S = 600.0
#: consecutive failed trials after which a worker gives up
MAX_FAILS_IN_A_ROW = 3
_JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")
_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
SWEEP_FILE = "sweep.json"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:  # pragma: no cover - optuna is a dependency of the sweep extra
        raise ConfigError(
            [Problem("Optuna is not installed", "pip install 'emberxr[sweep]' (or pip install optuna)")],
            subject="sweep",
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ---------------------------------------------------------------------------------------------
# storage and study
# ---------------------------------------------------------------------------------------------
def storage_url(storage: str | os.PathLike | None, folder: str | os.PathLike) -> str:
    """The storage of a sweep as text: ``storage`` as given, or SQLite in ``folder``."""
    if storage is None:
        return f"sqlite:///{Path(folder).resolve() / 'study.db'}"
    return str(storage)


def open_storage(url: str) -> Any:
    """An Optuna storage for ``url`` (see the module docstring).

    Raises
    ------
    ConfigError
        An unknown scheme, or a database Optuna cannot open (the message says which and how).
    """
    optuna = _optuna()
    text = str(url)
    scheme = text.split(":", 1)[0].split("+", 1)[0].lower() if "://" in text else ""
    try:
        if text.startswith("journal:") or (not scheme and text.endswith(_JOURNAL_SUFFIXES)):
            from optuna.storages.journal import JournalFileBackend

            path = Path(text.removeprefix("journal:")).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        if scheme in _RDB_SCHEMES:
            kw: dict[str, Any] = {}
            if scheme == "sqlite":
                db = text.split(":///", 1)[-1]
                if db and db != ":memory:":
                    Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
                # several worker processes share one file: wait for the lock instead of failing
                kw["engine_kwargs"] = {"connect_args": {"timeout": 120}}
            storage = optuna.storages.RDBStorage(text, **kw)
            if scheme == "sqlite" and db and db != ":memory:":
                _sqlite_wal(storage)
            return storage
    except Exception as exc:
        raise ConfigError(
            [
                Problem(
                    f"cannot open the study storage {text!r} ({type(exc).__name__}: {exc})",
                    "check the URL, that the database server is reachable and its driver installed "
                    "(e.g. pip install psycopg2-binary for postgresql://)",
                )
            ],
            subject="sweep",
        ) from None
    raise ConfigError(
        [
            Problem(
                f"unknown study storage {text!r}",
                "give a SQLAlchemy URL (sqlite:///sweep.db, postgresql://user@host/db, mysql://...), "
                "journal:PATH for a journal file, or nothing for SQLite in the sweep folder",
            )
        ],
        subject="sweep",
    )


def _sqlite_wal(storage: Any) -> None:
    """Write-ahead logging for a local SQLite study: readers never block the writer and a commit
    costs one sync of the log, not of the database (a process crash loses nothing)."""
    import sqlalchemy

    def pragmas(con: Any, _record: Any) -> None:
        con.execute("PRAGMA synchronous=NORMAL")

    sqlalchemy.event.listen(storage.engine, "connect", pragmas)
    with storage.engine.connect() as con:
        con.exec_driver_sql("PRAGMA journal_mode=WAL")
    storage.engine.dispose()  # later connections get the pragmas


def create_or_load_study(spec: SweepSpec, storage: Any, study_name: str, seed: int | None = None) -> Any:
    """Create the study (recording the sweep it runs), or load it and check it runs the same sweep.

    Raises
    ------
    ConfigError
        The stored study was created from a different search space, command or fixed overrides.
    """
    optuna = _optuna()
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction=spec.direction,
        sampler=make_sampler(spec, seed),
        load_if_exists=True,
    )
    mine = spec.identity()
    stored = study.user_attrs.get("emberxr_sweep")
    if stored is None:
        study.set_user_attr("emberxr_sweep", mine)
        study.set_user_attr("metric", spec.metric)
        study.set_user_attr("goal", spec.goal)
        study.set_user_attr("method", spec.method)
        study.set_user_attr("config", spec.config)
        return _check_direction(study, spec)
    if "resolved" not in stored or "resolved" not in mine:  # an older study, or an unchecked spec
        if "resolved" not in stored and "resolved" in mine:
            warnings.warn(
                f"study {study_name!r} was created by an emberxr that did not record what its "
                "configuration resolves to: it is continued, but whether the library's defaults changed "
                "since its first trials cannot be checked",
                stacklevel=2,
            )
        stored = {k: v for k, v in stored.items() if k != "resolved"}
        mine = {k: v for k, v in mine.items() if k != "resolved"}
    if stored != mine:
        from emberxr.train.config import setting_changes

        diff = [k for k in ("sweep", "fixed", "data") if stored.get(k) != mine.get(k)]
        parts = [
            k
            for k in ("method", "metric", "parameters", "early_terminate", "command")
            if stored.get("sweep", {}).get(k) != mine["sweep"].get(k)
        ]
        what = f"{', '.join(parts or diff)} differ"
        if not diff:  # the same sweep text: the library's defaults changed
            changes = setting_changes(stored.get("resolved"), mine.get("resolved"))
            what = (
                "the same sweep, but the library's defaults changed since its first trials: "
                + "; ".join(changes[:6])
                + ("; ..." if len(changes) > 6 else "")
            )
        raise ConfigError(
            [
                Problem(
                    f"study {study_name!r} was created from a different sweep ({what})",
                    "continue it with the YAML, overrides and data it was started with, or start a new "
                    "study with --study NEW_NAME",
                )
            ],
            subject="sweep",
        )
    return _check_direction(study, spec)


def _check_direction(study: Any, spec: SweepSpec) -> Any:
    """``study``, once its stored direction is checked against the sweep's."""
    if study.direction.name.lower() != spec.direction:  # pragma: no cover - implied by identity
        raise ConfigError([Problem("the stored study optimises the other direction", "use a new --study")])
    return study


def make_sampler(spec: SweepSpec, seed: int | None, budget: int | None = None) -> Any:
    """``bayes`` → TPE, ``random`` → random, ``grid`` → the exact grid."""
    optuna = _optuna()
    if spec.method == "grid":
        return optuna.samplers.GridSampler(spec.grid_space(), seed=seed)
    if spec.method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    startup = 10 if budget is None else max(2, min(10, budget // 3))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def make_pruner(spec: SweepSpec, epochs: int) -> Any:
    """``early_terminate: hyperband`` → Optuna's Hyperband pruner on epochs (else no pruning)."""
    optuna = _optuna()
    hb = spec.hyperband
    if not hb:
        return optuna.pruners.NopPruner()
    max_iter = int(hb["max_iter"] or epochs)
    return optuna.pruners.HyperbandPruner(
        min_resource=int(hb["min_iter"]),
        max_resource=max(max_iter, int(hb["min_iter"])),
        reduction_factor=int(hb["eta"]),
    )


# ---------------------------------------------------------------------------------------------
# budget and recovery
# ---------------------------------------------------------------------------------------------
def _retried_numbers(trials: list[Any]) -> set[int]:
    return {int(t.user_attrs["retry_of"]) for t in trials if "retry_of" in t.user_attrs}


def counted_trials(trials: list[Any]) -> list[Any]:
    """The trials that count toward the budget: all but those queued again (retried) and those
    started beyond the cap."""
    retried = _retried_numbers(trials)
    return [t for t in trials if t.number not in retried and not t.user_attrs.get("over_cap")]


def budget_of(spec: SweepSpec, trials: int | None) -> int:
    """How many trials the study should hold: ``trials``, else ``run_cap``, else the grid's size.

    Raises
    ------
    ConfigError
        A random or bayes sweep without either.
    """
    if trials is not None:
        if trials < 1:
            raise ConfigError([Problem(f"--trials {trials}", "give a number >= 1")], subject="sweep")
        return int(trials)
    if spec.method == "grid":
        return min(spec.grid_size(), spec.run_cap or spec.grid_size())
    if spec.run_cap is not None:
        return int(spec.run_cap)
    raise ConfigError(
        [
            Problem(
                f"a {spec.method} sweep without run_cap never ends",
                "give --trials N, or set run_cap: N in the sweep configuration",
            )
        ],
        subject="sweep",
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _stale_reason(t: Any, now: float) -> str | None:
    """Why a running trial is dead (None when it may still run)."""
    host, pid = t.user_attrs.get("host"), t.user_attrs.get("pid")
    if host == socket.gethostname() and isinstance(pid, int) and pid != os.getpid() and not _pid_alive(pid):
        return f"its process {pid} on {host} is gone"
    beat = t.user_attrs.get("heartbeat")
    if beat is None and t.datetime_start is not None:
        beat = t.datetime_start.timestamp()
    if beat is not None and now - float(beat) > STALE_AFTER_S:
        return f"no heartbeat for {now - float(beat):.0f} s"
    return None


def recover_trials(study: Any, storage: Any, interrupted: bool = True) -> list[str]:
    """Queue dead and interrupted trials again (same parameters); returns one message per trial.

    A running trial whose process is gone (same host) or whose heartbeat is older than
    :data:`STALE_AFTER_S` is marked failed first. ``interrupted``: also queue failed trials that
    were stopped with Ctrl-C (done once, when a sweep starts).
    """
    optuna = _optuna()
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    trials = study.get_trials(deepcopy=False)
    retried = _retried_numbers(trials)
    now = time.time()
    notes: list[str] = []
    for t in trials:
        if t.number in retried:
            continue
        why = None
        if t.state == TrialState.RUNNING:
            why = _stale_reason(t, now)
            if why is None:
                continue
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            try:
                storage.set_trial_user_attr(trial_id, "stale", why)
                if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
                    continue
            except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
                continue  # another worker got there first
        elif interrupted and t.state == TrialState.FAIL and t.user_attrs.get("interrupted"):
            why = "it was interrupted"
        else:
            continue
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
        notes.append(f"trial {t.number} queued again: {why}")
    return notes


def _reached_target(study: Any, spec: SweepSpec) -> bool:
    if spec.target is None:
        return False
    from optuna.trial import TrialState

    vals = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if spec.direction == "maximize":
        return any(v >= spec.target for v in vals)
    return any(v <= spec.target for v in vals)


# ---------------------------------------------------------------------------------------------
# one trial
# ---------------------------------------------------------------------------------------------
class EpochReporter:
    """The trainer's per-epoch hook for one Optuna trial: reports the sweep metric and asks the
    pruner; returns True (stop training) when the trial should be pruned.

    Non-finite values (no new burn in validation) are not reported. The last epoch
    (``last_epoch``, the trial's ``training.epochs``) is reported but never pruned: the trial is
    done, and its result counts as complete.
    """

    def __init__(self, trial: Any, metric: str, last_epoch: int | None = None):
        self.trial, self.metric, self.last_epoch = trial, metric, last_epoch
        self.pruned_at: int | None = None
        self.reported: list[tuple[int, float]] = []

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(float(value)) or epoch < 1:
            return False
        self.trial.report(float(value), step=int(epoch))
        self.reported.append((int(epoch), float(value)))
        if self.last_epoch is not None and epoch >= self.last_epoch:
            return False
        if self.trial.should_prune():
            self.pruned_at = int(epoch)
            return True
        return False


@contextlib.contextmanager
def _heartbeat(trial: Any, every: float = HEARTBEAT_S) -> Iterator[None]:
    """Record ``heartbeat`` (epoch seconds) on the trial every ``every`` seconds while it runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            with contextlib.suppress(Exception):  # a storage hiccup must not kill the trial
                trial.set_user_attr("heartbeat", time.time())

    trial.set_user_attr("heartbeat", time.time())
    thread = threading.Thread(target=beat, name="emberxr-sweep-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


class _OverCap(Exception):
    """A trial started after the budget was reached (recorded as failed, never counted)."""


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(values), default=str))


@dataclass
class SweepRun:
    """Everything a worker needs to run trials (picklable, sent to worker processes).

    Attributes
    ----------
    spec
        The checked sweep.
    storage
        Storage URL.
    study
        Study name.
    folder
        The sweep folder (trial run directories go to ``folder/trials``).
    budget
        Trials the study should hold.
    runtime
        Dotted overrides set by this machine only (``training.device``, ``training.num_threads``,
        ``training.progress``).
    data
        What the trials train on (``--data``, else the command's ``--data``, else
        ``data.catalog``).
    epochs
        The base configuration's ``training.epochs`` (Hyperband's default maximum resource).
    seed
        Sampler seed (worker ``i`` uses ``seed + i``).
    no_wandb
        Turn W&B off for every trial.
    train_fn
        What a trial runs: ``train_fn(run, overrides, run_dir, reporter) -> value``; default
        :func:`train_trial` (``emberxr.fit``).
    """

    spec: SweepSpec
    storage: str
    study: str
    folder: Path
    budget: int
    runtime: dict[str, Any] = field(default_factory=dict)
    data: Any = None
    epochs: int = 1
    seed: int | None = None
    no_wandb: bool = False
    train_fn: Callable[..., float] | None = None


def trial_overrides(run: SweepRun, values: Mapping[str, Any], number: int) -> dict[str, Any]:
    """The dotted overrides of one trial: the constants and sampled values, the sweep's metric as
    ``training.monitor``, this machine's settings, and the W&B run's group, name and project."""
    spec = run.spec
    out: dict[str, Any] = {**spec.constants, **values}
    out["training.monitor"] = spec.metric
    out["training.monitor_mode"] = "max" if spec.goal == "maximize" else "min"
    out.update(run.runtime)
    out["wandb.group"] = run.study
    out["wandb.name"] = f"{run.study}-{number:04d}"
    if spec.raw.get("project"):
        out["wandb.project"] = spec.raw["project"]
    if spec.raw.get("entity"):
        out["wandb.entity"] = spec.raw["entity"]
    if run.no_wandb or spec.fit_options.get("no_wandb"):
        out["wandb.enabled"] = False
    return out


_SPLITS_CACHE: dict[Any, Any] = {}


def train_trial(run: SweepRun, overrides: Mapping[str, Any], run_dir: Path, reporter: EpochReporter) -> float:
    """Train one trial with :func:`emberxr.fit`; returns the best epoch's value of the metric.

    The data is resolved once per process and shared by its trials.
    """
    from emberxr.api import fit
    from emberxr.data.sources import SPLITS, resolve_splits
    from emberxr.train.config import merge_overrides

    base = run.spec.base_config()
    source = run.data if run.data is not None else base.get("data", {}).get("catalog", "sim-small")
    key = str(source) if isinstance(source, (str, os.PathLike)) else id(source)
    if key not in _SPLITS_CACHE:
        _SPLITS_CACHE.clear()
        _SPLITS_CACHE[key] = resolve_splits(source, allowed=SPLITS, required=("train",))
    cfg = merge_overrides(base, dict(overrides))
    try:
        fitted = fit(
            dict(_SPLITS_CACHE[key]),
            model=run.spec.fit_options.get("model"),
            config=cfg,
            run_dir=run_dir,
            sweep=False,
            callbacks=[reporter],
        )
        reporter.trial.set_user_attr("best_epoch", int(fitted.epoch))
        reporter.trial.set_user_attr("train_seconds", float(fitted.train_seconds or 0.0))
        reporter.trial.set_user_attr("epochs", len(fitted.history))
        best = next((h for h in fitted.history if h.get("epoch") == fitted.epoch), None)
        value = (best or {}).get(run.spec.metric, fitted.metrics.get(run.spec.metric, float("nan")))
        del fitted
        return float(value)
    finally:
        gc.collect()  # the next trial starts without this one's model and optimizer


def _objective(run: SweepRun) -> Callable[[Any], float]:
    optuna = _optuna()
    train = run.train_fn or train_trial

    def objective(trial: Any) -> float:
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        before = [
            t for t in counted_trials(trial.study.get_trials(deepcopy=False)) if t.number < trial.number
        ]
        if len(before) >= run.budget:
            trial.set_user_attr("over_cap", True)
            raise _OverCap(f"the study already holds {run.budget} trials")
        values = {p.name: p.suggest(trial, grid=run.spec.method == "grid") for p in run.spec.searched}
        overrides = trial_overrides(run, values, trial.number)
        run_dir = run.folder / "trials" / f"trial-{trial.number:04d}"
        trial.set_user_attr("values", _jsonable({**run.spec.constants, **values}))
        trial.set_user_attr("run_dir", str(run_dir))
        reporter = EpochReporter(trial, run.spec.metric, int(overrides.get("training.epochs", run.epochs)))
        try:
            with _heartbeat(trial):
                value = train(run, overrides, run_dir, reporter)
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            raise
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:2000])
            raise
        if reporter.pruned_at is not None:
            trial.set_user_attr("pruned_at", reporter.pruned_at)
            raise optuna.TrialPruned(f"pruned after epoch {reporter.pruned_at}")
        return value

    return objective


# ---------------------------------------------------------------------------------------------
# workers
# ---------------------------------------------------------------------------------------------
def _say(text: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(f"[emberxr] {text}")


def describe_trial(t: Any, metric: str) -> str:
    """One line about a finished trial."""
    vals = t.user_attrs.get("values", t.params)
    shown = " ".join(f"{k}={show(v)}" for k, v in vals.items())
    state = t.state.name.lower()
    if state == "complete":
        head = f"{metric} {t.value:.4f}"
    elif state == "pruned":
        head = f"pruned after epoch {t.user_attrs.get('pruned_at', '?')}"
    else:
        head = f"failed ({t.user_attrs.get('error', 'see the log')})"
    return f"trial {t.number}: {head}  {shown}"


class _Recorder:
    """An Optuna callback keeping the numbers of the trials this worker finished."""

    def __init__(self, into: list[int]):
        self.into = into

    def __call__(self, study: Any, trial: Any) -> None:
        self.into.append(trial.number)


def _work(run: SweepRun, worker: int = 0, announce: bool = True) -> None:
    """Run trials until the study holds ``run.budget`` of them (one worker)."""
    optuna = _optuna()
    from optuna.trial import TrialState

    storage = open_storage(run.storage)
    seed = None if run.seed is None else run.seed + worker
    study = optuna.load_study(
        study_name=run.study,
        storage=storage,
        sampler=make_sampler(run.spec, seed, run.budget),
        pruner=make_pruner(run.spec, run.epochs),
    )
    objective = _objective(run)
    fails = 0
    while True:
        for note in recover_trials(study, storage, interrupted=False):
            _say(note)
        if len(counted_trials(study.get_trials(deepcopy=False))) >= run.budget:
            return
        if _reached_target(study, run.spec):
            return
        mine: list[int] = []
        study.optimize(
            objective,
            n_trials=1,
            catch=(Exception,),
            callbacks=[_Recorder(mine)],
        )
        if not mine:  # pragma: no cover - optimize always runs one trial
            return
        t = storage.get_trial(
            storage.get_trial_id_from_study_id_trial_number(
                storage.get_study_id_from_name(run.study), mine[-1]
            )
        )
        if t.user_attrs.get("over_cap"):
            return
        if announce:
            _say(describe_trial(t, run.spec.metric))
        fails = fails + 1 if t.state == TrialState.FAIL else 0
        if fails >= MAX_FAILS_IN_A_ROW:
            raise SweepError(
                f"{fails} trials in a row failed; the last one: {t.user_attrs.get('error', '?')}. "
                f"Fix the cause (its run directory: {t.user_attrs.get('run_dir')}) and run the same "
                "command again: the study continues"
            )


def _worker_main(run: SweepRun, worker: int) -> None:  # pragma: no cover - runs in a child process
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning, module="optuna")
    threads = run.runtime.get("training.num_threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    try:
        _work(run, worker, announce=True)
    except KeyboardInterrupt:
        pass


def _run_workers(run: SweepRun, workers: int) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_worker_main, args=(run, i), name=f"emberxr-sweep-{i}") for i in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.join(timeout=30)
        raise
    bad = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if bad:
        raise SweepError(f"{len(bad)} of {workers} sweep workers stopped with an error (exit codes {bad})")


def run_sweep(
    spec: SweepSpec,
    *,
    trials: int | None = None,
    storage: str | None = None,
    study: str | None = None,
    output_dir: str | os.PathLike | None = None,
    workers: int = 1,
    data: Any = None,
    device: str | None = None,
    seed: int | None = None,
    no_wandb: bool = False,
    progress: bool | None = None,
    train_fn: Callable[..., float] | None = None,
) -> Any:
    """Run (or continue) an Optuna study of a sweep; returns the ``optuna.Study``.

    Parameters
    ----------
    spec
        The checked sweep (:func:`emberxr.sweep.load_sweep`).
    trials
        Trials the study should hold when done (default: ``run_cap``, or the grid's size).
    storage
        Storage URL (default: SQLite ``<output_dir>/study.db``; see :func:`open_storage`).
    study
        Study name (default: the sweep's name).
    output_dir
        The sweep folder (default ``sweeps/<study>``): ``sweep.json``, ``sweep.yaml``, the SQLite
        file, ``trials/trial-NNNN`` run directories and the report.
    workers
        Parallel worker processes sharing the storage (each trains one trial at a time, with
        ``cpu_count // workers`` torch threads unless ``training.num_threads`` is set).
    data
        What trials train on (default: the command's ``--data``, else ``data.catalog``).
    device
        ``training.device`` of every trial on this machine (``cuda``, ``cpu`` ...).
    seed
        Sampler seed (reproducible proposals with one worker).
    no_wandb
        Turn W&B off for every trial (else each trial logs its own run, grouped by the study).
    progress
        Training progress bars of each trial (default: the configuration's, off with workers).
    train_fn
        What a trial runs instead of :func:`train_trial` (``train_fn(run, overrides, run_dir,
        reporter) -> value``; a top-level function when ``workers > 1``).
    """
    import yaml

    from emberxr.atomic import atomic_path
    from emberxr.train.config import build_config

    optuna = _optuna()
    name = study or spec.name
    folder = Path(output_dir) if output_dir is not None else Path("sweeps") / name
    folder.mkdir(parents=True, exist_ok=True)
    url = storage_url(storage, folder)
    budget = budget_of(spec, trials)
    if workers < 1:
        raise ConfigError([Problem(f"--workers {workers}", "give a number >= 1")], subject="sweep")
    cfg0 = build_config(spec.fit_options.get("model"), spec.base_config(), spec.constants)
    runtime: dict[str, Any] = {}
    if device is not None:
        runtime["training.device"] = device
    if workers > 1 and cfg0["training"]["num_threads"] is None:
        runtime["training.num_threads"] = max(1, (os.cpu_count() or 1) // workers)
    show = (workers == 1) if progress is None else bool(progress)
    if not show:
        runtime["training.progress"] = False
    run = SweepRun(
        spec=spec,
        storage=url,
        study=name,
        folder=folder.resolve(),
        budget=budget,
        runtime=runtime,
        data=data if data is not None else spec.fit_options.get("data"),
        epochs=int(cfg0["training"]["epochs"]),
        seed=seed,
        no_wandb=no_wandb,
        train_fn=train_fn,
    )
    st = open_storage(url)
    the_study = create_or_load_study(spec, st, name, seed)
    info = {
        "backend": "optuna",
        "study": name,
        "storage": url,
        "sweep": str(spec.source) if spec.source else None,
        "budget": budget,
        "updated": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    with atomic_path(folder / SWEEP_FILE) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    with atomic_path(folder / "sweep.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(spec.raw, sort_keys=False))
    for note in recover_trials(the_study, st, interrupted=True):
        _say(note)
    done = len(counted_trials(the_study.get_trials(deepcopy=False)))
    _say(
        f"sweep {name!r}: {spec.method} over {len(spec.searched)} parameters, {done}/{budget} trials in "
        f"{url}; trials train in {folder / 'trials'}"
    )
    if workers == 1:
        with _threads(runtime.get("training.num_threads")):
            _work(run, 0)
    else:
        _run_workers(run, workers)
    the_study = optuna.load_study(study_name=name, storage=st)
    return the_study


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    if not n:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def sweep_info(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``sweep.json`` of a sweep folder (storage URL and study name).

    Raises
    ------
    ConfigError
        The folder holds no sweep.
    """
    path = Path(folder) / SWEEP_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise ConfigError(
            [
                Problem(
                    f"{folder} is not a sweep folder (no readable {SWEEP_FILE})",
                    "give the folder `emberxr sweep` wrote (sweeps/<study>), or --storage URL with --study NAME",
                )
            ],
            subject="sweep",
        ) from None
