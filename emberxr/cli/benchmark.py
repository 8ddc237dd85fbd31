"""``emberxr benchmark NAME ...``: run a benchmark protocol and print its scores.

Each benchmark lives in its own module ``emberxr/cli/benchmark_<name>.py`` exposing
``register(actions)``, which adds its sub-commands to this group; :data:`MODULES` lists them.
"""

from __future__ import annotations

import argparse
import importlib

#: modules that add benchmark sub-commands (``emberxr.cli.<module>.register``)
MODULES = ("benchmark_public",)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` command group and its benchmarks."""
    from emberxr.cli import add_command_group

    actions = add_command_group(
        subparsers,
        "benchmark",
        help="run a benchmark protocol (public data sets) and print its scores",
        description=__doc__,
        dest="benchmark",
    )
    for name in MODULES:
        importlib.import_module(f"emberxr.cli.{name}").register(actions)
