"""``emberxr models``: list the registered models and decoders with where they come from.

Plugins that cannot be used (their import fails, or they provide the wrong kind of object) are
shown in their own section with the reason, never as usable names.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` sub-command."""
    p = subparsers.add_parser(
        "models",
        help="list models and decoders (built-in and plugins)",
        description=(
            "List the registered models and spatial decoders, with the package each comes from. "
            "Plugins are imported and checked; broken ones (of any kind, readers included) are "
            "listed apart with the reason."
        ),
    )
    p.add_argument("pattern", nargs="?", default=None, help="glob filter on model names, e.g. 'u*'")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--check",
        action="store_true",
        help="also import emberxr's own models, decoders and readers (plugins are always checked)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the registries; returns the exit code."""
    import dataclasses
    import warnings

    from emberxr import plugins, registry

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", plugins.PluginWarning)
        if args.check:
            for reg in (plugins.models, plugins.decoders, plugins.readers):
                reg.load_all()
        sources = plugins.models.sources()
        models = {n: sources[n] for n in registry.list_models(args.pattern)}
        decoders = plugins.decoders.sources()
        broken = registry.broken_plugins()
    # a broken plugin is reported in its own section; other plugin warnings (name clashes) are kept
    notes = [
        str(w.message)
        for w in caught
        if issubclass(w.category, plugins.PluginWarning)
        and not any(str(w.message).startswith(str(b)) for b in broken)
    ]
    for w in caught:
        if not issubclass(w.category, plugins.PluginWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if args.json:
        out = {
            "models": models,
            "decoders": decoders,
            "broken": [dataclasses.asdict(b) for b in broken],
            "warnings": notes,
        }
        print(json.dumps(out, indent=2))
        return 0
    width = max([len(n) for n in [*models, *decoders]] or [4])
    print("models:")
    for name, src in models.items():
        print(f"  {name:<{width}}  {src}")
    print("decoders:")
    for name, src in decoders.items():
        print(f"  {name:<{width}}  {src}")
    if broken:
        print("broken plugins (not usable):")
        for b in broken:
            print(f"  {b.kind} {b.name!r} from {b.dist} ({b.target}): {b.reason}")
    if notes:
        print("plugin warnings:")
        for msg in notes:
            print(f"  {msg}")
    return 0
