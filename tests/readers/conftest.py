"""Fixtures of the public-dataset reader tests: tiny files in the published formats.

The writers are :mod:`emberxr.testing.public` (importable by plugin authors too); the trees are
written once per session and only read by the tests (tests that damage files copy them first).
"""

from __future__ import annotations

import pytest

from emberxr.testing.public import write_datacube, write_ndws_tfrecord, write_wsts_hdf5, write_wsts_tree


@pytest.fixture(scope="session")
def wsts_tree(tmp_path_factory):
    """A WildfireSpreadTS GeoTIFF tree: 2 years × 2 fires × 4 days, 23 bands, 24×20 cells."""
    root = tmp_path_factory.mktemp("wsts") / "tif"
    write_wsts_tree(root, years=(2018, 2019), fires_per_year=2, days=4)
    return root


@pytest.fixture(scope="session")
def wsts_h5(wsts_tree, tmp_path_factory):
    """The HDF5 conversion of :func:`wsts_tree` (as the published CreateHDF5Dataset writes it)."""
    root = tmp_path_factory.mktemp("wsts-h5") / "h5"
    write_wsts_hdf5(wsts_tree, root)
    return root


@pytest.fixture(scope="session")
def ndws_root(tmp_path_factory):
    """NDWS TFRecord files: train (4 tiles), eval (3) and test (3), each tile with a -1 region."""
    root = tmp_path_factory.mktemp("ndws")
    for split, n, seed in (("train_00", 4, 1), ("eval_00", 3, 2), ("test_00", 3, 3)):
        write_ndws_tfrecord(root / f"next_day_wildfire_spread_{split}.tfrecord", n_tiles=n, seed=seed)
    return root


@pytest.fixture(scope="session")
def cube_path(tmp_path_factory):
    """A projected (EPSG:3035) zarr datacube of 10 days, 40×48 cells."""
    return write_datacube(tmp_path_factory.mktemp("cube") / "cube.zarr")


@pytest.fixture(scope="session")
def geo_cube_path(tmp_path_factory):
    """The same cube in EPSG:4326 with lat/lon dims, as Mesogeos."""
    return write_datacube(tmp_path_factory.mktemp("geocube") / "geo.zarr", geographic=True)
