"""``emberxr evaluate CKPT DATA``: pixel metrics of a checkpoint on a catalog split or event data.

Prints precision, recall, F1, IoU and AP for the next fire mask and the newly burned pixels,
overall and by history length; ``-o`` writes the full table (per event too) as markdown or CSV.
DATA is anything ``emberxr.fit`` accepts: a catalog name or YAML, an event store (zarr), a raw
event folder, a folder of event folders, or a path a reader plugin opens.

A checkpoint saved during training (``best.pt``, ``last.pt``) has no threshold yet:
``--choose-threshold val`` chooses it on DATA's validation split first (max next-mask F1, as
``fit`` does), and ``--save model.pt`` keeps the result.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    from emberxr.cli.predict import add_device_option

    p = subparsers.add_parser(
        "evaluate",
        help="metrics of a checkpoint on data (table as markdown/CSV)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint file written by fit (model.pt)")
    p.add_argument(
        "data", metavar="DATA", help="catalog name/path, event store (zarr), raw event folder, or plugin path"
    )
    p.add_argument("--split", default="test", help="split of a catalog to evaluate (default: test)")
    p.add_argument(
        "--choose-threshold",
        metavar="SPLIT",
        help="first choose the probability threshold (max next-mask F1) on this split of DATA, e.g. val",
    )
    p.add_argument("--save", metavar="PATH", help="write the checkpoint (with its threshold) to PATH")
    p.add_argument("-o", "--output", help="write the table: .csv as CSV, otherwise markdown")
    p.add_argument("--no-per-event", action="store_true", help="leave out the per-event rows")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    add_device_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr evaluate``."""
    import emberxr

    fitted = emberxr.load(args.checkpoint)
    if args.choose_threshold:
        thr = fitted.choose_threshold(args.data, split=args.choose_threshold, progress=args.progress)
        print(f"[emberxr] threshold {thr:.3f} chosen on split {args.choose_threshold!r} (max next-mask F1)")
    if args.save:
        fitted.save(args.save)
        print(f"[emberxr] checkpoint written to {args.save}")
    df = fitted.evaluate(
        args.data,
        split=args.split,
        output=args.output,
        per_event=not args.no_per_event,
        progress=args.progress,
        **({"device": args.device} if args.device else {}),
    )
    short = df[df["scope"] != "event"].drop(columns=["n_pixels"], errors="ignore")
    print(short.to_markdown(index=False, floatfmt=".3f"))
    if args.output:
        print(f"[emberxr] table written to {args.output}")
    return 0
