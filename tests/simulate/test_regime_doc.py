"""The regime tables in docs/dataset.md are what docs/scripts/plot_regimes.py renders from the stores."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from emberxr.doc_blocks import read_block

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "scripts" / "plot_regimes.py"
FIX = "docs/dataset.md is out of date: run `.venv/bin/python docs/scripts/plot_regimes.py --write`"


@pytest.fixture(scope="module")
def plot_regimes():
    spec = importlib.util.spec_from_file_location("plot_regimes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regime_block_matches_the_shipped_stores(plot_regimes):
    pr = plot_regimes
    tables = {name: pr.catalog_table(name) for name in pr.SHIPPED}
    assert read_block(pr.DOC, "regimes") == pr.render(tables, pr.catalog_table(pr.SHIFT)), FIX


def test_sim_wide_block_matches_its_store(plot_regimes):
    pr = plot_regimes
    if not pr.sim_wide_available():
        pytest.skip("sim-wide is generated on demand (emberxr simulate --catalog sim-wide)")
    assert read_block(pr.DOC, "regimes-sim-wide") == pr.render({"sim-wide": pr.catalog_table("sim-wide")}), (
        FIX
    )


def test_render_counts_and_shares(plot_regimes):
    import pandas as pd

    t = pd.DataFrame(
        {
            "regime_wind_kmh": [5.0, 15.0, 45.0, 49.0], "regime_gust_kmh": [8.0, 20.0, 60.0, 65.0],
            "regime_dead_fm_pct": [3.0, 5.0, 9.0, 14.0], "regime_live_fm_pct": [50.0, 90.0, 110.0, 200.0],
            "regime_burned_fraction": [0.001, 0.02, 0.3, 0.7], "regime_spread_ha_per_h": [0.5, 3.0, 30.0, 150.0],
            "regime_frames": [3, 7, 12, 33], "regime_style": ["timber", "wui", "timber", "mixed"],
            "regime_terrain": ["real", "fractal", "fractal", "fractal"],
            "regime_ignition": ["line", "point", "point", "point"],
        },
        index=pd.Index(["a", "b", "c", "d"], name="event_id"),
    )  # fmt: skip
    text = plot_regimes.render({"x": t})
    assert "| samples (event, t), t ≥ 1 | 51 |" in text  # 2 + 6 + 11 + 32
    assert "| samples with ≤ 6 history frames | 39.2 % |" in text  # (2 + 6 + 6 + 6) / 51
    assert "| longest history (frames) | 32 |" in text
    assert "| mean wind (km/h) | 0 – 10 | 1 (25 %) |" in text and "|  | 40 – 50 | 2 (50 %) |" in text
    assert "| landscape style | rangeland | 0 (0 %) |" in text and "|  | timber | 2 (50 %) |" in text
    assert "|  | ≥ 50 % | 1 (25 %) |" in text  # burned fraction bins are shares of the domain
