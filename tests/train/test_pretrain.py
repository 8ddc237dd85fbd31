"""``emberxr pretrain``: the encoder file ``pretrained: true`` loads, its metadata, channels matched by
name, clear errors, resumption and the command line."""

from __future__ import annotations

import pytest
import torch

import emberxr
from emberxr.channels import channel_names
from emberxr.decoders.weights import (
    METADATA_FORMAT,
    load_pretrained,
    map_input_channels,
    read_weights,
    save_weights,
)
from emberxr.errors import ConfigError, WeightsError
from emberxr.pretrain import OBJECTIVE, pretrain
from emberxr.testing import synthetic_events

UNET = {"encoder_depth": 3, "decoder_channels": [16, 8, 8]}
# small samples: 16×16 crops of the 32×40 synthetic events, patch 8, history 3
DATA = ["data.tile_size=16", "data.patch_size=8", "data.max_history=3", "data.max_val_samples=4"]
FIT = dict(
    model="emberformer",
    steps_per_epoch=1,
    batch_size=2,
    patch_size=8,
    max_history=3,
    tile_size=16,
    d_model=8,
    nhead=2,
    num_layers=1,
    spatial_layers=0,
    decoder="unet",
    decoder_config=UNET,
    wandb__enabled=False,
    progress=False,
    early_stopping=None,
)


def _pretrain(tmp_path, events, **kw):
    opts = dict(
        decoder="unet",
        decoder_config=UNET,
        steps=2,
        batch_size=2,
        epoch_steps=1,
        run_dir=tmp_path / "pre-run",
        overrides=DATA,
        progress=False,
    )
    opts.update(kw)
    return pretrain(events, **opts)


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    d = tmp_path / "weights"
    monkeypatch.setenv("EMBERXR_WEIGHTS_DIR", str(d))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return d


def test_pretrain_then_fit_with_pretrained_true_loads_exactly_those_weights_frozen(tmp_path, weights_dir):
    events = synthetic_events(4)
    result = _pretrain(tmp_path, events)
    # written where `pretrained: true` looks first, as a weights_only file of encoder tensors
    assert result.path == weights_dir / "unet-resnet18.pt"
    saved, meta = read_weights(result.path)
    assert meta["objective"] == OBJECTIVE and meta["steps"] == 2 and meta["format"] == METADATA_FORMAT
    trained_enc = result.fitted.model.decoder.net.encoder.state_dict()
    assert set(saved) == set(trained_enc)
    assert all(torch.equal(saved[k], trained_enc[k]) for k in saved)
    # the pretraining really trained the encoder (it is not its initialisation)
    torch.manual_seed(0)
    fresh = emberxr.create_model(
        "emberformer", in_static=5, patch_size=8, decoder="unet", decoder_config=UNET
    ).decoder.net.encoder.state_dict()
    assert not torch.equal(fresh["layer1.0.conv1.weight"], saved["layer1.0.conv1.weight"])

    # one epoch with freeze_epochs=1: the loaded encoder (BatchNorm statistics included) is frozen
    one = emberxr.fit(events, run_dir=tmp_path / "a", epochs=1, pretrained=True, freeze_epochs=1, **FIT)
    enc = one.model.decoder.net.encoder.state_dict()
    assert all(torch.equal(enc[k], saved[k]) for k in saved if not k.endswith("num_batches_tracked"))
    report = one.model.decoder.load_report
    assert report.metadata["objective"] == OBJECTIVE and not report.new_channels and not report.adapted
    assert f"emberxr pretrain: {OBJECTIVE} on 4 events, 2 steps" in str(report)
    # the second epoch unfreezes the encoder
    two = emberxr.fit(events, run_dir=tmp_path / "b", epochs=2, pretrained=True, freeze_epochs=1, **FIT)
    enc2 = two.model.decoder.net.encoder.state_dict()
    assert not torch.equal(enc2["layer1.0.conv1.weight"], saved["layer1.0.conv1.weight"])
    assert not torch.equal(enc2["bn1.running_mean"], saved["bn1.running_mean"])


def _conv_bn():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


def test_metadata_round_trip_and_half_precision(tmp_path):
    torch.manual_seed(1)
    state = _conv_bn().state_dict()
    state["1.num_batches_tracked"] = torch.tensor(7)
    meta = {"objective": OBJECTIVE, "steps": 12, "input_names": ["a", "b", "c"], "nested": {"x": (1, 2.5)}}
    path = save_weights(tmp_path / "sub" / "w.pt", state, meta)
    loaded = torch.load(path, weights_only=True)  # plain values only
    assert loaded["metadata"] == {
        **meta,
        "nested": {"x": [1, 2.5]},
        "format": METADATA_FORMAT,
        "dtype": "float32",
    }
    half = save_weights(tmp_path / "h.pt", state, meta, dtype=torch.float16)
    tensors, hmeta = read_weights(half)
    assert hmeta["dtype"] == "float16" and tensors["0.weight"].dtype == torch.float16
    assert tensors["1.num_batches_tracked"].dtype == torch.int64  # integer tensors are not cast
    assert torch.allclose(tensors["0.weight"].float(), state["0.weight"], atol=2e-3)
    assert list(tmp_path.glob("**/.*tmp*")) == []  # atomic writes leave nothing behind
    with pytest.raises(TypeError, match=r"metadata\['bad'\] is a object"):
        save_weights(tmp_path / "bad.pt", state, {"bad": object()})
    # loading casts back to the module's dtype and reports the metadata
    torch.manual_seed(2)
    module = _conv_bn()
    report = load_pretrained(module, half)
    assert module[0].weight.dtype == torch.float32 and report.metadata["steps"] == 12
    assert torch.equal(module[0].weight, tensors["0.weight"].float())
    assert int(module[1].num_batches_tracked) == 7


def _named_file(tmp_path, names):
    """A file of emberxr pretrain for a unet encoder whose first conv reads ``names``."""
    torch.manual_seed(3)
    enc = emberxr.create_decoder(
        "unet", context_channels=4, fine_channels=len(names) - 16, **UNET
    ).net.encoder.state_dict()
    meta = {"objective": OBJECTIVE, "encoder": "resnet18", "input_names": names, "first_conv": "conv1.weight"}
    return save_weights(tmp_path / "named.pt", enc, meta), enc


CTX = [f"context:{i}" for i in range(16)]
BASE = ["fire:last", "fire:front", "valid", "history_fraction"]


def test_channels_are_matched_by_name_when_the_data_names_them(tmp_path):
    file_names = [
        *CTX,
        *BASE,
        "static:elevation",
        "static:fuel_model=1",
        "static:fuel_model=2",
        "wind:u",
        "wind:v",
    ]
    path, enc = _named_file(tmp_path, file_names)
    # the fine-tuning data has fuel models 2 and 3 (not 1) and a slope band
    static = ["elevation", "slope", "fuel_model=2", "fuel_model=3"]
    with channel_names(static=static, dynamic=[]):
        model = emberxr.create_model(
            "emberformer",
            in_static=4,
            patch_size=8,
            decoder="unet",
            decoder_config=UNET,
            pretrained=str(path),
        )
    report = model.decoder.load_report
    assert report.new_channels == ["static:slope", "static:fuel_model=3"]
    assert report.dropped_channels == ["static:fuel_model=1"]
    assert report.adapted == ["conv1.weight"] and "zero-initialised" in str(report)
    names = model.decoder.input_names
    w = model.decoder.net.encoder.conv1.weight.detach()
    src = enc["conv1.weight"]
    for j, name in enumerate(names):
        if name in file_names:
            assert torch.equal(w[:, j], src[:, file_names.index(name)]), name
        else:
            assert float(w[:, j].abs().sum()) == 0.0, name
    assert torch.equal(
        model.decoder.net.encoder.layer1[0].conv1.weight.detach(), enc["layer1.0.conv1.weight"]
    )
    # the same kernel mapping as a function
    out, new, dropped = map_input_channels(src, file_names, names)
    assert torch.equal(out, w) and new == report.new_channels and dropped == report.dropped_channels


def test_a_wrong_channel_file_fails_clearly_without_names(tmp_path):
    file_names = [*CTX, *BASE, "static:elevation", "static:slope", "wind:u", "wind:v"]
    path, _ = _named_file(tmp_path, file_names)
    with pytest.raises(WeightsError) as info:  # built outside fit: the data's band names are unknown
        emberxr.create_model(
            "emberformer",
            in_static=5,
            patch_size=8,
            decoder="unet",
            decoder_config=UNET,
            pretrained=str(path),
        )
    msg = str(info.value)
    assert "pretrained for 24 input channels, but this model's encoder has 27" in msg
    assert "static:elevation, static:slope, wind:u" in msg and "emberxr pretrain --data" in msg
    # the same count loads as it is
    model = emberxr.create_model(
        "emberformer", in_static=2, patch_size=8, decoder="unet", decoder_config=UNET, pretrained=str(path)
    )
    assert model.decoder.load_report.adapted == [] and model.decoder.input_names is None
    # a file made for another encoder says so instead of listing keys
    with pytest.raises(
        WeightsError, match=r"made for encoder='resnet18' but this model has encoder='resnet34'"
    ):
        emberxr.create_model(
            "emberformer",
            in_static=2,
            patch_size=8,
            decoder="unet",
            decoder_config={**UNET, "encoder": "resnet34"},
            pretrained=str(path),
        )


def test_a_dry_config_build_only_checks_that_the_file_exists(tmp_path, weights_dir):
    from emberxr.train.config import build_config

    file_names = [*CTX, *BASE, "static:elevation", "wind:u", "wind:v"]
    path, _ = _named_file(tmp_path, file_names)
    weights_dir.mkdir()
    path.rename(weights_dir / "unet-resnet18.pt")
    # built on the meta device with in_static=1 stand-in: no channel check before the data is known
    cfg = build_config("emberformer", None, {"decoder": "unet", "decoder_config": UNET, "pretrained": True})
    assert cfg["model"]["pretrained"] is True


def test_pretrain_rejects_bad_settings_before_reading_data(tmp_path):
    with pytest.raises(ConfigError) as info:
        pretrain("no-such-catalog", decoder="ligth", steps=0, batch_size=-1, dtype="int8")
    msg = str(info.value)
    assert "decoder 'ligth' has no encoder to pretrain" in msg and "did you mean 'light'" not in msg
    assert "steps=0" in msg and "batch_size=-1" in msg and "dtype='int8'" in msg
    with pytest.raises(ConfigError, match="did you mean 'unet'"):
        pretrain("no-such-catalog", decoder="unett")
    with pytest.raises(ConfigError, match="'light' and 'sam' decoders have no pretrainable encoder"):
        pretrain("no-such-catalog", decoder="light")


def test_an_interrupted_pretraining_resumes(tmp_path, weights_dir):
    events = synthetic_events(4)
    first = _pretrain(tmp_path, events, steps=2, output=tmp_path / "a.pt")
    assert len(first.fitted.history) == 2
    again = _pretrain(tmp_path, events, steps=3, output=tmp_path / "b.pt", resume=True)
    # epochs 1-2 came from run_dir/last.pt; only the third ran
    assert again.metadata["steps"] == 3 and [h["epoch"] for h in again.fitted.history] == [1, 2, 3]
    assert again.fitted.history[:2] == first.fitted.history


def test_cli_pretrain(tmp_path, weights_dir, capsys):
    from emberxr.cli import main
    from emberxr.io.events import save_events

    with pytest.raises(SystemExit) as exc:
        main(["pretrain", "--help"])
    assert exc.value.code == 0 and "usage: emberxr pretrain" in capsys.readouterr().out
    store = save_events(synthetic_events(4), tmp_path / "events.zarr")
    args = ["pretrain", "--data", str(store), "--decoder", "segformer", "--steps", "1", "--batch-size", "2"]
    rc = main([*args, "--dtype", "float16", "--run-dir", str(tmp_path / "r"), "--threads", "1", *DATA])
    out = capsys.readouterr().out
    path = weights_dir / "segformer-mit_b0.pt"
    assert rc == 0 and path.is_file() and str(path) in out and "pretrained segformer/mit_b0" in out
    _, meta = read_weights(path)
    assert meta["dtype"] == "float16" and meta["catalog"] == str(store)
    assert meta["command"].startswith("emberxr pretrain --data") and "data.tile_size=16" in meta["command"]
    assert main(["pretrain", "--data", str(store), "--decoder", "light"]) == 1
    assert "has no encoder to pretrain" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"use_wind": False},
        {"use_static": False},
        {"in_dynamic": 2},
        {"in_dynamic": 2, "use_dynamic": False},
    ],
)
def test_fine_names_follow_the_fine_channels(options):
    model = emberxr.create_model("emberformer", in_static=2, patch_size=8, d_model=8, nhead=2, **options)
    names = model.fine_names(["elevation", "fuel_model=1"], ["temp", "rh"][: options.get("in_dynamic", 0)])
    assert len(names) == model.fine_channels and names[:4] == BASE
    assert ("static:elevation" in names) == model.use_static and ("wind:u" in names) == model.use_wind
    assert ("dynamic:rh" in names) == model.use_dynamic
    assert model.fine_names(["elevation"], []) is None or not model.use_static  # a count that does not fit
