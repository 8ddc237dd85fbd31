"""``emberxr evaluate CKPT DATA``: pixel metrics of a checkpoint on a catalog split or event data.

Prints precision, recall, F1, IoU and AP for the next fire mask and the newly burned pixels,
overall and by history length (and by regime bin with ``--by regime``: wind, dead fuel moisture
quartiles, landscape style, terrain, ignition of simulated events); ``-o`` writes the full table
(per event too) as markdown or CSV.
DATA is anything ``emberxr.fit`` accepts: a catalog name or YAML, an event store (zarr), a raw
event folder, a folder of event folders, or a path a reader plugin opens.

A checkpoint saved during training (``best.pt``, ``last.pt``) has no threshold yet:
``--choose-threshold val`` chooses it on DATA's validation split first (max next-mask F1, as
``fit`` does), and ``--save model.pt`` keeps the result.

Calibration: ``--calibration [DIR]`` adds the expected calibration error (column ``ece``) and
writes ``reliability.png`` and ``calibration_bins.csv`` to DIR (default: the folder of ``-o``,
else the current folder). ``--calibrate temperature|isotonic`` first fits a calibration on the
validation split (then re-chooses the threshold on calibrated probabilities); ``--save`` keeps it.

Perimeters: ``--perimeters [--horizon K]`` adds Sørensen (Dice) / Jaccard of the burned area and
the mean distance between forecast and observed perimeters (metres) per forecast step, from
forecasts issued at every frame.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    from emberxr.cli.predict import add_amp_option, add_device_option

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
    p.add_argument(
        "--calibrate",
        choices=("temperature", "isotonic", "none"),
        help="first fit a probability calibration on the validation split (none removes one)",
    )
    p.add_argument(
        "--calibrate-split", default="val", metavar="SPLIT", help="split to calibrate on (default val)"
    )
    p.add_argument("--save", metavar="PATH", help="write the checkpoint (with its threshold) to PATH")
    p.add_argument("-o", "--output", help="write the table: .csv as CSV, otherwise markdown")
    p.add_argument("--no-per-event", action="store_true", help="leave out the per-event rows")
    p.add_argument(
        "--by",
        choices=["regime"],
        help="also pool the metrics by regime bin (events carrying the simulator's regime_* attributes)",
    )
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument(
        "--calibration",
        nargs="?",
        const="",
        metavar="DIR",
        help="report the expected calibration error and write reliability.png / calibration_bins.csv to DIR",
    )
    p.add_argument("--ece-bins", type=int, default=15, help="bins of the calibration error (default 15)")
    p.add_argument(
        "--ece-binning",
        choices=("width", "mass"),
        default="width",
        help="equal-width (default) or equal-mass bins",
    )
    p.add_argument("--perimeters", action="store_true", help="add perimeter scores per forecast step")
    p.add_argument("--horizon", type=int, default=1, help="forecast steps scored by --perimeters (default 1)")
    add_device_option(p)
    add_amp_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr evaluate``."""
    import emberxr

    fitted = emberxr.load(args.checkpoint)
    if args.calibrate:
        from emberxr.products.calibration import calibrate

        cal = calibrate(fitted, args.data, args.calibrate, split=args.calibrate_split, progress=args.progress)
        done = "removed" if cal is None else f"{cal['method']} fitted on {cal['n_pixels']} pixels"
        print(
            f"[emberxr] calibration {done} (split {args.calibrate_split!r}); threshold re-chosen: "
            f"{fitted.threshold:.3f}"
        )
    if args.choose_threshold:
        thr = fitted.choose_threshold(args.data, split=args.choose_threshold, progress=args.progress)
        print(f"[emberxr] threshold {thr:.3f} chosen on split {args.choose_threshold!r} (max next-mask F1)")
    if args.save:
        fitted.save(args.save)
        print(f"[emberxr] checkpoint written to {args.save}")
    options = {"perimeters": args.perimeters, "perimeter_horizon": args.horizon}
    if args.device:
        options["device"] = args.device
    if args.amp:
        options["amp"] = True
    if args.calibration is not None:
        from pathlib import Path

        folder = args.calibration or (str(Path(args.output).parent) if args.output else ".")
        options.update(calibration_dir=folder, ece_bins=args.ece_bins, ece_binning=args.ece_binning)
    df = fitted.evaluate(
        args.data,
        split=args.split,
        output=args.output,
        per_event=not args.no_per_event,
        progress=args.progress,
        by=args.by,
        **options,
    )
    pixels = df[(df["scope"] != "event") & (df["target"] != "perimeter")].dropna(axis=1, how="all")
    print(pixels.drop(columns=["n_pixels"], errors="ignore").to_markdown(index=False, floatfmt=".3f"))
    if args.perimeters:
        cols = ["group", "n_samples", "dice", "jaccard", "dice_new", "mean_distance_m"]
        print("\nperimeter scores (mean over forecasts):")
        print(df[df["target"] == "perimeter"][cols].to_markdown(index=False, floatfmt=".3f"))
    if args.calibration is not None:
        print(
            f"[emberxr] reliability diagram and bins written to {folder}/reliability.png, calibration_bins.csv"
        )
    if args.output:
        print(f"[emberxr] table written to {args.output}")
    return 0
