"""Streamed samples: windows read from zarr stores equal the preloaded ones, memory stays bounded."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch

import emberxr
from emberxr.data.datasets import FireSampleDataset
from emberxr.data.loaders import EpochSampler, EpochSubset, build_loader, resolve_preload, sample_subset
from emberxr.data.streaming import ByteLRU, array_source, lazy_nbytes, zarr_ref
from emberxr.normalize import compute_stats
from emberxr.testing.events import synthetic_event
from emberxr.train.config import default_config


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Five events of different sizes in an event store, chunked smaller than the events."""
    evs = [
        synthetic_event(height=48 + 8 * i, width=40 + 4 * i, steps=7 + i, seed=i, event_id=f"ev-{i}")
        for i in range(5)
    ]
    path = tmp_path_factory.mktemp("stream") / "events.zarr"
    chunks = {"fire": {"chunks": (3, 24, 24)}, "static": {"chunks": (2, 24, 24)}, "valid": {"chunks": (24, 24)}}
    emberxr.save_events(evs, path, encoding=chunks)
    return path


def _events(store):
    return list(emberxr.io.events.iter_events(emberxr.open_events(store)))


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize(
    "settings",
    [
        {"tokens": True},  # whole events
        {"tile_size": 16, "train": True, "augment": True, "tokens": True, "token_mode": "mean"},
        {"tile_size": 32, "train": False, "overlap": 8},  # evaluation tiles
    ],
)
def test_streamed_samples_equal_preloaded_ones(store, settings):
    events = _events(store)
    stats = compute_stats(events)
    kw = {"max_history": 4, "patch_size": 8, "seed": 3, **settings}
    pre = FireSampleDataset(events, stats, preload=True, **kw)
    streamed = FireSampleDataset(_events(store), stats, preload=False, cache_mb=1, **kw)
    assert {e.fire.kind for e in streamed._ev} == {"zarr"}  # read with zarr, not through Dask
    assert {e.static.kind for e in streamed._ev} == {"zarr"}
    assert len(pre) == len(streamed)
    for epoch in (0, 1):
        order = np.random.default_rng(epoch).permutation(len(pre))
        for i in order:
            _assert_same(pre[(epoch, int(i))], streamed[(epoch, int(i))])
    assert streamed._chunks.nbytes <= 2**20  # the 1 MiB budget held


def test_building_a_streamed_dataset_decodes_no_fire_static_or_valid_chunk(store, tmp_path):
    import shutil

    broken = tmp_path / "broken.zarr"
    shutil.copytree(store, broken)
    for var in ("fire", "static", "valid"):  # every chunk of these variables is now undecodable
        for chunk in (broken / "ev-0" / var / "c").rglob("*"):
            if chunk.is_file():
                chunk.write_bytes(b"not a zstd frame")
    events = _events(broken)
    ds = FireSampleDataset(events, patch_size=8, preload=False, tile_size=16, train=True)
    assert len(ds) > 0 and len(ds._chunks) == 0  # sizes and time counts come from metadata
    with pytest.raises(Exception):  # noqa: B017  (zarr's decode error: the chunks are read now)
        ds[0]


def test_the_dataset_keeps_no_event_dataset(store):
    events = _events(store)
    refs = [weakref.ref(ev) for ev in events]
    ds = FireSampleDataset(events, patch_size=8, preload=False)
    del events
    gc.collect()
    assert all(r() is None for r in refs)  # only tiny records: id, sizes, wind, array paths
    assert ds[3]["fire"].shape[0] >= 1


def test_modified_lazy_arrays_are_read_through_dask_and_give_the_same_samples(store):
    events = [ev.isel(time=slice(1, None)) for ev in _events(store)]
    doubled = _events(store)[0]
    assert zarr_ref(doubled["fire"].data) is not None
    assert zarr_ref((doubled["fire"] * 1).data) is None  # arithmetic: not the stored values
    assert zarr_ref(events[0]["fire"].data) is None  # a slice of the stored array
    streamed = FireSampleDataset(events, patch_size=8, preload=False)
    assert {e.fire.kind for e in streamed._ev} == {"dask"}
    pre = FireSampleDataset(events, patch_size=8, preload=True)
    for i in range(0, len(pre), 3):
        _assert_same(pre[i], streamed[i])


@pytest.mark.parametrize("settings", [{"tile_size": 16, "train": True}, {"tile_size": 32}, {}])
def test_chunks_static_windows_and_front_maps_share_one_bounded_cache(store, settings):
    ds = FireSampleDataset(_events(store), patch_size=8, preload=False, cache_mb=0.05, **settings)
    budget = int(0.05 * 2**20)
    kinds = set()
    for i in range(len(ds)):
        ds[i]
        assert ds._chunks.nbytes <= budget
        kinds |= {k[0] if isinstance(k[0], str) else "chunk" for k in ds._chunks._d}
    assert ds._static_cache is ds._chunks and ds._fronts is ds._chunks
    train = bool(settings.get("train"))  # crops: front maps, no static caching; else static windows
    assert "chunk" in kinds and ("front" in kinds) == train and ("static" in kinds) == (not train)


def test_chunk_cache_evicts_least_recently_used():
    cache = ByteLRU(100)
    cache.put("a", np.zeros(40, np.uint8), 40)
    cache.put("b", np.zeros(40, np.uint8), 40)
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", np.zeros(40, np.uint8), 40)
    assert "b" not in cache and "a" in cache and "c" in cache and cache.nbytes == 80
    cache.put("huge", np.zeros(200, np.uint8), 200)  # larger than the budget: not kept
    assert "huge" not in cache and len(cache) == 2
    counted = ByteLRU(10**6, max_items=1)
    counted.put("x", 1, 1)
    counted.put("y", 2, 1)
    assert list(counted._d) == ["y"]


def test_zarr_windows_span_chunk_boundaries(store):
    ev = _events(store)[2]
    src = array_source(ev["fire"].data)
    assert src.kind == "zarr"
    full = ev["fire"].values
    cache = ByteLRU(10**6)
    for sel in [(slice(0, 9), slice(5, 50), slice(20, 47)), (slice(2, 3), slice(23, 25), slice(0, 48))]:
        np.testing.assert_array_equal(src.read(sel, cache), full[sel])
        np.testing.assert_array_equal(src.read(sel, None), full[sel])  # uncached read
    np.testing.assert_array_equal(src.read((slice(4, 9),), cache), full[4:9])


def test_sampler_yields_epoch_keys_and_resumes_part_way():
    s = EpochSampler(10, seed=1, shuffle=True, rank=0, world=1)
    s.set_epoch(3)
    full = list(s)
    assert all(e == 3 for e, _ in full) and sorted(i for _, i in full) == list(range(10))
    s.set_epoch(3, start=4)
    assert list(s) == full[4:] and len(s) == 6
    s.set_epoch(4)
    assert list(s) != full and len(s) == 10
    plain = EpochSampler(10, seed=1, shuffle=True, keys=False)
    plain.set_epoch(3)
    assert list(plain) == [i for _, i in full]


def test_subsets_pass_epoch_keys_on(events):
    ds = FireSampleDataset(events[:2], patch_size=8, tile_size=16, train=True)
    sub = sample_subset(ds, 5, seed=0)
    assert isinstance(sub, EpochSubset) and len(sub) == 5
    _assert_same(sub[(2, 1)], ds[(2, sub.indices[1])])
    ds.set_epoch(2)
    _assert_same(sub[1], ds[(2, sub.indices[1])])


def test_workers_give_the_batches_of_the_main_process_every_epoch(store):
    events = _events(store)
    ds = FireSampleDataset(events, patch_size=8, preload=False, tile_size=16, train=True, augment=True)
    cfg = default_config()
    cfg["training"]["batch_size"] = 4

    def epochs(workers):
        cfg["data"]["num_workers"] = workers
        sampler = EpochSampler(len(ds), 0, True, dataset=ds)
        loader = build_loader(ds, cfg, sampler)
        out = []
        for e in (1, 2):  # persistent workers are not told the epoch: the keys carry it
            sampler.set_epoch(e)
            out.append([b["meta"] for b in loader])
        return out

    inline, workers = epochs(0), epochs(2)
    assert inline == workers
    assert inline[0] != inline[1]  # other order and crops in epoch 2


def test_preload_auto_follows_the_decoded_size(store, events):
    lazy = _events(store)
    need = lazy_nbytes([ev[v].data for ev in lazy for v in ("fire", "static", "valid")])
    assert need > 0 and lazy_nbytes([events[0]["fire"].values]) == 0  # in memory: nothing to load
    gib = need / 2**30
    assert resolve_preload({"preload": "auto", "preload_max_gb": gib * 2}, lazy) is True
    assert resolve_preload({"preload": "auto", "preload_max_gb": gib / 2}, lazy) is False
    assert resolve_preload({"preload": True, "preload_max_gb": gib / 2}, lazy) is True
    assert resolve_preload({"preload": False}, events) is False
    assert resolve_preload({"preload": "auto", "preload_max_gb": None}, lazy) is True  # a few kB


def test_bad_preload_settings_are_refused():
    from emberxr.errors import ConfigError
    from emberxr.train.config import validate_config

    with pytest.raises(ConfigError) as info:
        validate_config({"data": {"preload": "sometimes", "cache_mb": -1, "preload_max_gb": 0}})
    text = str(info.value)
    assert "data.preload" in text and "data.cache_mb" in text and "data.preload_max_gb" in text


def test_store_events_are_opened_on_access_and_few_stay_open(store, monkeypatch):
    from emberxr.data.sources import EventSequence, resolve_splits

    splits = resolve_splits(store)  # fit's split of an unsplit store: 4 train, 1 validation event
    train = splits["train"]
    assert isinstance(train, EventSequence) and isinstance(splits["val"], EventSequence)
    assert len(train) == 4 and len(train._opened) == 0  # nothing opened yet
    assert [ev.attrs["event_id"] for ev in train] == train.ids  # opened now, one at a time
    monkeypatch.setattr(EventSequence, "KEEP", 2)
    every = resolve_splits(store, auto_split=False)["all"]
    for _ in every:
        assert len(every._opened) <= 2
    assert every[1:3].ids == ["ev-1", "ev-2"] and every.subset([4, 0]).ids == ["ev-4", "ev-0"]
    assert every.subset([4, 0])[0].attrs["event_id"] == "ev-4"


def test_front_maps_of_events_large_next_to_the_cache_stream_chunk_by_chunk(store):
    from emberxr.data.tiling import front_map

    ds = FireSampleDataset(_events(store), patch_size=8, preload=False, tile_size=16, train=True, cache_mb=0.01)
    fire = ds._ev[4].read_fire(ds._chunks)
    assert type(fire).__module__.startswith("dask")  # 11 frames of 80x56: more than the cache allows
    full = _events(store)[4]["fire"].values
    np.testing.assert_array_equal(front_map(fire, 4).new_burn, front_map(full, 4).new_burn)
    roomy = FireSampleDataset(_events(store), patch_size=8, preload=False, tile_size=16, train=True)
    assert isinstance(roomy._ev[4].read_fire(roomy._chunks), np.ndarray)


def test_streamed_sim_small_samples_with_aspect_augmentation_equal_preloaded_ones():
    events = emberxr.open_catalog("sim-small").events("train")[:3]  # has an aspect band
    stats = compute_stats(events)
    kw = {"max_history": 6, "patch_size": 16, "tile_size": 64, "train": True, "augment": True, "tokens": True}
    pre = FireSampleDataset(events, stats, preload=True, **kw)
    streamed = FireSampleDataset(events, stats, preload=False, **kw)
    assert streamed._aspect_map is not None and {e.static.kind for e in streamed._ev} == {"zarr"}
    for i in range(len(pre)):
        _assert_same(pre[(5, i)], streamed[(5, i)])
