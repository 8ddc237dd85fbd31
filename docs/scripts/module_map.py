"""The module map of ``docs/architecture.md``: one line per module of the package, from its docstring.

Usage::

    .venv/bin/python docs/scripts/module_map.py           # print the map
    .venv/bin/python docs/scripts/module_map.py --write   # rewrite the block in docs/architecture.md

Each line is the module's dotted name and the first sentence of its docstring, grouped by package
in the order of the data flow. ``tests/test_docs_architecture.py`` fails when the block differs
from what :func:`render` produces, so a new, renamed or removed module shows up in the map.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

from emberxr.doc_blocks import replace_block

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "emberxr"
DOC = ROOT / "docs" / "architecture.md"
BLOCK = "architecture:modules"

#: packages in the order data flows through them (anything else follows, alphabetically)
ORDER = [
    "emberxr",
    "readers",
    "io",
    "simulate",
    "data",
    "models",
    "decoders",
    "train",
    "products",
    "sweep",
    "benchmarks",
    "testing",
    "cli",
]
TITLES = {
    "emberxr": "top level: the API, the data model and shared services",
    "readers": "readers: source files → FireEvent",
    "io": "event collections and raster files",
    "simulate": "the built-in simulator (pyretechnics in its own environment)",
    "data": "samples, tiles and batches",
    "models": "the model zoo",
    "decoders": "spatial decoders",
    "train": "the training loop, configuration, metrics and checkpoints",
    "products": "analyst products built on forecasts",
    "sweep": "hyper-parameter sweeps",
    "benchmarks": "public benchmark protocols",
    "testing": "test support shipped for plugin authors",
    "cli": "the command line (one module per command)",
}


def summary(path: Path) -> str:
    """First sentence of a module's docstring (``(no docstring)`` when it has none)."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or "(no docstring)"
    first = " ".join(doc.strip().split("\n\n")[0].split())
    if ". " in first:
        first = first[: first.index(". ") + 1]
    first = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", first)  # :class:`~a.B` -> `a.B`
    return first.replace("``", "`").replace("|", "\\|")


def modules() -> dict[str, list[tuple[str, str]]]:
    """Package → ``[(dotted module name, summary)]`` for every module of emberxr."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        group = rel.parts[1] if len(rel.parts) > 2 else "emberxr"
        groups.setdefault(group, []).append((name, summary(path)))
    return groups


def render() -> str:
    """The markdown of the module map."""
    groups = modules()
    order = [g for g in ORDER if g in groups] + sorted(g for g in groups if g not in ORDER)
    lines = []
    for g in order:
        lines += [f"**{TITLES.get(g, g)}**", "", "| module | what it owns |", "|---|---|"]
        lines += [f"| `{name}` | {text} |" for name, text in groups[g]]
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the block in docs/architecture.md")
    args = parser.parse_args()
    if args.write:
        replace_block(DOC, BLOCK, render())
    else:
        print(render())


if __name__ == "__main__":
    main()
