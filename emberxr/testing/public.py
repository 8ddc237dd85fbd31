"""Tiny files in the published formats of the public benchmarks, for tests and trial runs.

The real data sets cannot be bundled; these writers make small stand-ins in exactly their file
formats, so readers, protocols and benchmark commands can be exercised end to end:

- :func:`write_wsts_tree`: a WildfireSpreadTS GeoTIFF tree ``ROOT/{year}/{fire_id}/{date}.tif``
  (23 bands with the published band names, UTM CRS, 375 m cells, active fire as detection time
  ``hhmm`` and NaN where none);
- :func:`write_wsts_hdf5`: its HDF5 conversion as the published ``CreateHDF5Dataset`` script
  writes it (``data (T, 23, H, W)``, NaN fire -> 0, ``hhmm`` -> hour; attributes ``year``,
  ``fire_name``, ``img_dates``, ``lnglat``);
- :func:`write_ndws_tfrecord`: Next Day Wildfire Spread TFRecord files of 64×64 tiles
  (``tf.train.Example`` records, correct masked CRC-32C), with a region of unknown (-1) labels;
- :func:`write_datacube`: a zarr datacube in the Mesogeos style (``time, y, x``, one variable
  per band, a daily burned-area mask).

Every writer is deterministic in its ``seed`` and returns what it wrote.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "write_datacube",
    "write_ndws_tfrecord",
    "write_wsts_hdf5",
    "write_wsts_tree",
]


# -- WildfireSpreadTS -------------------------------------------------------------------------------
def _wsts_day(
    rng: np.random.Generator, day: int, h: int, w: int, centre: tuple[float, float], fire: int = 0
) -> np.ndarray:
    """The 23 bands of one day of fire number ``fire``: a fire growing from ``centre`` and plausible
    drivers (terrain and wind differ from fire to fire)."""
    from emberxr.readers.wildfirespreadts import BANDS

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(yy - centre[0], xx - centre[1])
    out = np.zeros((len(BANDS), h, w), np.float32)
    by = {b.name: i for i, b in enumerate(BANDS)}
    # a ring of active fire that moves outwards day by day (detection times hhmm)
    radius = 1.5 + 1.6 * day
    ring = (r >= radius - 1.6) & (r <= radius + 0.4)
    af = np.full((h, w), np.nan, np.float32)
    af[ring] = rng.choice([130.0, 945.0, 1030.0, 2115.0], size=int(ring.sum()))
    out[by["active_fire"]] = af
    smooth = (yy + xx) / float(h + w)
    out[by["M11"]] = 1500 + 800 * smooth + rng.normal(0, 30, (h, w))
    out[by["I2"]] = 2500 + 600 * smooth
    out[by["I1"]] = 900 + 300 * smooth
    out[by["M11"]][0, :3] = np.nan  # missing reflectance stays NaN in `dynamic`
    out[by["NDVI"]] = 4000 + 2000 * (1 - smooth)
    out[by["EVI2"]] = 2200 + 900 * (1 - smooth)
    out[by["total_precipitation"]] = float(day % 2) * 1.5
    out[by["wind_speed"]] = 3.0 + 0.5 * day + 0.4 * fire + 0.2 * smooth
    out[by["wind_direction"]] = (250.0 + 20.0 * day) % 360
    out[by["min_temperature"]] = 285.0 + day
    out[by["max_temperature"]] = 301.0 + day
    out[by["energy_release_component"]] = 70.0 + 2 * day
    out[by["specific_humidity"]] = 0.006
    out[by["slope"]] = 5 + 20 * smooth
    out[by["aspect"]] = (xx * 17.0) % 360
    out[by["elevation"]] = 900 + 600 * smooth + 150 * fire
    out[by["pdsi"]] = -2.5
    out[by["landcover"]] = np.where(xx < w / 3, 1.0, np.where(yy < h / 2, 7.0, 10.0))
    out[by["forecast_total_precipitation"]] = 0.2 * day
    out[by["forecast_wind_speed"]] = 4.0 + 0.3 * day
    out[by["forecast_wind_direction"]] = -170.0 + 25.0 * day
    out[by["forecast_temperature"]] = 24.0 + day
    out[by["forecast_specific_humidity"]] = 0.005
    return out


def write_wsts_tree(
    root: str | os.PathLike,
    years: Sequence[int] = (2018, 2019),
    fires_per_year: int = 2,
    days: int = 4,
    size: tuple[int, int] = (24, 20),
    seed: int = 0,
    start: str = "07-10",
    epsg: int = 32611,
) -> dict[str, list[Path]]:
    """Write a tiny WildfireSpreadTS GeoTIFF tree.

    Parameters
    ----------
    root
        Destination; ``root/{year}/fire_{n}/{YYYY-MM-DD}.tif`` are written.
    years, fires_per_year, days
        How many fires per year and daily images per fire (fire ids are unique across years).
    size
        ``(height, width)`` of the images.
    seed
        Random seed of detection times and noise.
    start
        ``MM-DD`` of each fire's first day.
    epsg
        The UTM zone's EPSG code.

    Returns
    -------
    dict
        Fire id -> its daily GeoTIFFs.
    """
    import rasterio
    from affine import Affine

    from emberxr.readers.wildfirespreadts import BANDS

    rng = np.random.default_rng(seed)
    h, w = size
    out: dict[str, list[Path]] = {}
    n = 0
    for year in years:
        for k in range(fires_per_year):
            fire_id = f"fire_{21000000 + 100 * n + k}"
            n += 1
            folder = Path(root) / str(year) / fire_id
            folder.mkdir(parents=True, exist_ok=True)
            centre = (h / 2 + rng.uniform(-2, 2), w / 2 + rng.uniform(-2, 2))
            x0, y0 = 300000.0 + 20000.0 * n, 4200000.0 + 10000.0 * k
            transform = Affine(375.0, 0.0, x0, 0.0, -375.0, y0)
            first = np.datetime64(f"{year}-{start}")
            files = []
            for d in range(days):
                date = str(first + np.timedelta64(d, "D"))
                f = folder / f"{date}.tif"
                data = _wsts_day(rng, d, h, w, centre, n)
                profile = {
                    "driver": "GTiff",
                    "width": w,
                    "height": h,
                    "count": len(BANDS),
                    "dtype": "float32",
                    "crs": f"EPSG:{epsg}",
                    "transform": transform,
                    "nodata": None,
                }
                with rasterio.open(f, "w", **profile) as dst:
                    dst.write(data)
                    for i, b in enumerate(BANDS, 1):
                        dst.set_band_description(i, b.description)
                files.append(f)
            out[fire_id] = files
    return out


def write_wsts_hdf5(tif_root: str | os.PathLike, h5_root: str | os.PathLike) -> list[Path]:
    """Convert a GeoTIFF tree to the published HDF5 layout, as ``CreateHDF5Dataset`` does.

    Active fire NaN becomes 0 and ``hhmm`` becomes the hour; ``img_dates`` keep the ``.tif``
    suffix of the original conversion; ``lnglat`` is the image centre (longitude, latitude).

    Returns
    -------
    list of pathlib.Path
        The ``{year}/{fire_id}.hdf5`` files written.
    """
    import h5py
    import rasterio
    from rasterio.warp import transform as warp

    written = []
    for year_dir in sorted(p for p in Path(tif_root).iterdir() if p.is_dir()):
        for fire in sorted(p for p in year_dir.iterdir() if p.is_dir()):
            tifs = sorted(fire.glob("*.tif"))
            imgs, lnglat = [], None
            for t in tifs:
                with rasterio.open(t) as src:
                    imgs.append(src.read())
                    if lnglat is None:
                        cx, cy = src.xy(src.height // 2, src.width // 2)
                        lon, lat = warp(src.crs, "EPSG:4326", [cx], [cy])
                        lnglat = np.array([lon[0], lat[0]])
            x = np.stack(imgs).astype(np.float32)
            x[:, -1] = np.floor_divide(np.nan_to_num(x[:, -1], nan=0.0), 100)
            target = Path(h5_root) / year_dir.name
            target.mkdir(parents=True, exist_ok=True)
            path = target / f"{fire.name}.hdf5"
            with h5py.File(path, "w") as f:
                dset = f.create_dataset("data", x.shape, data=x)
                dset.attrs["year"] = int(year_dir.name)
                dset.attrs["fire_name"] = fire.name
                dset.attrs["img_dates"] = [t.name for t in tifs]
                dset.attrs["lnglat"] = lnglat
            written.append(path)
    return written


# -- Next Day Wildfire Spread ---------------------------------------------------------------------
def ndws_tile(rng: np.random.Generator, size: int = 64, unknown: bool = True) -> dict[str, np.ndarray]:
    """One NDWS tile: the 12 inputs and ``FireMask`` as ``(size, size)`` float32 arrays.

    The fire at t+1 is the fire at t grown by one or two cells towards the wind; with
    ``unknown`` a block of ``FireMask`` (and a smaller one of ``PrevFireMask``) is -1.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
    r0 = rng.uniform(3, 6)
    prev = (np.hypot(yy - cy, xx - cx) <= r0).astype(np.float32)
    th = float(rng.uniform(0, 360))  # wind from
    dy, dx = np.cos(np.deg2rad(th)) * 2.0, -np.sin(np.deg2rad(th)) * 2.0  # moves towards
    nxt = (np.hypot(yy - cy - dy, xx - cx - dx) <= r0 + 1.5).astype(np.float32)
    if unknown:
        nxt[:8, -8:] = -1.0
        prev[:2, :2] = -1.0
    smooth = (yy + xx) / (2.0 * size)
    return {
        "elevation": (800 + 900 * smooth).astype(np.float32),
        "th": np.full((size, size), th, np.float32),
        "vs": (3.0 + smooth).astype(np.float32),
        "tmmn": np.full((size, size), 285.0, np.float32),
        "tmmx": np.full((size, size), 302.0, np.float32),
        "sph": np.full((size, size), 0.005, np.float32),
        "pr": np.zeros((size, size), np.float32),
        "pdsi": np.full((size, size), -1.5, np.float32),
        "NDVI": (5000 + 2000 * smooth).astype(np.float32),
        "population": (30 * smooth).astype(np.float32),
        "erc": np.full((size, size), 60.0, np.float32),
        "PrevFireMask": prev,
        "FireMask": nxt,
    }


def write_ndws_tfrecord(
    path: str | os.PathLike, n_tiles: int = 4, seed: int = 0, size: int = 64, unknown: bool = True
) -> Path:
    """Write ``n_tiles`` NDWS tiles as one TFRecord file (records framed with masked CRC-32C).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from emberxr.io.tfrecord import serialize_example, write_records

    rng = np.random.default_rng(seed)
    records = [serialize_example(ndws_tile(rng, size, unknown)) for _ in range(n_tiles)]
    return write_records(path, records)


# -- datacubes --------------------------------------------------------------------------------------
def write_datacube(
    path: str | os.PathLike,
    days: int = 10,
    size: tuple[int, int] = (40, 48),
    seed: int = 0,
    geographic: bool = False,
) -> Path:
    """Write a Mesogeos-style zarr datacube: dims ``(time, y, x)``, one variable per band.

    Variables: ``burned_areas`` (the daily 0/1 mask of the cells burning that day, two fires that
    grow; NaN over a "sea" strip on the western edge), ``dem``, ``slope`` (radians), ``aspect``
    (degrees), ``lc_forest`` (fraction), ``t2m``, ``rh``, ``wind_speed``, ``wind_direction``
    (degrees, from) and ``ndvi`` (all NaN on day 2). Projected (EPSG:3035, 1 km cells) by
    default; ``geographic=True`` writes ``lat``/``lon`` in EPSG:4326 (0.01°) as Mesogeos does.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import xarray as xr

    rng = np.random.default_rng(seed)
    h, w = size
    t = np.datetime64("2021-08-01") + np.arange(days) * np.timedelta64(1, "D")
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    burned = np.zeros((days, h, w), np.float32)
    for cy, cx, t0 in ((h * 0.3, w * 0.3, 1), (h * 0.7, w * 0.75, 3)):
        for d in range(t0, days):
            r = np.hypot(yy - cy, xx - cx)
            burned[d] = np.maximum(burned[d], (r <= 1.0 + 0.8 * (d - t0)) & (r > 0.8 * (d - t0) - 1.0))
    burned[:, :, :2] = np.nan
    smooth = (yy + xx) / float(h + w)
    ones = np.ones((days, h, w), np.float32)
    ndvi = (0.6 - 0.2 * smooth) * ones + 0.01 * rng.normal(size=(days, h, w)).astype(np.float32)
    ndvi[2] = np.nan
    data = {
        "burned_areas": (("time", "y", "x"), burned),
        "dem": (("y", "x"), (200 + 800 * smooth).astype(np.float32)),
        "slope": (("y", "x"), (0.05 + 0.3 * smooth).astype(np.float32)),
        "aspect": (("y", "x"), ((xx * 23.0) % 360).astype(np.float32)),
        "lc_forest": (("y", "x"), (100 * (1 - smooth)).astype(np.float32)),
        "t2m": (("time", "y", "x"), (300.0 + 0.2 * np.arange(days)[:, None, None] * ones).astype(np.float32)),
        "rh": (("time", "y", "x"), (0.3 * ones).astype(np.float32)),
        "wind_speed": (("time", "y", "x"), ((4.0 + smooth) * ones).astype(np.float32)),
        "wind_direction": (
            ("time", "y", "x"),
            ((200.0 + 10 * np.arange(days))[:, None, None] * ones).astype(np.float32),
        ),
        "ndvi": (("time", "y", "x"), ndvi.astype(np.float32)),
    }
    if geographic:
        ys, xs = 38.9 - 0.01 * (np.arange(h) + 0.5), 23.0 + 0.01 * (np.arange(w) + 0.5)
    else:
        ys, xs = 2100000.0 - 1000.0 * (np.arange(h) + 0.5), 5600000.0 + 1000.0 * (np.arange(w) + 0.5)
    ds = xr.Dataset(data, coords={"time": t, "y": ys, "x": xs})
    if geographic:
        ds = ds.rename({"y": "lat", "x": "lon"})
    ds.attrs["crs"] = "EPSG:4326" if geographic else "EPSG:3035"
    ds.to_zarr(path, mode="w", consolidated=True, zarr_format=2)
    return Path(path)
