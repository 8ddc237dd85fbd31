"""``emberxr predict CKPT EVENT -o forecast.tif``: a georeferenced fire-probability forecast.

EVENT is a zarr FireEvent or a ``raw`` folder of GeoTIFF/PNG/CSV. The output GeoTIFF has the
event's CRS and grid (it opens in place in QGIS), one band per forecast step named ``t+1h``,
``t+2h`` ... holding the probability that the cell is burned (NaN outside the data footprint).
``--mask`` and ``--arrival`` also write the binary forecast (at the threshold chosen on
validation) and the estimated arrival time in hours from the issue time.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` sub-command."""
    p = subparsers.add_parser(
        "predict",
        help="forecast fire probability for an event as a GeoTIFF",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint file written by fit (model.pt)")
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr predict``."""
    import emberxr
    from emberxr.errors import ThresholdNotSetError
    from emberxr.forecast import step_labels, write_forecast

    fitted = emberxr.load(args.checkpoint)
    if fitted.threshold is None and (args.mask or args.arrival):
        raise ThresholdNotSetError("--mask / --arrival", f"checkpoint {args.checkpoint}")
    event = emberxr.open_event(args.event, **({"event_id": args.event_id} if args.event_id else {}))
    ds = fitted.forecast(event, t=args.t, horizon=args.horizon)
    write_forecast(ds, args.output, cog=args.cog)
    if args.mask:
        write_forecast(ds, args.mask, cog=args.cog, variable="fire_mask")
    if args.arrival:
        write_forecast(ds, args.arrival, cog=args.cog, variable="arrival_time")
    thr = "no threshold" if fitted.threshold is None else f"threshold {fitted.threshold:.3f}"
    print(
        f"[emberxr] {fitted.model_name} forecast for {ds.attrs['event_id']} from {ds.attrs['issue_time']} "
        f"({', '.join(step_labels(ds))}, {thr}) -> {args.output}"
    )
    return 0
