"""open_event: reader guessing, registry errors and broken plugins."""

from __future__ import annotations

import subprocess
import sys
import warnings
from importlib.metadata import EntryPoint

import pytest
import xarray as xr

import emberxr
from emberxr import plugins
from emberxr.errors import NoReaderError, PluginError, ReaderError, UnknownNameError
from emberxr.plugins import PluginWarning, Registry, _Entry
from emberxr.readers import guess_reader, list_readers
from emberxr.readers.raw_reader import write_raw_event


def test_builtin_readers_are_registered():
    assert {"raw", "zarr"} <= set(list_readers())


def test_guess_picks_the_right_reader(event, tmp_path):
    raw = write_raw_event(event, tmp_path / "raw")
    store = emberxr.save_events([event], tmp_path / "ev.zarr")
    assert guess_reader(raw) == "raw"
    assert guess_reader(store) == "zarr"


def test_no_reader_lists_the_readers_tried(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(NoReaderError) as info:
        emberxr.open_event(tmp_path / "notes.txt")
    msg = str(info.value)
    assert "tried: raw, zarr" in msg and "notes.txt" in msg and "reader=" in msg
    assert isinstance(info.value, ReaderError)


def test_unknown_reader_name_lists_close_matches(event, tmp_path):
    raw = write_raw_event(event, tmp_path / "raw")
    with pytest.raises(UnknownNameError) as info:
        emberxr.open_event(raw, reader="rawr")
    assert "Did you mean 'raw'" in str(info.value) and "Available:" in str(info.value)


def test_missing_path_is_named(tmp_path):
    with pytest.raises(ReaderError, match="does not exist"):
        emberxr.open_event(tmp_path / "nope", reader="raw")


def test_reader_class_or_instance_can_be_passed(event, tmp_path):
    from emberxr.readers.raw_reader import RawReader

    raw = write_raw_event(event, tmp_path / "raw")
    xr.testing.assert_identical(emberxr.open_event(raw, reader=RawReader), event)
    xr.testing.assert_identical(emberxr.open_event(raw, reader=RawReader()), event)


def test_broken_reader_plugin_warns_and_others_still_work(event, tmp_path, monkeypatch):
    reg = Registry("emberxr.readers", "reader")
    reg.names()  # scan the real entry points (raw, zarr)
    ep = EntryPoint(name="aaa_broken", value="emberxr_no_such_module:Reader", group="emberxr.readers")
    reg._entries["aaa_broken"] = _Entry("aaa_broken", "bogus-dist", ep.value, ep=ep)
    monkeypatch.setattr(plugins, "readers", reg)
    raw = write_raw_event(event, tmp_path / "raw")
    with pytest.warns(PluginWarning, match="aaa_broken.*is broken: import failed"):
        got = emberxr.open_event(raw)  # guessing loads every reader; the broken one is skipped
    xr.testing.assert_identical(got, event)
    assert "aaa_broken" not in reg.names()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert guess_reader(raw) == "raw"  # warned once, not again
    with pytest.raises(PluginError, match="'aaa_broken' from dist 'bogus-dist' is broken"):
        emberxr.open_event(raw, reader="aaa_broken")


def test_import_emberxr_stays_lazy():
    code = (
        "import sys, emberxr; emberxr.open_event; "
        "bad = [m for m in ('torch', 'rasterio', 'zarr', 'emberxr.readers.raw_reader') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
