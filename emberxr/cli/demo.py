"""``emberxr demo``: the main job (``make demo``).

Fits ``copylast``, ``unets``, ``utae`` and ``emberformer`` with short fixed budgets on the built-in
``sim-wide-small`` dataset, prints the comparison table and writes into ``outputs/``: the table
(``results.md``, ``results.csv``), a 3-step GeoTIFF forecast of one test event and PNG panels.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo", help="fit every model on sim-wide-small, compare, write outputs/", description=__doc__
    )
    p.add_argument("--config", default=None, help="demo YAML (default: the shipped configs/demo.yaml)")
    p.add_argument("--out", default="outputs", help="output directory (default: outputs)")
    p.add_argument("--models", nargs="+", help="subset of the models in the demo config")
    p.add_argument("--data", help="catalog name/path (default: the demo config's data.catalog)")
    p.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides applied to every model"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr demo``."""
    from emberxr.demo import run_demo

    run_demo(config=args.config, out=args.out, models=args.models, data=args.data, overrides=args.overrides)
    return 0
