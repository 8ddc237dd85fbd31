"""Figure and statistics of a simulated dataset for ``docs/dataset.md``.

Usage::

    .venv/bin/python docs/scripts/plot_dataset.py [--catalog sim-small] [--event ID]

Writes ``docs/img/<catalog>-event.png`` (one event: DEM with hillshade, fuel map, arrival time
with hourly isochrones and wind arrows), ``docs/img/<catalog>-stats.png`` (burned fraction and
new-burn pixels per step, history histogram) and prints the statistics as Markdown.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import BoundaryNorm, LightSource, ListedColormap

from emberxr.atomic import atomic_path
from emberxr.catalog import open_catalog
from emberxr.simulate.landscape import GRASS, ROAD, ROCK, SHRUB, TIMBER, WATER
from emberxr.simulate.stats import dataset_stats

IMG = Path(__file__).resolve().parents[1] / "img"

FUEL_GROUPS = [  # (label, models, colour)
    ("grass", GRASS, "#e8d36a"),
    ("shrub", SHRUB, "#b5a04a"),
    ("timber", TIMBER, "#3d7a3a"),
    ("road", (ROAD,), "#555555"),
    ("water", (WATER,), "#3b7bd6"),
    ("rock", (ROCK,), "#a9a9a9"),
]


def pick_event(cat, event_id: str | None):
    """The requested event, or the test event with a wind shift that burned the most."""
    if event_id:
        for split in cat:
            if event_id in cat.event_ids(split):
                return cat[split][event_id].to_dataset().load()
        raise SystemExit(f"no event {event_id!r} in {cat.name}")
    best, best_n = None, -1
    for ev in cat.events("test"):
        n = int(ev["fire"][-1].sum())
        if int(ev.attrs.get("wind_shifts", 0)) > 0 and n > best_n and n < 0.25 * ev["fire"][-1].size:
            best, best_n = ev, n
    return best.load()


def plot_event(ev, out: Path) -> None:
    """Three panels of one event."""
    bands = list(ev["band"].values)
    static = {b: np.asarray(ev["static"].sel(band=b).values, np.float32) for b in bands}
    x, y = ev["x"].values / 1000.0, ev["y"].values / 1000.0
    extent = (x[0] - 0.015, x[-1] + 0.015, y[-1] - 0.015, y[0] + 0.015)
    params = json.loads(ev.attrs["sim_params"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), constrained_layout=True)

    ax = axes[0]
    dem = static["elevation"]
    ls = LightSource(azdeg=315, altdeg=45)
    rgb = ls.shade(dem, cmap=plt.get_cmap("terrain"), vert_exag=2.0, dx=30, dy=30, blend_mode="soft")
    ax.imshow(rgb, extent=extent)
    mappable = plt.cm.ScalarMappable(cmap="terrain", norm=plt.Normalize(float(dem.min()), float(dem.max())))
    fig.colorbar(mappable, ax=ax, shrink=0.8, label="elevation (m)")
    ax.set_title(f"DEM with hillshade (relief {np.ptp(dem):.0f} m)")

    ax = axes[1]
    fuel = static["fuel_model"]
    group = np.full(fuel.shape, -1)
    for i, (_label, models, _c) in enumerate(FUEL_GROUPS):
        group[np.isin(fuel, models)] = i
    cmap = ListedColormap([c for _l, _m, c in FUEL_GROUPS])
    ax.imshow(
        group,
        extent=extent,
        cmap=cmap,
        norm=BoundaryNorm(np.arange(-0.5, len(FUEL_GROUPS)), cmap.N),
        interpolation="nearest",
    )
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for _l, _m, c in FUEL_GROUPS]
    ax.legend(handles, [lbl for lbl, _m, _c in FUEL_GROUPS], loc="lower left", fontsize=8, framealpha=0.85)
    ax.set_title("Scott & Burgan fuel groups")

    ax = axes[2]
    toa = np.asarray(ev["arrival_time"].values, np.float32)
    ax.imshow(rgb, extent=extent, alpha=0.45)
    steps = ev.sizes["time"]
    im = ax.imshow(
        np.ma.masked_invalid(toa),
        extent=extent,
        cmap="inferno_r",
        vmin=0,
        vmax=steps - 1,
        interpolation="nearest",
    )
    xx, yy = np.meshgrid(x, y)
    ax.contour(xx, yy, np.nan_to_num(toa, nan=99.0), levels=np.arange(1, steps), colors="k", linewidths=0.6)
    fig.colorbar(im, ax=ax, shrink=0.8, label="arrival time (h); contours: hourly isochrones")
    # wind arrows (direction the air moves), one per hour along the top edge
    u, v = ev["wind_u"].values, ev["wind_v"].values
    xs = np.linspace(x[0] + 0.2, x[-1] - 0.2, steps)
    ax.quiver(
        xs,
        np.full(steps, y[0] - 0.25),
        u,
        v,
        np.arange(steps),
        cmap="inferno_r",
        scale=60,
        width=0.006,
        edgecolor="k",
        linewidth=0.3,
    )
    for r, c in params["ignitions"]:
        ax.plot(x[c], y[r], marker="*", color="cyan", markersize=12, markeredgecolor="k")
    ax.set_title(
        f"{ev.attrs['event_id']}: {ev.attrs['moisture_scenario']}, wind shifts: {len(params['wind']['shifts'])}"
    )
    for a in axes:
        a.set_xlabel("x (km, UTM 11N)")
        a.set_ylabel("y (km)")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def plot_stats(st: dict, out: Path) -> None:
    """Burned fraction and new-burn pixels per step, and the history histogram."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), constrained_layout=True)
    axes[0].plot(100 * np.asarray(st["burned_fraction_per_step"]), "o-")
    axes[0].set(xlabel="frame t (h)", ylabel="burned (% of domain)", title="mean burned fraction per step")
    axes[1].bar(np.arange(1, len(st["new_burn_per_step"]) + 1), st["new_burn_per_step"])
    axes[1].set(xlabel="transition t-1 → t", ylabel="new burned cells", title="mean new-burn pixels per step")
    h = st["history_histogram"]
    axes[2].bar(list(h), list(h.values()), color=["C0" if k <= 6 else "C1" for k in h])
    axes[2].set(
        xlabel="history frames (min(t+1, 8))",
        ylabel="samples",
        title=f"history lengths: {100 * st['share_history_le_6']:.1f}% ≤ 6",
    )
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def markdown(st: dict) -> str:
    """The statistics as Markdown lines."""
    h = st["history_histogram"]
    lines = [
        f"- events: {st['n_events']}, samples (event, t): {st['n_samples']}",
        f"- edge-touch share (samples whose target frame touches the domain edge): "
        f"{100 * st['edge_touch_share']:.1f}% (events whose fire reaches the edge by the last frame: "
        f"{100 * st['edge_touch_event_share']:.1f}%)",
        "- final burned cells, 10/50/90 %: "
        + " / ".join(f"{v:.0f}" for v in st["final_burned_cells"].values()),
        f"- moisture scenarios: {st['moisture_scenarios']}; events with a wind shift: "
        f"{100 * st['wind_shift_share']:.0f}%",
        "",
        "| history frames | " + " | ".join(str(k) for k in h) + " |",
        "|---|" + "---|" * len(h),
        "| samples | " + " | ".join(str(v) for v in h.values()) + " |",
        "",
        f"Share of samples with ≤ 6 history frames: **{100 * st['share_history_le_6']:.1f}%**.",
        "",
        "| frame t | " + " | ".join(str(t) for t in range(len(st["burned_fraction_per_step"]))) + " |",
        "|---|" + "---|" * len(st["burned_fraction_per_step"]),
        "| burned % | " + " | ".join(f"{100 * f:.2f}" for f in st["burned_fraction_per_step"]) + " |",
        "| new cells | – | " + " | ".join(f"{n:.0f}" for n in st["new_burn_per_step"]) + " |",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalog", default="sim-small")
    ap.add_argument("--event", default=None)
    args = ap.parse_args()
    cat = open_catalog(args.catalog)
    ev = pick_event(cat, args.event)
    plot_event(ev, IMG / f"{cat.name}-event.png")
    everything = [e for split in cat for e in cat.events(split)]
    st = dataset_stats(everything)
    plot_stats(st, IMG / f"{cat.name}-stats.png")
    print(f"event: {ev.attrs['event_id']}\n")
    print(markdown(st))


if __name__ == "__main__":
    main()
