"""Generated blocks in the docs: the one owner of ``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``.

Tables and figures that the docs show are produced by scripts in the repository (benchmarks,
results, the config key table, the dataset report); each script renders its block's text with a
function and writes it between two markers. A test renders the same text and compares it with the
block in the file (:func:`read_block`), so a doc never drifts from what the code produces.

>>> text = "intro\\n<!-- demo:start -->\\nold\\n<!-- demo:end -->\\nrest\\n"
>>> print(replace_block_text(text, "demo", "new"))
intro
<!-- demo:start -->
new
<!-- demo:end -->
rest
<BLANKLINE>
"""

from __future__ import annotations

import os
from pathlib import Path

from emberxr.errors import EmberxrError

__all__ = ["markers", "read_block", "replace_block", "replace_block_text"]


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of block ``name``."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def _span(text: str, name: str, where: str) -> tuple[int, int]:
    start, end = markers(name)
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise EmberxrError(
            f"{where} has no generated block {name!r}. Fix: add the two lines {start} and {end} "
            "where the block belongs, then run the script that writes it."
        )
    return i + len(start), j


def read_block(path: str | os.PathLike, name: str) -> str:
    """The text between the markers of block ``name`` in ``path`` (without surrounding newlines)."""
    text = Path(path).read_text()
    i, j = _span(text, name, str(path))
    return text[i:j].strip("\n")


def replace_block_text(text: str, name: str, body: str, where: str = "the text") -> str:
    """``text`` with the body of block ``name`` replaced by ``body``."""
    i, j = _span(text, name, where)
    return f"{text[:i]}\n{body.strip(chr(10))}\n{text[j:]}"


def replace_block(path: str | os.PathLike, name: str, body: str) -> bool:
    """Rewrite block ``name`` of ``path`` with ``body`` (atomically); return whether it changed."""
    from emberxr.atomic import atomic_path

    path = Path(path)
    old = path.read_text()
    new = replace_block_text(old, name, body, str(path))
    if new == old:
        return False
    with atomic_path(path) as tmp:
        tmp.write_text(new)
    return True
