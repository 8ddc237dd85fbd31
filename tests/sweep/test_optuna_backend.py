"""The offline backend: trials, grid, pruning, run cap, resumption, workers, storages, report."""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from emberxr.cli import EXIT_BAD_INPUT, main
from emberxr.errors import ConfigError
from emberxr.sweep.optuna_backend import (
    EpochReporter,
    create_or_load_study,
    make_pruner,
    open_storage,
    run_sweep,
)
from emberxr.sweep.spec import load_sweep

from .conftest import TINY

METRIC = {"name": "val/new_ap", "goal": "maximize"}


def journal(folder):
    """A journal-file storage (much faster than SQLite on a busy disk; the engine is the same)."""
    return f"journal:{folder / 'study.log'}"


def states(study):
    return [t.state for t in study.get_trials()]


def test_a_three_trial_sweep_trains_each_trial_in_its_own_run_dir(write_sweep, event_store, tmp_path, capsys):
    """End to end from the command line: SQLite in the sweep folder, three trained trials with
    per-epoch reports, a report with the best trial and three PNG plots."""
    path = write_sweep(
        {
            "method": "random",
            "metric": METRIC,
            "early_terminate": {"type": "hyperband", "min_iter": 1},
            "run_cap": 3,
            "parameters": {
                "model.hidden": {"values": [4, 8]},
                "training.lr_temporal": {"distribution": "log_uniform_values", "min": 1.0e-3, "max": 1.0e-2},
            },
        }
    )
    out = tmp_path / "sw"
    argv = [
        "sweep",
        str(path),
        *TINY,
        "--data",
        str(event_store),
        "-o",
        str(out),
        "--seed",
        "0",
        "--no-wandb",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials()
    # Hyperband (min_iter 1, two epochs: one bracket) may prune a trial that is not the best at epoch 1
    assert len(trials) == 3 and {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert trials[0].state == TrialState.COMPLETE  # the first trial has nobody to lose against
    dirs = {t.user_attrs["run_dir"] for t in trials}
    assert len(dirs) == 3
    for t in trials:
        run = out / "trials" / f"trial-{t.number:04d}"
        assert t.user_attrs["run_dir"] == str(run.resolve())
        assert (run / "model.pt").is_file() and (run / "best.pt").is_file()
        assert set(t.user_attrs["values"]) == {"model.hidden", "training.lr_temporal"}
        if t.state == TrialState.COMPLETE:
            assert sorted(t.intermediate_values) == [1, 2]  # one report per epoch
            assert t.value == t.intermediate_values[t.user_attrs["best_epoch"]]
        else:
            assert sorted(t.intermediate_values) == [1] and t.user_attrs["pruned_at"] == 1
    # the trial trained with its sampled values
    import emberxr

    best = study.best_trial
    fitted = emberxr.load(out / "trials" / f"trial-{best.number:04d}" / "model.pt")
    assert fitted.config["model"]["hidden"] == best.params["model.hidden"]
    assert fitted.config["training"]["lr_temporal"] == pytest.approx(best.params["training.lr_temporal"])
    assert fitted.config["wandb"]["group"] == "sweep"
    # the report: best trials, table, plots
    assert f"trial {best.number:>4}" in text and "best run:" in text
    for name in ("trials.csv", "best.json", "history.png", "parallel_coordinates.png", "importance.png"):
        assert (out / name).is_file(), name
    best_json = json.loads((out / "best.json").read_text())
    assert best_json["number"] == best.number and best_json["model_name"] == "conv2d"
    # a study arm takes the best trial's values, without the keys the study's budget owns
    from emberxr.sweep.report import tuned_overrides

    model, values = tuned_overrides(out, exclude=("training.",))
    assert model == "conv2d" and values == {"model.hidden": best.params["model.hidden"]}
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # run again: the study already holds its three trials, nothing is trained
    assert main(argv) == 0
    assert len(optuna.load_study(study_name="sweep", storage=f"sqlite:///{out / 'study.db'}").trials) == 3


def test_a_grid_sweep_enumerates_exactly_its_grid(write_sweep, fake, tmp_path):
    path = write_sweep(
        {
            "method": "grid",
            "metric": METRIC,
            "parameters": {
                "model.hidden": {"values": [4, 8, 16]},
                "training.batch_size": {"min": 2, "max": 3},
                "training.seed": {"value": 5},
            },
        }
    )
    spec = load_sweep(path)
    study = run_sweep(spec, storage=journal(tmp_path), output_dir=tmp_path / "g", train_fn=fake.fake_train)
    trials = study.get_trials()
    assert len(trials) == 6 and all(s == TrialState.COMPLETE for s in states(study))
    got = sorted((t.params["model.hidden"], t.params["training.batch_size"]) for t in trials)
    assert got == sorted(itertools.product([4, 8, 16], [2, 3]))
    assert all(t.user_attrs["values"]["training.seed"] == 5 for t in trials)
    assert study.best_trial.params == {"model.hidden": 16, "training.batch_size": 3}
    # nothing left: a second run adds no trial
    again = run_sweep(spec, storage=journal(tmp_path), output_dir=tmp_path / "g", train_fn=fake.fake_train)
    assert len(again.trials) == 6


def test_hyperband_prunes_a_trial_that_reports_a_bad_value(write_sweep, fake, tmp_path):
    """min_iter 1, max_iter 2, eta 3: one bracket; at epoch 1 a trial must be in the top third of
    the trials that reached epoch 1."""
    path = write_sweep(
        {
            "method": "random",
            "metric": METRIC,
            "early_terminate": {"type": "hyperband", "min_iter": 1, "max_iter": 2},
            "run_cap": 5,
            "parameters": {"model.hidden": {"values": [4, 8]}},
        }
    )
    study = run_sweep(
        load_sweep(path),
        storage=journal(tmp_path),
        output_dir=tmp_path / "p",
        train_fn=fake.bad_after_three,
        seed=0,
    )
    s = states(study)
    assert s[:3] == [TrialState.COMPLETE] * 3
    assert s[3:] == [TrialState.PRUNED] * 2
    pruned = study.trials[3]
    assert pruned.user_attrs["pruned_at"] == 1 and list(pruned.intermediate_values) == [1]


def test_the_reporter_stops_on_a_bad_epoch_and_skips_non_finite_values(write_sweep):
    spec = load_sweep(
        write_sweep(
            {
                "method": "random",
                "metric": METRIC,
                "early_terminate": {"type": "hyperband", "min_iter": 1, "max_iter": 2},
                "parameters": {"model.hidden": {"values": [4]}},
            }
        )
    )
    study = optuna.create_study(direction="maximize", pruner=make_pruner(spec, epochs=2))
    for _ in range(3):
        study.add_trial(optuna.trial.create_trial(value=0.8, intermediate_values={1: 0.8, 2: 0.8}))
    good = EpochReporter(study.ask(), "val/new_ap")
    assert good(1, {"val/new_ap": float("nan")}) is False and good.reported == []
    assert good(1, {"val/new_ap": 0.9}) is False and good.pruned_at is None
    bad = EpochReporter(study.ask(), "val/new_ap")
    assert bad(1, {"val/new_ap": 0.1, "val/loss": 3.0}) is True and bad.pruned_at == 1
    # the trial's last epoch is reported but never pruned: the trial is done
    done = EpochReporter(study.ask(), "val/new_ap", last_epoch=1)
    assert done(1, {"val/new_ap": 0.1}) is False and done.pruned_at is None and done.reported == [(1, 0.1)]


def test_the_trainer_stops_when_a_callback_asks(tmp_path):
    """The generic per-epoch hook: every callback sees every epoch's metrics; True stops training."""
    from emberxr.testing import tiny_fit

    seen = []

    def watch(epoch, metrics):
        seen.append((epoch, sorted(metrics)))

    fitted = tiny_fit(tmp_path / "run", epochs=4, callbacks=[watch, lambda epoch, m: epoch >= 2])
    assert [e for e, _ in seen] == [1, 2]
    assert "val/new_ap" in seen[0][1] and "train/loss_epoch" in seen[0][1]
    assert [h["epoch"] for h in fitted.history] == [1, 2]


def test_run_cap_trials_and_continuing_a_study(write_sweep, fake, tmp_path):
    path = write_sweep(
        {
            "method": "random",
            "metric": METRIC,
            "run_cap": 2,
            "parameters": {"model.hidden": {"values": [4, 8, 16]}},
        }
    )
    spec = load_sweep(path)
    out = tmp_path / "c"
    st = journal(tmp_path)
    assert len(run_sweep(spec, storage=st, output_dir=out, train_fn=fake.fake_train).trials) == 2  # run_cap
    study = run_sweep(spec, trials=4, storage=st, output_dir=out, train_fn=fake.fake_train)  # continues to 4
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert all(s == TrialState.COMPLETE for s in states(study))
    # a changed search space is not mixed into the stored study
    other = load_sweep(
        write_sweep(
            {"method": "random", "metric": METRIC, "parameters": {"model.hidden": {"values": [32]}}}, "o.yaml"
        )
    )
    with pytest.raises(ConfigError, match="different sweep"):
        run_sweep(other, trials=5, storage=st, study="sweep", output_dir=out, train_fn=fake.fake_train)


def test_a_study_continued_after_library_defaults_changed_is_refused(write_sweep, fake, tmp_path):
    spec = load_sweep(
        write_sweep(
            {
                "method": "random",
                "metric": METRIC,
                "run_cap": 1,
                "parameters": {"model.hidden": {"values": [4, 8]}},
            }
        )
    )
    # the identity holds defaults the YAML never names (the model's, the training section's)
    assert spec.identity()["resolved"]["model"]["modules"]["model"]["layers"] == 3
    assert spec.identity()["resolved"]["config"]["training"]["schedule"] == "cosine"
    st = journal(tmp_path)
    run_sweep(spec, storage=st, output_dir=tmp_path / "o", train_fn=fake.fake_train)
    study = optuna.load_study(study_name="sweep", storage=open_storage(st))
    stored = study.user_attrs["emberxr_sweep"]
    older = json.loads(json.dumps(stored))
    older["resolved"]["config"]["training"]["schedule"] = "constant"  # what an older emberxr resolved
    study.set_user_attr("emberxr_sweep", older)
    with pytest.raises(ConfigError) as err:
        run_sweep(spec, trials=2, storage=st, output_dir=tmp_path / "o", train_fn=fake.fake_train)
    assert "library's defaults changed" in str(err.value)
    assert "config.training.schedule: 'constant' -> 'cosine'" in str(err.value)
    # a study made before identities held the resolved settings: continued, with a warning
    study.set_user_attr("emberxr_sweep", {k: v for k, v in stored.items() if k != "resolved"})
    with pytest.warns(UserWarning, match="cannot be checked"):
        again = run_sweep(spec, trials=2, storage=st, output_dir=tmp_path / "o", train_fn=fake.fake_train)
    assert len(again.trials) == 2


def test_an_interrupted_trial_is_run_again_with_the_same_values(write_sweep, fake, tmp_path):
    path = write_sweep(
        {
            "method": "random",
            "metric": METRIC,
            "run_cap": 3,
            "parameters": {"model.hidden": {"values": [4, 8, 16]}},
        }
    )
    spec = load_sweep(path)
    out = tmp_path / "i"
    st = journal(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, storage=st, output_dir=out, train_fn=fake.interrupt_first, seed=3)
    first = fake.CALLS[0]
    study = run_sweep(spec, storage=st, output_dir=out, train_fn=fake.interrupt_first, seed=3)
    trials = study.trials
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs["interrupted"]
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == 0)
    assert retry.state == TrialState.COMPLETE and retry.params == trials[0].params
    assert fake.CALLS[1]["model.hidden"] == first["model.hidden"]
    counted = [t for t in trials if t.number != 0]
    assert len(counted) == 3 and all(t.state == TrialState.COMPLETE for t in counted)


def test_a_trial_whose_process_died_is_failed_and_queued_again(write_sweep, fake, tmp_path):
    """A RUNNING trial left by a killed process (same host, its pid gone) is marked failed when the
    sweep starts again, and its values are trained again; the study ends with its trial count."""
    path = write_sweep(
        {
            "method": "random",
            "metric": METRIC,
            "run_cap": 3,
            "parameters": {"model.hidden": {"values": [4, 8, 16]}},
        }
    )
    spec = load_sweep(path)
    out = tmp_path / "d"
    st = journal(tmp_path)
    run_sweep(spec, trials=1, storage=st, output_dir=out, train_fn=fake.fake_train)
    storage = open_storage(st)
    study = create_or_load_study(spec, storage, "sweep")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    orphan = study.ask()
    orphan.suggest_categorical("model.hidden", [4, 8, 16])
    orphan.set_user_attr("host", socket.gethostname())
    orphan.set_user_attr("pid", int(dead.stdout))
    study = run_sweep(spec, storage=st, output_dir=out, train_fn=fake.fake_train)
    trials = study.trials
    assert trials[1].state == TrialState.FAIL and "is gone" in trials[1].user_attrs["stale"]
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == 1)
    assert retry.params == trials[1].params and retry.state == TrialState.COMPLETE
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3


@pytest.mark.slow
def test_parallel_workers_share_a_journal_file(write_sweep, fake, tmp_path):
    path = write_sweep(
        {
            "method": "random",
            "metric": METRIC,
            "run_cap": 4,
            "parameters": {"model.hidden": {"values": [4, 8, 16, 32]}},
        }
    )
    journal = tmp_path / "shared" / "study.log"
    study = run_sweep(
        load_sweep(path),
        storage=f"journal:{journal}",
        output_dir=tmp_path / "w",
        workers=2,
        train_fn=fake.fake_train,
    )
    trials = study.trials
    assert journal.is_file()
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4
    assert not any(t.state == TrialState.RUNNING for t in trials)
    assert len({t.user_attrs["pid"] for t in trials}) == 2  # both workers ran trials
    # the report reads the same storage
    assert main(["sweep", "--report", str(tmp_path / "w")]) == 0
    df = pd.read_csv(tmp_path / "w" / "trials.csv")
    assert sorted(df["number"]) == [t.number for t in trials]
    assert (tmp_path / "w" / "parallel_coordinates.png").is_file()


def test_bad_input_is_refused_before_anything_runs(write_sweep, tmp_path, capsys):
    path = write_sweep(
        {
            "method": "random",
            "metric": METRIC,
            "scheduler": {"engine": "optuna"},
            "parameters": {"model.hidden": {"values": [4]}},
        }
    )
    out = tmp_path / "never"
    assert main(["sweep", str(path), "-o", str(out)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "unsupported key 'scheduler'" in err and "Traceback" not in err
    assert not out.exists()
    ok = write_sweep(
        {"method": "random", "metric": METRIC, "parameters": {"model.hidden": {"values": [4]}}}, "ok.yaml"
    )
    assert main(["sweep", str(ok), "-o", str(out)]) == EXIT_BAD_INPUT  # no run_cap, no --trials
    assert "never ends" in capsys.readouterr().err
    assert (
        main(["sweep", str(ok), "--storage", "ftp://nowhere", "--trials", "1", "-o", str(out)])
        == EXIT_BAD_INPUT
    )
    assert "unknown study storage" in capsys.readouterr().err
    assert main(["sweep", "--report", str(tmp_path)]) == EXIT_BAD_INPUT
    assert "not a sweep folder" in capsys.readouterr().err


def test_the_wandb_backend_needs_an_account_and_sends_nothing_without_one(
    write_sweep, monkeypatch, tmp_path, capsys
):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc login
    monkeypatch.setenv("WANDB_MODE", "online")
    path = write_sweep(
        {
            "method": "random",
            "metric": METRIC,
            "parameters": {"model.hidden": {"distribution": "normal", "mu": 8, "sigma": 2}},
        }
    )
    assert main(["sweep", str(path), "--backend", "wandb"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "need an account" in err and "--backend optuna" in err


def test_the_command_wandb_gets_carries_the_machine_settings(write_sweep):
    from emberxr.sweep.wandb_backend import wandb_command

    spec = load_sweep(
        write_sweep({"method": "random", "metric": METRIC, "parameters": {"model.hidden": {"values": [4]}}})
    )
    cmd = wandb_command(spec, ["training.epochs=2", "training.device=cuda"])["command"]
    assert cmd[-3:] == ["training.epochs=2", "training.device=cuda", "${args_no_hyphens}"]


def test_dry_run_prints_the_optuna_space(capsys):
    assert main(["sweep", "sweep_unets", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "training.lr_temporal" in out and "log-scale" in out and "Hyperband (min_iter 2" in out


@pytest.mark.parametrize("command", ["sweep", "attention"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0 and f"emberxr {command}" in capsys.readouterr().out


def test_a_trial_logs_its_own_w_and_b_run_grouped_by_the_study(tmp_path, monkeypatch):
    from emberxr.sweep.optuna_backend import SweepRun, trial_overrides
    from emberxr.train.config import load_config
    from emberxr.train.wandb_utils import WandbLogger

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    spec = load_sweep("sweep_unets", check_config=False)
    run = SweepRun(spec=spec, storage="", study="unets-1", folder=tmp_path, budget=1)
    over = trial_overrides(run, {"model.widths": [16, 32, 64]}, 7)
    assert over["training.monitor"] == "val/new_ap" and over["training.monitor_mode"] == "max"
    cfg = load_config("unets", {**over, "training.output_dir": str(tmp_path)})
    lg = WandbLogger(cfg)
    try:
        assert lg.active and lg.run.group == "unets-1" and lg.run.name == "unets-1-0007"
    finally:
        lg.finish()


@pytest.mark.slow
def test_a_sweep_killed_mid_trial_continues_where_it_stopped(write_sweep, event_store, tmp_path):
    """SIGKILL the sweep process while its second trial trains; the same command then marks that
    trial failed, trains its values again and ends with the trial count."""
    import os
    import signal
    import time

    path = write_sweep(
        {
            "method": "random",
            "metric": METRIC,
            "run_cap": 3,
            "parameters": {"model.hidden": {"values": [4, 8, 16]}},
        }
    )
    out = tmp_path / "k"
    slow = [o for o in TINY if not o.startswith("training.epochs")] + ["training.epochs=4"]
    cmd = [
        sys.executable,
        "-m",
        "emberxr",
        "sweep",
        str(path),
        *slow,
        "--data",
        str(event_store),
        "-o",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"sqlite:///{out / 'study.db'}"
    deadline = time.time() + 600
    try:
        while time.time() < deadline:
            time.sleep(0.5)
            if not (out / "study.db").exists():
                continue
            try:
                trials = optuna.load_study(study_name="sweep", storage=url).trials
            except KeyError:
                continue
            if (
                len(trials) >= 2
                and trials[0].state == TrialState.COMPLETE
                and trials[1].state == TrialState.RUNNING
            ):
                break
        else:  # pragma: no cover
            pytest.fail("the sweep never reached its second trial")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    trials = optuna.load_study(study_name="sweep", storage=url).trials
    assert trials[1].state == TrialState.FAIL and "is gone" in trials[1].user_attrs["stale"]
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == 1)
    assert retry.params == trials[1].params and retry.state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 3
