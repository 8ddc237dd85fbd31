"""``emberxr predict CKPT EVENT -o forecast.tif``: a georeferenced fire-probability forecast.

CKPT is a checkpoint written by fit (``model.pt``) or a file written by ``emberxr export``
(``.onnx`` or ``.pt2``: run with the same windows and blending). EVENT is a zarr FireEvent or a
``raw`` folder of GeoTIFF/PNG/CSV. The output GeoTIFF has the event's CRS and grid (it opens in
place in QGIS), one band per forecast step named ``t+1h``, ``t+2h`` ... holding the probability
that the cell is burned (NaN outside the data footprint). ``--mask`` and ``--arrival`` also write
the binary forecast (at the threshold chosen on validation) and the estimated arrival time in hours
from the issue time.

Scenes of any size: the event is read window by window, overlapping windows are blended without
seams, and the files are written strip by strip (``--cog`` builds the overviews at the end), so
memory stays bounded. ``--device`` picks where the model runs (default: where it was trained, when
this machine has that device, else the CPU).
"""

from __future__ import annotations

import argparse

EXPORTED_SUFFIXES = (".onnx", ".pt2")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` sub-command."""
    p = subparsers.add_parser(
        "predict",
        help="forecast fire probability for an event as a GeoTIFF",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "checkpoint", metavar="CKPT", help="checkpoint written by fit (model.pt), or an exported .onnx/.pt2"
    )
    p.add_argument("event", metavar="EVENT", help="zarr FireEvent or raw folder (GeoTIFF/PNG/CSV)")
    p.add_argument(
        "--event-id",
        help="which event of a multi-event zarr collection (e.g. data/sim-small.zarr) to forecast",
    )
    p.add_argument("-o", "--output", required=True, help="output GeoTIFF (probability, one band per step)")
    p.add_argument("--horizon", type=int, default=1, help="steps ahead (autoregressive beyond 1; default 1)")
    p.add_argument(
        "--t", type=int, default=None, help="index of the last observed frame (default: the last one)"
    )
    p.add_argument("--cog", action="store_true", help="write Cloud-Optimised GeoTIFFs")
    p.add_argument("--mask", help="also write the binary forecast (uint8) here")
    p.add_argument("--arrival", help="also write the arrival-time raster (hours from the issue time) here")
    add_device_option(p)
    p.add_argument(
        "--tile-size", type=int, default=None, help="window side (default: the training tile size)"
    )
    p.add_argument("--overlap", type=int, default=None, help="pixels shared by windows (default: a quarter)")
    p.add_argument(
        "--batch-size", type=int, default=None, help="windows per model call (default: ~262k pixels)"
    )
    p.add_argument("--compile", action="store_true", help="run the model through torch.compile")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def add_device_option(p: argparse.ArgumentParser) -> None:
    """``--device``, shared by the commands that run a model (predict, evaluate, export)."""
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:N, mps or auto (default: the training device when available, else cpu)",
    )


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr predict``."""
    from pathlib import Path

    import emberxr
    from emberxr.errors import ThresholdNotSetError
    from emberxr.forecast import write_prediction

    if Path(args.checkpoint).suffix in EXPORTED_SUFFIXES:
        from emberxr.export import load_exported

        source = load_exported(args.checkpoint)
    else:
        source = emberxr.load(args.checkpoint)
    if source.threshold is None and (args.mask or args.arrival):
        raise ThresholdNotSetError("--mask / --arrival", f"checkpoint {args.checkpoint}")
    event = emberxr.open_event(args.event, **({"event_id": args.event_id} if args.event_id else {}))
    options = {
        k: v
        for k, v in {
            "device": args.device,
            "tile_size": args.tile_size,
            "overlap": args.overlap,
            "batch_size": args.batch_size,
        }.items()
        if v is not None
    }
    if args.compile:
        options["compile"] = True
    out = write_prediction(
        source,
        event,
        args.output,
        t=args.t,
        horizon=args.horizon,
        mask=args.mask,
        arrival=args.arrival,
        cog=args.cog,
        progress=not args.no_progress,
        **options,
    )
    thr = "no threshold" if source.threshold is None else f"threshold {source.threshold:.3f}"
    print(
        f"[emberxr] {source.model_name} forecast for {out['event_id']} from {out['issue_time']} "
        f"({', '.join(out['labels'])}, {thr}) -> {args.output}"
    )
    return 0
