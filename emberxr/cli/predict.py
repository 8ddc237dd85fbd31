"""``emberxr predict CKPT EVENT -o forecast.tif``: a georeferenced fire-probability forecast.

CKPT is a checkpoint written by fit (``model.pt``) or a file written by ``emberxr export``
(``.onnx`` or ``.pt2``: run with the same windows and blending). EVENT is a zarr FireEvent or a
``raw`` folder of GeoTIFF/PNG/CSV. The output GeoTIFF has the event's CRS and grid (it opens in
place in QGIS), one band per forecast step named ``t+1h``, ``t+2h`` ... holding the probability
that the cell is burned (NaN outside the data footprint). ``--mask`` and ``--arrival`` also write
the binary forecast (at the threshold chosen on validation) and the estimated arrival time in hours
from the issue time. Each raster gets a QGIS style sidecar (``.qml``, opt out with ``--no-style``).
A calibrated checkpoint's probabilities are calibrated.

Scenes of any size: the event is read window by window, overlapping windows are blended without
seams, and the files are written strip by strip (``--cog`` builds the overviews at the end), so
memory stays bounded. ``--device`` picks where the model runs (default: where it was trained, when
this machine has that device, else the CPU).

Products (docs/forecasting.md):
  --members N        an ensemble: -o holds the burn probability (share of members burned),
                     --arrival the ensemble mean arrival time, --arrival-std its spread
  --wind FILE.csv    what-if future wind (time,speed,direction or time,u,v; m/s, degrees from)
  --perimeters F     forecast perimeters per step and level + isochrones (.gpkg or .geojson)
  --quicklook F.png  a quick-look map (hillshade, perimeters, wind arrows)
Ensembles, perimeters and quick-looks are made from the whole forecast held in memory.
"""

from __future__ import annotations

import argparse

EXPORTED_SUFFIXES = (".onnx", ".pt2")


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
    add_device_option(p)
    p.add_argument(
        "--tile-size", type=int, default=None, help="window side (default: the training tile size)"
    )
    p.add_argument("--overlap", type=int, default=None, help="pixels shared by windows (default: a quarter)")
    p.add_argument(
        "--batch-size", type=int, default=None, help="windows per model call (default: ~262k pixels)"
    )
    p.add_argument("--compile", action="store_true", help="run the model through torch.compile")
    add_amp_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def add_device_option(p: argparse.ArgumentParser) -> None:
    """``--device``, shared by the commands that run a model (predict, evaluate, export)."""
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:N, mps or auto (default: the training device when available, else cpu)",
    )


def add_amp_option(p: argparse.ArgumentParser) -> None:
    """``--amp``, shared by predict and evaluate."""
    p.add_argument(
        "--amp",
        action="store_true",
        help="mixed precision: bfloat16 on the CPU (fast with AMX), float16 on CUDA; "
        "probabilities move by about 1e-3 on average (check with evaluate --amp)",
    )


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr predict``."""
    from pathlib import Path

    import emberxr
    from emberxr.errors import ConfigError, Problem, ThresholdNotSetError, WriteError

    ensemble = args.members is not None
    if args.amp and Path(args.checkpoint).suffix in EXPORTED_SUFFIXES:  # before reading anything
        raise ConfigError(
            [
                Problem(
                    f"--amp with the exported model {args.checkpoint}, which keeps its export's precision",
                    "leave out --amp, or predict with the PyTorch checkpoint",
                )
            ]
        )
    if Path(args.checkpoint).suffix in EXPORTED_SUFFIXES:
        from emberxr.export import load_exported

        source = load_exported(args.checkpoint)
    else:
        source = emberxr.load(args.checkpoint)
    if source.threshold is None and not ensemble and (args.mask or args.arrival or args.perimeters):
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
    if args.amp:
        options["amp"] = True
    options.update(future_wind=args.wind, progress=not args.no_progress)
    rasters = [
        (args.output, "probability", "probability"),
        (args.mask, "fire_mask", "mask"),
        (args.arrival, "arrival_time", "arrival"),
        (args.arrival_std, "arrival_time_std", "spread"),
    ]
    if ensemble or args.perimeters or args.quicklook:  # products of the whole forecast, in memory
        from emberxr.forecast import forecast_from, step_labels, write_forecast

        if ensemble:
            options.update(
                members=args.members, seed=args.seed, sampling=args.sampling, wind_spread=args.wind_spread
            )
        ds = forecast_from(source, event, t=args.t, horizon=args.horizon, **options)
        for path, variable, _ in rasters:
            if path:
                write_forecast(ds, path, cog=args.cog, variable=variable)
        attrs, labels, steps = ds.attrs, step_labels(ds), int(ds.sizes["step"])
    else:  # streamed: scenes of any size in bounded memory
        from emberxr.forecast import write_prediction

        out = write_prediction(
            source,
            event,
            args.output,
            t=args.t,
            horizon=args.horizon,
            mask=args.mask,
            arrival=args.arrival,
            cog=args.cog,
            **options,
        )
        attrs, labels, steps = out["attrs"], out["labels"], len(out["labels"])
    written = []
    dt = float(attrs["time_step_hours"])
    for path, _, style in rasters:
        if not path:
            continue
        written.append(path)
        if not args.no_style:
            from emberxr.products.qgis import write_style

            top = dt * steps / (2 if style == "spread" else 1)
            written.append(str(write_style(path, style, step_hours=dt, max_hours=top)))
    if args.perimeters:
        from emberxr.products.perimeters import write_perimeters

        written += [str(p) for p in write_perimeters(ds, args.perimeters, levels=args.levels)]
    if args.quicklook:
        from emberxr.products.quicklook import quicklook

        written.append(str(quicklook(ds, event, args.quicklook)))
    if ensemble:
        kind = f"ensemble of {attrs['members']} ({attrs['sampling']}, seed {attrs['seed']})"
    else:
        kind = "no threshold" if source.threshold is None else f"threshold {source.threshold:.3f}"
    cal = attrs.get("calibration", "none")
    print(
        f"[emberxr] {source.model_name} forecast for {attrs['event_id']} from {attrs['issue_time']} "
        f"({', '.join(labels)}, {kind}{'' if cal == 'none' else f', {cal} calibration'}; "
        f"wind: {attrs.get('wind_source', 'event')}) -> {', '.join(written)}"
    )
    return 0
