"""The study runner: same data, budget and seeds for every arm; resume; statistics; study files."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

import emberxr
from emberxr.errors import ConfigError, WeightsError
from emberxr.study import (
    RUN_COLUMNS,
    Arm,
    load_study_spec,
    read_study,
    render_markdown,
    run_study,
    save_study,
    split_steps,
    summarize,
    validate_arms,
)

# the settings of the conftest's TINY_STUDY: conv2d, two steps of batch 2 per run
TINY = {
    "model": {"name": "conv2d", "layers": 2},
    "data": {"patch_size": 8, "max_history": 3},
    "training": {"progress": False, "num_threads": 1},
    "wandb": {"enabled": False},
}
BUDGET = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 2}
ARMS = [Arm("small", "conv2d", {"model.hidden": 4}), Arm("big", "conv2d", {"hidden": 8})]


@pytest.fixture
def fit_calls(monkeypatch):
    """Count the calls of emberxr.fit the study makes (the real fit still runs)."""
    from emberxr import api

    calls = []
    real = api.fit

    def counting(*args, **kwargs):
        calls.append(kwargs.get("run_dir"))
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "fit", counting)
    return calls


def _data(events):
    return {"train": events[:4], "val": events[4:5], "test": events[5:7], "test-windy": events[7:8]}


def _study(events, out, **kw):
    return run_study(
        ARMS, [0, 1], _data(events), None, out, config=TINY, show_progress=False, **{**BUDGET, **kw}
    )


# ---------------------------------------------------------------------------------------------
# running and resuming
# ---------------------------------------------------------------------------------------------
def test_two_arms_two_seeds_end_to_end(tmp_path, regime_events, fit_calls):
    out = tmp_path / "study"
    runs = run_study(
        ARMS, [0, 1], _data(regime_events), None, out, config=TINY, by="regime", show_progress=False, **BUDGET
    )
    assert list(runs.columns) == list(RUN_COLUMNS)
    assert len(fit_calls) == 4
    runs_done = runs.groupby(["arm", "seed"]).size()
    assert set(runs_done.index) == {("small", 0), ("small", 1), ("big", 0), ("big", 1)}
    assert set(runs["split"]) == {"test", "test-windy"}  # every split besides train/val
    assert (runs["steps"] == 2).all()  # the same budget: 1 epoch x 2 steps, no early stop
    assert set(runs["scope"]) == {"all", "history", "regime"}
    assert runs["value"].dropna().between(0, 1).all()
    # each run trained its own arm with its own seed
    for arm, hidden in (("small", 4), ("big", 8)):
        for seed in (0, 1):
            f = emberxr.load(out / "runs" / arm / f"seed-{seed}" / "model.pt")
            assert f.config["model"]["hidden"] == hidden and f.config["training"]["seed"] == seed
            assert f.config["training"]["epochs"] == 1 and f.config["training"]["early_stopping"] is None
    w0 = torch.load(out / "runs/small/seed-0/model.pt", weights_only=True)["state_dict"]
    w1 = torch.load(out / "runs/small/seed-1/model.pt", weights_only=True)["state_dict"]
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)  # the seed changed the run
    again, meta = read_study(out)
    pd.testing.assert_frame_equal(again, runs, check_dtype=False)
    assert meta["seeds"] == [0, 1] and [a["name"] for a in meta["arms"]] == ["small", "big"]
    assert meta["budget"]["training.steps_per_epoch"] == 2 and meta["reference"] == "small"
    md = (out / "summary.md").read_text()
    assert "`big`" in md and "Δ" in md and "seeds 0, 1 (2 per arm)" in md and "by regime on `test`" in md
    summary = pd.read_csv(out / "summary.csv")
    assert {"beyond_spread", "ci_low", "ci_high", "diff_mean"} <= set(summary.columns)


def test_a_second_call_reuses_every_finished_run(tmp_path, regime_events, fit_calls):
    out = tmp_path / "study"
    first = _study(regime_events, out)
    assert len(fit_calls) == 4
    again = _study(regime_events, out)
    assert len(fit_calls) == 4  # no new fit
    pd.testing.assert_frame_equal(again, first)


def test_an_interrupted_study_redoes_only_what_is_missing(tmp_path, regime_events, fit_calls):
    out = tmp_path / "study"
    first = _study(regime_events, out)
    run = out / "runs" / "big" / "seed-1"
    # killed after training, before the evaluation was written: evaluated again, not trained
    (run / "result.json").unlink()
    again = _study(regime_events, out)
    assert len(fit_calls) == 4
    pd.testing.assert_frame_equal(again.drop(columns="eval_seconds"), first.drop(columns="eval_seconds"))
    # killed during training (no model.pt): only that run is fitted again, from its last.pt
    (run / "result.json").unlink()
    (run / "model.pt").unlink()
    _study(regime_events, out)
    assert fit_calls[4:] == [run]


def test_a_changed_study_is_refused_before_training(tmp_path, regime_events, fit_calls):
    out = tmp_path / "study"
    _study(regime_events, out)
    with pytest.raises(ConfigError, match=r"other settings.*budget"):
        _study(regime_events, out, steps_per_epoch=3)
    assert len(fit_calls) == 4


def _edit_run(run, change):
    """Rewrite a run's run.json as an other emberxr would have written it."""
    data = json.loads((run / "run.json").read_text())
    change(data["fit"])
    (run / "run.json").write_text(json.dumps(data))


def test_a_changed_library_default_is_refused_naming_it(tmp_path, regime_events, fit_calls):
    out = tmp_path / "study"
    _study(regime_events, out)
    run = out / "runs" / "big" / "seed-1"
    key = json.loads((run / "run.json").read_text())["fit"]
    # the key holds what the settings resolve to: defaults no configuration names
    assert key["resolved"]["model"]["modules"]["model"]["layers"] == 2
    assert key["resolved"]["config"]["training"]["schedule"] == "cosine"

    def older_library(fit):  # the same study text, trained when two defaults were other values
        fit["resolved"]["model"]["modules"]["model"]["in_dynamic"] = 3
        fit["resolved"]["config"]["training"]["schedule"] = "constant"

    _edit_run(run, older_library)
    _edit_run(out / "runs" / "small" / "seed-0", older_library)
    with pytest.raises(ConfigError) as err:
        _study(regime_events, out)
    msg = str(err.value)
    assert "2 problem(s)" in msg  # every refused run is named, not only the first
    assert "arm 'big' seed 1" in msg and "arm 'small' seed 0" in msg and "library's defaults changed" in msg
    assert "model.modules.model.in_dynamic: 3 -> 0" in msg
    assert "config.training.schedule: 'constant' -> 'cosine'" in msg
    assert len(fit_calls) == 4  # nothing trained


def test_runs_from_before_resolved_keys_are_reused_with_a_warning(tmp_path, regime_events, fit_calls):
    out = tmp_path / "study"
    first = _study(regime_events, out)
    run = out / "runs" / "small" / "seed-0"
    _edit_run(run, lambda fit: fit.pop("resolved"))
    (run / "result.json").unlink()  # evaluated again: run.json is written back
    with pytest.warns(UserWarning, match=r"1 run\(s\) .* cannot be checked"):
        again = _study(regime_events, out)
    assert len(fit_calls) == 4
    pd.testing.assert_frame_equal(again.drop(columns="eval_seconds"), first.drop(columns="eval_seconds"))
    # written back without a claim that was never checked
    assert "resolved" not in json.loads((run / "run.json").read_text())["fit"]


def test_all_arms_are_checked_before_anything_trains(tmp_path, regime_events, fit_calls):
    arms = [
        Arm("a", "conv2d", {"hidden": "wide"}),
        Arm("a", "conv2d"),
        Arm("b/c", "conv2d"),
        Arm("d", "conv2d", {"training.steps_per_epoch": 9}),
    ]
    with pytest.raises(ConfigError) as err:
        run_study(arms, [0], _data(regime_events), None, tmp_path / "s", config=TINY, **BUDGET)
    msg = str(err.value)
    assert "arm 'a'" in msg and "hidden" in msg
    assert "two arms are named 'a'" in msg and "'b/c' is not a folder name" in msg
    assert "arm 'd' sets 'training.steps_per_epoch', part of the shared budget" in msg
    assert not fit_calls and not (tmp_path / "s").exists()


@pytest.mark.parametrize("seeds", [[], [0, 0], [-1], ["x"]])
def test_bad_seeds(tmp_path, regime_events, seeds):
    with pytest.raises(ConfigError, match="seed"):
        run_study(ARMS, seeds, _data(regime_events), None, tmp_path, config=TINY, **BUDGET)


def test_a_missing_weight_file_fails_the_study_before_training(
    tmp_path, monkeypatch, regime_events, fit_calls
):
    monkeypatch.setenv("EMBERXR_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    arms = [
        Arm("random", "emberformer", {"decoder": "unet"}),
        Arm("pretrained", "emberformer", {"decoder": "unet", "pretrained": True}),
    ]
    cfg = {"data": {"patch_size": 8, "max_history": 3}, "wandb": {"enabled": False}}
    with pytest.raises(WeightsError, match=r"arm 'pretrained'.*unet-resnet18\.pt") as err:
        run_study(arms, [0], _data(regime_events), None, tmp_path / "s", config=cfg, **BUDGET)
    assert "arm 'random'" not in str(err.value)
    assert not fit_calls and not (tmp_path / "s").exists()


def test_evaluation_data_forms(tmp_path, regime_events, fit_calls):
    data = _data(regime_events)
    runs = run_study(
        [ARMS[0]],
        [0],
        data,
        {"in": data["test"], "windy": (data, "test-windy")},
        tmp_path / "s",
        config=TINY,
        show_progress=False,
        **BUDGET,
    )
    assert list(dict.fromkeys(runs["split"])) == ["in", "windy"]
    n = runs[(runs["scope"] == "all") & (runs["metric"] == "f1") & (runs["target"] == "next")]
    windy_samples = int(n[n["split"] == "windy"]["n_samples"].iloc[0])
    assert windy_samples == int(regime_events[7].sizes["time"]) - 1  # one event: T-1 samples
    with pytest.raises(ConfigError, match="no split"):
        run_study([ARMS[0]], [0], data, ["nope"], tmp_path / "t", config=TINY, **BUDGET)


def test_dry_run_trains_and_writes_nothing(tmp_path, regime_events, fit_calls, capsys):
    out = tmp_path / "s"
    rows = _study(regime_events, out, dry_run=True)
    assert rows.empty and not fit_calls and not out.exists()
    assert "4 run(s)" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
def _runs(values: dict[str, list[float]], metric: str = "f1") -> pd.DataFrame:
    rows = [
        {
            "arm": arm,
            "seed": s,
            "split": "test",
            "target": "new",
            "scope": "all",
            "group": "all",
            "metric": metric,
            "value": v,
        }
        for arm, vals in values.items()
        for s, v in enumerate(vals)
    ]
    return pd.DataFrame(rows)


def test_summarize_against_hand_computed_values():
    runs = _runs({"ref": [0.60, 0.62, 0.64], "a": [0.70, 0.71, 0.75]})
    s = summarize(runs, "ref").set_index("arm")
    assert s.loc["ref", "mean"] == pytest.approx(0.62) and s.loc["ref", "std"] == pytest.approx(0.02)
    assert s.loc["a", "mean"] == pytest.approx(0.72) and s.loc["a", "std"] == pytest.approx(math.sqrt(0.0007))
    # paired differences 0.10, 0.09, 0.11: mean 0.10, sd 0.01, t_{0.975, 2} = 4.302652729911275
    half = 4.302652729911275 * 0.01 / math.sqrt(3)
    assert s.loc["a", "diff_mean"] == pytest.approx(0.10)
    assert s.loc["a", "diff_std"] == pytest.approx(0.01)
    assert s.loc["a", "ci_low"] == pytest.approx(0.10 - half) and s.loc["a", "ci_high"] == pytest.approx(
        0.10 + half
    )
    assert s.loc["a", "n_pairs"] == 3 and s.loc["a", "reference"] == "ref"
    assert bool(s.loc["a", "beyond_spread"])  # CI [0.075, 0.125] excludes 0 and 0.10 > 0.026
    assert not bool(s.loc["ref", "beyond_spread"]) and math.isnan(s.loc["ref", "diff_mean"])


def test_beyond_spread_needs_both_a_ci_without_zero_and_a_difference_above_the_spread():
    # consistent +0.025 (CI excludes 0) but the seeds spread by 0.1: not beyond the spread
    runs = _runs({"ref": [0.5, 0.6, 0.7], "b": [0.52, 0.63, 0.725], "c": [0.6, 0.55, 0.72]})
    s = summarize(runs, "ref").set_index("arm")
    assert s.loc["b", "ci_low"] > 0 and abs(s.loc["b", "diff_mean"]) < s.loc["ref", "std"]
    assert not bool(s.loc["b", "beyond_spread"])
    assert s.loc["c", "ci_low"] < 0 < s.loc["c", "ci_high"] and not bool(s.loc["c", "beyond_spread"])


def test_summarize_pairs_by_seed_and_needs_two_pairs():
    runs = _runs({"ref": [0.5, 0.6], "a": [0.7]})  # a only has seed 0
    s = summarize(runs, "ref").set_index("arm")
    assert s.loc["a", "n_pairs"] == 1 and s.loc["a", "diff_mean"] == pytest.approx(0.2)
    assert math.isnan(s.loc["a", "ci_low"]) and not bool(s.loc["a", "beyond_spread"])
    assert math.isnan(s.loc["a", "std"])  # one seed: no spread


def test_summarize_references_per_arm_and_none():
    runs = _runs({"ref": [0.5, 0.6, 0.7], "random": [0.4, 0.5, 0.6], "pre": [0.45, 0.56, 0.65]})
    s = summarize(runs, {"random": "ref", "pre": "random"}).set_index("arm")
    assert s.loc["pre", "reference"] == "random" and s.loc["pre", "diff_mean"] == pytest.approx(0.05333333)
    assert s.loc["random", "diff_mean"] == pytest.approx(-0.1)
    assert summarize(runs, None)["diff_mean"].isna().all()


def test_markdown_tables_state_setup_and_mark_beyond_spread():
    runs = _runs({"ref": [0.60, 0.62, 0.64], "a": [0.70, 0.71, 0.75]})
    for col, val in {
        "n_samples": 10,
        "threshold": 0.5,
        "model": "m",
        "steps": 100,
        "train_seconds": 50.0,
        "fit_seconds": 60.0,
        "eval_seconds": 5.0,
        "hardware": "2-core CPU",
    }.items():
        runs[col] = val
    meta = {"data": "sim-x", "reference": "ref", "budget": {"training.epochs": 2, "training.progress": False}}
    md = render_markdown(runs, meta, metrics=[("new", "f1", "new-burn F1")])
    assert "seeds 0, 1, 2 (3 per arm)" in md and "100 optimisation steps per run (epochs 2)" in md
    assert "hardware: 2-core CPU" in md and "wall time 6 min 30 s for 6 run(s)" in md
    assert "progress" not in md  # not part of the budget
    assert "0.720 ± 0.026<br>Δ +0.100 [+0.075, +0.125] ✓" in md
    assert "| `ref` | 0.620 ± 0.020 " in md


# ---------------------------------------------------------------------------------------------
# study files
# ---------------------------------------------------------------------------------------------
def test_study_file_errors_are_listed_together(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "sedes: [0]\nreference: refrence\nby: wind\narms:\n  reference: {}\n  x: {vs: nobody}\n  y: 3\n"
    )
    with pytest.raises(ConfigError) as err:
        load_study_spec(path)
    msg = str(err.value)
    assert "unknown key 'sedes'" in msg and "'seeds'" in msg
    assert "reference 'refrence' is not an arm" in msg and "did you mean 'reference'" in msg
    assert "'nobody' is not an arm" in msg and "by is 'wind'" in msg and "arm 'y' is 3" in msg


def test_study_file_arms_nested_dotted_models_and_references(tmp_path):
    spec = load_study_spec(
        {
            "data": "sim-small",
            "reference": "base",
            "arms": {
                "base": {},
                "deep": {"model": {"num_layers": 6}},
                "utae": {"model": "utae"},
                "pre": {"vs": "deep", "model.pretrained": True},
            },
        }
    )
    arms = {a.name: a for a in spec.arms}
    assert arms["deep"].overrides == {"model.num_layers": 6} and arms["deep"].model is None
    assert arms["utae"].model == "utae" and arms["utae"].overrides == {}
    assert spec.reference == {"deep": "base", "utae": "base", "pre": "deep"}
    assert spec.seeds == [0, 1, 2]
    sub = spec.select(["pre"])
    assert [a.name for a in sub.arms] == ["deep", "pre"] and sub.reference == {"deep": "base", "pre": "deep"}
    with pytest.raises(ConfigError, match="did you mean 'deep'"):
        spec.select(["dep"])


def test_shipped_ablation_validates_and_needs_only_the_pretrained_weight_file(tmp_path, monkeypatch):
    import segmentation_models_pytorch as smp

    from emberxr.study import _budget

    monkeypatch.setenv("EMBERXR_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = load_study_spec("ablate_emberformer")
    names = [a.name for a in spec.arms]
    for arm in (
        "reference",
        "decoder-unet",
        "decoder-pretrained",
        "no-wind",
        "no-static",
        "layers-1",
        "layers-6",
    ):
        assert arm in names
    for arm in ("history-3", "history-8", "history-16", "history-32", "no-spatial-attention", "tokens-mean"):
        assert arm in names
    assert len(spec.seeds) >= 3 and spec.reference["decoder-pretrained"] == "decoder-unet"
    budget = _budget(spec.budget, spec.config)
    with pytest.raises(WeightsError) as err:
        validate_arms(spec.arms, spec.seeds, spec.config, budget)
    assert "decoder-pretrained" in str(err.value) and "'no-wind'" not in str(err.value)
    torch.save(smp.encoders.get_encoder("resnet18", weights=None).state_dict(), tmp_path / "unet-resnet18.pt")
    cfgs = validate_arms(spec.arms, spec.seeds, spec.config, budget)
    assert (
        cfgs["history-32"]["data"]["max_history"] == 32 and cfgs["history-32"]["model"]["max_seq_len"] == 32
    )
    assert cfgs["layers-1"]["model"]["num_layers"] == 1 and cfgs["reference"]["model"]["num_layers"] == 3
    assert cfgs["tokens-mean"]["model"]["token_mode"] == "mean"
    assert cfgs["no-spatial-attention"]["model"]["spatial_layers"] == 0
    assert cfgs["decoder-light-narrow"]["model"]["decoder_config"] == {"widths": [16, 16, 48]}
    assert not cfgs["reference"]["model"].get("decoder_config")  # the light decoder's defaults


def test_shipped_shift_study_validates():
    from emberxr.study import _budget

    spec = load_study_spec("study_simshift")
    assert [a.model for a in spec.arms] == ["unets", "utae", "emberformer"] and spec.reference == "utae"
    cfgs = validate_arms(spec.arms, spec.seeds, spec.config, _budget(spec.budget, spec.config))
    steps = {n: c["training"]["epochs"] * c["training"]["steps_per_epoch"] for n, c in cfgs.items()}
    assert set(steps.values()) == {2000}


def test_shipped_decoder_widths_study_trains_the_demo_emberformer():
    """Seed 0 of its ``light-add`` arm is the ``make demo`` EmberFormer run (docs/results.md says
    so): same data, budget and settings, the light decoder's defaults; the other arms differ only
    in the decoder's widths and merge."""
    import inspect

    from emberxr.decoders.light import LightDecoder
    from emberxr.demo import load_demo_config, model_config
    from emberxr.study import _budget

    spec = load_study_spec("ablate_decoder_widths")
    cfgs = validate_arms(spec.arms, spec.seeds, spec.config, _budget(spec.budget, spec.config))
    demo = model_config(load_demo_config(None), "emberformer")
    assert spec.reference == "light-16-32-48" and spec.data == demo["data"]["catalog"] and 0 in spec.seeds
    ref, narrow, add = cfgs["light-16-32-48"], cfgs["light-16-16-48"], cfgs["light-add"]
    defaults = {k: p.default for k, p in inspect.signature(LightDecoder).parameters.items()}
    assert add["model"].pop("decoder_config") == {
        "widths": list(defaults["widths"]),
        "merge": defaults["merge"],
    }
    assert ref["model"].pop("decoder_config") == {"widths": [16, 32, 48], "merge": "concat"}
    assert narrow["model"].pop("decoder_config") == {"widths": [16, 16, 48], "merge": "concat"}
    assert ref == narrow == add
    assert add["model"] == {k: v for k, v in demo["model"].items() if k != "decoder_config"}
    assert "decoder_config" not in demo["model"]  # the demo takes the decoder's defaults
    skip = {"catalog", "output_dir", "progress"}  # where and how it runs, not what it trains
    for section in ("data", "training"):
        assert {k: v for k, v in add[section].items() if k not in skip} == {
            k: v for k, v in demo[section].items() if k not in skip
        }


@pytest.mark.parametrize(
    ("total", "max_epochs", "expected"),
    [(2000, 20, (20, 100)), (5, 20, (5, 1)), (1001, 20, (13, 77)), (7, 3, (1, 7))],
)
def test_split_steps_is_exact(total, max_epochs, expected):
    assert split_steps(total, max_epochs) == expected


def test_split_steps_rejects_nonsense():
    with pytest.raises(ConfigError):
        split_steps(0)


def test_save_and_read_study_round_trip(tmp_path):
    runs = _runs({"a": [0.1, 0.2]})
    save_study(tmp_path, runs.to_dict("records"), {"name": "x", "seeds": [0, 1]})
    back, meta = read_study(tmp_path)
    assert list(back.columns) == list(RUN_COLUMNS) and back["value"].tolist() == [0.1, 0.2]
    assert meta == {"name": "x", "seeds": [0, 1]}
    with pytest.raises(ConfigError, match=r"study\.json"):
        read_study(tmp_path / "nothing")
