"""Constructor arguments recorded by the base class (``emberxr.configurable``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import emberxr
from emberxr.configurable import Configurable
from emberxr.decoders.base import FireDecoder
from emberxr.errors import ConfigError
from emberxr.models.base import FireModel, ModelRequirements, apply_valid, last_frame


class Plain(Configurable):
    def __init__(self, a: int, b: float = 0.5, sizes: tuple[int, ...] = (1, 2), opts: dict | None = None):
        self.sum = a + b


class Child(Plain):
    def __init__(self, c: str = "x", **kwargs):
        super().__init__(**kwargs)
        self.c = c


class GrandChild(Child):
    pass


def test_arguments_recorded_with_defaults_and_as_json():
    obj = Plain(3, sizes=(4, 5, 6))
    assert obj.config == {"a": 3, "b": 0.5, "sizes": [4, 5, 6], "opts": None}
    assert obj.sum == 3.5  # the constructor itself ran
    cfg = Plain(np.int64(2), b=np.float32(0.25), opts={"path": Path("/tmp/w.pt")}).config
    assert cfg == {"a": 2, "b": 0.25, "sizes": [1, 2], "opts": {"path": "/tmp/w.pt"}}
    assert type(cfg["a"]) is int and type(cfg["b"]) is float
    assert json.loads(json.dumps(cfg)) == cfg


def test_nested_values_are_copied_both_ways():
    opts = {"inner": {"widths": [1, 2]}}
    obj = Plain(1, opts=opts)
    opts["inner"]["widths"].append(3)  # the caller changes its dict afterwards
    opts["new"] = 1
    assert obj.config["opts"] == {"inner": {"widths": [1, 2]}}
    got = obj.config
    got["opts"]["inner"]["widths"].clear()  # and changing what config returned changes nothing
    assert obj.config["opts"] == {"inner": {"widths": [1, 2]}}


def test_only_the_outermost_constructor_records():
    assert Child(c="y", a=1).config == {"c": "y", "a": 1}
    # a subclass without its own __init__ records through the inherited one
    assert GrandChild(a=2, b=1.0).config == {"c": "x", "a": 2, "b": 1.0}
    assert Plain(a=7).config["a"] == 7  # the parent alone records its own arguments


def test_bad_arguments_raise_pythons_own_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'zzz'"):
        Plain(1, zzz=2)
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        Plain()


def test_failed_constructor_records_nothing_and_next_build_works():
    class Fails(Configurable):
        def __init__(self, x: int = 0):
            if x < 0:
                raise ValueError("x must be >= 0")

    with pytest.raises(ValueError):
        Fails(-1)
    assert Fails(2).config == {"x": 2}


class _Tiny(FireModel):
    requires = ModelRequirements(max_history=8, uses_static=False, uses_wind=False)

    def __init__(self, in_static: int = 0, patch_size: int = 16, max_history: int = 8, extra=None):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, batch):
        return apply_valid(self.scale * last_frame(batch), batch)


def test_model_max_history_becomes_instance_requirement():
    model = _Tiny(max_history=3)
    assert model.requires.max_history == 3 and _Tiny.requires.max_history == 8
    assert _Tiny().requires is _Tiny.requires
    assert "max_history=3" in repr(model)


def test_values_without_json_form_fail_clearly_when_config_is_read():
    model = _Tiny(extra=torch.zeros(2))
    model(emberxr.testing.make_batch(B=1, T=2, H=8, W=8, in_static=0, patch_size=8))  # still usable
    with pytest.raises(ConfigError) as info:
        _ = model.config
    msg = str(info.value)
    assert "_Tiny argument 'extra' is a torch.Tensor" in msg and "plain values" in msg

    class Unregistered(FireDecoder):
        pass

    with pytest.raises(ConfigError) as info:
        _ = _Tiny(extra={"decoder": Unregistered, 1: "int key"}).config
    msg = str(info.value)
    assert "2 problem(s)" in msg and "has the key 1 (int)" in msg
    assert "extra'['decoder'] is the class" in msg and "Unregistered, which is not registered" in msg


def test_positional_only_and_star_args_cannot_be_rebuilt():
    class Pos(Configurable):
        def __init__(self, a, /, *rest, b=1):
            pass

    with pytest.raises(ConfigError) as info:
        _ = Pos(1, 2, 3).config
    msg = str(info.value)
    assert "'a' is positional-only" in msg and "2 extra positional argument(s) (*rest)" in msg


def test_registered_decoder_class_is_recorded_by_name():
    from emberxr.decoders.light import LightDecoder

    model = emberxr.create_model("emberformer", decoder=LightDecoder, d_model=16, nhead=2, patch_size=8)
    assert model.config["decoder"] == "light"
    again = emberxr.create_model("emberformer", **model.config)
    assert type(again.decoder) is LightDecoder


def _same_model(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("name", emberxr.list_models())
def test_every_model_round_trips_through_create_model(name):
    torch.manual_seed(0)
    model = emberxr.create_model(name, in_static=2, patch_size=8, max_history=3)
    cfg = json.loads(json.dumps(model.config))  # what a checkpoint stores
    assert {"in_static": 2, "patch_size": 8, "max_history": 3}.items() <= cfg.items()
    torch.manual_seed(0)
    again = emberxr.create_model(name, **cfg)
    assert type(again) is type(model) and again.config == model.config
    assert again.requires == model.requires
    _same_model(model, again)


@pytest.mark.parametrize("name", emberxr.list_decoders())
def test_every_decoder_round_trips_through_create_decoder(name):
    torch.manual_seed(0)
    dec = emberxr.create_decoder(name, context_channels=8, fine_channels=5, patch_size=8)
    cfg = json.loads(json.dumps(dec.config))
    assert {
        "context_channels": 8,
        "fine_channels": 5,
        "patch_size": 8,
        "weights": None,
    }.items() <= cfg.items()
    torch.manual_seed(0)
    again = emberxr.create_decoder(name, **cfg)
    assert type(again) is type(dec) and again.config == dec.config
    _same_model(dec, again)


def test_positional_arguments_are_recorded_by_name():
    from emberxr.decoders.light import LightDecoder

    dec = LightDecoder(8, 5, 4, None, (4, 8, 8))
    assert dec.config == {
        "context_channels": 8,
        "fine_channels": 5,
        "patch_size": 4,
        "weights": None,
        "widths": [4, 8, 8],
        "merge": "add",  # a default, recorded too
    }
