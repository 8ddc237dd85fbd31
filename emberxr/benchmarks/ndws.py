"""The Next Day Wildfire Spread protocol (Huot et al., 2022).

- **Splits**: the published files: ``*_train_*.tfrecord`` to train, ``*_eval_*`` to validate and
  choose the threshold, ``*_test_*`` to score (tiles are events of two days, see
  :mod:`emberxr.readers.ndws`).
- **Unknown labels** (``FireMask == -1``) are outside each tile's ``valid`` footprint: they are left
  out of the loss, of the threshold choice and of every score.
- **Scores** of the fire class over every known test pixel: AUC-PR (average precision, exact and
  streamed), and precision, recall and F1 at the threshold that maximises F1 on the eval files
  (:func:`emberxr.fit` chooses it on the validation split).

Every tile is used, also tiles without fire at either day (they would not pass
:func:`emberxr.validate`, which asks for a burned pixel, so the protocol reads tiles unvalidated;
their structure is fixed by the reader). Nothing here was run on the real data set (it cannot be
downloaded on the machines that built emberxr); see ``docs/benchmarks-public.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import xarray as xr

from emberxr.benchmarks import active_fire_fit_kwargs, next_mask_row

__all__ = ["PUBLISHED", "NDWSResult", "load_splits", "run"]

#: published fire-class scores on the NDWS test files (random-split papers are not comparable)
PUBLISHED: tuple[tuple[str, str, str], ...] = (
    ("AUC-PR", "0.28–0.34", "Huot et al. 2022 and later same-split work"),
    ("F1", "0.40–0.42", "best reported on the published split"),
)
#: the file split of each protocol split
FILE_SPLITS = {"train": "train", "val": "eval", "test": "test"}


def load_splits(root: str | os.PathLike, progress: bool = True) -> dict[str, list[xr.Dataset]]:
    """The lazy tile events of ``train``, ``val`` (the eval files) and ``test``."""
    from emberxr.readers.ndws import read_split

    return {k: read_split(root, g, validate=False, progress=progress) for k, g in FILE_SPLITS.items()}


@dataclass
class NDWSResult:
    """Fire-class scores on the test files and the setting that produced them."""

    model: str
    ap: float
    precision: float
    recall: float
    f1: float
    threshold: float
    n_tiles: dict[str, int]
    n_pixels: int
    n_positive: int
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": "ndws",
            "model": self.model,
            "auc_pr": self.ap,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "threshold": self.threshold,
            "tiles": self.n_tiles,
            "test_pixels": self.n_pixels,
            "test_fire_pixels": self.n_positive,
            "settings": self.settings,
        }

    def render(self) -> str:
        """Markdown: the scores and the published ranges next to them."""
        tiles = ", ".join(f"{k} {v}" for k, v in self.n_tiles.items())
        return "\n".join(
            [
                f"Next Day Wildfire Spread — model {self.model} ({tiles} tiles; unknown labels masked)",
                "",
                "| score (fire class, test) | emberxr | published |",
                "|---|---|---|",
                f"| AUC-PR | {self.ap:.3f} | {PUBLISHED[0][1]} |",
                f"| F1 | {self.f1:.3f} | {PUBLISHED[1][1]} |",
                f"| precision | {self.precision:.3f} | |",
                f"| recall | {self.recall:.3f} | |",
                "",
                f"threshold {self.threshold:.3f} (max F1 on the eval files); {self.n_pixels} known test pixels, "
                f"{self.n_positive} on fire",
            ]
        )


def run(
    root: str | os.PathLike,
    model: str,
    *,
    steps: int | None = None,
    epochs: int = 10,
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    output_dir: str | os.PathLike = "runs/ndws",
    progress: bool = True,
    splits: Mapping[str, Sequence[xr.Dataset]] | None = None,
) -> NDWSResult:
    """Train ``model`` on the train files, choose its threshold on the eval files, score the test files.

    Parameters
    ----------
    root
        Folder of the NDWS TFRecord files.
    model
        A registered model name.
    steps, epochs
        Optimisation steps in all (``epochs`` epochs of ``ceil(steps / epochs)`` steps); None:
        ``epochs`` full passes over the training tiles.
    config, overrides
        Training configuration and keyword overrides for :func:`emberxr.fit` (one history frame;
        the run directory and W&B are set here).
    splits
        Already opened tiles (:func:`load_splits`).

    Returns
    -------
    NDWSResult
    """
    import emberxr

    if splits is None:
        splits = load_splits(root, progress=progress)
    fit_kw = active_fire_fit_kwargs(1, epochs, steps, progress, overrides)
    fitted = emberxr.fit(
        {"train": list(splits["train"]), "val": list(splits["val"])},
        model=model,
        config=config,
        output_dir=str(output_dir),
        run_name=f"{model}",
        **fit_kw,
    )
    df = fitted.evaluate(list(splits["test"]), split="test", per_event=False, progress=progress)
    row = next_mask_row(df)
    return NDWSResult(
        model,
        float(row["ap"]),
        float(row["precision"]),
        float(row["recall"]),
        float(row["f1"]),
        float(fitted.threshold) if fitted.threshold is not None else math.nan,
        {k: len(v) for k, v in splits.items()},
        int(row["n_pixels"]),
        int(row["n_positive"]),
        settings={"root": str(root), "steps": steps, **{k: v for k, v in fit_kw.items() if k != "progress"}},
    )
