"""Attention analysis of a tiny trained EmberFormer: temporal mass by frame age, spatial maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emberxr.attention import (
    analyze_attention,
    attention_summary,
    spatial_attention,
    temporal_attention,
)
from emberxr.cli import EXIT_BAD_INPUT, main
from emberxr.data.loaders import build_dataset, build_loader
from emberxr.errors import ConfigError
from emberxr.testing import synthetic_events, tiny_fit

TINY_EF = dict(
    model="emberformer", d_model=16, nhead=2, num_layers=1, spatial_layers=1, max_history=5, max_seq_len=4
)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    torch.set_num_threads(1)
    return tiny_fit(tmp_path_factory.mktemp("ef") / "run", epochs=1, **TINY_EF)


@pytest.fixture(scope="module")
def loader(fitted):
    ds = build_dataset(synthetic_events(2), fitted.stats, fitted.config, fitted.model, train=False)
    return build_loader(ds, fitted.config, batch_size=4)


def test_attention_over_padded_and_too_old_frames_is_zero(fitted, loader):
    """Evaluation batches mix histories of 1..5 frames (left padding); max_seq_len 4 hides the 5th."""
    model = fitted.model.eval()
    padded = 0
    for batch in loader:
        with torch.no_grad():
            model(batch)
        att = model.last_attention  # [B, N, h, T]
        valid_t = batch["valid_t"].bool()
        assert att.shape[-1] == valid_t.shape[1]
        padded += int((~valid_t).sum())
        assert float(att.masked_select(~valid_t[:, None, None, :]).abs().sum()) == 0.0
        # frames older than max_seq_len get nothing either; the rest sums to 1 per patch and head
        from emberxr.models.base import steps_back

        too_old = valid_t & (steps_back(valid_t) >= 4)
        assert float(att.masked_select(too_old[:, None, None, :]).abs().sum()) == 0.0
        assert torch.allclose(att.sum(-1), torch.ones_like(att.sum(-1)), atol=1e-5)
    assert padded > 0  # the check saw padding


def test_temporal_mass_by_age_and_history(fitted, loader):
    df = temporal_attention(fitted.model, loader, patch_size=8)
    assert df.attrs["padded_mass_max"] == 0.0
    assert set(df["scope"]) == {"all", "fire"}
    # attended frames: min(history, max_seq_len) per sample, ages 0..L-1
    assert sorted(df["hist_len"].unique()) == [1, 2, 3, 4]
    for _, g in df.groupby(["scope", "sample", "head"]):
        L = int(g["hist_len"].iloc[0])
        assert sorted(g["age"]) == list(range(L))
        assert g["mass"].sum() == pytest.approx(1.0, abs=1e-6)  # the frames' shares add up
    s = attention_summary(df)
    for _, row in s.iterrows():
        assert row["last"] <= row["last3"] + 1e-9
        assert row["last3"] + row["older"] == pytest.approx(1.0, abs=1e-6)
        assert row["uniform_last"] == pytest.approx(1 / row["hist_len"])
    one = s[(s["scope"] == "all") & (s["hist_len"] == 1)].iloc[0]
    assert one["last"] == pytest.approx(1.0)  # a single frame takes all the attention
    assert (s[s["hist_len"] <= 3]["older"] == 0).all()


def test_spatial_attention_of_one_patch(fitted, loader):
    batch = next(iter(loader))
    res = spatial_attention(fitted.model, batch, index=3, patch=(1, 2))
    gy, gx = res["grid"]
    assert res["maps"].shape == (1, gy, gx) and res["patch"] == (1, 2)
    assert res["maps"][0].sum() == pytest.approx(1.0, abs=1e-5)
    assert (res["maps"] >= 0).all()
    assert not any(blk.keep_weights for blk in fitted.model.spatial)  # switched back off
    with pytest.raises(ConfigError, match="off the"):
        spatial_attention(fitted.model, batch, patch=(gy, 0))
    default = spatial_attention(fitted.model, batch, index=3)
    r, c = default["patch"]
    new = (default["target"] > 0) & (default["last"] <= 0)
    p = default["patch_size"]
    best = new.reshape(gy, p, gx, p).sum(axis=(1, 3))
    assert best[r, c] == best.max()  # the query patch is where most new burn happens


def test_analyze_writes_tables_and_pngs_and_answers(fitted, tmp_path):
    rep = analyze_attention(fitted, synthetic_events(2), "test", tmp_path / "att", max_samples=12)
    names = {f.name for f in rep.files}
    assert names == {
        "attention_by_age.csv",
        "attention_summary.csv",
        "temporal_attention.png",
        "spatial_attention.png",
    }
    for f in rep.files:
        assert f.stat().st_size > 0
    assert (tmp_path / "att" / "temporal_attention.png").read_bytes()[:4] == b"\x89PNG"
    assert rep.table["sample"].nunique() == 12
    assert "Are early frames attended?" in rep.answer and "%" in rep.answer
    assert rep.padded_mass_max == 0.0


def test_the_attention_command(fitted, tmp_path, capsys):
    from emberxr.io.events import save_events

    ckpt = fitted.save(tmp_path / "model.pt")
    store = save_events(synthetic_events(2), tmp_path / "ev.zarr")
    out = tmp_path / "cli"
    assert (
        main(["attention", str(ckpt), str(store), "-o", str(out), "--max-samples", "8", "--patch", "0,1"])
        == 0
    )
    text = capsys.readouterr().out
    assert "are early frames attended" in text.lower() and "query patch (0, 1)" in text
    assert (out / "spatial_attention.png").is_file() and (out / "attention_summary.csv").is_file()
    assert main(["attention", str(ckpt), str(store), "--patch", "x"]) == EXIT_BAD_INPUT


def test_a_model_without_temporal_attention_is_refused(tmp_path):
    conv = tiny_fit(tmp_path / "conv", epochs=1)
    ds = build_dataset(synthetic_events(1), conv.stats, conv.config, conv.model, train=False)
    with pytest.raises(ConfigError, match="keeps no temporal attention"):
        temporal_attention(conv.model, build_loader(ds, conv.config), patch_size=8)


def test_without_spatial_layers_there_is_no_map(tmp_path):
    f = tiny_fit(tmp_path / "ef0", epochs=1, **{**TINY_EF, "spatial_layers": 0})
    rep = analyze_attention(f, synthetic_events(1), "test", tmp_path / "a0", max_samples=4)
    assert rep.spatial is None and "no spatial attention layers" in rep.notes[0]
    assert not (tmp_path / "a0" / "spatial_attention.png").exists()
    assert np.isfinite(rep.summary["last"]).all()
