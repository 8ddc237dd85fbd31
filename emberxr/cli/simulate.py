"""``emberxr simulate``: generate physics-simulated fire events with pyretechnics.

Two forms::

    emberxr simulate --catalog sim-wide [--workers 2] [--limit N] [--out PATH] [--write-splits]
    emberxr simulate --out events.zarr --n-events 20 --size 128 --steps 12 --seed 1 [--dem jacksboro]
    emberxr simulate --out events.zarr --n-events 20 --wide [--dem FILE.tif] [--real-share 0.5]

Both are resumable (events already in the store are skipped) and show a progress bar.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

WIDE_DEFAULT_REAL_SHARE = 0.2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` sub-command."""
    p = subparsers.add_parser(
        "simulate",
        help="generate simulated fire events (pyretechnics; needs `make sim-venv`)",
        description=(
            "Generate FireEvents with the pyretechnics fire simulator (Rothermel surface/crown fire, "
            "level-set spread) on procedural or real-DEM landscapes. Either from a catalog "
            "(--catalog; its seed and generator settings are used) or ad hoc (--out with "
            "--n-events/--size/--seed and either --steps/--dem for the sim-small generator or --wide "
            "for the wide generator: landscape styles, gusty diurnal wind, continuous moisture, line "
            "ignitions, varied observation windows). Resumable: events already in the store are skipped."
        ),
    )
    p.add_argument("--catalog", help="catalog YAML (or name) whose 'generator' section to run")
    p.add_argument("--out", help="output zarr collection (default with --catalog: the catalog's path)")
    p.add_argument("--n-events", type=int, help="number of kept events (ad hoc form)")
    p.add_argument("--size", type=int, default=128, help="ad hoc: domain edge in cells (default 128)")
    p.add_argument(
        "--steps", type=int, help="ad hoc, sim-small generator: hourly fire frames per event (default 12)"
    )
    p.add_argument("--seed", type=int, default=0, help="ad hoc: dataset seed (default 0)")
    p.add_argument(
        "--wide",
        action="store_true",
        help="ad hoc: use the wide generator (params version 2; implied by a DEM file in --dem)",
    )
    p.add_argument(
        "--dem",
        help=(
            "ad hoc: terrain. sim-small generator: fractal (default) or jacksboro. Wide generator: the real "
            "DEM used for --real-share of the events: jacksboro (matplotlib's, default), a GeoTIFF path "
            "(any CRS; reprojected to the UTM zone of its centre on --cell-size cells), or fractal (none)"
        ),
    )
    p.add_argument(
        "--real-share",
        type=float,
        help=(
            f"ad hoc, wide generator: share of events on the real DEM (default {WIDE_DEFAULT_REAL_SHARE}; "
            "1.0 when --dem names a DEM)"
        ),
    )
    p.add_argument("--cell-size", type=float, help="ad hoc, wide generator: cell edge in metres (default 30)")
    p.add_argument("--prefix", default="sim", help="event id prefix (ad hoc form; default 'sim')")
    p.add_argument("--workers", type=int, default=1, help="simulator processes at once (default 1)")
    p.add_argument("--batch-size", type=int, default=8, help="events per simulator call (default 8)")
    p.add_argument("--limit", type=int, help="stop after writing this many new events")
    p.add_argument("--no-select", action="store_true", help="keep every candidate (skip the burn rule)")
    p.add_argument(
        "--write-splits",
        action="store_true",
        help=(
            "with --catalog: write the split id lists into the catalog: split_fractions (default "
            "70/15/15), or the catalog's 'shift' section (held-out regimes first, then train/val/test)"
        ),
    )
    p.set_defaults(func=run)


def _catalog_settings(cat_path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    from emberxr.errors import CatalogError

    gen = spec.get("generator") or {}
    version = int(gen.get("params_version", 1))
    required = ("n_events", "size") if version == 2 else ("n_events", "size", "steps")
    missing = [k for k in required if k not in gen]
    if missing or "seed" not in spec:
        raise CatalogError(
            f"catalog {cat_path} cannot be generated: missing generator keys "
            f"{', '.join(missing + ([] if 'seed' in spec else ['seed']))}. "
            "Fix: add a 'generator' section (n_events, size, steps, dem, prefix) and a 'seed'."
        )
    settings: dict[str, Any] = dict(
        n_events=int(gen["n_events"]),
        seed=int(spec["seed"]),
        size=int(gen["size"]),
        prefix=str(gen.get("prefix", spec["name"])),
        params_version=version,
    )
    if version == 2:
        dem = str(gen.get("dem", "jacksboro"))
        if dem not in ("jacksboro", "fractal"):
            dem = str((cat_path.parent / Path(dem).expanduser()).resolve())
        settings.update(
            dem=dem,
            real_share=float(gen.get("real_share", WIDE_DEFAULT_REAL_SHARE)),
            cell_size=float(gen.get("cell_size_m", 30.0)),
        )
    else:
        settings.update(steps=int(gen["steps"]), dem=str(gen.get("dem", "fractal")))
    return settings


def _adhoc_settings(args: argparse.Namespace) -> dict[str, Any]:
    from emberxr.errors import ConfigError, Problem

    dem = args.dem
    is_file = dem is not None and dem not in ("fractal", "jacksboro")
    wide = bool(args.wide or is_file)
    problems = []
    if wide and args.steps is not None:
        problems.append(
            Problem(
                "--steps does not apply to the wide generator",
                "drop it: the wide generator draws each event's observation window (3-33 hourly frames)",
            )
        )
    if not wide:
        for flag, value in (("--real-share", args.real_share), ("--cell-size", args.cell_size)):
            if value is not None:
                problems.append(Problem(f"{flag} applies to the wide generator only", "add --wide"))
    if problems:
        raise ConfigError(problems, subject="simulate")
    settings: dict[str, Any] = dict(
        n_events=args.n_events, seed=args.seed, size=args.size, prefix=args.prefix
    )
    if not wide:
        return {**settings, "steps": 12 if args.steps is None else args.steps, "dem": dem or "fractal"}
    if args.real_share is not None:
        share = args.real_share
    else:
        share = 1.0 if dem in ("jacksboro",) or is_file else WIDE_DEFAULT_REAL_SHARE
    return {
        **settings,
        "params_version": 2,
        "dem": dem or "jacksboro",
        "real_share": share,
        "cell_size": 30.0 if args.cell_size is None else args.cell_size,
    }


def _write_splits(cat_path: Path, spec: dict[str, Any], report: Any, settings: dict[str, Any]) -> None:
    from emberxr.errors import CatalogError
    from emberxr.simulate.generate import assign_shift_splits, assign_splits, write_catalog

    if len(report.kept) < settings["n_events"]:
        raise CatalogError(
            f"not writing splits: the store holds {len(report.kept)} of {settings['n_events']} events. "
            "Fix: finish the generation first (drop --limit)."
        )
    shift = spec.get("shift")
    if shift:
        from emberxr.simulate.stats import regime_table

        table = regime_table(report.path).loc[report.kept]  # metadata only
        splits = assign_shift_splits(table, dict(shift["held_out"]), settings["seed"], shift.get("rest"))
    else:
        splits = assign_splits(report.kept, settings["seed"], spec.get("split_fractions"))
    spec = {k: v for k, v in spec.items() if k not in ("split_fractions", "splits")}
    write_catalog(cat_path, {**spec, "splits": splits})
    print(f"wrote splits to {cat_path}: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr simulate``."""
    from emberxr.errors import CatalogError

    if args.catalog:
        from emberxr.catalog import find_catalog, load_spec, resolve_data_path
        from emberxr.errors import ConfigError, Problem

        given = [f for f, v in (("--dem", args.dem), ("--real-share", args.real_share),
                                ("--cell-size", args.cell_size), ("--steps", args.steps)) if v is not None]  # fmt: skip
        if given or args.wide:
            raise ConfigError(
                [Problem(f"{', '.join(given + (['--wide'] if args.wide else []))} cannot be combined with --catalog",
                         "the catalog's 'generator' section sets them: edit it, or use the ad hoc form (--out ...)")],
                subject="simulate",
            )  # fmt: skip
        cat_path = find_catalog(args.catalog)
        spec = load_spec(cat_path)
        out = Path(args.out) if args.out else resolve_data_path(cat_path, spec)
        settings = _catalog_settings(cat_path, spec)
    else:
        if not args.out or args.n_events is None:
            raise CatalogError(
                "nothing to do: pass --catalog PATH, or --out PATH with --n-events N "
                "(see `emberxr simulate --help`)"
            )
        cat_path, spec, out = None, None, Path(args.out)
        settings = _adhoc_settings(args)
    from emberxr.simulate.generate import generate_collection

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
        _write_splits(cat_path, spec, report, settings)
    return 0
