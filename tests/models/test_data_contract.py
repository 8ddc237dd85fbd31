"""Every model consumes the batches of the real data pipeline (dataset + temporal_collate)."""

from __future__ import annotations

import pytest
import torch

import emberxr

datasets = pytest.importorskip("emberxr.data.datasets")
collate = pytest.importorskip("emberxr.data.collate")


_CACHE: dict = {}


def _batch(make_synthetic_event):
    if "batch" in _CACHE:
        return _CACHE["batch"]
    evs = [make_synthetic_event(seed=i, event_id=f"e{i}", invalid_border=3) for i in range(2)]
    ds = datasets.FireSampleDataset(evs, max_history=6, patch_size=8, tokens=True)
    _CACHE["batch"] = collate.temporal_collate([ds[i] for i in (0, 3, len(ds) - 1)])
    return _CACHE["batch"]


@pytest.mark.parametrize("name", ["copylast", "conv2d", "tiny3d", "unets", "utae", "emberformer"])
def test_model_runs_on_collated_batch_and_tokens_match_its_own(name, make_synthetic_event):
    batch = _batch(make_synthetic_event)
    B, _T, H, W = batch["fire"].shape
    assert bool((~batch["valid_t"]).any()), "expected left padding in this batch"
    torch.manual_seed(0)
    model = emberxr.create_model(name, in_static=batch["static"].shape[1], patch_size=8, max_history=6).eval()
    with torch.no_grad():
        out = model(batch)
        bare = model({k: v for k, v in batch.items() if not k.endswith("_tokens")})
    assert out.shape == (B, 1, H, W) and torch.isfinite(out).all()
    # the data pipeline's tokens equal the ones the model cuts itself (both use emberxr.tokens)
    assert torch.allclose(out, bare, atol=1e-5)
    # invalid pixels (the event's right border) get the "outside" logit
    assert bool((out[~batch["valid"]] <= -7.9).all())


def test_emberformer_mean_mode_consumes_the_pipelines_mean_tokens(make_synthetic_event):
    # mixed window sizes: collate moves the smaller sample's tokens onto the common grid
    evs = [
        make_synthetic_event(height=24, width=40, seed=0, event_id="a", invalid_border=3),
        make_synthetic_event(height=32, width=32, seed=1, event_id="b"),
    ]
    ds = datasets.FireSampleDataset(evs, max_history=4, patch_size=8, tokens=True, token_mode="mean")
    batch = collate.temporal_collate([ds[2], ds[len(ds) - 1]])
    assert (
        batch["fire_tokens"].shape[-1] == 1 and batch["static_tokens"].shape[-1] == batch["static"].shape[1]
    )
    torch.manual_seed(0)
    model = emberxr.create_model(
        "emberformer", in_static=batch["static"].shape[1], patch_size=8, max_history=4, token_mode="mean"
    ).eval()
    with torch.no_grad():
        out = model(batch)
        bare = model({k: v for k, v in batch.items() if not k.endswith("_tokens")})
    assert torch.isfinite(out).all() and torch.allclose(out, bare, atol=1e-5)
