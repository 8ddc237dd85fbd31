"""Plugins through entry points: the example FPN decoder package, and a broken plugin."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "emberxr-fpn-decoder"


def _env(path: Path) -> dict[str, str]:
    """The environment of a Python that has the packages installed in ``path`` (a pip ``--target``)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), os.environ.get("PYTHONPATH", "")])}


def _run(code: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=_env(path),
        timeout=300,
    )


@pytest.fixture(scope="module")
def fpn_target(tmp_path_factory):
    """The example plugin pip-installed into a throwaway target directory."""
    work = tmp_path_factory.mktemp("fpn")
    src = work / "src"
    shutil.copytree(PLUGIN, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = work / "site"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-q",
        "--target",
        str(target),
        str(src),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode:
        pytest.fail(f"pip install of the example plugin failed:\n{done.stderr}")
    return target


def test_installed_plugin_is_listed_and_usable_by_name(fpn_target):
    done = _run(
        """
        import json, torch
        torch.set_num_threads(1)
        import emberxr
        from emberxr import plugins
        from emberxr.testing import make_batch
        m = emberxr.create_model("emberformer", decoder="fpn", in_static=4, patch_size=8, d_model=16, nhead=2)
        out = m(make_batch(B=2, T=3, H=32, W=32, in_static=4, patch_size=8))
        print(json.dumps({"decoders": emberxr.list_decoders(), "shape": list(out.shape),
                          "type": type(m.decoder).__module__, "config": m.config["decoder"],
                          "sources": plugins.decoders.sources()["fpn"]}))
        """,
        fpn_target,
    )
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout.strip().splitlines()[-1])
    assert "fpn" in res["decoders"] and {"light", "unet", "segformer"} <= set(res["decoders"])
    assert res["shape"] == [2, 1, 32, 32]
    assert res["type"] == "emberxr_fpn" and res["config"] == "fpn"
    assert res["sources"].startswith("emberxr-fpn-decoder")


def test_plugin_tests_parametrise_over_the_conformance_cases(fpn_target, tmp_path):
    """The plugin's own pytest file (``conformance_cases("fpn")``) runs one passing test per check."""
    from emberxr.testing import CHECKS

    env = {**_env(fpn_target), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rfE",
            str(fpn_target.parent / "src" / "tests"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    n_checks = sum("decoder" in c.applies_to for c in CHECKS) + sum("model" in c.applies_to for c in CHECKS)
    assert re.search(rf"\b{n_checks} passed\b", done.stdout), done.stdout[-2000:]


def test_cli_lists_plugin_with_its_source(fpn_target):
    done = _run("from emberxr.cli import main; raise SystemExit(main(['models']))", fpn_target)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.strip().startswith("fpn"))
    assert "emberxr-fpn-decoder" in line and "emberxr_fpn:FPNDecoder" in line


def _fake_dist(root: Path, name: str, entry_points: str) -> None:
    info = root / f"{name}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_broken_plugin_is_listed_apart_with_its_reason(tmp_path):
    _fake_dist(tmp_path, "broken_plugin", "[emberxr.models]\nghost = no_such_module_xyz:Ghost\n")
    done = _run(
        """
        import json, sys, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import emberxr                              # a broken plugin never breaks the import
            names = emberxr.list_models()
            again = emberxr.list_models()               # the warning is given once, not per listing
        broken = [str(b) for b in emberxr.broken_plugins()]
        try:
            emberxr.create_model("ghost")
            err = None
        except emberxr.PluginError as exc:
            err = str(exc)
        print(json.dumps({"names": names, "again": again, "err": err, "broken": broken,
                          "torch": "torch" in sys.modules,
                          "warned": [str(w.message) for w in caught]}))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout.strip().splitlines()[-1])
    assert "emberformer" in res["names"] and "ghost" not in res["names"] and res["again"] == res["names"]
    assert len(res["warned"]) == 1 and "no_such_module_xyz" in res["warned"][0]
    assert res["broken"] == [
        "model plugin 'ghost' from dist 'broken_plugin' (no_such_module_xyz:Ghost) is broken: "
        "import failed: ModuleNotFoundError: No module named 'no_such_module_xyz'"
    ]
    assert res["err"].startswith("model plugin 'ghost' from dist 'broken_plugin' is broken: import failed")
    assert "unknown" not in res["err"] and "uninstall" in res["err"]
    assert not res["torch"]  # listing checked the plugin without importing the built-in models


WRONG_TYPES = """\
[emberxr.models]
notamodel = json:dumps
decoderasmodel = emberxr.decoders.light:LightDecoder
[emberxr.decoders]
modelasdecoder = emberxr.models.copylast:CopyLast
explodes = boom_on_import_xyz:Decoder
[emberxr.readers]
noreader = json:JSONDecoder
duckreader = duck_reader_xyz:DuckReader
"""


def test_plugins_of_the_wrong_type_are_broken(tmp_path):
    _fake_dist(tmp_path, "wrong_types", WRONG_TYPES)
    (tmp_path / "boom_on_import_xyz.py").write_text("raise RuntimeError('plugin exploded')\n")
    (tmp_path / "duck_reader_xyz.py").write_text(
        "class DuckReader:\n"
        "    def guess_can_open(self, path):\n        return False\n"
        "    def open(self, path, **kwargs):\n        raise NotImplementedError\n"
    )
    done = _run(
        """
        import json, warnings
        warnings.simplefilter("ignore")
        import emberxr
        from emberxr import plugins
        errors = {}
        for kind, get, name in [("model", emberxr.registry.get_model_class, "notamodel"),
                                ("decoder", emberxr.registry.get_decoder_class, "modelasdecoder"),
                                ("reader", emberxr.registry.get_reader, "noreader")]:
            try:
                get(name)
            except emberxr.PluginError as exc:
                errors[kind] = str(exc)
        print(json.dumps({
            "models": emberxr.list_models(), "decoders": emberxr.list_decoders(),
            "readers": emberxr.list_readers(), "errors": errors,
            "broken": {b.name: [b.kind, b.dist, b.reason] for b in emberxr.broken_plugins()},
            "only_decoders": [b.name for b in emberxr.broken_plugins("decoder")],
            "duck": type(emberxr.registry.get_reader("duckreader")).__name__}))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout.strip().splitlines()[-1])
    broken = res["broken"]
    assert set(broken) == {"notamodel", "decoderasmodel", "modelasdecoder", "explodes", "noreader"}
    assert broken["notamodel"] == [
        "model",
        "wrong_types",
        "it is a builtins.function object, not a subclass of emberxr.models.base.FireModel",
    ]
    assert (
        "the class emberxr.decoders.light.LightDecoder, not a subclass of emberxr.models"
        in (broken["decoderasmodel"][2])
    )
    assert "not a subclass of emberxr.decoders.base.FireDecoder" in broken["modelasdecoder"][2]
    assert broken["explodes"][2] == "import failed: RuntimeError: plugin exploded"
    assert "callable open(path, **kwargs) and guess_can_open(path)" in broken["noreader"][2]
    assert sorted(res["only_decoders"]) == ["explodes", "modelasdecoder"]
    # none of them is offered as a usable name; a duck-typed reader class is fine
    assert not set(broken) & set(res["models"] + res["decoders"] + res["readers"])
    assert "duckreader" in res["readers"] and res["duck"] == "DuckReader"
    assert "from dist 'wrong_types' is broken" in res["errors"]["model"]
    assert "FireDecoder" in res["errors"]["decoder"] and "noreader" in res["errors"]["reader"]


def test_cli_lists_broken_plugins_in_their_own_section(tmp_path):
    _fake_dist(tmp_path, "wrong_types", WRONG_TYPES)
    (tmp_path / "boom_on_import_xyz.py").write_text("raise RuntimeError('plugin exploded')\n")
    text = _run("from emberxr.cli import main; raise SystemExit(main(['models']))", tmp_path)
    assert text.returncode == 0, text.stderr
    usable, _, rest = text.stdout.partition("broken plugins (not usable):")
    assert "notamodel" not in usable and "modelasdecoder" not in usable
    lines = rest.strip().splitlines()
    assert any(
        ln.strip().startswith("model 'notamodel' from wrong_types (json:dumps): it is a builtins.function")
        for ln in lines
    )
    assert any("decoder 'explodes'" in ln and "RuntimeError: plugin exploded" in ln for ln in lines)
    assert any("reader 'noreader'" in ln for ln in lines)
    assert "PluginWarning" not in text.stderr  # reported once, in the section, not as warnings too

    js = _run("from emberxr.cli import main; raise SystemExit(main(['models', '--json']))", tmp_path)
    assert js.returncode == 0, js.stderr
    data = json.loads(js.stdout)
    by_name = {b["name"]: b for b in data["broken"]}
    assert by_name["explodes"] == {
        "kind": "decoder",
        "name": "explodes",
        "dist": "wrong_types",
        "target": "boom_on_import_xyz:Decoder",
        "reason": "import failed: RuntimeError: plugin exploded",
    }
    assert "notamodel" not in data["models"] and "modelasdecoder" not in data["decoders"]


def test_duplicate_plugin_warns_and_keeps_builtin(tmp_path):
    _fake_dist(tmp_path, "zzz_dup_plugin", "[emberxr.models]\nutae = some_other_pkg:UTAE\n")
    done = _run(
        """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from emberxr.registry import get_model_class
            cls = get_model_class("utae")
        print(cls.__module__)
        print(any("duplicate model 'utae'" in str(w.message) for w in caught))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.split()
    assert out == ["emberxr.models.utae", "True"]
