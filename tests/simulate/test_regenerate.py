"""The shipped sim-small and sim-wide-small events regenerate bit for bit; generation resumes and
ignores workers (both generators)."""

from __future__ import annotations

import pytest
import xarray as xr

from emberxr.simulate.engine import simulator_available

needs_sim = pytest.mark.skipif(
    not simulator_available(),
    reason="pyretechnics not found (in-process, $EMBERXR_SIM_PYTHON or .venv-sim): run `make sim-venv`",
)


@pytest.mark.simulator
@needs_sim
def test_committed_sim_small_events_regenerate_bit_for_bit():
    from emberxr.catalog import open_catalog
    from emberxr.io.events import open_event_store
    from emberxr.simulate.run import regenerate
    from emberxr.simulate.store import roundtrip

    cat = open_catalog("sim-small")
    for split in ("train", "val", "test"):
        eid = cat.event_ids(split)[1]
        stored = open_event_store(cat.data_path, group=eid).load()
        again = roundtrip(regenerate(stored))
        xr.testing.assert_identical(again, stored)


@pytest.mark.simulator
@needs_sim
def test_generation_resumes_and_does_not_depend_on_workers(tmp_path):
    from emberxr.io.events import list_event_ids
    from emberxr.simulate.generate import generate_collection

    kw = dict(seed=5, size=32, steps=4, prefix="t", batch_size=2, progress=False)
    first = generate_collection(tmp_path / "a.zarr", n_events=3, limit=2, **kw)
    assert first.written == 2
    resumed = generate_collection(tmp_path / "a.zarr", n_events=3, **kw)
    assert resumed.written == 1 and len(list_event_ids(tmp_path / "a.zarr")) == 3
    again = generate_collection(tmp_path / "a.zarr", n_events=3, **kw)
    assert again.written == 0
    parallel = generate_collection(tmp_path / "b.zarr", n_events=3, workers=2, **kw)
    assert parallel.kept == resumed.kept


@pytest.mark.simulator
@needs_sim
def test_shipped_sim_wide_small_events_regenerate_bit_for_bit():
    """Three shipped wide events regenerate exactly: a real-DEM one, a line ignition, a test event
    (the cheapest of each kind, so the test stays short)."""
    from emberxr.catalog import open_catalog
    from emberxr.io.events import open_event_store
    from emberxr.simulate.run import regenerate
    from emberxr.simulate.stats import regime_table
    from emberxr.simulate.store import roundtrip

    cat = open_catalog("sim-wide-small")
    table = regime_table(cat["train"]).assign(split="train")
    table = table.combine_first(regime_table(cat["test"]).assign(split="test"))
    cost = table["regime_frames"].astype(float) * (table["regime_burned_fraction"] + 0.01)
    picks = []
    for mask in (
        table["regime_terrain"] == "real",
        table["regime_ignition"] == "line",
        table["split"] == "test",
    ):
        order = cost[mask & ~table.index.isin(picks)].sort_values()
        picks.append(order.index[0])
    assert len(set(picks)) == 3
    for eid in picks:
        stored = open_event_store(cat.data_path, group=eid).load()
        again = roundtrip(regenerate(stored))
        xr.testing.assert_identical(again, stored)


@pytest.mark.simulator
@needs_sim
def test_wide_generation_resumes_and_does_not_depend_on_workers(tmp_path):
    from emberxr.io.events import list_event_ids
    from emberxr.simulate.generate import generate_collection

    kw = dict(seed=6, size=32, params_version=2, dem="jacksboro", real_share=0.5, prefix="w",
              batch_size=2, progress=False)  # fmt: skip
    first = generate_collection(tmp_path / "a.zarr", n_events=3, limit=2, **kw)
    assert first.written == 2
    resumed = generate_collection(tmp_path / "a.zarr", n_events=3, **kw)
    assert resumed.written == 1 and len(list_event_ids(tmp_path / "a.zarr")) == 3
    parallel = generate_collection(tmp_path / "b.zarr", n_events=3, workers=2, **kw)
    assert parallel.kept == resumed.kept
    from emberxr.errors import CatalogError

    with pytest.raises(CatalogError, match="was generated with"):
        generate_collection(tmp_path / "a.zarr", n_events=3, **{**kw, "real_share": 0.2})
