"""Config schema: defaults, YAML, dotted overrides, sweep dicts, validation errors, model kwargs."""

from __future__ import annotations

import pytest

from emberxr.errors import ConfigError
from emberxr.train.config import (
    apply_overrides,
    default_config,
    describe,
    flatten,
    freeze_epochs,
    load_config,
    model_kwargs,
    validate_config,
)


def test_defaults_validate_and_have_the_notes_structure():
    cfg = validate_config({})
    assert cfg == default_config()
    assert set(cfg) == {"model", "data", "training", "wandb"}
    assert cfg["model"]["temporal"]["d_model"] == 64
    assert cfg["training"]["dice_weight"] == pytest.approx(0.1)


def test_cli_overrides_are_coerced_to_the_key_type():
    cfg = load_config(
        None,
        [
            "model.temporal.d_model=128",
            "training.lr_temporal=1e-3",
            "training.grad_clip=null",
            "data.tile_size=64",
            "wandb.enabled=false",
            "training.dropout_is_not_here=1",
        ][:5],
    )
    assert cfg["model"]["temporal"]["d_model"] == 128
    assert isinstance(cfg["training"]["lr_temporal"], float) and cfg["training"]["lr_temporal"] == 1e-3
    assert cfg["training"]["grad_clip"] is None
    assert cfg["data"]["tile_size"] == 64
    assert cfg["wandb"]["enabled"] is False


def test_sweep_flat_dict_and_train_alias():
    cfg = apply_overrides(
        default_config(), {"model.temporal.num_layers": 6, "train.lr_spatial": 0.0005, "train.batch_size": 4}
    )
    assert cfg["model"]["temporal"]["num_layers"] == 6
    assert cfg["training"]["lr_spatial"] == 0.0005
    assert cfg["training"]["batch_size"] == 4


def test_unknown_keys_and_wrong_types_are_all_listed_with_close_matches():
    with pytest.raises(ConfigError) as exc:
        load_config(
            {"model": {"temporal": {"d_modle": 3, "nhead": "four"}}, "trainig": {}}, ["data.patch_sise=3"]
        )
    err = exc.value
    msg = str(err)
    assert len(err.problems) == 4
    assert "'model.temporal.d_modle'" in msg and "'model.temporal.d_model'" in msg
    assert "'data.patch_size'" in msg
    assert "did you mean 'training'" in msg
    assert "'model.temporal.nhead' must be int" in msg


def test_right_name_in_wrong_section_is_suggested():
    with pytest.raises(ConfigError, match=r"model\.temporal\.d_model"):
        load_config(None, ["model.d_model=3"])


def test_choices_and_range_checks():
    with pytest.raises(ConfigError) as exc:
        load_config(
            {"training": {"schedule": "linear", "epochs": 0}, "data": {"tile_size": 30, "patch_size": 16}}
        )
    msg = str(exc.value)
    assert "'cosine'" in msg and "training.epochs" in msg and "multiple" in msg


def test_yaml_file_round_trip(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  name: unets\n  spatial: {freeze_epochs: 2}\ntrain:\n  epochs: 3\n")
    cfg = load_config(p, ["training.seed=7"])
    assert cfg["model"]["name"] == "unets" and cfg["training"]["epochs"] == 3 and cfg["training"]["seed"] == 7
    assert freeze_epochs(cfg) == 2
    p.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_model_kwargs_map_the_notes_keys_and_drop_foreign_ones():
    from emberxr.registry import get_model_class

    cfg = load_config(
        None,
        ["model.spatial.decoder_type=unet", "model.spatial.pretrained=/w.pt", "model.temporal.d_model=32"],
    )
    ef = model_kwargs(cfg, get_model_class("emberformer"), in_static=5)
    assert (
        ef["decoder"] == "unet"
        and ef["decoder_weights"] == "/w.pt"
        and ef["d_model"] == 32
        and ef["in_static"] == 5
    )
    un = model_kwargs(cfg, get_model_class("unets"), in_static=5)
    assert "d_model" not in un and "decoder" not in un and un["patch_size"] == 16
    cfg = apply_overrides(cfg, {"model.options": {"widths": [8, 16]}})
    assert model_kwargs(cfg, get_model_class("unets"), 5)["widths"] == [8, 16]


def test_flatten_and_describe():
    flat = flatten(default_config())
    assert flat["model.temporal.d_model"] == 64 and "training.epochs" in flat
    assert "| `model.temporal.d_model` |" in describe()
