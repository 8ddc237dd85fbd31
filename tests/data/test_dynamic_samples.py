"""Dynamic bands in samples and batches: history steps only, normalised, augmented, padded, collated."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from emberxr.data.augment import Augment, AugPlan
from emberxr.data.collate import temporal_collate
from emberxr.data.datasets import FireSampleDataset, PixelFireDataset, TokenFireDataset
from emberxr.errors import ConfigError, EventValidationError
from emberxr.normalize import compute_stats
from emberxr.schema import DYNAMIC
from emberxr.testing import synthetic_event, synthetic_events
from emberxr.tokens import fold_static

PLANS = [AugPlan(lr, ud, k) for lr, ud, k in itertools.product([False, True], [False, True], range(4))]


def _sample_at(ds: FireSampleDataset, t: int) -> dict:
    i = next(i for i in range(len(ds)) if ds.sample_info(i)["t"] == t)
    return ds[i]


def test_a_sample_holds_the_normalised_dynamic_bands_of_its_history_steps_only():
    ev = synthetic_event(height=30, width=37, steps=6, dynamic=True)
    stats = compute_stats([ev])
    ds = FireSampleDataset([ev], stats, max_history=3, patch_size=8)
    s = _sample_at(ds, 3)  # history steps 1, 2, 3; target step 4
    assert ds.n_dynamic == stats.n_dynamic == 6
    assert s["dynamic"].shape == (3, 6, 32, 40) and s["dynamic"].dtype == torch.float32
    want = stats.transform_dynamic(ev[DYNAMIC].values[1:4])
    np.testing.assert_allclose(s["dynamic"][:, :, :30, :37].numpy(), want, atol=1e-6)
    assert (s["dynamic"][:, :, 30:, :] == 0).all() and (s["dynamic"][:, :, :, 37:] == 0).all()  # padding
    assert torch.isfinite(s["dynamic"]).all()  # the missing block of step 1 is imputed
    # the target step's dynamic bands are not an input: changing them changes nothing
    later = ev.copy()
    later[DYNAMIC] = later[DYNAMIC].where(later["time"] != later["time"][4], 99.0)
    again = _sample_at(FireSampleDataset([later], stats, max_history=3, patch_size=8), 3)
    assert torch.equal(again["dynamic"], s["dynamic"])
    earlier = ev.copy()
    earlier[DYNAMIC] = earlier[DYNAMIC].where(earlier["time"] != earlier["time"][3], 99.0)
    changed = _sample_at(FireSampleDataset([earlier], stats, max_history=3, patch_size=8), 3)
    assert not torch.equal(changed["dynamic"][-1], s["dynamic"][-1])


def test_lazy_and_preloaded_events_give_the_same_dynamic_window(tmp_path):
    import emberxr

    ev = synthetic_event(height=24, width=24, steps=5, dynamic=True, event_id="d")
    emberxr.save_events([ev], tmp_path / "e.zarr")
    lazy = emberxr.open_event(tmp_path / "e.zarr", event_id="d")
    stats = compute_stats([ev])
    a = FireSampleDataset([lazy], stats, patch_size=8, tile_size=16, train=False)
    b = FireSampleDataset([ev], stats, patch_size=8, tile_size=16, train=False, preload=True)
    assert a._ev[0].lazy and not b._ev[0].lazy
    for i in range(len(a)):
        assert torch.equal(a[i]["dynamic"], b[i]["dynamic"])


def test_without_stats_the_raw_dynamic_values_come_through_with_missing_as_zero():
    ev = synthetic_event(height=16, width=16, steps=3, dynamic=True)
    s = FireSampleDataset([ev], max_history=2, patch_size=8)[1]  # t = 1: steps 0, 1
    raw = np.nan_to_num(ev[DYNAMIC].values[0:2], nan=0.0)
    np.testing.assert_allclose(s["dynamic"].numpy(), raw)


def test_events_without_dynamic_give_no_key_and_mixed_events_are_refused():
    s = FireSampleDataset([synthetic_event()], patch_size=8, tokens=True)[0]
    assert "dynamic" not in s and "dynamic_tokens" not in s
    with pytest.raises(EventValidationError, match="dynamic bands none, the first event has"):
        FireSampleDataset([synthetic_event(dynamic=True), synthetic_event(seed=1)], patch_size=8)
    with pytest.raises(ConfigError, match="some samples have dynamic bands and others not"):
        temporal_collate([FireSampleDataset([synthetic_event(dynamic=True)], patch_size=8)[0], s])


def test_collate_left_pads_dynamic_like_fire_and_cuts_dynamic_tokens():
    evs = synthetic_events(2, height=24, width=24, steps=5, dynamic=True)
    stats = compute_stats(evs)
    ds = TokenFireDataset(evs, stats, max_history=4, patch_size=8)
    samples = [_sample_at(ds, 3), _sample_at(ds, 0)]  # 4 and 1 history steps
    batch = temporal_collate(samples)
    assert batch["dynamic"].shape == (2, 4, 6, 24, 24)
    assert batch["valid_t"].tolist() == [[True] * 4, [False, False, False, True]]
    assert (batch["dynamic"][1, :3] == 0).all()
    assert torch.equal(batch["dynamic"][1, 3], samples[1]["dynamic"][0])
    assert torch.equal(batch["dynamic"][0], samples[0]["dynamic"])
    # tokens: each step folded like the static bands (channel-major), left-padded the same way
    assert batch["dynamic_tokens"].shape == (2, 4, 9, 6 * 64)
    torch.testing.assert_close(batch["dynamic_tokens"], fold_static(batch["dynamic"], 8))


def test_collate_pads_dynamic_of_different_window_sizes_at_the_bottom_right():
    a = synthetic_event(height=16, width=24, steps=3, dynamic=True)
    b = synthetic_event(height=24, width=16, steps=3, dynamic=True, seed=1, event_id="b")
    stats = compute_stats([a, b])
    batch = temporal_collate(
        [
            FireSampleDataset([a], stats, patch_size=8, tokens=True)[1],
            FireSampleDataset([b], stats, patch_size=8, tokens=True)[1],
        ]
    )
    assert batch["dynamic"].shape == (2, 2, 6, 24, 24)
    assert (batch["dynamic"][0, :, :, 16:] == 0).all() and (batch["dynamic"][1, :, :, :, 16:] == 0).all()
    torch.testing.assert_close(batch["dynamic_tokens"], fold_static(batch["dynamic"], 8))


def test_mean_mode_dynamic_tokens_average_valid_pixels():
    ev = synthetic_event(height=16, width=16, steps=3, dynamic=True, invalid_border=5)
    s = TokenFireDataset([ev], compute_stats([ev]), patch_size=8, token_mode="mean")[1]
    assert s["dynamic_tokens"].shape == (2, 4, 6)
    valid = s["valid"][0]
    block = s["dynamic"][1, 0, :8, 8:][valid[:8, 8:]]  # top-right patch, valid pixels only
    assert float(s["dynamic_tokens"][1, 1, 0]) == pytest.approx(float(block.mean()), abs=1e-5)


def test_pixel_stack_appends_the_dynamic_bands():
    ev = synthetic_event(height=16, width=16, steps=3, dynamic=True)
    stats = compute_stats([ev])
    p = PixelFireDataset([ev], stats, patch_size=8)[1]
    assert p["pixels"].shape == (2, 1 + 2 + stats.n_static + 6, 16, 16)
    assert torch.equal(p["pixels"][:, -6:], p["dynamic"])


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_augment_turns_direction_pairs_like_the_wind(plan):
    rng = np.random.default_rng(0)
    bearing = rng.uniform(0, 2 * np.pi, (3, 6, 7))
    speed = rng.uniform(1, 5, (3, 6, 7))
    u, v = -speed * np.sin(bearing), -speed * np.cos(bearing)  # wind blowing from `bearing`
    bands = np.stack([speed, np.sin(bearing), np.cos(bearing)], axis=1)  # [T, C, H, W]
    bands[0, 1, 0, 0] = np.nan
    out = plan.spatial(plan.band_values(bands, ["speed", "dir_sin", "dir_cos"]))
    uv = plan.spatial(np.moveaxis(plan.vector(np.stack([u, v], -1)), -1, 1))  # [T, 2, H, W]
    np.testing.assert_allclose(out[:, 0], plan.spatial(speed))  # not a direction: moved only
    # the turned bearing still points where the turned wind comes from
    ok = np.isfinite(out[:, 1]) & np.isfinite(out[:, 2])
    np.testing.assert_allclose((-out[:, 0] * out[:, 1])[ok], uv[:, 0][ok], atol=1e-9)
    np.testing.assert_allclose((-out[:, 0] * out[:, 2])[ok], uv[:, 1][ok], atol=1e-9)
    assert (~ok).sum() == 1 and np.isnan(out[:, 1:]).sum() == 1  # missing stays missing


def test_dataset_augmentation_keeps_dynamic_wind_direction_opposite_to_the_wind():
    evs = synthetic_events(4, height=24, width=24, steps=4, dynamic=True)
    stats = compute_stats(evs)
    ds = FireSampleDataset(evs, stats, max_history=2, patch_size=8, train=True, augment=Augment())
    i_sin = stats.dynamic_feature_names.index("wind_dir_sin")
    i_cos = stats.dynamic_feature_names.index("wind_dir_cos")
    seen = set()
    for i in range(len(ds)):
        s = ds[i]
        seen.add(s["meta"]["aug"])
        valid = s["valid"][0]
        d = torch.stack([s["dynamic"][-1, i_sin][valid], s["dynamic"][-1, i_cos][valid]], -1)
        w = s["wind"][-1]
        cos = (d @ w) / (d.norm(dim=-1) * w.norm())
        assert torch.allclose(cos, torch.full_like(cos, -1.0), atol=1e-5), s["meta"]["aug"]
    assert len(seen) >= 4


def test_dataset_augmentation_rotates_static_direction_pairs():
    ev = synthetic_event(height=24, width=24, steps=3, seed=3)
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 2 * np.pi, (24, 24))
    static = np.concatenate([ev.static.values, np.sin(a)[None], np.cos(a)[None]]).astype(np.float32)
    names = [*map(str, ev.band.values), "aspect_sin", "aspect_cos"]
    ev = ev.drop_vars(["static", "band", "band_kind"]).assign(static=(("band", "y", "x"), static))
    ev = ev.assign_coords(
        band=names,
        band_kind=("band", ["continuous", "continuous", "categorical", "binary"] + ["continuous"] * 2),
    )
    stats = compute_stats([ev])
    ds = FireSampleDataset([ev], stats, patch_size=8, train=True, augment=Augment(), seed=4)
    assert ds._raw_aspect and ds._aspect_map is None
    turned = 0
    for i in range(len(ds)):
        s = ds[i]
        plan = AugPlan(*(s["meta"]["aug"] or (False, False, 0)))
        want = stats.transform_static(plan.band_values(static, names))
        np.testing.assert_allclose(s["static"].numpy(), plan.spatial(want), atol=1e-5)
        turned += not plan.identity
    assert turned


def test_the_dataset_refuses_events_of_another_target_kind():
    active = synthetic_events(2, dynamic=False, fire_kind="active")
    FireSampleDataset(active, patch_size=8, target="active")
    FireSampleDataset(active, patch_size=8)  # no target given: not checked
    with pytest.raises(ConfigError, match=r"data.target is .cumulative. but 2 event"):
        FireSampleDataset(active, patch_size=8, target="cumulative")
    with pytest.raises(ConfigError, match="target kind 'burned' is unknown"):
        FireSampleDataset(active, patch_size=8, target="burned")
