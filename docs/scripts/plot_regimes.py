"""Regime report of the simulated catalogs for ``docs/dataset.md``: table blocks and a figure.

Usage::

    .venv/bin/python docs/scripts/plot_regimes.py            # print the blocks
    .venv/bin/python docs/scripts/plot_regimes.py --write    # rewrite them and docs/img/regimes.png

Blocks (written through :mod:`emberxr.doc_blocks`, each produced by :func:`render`):

- ``regimes``: the shipped catalogs ``sim-small`` and ``sim-wide-small``, and the splits of
  ``sim-wide-small-shift``;
- ``regimes-sim-wide``: the generated ``sim-wide`` catalog, written only when its store exists
  (``emberxr simulate --catalog sim-wide``).

``tests/simulate/test_regime_doc.py`` renders the blocks from the stores and fails when the doc
differs.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from emberxr.catalog import open_catalog
from emberxr.simulate.stats import history_histogram, regime_table, share_history_at_most

DOCS = Path(__file__).resolve().parents[1]
DOC = DOCS / "dataset.md"
FIGURE = DOCS / "img" / "regimes.png"
SHIPPED = ("sim-small", "sim-wide-small")
SHIFT = "sim-wide-small-shift"

#: histogram bins: (column, label, edges) for numbers; (column, label, categories) for the rest
NUMERIC_BINS = (
    ("regime_wind_kmh", "mean wind (km/h)", (0, 10, 20, 30, 40, 50, np.inf)),
    ("regime_gust_kmh", "strongest gust (km/h)", (0, 10, 20, 30, 40, 50, 60, np.inf)),
    ("regime_dead_fm_pct", "1-h dead fuel moisture (%)", (0, 4, 6, 8, 10, 12, 15, np.inf)),
    ("regime_live_fm_pct", "live fuel moisture (%)", (0, 60, 80, 100, 120, 150, np.inf)),
    ("regime_burned_fraction", "burned fraction, last frame", (0, 0.01, 0.05, 0.1, 0.25, 0.5, np.inf)),
    ("regime_spread_ha_per_h", "spread (ha/h)", (0, 1, 5, 20, 50, 100, np.inf)),
    ("regime_frames", "hourly frames", (3, 6, 10, 14, 22, 34)),
)
CATEGORIES = (
    ("regime_style", "landscape style", ("rangeland", "shrubland", "timber", "mixed", "wui")),
    ("regime_terrain", "terrain", ("fractal", "real")),
    ("regime_ignition", "ignition", ("point", "line")),
)
PERCENT_COLUMNS = {"regime_burned_fraction"}


def catalog_table(name: str) -> pd.DataFrame:
    """The regime table of every event of a catalog (all splits), with a ``split`` column."""
    cat = open_catalog(name)
    table = regime_table(cat.data_path)
    split_of = {e: split for split in cat for e in cat.event_ids(split)}
    table = table.loc[sorted(split_of)]
    return table.assign(split=pd.Categorical([split_of[e] for e in table.index], categories=list(cat)))


def _bin_label(lo: float, hi: float, percent: bool) -> str:
    scale, unit = (100.0, " %") if percent else (1.0, "")
    if np.isinf(hi):
        return f"≥ {lo * scale:g}{unit}"
    return f"{lo * scale:g} – {hi * scale:g}{unit}"


def _counts(table: pd.DataFrame, column: str, edges: tuple[float, ...]) -> list[int]:
    values = table[column].astype(float).to_numpy()
    return [int(((values >= lo) & (values < hi)).sum()) for lo, hi in itertools.pairwise(edges)]


def _cell(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.0f} %)" if total else "–"


def _spread(table: pd.DataFrame, column: str, scale: float = 1.0, digits: int = 1) -> str:
    v = table[column].astype(float).to_numpy() * scale
    q10, q50, q90 = np.percentile(v, [10, 50, 90])
    return f"{q50:.{digits}f} ({q10:.{digits}f}–{q90:.{digits}f})"


def summary_rows(table: pd.DataFrame) -> dict[str, str]:
    """The summary lines of one catalog (or split)."""
    frames = table["regime_frames"].astype(int).tolist()
    hist = history_histogram(frames, max_history=None)
    return {
        "events": f"{len(table):,}",
        "samples (event, t), t ≥ 1": f"{sum(hist.values()):,}",
        "samples with ≤ 6 history frames": f"{100 * share_history_at_most(frames, 6):.1f} %",
        "longest history (frames)": str(max(hist) if hist else 0),
        "hourly frames, median (10–90 %)": _spread(table, "regime_frames", digits=0),
        "mean wind km/h, median (10–90 %)": _spread(table, "regime_wind_kmh"),
        "strongest gust km/h": _spread(table, "regime_gust_kmh"),
        "1-h dead fuel moisture %": _spread(table, "regime_dead_fm_pct"),
        "live fuel moisture %": _spread(table, "regime_live_fm_pct", digits=0),
        "burned in the last frame %": _spread(table, "regime_burned_fraction", 100.0),
        "spread ha/h": _spread(table, "regime_spread_ha_per_h"),
    }


def render(tables: dict[str, pd.DataFrame], shift: pd.DataFrame | None = None) -> str:
    """The Markdown block: a summary per catalog, regime histograms, and the shift splits.

    Parameters
    ----------
    tables
        Catalog name -> :func:`catalog_table`.
    shift
        :func:`catalog_table` of the shift catalog (its ``split`` column), or None.
    """
    names = list(tables)
    lines = ["| | " + " | ".join(f"`{n}`" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    summaries = {n: summary_rows(t) for n, t in tables.items()}
    for key in summaries[names[0]]:
        lines.append(f"| {key} | " + " | ".join(summaries[n][key] for n in names) + " |")
    lines += ["", "| regime | bin | " + " | ".join(f"`{n}`" for n in names) + " |"]
    lines.append("|---|---" + "|---" * len(names) + "|")
    for column, label, edges in NUMERIC_BINS:
        counts = {n: _counts(t, column, edges) for n, t in tables.items()}
        for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
            if column == "regime_frames":
                bin_label = f"{lo:g} – {hi - 1:g}"
            else:
                bin_label = _bin_label(lo, hi, column in PERCENT_COLUMNS)
            cells = " | ".join(_cell(counts[n][i], len(tables[n])) for n in names)
            lines.append(f"| {label if i == 0 else ''} | {bin_label} | {cells} |")
    for column, label, cats in CATEGORIES:
        for i, c in enumerate(cats):
            cells = " | ".join(_cell(int((t[column] == c).sum()), len(t)) for t in tables.values())
            lines.append(f"| {label if i == 0 else ''} | {c} | {cells} |")
    if shift is not None:
        lines += [
            "",
            f"Splits of `{SHIFT}` (held-out splits first; none of their events is in train or val):",
            "",
            "| split | events | samples | ≤ 6 history | mean wind km/h | 1-h dead FM % | real terrain "
            "| timber | burned % |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for split, part in shift.groupby("split", observed=True):
            frames = part["regime_frames"].astype(int).tolist()
            lines.append(
                f"| `{split}` | {len(part)} | {sum(max(f - 1, 0) for f in frames)} | "
                f"{100 * share_history_at_most(frames, 6):.0f} % | {_spread(part, 'regime_wind_kmh')} | "
                f"{_spread(part, 'regime_dead_fm_pct')} | {100 * (part['regime_terrain'] == 'real').mean():.0f} % | "
                f"{100 * (part['regime_style'] == 'timber').mean():.0f} % | "
                f"{_spread(part, 'regime_burned_fraction', 100.0)} |"
            )
    return "\n".join(lines)


def plot(tables: dict[str, pd.DataFrame], out: Path) -> None:
    """Histograms of every regime, one colour per catalog (share of events)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emberxr.atomic import atomic_path

    fig, axes = plt.subplots(3, 3, figsize=(14, 10), constrained_layout=True)
    panels = [
        ("regime_wind_kmh", "mean wind (km/h)", np.linspace(0, 55, 23), False),
        ("regime_gust_kmh", "strongest gust (km/h)", np.linspace(0, 70, 29), False),
        ("regime_dead_fm_pct", "1-h dead fuel moisture (%)", np.linspace(0, 26, 27), False),
        ("regime_live_fm_pct", "live fuel moisture (%)", np.linspace(30, 240, 22), False),
        ("regime_burned_fraction", "burned fraction, last frame", np.logspace(-4, 0, 25), True),
        ("regime_spread_ha_per_h", "spread (ha/h)", np.logspace(-2, 3, 26), True),
        ("regime_frames", "hourly frames (history = frames - 1)", np.arange(2.5, 34.5, 1.0), False),
    ]
    flat = axes.ravel()
    for ax, (column, label, bins, log) in zip(flat, panels):
        for i, (name, t) in enumerate(tables.items()):
            v = t[column].astype(float).to_numpy()
            w = np.full(len(v), 1.0 / max(len(v), 1))
            ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, weights=w, histtype="step", lw=1.8,
                    color=f"C{i}", label=name)  # fmt: skip
        if log:
            ax.set_xscale("log")
        ax.set(xlabel=label, ylabel="share of events")
    flat[0].legend()
    bars = [
        ("landscape style", [("regime_style", c) for c in CATEGORIES[0][2]], list(CATEGORIES[0][2])),
        ("terrain and ignition", [("regime_terrain", "real"), ("regime_ignition", "line")],
         ["real terrain", "line ignition"]),
    ]  # fmt: skip
    for ax, (title, groups, ticks) in zip(flat[7:], bars):
        x = np.arange(len(groups))
        width = 0.8 / len(tables)
        for i, (name, t) in enumerate(tables.items()):
            shares = [float((t[c] == v).mean()) for c, v in groups]
            ax.bar(x + i * width - 0.4 + width / 2, shares, width, color=f"C{i}", label=name)
        ax.set_xticks(x, ticks, rotation=20)
        ax.set(ylabel="share of events", title=title)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)


def sim_wide_available() -> bool:
    """True when the generated sim-wide store exists and is complete."""
    from emberxr.errors import CatalogError

    try:
        open_catalog("sim-wide")
    except CatalogError:
        return False
    return True


def main() -> None:
    from emberxr.doc_blocks import replace_block

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the blocks and the figure")
    args = parser.parse_args()
    tables = {name: catalog_table(name) for name in SHIPPED}
    block = render(tables, catalog_table(SHIFT))
    wide_block = None
    if sim_wide_available():
        tables["sim-wide"] = catalog_table("sim-wide")
        wide_block = render({"sim-wide": tables["sim-wide"]})
    if not args.write:
        print(block if wide_block is None else f"{block}\n\n{wide_block}")
        return
    replace_block(DOC, "regimes", block)
    if wide_block is not None:
        replace_block(DOC, "regimes-sim-wide", wide_block)
    plot(tables, FIGURE)
    print(f"wrote {DOC} and {FIGURE}")


if __name__ == "__main__":
    main()
