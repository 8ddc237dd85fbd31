"""Training with dynamic bands: fit sets in_dynamic, the model uses them, checkpoints keep them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import emberxr
from emberxr.errors import ConfigError, EventValidationError
from emberxr.models.base import FireModel, apply_valid, last_frame
from emberxr.schema import DYNAMIC
from emberxr.testing import synthetic_event, synthetic_events
from emberxr.train.config import default_config
from emberxr.train.model_config import model_kwargs

SMALL = {
    "conv2d": {"hidden": 4, "layers": 1},
    "unets": {"widths": [4, 8]},
    "tiny3d": {"hidden": 4},
    "utae": {
        "encoder_widths": [8, 8],
        "decoder_widths": [8, 8],
        "n_head": 4,
        "ltae_dim": 16,
        "ltae_mlp": [16],
    },
    "emberformer": {"d_model": 16, "nhead": 2, "num_layers": 1, "spatial_layers": 0},
}


def _fit(run_dir, model, events, **kw):
    return emberxr.fit(
        events,
        model=model,
        run_dir=run_dir,
        epochs=1,
        steps_per_epoch=2,
        batch_size=2,
        patch_size=8,
        max_history=3,
        augment=True,
        wandb__enabled=False,
        progress=False,
        early_stopping=None,
        **SMALL.get(model, {}),
        **kw,
    )


def _changed_dynamic(ev, value=3.0):
    out = ev.copy()
    out[DYNAMIC] = out[DYNAMIC] * 0 + value
    return out


def _check_dynamic_is_used(fitted, ev, tmp_path):
    assert fitted.model.config["in_dynamic"] == fitted.stats.n_dynamic == 6
    base = fitted.predict(ev, t=3)
    moved = fitted.predict(_changed_dynamic(ev), t=3)
    assert float(np.nanmax(np.abs(base.values - moved.values))) > 1e-3
    # the checkpoint keeps the dynamic statistics and the model's in_dynamic
    again = emberxr.load(tmp_path / "model.pt")
    assert again.stats == fitted.stats and again.model.config["in_dynamic"] == 6
    np.testing.assert_allclose(again.predict(ev, t=3).values, base.values, atol=1e-6)


def test_fit_with_dynamic_bands_builds_a_model_whose_forecast_depends_on_them(tmp_path):
    evs = synthetic_events(4, dynamic=True, height=24, width=24, steps=5)
    fitted = _fit(tmp_path, "conv2d", evs)
    _check_dynamic_is_used(fitted, evs[0], tmp_path)
    # an event without the dynamic bands the model was trained on is refused, naming them
    with pytest.raises(EventValidationError, match=r"dynamic bands missing from the event: \['tmax'"):
        fitted.predict(synthetic_event(height=24, width=24, steps=5))
    # multi-step forecasts hold the last known dynamic bands beyond the event's end
    out = fitted.forecast(evs[0], t=4, horizon=2)
    assert out["probability"].shape == (2, 24, 24)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["unets", "tiny3d", "utae", "emberformer"])
def test_every_trainable_model_trains_on_dynamic_bands(tmp_path, model):
    evs = synthetic_events(4, dynamic=True, height=24, width=24, steps=5)
    _check_dynamic_is_used(_fit(tmp_path, model, evs), evs[0], tmp_path)


def test_model_kwargs_pass_in_dynamic_only_to_models_that_take_it():
    cfg = default_config()

    class NoDynamic(FireModel):
        def __init__(self, in_static: int = 0, patch_size: int = 16, max_history: int = 1):
            super().__init__()

        def forward(self, batch):
            return apply_valid(last_frame(batch), batch)

    conv = emberxr.registry.get_model_class("conv2d")
    assert model_kwargs(cfg, conv, 4, 6)["in_dynamic"] == 6
    assert "in_dynamic" not in model_kwargs(cfg, conv, 4)  # no dynamic bands: the config as before
    with pytest.warns(UserWarning, match="takes no in_dynamic argument"):
        kw = model_kwargs(cfg, NoDynamic, 4, 6)
    assert "in_dynamic" not in kw
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model_kwargs(cfg, NoDynamic, 4, 0)


def test_in_dynamic_is_set_by_the_data_not_the_model_section():
    with pytest.raises(ConfigError, match="in_dynamic is the number of dynamic bands"):
        emberxr.train.config.build_config("conv2d", {"model": {"in_dynamic": 3}})


def test_models_without_dynamic_bands_ignore_a_dynamic_key_and_refuse_a_missing_one():
    from emberxr.testing import make_batch

    batch = make_batch(B=2, T=3, in_static=3, in_dynamic=2)
    plain = emberxr.create_model("conv2d", in_static=3, hidden=4, layers=1).eval()
    with torch.no_grad():
        a = plain(batch)
        b = plain({k: v for k, v in batch.items() if k not in ("dynamic",)})
    torch.testing.assert_close(a, b)
    wrong = emberxr.create_model("conv2d", in_static=3, in_dynamic=5, hidden=4, layers=1)
    with pytest.raises(emberxr.errors.EmberxrError, match="batch has 2 dynamic band"):
        wrong(batch)
