"""``emberxr predict CKPT EVENT -o forecast.tif``: a georeferenced fire-probability forecast.

EVENT is a zarr FireEvent or a ``raw`` folder of GeoTIFF/PNG/CSV. The output GeoTIFF has the
event's CRS and grid (it opens in place in QGIS), one band per forecast step named ``t+1h``,
``t+2h`` ... holding the probability that the cell is burned (NaN outside the data footprint).
``--mask`` and ``--arrival`` also write the binary forecast (at the threshold chosen on
validation) and the estimated arrival time in hours from the issue time. Each raster gets a QGIS
style sidecar (``.qml``, opt out with ``--no-style``).

Products (docs/forecasting.md):
  --members N        an ensemble: -o holds the burn probability (share of members burned),
                     --arrival the ensemble mean arrival time, --arrival-std its spread
  --wind FILE.csv    what-if future wind (time,speed,direction or time,u,v; m/s, degrees from)
  --perimeters F     forecast perimeters per step and level + isochrones (.gpkg or .geojson)
  --quicklook F.png  a quick-look map (hillshade, perimeters, wind arrows)
"""

from __future__ import annotations

import argparse


def _levels(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


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
    p.add_argument("--no-style", action="store_true", help="do not write QGIS style sidecars (.qml)")
    g = p.add_argument_group("ensembles")
    g.add_argument("--members", type=int, help="ensemble of N roll-outs sampled from the probabilities")
    g.add_argument("--seed", type=int, help="seed of the ensemble's draws (default 0: reproducible)")
    g.add_argument(
        "--sampling",
        choices=("bernoulli", "quantile", "threshold"),
        help="how members sample their next mask (default bernoulli: per pixel)",
    )
    g.add_argument(
        "--wind-spread",
        metavar="SPEED_KMH,DIR_DEG|auto",
        help="perturb each member's future wind (standard deviations), or auto (recent variability)",
    )
    g.add_argument("--arrival-std", help="write the ensemble's arrival-time standard deviation here")
    w = p.add_argument_group("what-if weather and vector / map products")
    w.add_argument(
        "--wind", metavar="FILE.csv", help="future wind after the issue time (needs --horizon >= 2)"
    )
    w.add_argument("--perimeters", metavar="PATH", help="perimeters and isochrones: .gpkg or .geojson")
    w.add_argument(
        "--levels",
        type=_levels,
        default=[0.1, 0.5, 0.9],
        help="probability levels of the perimeters (default 0.1,0.5,0.9)",
    )
    w.add_argument("--quicklook", metavar="PNG", help="write a quick-look map here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr predict``."""
    import emberxr
    from emberxr.errors import ThresholdNotSetError, WriteError
    from emberxr.forecast import step_labels, write_forecast

    ensemble = args.members is not None
    fitted = emberxr.load(args.checkpoint)
    if fitted.threshold is None and not ensemble and (args.mask or args.arrival or args.perimeters):
        needed = "--mask / --arrival" + (" / --perimeters" if args.perimeters else "")
        raise ThresholdNotSetError(needed, f"checkpoint {args.checkpoint}")
    if args.arrival_std and not ensemble:
        raise WriteError("--arrival-std needs an ensemble: add --members N")
    if args.perimeters and not args.perimeters.lower().endswith((".gpkg", ".geojson", ".json")):
        raise WriteError(f"--perimeters {args.perimeters}: name the file .gpkg (GeoPackage) or .geojson")
    event = emberxr.open_event(args.event, **({"event_id": args.event_id} if args.event_id else {}))
    if args.perimeters:
        from emberxr.schema import require_crs

        require_crs(event, f"the perimeters {args.perimeters}")  # before the forecast: vectors need a CRS
    options = {"future_wind": args.wind}
    if ensemble:
        options.update(
            members=args.members, seed=args.seed, sampling=args.sampling, wind_spread=args.wind_spread
        )
    ds = fitted.forecast(event, t=args.t, horizon=args.horizon, **options)
    written = []
    rasters = [
        (args.output, "probability", "probability"),
        (args.mask, "fire_mask", "mask"),
        (args.arrival, "arrival_time", "arrival"),
        (args.arrival_std, "arrival_time_std", "spread"),
    ]
    dt = float(ds.attrs["time_step_hours"])
    for path, variable, style in rasters:
        if not path:
            continue
        write_forecast(ds, path, cog=args.cog, variable=variable)
        written.append(path)
        if not args.no_style:
            from emberxr.products.qgis import write_style

            top = dt * int(ds.sizes["step"]) / (2 if style == "spread" else 1)
            written.append(str(write_style(path, style, step_hours=dt, max_hours=top)))
    if args.perimeters:
        from emberxr.products.perimeters import write_perimeters

        written += [str(p) for p in write_perimeters(ds, args.perimeters, levels=args.levels)]
    if args.quicklook:
        from emberxr.products.quicklook import quicklook

        written.append(str(quicklook(ds, event, args.quicklook)))
    if ensemble:
        kind = f"ensemble of {ds.attrs['members']} ({ds.attrs['sampling']}, seed {ds.attrs['seed']})"
    else:
        kind = "no threshold" if fitted.threshold is None else f"threshold {fitted.threshold:.3f}"
    cal = ds.attrs.get("calibration", "none")
    print(
        f"[emberxr] {fitted.model_name} forecast for {ds.attrs['event_id']} from {ds.attrs['issue_time']} "
        f"({', '.join(step_labels(ds))}, {kind}{'' if cal == 'none' else f', {cal} calibration'}; "
        f"wind: {ds.attrs.get('wind_source', 'event')}) -> {', '.join(written)}"
    )
    return 0
