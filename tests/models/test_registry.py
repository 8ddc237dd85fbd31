"""The model/decoder registry: listing, creation by name or class, errors, config round trip."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
import torch

import emberxr
from emberxr.errors import ConfigError, PluginError, UnknownNameError
from emberxr.models.base import FireModel, ModelRequirements, apply_valid, last_frame
from emberxr.plugins import PluginWarning
from emberxr.registry import create_decoder, list_decoders, list_models
from emberxr.testing import make_batch

BUILTIN_MODELS = ["conv2d", "copylast", "emberformer", "tiny3d", "unets", "utae"]


def test_builtins_listed_and_pattern_filters():
    assert set(BUILTIN_MODELS) <= set(emberxr.list_models())
    assert emberxr.list_models("u*") == [n for n in list_models() if n.startswith("u")]
    assert "utae" in emberxr.list_models("u*") and "emberformer" not in emberxr.list_models("u*")
    assert {"light", "unet", "segformer"} <= set(emberxr.list_decoders())
    assert list_decoders("seg*") == ["segformer"]


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownNameError) as info:
        emberxr.create_model("emberfomer", in_static=2)
    msg = str(info.value)
    assert "'emberformer'" in msg and "Did you mean" in msg
    with pytest.raises(UnknownNameError, match="'unet'"):
        create_decoder("unett", context_channels=4, fine_channels=4)


def test_unknown_and_missing_options_listed_together():
    with pytest.raises(ConfigError) as info:
        emberxr.create_model("conv2d", in_static=2, hiden=8, layerz=2)
    msg = str(info.value)
    assert "2 problem(s)" in msg and "'hidden'" in msg and "'layers'" in msg


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_config_is_json_and_rebuilds_same_architecture(name):
    model = emberxr.create_model(name, in_static=3, patch_size=8, max_history=4)
    cfg = json.loads(json.dumps(model.config))
    assert cfg["in_static"] == 3 and cfg["patch_size"] == 8 and cfg["max_history"] == 4
    again = emberxr.create_model(name, **cfg)
    assert again.config == model.config
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in again.state_dict().items()}
    assert isinstance(model, FireModel) and isinstance(model.requires, ModelRequirements)


def test_class_may_be_passed_and_registered_in_process():
    class Doubler(FireModel):
        requires = ModelRequirements(max_history=1, uses_static=False, uses_wind=False)

        def __init__(
            self, in_static: int = 0, patch_size: int = 16, max_history: int = 1, scale: float = 2.0
        ):
            super().__init__()
            self.scale = scale

        def forward(self, batch):
            return apply_valid(self.scale * (last_frame(batch) - 0.5), batch)

    batch = make_batch(B=2, T=3, H=16, W=16, in_static=1, patch_size=8)
    m = emberxr.create_model(Doubler, scale=4.0)
    out = m(batch)
    assert out.shape == (2, 1, 16, 16)
    emberxr.register_model("doubler-test")(Doubler)
    try:
        assert "doubler-test" in emberxr.list_models()
        assert emberxr.create_model("doubler-test").scale == 2.0
    finally:
        from emberxr import plugins

        plugins.models.unregister("doubler-test")
    assert "doubler-test" not in emberxr.list_models()


def test_copylast_uses_last_real_frame_and_valid_mask():
    batch = make_batch(B=3, T=4, H=16, W=16, in_static=1, patch_size=8, hist_lens=[4, 2, 1])
    # put a decoy in a padded slot: copylast must ignore it
    batch["fire"][2, 0] = 1.0
    out = emberxr.create_model("copylast")(batch)
    expected_fire = batch["fire"][:, -1:] > 0.5
    inside = batch["valid"]
    assert torch.equal((out > 0)[inside], expected_fire[inside])
    assert bool((out[~inside] < -7).all())
    assert list(emberxr.create_model("copylast").parameters()) == []


def test_import_emberxr_stays_light():
    code = (
        "import sys, emberxr; emberxr.list_models(); "
        "print(int('torch' in sys.modules), int('emberxr.models.emberformer' in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["0", "0"]


def test_register_without_name_uses_class_name():
    from emberxr import plugins

    class MyTinyModel(FireModel):
        def __init__(self, in_static: int = 0, patch_size: int = 16, max_history: int = 1):
            super().__init__()

        def forward(self, batch):
            return apply_valid(last_frame(batch), batch)

    emberxr.register_model()(MyTinyModel)
    try:
        assert "mytinymodel" in emberxr.list_models()
    finally:
        plugins.models.unregister("mytinymodel")


def test_register_checks_the_type():
    from emberxr import plugins
    from emberxr.decoders.light import LightDecoder

    with pytest.raises(PluginError, match=r"not a subclass of emberxr\.models\.base\.FireModel"):
        emberxr.register_model("light-as-model")(LightDecoder)
    with pytest.raises(PluginError, match=r"not a subclass of emberxr\.decoders\.base\.FireDecoder"):
        emberxr.register_decoder("fn")(lambda context, fine: context)

    class NoOpen:
        def guess_can_open(self, path):
            return False

    with pytest.raises(PluginError, match="callable open"):
        emberxr.register_reader("no-open")(NoOpen)
    assert "light-as-model" not in emberxr.list_models() and "no-open" not in emberxr.list_readers()
    assert "fn" not in plugins.decoders.names()
    # a class given directly is checked the same way
    with pytest.raises(PluginError, match=r"cannot be used as a model.*list_models\(\)"):
        emberxr.create_model(LightDecoder)
    with pytest.raises(PluginError, match="cannot be used as a reader"):
        emberxr.registry.get_reader(NoOpen())


def test_register_over_a_taken_name_warns_naming_both():
    from emberxr import plugins
    from emberxr.decoders.light import LightDecoder

    class Replacement(LightDecoder):
        pass

    with pytest.warns(PluginWarning) as record:
        emberxr.register_decoder("light")(Replacement)
    try:
        msg = str(record[0].message)
        assert "decoder 'light' registered again" in msg
        assert "Replacement" in msg and "emberxr.decoders.light:LightDecoder from emberxr" in msg
        assert emberxr.registry.get_decoder_class("light") is Replacement
    finally:
        plugins.decoders.unregister("light")
        plugins.decoders.refresh()  # read the entry points again: the built-in comes back
    assert emberxr.registry.get_decoder_class("light") is LightDecoder


def test_registering_the_same_object_again_is_silent():
    from emberxr import plugins

    class Once(FireModel):
        def forward(self, batch):
            return apply_valid(last_frame(batch), batch)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emberxr.register_model("once-test")(Once)
        emberxr.register_model("once-test")(Once)
    plugins.models.unregister("once-test")


def test_reader_facade_lists_and_returns_instances(tmp_path):
    from emberxr.readers.zarr_reader import ZarrReader

    assert {"raw", "zarr"} <= set(emberxr.list_readers()) and emberxr.list_readers("z*") == ["zarr"]
    assert isinstance(emberxr.registry.get_reader("zarr"), ZarrReader)
    given = ZarrReader()
    assert emberxr.registry.get_reader(given) is given
    with pytest.raises(UnknownNameError, match="Did you mean 'zarr'"):
        emberxr.registry.get_reader("zar")
    with pytest.raises(ValueError, match="model, decoder, reader"):
        emberxr.broken_plugins("models")
    assert emberxr.broken_plugins() == []
