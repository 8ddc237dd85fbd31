"""``emberxr evaluate CKPT DATA``: pixel metrics of a checkpoint on a catalog split or event store.

Prints precision, recall, F1, IoU and AP for the next fire mask and the newly burned pixels,
overall and by history length; ``-o`` writes the full table (per event too) as markdown or CSV.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    p = subparsers.add_parser(
        "evaluate", help="metrics of a checkpoint on data (table as markdown/CSV)", description=__doc__
    )
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint file written by fit (model.pt)")
    p.add_argument("data", metavar="DATA", help="catalog name/path, event store (zarr) or a single event")
    p.add_argument("--split", default="test", help="split of a catalog to evaluate (default: test)")
    p.add_argument("-o", "--output", help="write the table: .csv as CSV, otherwise markdown")
    p.add_argument("--no-per-event", action="store_true", help="leave out the per-event rows")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr evaluate``."""
    from pathlib import Path

    import emberxr

    fitted = emberxr.load(args.checkpoint)
    data = args.data
    p = Path(data)
    if p.exists() and p.is_dir() and not (p / "zarr.json").exists() and not (p / ".zgroup").exists():
        data = emberxr.open_event(p)  # a raw folder: one event
    elif p.exists() and p.suffix == ".zarr":
        try:
            data = emberxr.open_event(p)
        except emberxr.EmberxrError:
            pass  # an event collection
    df = fitted.evaluate(
        data, split=args.split, output=args.output, per_event=not args.no_per_event, progress=args.progress
    )
    short = df[df["scope"] != "event"].drop(columns=["n_pixels"], errors="ignore")
    print(short.to_markdown(index=False, floatfmt=".3f"))
    if args.output:
        print(f"[emberxr] table written to {args.output}")
    return 0
