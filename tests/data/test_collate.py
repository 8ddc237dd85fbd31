import numpy as np
import pytest
import torch

from emberxr.data.collate import temporal_collate
from emberxr.data.datasets import TokenFireDataset
from emberxr.tokens import make_tokens, patchify
from emberxr.errors import ConfigError


def test_left_padding_with_histories_1_3_and_8(make_synthetic_event):
    ev = make_synthetic_event(height=32, width=32, steps=10, seed=1)
    ds = TokenFireDataset([ev], patch_size=8, max_history=8)
    picks = [ds[0], ds[2], ds[8]]  # t = 0, 2, 8
    assert [s["hist_len"] for s in picks] == [1, 3, 8]
    b = temporal_collate(picks)
    assert b["fire"].shape == (3, 8, 32, 32) and b["wind"].shape == (3, 8, 2)
    assert b["fire_tokens"].shape == (3, 8, 16, 64)
    assert b["hist_len"].tolist() == [1, 3, 8]
    expected = torch.tensor([[False] * 7 + [True], [False] * 5 + [True] * 3, [True] * 8])
    assert torch.equal(b["valid_t"], expected)
    for i, s in enumerate(picks):
        h = s["hist_len"]
        assert torch.equal(b["fire"][i, 8 - h :], s["fire"])  # real frames at the end, in order
        assert torch.equal(b["wind"][i, 8 - h :], s["wind"])
        assert torch.equal(b["fire_tokens"][i, 8 - h :], s["fire_tokens"])
        assert b["fire"][i, : 8 - h].abs().sum() == 0 and b["wind"][i, : 8 - h].abs().sum() == 0
    assert b["grid"] == (4, 4) and b["patch_size"] == 8
    assert [m["t"] for m in b["meta"]] == [0, 2, 8]
    assert b["static"].shape == (3, 4, 32, 32) and b["valid"].dtype == torch.bool
    assert b["target"].shape == (3, 1, 32, 32) and b["target_tokens"].shape == (3, 16)


def test_padding_is_distinguishable_from_real_empty_frames(make_synthetic_event):
    ev = make_synthetic_event(height=16, width=16, steps=8, seed=0)
    fire = ev["fire"].values.copy()
    fire[:4] = 0  # the fire is detected only from frame 4 on: frames 0-3 are real but empty
    ev["fire"] = (("time", "y", "x"), fire)
    ds = TokenFireDataset([ev], patch_size=8, max_history=8)
    b = temporal_collate([ds[2], ds[6]])  # histories 3 (all empty, real) and 7
    assert b["fire"][0].sum() == 0
    assert b["valid_t"][0].tolist() == [False] * 4 + [True] * 3
    assert b["valid_t"][1].tolist() == [True] * 7
    # padded and real empty frames hold the same values; only valid_t tells them apart
    assert torch.equal(b["fire"][0, 0], b["fire"][0, 6]) and b["valid_t"][0, 0] != b["valid_t"][0, 6]


def test_mixed_window_sizes_are_padded_and_retokenised(make_synthetic_event):
    small = make_synthetic_event(height=16, width=24, steps=3, seed=1, event_id="small")
    big = make_synthetic_event(height=32, width=32, steps=3, seed=2, event_id="big")
    ds = TokenFireDataset([small, big], patch_size=8)
    b = temporal_collate([ds[0], ds[2]])
    assert b["fire"].shape == (2, 1, 32, 32) and b["grid"] == (4, 4)
    assert not b["valid"][0, 0, 16:].any() and not b["valid"][0, 0, :, 24:].any()
    assert b["valid"][0, 0, :16, :24].all()
    assert torch.equal(b["fire_tokens"][0], patchify(b["fire"][0], 8))
    vt = b["valid_tokens"][0].reshape(4, 4)
    assert vt[:2, :3].all() and vt.sum() == 6


@pytest.mark.parametrize("mode", ["pixels", "mean"])
@pytest.mark.parametrize("p", [1, 4, 8])
def test_mixed_size_tokens_equal_tokens_of_the_padded_pixels(make_synthetic_event, mode, p):
    # the smaller sample's tokens move onto the larger grid: exactly the tokens of its padded
    # pixels, in both token modes (at p = 1 the two modes have the same shapes, values differ)
    small = make_synthetic_event(height=16, width=24, steps=3, seed=1, event_id="small", invalid_border=5)
    big = make_synthetic_event(height=32, width=32, steps=3, seed=2, event_id="big")
    ds = TokenFireDataset([small, big], patch_size=p, token_mode=mode)
    b = temporal_collate([ds[1], ds[3]])
    assert b["grid"] == (32 // p, 32 // p)
    for i in range(2):
        ref = make_tokens(
            b["fire"][i].numpy(),
            b["static"][i].numpy(),
            b["valid"][i, 0].numpy(),
            b["target"][i, 0].numpy(),
            p,
            mode,
        )
        for key, val in ref.items():
            np.testing.assert_array_equal(b[key][i].numpy(), val, err_msg=f"{key} of sample {i}")
    if mode == "mean" and p == 1:  # invalid pixels do not count: the invalid border's static tokens are 0
        border = ~b["valid"][0, 0, :16, :24]
        assert bool(border.any()) and (b["static_tokens"][0].reshape(32, 32, -1)[:16, :24][border] == 0).all()


def test_empty_or_mixed_patch_sizes_rejected(event):
    with pytest.raises(ConfigError):
        temporal_collate([])
    a = TokenFireDataset([event], patch_size=8)[0]
    b = TokenFireDataset([event], patch_size=16)[0]
    with pytest.raises(ConfigError, match="patch sizes"):
        temporal_collate([a, b])


def test_works_as_dataloader_collate_fn(events):
    ds = TokenFireDataset(events, patch_size=8, max_history=4, preload=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=5, shuffle=True, collate_fn=temporal_collate)
    b = next(iter(loader))
    assert b["fire"].shape[0] == 5 and b["fire"].shape[1] == int(b["hist_len"].max())
    assert np.array_equal(b["valid_t"].sum(1).numpy(), b["hist_len"].numpy())
