"""Target kinds (``data.target``): cumulative burned area vs next-day active fire."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import emberxr
from emberxr.data.samples import check_target_kind
from emberxr.errors import ConfigError
from emberxr.forecast import forecast
from emberxr.normalize import compute_stats
from emberxr.testing import synthetic_event, synthetic_events
from emberxr.train.config import default_monitor, validate_config
from emberxr.train.loop import monitor_keys
from emberxr.train.metrics import MetricAccumulator, summary_keys


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 1, 8, 8, generator=g)
    target = (torch.rand(3, 1, 8, 8, generator=g) > 0.6).float()
    last = target * (torch.rand(3, 1, 8, 8, generator=g) > 0.5)
    valid = torch.ones(3, 1, 8, 8, dtype=torch.bool)
    return logits, target, valid, last


# -- metrics -------------------------------------------------------------------------------------
def test_active_targets_are_scored_without_new_burn_metrics():
    cum, act = MetricAccumulator(), MetricAccumulator(target="active")
    for acc in (cum, act):
        acc.update(*_batch(), hist_len=[1, 3, 5], event_ids=["a", "b", "a"])
    assert {k[0] for k in cum.groups} == {"next", "new"} and {k[0] for k in act.groups} == {"next"}
    assert set(act.summary()) == set(summary_keys("val/", "active"))
    assert not any("new_" in k for k in act.summary()) and "val/new_ap" in cum.summary()
    # the next-mask metrics do not depend on the kind
    assert act.result("next") == cum.result("next")
    assert set(act.table()["target"]) == {"next"} and set(cum.table()["target"]) == {"next", "new"}
    with pytest.raises(ValueError, match="not scored for 'active' targets"):
        act.result("new")


def test_accumulators_of_different_target_kinds_do_not_merge_and_states_keep_the_kind():
    act = MetricAccumulator(target="active")
    act.update(*_batch(), hist_len=[1, 2, 3])
    back = MetricAccumulator.from_state(act.state())
    assert back.target == "active" and back.summary() == act.summary()
    with pytest.raises(ValueError, match="cannot merge metrics of 'active' targets"):
        MetricAccumulator().merge(act)
    with pytest.raises(ValueError, match="unknown target kind"):
        MetricAccumulator(target="burned")


# -- configuration -------------------------------------------------------------------------------
def test_the_default_monitor_follows_the_target_kind():
    assert validate_config({})["data"]["target"] == "cumulative"
    assert validate_config({})["training"]["monitor"] == "val/new_ap" == default_monitor("cumulative")
    cfg = validate_config({"data": {"target": "active"}})
    assert cfg["training"]["monitor"] == "val/ap" == default_monitor("active")
    # a validated configuration validates again unchanged
    assert validate_config(cfg) == cfg
    assert "val/new_ap" not in monitor_keys("active") and "val/new_ap" in monitor_keys()


def test_a_new_burn_monitor_with_active_targets_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        validate_config({"data": {"target": "active"}, "training": {"monitor": "val/new_f1"}})
    assert "new-burn metrics are not computed for data.target: active" in str(err.value)
    assert validate_config({"data": {"target": "active"}, "training": {"monitor": "val/f1"}})
    with pytest.raises(ConfigError, match=r"'data\.target' is 'burned'"):
        validate_config({"data": {"target": "burned"}})


# -- events and samples --------------------------------------------------------------------------
def test_check_target_kind_names_the_events_of_the_other_kind():
    evs = [*synthetic_events(2), synthetic_event(event_id="act-1", fire_kind="active")]
    check_target_kind(evs[:2], "cumulative")
    with pytest.raises(ConfigError) as err:
        check_target_kind(evs, "cumulative")
    text = str(err.value)
    assert "1 event(s) hold 'active' fire (act-1)" in text and "set data.target: active" in text


def test_active_synthetic_fire_switches_off_behind_the_front():
    ev = synthetic_event(steps=6, fire_kind="active")
    assert ev.attrs["fire_kind"] == "active"
    emberxr.validate(ev)
    fire = ev.fire.values.astype(bool)
    assert (fire[2] & ~fire[4]).any()  # detected at step 2, not at step 4: not cumulative
    cum = synthetic_event(steps=6).fire.values.astype(bool)
    assert (fire <= cum).all()


def test_fit_refuses_events_whose_fire_kind_differs_from_the_target(tmp_path):
    with pytest.raises(ConfigError, match=r"data.target is 'cumulative' but 4 event\(s\) hold 'active'"):
        emberxr.fit(
            synthetic_events(4, fire_kind="active"),
            model="copylast",
            run_dir=tmp_path / "run",
            wandb__enabled=False,
            progress=False,
        )
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.slow
def test_fit_and_evaluate_active_fire_targets(tmp_path):
    evs = synthetic_events(4, fire_kind="active", height=24, width=24, steps=5)
    fitted = emberxr.fit(
        evs,
        model="conv2d",
        run_dir=tmp_path,
        epochs=1,
        steps_per_epoch=2,
        batch_size=2,
        patch_size=8,
        max_history=2,
        hidden=4,
        layers=1,
        target="active",
        wandb__enabled=False,
        progress=False,
    )
    assert fitted.config["training"]["monitor"] == "val/ap"
    assert "val/ap" in fitted.metrics and not any(k.startswith("val/new_") for k in fitted.metrics)
    table = fitted.evaluate(evs)
    assert set(table["target"]) == {"next"}
    again = emberxr.load(tmp_path / "model.pt")
    assert again.config["data"]["target"] == "active"
    assert again.choose_threshold(evs, split="val") == pytest.approx(fitted.threshold)


# -- forecasting ---------------------------------------------------------------------------------
class _NoFire(nn.Module):
    """Predicts no fire anywhere (probability about 3e-4)."""

    def forward(self, batch):
        return torch.full_like(batch["fire"][:, :1], -8.0)


@pytest.mark.parametrize("kind", ["cumulative", "active"])
def test_multi_step_forecasts_keep_old_fire_only_for_cumulative_targets(kind):
    ev = synthetic_event(steps=5, fire_kind=kind)
    out = forecast(
        _NoFire(), compute_stats([ev]), ev, t=3, horizon=2, threshold=0.5, patch_size=8, progress=False
    )
    burning = ev.fire.values[3].astype(bool) & ev.valid.values
    assert burning.any()
    mask = out["fire_mask"].values.astype(bool)
    if kind == "cumulative":  # scars persist: the fed-back mask is OR-ed with the last frame
        assert (mask[0][burning]).all() and (mask[1][burning]).all()
    else:  # detections switch off: nothing is predicted, nothing is kept
        assert not mask.any()
    assert np.isnan(out["probability"].values[:, ~ev.valid.values]).all()
