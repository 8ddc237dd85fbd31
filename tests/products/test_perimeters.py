"""Vector perimeters: GeoPackage / GeoJSON that read back with the event's CRS, every (step, level)
feature, areas equal to the raster's burned area, holes kept, isochrones; no CRS is refused."""

from __future__ import annotations

import itertools

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from pyogrio.raw import read

from emberxr.errors import NotGeoreferencedError, WriteError
from emberxr.forecast import forecast
from emberxr.products.perimeters import cell_area_m2, outline, write_perimeters

LEVELS = (0.1, 0.5, 0.9)


@pytest.fixture
def fc(make_grow, scene):
    event, stats, kw = scene
    return event, forecast(make_grow(), stats, event, t=3, horizon=3, threshold=0.2, **kw)


def _layer(path, layer=None):
    meta, _, wkb, values = read(path, layer=layer)
    cols = dict(zip(meta["fields"], values))
    return meta, [None if g is None else shapely.from_wkb(g) for g in wkb], cols


def test_geopackage_reads_back_with_crs_layers_attributes_and_areas(fc, tmp_path):
    event, ds = fc
    path = tmp_path / "perimeters.gpkg"
    assert write_perimeters(ds, path, levels=LEVELS) == [path]
    layers = pyogrio.list_layers(path)
    assert [tuple(x) for x in layers] == [("perimeters", "MultiPolygon"), ("isochrones", "MultiLineString")]
    meta, geoms, cols = _layer(path, "perimeters")
    assert rasterio.crs.CRS.from_user_input(meta["crs"]) == event.rio.crs
    assert list(cols) == ["issue_time", "valid_time", "step", "lead_hours", "level", "area_ha"]
    assert len(geoms) == 3 * len(LEVELS)
    np.testing.assert_array_equal(cols["step"], np.repeat([1, 2, 3], 3))
    np.testing.assert_array_equal(cols["level"], np.tile(LEVELS, 3))
    assert (cols["issue_time"] == np.datetime64("2026-07-01T15:00")).all()
    np.testing.assert_array_equal(
        cols["valid_time"], np.repeat(ds["time"].values.astype("datetime64[ms]"), 3)
    )
    prob = np.nan_to_num(ds["probability"].values)
    for i, (step, level) in enumerate(zip(cols["step"], cols["level"])):
        cells = int((prob[step - 1] >= level).sum())
        assert cols["area_ha"][i] == pytest.approx(cells * 30 * 30 / 1e4)  # the raster's burned area
        if cells:
            assert geoms[i].is_valid
            assert geoms[i].area / 1e4 == pytest.approx(cols["area_ha"][i], rel=0.15)  # simplified outline
    assert cols["area_ha"][2] <= cols["area_ha"][1] <= cols["area_ha"][0]  # higher level, smaller area
    # the outline lies on the grid: inside the event's bounds
    left, bottom, right, top = event.rio.bounds()
    assert shapely.box(left, bottom, right, top).contains(
        shapely.union_all([g for g in geoms if g is not None])
    )


def test_isochrones_outline_the_fire_reached_by_each_step(fc, tmp_path):
    event, ds = fc
    path = tmp_path / "p.gpkg"
    write_perimeters(ds, path)
    meta, lines, cols = _layer(path, "isochrones")
    assert meta["geometry_type"] == "MultiLineString"
    np.testing.assert_array_equal(cols["step"], [0, 1, 2, 3])
    np.testing.assert_array_equal(cols["arrival_hours"], [0.0, 1.0, 2.0, 3.0])
    assert cols["valid_time"][0] == cols["issue_time"][0]
    # the step-0 isochrone is the perimeter burning at the issue time
    burning = outline(event["fire"].values[3] > 0, event.rio.transform(), 30.0)
    assert lines[0].hausdorff_distance(burning.boundary) < 1.0
    assert all(a.length < b.length for a, b in itertools.pairwise(lines))  # a growing fire


def test_geojson_writes_perimeters_and_a_sibling_isochrone_file(fc, tmp_path):
    event, ds = fc
    paths = write_perimeters(ds, tmp_path / "fire.geojson", levels=(0.5,))
    assert [p.name for p in paths] == ["fire.geojson", "fire_isochrones.geojson"]
    info = pyogrio.read_info(paths[0])
    assert info["features"] == 3 and info["geometry_type"] == "MultiPolygon" and info["layer_name"] == "fire"
    assert rasterio.crs.CRS.from_user_input(info["crs"]) == event.rio.crs
    assert pyogrio.read_info(paths[1])["geometry_type"] == "MultiLineString"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fire.geojson", "fire_isochrones.geojson"]


def test_outline_keeps_holes_and_separate_parts():
    mask = np.zeros((20, 20), bool)
    mask[2:12, 2:12] = True
    mask[5:9, 5:9] = False  # an unburned island
    mask[15:18, 15:18] = True  # a spot fire
    geom = outline(mask, Affine(10, 0, 0, 0, -10, 200), 10.0)
    assert geom.geom_type == "MultiPolygon" and len(geom.geoms) == 2
    big = max(geom.geoms, key=lambda g: g.area)
    assert len(big.interiors) == 1
    assert big.area == pytest.approx((100 - 16) * 100, rel=0.05)
    assert outline(np.zeros((4, 4), bool), Affine.identity(), 1.0) is None


def test_cell_areas_in_geographic_coordinates_are_on_the_sphere(scene):
    event, _, _ = scene
    geo = event.assign_coords(x=np.arange(64) * 0.01 + 10.005, y=0.475 - np.arange(48) * 0.01).rio.write_crs(
        "EPSG:4326"
    )
    area = cell_area_m2(geo)
    km = 2 * np.pi * 6371.0088 / 360 * 0.01  # one hundredth of a degree at the equator, in km
    assert area[-1, 0] / 1e6 == pytest.approx(km * km, rel=1e-3)
    assert area[0, 0] < area[-1, 0]  # rows further from the equator are smaller
    np.testing.assert_allclose(cell_area_m2(event), 900.0)


def test_events_without_a_crs_and_unknown_formats_are_refused(fc, tmp_path):
    _, ds = fc
    with pytest.raises(WriteError, match=r"\.gpkg"):
        write_perimeters(ds, tmp_path / "fire.shp")
    no_crs = ds.drop_vars("spatial_ref")
    assert no_crs.rio.crs is None
    with pytest.raises(NotGeoreferencedError, match="no CRS"):
        write_perimeters(no_crs, tmp_path / "fire.gpkg")
    assert not list(tmp_path.iterdir())
