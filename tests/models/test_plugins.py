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


def test_broken_plugin_warns_and_is_skipped(tmp_path):
    _fake_dist(tmp_path, "broken_plugin", "[emberxr.models]\nghost = no_such_module_xyz:Ghost\n")
    done = _run(
        """
        import json, warnings
        import emberxr
        from emberxr.plugins import PluginWarning
        names = emberxr.list_models()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                emberxr.create_model("ghost")
                err = None
            except emberxr.UnknownNameError as exc:
                err = str(exc)
        print(json.dumps({"names": names, "after": emberxr.list_models(), "err": err,
                          "warned": [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]}))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout.strip().splitlines()[-1])
    assert "emberformer" in res["names"]
    assert res["warned"] and "no_such_module_xyz" in res["warned"][0]
    assert "ghost" not in res["after"] and res["err"] and "unknown model 'ghost'" in res["err"]


def test_duplicate_plugin_warns_and_keeps_builtin(tmp_path):
    _fake_dist(tmp_path, "zzz_dup_plugin", "[emberxr.models]\nutae = some_other_pkg:UTAE\n")
    done = _run(
        """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from emberxr.models.registry import get_model_class
            cls = get_model_class("utae")
        print(cls.__module__)
        print(any("duplicate model 'utae'" in str(w.message) for w in caught))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.split()
    assert out == ["emberxr.models.utae", "True"]
