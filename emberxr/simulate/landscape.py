"""Procedural and real-DEM landscapes for the fire simulator (numpy only).

Every array is **north-up** (row 0 is the northern edge), on square cells of ``cell_size`` metres.
A landscape is fully determined by its parameter dictionary (see :func:`draw_landscape_params`),
so :func:`build_landscape` regenerates it bit for bit.

Fuel models are Scott & Burgan (2005) 40-model numbers as pyretechnics uses them:

- grass (low, sun-facing): GR1 101, GR2 102, GS1 121
- shrub (in between): GS2 122, SH1 141, SH2 142
- timber (high, shaded), with canopy layers: TU1 161, TU5 165, TL3 183, TL8 188
- non-burnable breaks: NB1 91 (roads, developed), NB8 98 (open water), NB9 99 (bare rock)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

GRASS = (101, 102, 121)
SHRUB = (122, 141, 142)
TIMBER = (161, 165, 183, 188)
ROAD, WATER, ROCK = 91, 98, 99
NONBURNABLE = (91, 92, 93, 98, 99)

#: static bands in the order they are stored, with their FireEvent kinds and units
STATIC_BANDS: dict[str, tuple[str, str]] = {
    "elevation": ("continuous", "m"),
    "slope": ("continuous", "degrees"),
    "aspect": ("continuous", "degrees clockwise from north (downslope direction)"),
    "fuel_model": ("categorical", "Scott & Burgan 40 fuel model number"),
    "canopy_cover": ("continuous", "fraction 0-1"),
    "canopy_height": ("continuous", "m"),
    "canopy_base_height": ("continuous", "m"),
    "canopy_bulk_density": ("continuous", "kg m-3"),
}

DEM_MODES = ("fractal", "jacksboro")
JACKSBORO_CELL_M = 90.0  # 3 arc-second DEM, ~90 m cells; resampled to the simulation grid


@dataclass
class Landscape:
    """North-up rasters of one simulation domain.

    Attributes
    ----------
    elevation, slope_deg, aspect_deg, fuel_model, canopy_cover, canopy_height, canopy_base_height,
    canopy_bulk_density
        (H, W) float32 arrays (``fuel_model`` holds integer model numbers as floats).
    cell_size
        Cell edge in metres.
    """

    elevation: np.ndarray
    slope_deg: np.ndarray
    aspect_deg: np.ndarray
    fuel_model: np.ndarray
    canopy_cover: np.ndarray
    canopy_height: np.ndarray
    canopy_base_height: np.ndarray
    canopy_bulk_density: np.ndarray
    cell_size: float

    @property
    def shape(self) -> tuple[int, int]:
        """Grid shape ``(rows, cols)``."""
        return tuple(self.elevation.shape)  # type: ignore[return-value]

    @property
    def burnable(self) -> np.ndarray:
        """Boolean mask of cells with a burnable fuel model."""
        return ~np.isin(self.fuel_model, NONBURNABLE)

    def static_bands(self) -> dict[str, np.ndarray]:
        """The static bands in :data:`STATIC_BANDS` order."""
        return {
            "elevation": self.elevation,
            "slope": self.slope_deg,
            "aspect": self.aspect_deg,
            "fuel_model": self.fuel_model,
            "canopy_cover": self.canopy_cover,
            "canopy_height": self.canopy_height,
            "canopy_base_height": self.canopy_base_height,
            "canopy_bulk_density": self.canopy_bulk_density,
        }


# -- random fields ------------------------------------------------------------------------------
def spectral_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> np.ndarray:
    """Fractal (1/f^beta power spectrum) noise scaled to [0, 1].

    The field is synthesised on a grid twice as large and cropped, so it does not wrap around.
    """
    h, w = shape
    big = (2 * h, 2 * w)
    white = rng.standard_normal(big)
    fy = np.fft.fftfreq(big[0])[:, None]
    fx = np.fft.rfftfreq(big[1])[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spectrum = np.fft.rfft2(white) / f ** (beta / 2.0)
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=big)[h // 2 : h // 2 + h, w // 2 : w // 2 + w]
    lo, hi = field.min(), field.max()
    return (field - lo) / max(hi - lo, 1e-12)


def box_smooth(a: np.ndarray, radius: int, passes: int = 2) -> np.ndarray:
    """Repeated (2 radius + 1)² box-filter mean with edge padding (≈ Gaussian for 2+ passes)."""
    out = np.asarray(a, dtype=np.float64)
    k = 2 * radius + 1
    for _ in range(passes):
        for axis in (0, 1):
            pad = [(0, 0), (0, 0)]
            pad[axis] = (radius + 1, radius)
            c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis)
            hi = np.take(c, np.arange(k, c.shape[axis]), axis=axis)
            lo = np.take(c, np.arange(0, c.shape[axis] - k), axis=axis)
            out = (hi - lo) / k
    return out


def slope_aspect(elevation: np.ndarray, cell_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Slope (degrees) and aspect (downslope azimuth, degrees clockwise from north) of a
    north-up DEM. Flat cells get aspect 0."""
    d_row, d_col = np.gradient(elevation.astype(np.float64), cell_size)
    dz_east = d_col
    dz_north = -d_row  # row index grows southwards
    grad = np.hypot(dz_east, dz_north)
    slope = np.rad2deg(np.arctan(grad))
    aspect = (np.rad2deg(np.arctan2(-dz_east, -dz_north)) + 360.0) % 360.0
    aspect = np.where(grad > 1e-9, aspect, 0.0)
    return slope.astype(np.float32), aspect.astype(np.float32)


def _resize_bilinear(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling of a 2-D array to ``shape`` (cell centres aligned)."""
    h, w = a.shape
    ys = (np.arange(shape[0]) + 0.5) * h / shape[0] - 0.5
    xs = (np.arange(shape[1]) + 0.5) * w / shape[1] - 0.5
    ys = np.clip(ys, 0, h - 1)
    xs = np.clip(xs, 0, w - 1)
    y0 = np.minimum(np.floor(ys).astype(int), h - 2)
    x0 = np.minimum(np.floor(xs).astype(int), w - 2)
    wy = (ys - y0)[:, None]
    wx = (xs - x0)[None, :]
    a = a.astype(np.float64)
    top = a[y0][:, x0] * (1 - wx) + a[y0][:, x0 + 1] * wx
    bot = a[y0 + 1][:, x0] * (1 - wx) + a[y0 + 1][:, x0 + 1] * wx
    return top * (1 - wy) + bot * wy


def load_jacksboro() -> np.ndarray:
    """The real DEM matplotlib ships (Jacksboro fault, Tennessee; 344×403, ~90 m, metres).

    Row 0 is the northern edge.
    """
    import matplotlib.cbook as cbook

    with cbook.get_sample_data("jacksboro_fault_dem.npz") as data:
        return np.asarray(data["elevation"], dtype=np.float64)


# -- parameters ---------------------------------------------------------------------------------
def draw_landscape_params(
    rng: np.random.Generator, size: int, dem: str = "fractal", cell_size: float = 30.0
) -> dict[str, Any]:
    """Draw every landscape parameter (plain JSON types) from ``rng``."""
    if dem not in DEM_MODES:
        raise ValueError(f"unknown dem mode {dem!r}; use one of {DEM_MODES}")
    p: dict[str, Any] = {
        "size": int(size),
        "cell_size": float(cell_size),
        "dem": dem,
        "field_seed": int(rng.integers(0, 2**31 - 1)),
        "beta": float(rng.uniform(3.2, 3.8)),
        "ridge_weight": float(rng.uniform(0.2, 0.6)),
        "relief_m": float(rng.uniform(100.0, 1000.0)),
        "base_elevation_m": float(rng.uniform(200.0, 1500.0)),
        "grass_share": float(rng.uniform(0.2, 0.45)),
        "timber_share": float(rng.uniform(0.2, 0.4)),
        "patchiness": float(rng.uniform(0.2, 0.45)),
        "water_share": float(rng.choice([0.0, rng.uniform(0.005, 0.04)])),
        "rock_share": float(rng.uniform(0.0, 0.03)),
        "n_roads": int(rng.integers(0, 3)),
        "canopy_cover": float(rng.uniform(0.4, 0.8)),
        "canopy_height_m": float(rng.uniform(10.0, 30.0)),
        "canopy_base_height_m": float(rng.uniform(1.0, 6.0)),
        "canopy_bulk_density": float(rng.uniform(0.05, 0.25)),
    }
    if dem == "jacksboro":
        n_native = int(np.ceil(size * cell_size / JACKSBORO_CELL_M)) + 1
        if n_native > 344:
            raise ValueError(f"domain of {size} cells is larger than the Jacksboro DEM allows")
        p["dem_row"] = int(rng.integers(0, 344 - n_native + 1))
        p["dem_col"] = int(rng.integers(0, 403 - n_native + 1))
        p["dem_window"] = n_native
    return p


# -- building -----------------------------------------------------------------------------------
def _elevation(p: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    n = p["size"]
    if p["dem"] == "jacksboro":
        r, c, k = p["dem_row"], p["dem_col"], p["dem_window"]
        native = load_jacksboro()[r : r + k, c : c + k]
        extent_cells = k * JACKSBORO_CELL_M / p["cell_size"]
        up = _resize_bilinear(native, (round(extent_cells), round(extent_cells)))
        return up[:n, :n]
    base = spectral_noise(rng, (n, n), p["beta"])
    ridged = 1.0 - np.abs(2.0 * spectral_noise(rng, (n, n), p["beta"]) - 1.0)
    z = (1.0 - p["ridge_weight"]) * base + p["ridge_weight"] * ridged
    z = (z - z.min()) / max(z.max() - z.min(), 1e-12)
    return p["base_elevation_m"] + p["relief_m"] * z


def _roads(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """Straight-ish 1-cell roads crossing the domain, with gaps of a few cells."""
    mask = np.zeros((n, n), bool)
    for _ in range(count):
        horizontal = bool(rng.integers(0, 2))
        start = rng.uniform(0.15, 0.85) * n
        drift = rng.uniform(-0.3, 0.3)
        along = np.arange(n)
        across = np.clip(np.round(start + drift * (along - n / 2)), 0, n - 1).astype(int)
        keep = np.ones(n, bool)
        for _gap in range(int(rng.integers(1, 4))):
            g0 = int(rng.integers(0, n))
            keep[g0 : g0 + int(rng.integers(2, 6))] = False
        if horizontal:
            mask[across[keep], along[keep]] = True
        else:
            mask[along[keep], across[keep]] = True
    return mask


def build_landscape(params: dict[str, Any]) -> Landscape:
    """Build the landscape a parameter dictionary describes (deterministic).

    Parameters with a ``style`` key (the wide generator) are built by
    :func:`emberxr.simulate.styles.build_styled_landscape`.
    """
    if "style" in params:
        from emberxr.simulate.styles import build_styled_landscape

        return build_styled_landscape(params)
    p = params
    n = int(p["size"])
    cell = float(p["cell_size"])
    rng = np.random.default_rng(p["field_seed"])
    elevation = _elevation(p, rng)
    slope, aspect = slope_aspect(elevation, cell)

    # fuel follows terrain: grass low and sun-facing, timber high and shaded, shrub between
    e = (elevation - elevation.min()) / max(float(np.ptp(elevation)), 1e-9)
    smooth_slope, smooth_aspect = slope_aspect(box_smooth(elevation, 3), cell)  # hillside scale
    northness = np.cos(np.deg2rad(smooth_aspect)) * np.clip(smooth_slope / 15.0, 0.0, 1.0)
    patches = spectral_noise(rng, (n, n), 3.2)
    score = 0.6 * e + 0.25 * northness + p["patchiness"] * (patches - 0.5) * 2.0
    q_grass, q_timber = np.quantile(score, [p["grass_share"], 1.0 - p["timber_share"]])
    cls = np.where(score <= q_grass, 0, np.where(score >= q_timber, 2, 1))
    variant = spectral_noise(rng, (n, n), 3.4)
    fuel = np.zeros((n, n), np.float64)
    for k, models in enumerate((GRASS, SHRUB, TIMBER)):
        edges = np.quantile(variant, np.linspace(0, 1, len(models) + 1)[1:-1])
        pick = np.asarray(models)[np.searchsorted(edges, variant)]
        fuel = np.where(cls == k, pick, fuel)
    timber = cls == 2

    # non-burnable breaks: water in the lowest hollows, rock on the highest steep ground, roads
    if p["water_share"] > 0:
        fuel[elevation <= np.quantile(elevation, p["water_share"])] = WATER
    if p["rock_share"] > 0:
        rocky = e + 0.5 * np.clip(slope / 45.0, 0, 1)
        fuel[rocky >= np.quantile(rocky, 1.0 - p["rock_share"])] = ROCK
    fuel[_roads(rng, n, p["n_roads"])] = ROAD
    timber &= ~np.isin(fuel, NONBURNABLE)

    return landscape_with_canopy(rng, p, elevation, slope, aspect, fuel, timber, cell)


def landscape_with_canopy(
    rng: np.random.Generator,
    p: dict[str, Any],
    elevation: np.ndarray,
    slope: np.ndarray,
    aspect: np.ndarray,
    fuel: np.ndarray,
    timber: np.ndarray,
    cell: float,
) -> Landscape:
    """The :class:`Landscape` of drawn surface grids, with canopy layers where ``timber`` is set.

    The canopy (cover, height, base height, bulk density from ``p``) varies smoothly around the
    drawn values (one more field from ``rng``); every grid is stored (and simulated) at
    LANDFIRE-like precision, exactly representable in float16.
    """
    n = fuel.shape[0]
    vary = 0.75 + 0.5 * spectral_noise(rng, (n, n), 3.0)
    zero = np.zeros((n, n))
    cc = np.where(timber, np.clip(p["canopy_cover"] * vary, 0.05, 0.95), zero)
    ch = np.where(timber, p["canopy_height_m"] * vary, zero)
    cbh = np.where(timber, np.minimum(p["canopy_base_height_m"] * vary, 0.5 * ch), zero)
    cbd = np.where(timber, p["canopy_bulk_density"] * vary, zero)
    return Landscape(
        elevation=_grid(elevation, 1.0),
        slope_deg=_grid(slope, 1.0),
        aspect_deg=_grid(aspect, 1.0) % np.float32(360.0),
        fuel_model=_grid(fuel, 1.0),
        canopy_cover=_grid(cc, 0.01),
        canopy_height=_grid(ch, 0.1),
        canopy_base_height=_grid(cbh, 0.1),
        canopy_bulk_density=_grid(cbd, 0.01),
        cell_size=cell,
    )


def _grid(a: np.ndarray, step: float) -> np.ndarray:
    """Round to multiples of ``step``, then to float16 precision (kept as float32)."""
    return (np.round(np.asarray(a, np.float64) / step) * step).astype(np.float16).astype(np.float32)
