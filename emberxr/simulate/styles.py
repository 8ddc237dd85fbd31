"""Landscape styles of the wide generator: rangeland, shrubland, timber, mixed and WUI.

A styled landscape is a :class:`~emberxr.simulate.landscape.Landscape` built from a parameter
dictionary with a ``style`` key (:func:`draw_styled_landscape_params`); ``build_landscape`` sends
such dictionaries here. The terrain is fractal (as in sim-small, with a style-dependent relief) or
a window of a real DEM (:mod:`emberxr.simulate.dem`); the fuel follows the terrain as in sim-small
(grass low and sun-facing, timber high and shaded, shrub between) with the group shares and
fuel models of the style:

==========  ===============  ==================  =================  ===============
style       grass share      timber share        relief (fractal)   breaks
==========  ===============  ==================  =================  ===============
rangeland   0.60-0.90        0.00-0.05           20-400 m           0-2 roads
shrubland   0.05-0.25        0.00-0.10           100-1200 m         0-2 roads
timber      0.03-0.12        0.65-0.90           300-1500 m         0-2 roads
mixed       0.20-0.45        0.20-0.40           100-1000 m         0-2 roads
wui         0.20-0.45        0.10-0.30           50-600 m           2-4 wide roads, river, developed
==========  ===============  ==================  =================  ===============

Roads outside WUI are 1-cell lines with gaps (as in sim-small); WUI roads are continuous,
2 cells wide and 4-connected, so a level-set front cannot slip through diagonally; a river
(NB8 open water, 2-4 cells) follows the valley floor across the domain (in 80 % of WUI and
20 % of other landscapes); developed land (NB1) covers 8-30 % of a WUI domain in clusters on
gentle ground.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emberxr.simulate.landscape import (
    NONBURNABLE,
    ROAD,
    ROCK,
    WATER,
    Landscape,
    _roads,
    box_smooth,
    landscape_with_canopy,
    slope_aspect,
    spectral_noise,
)

STYLES = ("rangeland", "shrubland", "timber", "mixed", "wui")
STYLE_WEIGHTS = {"rangeland": 0.22, "shrubland": 0.2, "timber": 0.2, "mixed": 0.22, "wui": 0.16}

#: Scott & Burgan models per fuel group and style (grass, shrub, timber)
STYLE_FUELS: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {
    "rangeland": ((101, 102, 103, 104, 121), (122, 141, 142), (161, 165)),
    "shrubland": ((102, 121), (122, 142, 145, 147), (161, 165)),
    "timber": ((101, 102), (122, 142), (161, 162, 165, 183, 186, 188)),
    "mixed": ((101, 102, 121), (122, 141, 142), (161, 165, 183, 188)),
    "wui": ((101, 102, 121), (122, 142, 145), (161, 165, 183)),
}
#: per style: grass share, timber share, relief (m) ranges
_SHARES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "rangeland": ((0.6, 0.9), (0.0, 0.05), (20.0, 400.0)),
    "shrubland": ((0.05, 0.25), (0.0, 0.1), (100.0, 1200.0)),
    "timber": ((0.03, 0.12), (0.65, 0.9), (300.0, 1500.0)),
    "mixed": ((0.2, 0.45), (0.2, 0.4), (100.0, 1000.0)),
    "wui": ((0.2, 0.45), (0.1, 0.3), (50.0, 600.0)),
}
DEVELOPED = ROAD  # NB1: urban / developed land, the same model number as roads


def draw_styled_landscape_params(
    rng: np.random.Generator,
    size: int,
    *,
    style: str,
    terrain: dict[str, Any],
    cell_size: float = 30.0,
) -> dict[str, Any]:
    """Draw every parameter of a styled landscape (plain JSON types).

    Parameters
    ----------
    style
        One of :data:`STYLES`.
    terrain
        ``{"kind": "fractal"}`` or ``{"kind": "real", **window}`` with a window from
        :func:`emberxr.simulate.dem.draw_dem_window`.
    """
    if style not in STYLES:
        raise ValueError(f"unknown landscape style {style!r}; use one of {', '.join(STYLES)}")
    (g_lo, g_hi), (t_lo, t_hi), (r_lo, r_hi) = _SHARES[style]
    wui = style == "wui"
    p: dict[str, Any] = {
        "size": int(size),
        "cell_size": float(cell_size),
        "style": style,
        "terrain": dict(terrain),
        "field_seed": int(rng.integers(0, 2**31 - 1)),
        "beta": float(rng.uniform(3.2, 3.8)),
        "ridge_weight": float(rng.uniform(0.2, 0.6)),
        "relief_m": float(rng.uniform(r_lo, r_hi)),
        "base_elevation_m": float(rng.uniform(200.0, 1500.0)),
        "grass_share": float(rng.uniform(g_lo, g_hi)),
        "timber_share": float(rng.uniform(t_lo, t_hi)),
        "patchiness": float(rng.uniform(0.2, 0.45)),
        "water_share": float(rng.choice([0.0, rng.uniform(0.005, 0.04)])),
        "rock_share": float(rng.uniform(0.0, 0.03)),
        "n_roads": int(rng.integers(2, 5)) if wui else int(rng.integers(0, 3)),
        "river": bool(rng.uniform() < (0.8 if wui else 0.2)),
        "river_width": int(rng.integers(2, 5)),
        "developed_share": float(rng.uniform(0.08, 0.3)) if wui else 0.0,
        "canopy_cover": float(rng.uniform(0.4, 0.9)),
        "canopy_height_m": float(rng.uniform(8.0, 35.0)),
        "canopy_base_height_m": float(rng.uniform(0.5, 6.0)),
        "canopy_bulk_density": float(rng.uniform(0.05, 0.3)),
    }
    return p


def _elevation(p: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    n = int(p["size"])
    if p["terrain"]["kind"] == "real":
        from emberxr.simulate.dem import dem_window

        z, _x0, _y0, _crs = dem_window(p["terrain"], n, float(p["cell_size"]))
        return z
    base = spectral_noise(rng, (n, n), p["beta"])
    ridged = 1.0 - np.abs(2.0 * spectral_noise(rng, (n, n), p["beta"]) - 1.0)
    z = (1.0 - p["ridge_weight"]) * base + p["ridge_weight"] * ridged
    z = (z - z.min()) / max(z.max() - z.min(), 1e-12)
    return p["base_elevation_m"] + p["relief_m"] * z


def _thick_line(mask: np.ndarray, across: np.ndarray, width: int, horizontal: bool) -> None:
    """Mark a 4-connected line of ``width`` cells whose cross position at each step is ``across``."""
    n_across = mask.shape[0] if horizontal else mask.shape[1]
    prev = None
    for j, a in enumerate(across):
        lo, hi = int(a), int(a)
        if prev is not None:  # fill the step from the previous position: no diagonal gaps
            lo, hi = min(lo, prev), max(hi, prev)
        rows = np.arange(max(lo - (width - 1) // 2, 0), min(hi + width // 2 + 1, n_across))
        if horizontal:
            mask[rows, j] = True
        else:
            mask[j, rows] = True
        prev = int(a)


def wide_roads(rng: np.random.Generator, n: int, count: int, width: int = 2) -> np.ndarray:
    """Continuous roads of ``width`` cells crossing the domain (alternating orientation)."""
    mask = np.zeros((n, n), bool)
    first = bool(rng.integers(0, 2))
    for i in range(count):
        horizontal = first if i % 2 == 0 else not first
        start = rng.uniform(0.1, 0.9) * n
        drift = rng.uniform(-0.25, 0.25)
        along = np.arange(n)
        across = np.clip(np.round(start + drift * (along - n / 2)), 0, n - 1).astype(int)
        _thick_line(mask, across, width, horizontal)
    return mask


def river(rng: np.random.Generator, elevation: np.ndarray, width: int) -> np.ndarray:
    """A river crossing the domain along the valley floor: from a random point on one edge, each
    step moves towards the lowest ground within 3 cells across, with some meander."""
    n = elevation.shape[0]
    horizontal = bool(rng.integers(0, 2))
    smooth = box_smooth(elevation, 3)
    if not horizontal:
        smooth = smooth.T
    pos = rng.uniform(0.2, 0.8) * n
    across = np.zeros(n, int)
    for j in range(n):
        i = round(pos)
        lo, hi = max(i - 3, 0), min(i + 4, n)
        target = lo + int(np.argmin(smooth[lo:hi, j]))
        pos = float(np.clip(pos + 0.7 * np.clip(target - pos, -1.0, 1.0) + rng.normal(0.0, 0.4), 1, n - 2))
        across[j] = round(pos)
    mask = np.zeros((n, n), bool)
    _thick_line(mask, across, width, horizontal)
    return mask


def build_styled_landscape(params: dict[str, Any]) -> Landscape:
    """Build the styled landscape a parameter dictionary describes (deterministic)."""
    p = params
    n = int(p["size"])
    cell = float(p["cell_size"])
    rng = np.random.default_rng(p["field_seed"])
    elevation = _elevation(p, rng)
    slope, aspect = slope_aspect(elevation, cell)

    e = (elevation - elevation.min()) / max(float(np.ptp(elevation)), 1e-9)
    smooth_slope, smooth_aspect = slope_aspect(box_smooth(elevation, 3), cell)
    northness = np.cos(np.deg2rad(smooth_aspect)) * np.clip(smooth_slope / 15.0, 0.0, 1.0)
    patches = spectral_noise(rng, (n, n), 3.2)
    score = 0.6 * e + 0.25 * northness + p["patchiness"] * (patches - 0.5) * 2.0
    q_grass, q_timber = np.quantile(score, [p["grass_share"], 1.0 - p["timber_share"]])
    cls = np.where(score <= q_grass, 0, np.where(score >= q_timber, 2, 1))
    variant = spectral_noise(rng, (n, n), 3.4)
    fuel = np.zeros((n, n), np.float64)
    for k, models in enumerate(STYLE_FUELS[p["style"]]):
        edges = np.quantile(variant, np.linspace(0, 1, len(models) + 1)[1:-1])
        pick = np.asarray(models)[np.searchsorted(edges, variant)]
        fuel = np.where(cls == k, pick, fuel)
    timber = cls == 2

    if p["developed_share"] > 0:  # clusters of developed land, on gentle ground
        town = spectral_noise(rng, (n, n), 2.8) - 0.3 * np.clip(smooth_slope / 20.0, 0.0, 1.0)
        fuel[town >= np.quantile(town, 1.0 - p["developed_share"])] = DEVELOPED
    if p["water_share"] > 0:
        fuel[elevation <= np.quantile(elevation, p["water_share"])] = WATER
    if p["rock_share"] > 0:
        rocky = e + 0.5 * np.clip(slope / 45.0, 0, 1)
        fuel[rocky >= np.quantile(rocky, 1.0 - p["rock_share"])] = ROCK
    if p["river"]:
        fuel[river(rng, elevation, int(p["river_width"]))] = WATER
    if p["style"] == "wui":
        fuel[wide_roads(rng, n, int(p["n_roads"]))] = ROAD
    else:
        fuel[_roads(rng, n, int(p["n_roads"]))] = ROAD
    timber &= ~np.isin(fuel, NONBURNABLE)

    return landscape_with_canopy(rng, p, elevation, slope, aspect, fuel, timber, cell)
