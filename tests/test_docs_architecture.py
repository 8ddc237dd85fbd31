"""docs/architecture.md's module map lists exactly the package's modules, as its script renders them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("module_map", ROOT / "docs" / "scripts" / "module_map.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_module_map_is_current():
    from emberxr.doc_blocks import read_block

    script = _script()
    assert read_block(script.DOC, script.BLOCK) == script.render(), (
        "docs/architecture.md's module map is stale: run `.venv/bin/python docs/scripts/module_map.py --write`"
    )


def test_every_module_has_a_line_and_a_docstring():
    script = _script()
    listed = {name for group in script.modules().values() for name, _ in group}
    on_disk = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "emberxr").rglob("*.py")
    }
    assert listed == on_disk
    missing = sorted(
        name for group in script.modules().values() for name, text in group if text == "(no docstring)"
    )
    assert not missing, f"modules without a docstring: {missing}"
