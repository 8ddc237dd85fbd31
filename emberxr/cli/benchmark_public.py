"""``emberxr benchmark wildfirespreadts|ndws``: the public benchmarks' protocols.

``wildfirespreadts`` trains a model on each of the 12 published year folds of WildfireSpreadTS
(or the ones given) and prints the test AP per fold, their mean ± std and the published numbers::

    emberxr benchmark wildfirespreadts --root $WSTS_ROOT --model utae --days 5 --features all
    emberxr benchmark wildfirespreadts --root $WSTS_ROOT --model copylast --folds 0 1 --epochs 1

``ndws`` trains on the Next Day Wildfire Spread train files, chooses the threshold on the eval files
and prints fire-class AUC-PR, precision, recall and F1 on the test files next to the published
range::

    emberxr benchmark ndws --root $NDWS_ROOT --model unets --steps 2000

Extra ``key=value`` arguments override the training configuration (``batch_size=16``,
``model.d_model=64``). See docs/benchmarks-public.md for the data and the protocols.
"""

from __future__ import annotations

import argparse


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", required=True, help="folder of the data set (see docs/benchmarks-public.md)")
    p.add_argument("--model", required=True, help="registered model name (emberxr models list)")
    p.add_argument(
        "--config",
        help="training configuration: a YAML file or a shipped config name such as utae (default: "
        "emberxr's defaults)",
    )
    p.add_argument(
        "--steps",
        type=int,
        help="optimisation steps per training run in all (default: full passes over the data)",
    )
    p.add_argument("--epochs", type=int, default=10, help="epochs per training run (default: 10)")
    p.add_argument("--output-dir", help="where run directories go (default: runs/<benchmark>)")
    p.add_argument(
        "-o", "--output", help="also write the results: .json (everything) or .csv / .md (the table)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="training configuration overrides, e.g. batch_size=16",
    )


def register(actions: argparse._SubParsersAction) -> None:
    """Add ``wildfirespreadts`` and ``ndws`` to the ``benchmark`` group."""
    fmt = argparse.RawDescriptionHelpFormatter
    w = actions.add_parser(
        "wildfirespreadts",
        help="WildfireSpreadTS: 12 year folds, test AP per fold and mean ± std",
        description=__doc__,
        formatter_class=fmt,
    )
    _common(w)
    w.add_argument("--days", type=int, default=5, choices=range(1, 6), help="input days, 1-5 (default: 5)")
    w.add_argument(
        "--features", default="all", choices=("veg", "multi", "all"), help="feature set (default: all)"
    )
    w.add_argument("--folds", type=int, nargs="+", metavar="K", help="fold indices 0-11 (default: all 12)")
    w.add_argument(
        "--layout",
        default="auto",
        choices=("auto", "geotiff", "hdf5"),
        help="which files to read (default: auto)",
    )
    w.add_argument(
        "--test-crop",
        default="none",
        help="score every test pixel (none, default), the centre crop to multiples of 32 (x32, the "
        "original code) or a centre N×N crop (an integer)",
    )
    w.set_defaults(func=run_wildfirespreadts)
    n = actions.add_parser(
        "ndws",
        help="Next Day Wildfire Spread: fire-class AUC-PR, precision, recall, F1 (unknown masked)",
        description=__doc__,
        formatter_class=fmt,
    )
    _common(n)
    n.set_defaults(func=run_ndws)


def _overrides(items: list[str]) -> dict[str, object]:
    """``key=value`` strings as fit keywords (dotted keys become ``a__b``; values parsed as YAML)."""
    import yaml

    from emberxr.errors import ConfigError, Problem

    out: dict[str, object] = {}
    bad = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            bad.append(
                Problem(f"{item!r} is not KEY=VALUE", "write overrides as key=value, e.g. batch_size=16")
            )
            continue
        out[key.replace(".", "__")] = yaml.safe_load(value)
    if bad:
        raise ConfigError(bad, subject="benchmark overrides")
    return out


def _write(result: object, path: str | None) -> None:
    if not path:
        return
    import json
    from pathlib import Path

    from emberxr.atomic import atomic_path

    p = Path(path)
    with atomic_path(p) as tmp:
        if p.suffix.lower() == ".json":
            Path(tmp).write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n")  # type: ignore[attr-defined]
        elif p.suffix.lower() == ".csv" and hasattr(result, "to_frame"):
            result.to_frame().to_csv(tmp, index=False)
        else:
            Path(tmp).write_text(result.render() + "\n")  # type: ignore[attr-defined]
    print(f"[emberxr] results written to {p}")


def _crop(text: str) -> str | int | None:
    from emberxr.errors import ConfigError, Problem

    if text in ("none", "x32"):
        return None if text == "none" else text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(
            [Problem(f"--test-crop {text!r} is not understood", "use none, x32 or a positive integer")],
            subject="benchmark",
        )
    return n


def run_wildfirespreadts(args: argparse.Namespace) -> int:
    """Handle ``emberxr benchmark wildfirespreadts``."""
    from emberxr.benchmarks import wildfirespreadts as wsts

    result = wsts.run(
        args.root,
        args.model,
        days=args.days,
        features=args.features,
        folds=args.folds,
        steps=args.steps,
        epochs=args.epochs,
        config=args.config,
        overrides=_overrides(args.overrides),
        output_dir=args.output_dir or "runs/wildfirespreadts",
        layout=args.layout,
        test_crop=_crop(args.test_crop),
        progress=not args.no_progress,
    )
    print(result.render())
    _write(result, args.output)
    return 0


def run_ndws(args: argparse.Namespace) -> int:
    """Handle ``emberxr benchmark ndws``."""
    from emberxr.benchmarks import ndws

    result = ndws.run(
        args.root,
        args.model,
        steps=args.steps,
        epochs=args.epochs,
        config=args.config,
        overrides=_overrides(args.overrides),
        output_dir=args.output_dir or "runs/ndws",
        progress=not args.no_progress,
    )
    print(result.render())
    _write(result, args.output)
    return 0
