"""EmberFormer: backward position code, attention weights, parameter groups, freezing, ablations."""

from __future__ import annotations

import pytest
import torch

import emberxr
from emberxr.errors import ConfigError
from emberxr.testing import make_batch, pad_history

TINY = {"in_static": 2, "patch_size": 8, "d_model": 16, "nhead": 2, "num_layers": 2}


def _model(**kw):
    torch.manual_seed(0)
    return emberxr.create_model("emberformer", **{**TINY, **kw}).eval()


def test_extra_left_padding_gives_identical_output():
    model = _model(spatial_layers=1)
    batch = make_batch(B=2, T=3, H=16, W=16, in_static=2, patch_size=8, hist_lens=[3, 2])
    with torch.no_grad():
        a = model(batch)
        b = model(pad_history(batch, 4))
    assert torch.allclose(a, b, atol=1e-5)


def test_position_code_counts_backwards_from_prediction_time():
    # the same 2-frame history, seen as the last 2 of T=2 or of T=5: identical
    model = _model()
    short = make_batch(B=1, T=2, H=16, W=16, in_static=2, patch_size=8, hist_lens=[2], seed=3)
    long = pad_history(short, 3)
    with torch.no_grad():
        assert torch.allclose(model(short), model(long), atol=1e-5)
    # whereas shifting the real frames one step earlier (a different history) changes it
    shifted = pad_history(short, 1)
    shifted["fire"] = torch.roll(shifted["fire"], -1, dims=1)
    shifted["fire"][:, -1] = shifted["fire"][:, -2]
    shifted["valid_t"] = torch.tensor([[False, True, True]])
    shifted["fire"][:, 1] = 0.0
    with torch.no_grad():
        assert not torch.allclose(model(short), model(shifted), atol=1e-4)


def test_frames_beyond_max_seq_len_are_ignored():
    model = _model(max_seq_len=2)
    batch = make_batch(B=1, T=4, H=16, W=16, in_static=2, patch_size=8, hist_lens=[4])
    changed = {**batch, "fire": batch["fire"].clone()}
    changed["fire"][0, 0] = 1.0 - changed["fire"][0, 0]  # 3 steps back: outside the window
    with torch.no_grad():
        assert torch.allclose(model(batch), model(changed), atol=1e-6)
        assert model.last_attention[0, :, :, :2].abs().sum() == 0


def test_attention_weights_exposed_and_masked():
    model = _model()
    batch = make_batch(B=2, T=4, H=16, W=16, in_static=2, patch_size=8, hist_lens=[4, 2])
    assert model.last_attention is None
    with torch.no_grad():
        model(batch)
    att = model.last_attention
    assert att.shape == (2, 4, 2, 4)  # [B, N, heads, T]
    assert torch.allclose(att.sum(-1), torch.ones(2, 4, 2), atol=1e-5)
    assert float(att[1, :, :, :2].abs().sum()) == 0.0  # padded frames of sample 1
    assert float(att[0, :, :, 0].sum()) > 0  # the oldest real frame of sample 0 is attended


def test_eval_forward_computes_only_the_last_step_and_agrees_with_all_rows():
    """Out of training the last temporal layer runs only the last real step's row: the logits and
    the recorded attention equal those of the same model running every row (training's path)."""
    model = _model(num_layers=2, dropout=0.0)
    batch = make_batch(B=2, T=4, H=16, W=16, in_static=2, patch_size=8, hist_lens=[4, 2])
    calls = []
    last = model.temporal[-1]
    hook = last.register_forward_hook(lambda m, args, kw, out: calls.append(out.shape), with_kwargs=True)
    with torch.no_grad():
        fast = model.eval()(batch)
        fast_att = model.last_attention.clone()
        full = model.train()(batch)  # dropout 0: the same function, every row computed
        full_att = model.last_attention
    hook.remove()
    assert calls[0] == (2 * 4, 16) and calls[1] == (2 * 4, 4, 16)  # [B*N, d] rows vs [B*N, T, d]
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast_att, full_att, atol=1e-6, rtol=1e-5)


def test_param_groups_cover_all_parameters_once():
    model = _model(spatial_layers=1)
    groups = model.param_groups()
    ids = [id(p) for g in groups.values() for p in g]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert {id(p) for p in groups["spatial"]} == {id(p) for p in model.decoder.parameters()}
    assert id(model.pos_embed.weight) in {id(p) for p in groups["temporal"]}


def test_freeze_and_unfreeze_decoder(tmp_path):
    timm = pytest.importorskip("timm")
    from emberxr.models.base import FireModel  # noqa: F401

    enc = timm.create_model("resnet18", pretrained=False, num_classes=0)
    path = tmp_path / "r18.pth"
    torch.save(enc.state_dict(), path)
    model = _model(
        decoder="unet",
        pretrained=str(path),
        decoder_config={"encoder_depth": 3, "decoder_channels": [32, 16, 8]},
    )
    model.freeze_decoder()
    frozen = {id(p) for p in model.decoder.net.encoder.parameters()}
    for p in model.parameters():
        assert p.requires_grad == (id(p) not in frozen)
    model.train()
    out = model(make_batch(B=1, T=2, H=32, W=32, in_static=2, patch_size=8))
    out.mean().backward()
    assert all(p.grad is None for p in model.decoder.net.encoder.parameters())
    assert model.decoder.net.decoder is not None and any(
        p.grad is not None for p in model.decoder.net.decoder.parameters()
    )
    model.unfreeze_decoder()
    assert all(p.requires_grad for p in model.parameters())


def test_freeze_is_noop_without_pretrained_weights():
    model = _model()
    model.freeze_decoder()
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize(
    "kw",
    [
        {"token_mode": "mean"},
        {"use_wind": False},
        {"use_static": False},
        {"spatial_layers": 0},
        {"num_layers": 0},
    ],
)
def test_ablation_switches_work_and_change_the_model(kw):
    batch = make_batch(
        B=2, T=3, H=16, W=16, in_static=2, patch_size=8, token_mode=kw.get("token_mode", "pixels")
    )
    model = _model(**kw)
    with torch.no_grad():
        out = model(batch)
    assert out.shape == (2, 1, 16, 16) and torch.isfinite(out).all()
    assert model.config[next(iter(kw))] == kw[next(iter(kw))]


def test_wind_is_used_when_enabled():
    model = _model()
    batch = make_batch(B=1, T=3, H=16, W=16, in_static=2, patch_size=8)
    other = {**batch, "wind": -batch["wind"]}
    with torch.no_grad():
        assert not torch.allclose(model(batch), model(other))
    blind = _model(use_wind=False)
    with torch.no_grad():
        assert torch.allclose(blind(batch), blind(other))


def test_bad_config_lists_every_problem():
    with pytest.raises(ConfigError) as info:
        emberxr.create_model(
            "emberformer", in_static=2, d_model=30, nhead=4, token_mode="median", max_seq_len=0
        )
    msg = str(info.value)
    assert "3 problem(s)" in msg and "token_mode" in msg and "nhead" in msg and "max_seq_len" in msg


def test_tile_not_multiple_of_patch_is_a_clear_error():
    from emberxr.errors import EmberxrError

    batch = make_batch(B=1, T=2, H=16, W=16, in_static=2, patch_size=8)
    with pytest.raises(EmberxrError, match="multiple of patch_size=6"):
        _model(patch_size=6)(batch)


def test_learns_to_spread_fire_on_a_toy_problem():
    """A few dozen steps on a fixed batch must beat the persistence prior it starts from."""
    torch.manual_seed(0)
    batch = make_batch(B=4, T=4, H=32, W=32, in_static=2, patch_size=8, hist_lens=[4, 4, 3, 2])
    model = emberxr.create_model("emberformer", **{**TINY, "dropout": 0.0})
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    lossf = torch.nn.functional.binary_cross_entropy_with_logits
    with torch.no_grad():
        start = float(lossf(model(batch), batch["target"]))
    for _ in range(40):
        opt.zero_grad()
        loss = lossf(model(batch), batch["target"])
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * start


def test_light_decoder_merges_same_parameters_other_function():
    concat, add = _model(decoder_config={"merge": "concat"}), _model()
    assert add.decoder.merge == "add" and concat.decoder.merge == "concat"  # the default is add
    assert sum(p.numel() for p in concat.parameters()) == sum(p.numel() for p in add.parameters())
    batch = make_batch(B=2, T=3, H=16, W=16, in_static=2, patch_size=8)
    with torch.no_grad():
        a, b = concat(batch), add(batch)
    assert a.shape == b.shape == (2, 1, 16, 16) and not torch.allclose(a, b)
    # rebuilt from its recorded configuration, the concat model takes its own weights back
    again = emberxr.create_model("emberformer", **concat.config).eval()
    again.load_state_dict(concat.state_dict())
    with torch.no_grad():
        assert torch.equal(again(batch), a)
    with pytest.raises(ConfigError, match=r"merge='sum'.*'concat', 'add'"):
        _model(decoder_config={"merge": "sum"})


def test_add_merge_convolves_the_coarse_map_before_upsampling():
    """With the same weights and no norm/activation, the two merges agree on a coarse map that is
    constant (away from the borders, where the zero padding differs), and differ on a ramp: the
    add merge's coarse convolution spans 3 coarse pixels, the concat one 3 fine pixels."""
    from torch import nn

    from emberxr.decoders.light import AddMerge
    from emberxr.layers import ConvBlock

    torch.manual_seed(0)
    block, add = ConvBlock(3 + 2, 4, n=1), AddMerge(3, 2, 4)
    with torch.no_grad():
        add.coarse.weight.copy_(block[0].weight[:, :3])
        add.skip.weight.copy_(block[0].weight[:, 3:])
    block[1], block[2], add.norm, add.act = nn.Identity(), nn.Identity(), nn.Identity(), nn.Identity()
    from emberxr.decoders.base import resize

    def both(coarse, skip):
        with torch.no_grad():
            return add(coarse, skip), block(torch.cat([resize(coarse, skip.shape[-2:]), skip], dim=1))

    skip = torch.randn(1, 2, 24, 24)
    got, want = both(torch.tensor([1.5, -2.0, 0.25])[None, :, None, None].expand(1, 3, 12, 12), skip)
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
    torch.testing.assert_close(got[inner], want[inner], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, want, atol=1e-3)  # the borders differ
    yy, xx = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
    got, want = both(torch.stack([yy, xx, 0.5 * yy - xx])[None], skip)
    assert not torch.allclose(got[inner], want[inner], atol=1e-3)
