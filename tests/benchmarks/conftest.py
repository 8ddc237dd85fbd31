"""Fixtures of the protocol tests: tiny public data sets of every split the protocols need."""

from __future__ import annotations

import pytest

from emberxr.testing.public import write_ndws_tfrecord, write_wsts_tree

#: tiny training settings for protocol runs (conv2d, a few steps)
TINY = {"batch_size": 2, "patch_size": 8, "hidden": 8, "layers": 2, "early_stopping": None}


@pytest.fixture(scope="session")
def wsts4(tmp_path_factory):
    """A WildfireSpreadTS tree of the four protocol years, one fire of 7 days per year (16×16)."""
    root = tmp_path_factory.mktemp("wsts4")
    write_wsts_tree(root, years=(2018, 2019, 2020, 2021), fires_per_year=1, days=7, size=(16, 16), seed=3)
    return root


@pytest.fixture(scope="session")
def wsts4_events(wsts4):
    from emberxr.benchmarks.wildfirespreadts import load_years

    return load_years(wsts4, progress=False)


@pytest.fixture(scope="session")
def ndws_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ndws-bench")
    for split, n, seed in (("train_00", 4, 1), ("eval_00", 2, 2), ("test_00", 2, 3)):
        write_ndws_tfrecord(root / f"next_day_wildfire_spread_{split}.tfrecord", n_tiles=n, seed=seed)
    return root
