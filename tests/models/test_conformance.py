"""Run the public conformance checks (``emberxr.testing``) over every registered model and decoder."""

from __future__ import annotations

import pytest
import torch

import emberxr
from emberxr.models.base import FireModel, ModelRequirements, last_frame
from emberxr.testing import check_decoder, check_model, make_batch, pad_history

# tiny sizes keep the suite fast; everything else is each model's default
SMALL = {
    "emberformer": {"d_model": 16, "nhead": 2, "num_layers": 1},
    "utae": {
        "encoder_widths": [8, 8, 16],
        "decoder_widths": [8, 8, 16],
        "n_head": 4,
        "ltae_dim": 16,
        "ltae_mlp": [16],
    },
}
SMALL_DECODERS = {"unet": {"encoder_depth": 3, "decoder_channels": [32, 16, 8]}}


@pytest.mark.parametrize("name", emberxr.list_models())
def test_every_model_conforms(name):
    report = check_model(name, **SMALL.get(name, {}))
    assert report.ok and "forward" in report.passed and "padding_invariance" in report.passed


@pytest.mark.parametrize("name", emberxr.list_decoders())
def test_every_decoder_conforms(name):
    report = check_decoder(name, **SMALL_DECODERS.get(name, {}))
    assert report.ok and "emberformer:padding_invariance" in report.passed


def test_emberformer_with_spatial_attention_and_mean_tokens_conforms():
    assert check_model("emberformer", **SMALL["emberformer"], spatial_layers=2, token_mode="mean").ok


def test_utae_paper_preset_conforms():
    assert check_model("utae", preset="paper").ok


class _PeeksAtPadding(FireModel):
    """A deliberately wrong model: it reads the first (padded) frame."""

    requires = ModelRequirements(max_history=8, uses_static=False, uses_wind=False)

    def __init__(self, in_static: int = 0, patch_size: int = 16, max_history: int = 8):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, batch):
        return self.w * (last_frame(batch) + batch["fire"][:, :1] + batch["fire"].shape[1])


def test_conformance_catches_padding_dependence():
    report = check_model(_PeeksAtPadding, raise_on_failure=False)
    assert "padding_invariance" in report.failed
    with pytest.raises(AssertionError, match="padding_invariance"):
        check_model(_PeeksAtPadding)


def test_make_batch_follows_the_contract():
    b = make_batch(B=3, T=5, H=16, W=24, in_static=2, patch_size=8, hist_lens=[5, 3, 1])
    assert b["fire"].shape == (3, 5, 16, 24) and b["grid"] == (2, 3)
    assert b["valid_t"].tolist()[1] == [False, False, True, True, True]
    assert float(b["fire"][1, :2].abs().sum()) == 0 and float(b["wind"][2, :4].abs().sum()) == 0
    assert b["fire_tokens"].shape == (3, 5, 6, 64) and b["static_tokens"].shape == (3, 6, 2 * 64)
    # fire grows monotonically (cumulative burn) over the real frames
    real = b["fire"][0]
    assert bool((real[1:] >= real[:-1]).all())
    padded = pad_history(b, 2)
    assert padded["fire"].shape[1] == 7 and padded["valid_t"][:, :2].sum() == 0
