import numpy as np
import pytest

from emberxr.data.check import data_check


def test_report_counts_match_the_arrays(make_synthetic_event):
    evs = [make_synthetic_event(height=24, width=20, steps=5, seed=i, invalid_border=2) for i in range(2)]
    rep = data_check({"train": evs[:1], "val": evs[1:]}, max_history=3)
    tr = rep.splits["train"]
    assert tr.events == 1 and tr.samples == 4 and tr.history == {1: 1, 2: 1, 3: 2}
    fire = evs[0]["fire"].values > 0
    valid = evs[0]["valid"].values
    burned = (fire & valid).sum(axis=(1, 2))
    new = ((fire[1:] & ~fire[:-1]) & valid).sum(axis=(1, 2))
    assert tr.target_positive_rate == pytest.approx(burned[1:].sum() / (valid.sum() * 4))
    assert tr.new_burn_positive_rate == pytest.approx(new.sum() / (valid.sum() * 4))
    assert tr.empty_target_share == pytest.approx(np.mean(burned[1:] == 0))
    elev = evs[0]["static"].sel(band="elevation").values[valid]
    b = tr.bands["elevation"]
    assert b["kind"] == "continuous" and b["nan_share"] == 0.0
    assert b["mean"] == pytest.approx(elev.mean(), rel=1e-6) and b["max"] == pytest.approx(elev.max())
    assert b["std"] == pytest.approx(elev.std(), rel=1e-4)
    md = rep.to_markdown()
    assert "| train | 1 | 4 |" in md and "## val" in md and "| elevation | continuous |" in md
    assert rep.to_dict()["splits"]["val"]["samples"] == 4


def test_nan_share_and_empty_targets(make_synthetic_event):
    ev = make_synthetic_event(height=16, width=16, steps=4, seed=0)
    ev = ev.copy(deep=True)
    ev["static"].values[0, :4, :] = np.nan  # a quarter of elevation missing
    ev["fire"].values[:] = 0  # nothing burns
    rep = data_check([ev], max_history=8).splits["all"]
    assert rep.bands["elevation"]["nan_share"] == pytest.approx(0.25)
    assert rep.empty_target_share == 1.0 and rep.target_positive_rate == 0.0
