"""The generated results blocks of the docs match what ``docs/scripts/results.py`` renders from the
committed result files (``make results``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from emberxr.doc_blocks import read_block

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results():
    spec = importlib.util.spec_from_file_location("results_script", ROOT / "docs" / "scripts" / "results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_results_block_matches_the_committed_files(results):
    stale = [
        f"{doc} [{name}]"
        for (doc, name) in results.BLOCKS
        if read_block(ROOT / doc, name) != results.render(doc, name).strip("\n")
    ]
    assert not stale, f"out of date: {', '.join(stale)}; run `make results` (docs/scripts/results.py --write)"


def test_the_docs_claim_no_reproduction_to_the_last_digit():
    for doc in ("README.md", "docs/results.md"):
        assert "last digit" not in (ROOT / doc).read_text()


def test_readme_shows_mean_and_std_once_seeds_are_measured(results, tmp_path, monkeypatch):
    from emberxr.study import read_study, save_study

    runs, meta = read_study(ROOT / "docs" / "results" / "demo")
    one = results.render_readme()
    assert "one run per model (seed 0)" in one and "a single run shows no seed spread" in one
    assert "±" not in one.split("**Over seeds**")[0]
    # the same table from three seeds says mean ± std
    three = [runs.assign(seed=s, value=runs["value"] + 0.01 * s) for s in (0, 1, 2)]
    import pandas as pd

    save_study(tmp_path / "demo", pd.concat(three).to_dict("records"), {**meta, "seeds": [0, 1, 2]})
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    text = results.render_readme()
    sel = (runs["arm"] == "emberformer") & (runs["split"] == "test") & (runs["scope"] == "all")
    f1 = runs[sel & (runs["target"] == "new") & (runs["metric"] == "f1")]["value"].iloc[0]
    # seeds v, v + 0.01, v + 0.02: mean v + 0.01, sample std 0.01 (EmberFormer's new-burn F1)
    assert "3 seeds per model, mean ± std" in text and f"{f1 + 0.01:.3f} ± 0.010" in text
    assert "*Not measured yet.*" in text  # no sim-shift study in tmp_path


def test_a_missing_study_renders_the_command_that_measures_it(results, tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    text = results.render_ablation()
    assert text.startswith("*Not measured yet.*") and "emberxr ablate ablate_emberformer" in text
