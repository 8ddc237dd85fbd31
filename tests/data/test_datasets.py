import dask.array as da
import numpy as np
import pytest
import torch

from emberxr.data.datasets import FireSampleDataset, PixelFireDataset, TokenFireDataset
from emberxr.tokens import pad_to_multiple, patch_mean
from emberxr.errors import ConfigError, EventValidationError
from emberxr.normalize import compute_stats


@pytest.fixture
def odd_event(make_synthetic_event):
    return make_synthetic_event(height=130, width=97, steps=4, seed=2, invalid_border=10)


def test_shapes_and_masks_non_strict(odd_event):
    ds = TokenFireDataset([odd_event], patch_size=16, max_history=8)
    s = ds[2]  # t = 2: three history frames
    assert s["fire"].shape == (3, 144, 112) and s["target"].shape == (1, 144, 112)
    assert s["static"].shape == (4, 144, 112) and s["wind"].shape == (3, 2)
    assert s["grid"] == (9, 7) and s["patch_size"] == 16
    assert s["fire_tokens"].shape == (3, 63, 256) and s["static_tokens"].shape == (63, 4 * 256)
    valid = s["valid"][0].numpy()
    expected = np.zeros((144, 112), bool)
    expected[:130, :87] = True  # real footprint minus the event's 10-column invalid border
    np.testing.assert_array_equal(valid, expected)
    vt = s["valid_tokens"].numpy().reshape(9, 7)
    assert vt[:, :6].all() and not vt[:, 6].any()  # column 6 (x >= 96) is padding or invalid
    tt = patch_mean(s["target"][0].numpy(), 16, valid)
    np.testing.assert_allclose(s["target_tokens"].numpy(), tt)
    assert s["fire"].dtype == torch.float32 and s["valid"].dtype == torch.bool


def test_shapes_and_masks_strict(odd_event):
    ds = TokenFireDataset([odd_event], patch_size=16, strict=True)
    s = ds[0]
    assert s["fire"].shape == (1, 128, 96) and s["grid"] == (8, 6)
    assert s["valid"].sum() == 128 * 87
    assert s["valid_tokens"].all()  # partial patches were dropped, the rest hold valid pixels
    np.testing.assert_array_equal(s["fire"][0].numpy(), (odd_event["fire"].values[0, :128, :96] > 0))


def test_mean_tokens_and_pixel_stack(odd_event):
    s = TokenFireDataset([odd_event], patch_size=16, token_mode="mean")[1]
    assert s["fire_tokens"].shape == (2, 63, 1) and s["static_tokens"].shape == (63, 4)
    p = PixelFireDataset([odd_event], patch_size=16)[1]
    assert p["pixels"].shape == (2, 1 + 2 + 4, 144, 112)
    assert torch.equal(p["pixels"][:, 0], p["fire"])
    assert torch.equal(p["pixels"][:, 1, 5, 5], p["wind"][:, 0])
    assert torch.equal(p["pixels"][1, 3:], p["static"])
    assert "fire_tokens" not in p


def test_norm_stats_shape_the_static_features(events):
    stats = compute_stats(events)
    ds = FireSampleDataset(events, stats, patch_size=8, tokens=True)
    s = ds[0]
    assert ds.n_static == stats.n_static == s["static"].shape[0]
    assert s["static_tokens"].shape[-1] == stats.n_static * 64
    raw_wind = np.stack([events[0]["wind_u"].values, events[0]["wind_v"].values], -1)[:1]
    np.testing.assert_allclose(s["wind"].numpy(), raw_wind / stats.wind_scale, rtol=1e-6)


class CountingArray:
    """A numpy array that counts the bytes read from it (stands in for a chunked store)."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.ndim = a, a.shape, a.dtype, a.ndim
        self.read = 0

    def __getitem__(self, key):
        out = self.a[key]
        self.read += out.nbytes
        return out


def test_lazy_path_reads_only_the_window(make_synthetic_event):
    ev = make_synthetic_event(height=64, width=64, steps=6, seed=4)
    fire, static = CountingArray(ev["fire"].values), CountingArray(ev["static"].values)
    lazy = ev.copy()
    lazy["fire"] = (("time", "y", "x"), da.from_array(fire, chunks=(1, 16, 16)))
    lazy["static"] = (("band", "y", "x"), da.from_array(static, chunks=(1, 16, 16)))
    ds = TokenFireDataset([lazy], patch_size=8, tile_size=16, max_history=3)
    assert fire.read == 0 and static.read == 0  # building the index reads nothing
    i = next(i for i in range(len(ds)) if ds.sample_info(i)["t"] == 4 and ds.sample_info(i)["tile"].y0 == 16)
    s = ds[i]
    assert fire.read == (3 + 1) * 16 * 16  # 3 history frames + target, one 16x16 window
    assert static.read == 4 * 16 * 16 * 4
    eager = TokenFireDataset([ev], patch_size=8, tile_size=16, max_history=3, preload=True)[i]
    for k in ("fire", "target", "static", "fire_tokens", "valid_tokens"):
        assert torch.equal(s[k], eager[k]), k


def test_eval_tiles_expand_samples_and_train_crops_vary(make_synthetic_event):
    ev = make_synthetic_event(height=48, width=40, steps=4, seed=5)
    ds = FireSampleDataset([ev], patch_size=8, tile_size=32, overlap=8)
    n_tiles = len(ds.tiles[0])
    assert len(ds) == 3 * n_tiles
    assert {tuple(ds[i]["fire"].shape[-2:]) for i in range(len(ds))} == {(32, 32)}
    tr = FireSampleDataset([ev], patch_size=8, tile_size=16, train=True, seed=3)
    a = [(tr[i]["meta"]["y0"], tr[i]["meta"]["x0"]) for i in range(3)]
    assert a == [(tr[i]["meta"]["y0"], tr[i]["meta"]["x0"]) for i in range(3)]  # deterministic
    tr.set_epoch(1)
    assert a != [(tr[i]["meta"]["y0"], tr[i]["meta"]["x0"]) for i in range(3)]


def test_bad_settings_are_listed_together(event):
    with pytest.raises(ConfigError) as info:
        FireSampleDataset([event], patch_size=16, token_mode="scalar", max_history=40, tile_size=20)
    assert len(info.value.problems) == 3
    with pytest.raises(EventValidationError, match="strict=False"):
        FireSampleDataset([event], patch_size=64, strict=True)


def test_pad_helper_matches_dataset_padding(odd_event):
    s = FireSampleDataset([odd_event], patch_size=16)[0]
    expected, _ = pad_to_multiple((odd_event["fire"].values[:1] > 0).astype(np.float32), 16)
    np.testing.assert_array_equal(s["fire"].numpy(), expected)


def test_samples_do_not_share_memory_with_the_static_cache(event):
    for preload in (True, False):
        ds = FireSampleDataset([event], patch_size=8, preload=preload)
        first = ds[0]["static"].clone()
        ds[0]["static"].add_(100.0)  # a consumer writing in place
        assert torch.equal(ds[1]["static"], first)


def test_accepts_a_datatree_of_events(events):
    import xarray as xr

    tree = xr.DataTree.from_dict({ev.attrs["event_id"]: ev for ev in events[:2]})
    ds = FireSampleDataset(tree, patch_size=8)
    assert len(ds) == 14 and ds[13]["meta"]["event_id"] == "synthetic-1"
