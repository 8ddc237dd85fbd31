"""The ``emberxr`` command line.

Each sub-command lives in its own module in this package and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` (a callable taking the
parsed ``argparse.Namespace`` and returning an exit code). Command modules import heavy
dependencies (torch, xarray) inside their handlers, so ``emberxr --help`` stays fast.

Exit codes (:func:`main`):

===  ============================================================================================
0    success
1    bad input or data: any :class:`~emberxr.errors.EmberxrError` (the message says what is wrong
     and how to fix it), or the operating system refused a file (missing, no permission, disk full)
2    usage error: unknown command or option, missing argument (argparse prints the usage)
70   internal error: an unexpected exception, i.e. a bug in emberxr (``EX_SOFTWARE``)
130  interrupted (Ctrl-C)
===  ============================================================================================

No Python traceback is printed unless the global ``--debug`` flag is given
(``emberxr --debug predict ...``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

EXIT_BAD_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

# order shown in --help
COMMANDS = (
    "simulate",
    "data",
    "cache",
    "fit",
    "pretrain",
    "sweep",
    "ablate",
    "evaluate",
    "predict",
    "export",
    "models",
    "attention",
    "benchmark",
    "demo",
)


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
    parser.add_argument(
        "--debug",
        action="store_true",
        help="print Python tracebacks of errors (give it before the command; for bug reports)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"emberxr.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (see the module docstring).

    Usage errors exit through argparse (``SystemExit(2)``), as do ``--help`` and ``--version``
    (``SystemExit(0)``).
    """
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
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except EmberxrError as exc:
        return _report(args, f"error: {exc}", EXIT_BAD_INPUT)
    except OSError as exc:  # a file the system refused: missing, no permission, disk full
        return _report(args, f"error: {exc}", EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return _report(args, "interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        again = f"emberxr --debug {args.command} ..."
        return _report(
            args,
            f"internal error ({type(exc).__name__}: {exc}). This is a bug in emberxr; please report it "
            f"with the output of `{again}`",
            EXIT_INTERNAL,
        )


def _report(args: argparse.Namespace, message: str, code: int) -> int:
    """Print ``message`` for the failed command (after the traceback with ``--debug``); return ``code``."""
    if args.debug and code != EXIT_INTERRUPTED:
        traceback.print_exc()
    print(f"emberxr {args.command}: {message}", file=sys.stderr)
    return code
