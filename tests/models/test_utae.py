"""U-TAE: masked dates get zero attention; attention maps weight the skips; presets."""

from __future__ import annotations

import torch

import emberxr
from emberxr.models.utae import LTAE, grouped_temporal_sum
from emberxr.testing import make_batch, pad_history

TINY = {
    "in_static": 2,
    "encoder_widths": [8, 8, 16],
    "decoder_widths": [8, 8, 16],
    "n_head": 4,
    "ltae_dim": 16,
    "ltae_mlp": [16],
}


def test_masked_dates_get_zero_attention():
    torch.manual_seed(0)
    model = emberxr.create_model("utae", **TINY).eval()
    batch = make_batch(B=3, T=5, H=16, W=16, in_static=2, patch_size=8, hist_lens=[5, 3, 1])
    with torch.no_grad():
        model(batch)
    att = model.last_attention  # [B, h*w, heads, T]
    assert att.shape == (3, 16, 4, 5)
    assert float(att[1, :, :, :2].abs().sum()) == 0.0
    assert float(att[2, :, :, :4].abs().sum()) == 0.0
    assert torch.allclose(att.sum(-1), torch.ones(3, 16, 4), atol=1e-5)
    assert torch.allclose(att[2, :, :, 4], torch.ones(16, 4))


def test_ltae_all_masked_sequence_is_finite_and_zero_weighted():
    torch.manual_seed(0)
    ltae = LTAE(8, 16, 4, 4, [16]).eval()
    x = torch.randn(2, 3, 8)
    valid = torch.tensor([[True, True, True], [False, False, False]])
    with torch.no_grad():
        out, attn = ltae(x, torch.zeros(2, 3, dtype=torch.long), valid)
    assert torch.isfinite(out).all()
    assert float(attn[1].abs().sum()) == 0.0


def test_padding_invariance_with_padded_dates_in_front():
    torch.manual_seed(0)
    model = emberxr.create_model("utae", **TINY).eval()
    batch = make_batch(B=2, T=3, H=16, W=16, in_static=2, patch_size=8, hist_lens=[3, 2])
    with torch.no_grad():
        assert torch.allclose(model(batch), model(pad_history(batch, 3)), atol=1e-5)


def test_grouped_temporal_sum_uses_one_head_per_channel_group():
    feat = torch.arange(2 * 4 * 1 * 1, dtype=torch.float32).reshape(1, 2, 4, 1, 1)  # T=2, C=4
    attn = torch.tensor([1.0, 0.0, 0.0, 1.0]).reshape(1, 2, 2, 1, 1)  # head0 → t0, head1 → t1
    out = grouped_temporal_sum(feat, attn).flatten().tolist()
    assert out == [0.0, 1.0, 6.0, 7.0]


def test_paper_preset_has_published_size():
    model = emberxr.create_model("utae", in_static=7, preset="paper")
    n = sum(p.numel() for p in model.parameters())
    assert 0.8e6 < n < 1.3e6  # the paper reports 1.1 M
    small = emberxr.create_model("utae", in_static=7)
    assert sum(p.numel() for p in small.parameters()) < n
