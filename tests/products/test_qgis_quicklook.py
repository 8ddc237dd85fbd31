"""Ready to open: QGIS style sidecars with the structure QGIS reads, and the quick-look PNG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from emberxr.errors import ConfigError
from emberxr.forecast import forecast
from emberxr.products.qgis import style_xml, write_style
from emberxr.products.quicklook import elevation_band, quicklook


def _renderer(text):
    assert text.startswith("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n")
    root = ET.fromstring(text.split("\n", 1)[1])
    assert root.tag == "qgis" and root.get("version", "").startswith("3.")
    pipe = root.find("pipe")
    assert pipe is not None and [c.tag for c in pipe][-4:] == [
        "rasterrenderer",
        "brightnesscontrast",
        "huesaturation",
        "rasterresampler",
    ]
    r = pipe.find("rasterrenderer")
    assert r.get("band") == "1" and r.get("opacity") == "1" and r.get("alphaBand") == "-1"
    assert root.find("blendMode").text == "0"
    return r


def _items(r):
    shader = r.find("rastershader/colorrampshader")
    items = shader.findall("item")
    values = [float(i.get("value")) for i in items]
    assert values == sorted(values) and len(values) == len(set(values))
    assert float(shader.get("minimumValue")) == values[0] and float(shader.get("maximumValue")) == values[-1]
    for i in items:
        assert i.get("color").startswith("#") and len(i.get("color")) == 7 and 0 <= int(i.get("alpha")) <= 255
    return shader, items, values


def test_probability_style_is_an_interpolated_ramp_over_0_to_1_with_0_transparent():
    r = _renderer(style_xml("probability"))
    assert r.get("type") == "singlebandpseudocolor"
    shader, items, values = _items(r)
    assert shader.get("colorRampType") == "INTERPOLATED" and values[0] == 0.0 and values[-1] == 1.0
    assert items[0].get("alpha") == "0" and items[-1].get("alpha") == "255"


def test_mask_style_is_a_palette_with_unburned_transparent():
    r = _renderer(style_xml("mask"))
    assert r.get("type") == "paletted"
    entries = r.findall("colorPalette/paletteEntry")
    assert [(e.get("value"), e.get("alpha"), e.get("label")) for e in entries] == [
        ("0", "0", "not burned"),
        ("1", "255", "burned"),
    ]


def test_arrival_style_has_one_discrete_class_per_step():
    r = _renderer(style_xml("arrival", step_hours=3.0, max_hours=12.0))
    shader, items, values = _items(r)
    assert shader.get("colorRampType") == "DISCRETE"
    assert values == [0.0, 3.0, 6.0, 9.0, 12.0]
    assert items[1].get("label") == "≤ 3 h"
    _items(_renderer(style_xml("spread", max_hours=4.0)))
    with pytest.raises(ConfigError):
        style_xml("contours")
    with pytest.raises(ConfigError):
        style_xml("arrival", step_hours=0)


def test_write_style_puts_the_sidecar_next_to_the_raster(tmp_path):
    path = write_style(tmp_path / "forecast.tif", "probability")
    assert path == tmp_path / "forecast.qml"
    ET.fromstring(path.read_text(encoding="utf-8").split("\n", 1)[1])


def test_quicklook_renders_with_and_without_elevation(make_grow, scene, tmp_path):
    event, stats, kw = scene
    ds = forecast(make_grow(), stats, event, t=3, horizon=3, threshold=0.2, **kw)
    assert elevation_band(event) is not None
    out = quicklook(ds, event, tmp_path / "q.png")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (675, 585)
        pixels = np.asarray(im.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100  # a shaded map, not a blank page
    assert out.stat().st_size < 300_000
    flat = event.drop_sel(band=["elevation"])
    ens = forecast(make_grow(), stats, event, t=3, horizon=2, members=3, **kw)
    assert elevation_band(flat) is None
    with Image.open(quicklook(ens, flat, tmp_path / "e.png", level=0.3)) as im:
        assert im.format == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.png", "q.png"]
