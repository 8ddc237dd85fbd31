import json

import numpy as np
import pytest
import torch

from emberxr.data.cache import build_patch_cache, cache_hash, open_patch_cache, source_fingerprint
from emberxr.data.datasets import TokenFireDataset
from emberxr.errors import CacheMismatchError
from emberxr.io.events import iter_events, open_events, save_events
from emberxr.normalize import compute_stats


@pytest.fixture
def small_events(make_synthetic_event):
    return [
        make_synthetic_event(height=20, width=27, steps=5, seed=i, event_id=f"ev-{i}", invalid_border=3)
        for i in range(3)
    ]


def _meta(path):
    return json.loads((path / "zarr.json").read_text())["attributes"]["emberxr_cache"]


def test_cache_matches_the_direct_token_dataset(tmp_path, small_events):
    stats = compute_stats(small_events[:2])
    splits = {"train": small_events[:2], "val": small_events[2:]}
    path, built = build_patch_cache(
        splits, tmp_path / "c.zarr", patch_size=8, stats=stats, scheduler="synchronous"
    )
    assert built
    meta = _meta(path)
    assert meta["patch_size"] == 8 and meta["strict"] is False
    assert [e["grid"] for e in meta["splits"]["train"]] == [[3, 4], [3, 4]]
    assert meta["feature_names"] == stats.feature_names and meta["stats"] == stats.to_dict()
    cache = open_patch_cache(path, patch_size=8, strict=False, stats=stats)
    cached = cache.dataset("val", max_history=3, preload=True)
    direct = TokenFireDataset(small_events[2:], stats, patch_size=8, max_history=3)
    assert len(cached) == len(direct) == 4
    for i in range(len(direct)):
        a, b = cached[i], direct[i]
        for k in (
            "fire",
            "wind",
            "static",
            "valid",
            "target",
            "fire_tokens",
            "static_tokens",
            "valid_tokens",
        ):
            assert torch.equal(a[k], b[k]), k
        torch.testing.assert_close(a["target_tokens"], b["target_tokens"])
        assert a["grid"] == b["grid"] and a["hist_len"] == b["hist_len"]
    assert cache.stats.to_dict() == stats.to_dict()


def test_cache_reused_when_hash_matches_and_rebuilt_when_not(tmp_path, small_events):
    store = tmp_path / "events.zarr"
    save_events(small_events, store)
    events = list(iter_events(open_events(store)))
    out = tmp_path / "c.zarr"
    _, built = build_patch_cache(events, out, patch_size=8, scheduler="synchronous", progress=False)
    h1 = _meta(out)["hash"]
    # reopening the same store gives the same fingerprint: reused
    again = list(iter_events(open_events(store)))
    assert [source_fingerprint(e) for e in again] == [source_fingerprint(e) for e in events]
    _, built = build_patch_cache(again, out, patch_size=8, scheduler="synchronous", progress=False)
    assert not built and _meta(out)["hash"] == h1
    # other settings: rebuilt
    _, built = build_patch_cache(again, out, patch_size=4, scheduler="synchronous", progress=False)
    assert built and _meta(out)["patch_size"] == 4 and _meta(out)["hash"] != h1
    # other data: rebuilt
    changed = [e.load() for e in again]
    changed[1]["static"][0, 0, 0] = 999.0
    assert cache_hash({"all": changed}, 4, False) != cache_hash({"all": [e.load() for e in events]}, 4, False)
    _, built = build_patch_cache(changed, out, patch_size=4, scheduler="synchronous", progress=False)
    assert built
    tok = open_patch_cache(out).dataset("all", preload=True)[5]["static_tokens"]  # event 1, t = 1
    assert tok[0, 0] == 999.0


def test_reader_refuses_mismatched_settings(tmp_path, small_events):
    path, _ = build_patch_cache(small_events, tmp_path / "c.zarr", patch_size=8, scheduler="synchronous")
    with pytest.raises(CacheMismatchError) as info:
        open_patch_cache(path, patch_size=16, strict=True, stats=compute_stats(small_events))
    msg = str(info.value)
    assert "patch_size: cache 8, requested 16" in msg and "strict" in msg and "statistics" in msg
    with pytest.raises(CacheMismatchError, match="not an emberxr patch cache"):
        open_patch_cache(tmp_path / "nothing.zarr")
    with pytest.raises(CacheMismatchError, match="split 'train'"):
        open_patch_cache(path).dataset("train")


def _compare(a_path, b_path):
    a = open_patch_cache(a_path, strict=True).dataset("all", preload=True)
    b = open_patch_cache(b_path, strict=True).dataset("all", preload=True)
    assert a[0]["fire"].shape == (1, 16, 24) and a[0]["grid"] == (2, 3)
    for i in (0, 7, 11):
        assert torch.equal(a[i]["fire_tokens"], b[i]["fire_tokens"])
        assert np.array_equal(a[i]["valid"].numpy(), b[i]["valid"].numpy())


def test_build_on_an_existing_cluster_by_address(tmp_path, small_events):
    from distributed import LocalCluster

    sync, _ = build_patch_cache(
        small_events, tmp_path / "s.zarr", patch_size=8, strict=True, scheduler="synchronous"
    )
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        par, built = build_patch_cache(
            small_events, tmp_path / "p.zarr", patch_size=8, strict=True, scheduler=cluster.scheduler_address
        )
    assert built
    _compare(sync, par)


@pytest.mark.slow
def test_build_on_a_default_local_cluster(tmp_path, small_events):
    sync, _ = build_patch_cache(
        small_events, tmp_path / "s.zarr", patch_size=8, strict=True, scheduler="synchronous"
    )
    par, _ = build_patch_cache(small_events, tmp_path / "p.zarr", patch_size=8, strict=True, workers=1)
    _compare(sync, par)


def test_cached_samples_do_not_share_memory_with_the_reader(tmp_path, small_events):
    path, _ = build_patch_cache(small_events, tmp_path / "c.zarr", patch_size=8, scheduler="synchronous")
    for preload in (True, False):
        ds = open_patch_cache(path).dataset("all", preload=preload)
        first = {k: ds[0][k].clone() for k in ("static_tokens", "valid_tokens", "wind", "valid")}
        s = ds[0]
        s["static_tokens"].add_(1.0)
        s["valid_tokens"].fill_(False)
        s["valid"].fill_(False)
        s["wind"].mul_(0)
        again = ds[0]
        for k, v in first.items():
            assert torch.equal(again[k], v), k
