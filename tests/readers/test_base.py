"""The FireReader base class and the guessing order: (priority, name), built-ins first."""

from __future__ import annotations

import pytest
import xarray as xr

import emberxr
from emberxr import plugins
from emberxr.errors import NoReaderError
from emberxr.plugins import Registry
from emberxr.readers import guess_reader
from emberxr.readers.base import BUILTIN_PRIORITY, DEFAULT_PRIORITY, FireReader, reader_priority
from emberxr.readers.raw_reader import RawReader, write_raw_event
from emberxr.readers.zarr_reader import ZarrReader


class GreedyDuck:
    """A duck-typed plugin (no base class) that claims every path."""

    description = "claims everything"

    def guess_can_open(self, path):
        return True

    def open(self, path, **kwargs):
        raise AssertionError("should not be used")


class Eager(FireReader):
    name = "eager"
    description = "claims everything, before the built-ins"
    priority = BUILTIN_PRIORITY + 10

    def guess_can_open(self, path):
        return True

    def open(self, path, **kwargs):
        return xr.Dataset()


@pytest.fixture
def registry(monkeypatch):
    reg = Registry("emberxr.readers", "reader")
    reg.names()  # the real entry points: raw, zarr
    monkeypatch.setattr(plugins, "readers", reg)
    return reg


def test_builtins_subclass_the_base_with_the_builtin_priority():
    for cls in (RawReader, ZarrReader):
        assert issubclass(cls, FireReader) and cls.priority == BUILTIN_PRIORITY
        assert cls.name and cls.description
    assert repr(RawReader()) == "RawReader()"


def test_the_base_needs_open():
    class NoOpen(FireReader):
        name = "x"

    class Minimal(NoOpen):
        def open(self, path, **kwargs):
            return xr.Dataset()

    with pytest.raises(TypeError, match="abstract"):
        NoOpen()
    assert Minimal().guess_can_open("x") is False and Minimal().diagnose("x") is None
    assert Minimal.priority == DEFAULT_PRIORITY


def test_priority_of_duck_typed_readers_is_the_default():
    assert reader_priority(GreedyDuck) == DEFAULT_PRIORITY == 0
    assert reader_priority(Eager()) == BUILTIN_PRIORITY + 10
    assert reader_priority(type("Odd", (), {"priority": "high"})) == DEFAULT_PRIORITY


def test_a_plugin_named_aaa_no_longer_outranks_the_builtins(registry, event, tmp_path):
    registry.register("aaa")(GreedyDuck)
    raw = write_raw_event(event, tmp_path / "raw")
    store = emberxr.save_events([event], tmp_path / "ev.zarr")
    assert guess_reader(raw) == "raw" and guess_reader(store) == "zarr"
    assert guess_reader(tmp_path / "notes.txt") == "aaa"  # what no built-in claims
    xr.testing.assert_identical(emberxr.open_event(raw), event)


def test_a_higher_priority_outranks_the_builtins(registry, event, tmp_path):
    registry.register("zzz")(Eager)
    raw = write_raw_event(event, tmp_path / "raw")
    assert guess_reader(raw) == "zzz"


def test_no_reader_lists_readers_in_guessing_order(registry, tmp_path):
    class Shy(FireReader):
        name = "aaa_shy"

        def open(self, path, **kwargs):
            return xr.Dataset()

    class Picky(Shy):
        priority = 99

    registry.register("aaa_shy")(Shy)
    registry.register("picky")(Picky)
    with pytest.raises(
        NoReaderError, match=r"tried: picky, raw, zarr, ndws, wildfirespreadts, aaa_shy, datacube\."
    ):
        guess_reader(tmp_path)
