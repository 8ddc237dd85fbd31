"""The key table of ``docs/training.md``, generated from the configuration schema.

Usage::

    .venv/bin/python docs/scripts/config_keys.py           # print the table
    .venv/bin/python docs/scripts/config_keys.py --write   # rewrite the block in docs/training.md

The block lies between ``<!-- config:keys:start -->`` and ``<!-- config:keys:end -->``;
``tests/train/test_config.py`` fails when it differs from :func:`emberxr.train.config.describe`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from emberxr.atomic import atomic_path
from emberxr.train.config import describe

DOC = Path(__file__).resolve().parents[1] / "training.md"
START, END = "<!-- config:keys:start -->", "<!-- config:keys:end -->"


def write(path: Path = DOC) -> None:
    """Replace the marked block of ``path`` with the current table (atomically)."""
    old = path.read_text()
    if START not in old or END not in old:
        raise SystemExit(f"{path} has no {START} ... {END} block")
    new = old[: old.index(START)] + f"{START}\n{describe()}\n{END}" + old[old.index(END) + len(END) :]
    with atomic_path(path) as tmp:
        tmp.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the block in docs/training.md")
    args = parser.parse_args()
    if args.write:
        write()
    else:
        print(describe())


if __name__ == "__main__":
    main()
