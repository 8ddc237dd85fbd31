"""``emberxr benchmark NAME``: the benchmarks emberxr runs end to end (train or load, then score).

Each benchmark lives in its own module ``emberxr/cli/benchmark_<name>.py`` exposing
``register(group_subparsers)``; this module only lists them.
"""

from __future__ import annotations

import argparse
import importlib

from emberxr.cli import add_command_group

#: benchmark modules (``emberxr.cli.benchmark_<name>``), in --help order
BENCHMARKS = ("simshift", "public")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` command group and its benchmarks."""
    group = add_command_group(
        subparsers,
        "benchmark",
        help="benchmarks run end to end: sim-shift (held-out regimes), wildfirespreadts, ndws",
        description=__doc__,
        dest="benchmark",
    )
    for name in BENCHMARKS:
        importlib.import_module(f"emberxr.cli.benchmark_{name}").register(group)
