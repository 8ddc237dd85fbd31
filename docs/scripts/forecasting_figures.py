"""The pictures of ``docs/forecasting.md``: the analyst's walk from a raw folder to the products.

Usage::

    .venv/bin/python docs/scripts/forecasting_figures.py                 # trains a tiny model first
    .venv/bin/python docs/scripts/forecasting_figures.py --checkpoint model.pt   # or uses yours

Steps (each the command or call the page shows):

1. trains a small U-Net (``unets``, ``--steps`` optimisation steps on 64² tiles) on a subset of the
   ``sim-small`` training split, with ``calibrate="isotonic"``;
2. writes test event ``--event`` as a raw folder (``terrain.tif``, ``fire/*.png``, ``wind.csv``)
   and a what-if wind file;
3. forecasts the raw folder with the event's wind and with a what-if wind file, runs ``emberxr
   predict`` on it (an ensemble with wind spread, perimeters, styles, the quick-look) and
   ``emberxr evaluate --calibration --perimeters`` on ``--eval-events`` test events;
4. draws ``docs/img/forecasting-*.png`` (each under 300 KB).

Everything goes to ``--work`` (default: a temporary folder) except the PNGs.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

IMG = Path(__file__).resolve().parents[1] / "img"


def train(work: Path, steps: int, events: int) -> Path:
    import torch

    import emberxr
    from emberxr.catalog import open_catalog

    torch.set_num_threads(2)
    cat = open_catalog("sim-small")
    data = {"train": cat.events("train")[:events], "val": cat.events("val")[: max(4, events // 4)]}
    emberxr.fit(
        data,
        model="unets",
        epochs=1,
        steps_per_epoch=steps,
        batch_size=8,
        tile_size=64,
        max_val_samples=64,
        calibrate="isotonic",
        early_stopping=None,
        wandb__enabled=False,
        progress=False,
        run_dir=work / "run",
    )
    return work / "run" / "model.pt"


def save(fig, name: str) -> Path:
    from emberxr.atomic import atomic_path

    path = IMG / name
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=72)
    plt.close(fig)
    size = path.stat().st_size
    assert size < 300_000, f"{path} is {size} bytes; make it smaller"
    print(f"wrote {path} ({size // 1024} KB)")
    return path


def _extent(ds):
    x, y = ds["x"].values, ds["y"].values
    dx, dy = abs(x[1] - x[0]), abs(y[1] - y[0])
    return (x.min() - dx / 2, x.max() + dx / 2, y.min() - dy / 2, y.max() + dy / 2)


def figure_ensemble(folder: Path, name: str) -> None:
    """Burn probability per step, mean arrival and its spread, read back from the GeoTIFFs."""
    import rioxarray

    burn = rioxarray.open_rasterio(folder / "burn.tif", masked=True)
    arrival = rioxarray.open_rasterio(folder / "mean_arrival.tif", masked=True)[0]
    spread = rioxarray.open_rasterio(folder / "arrival_spread.tif", masked=True)[0]
    n = int(burn.sizes["band"])
    fig, axes = plt.subplots(1, n + 2, figsize=(2.4 * (n + 2), 2.8), constrained_layout=True)
    ext = _extent(burn)
    for i in range(n):
        im = axes[i].imshow(burn.values[i], cmap="YlOrRd", vmin=0, vmax=1, extent=ext)
        axes[i].set_title(f"burn probability t+{i + 1}h", fontsize=8)
    fig.colorbar(im, ax=axes[n - 1], shrink=0.7)
    a = axes[n].imshow(arrival.values, cmap="magma", vmin=0, vmax=n, extent=ext)
    axes[n].set_title("mean arrival (h)", fontsize=8)
    fig.colorbar(a, ax=axes[n], shrink=0.7)
    s = axes[n + 1].imshow(spread.values, cmap="Purples", vmin=0, extent=ext)
    axes[n + 1].set_title("arrival spread (h)", fontsize=8)
    fig.colorbar(s, ax=axes[n + 1], shrink=0.7)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    save(fig, name)


def figure_perimeters(gpkg: Path, event, name: str) -> None:
    import shapely
    from pyogrio.raw import read

    meta, _, wkb, values = read(gpkg, layer="perimeters")
    cols = dict(zip(meta["fields"], values))
    _, _, iso_wkb, iso_values = read(gpkg, layer="isochrones")
    iso = dict(zip(read(gpkg, layer="isochrones", read_geometry=False)[0]["fields"], iso_values))
    last = cols["step"].max()
    fig, ax = plt.subplots(figsize=(5.2, 4.6), constrained_layout=True)
    colours = {0.1: "#fed976", 0.5: "#fd8d3c", 0.9: "#bd0026"}
    for g, step, level in zip(wkb, cols["step"], cols["level"]):
        if g is None or step != last:
            continue
        for poly in shapely.from_wkb(g).geoms:
            xs, ys = poly.exterior.xy
            ax.fill(xs, ys, color=colours.get(round(float(level), 1), "#fd8d3c"), alpha=0.55, lw=0)
            for hole in poly.interiors:
                hx, hy = hole.xy
                ax.fill(hx, hy, color="white", lw=0)
    cmap = plt.get_cmap("viridis")
    for g, k in zip(iso_wkb, iso["step"]):
        if g is None:
            continue
        for line in shapely.from_wkb(g).geoms:
            xs, ys = line.xy
            ax.plot(xs, ys, color=cmap(k / max(iso["step"].max(), 1)), lw=1.2)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.55) for c in colours.values()]
    labels = [f"p ≥ {lev} at t+{last}h" for lev in colours]
    handles += [plt.Line2D([], [], color=cmap(0.0)), plt.Line2D([], [], color=cmap(1.0))]
    labels += ["isochrone 0 h (issue)", f"isochrone {int(iso['arrival_hours'].max())} h"]
    ax.legend(handles, labels, fontsize=7, loc="lower right")
    ax.set_aspect("equal")
    ax.set_title("perimeters.gpkg read back (pyogrio)", fontsize=9)
    ax.tick_params(labelsize=6)
    ax.ticklabel_format(useOffset=False, style="plain")
    save(fig, name)


def figure_whatif(base, what_if, name: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.4), constrained_layout=True)
    ext = _extent(base)
    for ax, ds, title in ((axes[0], base, "wind from the event"), (axes[1], what_if, "what-if wind file")):
        ax.imshow(ds["probability"].values[-1], cmap="YlOrRd", vmin=0, vmax=1, extent=ext)
        u, v = float(ds["wind_u"].values[-1]), float(ds["wind_v"].values[-1])
        cx, cy = ext[0] + 0.15 * (ext[1] - ext[0]), ext[3] - 0.15 * (ext[3] - ext[2])
        scale = 0.1 * (ext[1] - ext[0]) / max(np.hypot(u, v), 1e-6)
        ax.annotate(
            "", xy=(cx + u * scale, cy + v * scale), xytext=(cx, cy), arrowprops={"arrowstyle": "-|>"}
        )
        ax.set_title(f"{title}: t+{int(ds.sizes['step'])}h probability", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    save(fig, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="use this model.pt instead of training one")
    parser.add_argument("--steps", type=int, default=150, help="training steps of the tiny model")
    parser.add_argument("--events", type=int, default=32, help="training events of the tiny model")
    parser.add_argument("--event", default="sim-small-00113", help="test event to forecast")
    parser.add_argument("--t", type=int, default=4, help="issue frame")
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--eval-events", type=int, default=4, help="test events evaluated")
    parser.add_argument("--work", type=Path, help="where the outputs go (default: a temporary folder)")
    args = parser.parse_args()

    import shutil

    import pandas as pd

    import emberxr
    from emberxr.catalog import open_catalog
    from emberxr.cli import main as cli
    from emberxr.io.events import save_events
    from emberxr.readers.raw_reader import write_raw_event

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ckpt = Path(args.checkpoint) if args.checkpoint else train(work, args.steps, args.events)
        cat = open_catalog("sim-small")
        event = cat["test"][args.event].to_dataset().load()
        raw = write_raw_event(event, work / "fire-113")
        times = event["time"].values
        issue = times[args.t]
        rows = [(issue + np.timedelta64(h, "h"), 25.0, 180.0) for h in range(1, args.horizon + 1)]
        pd.DataFrame(
            [(np.datetime_as_string(t, unit="m"), s, d) for t, s, d in rows],
            columns=["time", "speed", "direction"],
        ).to_csv(work / "southerly.csv", index=False)
        fitted = emberxr.load(ckpt)
        opened = emberxr.open_event(raw)  # the raw folder, read as emberxr predict reads it
        kw = {"t": args.t, "horizon": args.horizon, "progress": False}
        base = fitted.forecast(opened, **kw)
        what_if = fitted.forecast(opened, future_wind=work / "southerly.csv", **kw)
        figure_whatif(base, what_if, "forecasting-whatif.png")
        out = work / "out"
        common = [str(ckpt), str(raw), "--t", str(args.t), "--horizon", str(args.horizon)]
        assert cli(["predict", *common, "-o", str(out / "burn.tif"), "--members", "32", "--wind-spread", "auto",
                    "--arrival", str(out / "mean_arrival.tif"), "--arrival-std", str(out / "arrival_spread.tif"),
                    "--perimeters", str(out / "perimeters.gpkg"),
                    "--quicklook", str(IMG / "forecasting-quicklook.png")]) == 0  # fmt: skip
        figure_ensemble(out, "forecasting-ensemble.png")
        figure_perimeters(out / "perimeters.gpkg", opened, "forecasting-perimeters.png")
        # calibration and perimeter scores on a few test events
        store = save_events(cat.events("test")[: args.eval_events], work / "test.zarr")
        assert cli(["evaluate", str(ckpt), str(store), "--no-per-event", "--calibration",
                    str(work / "calibration"), "--perimeters", "--horizon", "2"]) == 0  # fmt: skip
        shutil.copy(work / "calibration" / "reliability.png", IMG / "forecasting-reliability.png")
        for name in ("forecasting-reliability.png", "forecasting-quicklook.png"):
            size = (IMG / name).stat().st_size
            assert size < 300_000, f"{name} is {size} bytes"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
