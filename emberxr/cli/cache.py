"""``emberxr cache build CATALOG``: precompute patch tokens, targets and masks into a zarr cache.

The cache is reused when its hash (sources + settings) matches and rebuilt otherwise. Events are
tokenised in parallel on a ``dask.distributed`` cluster: a LocalCluster of ``--workers``
processes by default, an existing one with ``--scheduler ADDRESS``, or in this process with
``--scheduler synchronous``.
"""

from __future__ import annotations

import argparse

from emberxr.cli import add_command_group


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cache`` sub-command (``cache build``)."""
    sub = add_command_group(
        subparsers, "cache", "build the patch-token cache (cache build)", __doc__, dest="cache_command"
    )
    b = sub.add_parser(
        "build",
        help="tokenise every event of a catalog into a zarr patch cache",
        description="Tokenise every event of a catalog (or event-collection zarr) into a patch cache.",
    )
    b.add_argument(
        "catalog",
        metavar="CATALOG",
        help="catalog name / YAML path, event store (zarr), or raw event folder(s)",
    )
    b.add_argument("--patch-size", type=int, default=16, help="patch size p (default 16)")
    b.add_argument("--strict", action="store_true", help="drop partial patches instead of padding them")
    b.add_argument(
        "--max-history", type=int, default=8, help="default history cap recorded for readers (default 8)"
    )
    b.add_argument("--out", help="cache directory (default: outputs/cache/<name>-p<P>[-strict].zarr)")
    b.add_argument("--scheduler", help="dask scheduler address, or 'synchronous' (default: a LocalCluster)")
    b.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    b.add_argument("--no-normalize", action="store_true", help="store raw static bands and wind")
    b.add_argument("--force", action="store_true", help="rebuild even if the cache is up to date")
    b.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    b.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    """Handle ``emberxr cache build``."""
    from pathlib import Path

    from emberxr.data.cache import build_patch_cache
    from emberxr.data.sources import resolve_splits

    splits = resolve_splits(args.catalog, auto_split=False)
    stats = None
    if not args.no_normalize:
        from emberxr.normalize import compute_stats

        stats = compute_stats(splits.get("train") or [ev for evs in splits.values() for ev in evs])
    name = Path(str(args.catalog)).stem.removesuffix(".zarr") or "events"
    out = args.out or f"outputs/cache/{name}-p{args.patch_size}{'-strict' if args.strict else ''}.zarr"
    path, built = build_patch_cache(
        splits,
        out,
        patch_size=args.patch_size,
        strict=args.strict,
        stats=stats,
        max_history=args.max_history,
        scheduler=args.scheduler,
        workers=args.workers,
        progress=not args.no_progress,
        force=args.force,
    )
    n = sum(len(v) for v in splits.values())
    print(f"{'built' if built else 'up to date, reused'}: {path} ({n} events, patch size {args.patch_size})")
    return 0
