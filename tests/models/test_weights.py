"""Offline pretrained weights: default location, local files, first-conv adaptation, strict key matching."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import emberxr
from emberxr.decoders.weights import (
    adapt_input_conv,
    default_weights_path,
    load_pretrained,
    package_weights_dir,
    weights_dirs,
)
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
        pretrained=str(path),
        decoder_config={"encoder_depth": 3, "decoder_channels": [32, 16, 8]},
    )
    enc = model.decoder.net.encoder.state_dict()
    report = model.decoder.load_report
    # the classifier head is the only thing left out, and the report says so
    assert report.adapted == ["conv1.weight"] and report.ignored == ["fc.bias", "fc.weight"]
    assert "ignored (classifier head): fc.bias, fc.weight" in str(report)
    for key, value in enc.items():
        if key == "conv1.weight":
            continue
        assert torch.equal(value, state[key]), key
    cin = enc["conv1.weight"].shape[1]
    assert cin == 16 + model.fine_channels
    assert torch.allclose(enc["conv1.weight"], adapt_input_conv(state["conv1.weight"], cin))
    # tiled over the channels: channel c reuses RGB channel c % 3, scaled by 3 / C
    assert torch.allclose(enc["conv1.weight"][:, 4], state["conv1.weight"][:, 1] * 3 / cin)
    assert model.config["pretrained"] == str(path)
    assert {id(p) for p in model.pretrained_parameters()} == {
        id(p) for p in model.decoder.net.encoder.parameters()
    }


def test_adapt_input_conv_single_channel_sums():
    w = torch.randn(4, 3, 3, 3)
    assert torch.allclose(adapt_input_conv(w, 1), w.sum(1, keepdim=True))
    assert adapt_input_conv(w, 3).equal(w)


def test_hub_name_fails_fast_and_says_how_to_make_a_local_file():
    with pytest.raises(WeightsError) as info:
        emberxr.create_model(
            "emberformer", in_static=2, patch_size=8, decoder="unet", pretrained="resnet18.a1_in1k"
        )
    msg = str(info.value)
    assert "does not download" in msg and "pretrained='/path/to/resnet18.a1_in1k.pth'" in msg
    assert "unet-resnet18.pt" in msg


def _small_unet(**kw):
    return emberxr.create_model(
        "emberformer",
        in_static=1,
        patch_size=8,
        d_model=8,
        nhead=2,
        num_layers=1,
        decoder="unet",
        decoder_config={"encoder_depth": 3, "decoder_channels": [16, 8, 8]},
        **kw,
    )


def test_pretrained_true_loads_the_default_file_env_dir_first(tmp_path, monkeypatch):
    env_dir, cache = tmp_path / "env", tmp_path / "xdg"
    monkeypatch.setenv("EMBERXR_WEIGHTS_DIR", str(env_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    # the package's shipped files come last: a file of the user's own always wins
    assert weights_dirs() == [env_dir, cache / "emberxr" / "weights", package_weights_dir()]
    assert package_weights_dir() == Path(emberxr.__file__).parent / "_weights"
    with pytest.raises(WeightsError) as info:
        _small_unet(pretrained=True)
    msg = str(info.value)  # says exactly where to put a file, and how to pass one instead
    assert (
        str(env_dir / "unet-resnet18.pt") in msg
        and str(cache / "emberxr" / "weights" / "unet-resnet18.pt") in msg
    )
    assert "pretrained='/path/to/weights.pt'" in msg and "pretrained=false" in msg
    # the cache directory is used when the environment's directory has no file ...
    torch.manual_seed(3)
    state = timm.create_model("resnet18", pretrained=False).state_dict()
    (cache / "emberxr" / "weights").mkdir(parents=True)
    torch.save(state, cache / "emberxr" / "weights" / "unet-resnet18.pt")
    assert default_weights_path("unet", "resnet18") == cache / "emberxr" / "weights" / "unet-resnet18.pt"
    model = _small_unet(pretrained=True)
    assert torch.equal(
        model.decoder.net.encoder.state_dict()["layer1.0.conv1.weight"], state["layer1.0.conv1.weight"]
    )
    assert model.config["pretrained"] is True and model.pretrained_parameters()
    # ... and $EMBERXR_WEIGHTS_DIR wins when it has one
    env_dir.mkdir()
    torch.manual_seed(4)
    other = timm.create_model("resnet18", pretrained=False).state_dict()
    torch.save(other, env_dir / "unet-resnet18.pt")
    model = _small_unet(pretrained=True)
    assert torch.equal(
        model.decoder.net.encoder.state_dict()["layer1.0.conv1.weight"], other["layer1.0.conv1.weight"]
    )


def test_random_initialisation_has_no_pretrained_parameters():
    model = _small_unet(pretrained=False)
    assert model.decoder.load_report is None and model.pretrained_parameters() == []


def test_resnet34_file_into_resnet18_fails_listing_the_unused_tensors(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save(timm.create_model("resnet34", pretrained=False).state_dict(), path)
    with pytest.raises(WeightsError) as info:
        _small_unet(pretrained=str(path))
    msg = str(info.value)
    assert "96 tensors of the file would be unused" in msg
    assert "unused 'layer1.2.conv1.weight'" in msg and "... and" in msg
    assert "fc.weight" not in msg  # the head alone would have been fine (96 + fc.weight, fc.bias = 98)


def test_missing_file_and_wrong_architecture_are_weights_errors(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_pretrained(torch.nn.Conv2d(3, 4, 3), str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsError, match="does not exist"):
        _small_unet(pretrained=str(tmp_path / "nope.pth"))
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="could not read weights file"):
        load_pretrained(torch.nn.Conv2d(3, 4, 3), broken)
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7)}, bad)
    enc = timm.create_model("resnet18", pretrained=False, num_classes=0)
    with pytest.raises(WeightsError) as info:
        load_pretrained(enc, bad)
    assert "missing 'bn1.weight'" in str(info.value) and "conv1.weight" in str(info.value)


@pytest.mark.parametrize("pretrained", [True, "x.pth"])
def test_light_decoder_refuses_weights(pretrained):
    with pytest.raises(WeightsError, match="no pretrained weights"):
        emberxr.create_model("emberformer", in_static=2, patch_size=8, pretrained=pretrained)


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


def test_rebuilding_from_a_checkpoint_needs_no_weight_file(tmp_path, monkeypatch):
    from emberxr.decoders.weights import skip_weight_files

    monkeypatch.setenv("EMBERXR_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), tmp_path / "unet-resnet18.pt")
    trained = _small_unet(pretrained=True)
    (tmp_path / "unet-resnet18.pt").unlink()  # the file is gone; the checkpoint has every tensor
    with pytest.raises(WeightsError):
        _small_unet(**{"pretrained": True})
    with skip_weight_files():
        again = emberxr.create_model("emberformer", **trained.config)
    again.load_state_dict(trained.state_dict())
    assert again.config == trained.config and again.pretrained_parameters() == []


def test_the_package_folder_is_the_last_fallback(tmp_path, monkeypatch):
    """A file shipped in ``emberxr/_weights`` is found when neither the user's directory nor the cache
    has one, and never suggested as the place to put a file."""
    import emberxr.decoders.weights as weights

    shipped = tmp_path / "pkg"
    monkeypatch.setattr(weights, "package_weights_dir", lambda: shipped)
    monkeypatch.setenv("EMBERXR_WEIGHTS_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with pytest.raises(WeightsError) as info:
        default_weights_path("segformer", "mit_b0")
    assert str(shipped) not in str(info.value) and "emberxr pretrain --decoder segformer" in str(info.value)
    shipped.mkdir()
    torch.save({}, shipped / "segformer-mit_b0.pt")
    assert default_weights_path("segformer", "mit_b0") == shipped / "segformer-mit_b0.pt"
    (tmp_path / "xdg" / "emberxr" / "weights").mkdir(parents=True)
    torch.save({}, tmp_path / "xdg" / "emberxr" / "weights" / "segformer-mit_b0.pt")
    assert (
        default_weights_path("segformer", "mit_b0")
        == tmp_path / "xdg" / "emberxr" / "weights" / "segformer-mit_b0.pt"
    )
