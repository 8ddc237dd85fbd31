"""``emberxr models``: list the registered models and decoders with where they come from."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` sub-command."""
    p = subparsers.add_parser(
        "models",
        help="list models and decoders (built-in and plugins)",
        description="List the registered models and spatial decoders, with the package each comes from.",
    )
    p.add_argument("pattern", nargs="?", default=None, help="glob filter on model names, e.g. 'u*'")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--check", action="store_true", help="also import each entry (broken plugins are reported)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the registries; returns the exit code."""
    import fnmatch
    import warnings

    from emberxr import plugins

    broken: list[str] = []
    if args.check:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", plugins.PluginWarning)
            plugins.models.load_all()
            plugins.decoders.load_all()
        broken = [str(w.message) for w in caught if issubclass(w.category, plugins.PluginWarning)]
    models = {
        n: s
        for n, s in plugins.models.sources().items()
        if args.pattern is None or fnmatch.fnmatch(n, args.pattern)
    }
    decoders = plugins.decoders.sources()
    if args.json:
        print(json.dumps({"models": models, "decoders": decoders, "broken": broken}, indent=2))
        return 0
    width = max([len(n) for n in [*models, *decoders]] or [4])
    print("models:")
    for name, src in models.items():
        print(f"  {name:<{width}}  {src}")
    print("decoders:")
    for name, src in decoders.items():
        print(f"  {name:<{width}}  {src}")
    for msg in broken:
        print(f"broken: {msg}")
    return 0
