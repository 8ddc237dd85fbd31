"""``emberxr ablate`` and ``emberxr benchmark sim-shift`` end to end on tiny synthetic data."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

import emberxr
from emberxr.cli import main


def test_ablate_two_arms_two_seeds(tmp_path, tiny_study, shift_catalog, capsys):
    out = tmp_path / "abl"
    rc = main(["ablate", str(tiny_study), "--data", str(shift_catalog), "--out", str(out), "--no-progress"])
    assert rc == 0
    runs = pd.read_csv(out / "runs.csv")
    assert sorted(set(zip(runs["arm"], runs["seed"]))) == [("big", 0), ("big", 1), ("small", 0), ("small", 1)]
    # evaluated on every split of the data besides train and val
    assert set(runs["split"]) == {"test", "test-windy", "test-dry", "test-real-terrain"}
    summary = pd.read_csv(out / "summary.csv")
    big = summary[(summary["arm"] == "big") & (summary["scope"] == "all")]
    assert (big["reference"] == "small").all() and big["n_pairs"].eq(2).all() and big["ci_low"].notna().all()
    printed = capsys.readouterr().out
    assert "new-burn F1" in printed and "Δ" in printed and "seeds 0, 1 (2 per arm)" in printed
    assert (out / "summary.md").read_text().count("####") >= 4


def test_ablate_options_arms_seeds_steps_and_dry_run(tmp_path, tiny_study, shift_catalog, capsys):
    out = tmp_path / "abl"
    args = ["ablate", str(tiny_study), "--data", str(shift_catalog), "--out", str(out)]
    assert main([*args, "--arms", "big", "--seeds", "3", "--steps", "3", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert (
        "small/seed-3" in printed and "big/seed-3" in printed and "seed-0" not in printed
    )  # + its reference
    assert not out.exists()
    assert main([*args, "--arms", "big", "--seeds", "3", "--steps", "3", "--no-progress"]) == 0
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["seed"]) == {3} and (runs["steps"] == 3).all()


def test_ablate_bad_input_exits_1_before_training(tmp_path, tiny_study, shift_catalog, capsys, monkeypatch):
    out = tmp_path / "abl"
    args = ["ablate", str(tiny_study), "--data", str(shift_catalog), "--out", str(out)]
    assert main([*args, "--arms", "smal"]) == 1
    assert "did you mean 'small'" in capsys.readouterr().err
    monkeypatch.setenv("EMBERXR_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    spec = yaml.safe_load(tiny_study.read_text())
    spec["config"]["model"] = {"name": "conv2d"}  # no conv2d option for the emberformer arm
    spec["arms"]["pre"] = {"model": {"name": "emberformer", "decoder": "unet", "pretrained": True}}
    tiny_study.write_text(yaml.safe_dump(spec))
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "arm 'pre'" in err and "unet-resnet18.pt" in err and "nothing was trained" in err
    assert not out.exists()
    assert main(["ablate", str(tmp_path / "none.yaml")]) == 1


def test_sim_shift_trains_and_reports_in_regime_vs_held_out(tmp_path, tiny_study, shift_catalog, capsys):
    out = tmp_path / "shift"
    base = ["benchmark", "sim-shift", "--catalog", str(shift_catalog), "--config", str(tiny_study)]
    rc = main(
        [*base, "--model", "conv2d", "--seeds", "0", "--steps", "2", "--out", str(out), "--no-progress"]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    lines = [ln for ln in printed.splitlines() if ln.startswith("| `test")]
    assert [ln.split("|")[1].strip() for ln in lines] == [
        "`test`",
        "`test-windy`",
        "`test-dry`",
        "`test-real-terrain`",
    ]
    assert "in-regime" in lines[0] and all("held out" in ln for ln in lines[1:])
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["arm"]) == {"conv2d"} and (runs["steps"] == 2).all()
    assert "style=rangeland" in set(runs[runs["split"] == "test-real-terrain"]["group"])  # by regime
    assert (out / "shift.md").is_file() and (out / "summary.md").is_file()
    # the checkpoint path: evaluated, not trained
    ckpt = out / "runs" / "conv2d" / "seed-0" / "model.pt"
    rc = main([*base, "--checkpoint", str(ckpt), "--out", str(tmp_path / "ck"), "--no-progress"])
    assert rc == 0
    again = pd.read_csv(tmp_path / "ck" / "runs.csv")
    a = runs.set_index(["split", "target", "scope", "group", "metric"])["value"]
    b = again.set_index(["split", "target", "scope", "group", "metric"])["value"]
    assert b.sort_index().tolist() == pytest.approx(a.sort_index().tolist())


def test_sim_shift_tuned_arms_train_with_the_best_trial_and_the_shared_budget(
    tmp_path, tiny_study, shift_catalog, capsys
):
    sweep = tmp_path / "sweep_conv2d"
    sweep.mkdir()
    best = {"model_name": "conv2d", "values": {"model.hidden": 6, "training.batch_size": 16}}
    (sweep / "best.json").write_text(json.dumps(best))
    out = tmp_path / "tuned"
    base = ["benchmark", "sim-shift", "--catalog", str(shift_catalog), "--config", str(tiny_study)]
    argv = [*base, "--tuned", str(sweep), "--seeds", "0", "--steps", "2", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    fitted = emberxr.load(out / "runs" / "conv2d" / "seed-0" / "model.pt")
    assert fitted.config["model"]["hidden"] == 6  # the tuned value
    assert fitted.config["training"]["batch_size"] == 2  # the study's budget, not the sweep's 16
    # two sweeps of one model, a folder without best.json: named errors, nothing trained
    capsys.readouterr()
    assert main([*base, "--tuned", str(sweep), str(sweep / "best.json"), "--out", str(tmp_path / "x")]) == 1
    assert "two sweeps tuned 'conv2d'" in capsys.readouterr().err
    assert main([*base, "--tuned", str(tmp_path), "--out", str(tmp_path / "x")]) == 1
    assert "emberxr sweep --report" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_sim_shift_bad_input(tmp_path, shift_catalog, capsys):
    base = ["benchmark", "sim-shift", "--catalog", str(shift_catalog)]
    assert main(base) == 1
    assert "--model" in capsys.readouterr().err
    assert main([*base, "--checkpoint", "x.pt", "--seeds", "0"]) == 1
    assert "--checkpoint" in capsys.readouterr().err
    # a catalog without held-out splits
    assert main(["benchmark", "sim-shift", "--catalog", "sim-small", "--model", "unets"]) == 1
    assert "held-out split" in capsys.readouterr().err
    assert main(["benchmark"]) == 2
