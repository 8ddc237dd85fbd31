"""QGIS style sidecars (``.qml``) for forecast rasters, so they open styled.

QGIS loads ``NAME.qml`` automatically when a layer ``NAME.tif`` is added (*Layer → Add Raster
Layer*, or drag and drop). ``emberxr predict`` writes one next to each raster it writes (opt out
with ``--no-style``):

``probability``
    single-band pseudocolour on band 1 (``t+1h``; pick another band under *Symbology*), a
    yellow-to-dark-red ramp interpolated over fixed probabilities 0 … 1 with 0 transparent, so the
    unburned landscape shows through;
``mask``
    paletted: 0 transparent ("not burned"), 1 red ("burned"); the file's nodata (255) is not drawn;
``arrival``
    single-band pseudocolour in discrete classes of one forecast step each (``0 h`` = burning at
    the issue time, ``≤ 1 h``, ``≤ 2 h`` …), dark red (soonest) to pale yellow (latest);
``spread``
    the ensemble arrival-time standard deviation, interpolated 0 … ``max_hours`` (white to
    purple).

The files follow the QGIS style format (``<!DOCTYPE qgis ...>``, ``<qgis>`` with a ``<pipe>``
holding one ``<rasterrenderer>``) that QGIS 3 writes with *Style → Save Style*.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from emberxr.errors import ConfigError, Problem

__all__ = ["KINDS", "style_xml", "write_style"]

KINDS = ("probability", "mask", "arrival", "spread")
QGIS_VERSION = "3.34.0-Prizren"
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"

_PROBABILITY_RAMP = (
    (0.0, "#ffffb2", 0, "0"),
    (0.1, "#fed976", 255, "0.1"),
    (0.3, "#feb24c", 255, "0.3"),
    (0.5, "#fd8d3c", 255, "0.5"),
    (0.7, "#f03b20", 255, "0.7"),
    (0.9, "#bd0026", 255, "0.9"),
    (1.0, "#800026", 255, "1"),
)
_ARRIVAL_COLOURS = ("#800026", "#bd0026", "#e31a1c", "#fc4e2a", "#fd8d3c", "#feb24c", "#fed976", "#ffffb2")


def _colour(colours: Sequence[str], i: int, n: int) -> str:
    return colours[round(i * (len(colours) - 1) / max(n - 1, 1))]


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _pseudocolor(
    pipe: ET.Element, lo: float, hi: float, ramp_type: str, items: list[tuple[float, str, int, str]]
) -> None:
    r = ET.SubElement(
        pipe,
        "rasterrenderer",
        type="singlebandpseudocolor",
        band="1",
        opacity="1",
        alphaBand="-1",
        nodataColor="",
        classificationMin=_fmt(lo),
        classificationMax=_fmt(hi),
    )
    ET.SubElement(r, "rasterTransparency")
    mm = ET.SubElement(r, "minMaxOrigin")
    for tag, text in (
        ("limits", "None"),
        ("extent", "WholeRaster"),
        ("statAccuracy", "Estimated"),
        ("cumulativeCutLower", "0.02"),
        ("cumulativeCutUpper", "0.98"),
        ("stdDevFactor", "2"),
    ):
        ET.SubElement(mm, tag).text = text
    shader = ET.SubElement(ET.SubElement(r, "rastershader"), "colorrampshader")
    shader.attrib.update(
        colorRampType=ramp_type,
        classificationMode="1" if ramp_type == "INTERPOLATED" else "2",
        clip="0",
        minimumValue=_fmt(lo),
        maximumValue=_fmt(hi),
        labelPrecision="2",
    )
    for value, colour, alpha, label in items:
        ET.SubElement(shader, "item", value=repr(float(value)), color=colour, alpha=str(alpha), label=label)


def _paletted(pipe: ET.Element, entries: list[tuple[int, str, int, str]]) -> None:
    r = ET.SubElement(
        pipe, "rasterrenderer", type="paletted", band="1", opacity="1", alphaBand="-1", nodataColor=""
    )
    ET.SubElement(r, "rasterTransparency")
    mm = ET.SubElement(r, "minMaxOrigin")
    ET.SubElement(mm, "limits").text = "None"
    ET.SubElement(mm, "extent").text = "WholeRaster"
    palette = ET.SubElement(r, "colorPalette")
    for value, colour, alpha, label in entries:
        ET.SubElement(palette, "paletteEntry", value=str(value), color=colour, alpha=str(alpha), label=label)


def style_xml(kind: str, *, step_hours: float = 1.0, max_hours: float | None = None) -> str:
    """The ``.qml`` text of a style (see the module docstring).

    Parameters
    ----------
    kind
        ``probability``, ``mask``, ``arrival`` or ``spread``.
    step_hours, max_hours
        For ``arrival``: the class width (the forecast's time step) and the last class (the
        horizon in hours); for ``spread``: the top of the ramp (default ``step_hours``).

    Raises
    ------
    ConfigError
        Unknown kind, or non-positive hours.
    """
    problems = []
    if kind not in KINDS:
        problems.append(Problem(f"style kind {kind!r}", f"use one of {', '.join(KINDS)}"))
    if not step_hours > 0 or (max_hours is not None and not max_hours >= 0):
        problems.append(Problem(f"step_hours={step_hours}, max_hours={max_hours}", "use hours > 0"))
    if problems:
        raise ConfigError(problems, subject="QGIS style")
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="Symbology")
    pipe = ET.SubElement(root, "pipe")
    provider = ET.SubElement(pipe, "provider")
    ET.SubElement(
        provider,
        "resampling",
        enabled="false",
        maxOversampling="2",
        zoomedInResamplingMethod="nearestNeighbour",
        zoomedOutResamplingMethod="nearestNeighbour",
    )
    if kind == "probability":
        _pseudocolor(pipe, 0.0, 1.0, "INTERPOLATED", list(_PROBABILITY_RAMP))
    elif kind == "mask":
        _paletted(pipe, [(0, "#ffffff", 0, "not burned"), (1, "#d7191c", 255, "burned")])
    elif kind == "arrival":
        top = max(float(max_hours if max_hours is not None else step_hours), step_hours)
        n = round(top / step_hours)
        items = [(0.0, _colour(_ARRIVAL_COLOURS, 0, n + 1), 255, "0 h (burning at issue)")]
        for k in range(1, n + 1):
            hours = k * step_hours
            items.append((hours, _colour(_ARRIVAL_COLOURS, k, n + 1), 255, f"≤ {_fmt(hours)} h"))
        _pseudocolor(pipe, 0.0, top, "DISCRETE", items)
    else:
        top = float(max_hours) if max_hours else float(step_hours)
        items = [
            (0.0, "#ffffff", 0, "0 h"),
            (top / 2, "#9e9ac8", 255, f"{_fmt(top / 2)} h"),
            (top, "#54278f", 255, f"{_fmt(top)} h"),
        ]
        _pseudocolor(pipe, 0.0, top, "INTERPOLATED", items)
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(
        pipe,
        "huesaturation",
        saturation="0",
        grayscaleMode="0",
        invertColors="0",
        colorizeOn="0",
        colorizeRed="255",
        colorizeGreen="128",
        colorizeBlue="128",
        colorizeStrength="100",
    )
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    ET.SubElement(root, "blendMode").text = "0"
    ET.indent(root, space="  ")
    return f"{_DOCTYPE}\n{ET.tostring(root, encoding='unicode')}\n"


def write_style(
    raster: str | os.PathLike, kind: str, *, step_hours: float = 1.0, max_hours: float | None = None
) -> Path:
    """Write ``<raster without extension>.qml`` (atomic) with the style :func:`style_xml` makes;
    returns its path."""
    from emberxr.atomic import atomic_path

    text = style_xml(kind, step_hours=step_hours, max_hours=max_hours)
    path = Path(raster).with_suffix(".qml")
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
