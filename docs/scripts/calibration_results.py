"""Calibration before / after for ``docs/results.md``: ECE, AP and F1 of a checkpoint with no
calibration, temperature scaling and isotonic regression, each fitted on the validation split
and scored on the test split.

Usage::

    # measure (writes docs/results/calibration.csv and docs/img/calibration-reliability.png)
    .venv/bin/python docs/scripts/calibration_results.py measure outputs/runs/emberformer/model.pt --data sim-small
    # rewrite the block `calibration` of docs/results.md from the committed CSV
    .venv/bin/python docs/scripts/calibration_results.py write
    # print the block
    .venv/bin/python docs/scripts/calibration_results.py render

``measure`` calibrates copies of the checkpoint with :func:`emberxr.products.calibration.calibrate`
(which also re-chooses the threshold on the calibrated probabilities) and evaluates each with
``Fitted.evaluate(..., calibration=True)``. ``tests/products/test_docs_blocks.py`` fails when the
block differs from :func:`render` of the committed CSV.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CSV = ROOT / "docs" / "results" / "calibration.csv"
FIGURE = ROOT / "docs" / "img" / "calibration-reliability.png"
DOC = ROOT / "docs" / "results.md"
BLOCK = "calibration"
METHODS = ("none", "temperature", "isotonic")
COLUMNS = (
    "checkpoint",
    "model",
    "data",
    "method",
    "parameters",
    "threshold",
    "next_ece",
    "new_ece",
    "next_ap",
    "new_ap",
    "next_f1",
    "new_f1",
    "n_samples",
)


def measure(
    checkpoint: str, data: str, fit_split: str, eval_split: str, bins: int
) -> tuple[list[dict], dict]:
    """One row per method and the reliability bins per method (next and new)."""
    import pandas as pd

    import emberxr
    from emberxr.products.calibration import calibrate

    base = emberxr.load(checkpoint)
    rows, curves = [], {}
    for method in METHODS:
        fitted = copy.copy(base)
        fitted.metrics = dict(base.metrics)
        cal = calibrate(fitted, data, method, split=fit_split, progress=True)
        with tempfile.TemporaryDirectory() as tmp:
            df = fitted.evaluate(
                data, split=eval_split, per_event=False, calibration_dir=tmp, ece_bins=bins, progress=True
            )
            curves[method] = pd.read_csv(Path(tmp) / "calibration_bins.csv")
        r = df[df["scope"] == "all"].set_index("target")
        if cal is None:
            params = "-"
        elif method == "temperature":
            params = f"T = {cal['temperature']:.3f}"
        else:
            params = f"{len(cal['logits'])} knots"
        rows.append(
            {
                "checkpoint": Path(checkpoint).name,
                "model": base.model_name,
                "data": f"{data} (fit: {fit_split}, scored: {eval_split})",
                "method": method,
                "parameters": params,
                "threshold": fitted.threshold,
                "next_ece": r.loc["next", "ece"],
                "new_ece": r.loc["new", "ece"],
                "next_ap": r.loc["next", "ap"],
                "new_ap": r.loc["new", "ap"],
                "next_f1": r.loc["next", "f1"],
                "new_f1": r.loc["new", "f1"],
                "n_samples": int(r.loc["next", "n_samples"]),
            }
        )
    return rows, curves


def plot(curves: dict, path: Path) -> None:
    """Reliability curves of every method, next fire mask and newly burned pixels side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emberxr.atomic import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.8), constrained_layout=True)
    for ax, (target, title) in zip(axes, (("next", "next fire mask"), ("new", "newly burned pixels"))):
        ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
        for method, bins in curves.items():
            b = bins[bins["target"] == target]
            ax.plot(b["mean_probability"], b["observed_frequency"], marker="o", ms=3, label=method)
        ax.set(xlim=(0, 1), ylim=(0, 1), title=title, xlabel="predicted probability")
        ax.set_aspect("equal")
    axes[0].set_ylabel("observed frequency of fire")
    axes[0].legend(title="calibration", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def render(csv: Path = CSV) -> str:
    """The block's markdown from the committed CSV."""
    import pandas as pd

    df = pd.read_csv(csv)
    first = df.iloc[0]
    head = (
        f"Checkpoint `{first['checkpoint']}` ({first['model']}), {first['data']}, "
        f"{int(first['n_samples'])} test samples; ECE with 15 equal-width bins."
    )
    lines = [
        head,
        "",
        "| calibration | parameters | threshold | **next ECE** | **new ECE** | next AP | new AP | next F1 | new F1 |",
        "|:--|:--|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for _, r in df.iterrows():
        lines.append(
            f"| {r['method']} | {r['parameters']} | {r['threshold']:.4f} | {r['next_ece']:.4f} | {r['new_ece']:.4f} "
            f"| {r['next_ap']:.3f} | {r['new_ap']:.3f} | {r['next_f1']:.3f} | {r['new_f1']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    m = sub.add_parser("measure", help="calibrate and score a checkpoint, write the CSV and the figure")
    m.add_argument("checkpoint")
    m.add_argument("--data", default="sim-small")
    m.add_argument("--fit-split", default="val")
    m.add_argument("--eval-split", default="test")
    m.add_argument("--bins", type=int, default=15)
    m.add_argument("--csv", type=Path, default=CSV)
    m.add_argument("--figure", type=Path, default=FIGURE)
    sub.add_parser("write", help="rewrite the block in docs/results.md from the CSV")
    sub.add_parser("render", help="print the block")
    args = parser.parse_args(argv)
    if args.action == "measure":
        import pandas as pd

        from emberxr.atomic import atomic_path

        rows, curves = measure(args.checkpoint, args.data, args.fit_split, args.eval_split, args.bins)
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.csv) as tmp:
            pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(tmp, index=False)
        plot(curves, args.figure)
        print(f"wrote {args.csv} and {args.figure}")
    elif args.action == "write":
        from emberxr.doc_blocks import replace_block

        replace_block(DOC, BLOCK, render())
    else:
        print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
