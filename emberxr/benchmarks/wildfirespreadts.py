"""The WildfireSpreadTS protocol (Gerard et al., NeurIPS 2023; Lahrichi et al., WACV 2026).

- **Folds**: the 12 published splits of the years 2018–2021 (:data:`FOLDS`, in the order of the
  published ``data_fold_id``): two training years, one validation year, one test year.
- **Normalisation** is fitted on each fold's training years only (:func:`emberxr.fit` computes
  the statistics on the ``train`` split it is given; :attr:`FoldResult.stats` keeps them).
- **Target**: the next day's active fire (the events' ``fire`` is the daily VIIRS detection mask,
  ``fire_kind: active``).
- **Score**: average precision pooled over every test pixel of every test sample, streamed through
  emberxr's exact AP (:class:`emberxr.train.metrics.ScoreCounts`): no prediction is held in
  memory. Mean ± sample standard deviation over the folds.
- **The same test samples for every number of input days** (1–5): the sample set is the one of
  5 input days (a sample for every day ``t >= 4`` that has a next day) and is reused, as the
  published ``n_leading_observations_test_adjustment=5``: with ``days`` input days the first
  ``5 - days`` days of each test fire are dropped and every sample has exactly ``days`` inputs
  (``data.min_history = data.max_history = days``). Training and validation use every sample with
  ``days`` inputs.
- **Feature sets** (:data:`FEATURE_SETS`, the published ``features_to_keep`` lists of Table 5
  mapped to band names): ``veg`` = VIIRS M11, I2, I1, NDVI, EVI2 + active fire; ``multi`` = those
  + weather (precipitation, wind speed and direction, min/max temperature, specific humidity),
  topography (slope, aspect, elevation) and land cover; ``all`` = every band (adds energy release
  component, PDSI and the GFS forecasts). Subsets are selected by band name (static bands and
  ``dynamic`` bands), so they hold for any model; ``veg`` also zeroes ``wind_u``/``wind_v``.

Nothing here was run on the real data set (it cannot be downloaded on the machines that built
emberxr); see ``docs/benchmarks-public.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from emberxr.benchmarks import active_fire_fit_kwargs, next_mask_row
from emberxr.errors import ConfigError, Problem
from emberxr.readers.wildfirespreadts import STATIC_BANDS

__all__ = [
    "FEATURE_SETS",
    "FOLDS",
    "PUBLISHED",
    "TEST_DAYS",
    "FeatureSet",
    "Fold",
    "FoldResult",
    "WSTSResult",
    "fixed_test_events",
    "fold_splits",
    "get_fold",
    "load_years",
    "run",
    "select_features",
]

YEARS = (2018, 2019, 2020, 2021)
#: the 12 published folds: (training year, training year, validation year, test year)
FOLDS: tuple[tuple[int, int, int, int], ...] = (
    (2018, 2019, 2020, 2021),
    (2018, 2019, 2021, 2020),
    (2018, 2020, 2019, 2021),
    (2018, 2020, 2021, 2019),
    (2018, 2021, 2019, 2020),
    (2018, 2021, 2020, 2019),
    (2019, 2020, 2018, 2021),
    (2019, 2020, 2021, 2018),
    (2019, 2021, 2018, 2020),
    (2019, 2021, 2020, 2018),
    (2020, 2021, 2018, 2019),
    (2020, 2021, 2019, 2018),
)
#: the number of input days whose sample set every setting is scored on
TEST_DAYS = 5
MAX_DAYS = TEST_DAYS


@dataclass(frozen=True)
class Fold:
    """One published fold."""

    index: int
    train: tuple[int, int]
    val: int
    test: int

    def __str__(self) -> str:
        return f"fold {self.index}: train {self.train[0]}+{self.train[1]}, val {self.val}, test {self.test}"


def get_fold(index: int) -> Fold:
    """Fold ``index`` (0..11) of :data:`FOLDS`.

    Raises
    ------
    ConfigError
        ``index`` is outside 0..11.
    """
    if not 0 <= int(index) < len(FOLDS):
        raise ConfigError(
            [Problem(f"fold {index} does not exist", f"use folds 0..{len(FOLDS) - 1}")], subject="benchmark"
        )
    a, b, v, t = FOLDS[int(index)]
    return Fold(int(index), (a, b), v, t)


@dataclass(frozen=True)
class FeatureSet:
    """A published feature subset as band names (None: every band)."""

    name: str
    description: str
    static: tuple[str, ...] | None
    dynamic: tuple[str, ...] | None
    wind: bool


_VEG = ("M11", "I2", "I1", "NDVI", "EVI2", "active_fire_hour")
_WEATHER = (
    "total_precipitation",
    "wind_speed",
    "wind_direction_sin",
    "wind_direction_cos",
    "min_temperature",
    "max_temperature",
    "specific_humidity",
)
#: Veg / Multi / All of the paper's Table 5 (``features_to_keep`` [0-4, 38, 39]; [0-9, 11-14,
#: 16-32, 38, 39]; all), as emberxr band names; the fire history is always an input
FEATURE_SETS: dict[str, FeatureSet] = {
    "veg": FeatureSet("veg", "VIIRS M11, I2, I1, NDVI, EVI2 + active fire", (), _VEG, wind=False),
    "multi": FeatureSet(
        "multi",
        "vegetation, weather (no ERC), topography, land cover + active fire",
        STATIC_BANDS,
        _VEG[:5] + _WEATHER + _VEG[5:],
        wind=True,
    ),
    "all": FeatureSet("all", "every band (adds ERC, PDSI and the GFS forecasts)", None, None, wind=True),
}

#: published test AP on WildfireSpreadTS (5 input days, all features unless said), for the table
PUBLISHED: tuple[tuple[str, str, str], ...] = (
    ("U-TAE + ResNet-18 encoder", "0.478 ± 0.085", "Lahrichi et al. 2026 (tuned; best known)"),
    ("Res18-U-Net", "0.460–0.472", "Lahrichi et al. 2026 (tuned)"),
    ("U-TAE", "0.433–0.459", "Lahrichi et al. 2026 (tuned)"),
    ("U-TAE (original)", "0.372", "Gerard et al. 2023"),
    ("Res18-U-Net (original)", "0.33–0.34", "Gerard et al. 2023"),
    ("persistence", "≈ 0.19", "Gerard et al. 2023"),
)


def select_features(event: xr.Dataset, features: str) -> xr.Dataset:
    """The event restricted to a feature set of :data:`FEATURE_SETS` (by band name).

    Raises
    ------
    ConfigError
        An unknown feature set, or bands of the set that the event lacks.
    """
    from emberxr.schema import DBAND, DYNAMIC

    fs = _feature_set(features)
    problems = []
    ev = event
    if fs.static is not None:
        have = [str(b) for b in event["band"].values.tolist()]
        missing = [b for b in fs.static if b not in have]
        if missing:
            problems.append(
                Problem(
                    f"static band(s) {missing} are missing", "read the fire with the wildfirespreadts reader"
                )
            )
        else:
            ev = ev.sel(band=list(fs.static))
    if fs.dynamic is not None:
        have = [str(b) for b in event[DBAND].values.tolist()] if DYNAMIC in event else []
        missing = [b for b in fs.dynamic if b not in have]
        if missing:
            problems.append(
                Problem(
                    f"dynamic band(s) {missing} are missing", "read the fire with the wildfirespreadts reader"
                )
            )
        else:
            ev = ev.sel({DBAND: list(fs.dynamic)})
    if problems:
        raise ConfigError(
            problems, subject=f"feature set {fs.name!r} of event {event.attrs.get('event_id')!r}"
        )
    if not fs.wind:
        ev = ev.assign(wind_u=ev["wind_u"] * 0, wind_v=ev["wind_v"] * 0)
    return ev.assign_attrs(features=fs.name)


def _feature_set(name: str) -> FeatureSet:
    if name not in FEATURE_SETS:
        import difflib

        close = difflib.get_close_matches(str(name), list(FEATURE_SETS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            [Problem(f"unknown feature set {name!r}", f"{hint}use one of {', '.join(FEATURE_SETS)}")],
            subject="benchmark",
        )
    return FEATURE_SETS[name]


def _check_days(days: int) -> None:
    if not 1 <= int(days) <= MAX_DAYS:
        raise ConfigError(
            [
                Problem(
                    f"days={days} is out of range", f"use 1..{MAX_DAYS} input days (the published settings)"
                )
            ],
            subject="benchmark",
        )


def fixed_test_events(
    events: Sequence[xr.Dataset], days: int, test_days: int = TEST_DAYS
) -> list[xr.Dataset]:
    """Test events cut so that ``days`` input days score the sample set of ``test_days`` days.

    The first ``test_days - days`` days of each fire are dropped; with ``data.min_history =
    data.max_history = days`` the samples are then the targets ``t + 1`` for ``t >= test_days - 1``
    of the uncut fire, whatever ``days``. Fires with no such sample (``test_days`` days or fewer)
    are left out.
    """
    _check_days(days)
    skip = int(test_days) - int(days)
    return [ev.isel(time=slice(skip, None)) for ev in events if ev.sizes["time"] > test_days]


def _centre_crop(ev: xr.Dataset, crop: str | int | None) -> xr.Dataset:
    """``None``: the whole image; ``"x32"``: the centre crop to multiples of 32 (Gerard et al.);
    an integer N: the centre N×N crop (Lahrichi et al.), the whole image along shorter sides."""
    if crop in (None, "none"):
        return ev
    H, W = ev.sizes["y"], ev.sizes["x"]
    if crop == "x32":
        h, w = max(32, H // 32 * 32), max(32, W // 32 * 32)
    else:
        h = w = int(crop)  # type: ignore[arg-type]
    h, w = min(h, H), min(w, W)
    y0, x0 = (H - h) // 2, (W - w) // 2
    return ev.isel(y=slice(y0, y0 + h), x=slice(x0, x0 + w))


def load_years(
    root: str | os.PathLike,
    years: Sequence[int] = YEARS,
    *,
    layout: str = "auto",
    validate: bool = True,
    progress: bool = True,
) -> dict[int, list[xr.Dataset]]:
    """Every fire of ``years`` under ``root``, read and validated once, by year (reused by every fold).

    Each fire is read from disk once: ``fire``, ``static`` and ``valid`` are kept in memory, the
    wind as its daily mean over the grid (``wind_u``/``wind_v (time,)``: what the models read, the
    gridded wind stays in ``dynamic`` as speed and direction), and ``dynamic`` stays lazy. Fires of
    one day (no sample in any setting) are left out.

    Raises
    ------
    ReaderError
        The root is not a WildfireSpreadTS tree, a year is missing, or a fire id is duplicated.
    EventValidationError
        A fire that does not follow the data model (with ``validate``).
    """
    from emberxr.errors import ReaderError
    from emberxr.progress import progress as bar
    from emberxr.readers.wildfirespreadts import index_fires, open_fire

    entries = index_fires(root, layout)
    have = sorted({e.year for e in entries})
    missing = [y for y in years if y not in have]
    if missing:
        raise ReaderError(
            f"{str(root)!r} has no fire of the year(s) {missing} (it has {have or 'none'}). Fix: download "
            "every year of WildfireSpreadTS (2018-2021) into the root."
        )
    out: dict[int, list[xr.Dataset]] = {int(y): [] for y in years}
    chosen = [e for e in entries if e.year in out]
    for e in bar(chosen, "read WildfireSpreadTS fires", unit="fire", enabled=progress, delay=2.0):
        lazy = open_fire(e.path)
        if lazy.sizes["time"] < 2:
            continue
        out[e.year].append(_in_memory(lazy, validate))
    return out


def _in_memory(lazy: xr.Dataset, validate: bool) -> xr.Dataset:
    """``lazy`` read once (and validated): fire/static/valid in memory, the wind as its daily
    mean, ``dynamic`` lazy again."""
    from emberxr.schema import DYNAMIC, wind_series
    from emberxr.validate import validate as check

    full = lazy.compute()  # one read of every day of the fire
    if validate:
        check(full)
    wind = wind_series(full)
    keep = full.drop_vars([DYNAMIC, "wind_u", "wind_v"])
    keep = keep.assign(
        wind_u=("time", wind[:, 0], full["wind_u"].attrs),
        wind_v=("time", wind[:, 1], full["wind_v"].attrs),
    )
    if DYNAMIC in lazy:
        keep = keep.assign({DYNAMIC: lazy[DYNAMIC]})
    return keep.assign_attrs(wind_note="wind_u/wind_v: daily mean of the gridded wind (read by the models)")


def fold_splits(
    events_by_year: Mapping[int, Sequence[xr.Dataset]],
    fold: Fold,
    days: int = TEST_DAYS,
    features: str = "all",
    test_crop: str | int | None = None,
) -> dict[str, list[xr.Dataset]]:
    """``{"train", "val", "test"}`` events of ``fold``: feature set applied, test fires cut to the
    fixed sample set (:func:`fixed_test_events`) and optionally centre-cropped."""
    _check_days(days)

    def of(years: Sequence[int]) -> list[xr.Dataset]:
        return [select_features(ev, features) for y in years for ev in events_by_year[y]]

    test = fixed_test_events(of([fold.test]), days)
    return {
        "train": of(fold.train),
        "val": of([fold.val]),
        "test": [_centre_crop(ev, test_crop) for ev in test],
    }


@dataclass
class FoldResult:
    """The score of one fold."""

    fold: Fold
    ap: float
    n_samples: int
    n_pixels: int
    n_positive: int
    threshold: float | None
    stats: dict[str, Any]
    train_seconds: float | None = None
    run_dir: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "fold": self.fold.index,
            "train": f"{self.fold.train[0]}+{self.fold.train[1]}",
            "val": self.fold.val,
            "test": self.fold.test,
            "test_ap": self.ap,
            "test_samples": self.n_samples,
            "test_pixels": self.n_pixels,
            "test_fire_pixels": self.n_positive,
        }


@dataclass
class WSTSResult:
    """AP per fold and over folds, with the setting that produced them."""

    model: str
    days: int
    features: str
    folds: list[FoldResult] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return float(np.mean([f.ap for f in self.folds])) if self.folds else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation over the folds (NaN for one fold)."""
        return float(np.std([f.ap for f in self.folds], ddof=1)) if len(self.folds) > 1 else math.nan

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([f.row() for f in self.folds])

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": "wildfirespreadts",
            "model": self.model,
            "days": self.days,
            "features": self.features,
            "mean_ap": self.mean,
            "std_ap": self.std,
            "settings": self.settings,
            "folds": [
                {**f.row(), "threshold": f.threshold, "train_seconds": f.train_seconds, "stats": f.stats}
                for f in self.folds
            ],
        }

    def render(self) -> str:
        """Markdown: AP per fold, mean ± std, and the published numbers next to them."""
        lines = [
            f"WildfireSpreadTS — model {self.model}, {self.days} input day(s), features {self.features}",
            "",
            self.to_frame().to_markdown(index=False, floatfmt=".3f") if self.folds else "(no fold run)",
            "",
        ]
        std = "n/a (one fold)" if len(self.folds) < 2 else f"{self.std:.3f}"
        lines.append(f"test AP over {len(self.folds)} fold(s): {self.mean:.3f} ± {std} (mean ± sample std)")
        lines += ["", "published (test AP, 5 input days, 12 folds):", ""]
        lines.append("| model | test AP | source |")
        lines.append("|---|---|---|")
        lines += [f"| {m} | {v} | {s} |" for m, v, s in PUBLISHED]
        return "\n".join(lines)


def run(
    root: str | os.PathLike,
    model: str,
    *,
    days: int = TEST_DAYS,
    features: str = "all",
    folds: Sequence[int] | None = None,
    steps: int | None = None,
    epochs: int = 10,
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    output_dir: str | os.PathLike = "runs/wildfirespreadts",
    layout: str = "auto",
    test_crop: str | int | None = None,
    progress: bool = True,
    events_by_year: Mapping[int, Sequence[xr.Dataset]] | None = None,
) -> WSTSResult:
    """Train and score ``model`` on the folds of the protocol.

    Parameters
    ----------
    root
        The WildfireSpreadTS root (year folders of GeoTIFF fires or HDF5 files).
    model
        A registered model name (``emberxr.list_models()``).
    days
        Input days, 1..5 (the test samples are those of 5 days whatever ``days`` is).
    features
        ``veg``, ``multi`` or ``all`` (:data:`FEATURE_SETS`).
    folds
        Fold indices (default: all 12).
    steps
        Optimisation steps per fold in all (``epochs`` epochs of ``ceil(steps / epochs)`` steps);
        None: ``epochs`` full passes.
    epochs
        Epochs per fold (the best one on the validation year is kept, by validation AP).
    config, overrides
        The training configuration and keyword overrides for :func:`emberxr.fit`
        (``max_history``, ``min_history``, the run directory and W&B are set by the protocol).
    output_dir
        Run directories go to ``output_dir/<model>-<days>d-<features>/fold<k>``.
    layout
        ``auto``, ``geotiff`` or ``hdf5`` (see :func:`emberxr.readers.wildfirespreadts.index_fires`).
    test_crop
        ``None`` scores every test pixel; ``"x32"`` the centre crop to multiples of 32 of the
        original code, an integer N its centre N×N crop.
    events_by_year
        Already opened events (:func:`load_years`), e.g. to share them between runs.

    Returns
    -------
    WSTSResult
    """
    import emberxr
    from emberxr.progress import progress as bar

    _check_days(days)
    _feature_set(features)
    chosen = [get_fold(i) for i in (range(len(FOLDS)) if folds is None else folds)]
    if events_by_year is None:
        events_by_year = load_years(root, layout=layout, progress=progress)
    fit_kw = active_fire_fit_kwargs(days, epochs, steps, progress, overrides)
    out_root = Path(output_dir) / f"{model}-{days}d-{features}"
    result = WSTSResult(
        model,
        int(days),
        features,
        settings={
            "epochs": int(epochs),
            "steps": steps,
            "test_crop": test_crop,
            "root": str(root),
            **{k: v for k, v in fit_kw.items() if k != "progress"},
        },
    )
    for fold in bar(chosen, "folds", unit="fold", enabled=progress and len(chosen) > 1):
        splits = fold_splits(events_by_year, fold, days, features, test_crop)
        if not splits["test"]:
            raise ConfigError(
                [
                    Problem(
                        f"{fold}: no test fire has more than {TEST_DAYS} days", "check the test year's data"
                    )
                ],
                subject="benchmark",
            )
        fitted = emberxr.fit(
            {"train": splits["train"], "val": splits["val"]},
            model=model,
            config=config,
            output_dir=str(out_root),
            run_name=f"fold{fold.index}",
            **fit_kw,
        )
        df = fitted.evaluate(splits["test"], split="test", per_event=False, progress=progress)
        row = next_mask_row(df)
        result.folds.append(
            FoldResult(
                fold,
                float(row["ap"]),
                int(row["n_samples"]),
                int(row["n_pixels"]),
                int(row["n_positive"]),
                fitted.threshold,
                fitted.stats.to_dict(),
                fitted.train_seconds,
                str(fitted.run_dir) if fitted.run_dir else None,
            )
        )
    return result
