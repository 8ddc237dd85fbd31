"""A quick-look PNG of a forecast: the picture to paste into a briefing.

:func:`quicklook` (``emberxr predict --quicklook out.png``) draws, on the event's grid in its CRS
coordinates:

- a hillshade of the event's elevation band (a static band named ``elevation``, ``dem`` or
  ``elev*``; plain grey without one), with the cells outside the data footprint greyed out;
- the last step's probability (burn probability for an ensemble) as a translucent fill;
- the observed perimeter at the issue time (solid black) and, when the event has the frame of the
  last forecast step (a hindcast), the observed perimeter then (dashed black);
- the forecast perimeter of each step (``fire_mask``: the model's threshold, or half of the
  members for an ensemble; or ``probability >= level``), one colour per step;
- wind arrows, one per step: the wind of each step's last input frame (observed at the issue time,
  then the future wind the forecast used), pointing where the air moves, with its speed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["elevation_band", "quicklook"]


def elevation_band(event: xr.Dataset) -> np.ndarray | None:
    """The event's elevation (y, x), or None when no static band looks like one."""
    if "static" not in event or "band" not in event.coords:
        return None
    names = [str(b) for b in event["band"].values.tolist()]
    for i, name in enumerate(names):
        low = name.lower()
        if low in ("elevation", "dem") or low.startswith("elev"):
            return np.asarray(event["static"].isel(band=i).values, np.float64)
    return None


def quicklook(
    ds: xr.Dataset,
    event: xr.Dataset,
    path: str | os.PathLike,
    *,
    level: float | None = None,
    title: str | None = None,
    dpi: int = 90,
) -> Path:
    """Write the quick-look PNG of forecast ``ds`` of ``event`` (atomic; see the module docstring).

    Parameters
    ----------
    ds
        A forecast (:func:`emberxr.forecast.forecast`, ensembles included).
    event
        The event it was made from (elevation, observed fire, footprint).
    path
        The PNG.
    level
        Draw ``probability >= level`` as the forecast perimeters instead of ``fire_mask``.
    title
        Figure title (default: event, issue time, kind of forecast).
    dpi
        Resolution (the figure is 7.5 × 6.5 inches).
    """
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.colors import LightSource
    from matplotlib.lines import Line2D
    from PIL import Image

    from emberxr.atomic import atomic_path
    from emberxr.products.perimeters import cell_size_m
    from emberxr.schema import FIRE, VALID

    x = np.asarray(event["x"].values, np.float64)
    y = np.asarray(event["y"].values, np.float64)
    flip = len(y) > 1 and y[0] < y[-1]  # draw north up

    def up(a: np.ndarray) -> np.ndarray:
        return a[..., ::-1, :] if flip else a

    dx = abs(x[1] - x[0]) if len(x) > 1 else 1.0
    dy = abs(y[1] - y[0]) if len(y) > 1 else 1.0
    extent = (x.min() - dx / 2, x.max() + dx / 2, y.min() - dy / 2, y.max() + dy / 2)
    xs, ys = np.sort(x), np.sort(y)[::-1]
    valid = up(np.asarray(event[VALID].values, bool))
    fig, ax = plt.subplots(figsize=(7.5, 6.5), constrained_layout=True)
    elev = elevation_band(event)
    if elev is not None:
        cell = cell_size_m(event) or (dy, dx)
        elev = np.where(np.isfinite(elev), elev, np.nanmean(elev))
        shade = LightSource(azdeg=315, altdeg=45).hillshade(up(elev), vert_exag=2.0, dx=cell[1], dy=cell[0])
        ax.imshow(shade, cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="bilinear")
    else:
        ax.imshow(np.full(valid.shape, 0.85), cmap="gray", vmin=0, vmax=1, extent=extent)
    ax.imshow(np.where(valid, np.nan, 1.0), cmap="Greys", vmin=0, vmax=1.5, alpha=0.6, extent=extent)
    prob = up(np.asarray(ds["probability"].values[-1], np.float64))
    ax.imshow(np.where(prob > 0.01, prob, np.nan), cmap="YlOrRd", vmin=0, vmax=1, alpha=0.45, extent=extent)
    steps = np.asarray(ds["step"].values).tolist()
    colours = plt.get_cmap("plasma")(np.linspace(0.1, 0.85, max(len(steps), 1)))
    labels = [f"t+{_fmt(h)}h" for h in np.asarray(ds["lead_time_hours"].values).tolist()]
    handles = []
    fire = np.asarray(event[FIRE].values) > 0
    t = int(ds.attrs.get("issue_index", fire.shape[0] - 1))
    for i, lab in enumerate(labels):
        if level is not None or "fire_mask" not in ds:
            mask = np.nan_to_num(np.asarray(ds["probability"].values[i]), nan=0.0) >= (level or 0.5)
        else:
            mask = np.asarray(ds["fire_mask"].values[i]) > 0
        if mask.any():
            ax.contour(xs, ys, up(mask.astype(float)), levels=[0.5], colors=[colours[i]], linewidths=1.6)
        handles.append(Line2D([], [], color=colours[i], lw=1.6, label=f"forecast {lab}"))
    obs = up(fire[t].astype(float))
    if obs.any():
        ax.contour(xs, ys, obs, levels=[0.5], colors="black", linewidths=2.0)
    handles.insert(0, Line2D([], [], color="black", lw=2.0, label="observed at issue"))
    last = t + len(steps)
    if last < fire.shape[0] and fire[last].any():
        ax.contour(
            xs,
            ys,
            up(fire[last].astype(float)),
            levels=[0.5],
            colors="black",
            linewidths=1.2,
            linestyles="--",
        )
        handles.append(Line2D([], [], color="black", lw=1.2, ls="--", label=f"observed {labels[-1]}"))
    ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.85)
    if "wind_u" in ds.coords:
        _wind_arrows(ax, ds, labels, colours)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    crs = event.rio.crs if hasattr(event, "rio") else None
    unit = f" ({crs.to_string()})" if crs is not None else ""
    ax.set_xlabel(f"x{unit}", fontsize=8)
    ax.set_ylabel(f"y{unit}", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(useOffset=False, style="plain")
    kind = f"ensemble of {ds.attrs['members']}" if "members" in ds.attrs else "forecast"
    ax.set_title(
        title or f"{ds.attrs.get('event_id', '')}: {kind} issued {ds.attrs.get('issue_time', '')}", fontsize=9
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    path = Path(path)
    with atomic_path(path) as tmp, Image.open(buf) as im:
        # 256 colours: a third of the size of a full-colour map, no visible difference
        im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(
            tmp, format="PNG", optimize=True
        )
    return path


def _fmt(h: float) -> str:
    return str(int(h)) if float(h).is_integer() else f"{h:g}"


def _wind_arrows(ax: Any, ds: xr.Dataset, labels: list[str], colours: Any) -> None:
    """One arrow per step in an inset at the top left: direction the air moves, length ∝ speed."""
    u = np.asarray(ds["wind_u"].values, np.float64)
    v = np.asarray(ds["wind_v"].values, np.float64)
    n = len(u)
    inset = ax.inset_axes([0.01, 0.99 - 0.13, min(0.08 * n + 0.04, 0.6), 0.13])
    inset.set_xlim(-0.6, n - 0.4)
    inset.set_ylim(-0.9, 0.75)
    inset.set_aspect("equal", adjustable="box")
    inset.set_xticks([])
    inset.set_yticks([])
    inset.patch.set_alpha(0.8)
    top = max(float(np.hypot(u, v).max()), 1e-6)
    for i in range(n):
        s = float(np.hypot(u[i], v[i]))
        ax_len = 0.45 * s / top
        inset.annotate(
            "",
            xy=(i + ax_len * u[i] / max(s, 1e-9), 0.2 + ax_len * v[i] / max(s, 1e-9)),
            xytext=(i, 0.2),
            arrowprops={"arrowstyle": "-|>", "color": colours[i], "lw": 1.5},
        )
        inset.text(i, -0.55, f"{labels[i]}\n{s:.1f} m/s", ha="center", va="center", fontsize=5.5)
    inset.text(-0.5, 0.7, "wind", fontsize=6, va="top")
