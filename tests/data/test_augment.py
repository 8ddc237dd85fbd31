import itertools

import numpy as np
import pytest

from emberxr.data.augment import Augment, AugPlan
from emberxr.data.datasets import FireSampleDataset
from emberxr.normalize import compute_stats

PLANS = [AugPlan(lr, ud, k) for lr, ud, k in itertools.product([False, True], [False, True], range(4))]


def _spread_direction(fire: np.ndarray) -> np.ndarray:
    """Unit (east, north) vector from the first frame's burned centroid to the last one's."""

    def centroid(m):
        r, c = np.nonzero(m > 0)
        return np.array([c.mean(), -r.mean()])  # east = +col, north = -row

    d = centroid(fire[-1]) - centroid(fire[0])
    return d / np.linalg.norm(d)


def _cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_rotated_wind_still_points_along_the_spread(make_synthetic_event, plan):
    ev = make_synthetic_event(height=48, width=64, steps=8, seed=1, wind_from_deg=250.0)
    sample = {
        "fire": ev["fire"].values.astype(np.float32),
        "wind": np.stack([ev["wind_u"].values, ev["wind_v"].values], -1),
        "static": ev["static"].values,
    }
    before = _cos(_spread_direction(sample["fire"]), sample["wind"].mean(0))
    assert before > 0.9  # sanity: the synthetic fire runs downwind
    out = Augment()(sample, np.random.default_rng(0), plan=plan)
    assert out["fire"].shape[-2:] == ((64, 48) if plan.swaps_axes else (48, 64))
    assert _cos(_spread_direction(out["fire"]), out["wind"].mean(0)) == pytest.approx(before, abs=1e-6)
    assert out["aug"] == plan


def test_dataset_augmentation_keeps_wind_aligned_with_fire(events):
    stats = compute_stats(events)
    ds = FireSampleDataset(
        events, stats, max_history=8, patch_size=8, train=True, augment=Augment(), preload=True
    )
    seen = set()
    for i in range(len(ds)):
        s = ds[i]
        if s["hist_len"] < 5:
            continue
        seen.add(s["meta"]["aug"])
        assert _cos(_spread_direction(s["fire"].numpy()), s["wind"].numpy().mean(0)) > 0.85
    assert len(seen) >= 4  # several different flips / rotations were drawn


def _aspect_from_dem(z: np.ndarray) -> np.ndarray:
    """Aspect (degrees clockwise from north, the direction the slope faces) of a north-up DEM."""
    dz_drow, dz_dcol = np.gradient(z)
    east, north = -dz_dcol, dz_drow  # downslope direction; north = -row
    return (np.rad2deg(np.arctan2(east, north)) + 360.0) % 360.0


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_aspect_band_follows_the_terrain(plan):
    yy, xx = np.mgrid[0:24, 0:24].astype(np.float64)
    z = 3.0 * xx - 2.0 * yy + 0.05 * (xx - 12) ** 2
    aspect = _aspect_from_dem(z)
    moved = plan.aspect(aspect)
    expected = _aspect_from_dem(plan.spatial(z))
    diff = (plan.spatial(moved) - expected + 180.0) % 360.0 - 180.0
    assert np.abs(diff).max() < 1e-6


def test_flat_aspect_and_torch_tensors_pass_through():
    import torch

    plan = AugPlan(True, False, 1)
    a = np.array([-1.0, np.nan, 90.0])
    out = plan.aspect(a)
    assert (
        out[0] == -1.0 and np.isnan(out[1]) and out[2] == pytest.approx(180.0)
    )  # east -> west (flip) -> south (turn)
    x = torch.arange(6.0).reshape(1, 2, 3)
    np.testing.assert_array_equal(plan.spatial(x).numpy(), plan.spatial(x.numpy()))
    np.testing.assert_allclose(
        plan.vector(torch.tensor([[1.0, 2.0]])).numpy(), plan.vector(np.array([[1.0, 2.0]]))
    )


def _with_aspect(ev, dtype=np.float32):
    rng = np.random.default_rng(7)
    static = ev["static"].values.copy()
    static[3] = rng.uniform(0, 360, static[3].shape)
    static[3, :2] = -1.0  # flat ground
    ev = ev.assign_coords(band=["elevation", "slope", "fuel_model", "aspect"])
    ev = ev.assign_coords(band_kind=("band", ["continuous", "continuous", "categorical", "continuous"]))
    ev["static"] = (("band", "y", "x"), static.astype(dtype))
    return ev


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_augmented_aspect_channel_matches_full_renormalisation(make_synthetic_event, dtype):
    ev = _with_aspect(make_synthetic_event(height=24, width=24, steps=4, seed=2), dtype)
    stats = compute_stats([ev])
    fast = FireSampleDataset([ev], stats, patch_size=8, train=True, augment=Augment(), seed=5)
    slow = FireSampleDataset([ev], stats, patch_size=8, train=True, augment=Augment(), seed=5)
    assert fast._aspect_map is not None
    slow._aspect_map = None  # force renormalising the whole window
    for i in range(len(fast)):
        a, b = fast[i], slow[i]
        assert a["meta"]["aug"] == b["meta"]["aug"]
        np.testing.assert_allclose(a["static"].numpy(), b["static"].numpy(), atol=1e-5)
    # the aspect channel really moved with the raster: undo the plan and compare with the source
    s = fast[0]
    lr, ud, k = s["meta"]["aug"] or (False, False, 0)
    plan = AugPlan(lr, ud, k)
    raw = ev["static"].values[3].astype(np.float64)
    expected = (plan.spatial(plan.aspect(raw)) - stats.mean[3]) / stats.std[3]
    ch = stats.feature_names.index("aspect")
    np.testing.assert_allclose(s["static"][ch].numpy(), expected, atol=1e-4)
