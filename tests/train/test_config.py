"""Configuration: defaults, YAML, dotted overrides, sweep dicts, model-owned options, range checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emberxr.errors import ConfigError
from emberxr.train.config import (
    LEAVES,
    LEGACY_KEYS,
    apply_overrides,
    build_config,
    default_config,
    describe,
    flatten,
    load_config,
    model_kwargs,
    model_options,
    validate_config,
)

ROOT = Path(__file__).resolve().parents[2]


def _problems(fn, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_defaults_validate_and_have_four_sections():
    cfg = validate_config({})
    assert cfg == default_config()
    assert set(cfg) == {"model", "data", "training", "wandb"}
    assert cfg["model"] == {"name": "emberformer", "preset": None}
    assert cfg["training"]["dice_weight"] == pytest.approx(0.1)
    assert cfg["training"]["lr_spatial"] == "auto"
    assert validate_config(cfg) == cfg  # idempotent


def test_cli_overrides_are_coerced_to_the_key_type():
    cfg = load_config(
        None,
        [
            "model.d_model=128",
            "training.lr_temporal=1e-3",  # YAML reads 1e-3 as text; it is still a number here
            "training.grad_clip=null",
            "data.tile_size=64",
            "wandb.enabled=false",
        ],
    )
    assert cfg["model"]["d_model"] == 128
    assert isinstance(cfg["training"]["lr_temporal"], float) and cfg["training"]["lr_temporal"] == 1e-3
    assert cfg["training"]["grad_clip"] is None
    assert cfg["data"]["tile_size"] == 64
    assert cfg["wandb"]["enabled"] is False


def test_sweep_flat_dict_and_train_alias():
    cfg = apply_overrides(
        default_config(),
        {"model.num_layers": 6, "train.lr_spatial": 0.0005, "train.batch_size": 4, "model.decoder": "unet"},
    )
    assert cfg["model"]["num_layers"] == 6 and cfg["model"]["decoder"] == "unet"
    assert cfg["training"]["lr_spatial"] == 0.0005
    assert cfg["training"]["batch_size"] == 4


def test_unknown_keys_and_wrong_types_are_all_listed_with_close_matches():
    msg = _problems(
        load_config, {"model": {"d_modle": 3, "nhead": "four"}, "trainig": {}}, ["data.patch_sise=3"]
    )
    assert "4 problem(s)" in msg
    assert "'model.d_modle'" in msg and "'model.d_model'" in msg
    assert "'data.patch_size'" in msg
    assert "did you mean 'training'" in msg
    assert "'model.nhead' is 'four'" in msg and "an integer" in msg


def test_right_name_in_the_wrong_section_is_suggested():
    assert "'model.d_model'" in _problems(load_config, None, ["training.d_model=3"])
    assert "'training.epochs'" in _problems(load_config, None, ["model.epochs=3"])


def test_choices_and_cross_field_checks():
    msg = _problems(
        load_config,
        {"training": {"schedule": "linear", "epochs": 0}, "data": {"tile_size": 30, "patch_size": 16}},
    )
    assert "'cosine'" in msg and "training.epochs" in msg and "multiple" in msg


def test_yaml_file_round_trip(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  name: unets\n  widths: [8, 16]\ntrain:\n  epochs: 3\n  freeze_epochs: 2\n")
    cfg = load_config(p, ["training.seed=7"])
    assert cfg["model"] == {"name": "unets", "preset": None, "widths": [8, 16]}
    assert cfg["training"]["epochs"] == 3 and cfg["training"]["seed"] == 7
    assert cfg["training"]["freeze_epochs"] == 2
    p.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


# --------------------------------------------------------------------------------------------
# keys of older versions
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("old", sorted(LEGACY_KEYS))
def test_every_old_key_names_its_replacement(old):
    section, group, *rest = old.split(".")
    cfg = {section: {group: {rest[0]: 1}}} if rest else {section: {group: "x"}}
    msg = _problems(validate_config, cfg)
    assert repr(old) in msg
    new = LEGACY_KEYS[old]
    assert (repr(new) in msg) if new else "remove it" in msg


def test_old_options_group_and_keyword_name_the_new_form():
    msg = _problems(validate_config, {"model": {"name": "unets", "options": {"widths": [8, 16]}}})
    assert "'model.options.widths'" in msg and "'model.widths'" in msg
    msg = _problems(build_config, "conv2d", None, {"options": {"hidden": 4}})
    assert "'options'" in msg and "hidden=8" in msg


def test_every_shipped_yaml_is_valid():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        if path.name.startswith(("sweep_", "ablate_", "study_")) or path.name == "demo.yaml":
            continue  # sweep and study files (tests/study checks the study files)
        cfg = load_config(path)
        assert cfg["model"]["name"] == path.stem
    from emberxr.demo import load_demo_config, model_config

    spec = load_demo_config(None)  # the one shipped copy
    for name in spec["models"]:
        assert model_config(spec, name)["model"]["name"] == name


def test_sweep_parameters_are_known_keys():
    import yaml

    from emberxr.train.config import is_known_key

    spec = yaml.safe_load((ROOT / "configs" / "sweep_emberformer.yaml").read_text())
    base = load_config(ROOT / "configs" / "emberformer.yaml")
    for key, space in spec["parameters"].items():
        assert is_known_key(key), key
        value = space["values"][0] if "values" in space else space["min"]
        assert apply_overrides(base, {key: value})  # each value validates


# --------------------------------------------------------------------------------------------
# models own their options
# --------------------------------------------------------------------------------------------
def test_model_kwargs_pass_data_owned_values_and_the_models_options():
    from emberxr.registry import get_model_class

    cfg = load_config(None, ["model.decoder=unet", "model.pretrained=/w.pt", "model.d_model=32"])
    ef = model_kwargs(cfg, get_model_class("emberformer"), in_static=5)
    assert ef == {
        "in_static": 5,
        "patch_size": 16,
        "max_history": 6,
        "decoder": "unet",
        "pretrained": "/w.pt",
        "d_model": 32,
    }
    cfg = load_config({"model": {"name": "unets", "widths": [8, 16]}, "data": {"max_history": 1}})
    assert model_kwargs(cfg, get_model_class("unets"), 5) == {
        "in_static": 5,
        "patch_size": 16,
        "max_history": 1,
        "widths": [8, 16],
    }


def test_data_owned_options_are_refused_in_the_model_section():
    msg = _problems(load_config, None, ["model.patch_size=8", "model.in_static=3"])
    assert "'model.patch_size'" in msg and "data.patch_size" in msg and "'model.in_static'" in msg


def test_presets_are_named_option_values_that_explicit_options_override():
    from emberxr.models.emberformer import PRESETS

    cfg = load_config(None, ["model.preset=cpu", "model.num_layers=4"])
    assert model_options(cfg) == {**PRESETS["cpu"], "num_layers": 4}
    assert cfg["model"] == {"name": "emberformer", "preset": "cpu", "num_layers": 4}
    msg = _problems(load_config, None, ["model.preset=cpy"])
    assert "'model.preset'" in msg and "did you mean 'cpu'" in msg
    # U-TAE takes `preset` itself: it is passed along with the preset's values
    from emberxr.models.utae import PRESETS as UTAE_PRESETS
    from emberxr.registry import get_model_class

    cfg = load_config({"model": {"name": "utae", "preset": "paper", "n_head": 8}})
    kw = model_kwargs(cfg, get_model_class("utae"), 2)
    assert kw["preset"] == "paper" and kw["encoder_widths"] == UTAE_PRESETS["paper"]["encoder_widths"]
    assert kw["n_head"] == 8
    assert "has presets" in _problems(load_config, {"model": {"name": "unets", "preset": "big"}})


def test_fit_keywords_map_to_sections_and_model_options():
    cfg = build_config("emberformer", None, {"d_model": 32, "nhead": 2, "epochs": 2, "training__seed": 4})
    assert cfg["model"]["d_model"] == 32 and cfg["model"]["nhead"] == 2
    assert cfg["training"]["epochs"] == 2 and cfg["training"]["seed"] == 4
    cfg = build_config("unets", None, {"widths": [8, 16], "preset": None})
    assert cfg["model"]["widths"] == [8, 16]
    msg = _problems(build_config, "unets", None, {"d_model": 32, "epoch": 3})
    assert "'d_model'" in msg and "'epochs'" in msg


def test_switching_model_says_whose_options_the_config_holds(tmp_path):
    msg = _problems(build_config, "unets", ROOT / "configs" / "emberformer.yaml", {})
    assert "model 'unets' has no option 'd_model'" in msg and "written for model 'emberformer'" in msg


def test_flatten_and_describe():
    flat = flatten(load_config(None, ["model.d_model=32"]))
    assert flat["model.d_model"] == 32 and flat["training.epochs"] == 50
    table = describe()
    for key in LEAVES:
        assert f"| `{key}` |" in table
    assert "| `model.<option>` |" in table and "token_cache_dir" not in table


def test_docs_key_table_is_the_generated_one():
    text = (ROOT / "docs" / "training.md").read_text()
    block = re.search(r"<!-- config:keys:start -->\n(.*?)\n<!-- config:keys:end -->", text, re.S)
    assert block, "docs/training.md lost its generated key table"
    assert block.group(1).strip() == describe().strip(), (
        "docs/training.md is out of date: run `python docs/scripts/config_keys.py --write`"
    )


# --------------------------------------------------------------------------------------------
# every value range- and choice-checked before any data is read (issue 10)
# --------------------------------------------------------------------------------------------
BAD_VALUES = [
    ("training.grad_clip", -1),
    ("training.grad_clip", 0),
    ("training.lr_temporal", -1e-3),
    ("training.lr_spatial", -1e-4),
    ("training.lr_spatial", "fast"),
    ("training.warmup_steps", -5),
    ("training.pos_weight", -3),
    ("training.pos_weight", "many"),
    ("training.device", "gpu0"),
    ("training.device", "cuda:x"),
    ("training.amp", "maybe"),
    ("training.monitor", "val/new_aP"),
    ("training.batch_size", 0),
    ("training.epochs", True),
    ("training.seed", -1),
    ("wandb.mode", "offlin"),
    ("data.max_val_samples", 0),
    ("data.max_train_samples", 0),
    ("data.patch_size", 0),
    ("model.name", "emberfromer"),
]


@pytest.mark.parametrize(("key", "value"), BAD_VALUES, ids=[f"{k}={v}" for k, v in BAD_VALUES])
def test_bad_value_is_a_config_error_naming_the_key(key, value):
    msg = _problems(load_config, None, {key: value})
    assert repr(key) in msg


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("training.device", "cuda:1"),
        ("training.device", "mps"),
        ("training.grad_clip", None),
        ("training.pos_weight", 2),
        ("training.amp", False),
        ("wandb.mode", None),
        ("wandb.mode", "disabled"),
        ("data.max_val_samples", 1),
        ("training.monitor", "val/loss"),
    ],
)
def test_good_values_pass(key, value):
    section, name = key.split(".")
    assert load_config(None, {key: value})[section][name] == value


def test_model_checks_run_at_config_time():
    # the model's own constructor checks, on the meta device, before any data
    msg = _problems(build_config, "emberformer", None, {"d_model": 30, "nhead": 4})
    assert "d_model=30" in msg and "nhead=4" in msg
    assert "dropout=3" in _problems(build_config, "emberformer", None, {"dropout": 3})
    assert "'model.dropout'" in _problems(build_config, "emberformer", None, {"dropout": "high"})
    assert "ltae_dropout=1.5" in _problems(build_config, "utae", None, {"ltae_dropout": 1.5})
    assert build_config("emberformer", None, {"d_model": 32, "nhead": 8})["model"]["nhead"] == 8


def test_pretrained_true_without_a_weight_file_fails_at_config_time(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBERXR_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    msg = _problems(build_config, "emberformer", None, {"decoder": "unet", "pretrained": True})
    assert str(tmp_path / "w" / "unet-resnet18.pt") in msg and "pretrained='/path" in msg
    msg = _problems(build_config, "emberformer", None, {"pretrained": True})  # light has no weights
    assert "'light' decoder has no pretrained weights" in msg


def test_fit_checks_the_config_before_reading_data(tmp_path):
    import emberxr

    missing = tmp_path / "no-such-store.zarr"
    msg = _problems(emberxr.fit, str(missing), model="emberfromer", grad_clip=-1, run_dir=tmp_path / "r")
    assert "'model.name'" in msg and "'training.grad_clip'" in msg and "2 problem(s)" in msg
    assert not (tmp_path / "r").exists()


def test_old_checkpoint_configs_upgrade_to_the_current_layout():
    from emberxr.train.config import upgrade_legacy_config

    old = {
        "model": {
            "name": "emberformer",
            "temporal": {"d_model": 32, "nhead": 4, "num_layers": 2, "token_mode": None},
            "spatial": {
                "decoder_type": "light",
                "pretrained": False,
                "freeze_epochs": 3,
                "spatial_layers": 0,
            },
            "options": {},
        },
        "data": {"token_cache_dir": None, "patch_size": 8},
        "training": {"freeze_epochs": None, "lr_spatial": 1e-4},
    }
    cfg = validate_config(upgrade_legacy_config(old))
    assert cfg["model"] == {
        "name": "emberformer",
        "preset": None,
        "d_model": 32,
        "nhead": 4,
        "num_layers": 2,
        "decoder": "light",
        "pretrained": False,
        "spatial_layers": 0,
    }
    assert cfg["training"]["freeze_epochs"] == 3 and cfg["training"]["lr_spatial"] == 1e-4
    assert cfg["data"]["patch_size"] == 8
    # a U-Net's old config carried EmberFormer's defaults too: they are dropped, its options kept
    unets = {"model": {"name": "unets", "temporal": {"d_model": 64}, "options": {"widths": [8, 16]}}}
    assert validate_config(upgrade_legacy_config(unets))["model"] == {
        "name": "unets",
        "preset": None,
        "widths": [8, 16],
    }
    new = default_config()
    assert upgrade_legacy_config(new) == new


def test_resolved_model_names_every_default_and_tells_architectures_apart():
    from emberxr.train.model_config import resolved_model

    base = {"model": {"preset": "cpu"}, "data": {"patch_size": 8, "max_history": 3}}
    a = resolved_model(build_config("emberformer", base, {}))
    # the decoder's own defaults are there, though the configuration never names them
    assert a["modules"]["decoder"]["widths"] == [16, 32, 48]
    assert a["modules"]["model"]["num_layers"] == 2 and a["modules"]["model"]["decoder"] == "light"
    assert a == resolved_model(build_config("emberformer", base, {}))  # the same build, the same answer
    narrow = resolved_model(
        build_config("emberformer", base, {"model.decoder_config": {"widths": [16, 16, 48]}})
    )
    assert narrow["modules"]["decoder"]["widths"] == [16, 16, 48]
    assert narrow["parameters"] != a["parameters"]  # other parameter shapes
    # an option that changes no shape still changes the description
    drop = resolved_model(build_config("emberformer", base, {"model.dropout": 0.2}))
    assert drop["parameters"] == a["parameters"] and drop["modules"] != a["modules"]
