"""Offline pretrained weights: local file round trip with first-conv adaptation; hub names fail fast."""

from __future__ import annotations

import pytest
import torch

import emberxr
from emberxr.decoders.weights import adapt_input_conv, load_pretrained
from emberxr.errors import WeightsError

timm = pytest.importorskip("timm")


def _resnet18_file(tmp_path):
    torch.manual_seed(1)
    state = timm.create_model("resnet18", pretrained=False).state_dict()  # 3 input channels, with fc
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return path, state


def test_local_file_loads_into_unet_encoder_with_first_conv_adapted(tmp_path):
    path, state = _resnet18_file(tmp_path)
    model = emberxr.create_model(
        "emberformer",
        in_static=3,
        patch_size=8,
        d_model=16,
        nhead=2,
        num_layers=1,
        decoder="unet",
        decoder_weights=str(path),
        decoder_config={"encoder_depth": 3, "decoder_channels": [32, 16, 8]},
    )
    enc = model.decoder.net.encoder.state_dict()
    report = model.decoder.load_report
    assert report.adapted == ["conv1.weight"] and "fc.weight" in report.ignored
    for key, value in enc.items():
        if key == "conv1.weight":
            continue
        assert torch.equal(value, state[key]), key
    cin = enc["conv1.weight"].shape[1]
    assert cin == 16 + model.fine_channels
    assert torch.allclose(enc["conv1.weight"], adapt_input_conv(state["conv1.weight"], cin))
    # tiled over the channels: channel c reuses RGB channel c % 3, scaled by 3 / C
    assert torch.allclose(enc["conv1.weight"][:, 4], state["conv1.weight"][:, 1] * 3 / cin)
    assert model.config["decoder_weights"] == str(path)


def test_adapt_input_conv_single_channel_sums():
    w = torch.randn(4, 3, 3, 3)
    assert torch.allclose(adapt_input_conv(w, 1), w.sum(1, keepdim=True))
    assert adapt_input_conv(w, 3).equal(w)


def test_hub_name_without_network_fails_fast_and_says_how(monkeypatch):
    monkeypatch.delenv("EMBERXR_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(WeightsError) as info:
        emberxr.create_model(
            "emberformer", in_static=2, patch_size=8, decoder="unet", decoder_weights="resnet18.a1_in1k"
        )
    msg = str(info.value)
    assert "decoder_weights=" in msg and "EMBERXR_ALLOW_DOWNLOAD=1" in msg and ".pth" in msg


def test_missing_file_and_wrong_architecture_are_weights_errors(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_pretrained(torch.nn.Conv2d(3, 4, 3), str(tmp_path / "nope.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7)}, bad)
    enc = timm.create_model("resnet18", pretrained=False, num_classes=0)
    with pytest.raises(WeightsError) as info:
        load_pretrained(enc, bad)
    assert "missing 'bn1.weight'" in str(info.value) and "conv1.weight" in str(info.value)


def test_light_decoder_refuses_weights():
    with pytest.raises(WeightsError, match="no pretrained weights"):
        emberxr.create_model("emberformer", in_static=2, patch_size=8, decoder_weights="x.pth")


def test_local_file_loads_into_segformer_encoder(tmp_path):
    smp = pytest.importorskip("segmentation_models_pytorch")
    torch.manual_seed(2)
    state = smp.encoders.get_encoder("mit_b0", in_channels=3, weights=None).state_dict()
    path = tmp_path / "mit_b0.pth"
    torch.save({f"encoder.{k}": v for k, v in state.items()}, path)
    from emberxr.registry import create_decoder

    dec = create_decoder("segformer", context_channels=8, fine_channels=5, weights=str(path))
    loaded = dec.net.encoder.state_dict()
    first = dec.load_report.adapted
    assert first == ["patch_embed1.proj.weight"]
    assert loaded[first[0]].shape[1] == 16 + 5
    assert all(torch.equal(loaded[k], state[k]) for k in state if k not in first)
    assert {id(p) for p in dec.pretrained_parameters()} == {id(p) for p in dec.net.encoder.parameters()}
