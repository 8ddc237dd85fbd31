"""The ``emberxr`` command line.

Each sub-command lives in its own module in this package and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` (a callable taking the
parsed ``argparse.Namespace`` and returning an exit code). Command modules import heavy
dependencies (torch, xarray) inside their handlers, so ``emberxr --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# order shown in --help
COMMANDS = ("simulate", "data", "cache", "fit", "evaluate", "predict", "models", "demo")


def add_command_group(
    subparsers: argparse._SubParsersAction, name: str, help: str, description: str | None, dest: str
) -> argparse._SubParsersAction:
    """Add a sub-command that only groups actions (``emberxr NAME ACTION``).

    Parameters
    ----------
    subparsers
        The top-level sub-parsers.
    name, help, description
        Name, one-line help and description of the group.
    dest
        Namespace attribute that receives the chosen action.

    Returns
    -------
    argparse._SubParsersAction
        Where the group's actions are added. Without an action the group prints its help and
        exits with code 2.
    """
    p = subparsers.add_parser(name, help=help, description=description)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    return p.add_subparsers(dest=dest, metavar="ACTION")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available sub-command."""
    from emberxr import __version__

    parser = argparse.ArgumentParser(
        prog="emberxr",
        description="Next-step wildfire spread prediction from multi-temporal rasters.",
    )
    parser.add_argument("--version", action="version", version=f"emberxr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"emberxr.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    from emberxr.errors import EmberxrError

    parser = build_parser()
    # dotted overrides may stand anywhere, also after flags (`fit CONFIG --resume a.b=1`)
    args, rest = parser.parse_known_args(argv)
    if rest:
        if hasattr(args, "overrides") and all("=" in r and not r.startswith("-") for r in rest):
            args.overrides = [*args.overrides, *rest]
        else:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EmberxrError as exc:
        print(f"emberxr {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"emberxr {args.command}: interrupted", file=sys.stderr)
        return 130
