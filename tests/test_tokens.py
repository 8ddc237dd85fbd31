"""The token module: layout, round trips, masks, means, the static fold and the model's shape check."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import emberxr
from emberxr.errors import ConfigError
from emberxr.testing import make_batch
from emberxr.tokens import (
    TOKEN_AXES,
    TOKEN_MODES,
    check_token_shapes,
    crop_to_multiple,
    fold_static,
    grid_shape,
    make_tokens,
    pad_to_multiple,
    pad_token_grid,
    patch_grid,
    patch_mean,
    patchify,
    token_shapes,
    tokenize_fire,
    unfold_static,
    unpatchify,
    unpatchify_grid,
    valid_token_mask,
)


def _pixels(p, lead=(3,), gy=2, gx=3, seed=0):
    return np.random.default_rng(seed).normal(size=(*lead, gy * p, gx * p)).astype(np.float32)


# -- layout and round trips -----------------------------------------------------------------------
def test_round_trip_numpy_and_torch():
    x = np.arange(3 * 32 * 48, dtype=np.float32).reshape(3, 32, 48)
    t = patchify(x, 16)
    assert t.shape == (3, 6, 256)
    # token n = gy * Gx + gx holds the pixels of that patch, row-major
    np.testing.assert_array_equal(t[1, 4], x[1, 16:32, 16:32].ravel())
    np.testing.assert_array_equal(unpatchify(t, 16, (2, 3)), x)
    tt = patchify(torch.from_numpy(x), 16)
    assert torch.equal(tt, torch.from_numpy(np.ascontiguousarray(t)))
    assert torch.equal(unpatchify(tt, 16, (2, 3)), torch.from_numpy(x))


@pytest.mark.parametrize("p", [1, 2, 5])
@pytest.mark.parametrize("lead", [(), (4,), (2, 3)])
def test_round_trip_any_patch_size_and_leading_axes(p, lead):
    x = _pixels(p, lead, gy=3, gx=2)
    t = patchify(x, p)
    assert t.shape == (*lead, 6, p * p)
    np.testing.assert_array_equal(unpatchify(t, p, (3, 2)), x)
    assert torch.equal(unpatchify(patchify(torch.from_numpy(x), p), p, (3, 2)), torch.from_numpy(x))


def test_patch_grid_is_a_view_of_the_layout():
    x = _pixels(4, (2,), gy=2, gx=3)
    g = patch_grid(x, 4)
    assert g.shape == (2, 2, 3, 4, 4) and np.shares_memory(g, x)
    np.testing.assert_array_equal(g[1, 1, 2], x[1, 4:8, 8:12])
    np.testing.assert_array_equal(g.reshape(2, 6, 16), patchify(x, 4))


def test_pad_crop_and_grid_odd_size():
    x = np.ones((2, 130, 97), np.float32)
    padded, (ph, pw) = pad_to_multiple(x, 16)
    assert padded.shape == (2, 144, 112) and (ph, pw) == (14, 15)
    assert padded[:, 130:].sum() == 0 and padded[:, :, 97:].sum() == 0
    assert crop_to_multiple(x, 16).shape == (2, 128, 96)
    assert grid_shape(130, 97, 16) == (9, 7)
    assert grid_shape(130, 97, 16, strict=True) == (8, 6)
    tp, _ = pad_to_multiple(torch.ones(130, 97, dtype=torch.bool), 16, value=False)
    assert tp.shape == (144, 112) and int(tp.sum()) == 130 * 97


def test_unpatchify_grid_places_each_token_on_its_patch():
    feats = torch.arange(2 * 6 * 5, dtype=torch.float32).reshape(2, 6, 5)  # [B, N, D]
    g = unpatchify_grid(feats, (2, 3))
    assert g.shape == (2, 5, 2, 3)
    assert torch.equal(g[1, :, 1, 2], feats[1, 1 * 3 + 2])  # token n = gy * Gx + gx
    np.testing.assert_array_equal(unpatchify_grid(feats.numpy(), (2, 3)), g.numpy())
    with pytest.raises(ConfigError, match="2×2 patch grid"):
        unpatchify_grid(feats, (2, 2))


# -- masks and means ------------------------------------------------------------------------------
def test_valid_token_mask_marks_exact_footprint():
    valid = np.ones((130, 97), bool)
    valid[:, 90:] = False  # the event's own invalid border
    v, _ = pad_to_multiple(valid, 16, value=False)
    m = valid_token_mask(v, 16).reshape(9, 7)
    # column 5 covers x 80..95 (partly valid), column 6 covers 96..111: x=96 is invalid
    assert m[:, :6].all() and not m[:, 6].any()
    assert m.sum() == 9 * 6
    assert torch.equal(valid_token_mask(torch.from_numpy(v), 16).reshape(9, 7), torch.from_numpy(m))


def test_patch_mean_over_valid_pixels():
    x = np.zeros((32, 32), np.float32)
    x[:16, :8] = 1.0
    valid = np.ones((32, 32), bool)
    valid[:16, 8:] = False
    m = patch_mean(x, 16, valid)
    assert m[0] == pytest.approx(1.0)  # only the valid half counts
    assert m[1] == 0.0
    assert patch_mean(x, 16)[0] == pytest.approx(0.5)
    mt = patch_mean(torch.from_numpy(x), 16, torch.from_numpy(valid))
    np.testing.assert_array_equal(mt.numpy(), m)
    none = patch_mean(x, 16, np.zeros_like(valid))
    assert (none == 0).all()  # a patch without valid pixels gets 0, not NaN


# -- the static fold and its inverse --------------------------------------------------------------
@pytest.mark.parametrize("p", [1, 3, 4])
def test_fold_static_is_channel_major_and_unfold_inverts_it(p):
    s = _pixels(p, (5,), gy=2, gx=3)  # [Cs, H, W]
    t = fold_static(s, p)
    assert t.shape == (6, 5 * p * p)
    n, c, i, j = 4, 3, p - 1, 0  # token n = (gy 1, gx 1): pixel (c, i, j) sits at c*p*p + i*p + j
    assert t[n, c * p * p + i * p + j] == s[c, 1 * p + i, 1 * p + j]
    np.testing.assert_array_equal(unfold_static(t, p, (2, 3)), s)
    tt = fold_static(torch.from_numpy(s), p)
    assert torch.equal(tt, torch.from_numpy(np.ascontiguousarray(t)))
    assert torch.equal(unfold_static(tt, p, (2, 3)), torch.from_numpy(s))


def test_fold_static_batched_equals_per_sample():
    s = _pixels(4, (2, 3), gy=2, gx=2)  # [B, Cs, H, W]
    valid = np.random.default_rng(1).random((2, 8, 8)) > 0.3
    for mode in TOKEN_MODES:
        batched = fold_static(torch.from_numpy(s), 4, mode, torch.from_numpy(valid))
        for b in range(2):
            one = fold_static(s[b], 4, mode, valid[b])
            np.testing.assert_allclose(batched[b].numpy(), one, rtol=1e-6, atol=1e-6)
    assert (
        fold_static(s, 4).shape == (2, 4, 3 * 16)
        and unfold_static(fold_static(s, 4), 4, (2, 2)).shape == s.shape
    )


def test_fold_static_mean_mode_is_patch_means_over_valid_pixels():
    s = np.zeros((2, 8, 8), np.float32)
    s[0, :4, :4] = 2.0  # patch 0 of channel 0
    s[1] = 7.0
    s[1, :4, :2] = -1.0  # invalid pixels of patch 0: they must not count
    valid = np.ones((8, 8), bool)
    valid[:4, :2] = False
    t = fold_static(s, 4, "mean", valid)
    assert t.shape == (4, 2)  # [N, Cs]
    np.testing.assert_allclose(t[0], [2.0, 7.0])
    np.testing.assert_allclose(t[1:], [[0.0, 7.0]] * 3)


def test_unfold_static_rejects_mean_tokens():
    with pytest.raises(ConfigError, match="multiple of p\\*p"):
        unfold_static(np.zeros((6, 5), np.float32), 4, (2, 3))


# -- token making ---------------------------------------------------------------------------------
def _sample(p, seed=0):
    rng = np.random.default_rng(seed)
    H, W = 2 * p, 3 * p
    fire = (rng.random((4, H, W)) > 0.5).astype(np.float32)
    static = rng.normal(size=(3, H, W)).astype(np.float32)
    valid = rng.random((H, W)) > 0.25
    target = (rng.random((H, W)) > 0.5).astype(np.float32)
    return fire, static, valid, target


@pytest.mark.parametrize("mode", TOKEN_MODES)
@pytest.mark.parametrize("p", [1, 2, 4])
def test_make_tokens_shapes_dtypes_and_numpy_torch_agree(mode, p):
    fire, static, valid, target = _sample(p)
    tok = make_tokens(fire, static, valid, target, p, mode)
    assert {k: v.shape for k, v in tok.items()} == token_shapes(4, (2, 3), p, 3, mode)
    assert all(v.flags.c_contiguous for v in tok.values())
    assert tok["valid_tokens"].dtype == bool and tok["static_tokens"].dtype == np.float32
    np.testing.assert_array_equal(tok["valid_tokens"], valid_token_mask(valid, p))
    np.testing.assert_array_equal(tok["target_tokens"], patch_mean(target, p, valid))
    np.testing.assert_array_equal(tok["static_tokens"], fold_static(static, p, mode, valid))
    # the same code path on torch, with a batch axis: per sample it gives the numpy tokens
    tt = make_tokens(*(torch.from_numpy(a)[None] for a in (fire, static, valid, target)), p, mode)
    for k, v in tok.items():
        assert tt[k].shape == (1, *v.shape) and tt[k].is_contiguous()
        np.testing.assert_allclose(tt[k][0].numpy(), v, rtol=1e-6, atol=1e-6)


def test_fire_tokens_in_mean_mode_ignore_invalid_pixels():
    fire = np.ones((2, 4, 4), np.float32)
    valid = np.zeros((4, 4), bool)
    valid[:2, :2] = True
    fire[:, 2:, 2:] = 0  # only invalid pixels of patch (1, 1) are unburned
    t = tokenize_fire(fire, 2, "mean", valid)
    assert t.shape == (2, 4, 1)
    np.testing.assert_array_equal(t[..., 0], [[1, 0, 0, 0]] * 2)  # patches without valid pixels -> 0
    np.testing.assert_array_equal(tokenize_fire(fire, 2), patchify(fire, 2))


def test_unknown_mode_is_an_error():
    with pytest.raises(ConfigError, match="pixels, mean"):
        make_tokens(*_sample(2), 2, "median")


@pytest.mark.parametrize("mode", TOKEN_MODES)
@pytest.mark.parametrize("p", [1, 3])
def test_pad_token_grid_equals_tokens_of_the_padded_raster(mode, p):
    fire, static, valid, target = _sample(p, seed=2)
    small = make_tokens(fire, static, valid, target, p, mode)
    pad = p * 2, p * 1  # two patch rows, one patch column more
    big = make_tokens(
        *(
            np.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, pad[0]), (0, pad[1])])
            for a in (fire, static, valid, target)
        ),
        p,
        mode,
    )
    for key, axis in TOKEN_AXES.items():
        if key == "dynamic_tokens":  # the same folding as static_tokens (tested below)
            continue
        grown = pad_token_grid(small[key], (2, 3), (4, 4), token_axis=axis)
        np.testing.assert_array_equal(grown, big[key], err_msg=key)
        grown_t = pad_token_grid(torch.from_numpy(small[key]), (2, 3), (4, 4), token_axis=axis)
        np.testing.assert_array_equal(grown_t.numpy(), big[key], err_msg=key)
    with pytest.raises(ConfigError, match="cannot go from"):
        pad_token_grid(small["valid_tokens"], (2, 3), (1, 3), token_axis=-1)


def test_errors_name_the_fix():
    with pytest.raises(ConfigError, match="pad_to_multiple"):
        patchify(np.zeros((10, 17)), 16)
    with pytest.raises(ConfigError, match="grid"):
        unpatchify(np.zeros((5, 256)), 16, (2, 3))
    with pytest.raises(ConfigError, match="positive integer"):
        patchify(np.zeros((16, 16)), 0)


# -- shape checks and the model -------------------------------------------------------------------
def test_check_token_shapes_lists_every_wrong_entry():
    batch = make_batch(B=2, T=3, H=16, W=16, in_static=2, patch_size=8, token_mode="mean")
    check_token_shapes(batch, 8, 2, "mean")  # the right layout passes
    check_token_shapes({"fire": batch["fire"]}, 8, 2, "pixels")  # absent tokens are fine
    with pytest.raises(ConfigError) as info:
        check_token_shapes(batch, 8, 2, "pixels")
    msg = str(info.value)
    assert "2 problem(s)" in msg
    assert (
        "fire_tokens has shape [2, 3, 4, 1] (the layout of token_mode='mean'), expected [2, 3, 4, 64]" in msg
    )
    assert "static_tokens has shape [2, 4, 2]" in msg and "expected [2, 4, 128]" in msg
    assert "token_mode='pixels'" in msg and "leave 'fire_tokens' out" in msg


def _emberformer(**kw):
    torch.manual_seed(0)
    return emberxr.create_model("emberformer", in_static=2, patch_size=8, d_model=16, nhead=2, **kw).eval()


@pytest.mark.parametrize(("model_mode", "data_mode"), [("pixels", "mean"), ("mean", "pixels")])
def test_emberformer_refuses_tokens_of_the_wrong_shape(model_mode, data_mode):
    model = _emberformer(token_mode=model_mode)
    batch = make_batch(B=2, T=3, H=16, W=16, in_static=2, patch_size=8, token_mode=data_mode)
    with pytest.raises(ConfigError) as info, torch.no_grad():
        model(batch)
    msg = str(info.value)
    assert "emberformer" in msg and "fire_tokens has shape" in msg and "expected" in msg
    assert f"token_mode={model_mode!r}" in msg and "fix:" in msg


def test_emberformer_refuses_static_tokens_of_another_band_count():
    model = _emberformer()
    batch = make_batch(B=1, T=2, H=16, W=16, in_static=3, patch_size=8)
    batch["static"] = batch["static"][:, :2]  # pixels agree with the model, tokens do not
    with pytest.raises(ConfigError, match=r"static_tokens has shape \[1, 4, 192\], expected \[1, 4, 128\]"):
        with torch.no_grad():
            model(batch)


@pytest.mark.parametrize("mode", TOKEN_MODES)
def test_emberformer_cuts_absent_tokens_like_the_data_pipeline(mode):
    model = _emberformer(token_mode=mode)
    batch = make_batch(B=2, T=3, H=16, W=16, in_static=2, patch_size=8, token_mode=mode, invalid_cols=5)
    bare = {k: v for k, v in batch.items() if k not in TOKEN_AXES}
    with torch.no_grad():
        assert torch.allclose(model(batch), model(bare), atol=1e-6)
    per_patch = 64 if mode == "pixels" else 1
    assert model.fire_embed.in_features == per_patch and model.static_embed.in_features == 2 * per_patch


def test_token_module_imports_neither_data_nor_models_nor_torch():
    code = (
        "import sys, emberxr.tokens; "
        "bad = [m for m in sys.modules if m.startswith(('emberxr.data', 'emberxr.models', 'torch'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
