"""``emberxr simulate``: generate physics-simulated fire events with pyretechnics.

Two forms::

    emberxr simulate --catalog catalogs/sim-medium.yaml [--workers 2] [--limit N] [--out PATH]
    emberxr simulate --out events.zarr --n-events 20 --size 128 --steps 12 --seed 1 [--dem jacksboro]

Both are resumable (events already in the store are skipped) and show a progress bar.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` sub-command."""
    p = subparsers.add_parser(
        "simulate",
        help="generate simulated fire events (pyretechnics; needs `make sim-venv`)",
        description=(
            "Generate FireEvents with the pyretechnics fire simulator (Rothermel surface/crown fire, "
            "level-set spread) on procedural or real-DEM landscapes. Either from a catalog "
            "(--catalog; its seed and generator settings are used) or ad hoc (--out with "
            "--n-events/--size/--steps/--seed/--dem). Resumable: events already in the store are skipped."
        ),
    )
    p.add_argument("--catalog", help="catalog YAML (or name) whose 'generator' section to run")
    p.add_argument("--out", help="output zarr collection (default with --catalog: the catalog's path)")
    p.add_argument("--n-events", type=int, help="number of kept events (ad hoc form)")
    p.add_argument("--size", type=int, default=128, help="ad hoc: domain edge in 30 m cells (default 128)")
    p.add_argument("--steps", type=int, default=12, help="ad hoc: hourly fire frames per event (default 12)")
    p.add_argument("--seed", type=int, default=0, help="ad hoc: dataset seed (default 0)")
    p.add_argument(
        "--dem",
        choices=("fractal", "jacksboro"),
        default="fractal",
        help="ad hoc: terrain source (default fractal)",
    )
    p.add_argument("--prefix", default="sim", help="event id prefix (ad hoc form; default 'sim')")
    p.add_argument("--workers", type=int, default=1, help="simulator processes at once (default 1)")
    p.add_argument("--batch-size", type=int, default=8, help="events per simulator call (default 8)")
    p.add_argument("--limit", type=int, help="stop after writing this many new events")
    p.add_argument("--no-select", action="store_true", help="keep every candidate (skip the burn rule)")
    p.add_argument(
        "--write-splits",
        action="store_true",
        help="with --catalog: write train/val/test id lists (split_fractions, default 70/15/15) into the catalog",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr simulate``."""
    from emberxr.errors import CatalogError

    if args.catalog:
        from emberxr.catalog import find_catalog, load_spec, resolve_data_path

        cat_path = find_catalog(args.catalog)
        spec = load_spec(cat_path)
        gen = spec.get("generator") or {}
        missing = [k for k in ("n_events", "size", "steps") if k not in gen]
        if missing or "seed" not in spec:
            raise CatalogError(
                f"catalog {cat_path} cannot be generated: missing generator keys "
                f"{', '.join(missing + ([] if 'seed' in spec else ['seed']))}. "
                "Fix: add a 'generator' section (n_events, size, steps, dem, prefix) and a 'seed'."
            )
        out = Path(args.out) if args.out else resolve_data_path(cat_path, spec)
        settings = dict(
            n_events=int(gen["n_events"]),
            seed=int(spec["seed"]),
            size=int(gen["size"]),
            steps=int(gen["steps"]),
            dem=str(gen.get("dem", "fractal")),
            prefix=str(gen.get("prefix", spec["name"])),
        )
    else:
        if not args.out or args.n_events is None:
            raise CatalogError(
                "nothing to do: pass --catalog PATH, or --out PATH with --n-events N "
                "(see `emberxr simulate --help`)"
            )
        cat_path, spec, out = None, None, Path(args.out)
        settings = dict(
            n_events=args.n_events, seed=args.seed, size=args.size, steps=args.steps, dem=args.dem,
            prefix=args.prefix,
        )  # fmt: skip
    from emberxr.simulate.generate import assign_splits, generate_collection, write_catalog

    report = generate_collection(
        out,
        workers=args.workers,
        batch_size=args.batch_size,
        limit=args.limit,
        select=not args.no_select,
        **settings,
    )
    print(
        f"{out}: {len(report.kept)} events ({report.written} new, {report.rejected} rejected by the burn "
        f"rule) in {report.seconds:.1f} s = {report.events_per_minute:.1f} events/min with {args.workers} "
        f"worker(s); {report.simulator}"
    )
    if args.write_splits and cat_path is not None and spec is not None:
        if len(report.kept) < settings["n_events"]:
            raise CatalogError(
                f"not writing splits: the store holds {len(report.kept)} of {settings['n_events']} events. "
                "Fix: finish the generation first (drop --limit)."
            )
        spec = {**spec, "splits": assign_splits(report.kept, settings["seed"], spec.get("split_fractions"))}
        spec.pop("split_fractions", None)
        write_catalog(cat_path, spec)
        print(f"wrote splits to {cat_path}: " + ", ".join(f"{k} {len(v)}" for k, v in spec["splits"].items()))
    return 0
