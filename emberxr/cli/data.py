"""``emberxr data check CATALOG``: sanity report of a dataset, per split; ``emberxr data seal STORE``.

Reports events, samples, the history-length histogram, positive-pixel rates of targets and of
new burn, the share of empty targets and static band statistics, as markdown. A zarr store is
first checked against the chunk record written with each event: a damaged store (lost chunks,
truncated metadata) fails with exit code 1, naming every damaged event and variable.

``data seal`` records the chunk inventory of a store written before emberxr kept that record (it
trusts the files as they are now: seal only a store you know is complete), so ``data check`` can
verify it from then on.
"""

from __future__ import annotations

import argparse

from emberxr.cli import add_command_group


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` sub-command (``data check``)."""
    sub = add_command_group(
        subparsers, "data", "inspect a dataset (data check)", __doc__, dest="data_command"
    )
    c = sub.add_parser(
        "check",
        help="per-split report: samples, history lengths, target balance, band statistics",
        description="Per-split sanity report of a catalog (name or YAML), an event-collection zarr "
        "or an event folder a reader recognises (e.g. a raw folder). Exits with 1 when the data is "
        "damaged or unreadable (lost zarr chunks are named by event and variable).",
    )
    c.add_argument(
        "catalog",
        metavar="CATALOG",
        help="catalog name / YAML path, a save_events zarr store, or an event folder (e.g. raw)",
    )
    c.add_argument("--max-history", type=int, default=8, help="history cap used to count samples (default 8)")
    c.add_argument("--out", help="also write the markdown report to this file")
    c.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    c.set_defaults(func=run_check)
    s = sub.add_parser(
        "seal",
        help="record the chunk inventory of an older event store, so data check can verify it",
        description="Record, in each event group of a save_events zarr store, which chunks exist now "
        "(the record save_events writes for new stores). Seal only a store you know is complete: "
        "afterwards a lost chunk is reported by data check and refused when the event is opened.",
    )
    s.add_argument("store", metavar="STORE", help="an event-collection zarr store (emberxr.save_events)")
    s.add_argument("--force", action="store_true", help="also re-record events that already have a record")
    s.set_defaults(func=run_seal)


def run_check(args: argparse.Namespace) -> int:
    """Handle ``emberxr data check``."""
    import json

    from emberxr.atomic import atomic_path
    from emberxr.data.check import data_check

    report = data_check(args.catalog, max_history=args.max_history)
    text = json.dumps(report.to_dict(), indent=2) if args.json else report.to_markdown()
    print(text, end="" if text.endswith("\n") else "\n")
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(report.to_markdown())
        print(f"report written to {args.out}")
    return 0


def run_seal(args: argparse.Namespace) -> int:
    """Handle ``emberxr data seal``."""
    from pathlib import Path

    from emberxr.errors import ReaderError
    from emberxr.io.events import is_zarr_store, list_event_ids
    from emberxr.io.integrity import CHUNKS_ATTR, read_json, write_chunk_record

    store = Path(args.store)
    if not is_zarr_store(store):
        raise ReaderError(
            f"{store} is not a zarr event store. Fix: pass the path of a store written by emberxr.save_events."
        )
    sealed = kept = 0
    for eid in list_event_ids(store):
        meta = read_json(store / eid / "zarr.json") or {}
        if CHUNKS_ATTR in (meta.get("attributes") or {}) and not args.force:
            kept += 1
            continue
        write_chunk_record(store / eid)
        sealed += 1
    print(f"{store}: recorded the chunks of {sealed} event(s); {kept} already had a record")
    return 0
