"""What-if wind: a wind file overrides the future wind, is resampled to the model step, and a bad
one is a named error listing every problem."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from emberxr.errors import ConfigError, WindFileError
from emberxr.forecast import forecast, write_forecast
from emberxr.products.wind import future_wind, read_wind_file
from emberxr.schema import wind_uv_from_speed_dir


def _csv(tmp_path, text, name="wind.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_future_wind_is_the_events_then_held(scene):
    event, _, _ = scene
    u = event["wind_u"].values
    inside = future_wind(event, 2, 4)
    np.testing.assert_array_equal(inside.uv[:, 0], u[3:6])
    assert inside.source == "event" and inside.uv.shape == (3, 2)
    held = future_wind(event, 6, 4)  # frames 7 then beyond the event's end (8 frames)
    np.testing.assert_array_equal(held.uv[:, 0], [u[7], u[7], u[7]])
    assert held.source.startswith("event, last value held after")
    assert future_wind(event, 6, 1).uv.shape == (0, 2)


def test_wind_file_overrides_future_wind_and_is_recorded(make_grow, scene, tmp_path):
    event, stats, kw = scene
    # issue at frame 2 = 14:00; steps 2-4 read the wind at 15:00, 16:00, 17:00
    path = _csv(
        tmp_path,
        "time,speed,direction\n2026-07-01T15:00,12,90\n2026-07-01T16:00,14,100\n2026-07-01T17:00,16,110\n",
    )
    model_kw = {"t": 2, "horizon": 4, "threshold": 0.2, **kw}
    own = forecast(make_grow(wind_gain=3.0), stats, event, **model_kw)
    what_if = forecast(make_grow(wind_gain=3.0), stats, event, future_wind=str(path), **model_kw)
    u, v = wind_uv_from_speed_dir([12, 14, 16], [90, 100, 110])
    np.testing.assert_allclose(what_if["wind_u"].values[1:], u, rtol=1e-6)
    np.testing.assert_allclose(what_if["wind_v"].values[1:], v, atol=1e-5)
    assert what_if["wind_u"].values[0] == event["wind_u"].values[2]  # step 1: observed wind
    np.testing.assert_array_equal(what_if["probability"].values[0], own["probability"].values[0])
    # an easterly wind (u < 0) lowers this model's probabilities from step 2 on
    assert np.nansum(what_if["probability"].values[1:]) < np.nansum(own["probability"].values[1:])
    assert what_if.attrs["wind_source"].startswith("file wind.csv (sha256 ")
    assert "2026-07-01T15:00:00 12.00 m/s from 90 deg" in what_if.attrs["wind_future"]
    assert own.attrs["wind_source"] == "event"
    write_forecast(what_if, str(tmp_path / "f.tif"))
    with rasterio.open(tmp_path / "f.tif") as src:
        tags = src.tags()
    assert tags["wind_source"] == what_if.attrs["wind_source"] and "wind_future" in tags
    assert tags["issue_time"] == "2026-07-01T14:00:00"


def test_uv_file_is_held_and_averaged_to_the_model_step(scene, tmp_path):
    event, _, _ = scene
    # 3-hourly rows: held for steps between them
    three = read_wind_file(
        _csv(tmp_path, "time,u,v\n2026-07-01T14:00,1,0\n2026-07-01T17:00,4,0\n2026-07-01T20:00,7,0\n")
    )
    fw = future_wind(event, 2, 7, three)  # 15:00 ... 20:00
    np.testing.assert_array_equal(fw.uv[:, 0], [1, 1, 4, 4, 4, 7])
    # 20-minute rows: a step averages the rows of its hour (vector mean)
    rows = "".join(f"2026-07-01T{14 + m // 60}:{m % 60:02d},{m},1\n" for m in range(20, 200, 20))
    fine = read_wind_file(_csv(tmp_path, "time,u,v\n" + rows, "fine.csv"))
    fw = future_wind(event, 2, 3, fine)  # 15:00 averages 14:20, 14:40, 15:00; 16:00 the next three
    np.testing.assert_allclose(fw.uv[:, 0], [40, 100])
    np.testing.assert_allclose(fw.uv[:, 1], [1, 1])


def test_malformed_wind_files_list_every_problem(scene, tmp_path):
    event, _, _ = scene
    bad = _csv(
        tmp_path,
        "time,speed,direction\n2026-07-01T15:00,fast,90\n2026-07-01T14:30,5,90\n2026-07-01T16:00,5,north\n",
    )
    with pytest.raises(WindFileError) as err:
        future_wind(event, 2, 6, bad)  # needs 15:00 .. 19:00
    text = str(err.value)
    assert "wind file is not usable" in text
    assert "'speed'" in text and "'direction'" in text  # both non-numeric columns
    assert "not strictly increasing" in text
    assert "does not cover the forecast horizon" in text
    assert len(err.value.problems) == 4
    with pytest.raises(WindFileError, match="lacks column"):
        read_wind_file(_csv(tmp_path, "time,speed\n2026-07-01T15:00,3\n", "cols.csv"))
    with pytest.raises(WindFileError, match="not ISO 8601"):
        read_wind_file(_csv(tmp_path, "time,u,v\nyesterday,1,1\n", "time.csv"))
    with pytest.raises(WindFileError, match="does not exist"):
        read_wind_file(tmp_path / "missing.csv")
    late = _csv(tmp_path, "time,u,v\n2026-07-01T18:00,1,1\n2026-07-01T19:00,1,1\n", "late.csv")
    with pytest.raises(WindFileError, match="no wind at or before 2026-07-01T15:00:00"):
        future_wind(event, 2, 3, late)


def test_wind_for_a_one_step_forecast_or_a_short_array_is_refused(make_grow, scene, tmp_path):
    event, stats, kw = scene
    path = _csv(tmp_path, "time,u,v\n2026-07-01T15:00,1,1\n")
    with pytest.raises(ConfigError, match="one-step"):
        forecast(make_grow(), stats, event, t=2, horizon=1, future_wind=str(path), **kw)
    with pytest.raises(ConfigError, match="shape"):
        future_wind(event, 2, 4, np.ones((2, 2)))
    arr = future_wind(event, 2, 3, [[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]])
    np.testing.assert_array_equal(arr.uv, [[1, 2], [3, 4]])
    assert arr.source == "array"
