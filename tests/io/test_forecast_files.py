"""Forecast files a GIS analyst opens: gray bands, nodata everywhere, overviews that keep values."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F
from rasterio.enums import ColorInterp

from emberxr.forecast import MASK_NODATA, forecast, to_dataarray, write_forecast
from emberxr.models.base import last_frame
from emberxr.normalize import compute_stats

STEPS = 4
LABELS = ("t+1h", "t+2h", "t+3h", "t+4h")


class Spread(torch.nn.Module):
    """The fire grows by one cell per step: confident logits around the last frame."""

    def forward(self, batch):
        grown = F.max_pool2d(last_frame(batch), 3, stride=1, padding=1)
        return 8.0 * (2.0 * grown - 1.0)


@pytest.fixture
def scene(make_synthetic_event):
    """A 300x320 event (one overview level) with a 24-cell invalid border, forecast 4 steps."""
    event = make_synthetic_event(height=300, width=320, steps=8, invalid_border=24)
    ds = forecast(
        Spread(),
        compute_stats([event]),
        event,
        t=3,
        horizon=STEPS,
        threshold=0.5,
        max_history=1,
        patch_size=16,
    )
    return event, ds


def test_cog_forecast_files_have_nodata_gray_bands_and_value_keeping_overviews(scene, tmp_path, tiff_tag):
    event, ds = scene
    outside = ~event.valid.values
    paths = {v: tmp_path / f"{v}.tif" for v in ("probability", "fire_mask", "arrival_time")}
    for variable, path in paths.items():
        write_forecast(ds, str(path), cog=True, variable=variable)
        assert tiff_tag(path, 262) == [1]  # MINISBLACK
        with rasterio.open(path) as src:
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.overviews(1) == [2]
            assert src.colorinterp == (ColorInterp.gray,) + (ColorInterp.undefined,) * (src.count - 1)
    # the 4-band mask: no alpha band, 255 outside the footprint, 0/1 inside
    assert tiff_tag(paths["fire_mask"], 338) == [0, 0, 0]
    with rasterio.open(paths["fire_mask"]) as src:
        assert src.nodata == MASK_NODATA and src.dtypes[0] == "uint8"
        assert src.descriptions == LABELS
        mask = src.read()
        np.testing.assert_array_equal(mask[:, outside], MASK_NODATA)
        np.testing.assert_array_equal(mask[:, ~outside], ds["fire_mask"].values[:, ~outside])
        assert set(np.unique(mask[:, ~outside])) == {0, 1}
    with rasterio.open(paths["fire_mask"], overview_level=0) as src:
        assert set(np.unique(src.read())) == {0, 1, MASK_NODATA}
    # probability: NaN nodata, averaged overviews within the data's range (cubic overshoots)
    prob = ds["probability"].values
    with rasterio.open(paths["probability"]) as src:
        assert np.isnan(src.nodata) and src.descriptions == LABELS
        np.testing.assert_array_equal(np.isnan(src.read()), np.broadcast_to(outside, prob.shape))
    with rasterio.open(paths["probability"], overview_level=0) as src:
        ov = src.read()
    assert np.isfinite(ov).mean() > 0.8
    assert np.nanmin(prob) - 1e-7 <= np.nanmin(ov) and np.nanmax(ov) <= np.nanmax(prob) + 1e-7
    assert len(np.unique(ov[np.isfinite(ov)])) > len(np.unique(prob[np.isfinite(prob)]))  # averaged
    # arrival time: NaN nodata, nearest overviews keep the hour values (cubic gave only NaN)
    arrival = ds["arrival_time"].values
    assert set(np.unique(arrival[np.isfinite(arrival)])) == {0.0, 1.0, 2.0, 3.0, 4.0}
    with rasterio.open(paths["arrival_time"]) as src:
        assert np.isnan(src.nodata) and src.descriptions == ("arrival_time",)
        np.testing.assert_array_equal(src.read(1), arrival)
    with rasterio.open(paths["arrival_time"], overview_level=0) as src:
        ov = src.read(1)
    assert set(np.unique(ov[np.isfinite(ov)])) == {0.0, 1.0, 2.0, 3.0, 4.0}


@pytest.mark.parametrize("horizon", [1, STEPS])
def test_predict_dataarray_to_raster_keeps_band_names_and_nodata(scene, tmp_path, horizon):
    """``Fitted.predict(...)`` returns ``to_dataarray(forecast)``; rioxarray writes it like predict does."""
    _, ds = scene
    da = to_dataarray(ds.isel(step=slice(0, horizon)))
    assert da.dims == (("y", "x") if horizon == 1 else ("step", "y", "x"))
    direct, ours = tmp_path / "direct.tif", tmp_path / "ours.tif"
    da.rio.to_raster(direct)
    write_forecast(ds.isel(step=slice(0, horizon)), str(ours))
    for path in (direct, ours):
        with rasterio.open(path) as src:
            assert src.descriptions == LABELS[:horizon]
            assert src.nodata is not None and np.isnan(src.nodata)
            assert np.isnan(src.read(1)[~np.isfinite(da.values if horizon == 1 else da.values[0])]).all()


def test_unknown_forecast_variable_is_a_named_error(scene, tmp_path):
    from emberxr.errors import WriteError

    with pytest.raises(WriteError, match=r"'wind'.*probability, fire_mask, arrival_time"):
        write_forecast(scene[1], str(tmp_path / "w.tif"), variable="wind")
