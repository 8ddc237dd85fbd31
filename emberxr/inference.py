"""Windowed, batched prediction over scenes of any size: how a model is run on an event.

:func:`predict_histories` is the one core every forecast goes through (``forecast.predict_step``
is its one-history case, :func:`emberxr.forecast.forecast` and
:func:`emberxr.forecast.write_prediction` roll it forward, ensembles run it on many histories at
once). Given ``N`` fire histories of one event it returns (or streams) ``N`` next-step probability
maps:

1. **Windows.** A scene larger than the window (the model's training ``tile_size``; without one,
   :data:`MAX_WINDOW`) is cut into overlapping windows (:func:`plan_windows`, laid out by
   :func:`emberxr.data.tiling.eval_tiles`); a scene that fits is one window.
2. **Strips.** Inputs are read one horizontal strip (a few rows of windows) at a time from the
   event's arrays: a lazy event (zarr, COG, raw GeoTIFF, any Dask-backed reader) is never loaded
   whole (nor are its dynamic bands, shared by the ``N`` histories). Reads go through
   :class:`RowBlocks`: whole storage-chunk rows, kept until the strips have moved past, so each
   stored chunk is decoded once and the time stays linear in the area. Each strip goes through the
   training preprocessing (:func:`~emberxr.data.datasets.assemble_sample`, what every
   :class:`~emberxr.data.datasets.FireSampleDataset` sample goes through: normalisation, padding
   to the patch size) and the windows are cut from it.
3. **Batches.** Windows of all ``N`` histories are run in batches (about :data:`BATCH_PIXELS`
   pixels each) under :func:`torch.inference_mode` on the chosen device, with the fused attention
   path (``record_attention`` off), optionally channels-last and ``torch.compile``. A model's
   probability calibration (``Fitted.calibration``) maps the logits before the sigmoid
   (:func:`probabilities`), for eager and exported models alike.
4. **Blending.** Each window's probabilities are weighted by a raised-cosine (Hann) taper across
   the overlaps with its neighbours (:func:`taper`) and the weighted sum is divided by the summed
   weights, so there are no seams: a constant input gives a constant output across window
   borders, and for a translation-equivariant model the result equals the one-window result. The
   taper is zero on a guard band of ``overlap // 4`` pixels at each inner window edge (where
   zero padding shows) and sums to one across a regular overlap.
5. **Rows out.** Rows that no later window touches are handed to a ``sink`` in order, so a
   writer (:class:`~emberxr.io.geotiff.GeoTiffWriter`) can stream them to disk.
6. **Panels.** A scene wider than :data:`PANEL_WIDTH` is run in vertical panels
   (:func:`plan_panels`), one after the other, each top to bottom: strips, decoded chunks and
   blending buffers are then those of a panel, so memory stays that of a 2048-wide scene whatever
   the scene's size. A panel runs every window that touches its columns (the windows across a cut
   run in both panels), so each pixel is blended from the same windows as in one pass.

The model is a ``torch.nn.Module`` (run by :class:`TorchRunner`) or any :class:`Runner`, such as
an exported model (:mod:`emberxr.export`): the windowing and blending code is the same.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.profiler import record_function

from emberxr.data.tiling import Tile, eval_tiles
from emberxr.errors import ConfigError, Problem
from emberxr.memory import release, retain_heap
from emberxr.schema import (
    DYNAMIC,
    FIRE,
    STATIC,
    VALID,
)

__all__ = [
    "BATCH_PIXELS",
    "MAX_WINDOW",
    "PANEL_WIDTH",
    "SPILL_PIXELS",
    "BlockSink",
    "FrameStack",
    "PackedMask",
    "Panel",
    "PanelRows",
    "RowBlocks",
    "Runner",
    "SceneBuffer",
    "TorchRunner",
    "WindowPlan",
    "plan_panels",
    "plan_windows",
    "predict_histories",
    "probabilities",
    "resolve_device",
    "storage_rows",
    "taper",
    "training_device",
]

MAX_WINDOW = 512
"""Window side used when the model has no training ``tile_size`` and the scene is larger."""

BATCH_PIXELS = 1 << 18
"""Default pixels per model call (windows × window area): 64 windows of 64², one of 512². Peak
memory grows with it (about 5 MB per 64² window for EmberFormer on the CPU); larger batches were
not faster on the CPU."""

STRIP_PIXELS = 1 << 21
"""Rows of windows are read together while the strip stays below this many pixels."""

SPILL_PIXELS = 1 << 22
"""A :class:`SceneBuffer` of a scene larger than this (2048² pixels) is kept in a temporary file."""
PANEL_WIDTH = 2048
"""A scene wider than this is predicted in vertical panels at most this wide (plus the windows that
reach across a panel's edges), one after the other, top to bottom each: what a prediction holds in
memory (decoded storage chunks, strips, blending buffers) is then that of a scene this wide,
whatever the scene's width."""

BlockSink = Callable[[int, int, np.ndarray], None]
"""``sink(row0, col0, block)``: receives finished pixels ``block [N, h, w]`` whose top-left corner
is scene pixel ``(row0, col0)``, each pixel exactly once: the rows of one panel (the whole width of
a scene up to :data:`PANEL_WIDTH`) top to bottom, then those of the next panel to the right."""


# ---------------------------------------------------------------------------------------------
# devices


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return kind == "cpu"


def resolve_device(device: str | torch.device | None = None, default: str = "cpu") -> torch.device:
    """The torch device for ``device``: ``"auto"`` is CUDA when available, else the CPU.

    Parameters
    ----------
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"auto"``, a ``torch.device``, or None
        (``default``).

    Raises
    ------
    ConfigError
        An unknown device name, or a device this machine does not have.
    """
    name = str(default if device is None else device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            [Problem(f"device={name!r} is not a device name ({exc})", "use cpu, cuda, cuda:N, mps or auto")],
            subject="device",
        ) from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(
            [Problem(f"device={name!r}", "use cpu, cuda, cuda:N, mps or auto")], subject="device"
        )
    if not _available(dev.type):
        raise ConfigError(
            [Problem(f"device={name!r} is not available on this machine", "use device='cpu' (or 'auto')")],
            subject="device",
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(
            [
                Problem(
                    f"device={name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)",
                    "use cuda:0 .. cuda:N-1, or cpu",
                )
            ],
            subject="device",
        )
    return dev


def training_device(config: Mapping[str, Any] | None) -> str:
    """The device a checkpoint predicts on by default: where it trained, when this machine has it.

    ``training.device`` of the configuration: ``cpu`` stays on the CPU; ``cuda[:N]`` and ``auto``
    (which trains on CUDA wherever CUDA is available) give CUDA when available, else the CPU;
    ``mps`` gives MPS when available, else the CPU.
    """
    name = str(((config or {}).get("training") or {}).get("device", "cpu"))
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind = name.split(":")[0]
    if kind in ("cuda", "mps") and _available(kind):
        if kind == "cuda" and ":" in name and int(name.split(":")[1]) >= torch.cuda.device_count():
            return "cuda"
        return name
    return "cpu"


# ---------------------------------------------------------------------------------------------
# windows and blending


def amp_dtype(device: torch.device) -> torch.dtype:
    """The reduced precision of mixed precision (``amp``) on ``device``: ``float16`` on CUDA,
    ``bfloat16`` elsewhere (on the CPU it is fast where the CPU has bfloat16 units, e.g. AMX). The
    rule of training's ``training.amp: true`` and of ``TorchRunner(amp=True)``."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def taper(length: int, lo: int = 0, hi: int = 0) -> np.ndarray:
    """1-D blending weight of a window of ``length`` pixels overlapping its neighbours by ``lo``
    pixels at the start and ``hi`` pixels at the end (0 = a scene edge: no taper).

    Across an overlap of ``o`` pixels the weight is 0 on a guard band of ``o // 4`` pixels at the
    window edge, then rises as ``sin²`` (a Hann half-window) to 1; the neighbour's weight falls as
    ``cos²`` over the same pixels, so the two sum to 1. Tapers of both ends multiply.
    """
    w = np.ones(int(length), np.float64)
    for o, flip in ((int(lo), False), (int(hi), True)):
        if o <= 0:
            continue
        o = min(o, int(length))
        guard = o // 4
        ramp = o - 2 * guard
        side = np.zeros(o, np.float64)
        if ramp > 0:
            j = np.arange(ramp, dtype=np.float64)
            side[guard : guard + ramp] = np.sin(0.5 * math.pi * (j + 0.5) / ramp) ** 2
        side[guard + max(ramp, 0) :] = 1.0
        if flip:
            w[length - o :] *= side[::-1]
        else:
            w[:o] *= side
    return w.astype(np.float32)


@functools.lru_cache(maxsize=64)
def _taper(length: int, lo: int, hi: int) -> np.ndarray:
    w = taper(length, lo, hi)
    w.flags.writeable = False
    return w


@functools.lru_cache(maxsize=64)
def _weights(h: int, lo_y: int, hi_y: int, w: int, lo_x: int, hi_x: int) -> np.ndarray:
    """The 2-D taper of a window (read-only: a window plan has few distinct ones)."""
    out = np.outer(_taper(h, lo_y, hi_y), _taper(w, lo_x, hi_x))
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=16)
def _overlaps(starts: tuple[int, ...], size: int) -> dict[int, tuple[int, int]]:
    """``start -> (overlap with the previous window, overlap with the next)`` along one axis."""
    out = {}
    for i, s in enumerate(starts):
        lo = starts[i - 1] + size - s if i > 0 else 0
        hi = s + size - starts[i + 1] if i + 1 < len(starts) else 0
        out[s] = (max(lo, 0), max(hi, 0))
    return out


def _count(bands: Sequence[Sequence[Tile]]) -> int:
    """Windows in rows of windows."""
    return sum(len(b) for b in bands)


@dataclass(frozen=True)
class WindowPlan:
    """Windows over a scene, grouped in rows (``bands``), with their blending weights.

    Attributes
    ----------
    shape
        Scene ``(H, W)``.
    window
        Window ``(h, w)`` (the scene itself when it fits).
    overlap
        Pixels shared by neighbouring windows.
    bands
        Rows of windows (same ``y0``), top to bottom; each row left to right.
    """

    shape: tuple[int, int]
    window: tuple[int, int]
    overlap: int
    bands: tuple[tuple[Tile, ...], ...]

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return _count(self.bands)

    def weights(self, tile: Tile) -> np.ndarray:
        """Blending weights ``[h, w]`` of one window (:func:`taper` along both axes; read-only)."""
        lo_y, hi_y = _overlaps(tuple(b[0].y0 for b in self.bands), self.window[0])[tile.y0]
        lo_x, hi_x = _overlaps(tuple(t.x0 for t in self.bands[0]), self.window[1])[tile.x0]
        return _weights(tile.h, lo_y, hi_y, tile.w, lo_x, hi_x)


def plan_windows(
    shape: Sequence[int], tile_size: int | None, overlap: int | None, patch_size: int
) -> WindowPlan:
    """The windows :func:`predict_histories` runs over a scene of ``shape`` (``(..., H, W)``).

    Parameters
    ----------
    tile_size
        Window side (a multiple of ``patch_size``); None: :data:`MAX_WINDOW` rounded to the patch
        size. A scene that fits in one window is one window.
    overlap
        Pixels shared by neighbours; None: a quarter of the window, rounded down to the patch size.
    """
    H, W = (int(v) for v in shape[-2:])
    p = int(patch_size)
    problems = []
    if tile_size is not None and (int(tile_size) < p or int(tile_size) % p):
        problems.append(
            Problem(
                f"tile_size={tile_size} is not a positive multiple of patch_size={p}",
                f"use e.g. tile_size={8 * p}",
            )
        )
    size = int(tile_size) if tile_size is not None else max(p, MAX_WINDOW // p * p)
    if overlap is not None and not 0 <= int(overlap) < size:
        problems.append(
            Problem(f"overlap={overlap} must be >= 0 and < the window {size}", f"use e.g. {size // 4}")
        )
    if problems:
        raise ConfigError(problems, subject="prediction windows")
    if H <= size and W <= size:
        return WindowPlan((H, W), (H, W), 0, ((Tile(0, 0, H, W, (0, H, 0, W)),),))
    ov = int(overlap) if overlap is not None else (size // 4) // p * p
    tiles = eval_tiles((H, W), size, ov)
    bands: dict[int, list[Tile]] = {}
    for t in tiles:
        bands.setdefault(t.y0, []).append(t)
    rows = tuple(tuple(sorted(b, key=lambda t: t.x0)) for _, b in sorted(bands.items()))
    return WindowPlan((H, W), (min(size, H), min(size, W)), ov, rows)


@dataclass(frozen=True)
class Panel:
    """A vertical panel of a :class:`WindowPlan`: the scene columns it finishes, the windows that
    touch them (rows of windows, as ``WindowPlan.bands``) and the columns those windows read.

    Attributes
    ----------
    out
        ``(x0, x1)``: the columns whose pixels this panel finishes (the panels tile the scene).
    read
        ``(x0, x1)``: the columns its windows cover (``out`` plus the windows reaching across
        its edges, which the neighbouring panel runs too).
    bands
        Its windows, in rows, top to bottom.
    """

    out: tuple[int, int]
    read: tuple[int, int]
    bands: tuple[tuple[Tile, ...], ...]

    @property
    def n_windows(self) -> int:
        """Number of windows the panel runs."""
        return _count(self.bands)


def plan_panels(plan: WindowPlan, width: int | None = None) -> list[Panel]:
    """Split ``plan`` into vertical panels finishing at most ``width`` columns each (default
    :data:`PANEL_WIDTH`), cut at window starts; a scene no wider is one panel.

    Each panel runs every window that touches its columns, so a pixel gets the same windows with
    the same weights as in one pass over the scene: the panels' pixels equal the whole scene's.
    The windows across a cut run in both panels (two columns of windows per cut, a few percent
    of the windows at 2048 columns per panel).
    """
    width = PANEL_WIDTH if width is None else int(width)
    W = plan.shape[1]
    starts = [t.x0 for t in plan.bands[0]]
    if W <= width or len(starts) == 1:
        return [Panel((0, W), (0, W), plan.bands)]
    cuts = [0]
    while W - cuts[-1] > width:
        fits = [x for x in starts if cuts[-1] < x <= cuts[-1] + width]
        cuts.append(fits[-1] if fits else min(x for x in starts if x > cuts[-1]))
    cuts.append(W)
    panels = []
    for e0, e1 in itertools.pairwise(cuts):
        bands = tuple(tuple(t for t in b if t.x0 < e1 and t.x0 + t.w > e0) for b in plan.bands)
        read = (min(t.x0 for t in bands[0]), max(t.x0 + t.w for t in bands[0]))
        panels.append(Panel((e0, e1), read, bands))
    return panels


class _RowBlender:
    """Weighted sums of window outputs over the rows not yet finished, for the columns
    ``[x0, x0 + width)``; finished rows go to ``sink(row0, rows [n, h, width])``."""

    def __init__(self, n: int, width: int, sink: Callable[[int, np.ndarray], None], x0: int = 0) -> None:
        self.sink = sink
        self.x0 = int(x0)
        self.top = 0
        self.acc = np.zeros((n, 0, width), np.float32)
        self.wsum = np.zeros((0, width), np.float32)

    def reach(self, bottom: int) -> None:
        """Make the buffer cover the rows up to ``bottom``."""
        extra = bottom - (self.top + self.wsum.shape[0])
        if extra > 0:
            n, _, w = self.acc.shape
            self.acc = np.concatenate([self.acc, np.zeros((n, extra, w), np.float32)], axis=1)
            self.wsum = np.concatenate([self.wsum, np.zeros((extra, w), np.float32)], axis=0)

    def add_weight(self, tile: Tile, weight: np.ndarray) -> None:
        ys = slice(tile.y0 - self.top, tile.y0 - self.top + tile.h)
        x = tile.x0 - self.x0
        self.wsum[ys, x : x + tile.w] += weight

    def add(self, n: int, tile: Tile, prob: np.ndarray, weight: np.ndarray) -> None:
        ys = slice(tile.y0 - self.top, tile.y0 - self.top + tile.h)
        x = tile.x0 - self.x0
        self.acc[n, ys, x : x + tile.w] += prob * weight

    def flush(self, row: int) -> None:
        """Hand the rows above ``row`` (finished: no later window touches them) to the sink."""
        k = min(row, self.top + self.wsum.shape[0]) - self.top
        if k <= 0:
            return
        w = self.wsum[:k]
        out = np.divide(self.acc[:, :k], w, out=np.zeros_like(self.acc[:, :k]), where=w > 0)
        self.sink(self.top, out)
        self.acc, self.wsum = self.acc[:, k:], self.wsum[k:]
        self.top += k


# ---------------------------------------------------------------------------------------------
# running a model on batches


def probabilities(
    logits: Any, batch: Mapping[str, Any], calibration: Mapping[str, Any] | None = None
) -> np.ndarray:
    """Probabilities ``[B, H, W]`` (numpy float32) of logits ``[B, 1, H, W]`` (a tensor or numpy),
    mapped by ``calibration`` first when given (:func:`emberxr.products.calibration.calibrate_logits`;
    a calibration of the pixels not burning at the issue time reads the batch's last frame)."""
    z = torch.as_tensor(logits).float()
    if calibration is not None:
        from emberxr.models.base import last_frame
        from emberxr.products.calibration import calibrate_logits

        last = last_frame(batch).to(z.device) if calibration.get("pixels", "all") == "unburned" else None
        z = calibrate_logits(z, calibration, last).float()
    return torch.sigmoid(z)[:, 0].cpu().numpy()


class Runner:
    """Runs a model on collated batches: ``runner.logits(batch) -> [B, 1, H, W]`` (a tensor or
    numpy) and ``runner(batch) -> probabilities [B, H, W]`` (numpy).

    A context manager: :func:`predict_histories` enters it around a prediction (to move a model
    to its device and back, for instance). Subclasses implement :meth:`logits`. Batches come as
    :func:`~emberxr.data.collate.temporal_collate` makes them (left-padded to their longest
    history); a runner whose model needs a fixed history length pads them itself, as the
    exported models' runners do (:mod:`emberxr.export`).
    """

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def logits(self, batch: dict[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, batch: dict[str, Any], calibration: Mapping[str, Any] | None = None) -> np.ndarray:
        return probabilities(self.logits(batch), batch, calibration)


_COMPILED: weakref.WeakKeyDictionary[torch.nn.Module, Any] = weakref.WeakKeyDictionary()


def _param_device(model: torch.nn.Module) -> torch.device | None:
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return None if first is None else first.device


def _channels_last(model: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The 4-D weights of ``model`` in channels-last layout (others, e.g. 3-D convolutions', as
    they are: ``Module.to(memory_format=...)`` refuses a model that has any); returns each
    converted tensor with its former data, for :func:`_restore`."""
    saved = []
    with torch.no_grad():
        for t in (*model.parameters(), *model.buffers()):
            if t.dim() == 4 and not t.is_contiguous(memory_format=torch.channels_last):
                saved.append((t, t.data))
                t.data = t.data.contiguous(memory_format=torch.channels_last)
    return saved


def _restore(saved: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    with torch.no_grad():
        for t, data in saved:
            t.data = data


class TorchRunner(Runner):
    """An eager ``torch.nn.Module`` on a device, under :func:`torch.inference_mode`.

    While entered, the model is on ``device``, in eval mode, with ``record_attention`` off (so
    every attention layer takes the fused path); leaving restores all three. On the CPU, entering
    also keeps the heap memory of one call for the next (:func:`emberxr.memory.retain_heap`).

    Parameters
    ----------
    model
        A model mapping a batch dict to logits ``[B, 1, H, W]``.
    device
        Where to run; None keeps the model's current device.
    channels_last
        Run convolutions in the channels-last memory format (the weights; a convolution with
        channels-last weights gives channels-last outputs whatever its input's layout, so the
        batch is passed as it is: converting its 4-D arrays, fire histories and tokens included,
        only cost copies). None: on the CPU, where it made EmberFormer, U-TAE and U-Net-S 10-25 %
        faster (``docs/benchmarks.md``); not on other devices (not measured there).
    compile
        Run ``torch.compile(model)`` (compiled once per model and kept; the first calls of each
        window shape compile).
    amp
        Run the model under :func:`torch.autocast` in :func:`amp_dtype` (bfloat16 on the CPU,
        float16 on CUDA): faster where the hardware has the units, with probabilities that differ
        from float32 by about 10⁻³ (``docs/benchmarks.md`` measures both). The logits come back
        as float32.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        device: str | torch.device | None = None,
        *,
        channels_last: bool | None = None,
        compile: bool = False,
        amp: bool = False,
    ) -> None:
        self.model = model
        current = _param_device(model) or torch.device("cpu")
        self.device = resolve_device(device) if device is not None else current
        self.channels_last = self.device.type == "cpu" if channels_last is None else bool(channels_last)
        self.compile = bool(compile)
        self.amp = bool(amp)
        self._saved: tuple[Any, ...] | None = None
        self._layout: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __enter__(self) -> TorchRunner:
        m = self.model
        device = _param_device(m)
        self._saved = (device, m.training, m.__dict__.get("record_attention", None))
        if (
            device is not None and device != self.device
        ):  # Module.to walks every module: skip it when it is a no-op
            m.to(self.device)
        self._layout = _channels_last(m) if self.channels_last else []
        if self.device.type == "cpu":
            retain_heap()
        m.eval()
        m.record_attention = False
        self._fn = m
        if self.compile:
            fn = _COMPILED.get(m)
            if fn is None:
                fn = _COMPILED[m] = torch.compile(m, dynamic=False)
            self._fn = fn
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._saved is None:
            return
        device, training, record = self._saved
        m = self.model
        _restore(self._layout)  # the weights' former layout (the same values)
        self._layout = []
        if device is not None and device != self.device:
            m.to(device)
        m.train(training)
        if record is None:
            m.__dict__.pop("record_attention", None)
        else:
            m.record_attention = record
        self._saved = None

    def precision(self) -> Any:
        """The context the model runs in: :func:`torch.autocast` with ``amp``, else a no-op."""
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=amp_dtype(self.device))

    def logits(self, batch: dict[str, Any]) -> torch.Tensor:
        moved = {
            k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()
        }
        with torch.inference_mode(), self.precision():
            return self._fn(moved).float()

    def __call__(self, batch: dict[str, Any], calibration: Mapping[str, Any] | None = None) -> np.ndarray:
        with torch.inference_mode():
            return probabilities(self.logits(batch), batch, calibration)


# ---------------------------------------------------------------------------------------------
# inputs: strips of the event with N histories


def _is_lazy(a: Any) -> bool:
    """A Dask array (read on demand) rather than numpy or another in-memory array."""
    return type(a).__module__.startswith("dask")


def _compute(a: Any) -> np.ndarray:
    if _is_lazy(a):
        return np.asarray(a.compute(scheduler="synchronous"))
    return np.asarray(a)


BLOCK_BYTES = 1 << 28
"""Most bytes of one decoded block a :class:`RowBlocks` keeps (a taller storage chunk is read in
parts, each decoded separately)."""


class RowBlocks:
    """Rows of an array along one axis, for strips that move down the scene.

    A lazy (Dask) array is read in blocks of whole storage chunk rows (``block`` rows: the zarr /
    GeoTIFF chunk height, so a block decodes each chunk it touches once) and the decoded block is
    kept until a request starts below it. Windows are much shorter than a storage chunk: without
    this a 512-row chunk row was decoded again for each of the ~10 strips that cross it, and the
    time per pixel grew with the scene width. Memory: the blocks one strip spans, each at most
    :data:`BLOCK_BYTES` (a taller block is split, which decodes its chunks more than once). A numpy
    array, or a lazy one without a block height, is sliced. Reads out of order are correct (they
    decode again).

    Parameters
    ----------
    array
        A numpy or Dask array.
    axis
        The row (``y``) axis.
    block
        Rows per block, aligned to row 0 (the storage chunk height); None: slice, keep nothing.
    """

    def __init__(self, array: Any, axis: int, block: int | None = None) -> None:
        self.array, self.axis = array, int(axis)
        self.shape = tuple(int(n) for n in array.shape)
        self.bounds = None
        if block and _is_lazy(array):
            n = self.shape[self.axis]
            row_bytes = np.dtype(array.dtype).itemsize * math.prod(self.shape) // max(n, 1)
            parts = max(1, math.ceil(row_bytes * int(block) / BLOCK_BYTES))
            step = max(1, math.ceil(int(block) / parts))
            starts = [b + i for b in range(0, n, int(block)) for i in range(0, int(block), step) if b + i < n]
            self.bounds = np.asarray([*starts, n])
        self.blocks: dict[int, np.ndarray] = {}
        self.dropped = 0  # blocks let go so far (the caller may give their memory back)

    def _index(self, rows: slice) -> Any:
        return (slice(None),) * self.axis + (rows,) if self.axis else rows

    def __call__(self, rows: slice) -> np.ndarray:
        """``array[..., rows, ...]`` (``rows`` along :attr:`axis`, step 1) as numpy."""
        if self.bounds is None:
            return _compute(self.array[self._index(rows)])
        start, stop, _ = rows.indices(self.shape[self.axis])
        if stop <= start:
            return _compute(self.array[self._index(slice(start, start))])
        first = int(np.searchsorted(self.bounds, start, side="right")) - 1
        last = int(np.searchsorted(self.bounds, stop - 1, side="right")) - 1
        for i in [i for i in self.blocks if i < first or i > last]:
            del self.blocks[i]  # strips move down: a block above the request is done
            self.dropped += 1
        parts = []
        for i in range(first, last + 1):
            b0, b1 = int(self.bounds[i]), int(self.bounds[i + 1])
            if i not in self.blocks:
                self.blocks[i] = _compute(self.array[self._index(slice(b0, b1))])
            parts.append(self.blocks[i][self._index(slice(max(start, b0) - b0, min(stop, b1) - b0))])
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=self.axis)


def storage_rows(event: xr.Dataset) -> int | None:
    """The height of the event's storage chunks (zarr / GeoTIFF blocks) along ``y``, read from its
    variables' encoding; None for an event in memory or without that information."""
    for name in (FIRE, STATIC, VALID):
        if name not in event.variables:
            continue
        var = event[name]
        preferred = var.encoding.get("preferred_chunks") or {}
        if "y" in preferred:
            return int(preferred["y"])
        chunks = var.encoding.get("chunks")
        if chunks is not None and len(chunks) == var.ndim:
            return int(chunks[var.dims.index("y")])
    return None


def _dynamic_rows(dynamic: Any, rows: slice) -> np.ndarray:
    """Rows of the dynamic history (``RowBlocks`` of ``[h, Cd, H, W]``, or a list of ``RowBlocks``
    of ``[Cd, H, W]`` frames) as numpy float32 ``[h, Cd, rows, W]``."""
    if isinstance(dynamic, (list, tuple)):
        return np.stack([np.asarray(f(rows), np.float32) for f in dynamic])
    return dynamic(rows).astype(np.float32, copy=False)


def _row_sources(dynamic: Any, block: int | None) -> Any:
    """The dynamic history as row readers (see :func:`_dynamic_rows`)."""
    if dynamic is None:
        return None
    if isinstance(dynamic, (list, tuple)):
        return [RowBlocks(f, 1, block) for f in dynamic]
    return RowBlocks(dynamic, 2, block)


class PackedMask:
    """A binary ``[H, W]`` mask kept at one bit per pixel (``numpy.packbits`` along rows).

    Slicing (``m[rows]``, ``m[rows, cols]``) gives ``uint8`` 0/1. Multi-step forecasts keep their
    fed-back masks this way: 8 MB per step for an 8192² scene.
    """

    def __init__(self, mask: Any) -> None:
        a = np.asarray(mask) > 0
        self.shape = a.shape
        self.bits = np.packbits(a, axis=1)

    @classmethod
    def zeros(cls, shape: tuple[int, int]) -> PackedMask:
        """An all-zero mask of ``shape`` ``(H, W)``, to be filled block by block with :meth:`put`."""
        out = cls.__new__(cls)
        out.shape = (int(shape[0]), int(shape[1]))
        out.bits = np.zeros((out.shape[0], -(-out.shape[1] // 8)), np.uint8)
        return out

    def put(self, row0: int, col0: int, block: Any) -> None:
        """Set the pixels of ``block [h, w]`` (> 0: set) whose top-left pixel is ``(row0, col0)``.

        Each pixel is put at most once after :meth:`zeros` (blocks are OR-ed into the bits, so a
        block sharing a byte with its neighbour leaves the neighbour's bits as they are).
        """
        b = np.asarray(block) > 0
        h, w = b.shape
        lead = int(col0) % 8
        padded = np.zeros((h, -(-(lead + w) // 8) * 8), bool)
        padded[:, lead : lead + w] = b
        packed = np.packbits(padded, axis=1)
        first = int(col0) // 8
        self.bits[row0 : row0 + h, first : first + packed.shape[1]] |= packed

    def __getitem__(self, index: Any) -> np.ndarray:
        rows, cols = index if isinstance(index, tuple) else (index, slice(None))
        return np.unpackbits(self.bits[rows], axis=1, count=self.shape[1])[:, cols]


class SceneBuffer:
    """A scene-sized 2-D array written and read by blocks: in memory for small scenes, in an
    anonymous temporary file (gone when closed, or with the process) above :data:`SPILL_PIXELS`.

    What a multi-step forecast carries from one step to the next besides the fed-back masks (the
    previous step's probability, the first step each pixel was reached), so that a huge scene's
    roll-out holds no scene-sized array in memory. Starts as zeros. A context manager.

    Parameters
    ----------
    shape
        ``(H, W)``.
    dtype
        Element type.
    spill
        Keep it in a temporary file (True), in memory (False); None: by size.
    """

    def __init__(self, shape: tuple[int, int], dtype: Any, spill: bool | None = None) -> None:
        import tempfile

        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        spill = self.shape[0] * self.shape[1] > SPILL_PIXELS if spill is None else bool(spill)
        self._array = None if spill else np.zeros(self.shape, self.dtype)
        self._file = tempfile.TemporaryFile(prefix="emberxr-") if spill else None
        if self._file is not None:
            self._file.truncate(self.shape[0] * self.shape[1] * self.dtype.itemsize)  # zeros

    @property
    def spilled(self) -> bool:
        """Whether the values are in a temporary file."""
        return self._file is not None

    def _offset(self, row: int, col: int) -> int:
        return (row * self.shape[1] + col) * self.dtype.itemsize

    def get(self, row0: int, col0: int, h: int, w: int) -> np.ndarray:
        """A copy of the block ``[row0 : row0 + h, col0 : col0 + w]``."""
        if self._file is None:
            return self._array[row0 : row0 + h, col0 : col0 + w].copy()
        out = np.empty((h, w), self.dtype)
        for i, part in self._runs(row0, col0, out):
            self._file.seek(self._offset(row0 + i, col0))
            self._file.readinto(memoryview(part).cast("B"))
        return out

    def put(self, row0: int, col0: int, block: np.ndarray) -> None:
        """Write ``block [h, w]`` at ``(row0, col0)``."""
        block = np.ascontiguousarray(block, self.dtype)
        if self._file is None:
            self._array[row0 : row0 + block.shape[0], col0 : col0 + block.shape[1]] = block
            return
        for i, part in self._runs(row0, col0, block):
            self._file.seek(self._offset(row0 + i, col0))
            self._file.write(memoryview(part).cast("B"))

    def _runs(self, row0: int, col0: int, block: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """``(first row, rows)`` of ``block`` that are contiguous in the file: the whole block
        when it spans whole rows, else one run per row."""
        if col0 == 0 and block.shape[1] == self.shape[1]:
            return [(0, block)]
        return [(i, block[i]) for i in range(block.shape[0])]

    def close(self) -> None:
        """Let the values go (the temporary file is deleted)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._array = None

    def __enter__(self) -> SceneBuffer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class FrameStack:
    """``[1, h, H, W]`` history made of frames, lazy (Dask) or in memory, read by rows.

    What a forecast feeds :func:`predict_histories`: the observed frames straight from a lazy
    event (best as one ``[k, H, W]`` run: a zarr chunk holds several time steps, and reading the
    run decodes it once instead of once per frame) and thresholded forecasts fed back as 2-D
    masks, without stacking the whole scene. A lazy frame (or run) stored as one chunk over its
    whole height (a PNG of a raw folder: it cannot be read in windows) is decoded once and kept as
    :class:`PackedMask` frames instead of being decoded again for every strip.

    Parameters
    ----------
    frames
        Oldest first: 2-D ``[H, W]`` frames and 3-D ``[k, H, W]`` runs of frames (numpy, Dask,
        :class:`PackedMask`).
    """

    def __init__(self, frames: Sequence[Any]) -> None:
        parts: list[Any] = []
        for f in frames:
            if len(f.shape) == 3 and _is_lazy(f) and len(f.chunks[1]) == 1 and f.shape[1] > 1:
                parts += [PackedMask(x) for x in _compute(f)]  # one chunk along y: decode once
            elif len(f.shape) == 3:
                parts += [f] if f.shape[0] else []
            else:
                parts.append(_once_if_whole(f))
        self.frames = parts
        h, w = parts[0].shape[-2:]
        self.shape = (1, sum(_depth(p) for p in parts), int(h), int(w))

    @property
    def last(self) -> Any:
        """The newest frame (2-D)."""
        p = self.frames[-1]
        return p[-1] if len(p.shape) == 3 else p

    def rolled(self, frame: Any, keep: int) -> FrameStack:
        """The stack with ``frame`` appended and the oldest frames dropped to keep ``keep``."""
        parts, drop = [*self.frames, frame], self.shape[1] + 1 - keep
        while drop > 0:
            n = _depth(parts[0])
            parts = [parts[0][drop:], *parts[1:]] if n > drop else parts[1:]
            drop -= min(n, drop)
        return FrameStack(parts)

    def __getitem__(self, index: Any) -> np.ndarray:
        if not (isinstance(index, tuple) and len(index) == 4 and index[:2] == (slice(None), slice(None))):
            raise IndexError("FrameStack supports [:, :, rows, cols] only")
        rows, cols = index[2], index[3]
        parts = [f[:, rows, cols] if len(f.shape) == 3 else f[rows, cols] for f in self.frames]
        lazy = [i for i, a in enumerate(parts) if _is_lazy(a)]
        if lazy:
            import dask

            done = dask.compute(*[parts[i] for i in lazy], scheduler="synchronous")
            for i, a in zip(lazy, done):
                parts[i] = a
        return _stack_frames(parts)


def _stack_frames(parts: Sequence[Any]) -> np.ndarray:
    """2-D frames and 3-D runs of frames, oldest first, as one ``[1, h, rows, cols]`` array."""
    return np.concatenate([np.asarray(a).reshape(-1, *np.shape(a)[-2:]) for a in parts])[None]


def _depth(part: Any) -> int:
    return int(part.shape[0]) if len(part.shape) == 3 else 1


def _once_if_whole(frame: Any) -> Any:
    """A lazy frame in a single chunk along ``y`` (read whole whatever the window) → PackedMask."""
    chunks = getattr(frame, "chunks", None)
    if _is_lazy(frame) and chunks and len(chunks[0]) == 1 and frame.shape[0] > 1:
        return PackedMask(frame.compute(scheduler="synchronous"))
    return frame


def _strip_samples(
    event: xr.Dataset,
    rows: slice,
    sources: _Sources,
    wind: np.ndarray,
    stats: Any,
    patch_size: int,
) -> list[dict[str, Any]]:
    """One preprocessed whole-strip sample per history: ``fire [N, h, rows, W]`` with the
    event's static bands, validity and (events with them) dynamic bands over the same rows and
    ``wind [N, h, 2]``, through :func:`~emberxr.data.datasets.assemble_sample`, the training
    preprocessing (normalisation, padding to the patch size; no tokens). The target frame a
    sample carries is a placeholder (the last frame again): a forecast has none."""
    from emberxr.data.datasets import assemble_sample, features

    fire = (sources.fire(rows) > 0).astype(np.uint8)
    static = features(np.asarray(sources.static(rows), np.float32), stats, "transform_static")
    valid = np.asarray(sources.valid(rows), bool)
    dynamic = None
    if sources.dynamic is not None:
        dynamic = features(_dynamic_rows(sources.dynamic, rows), stats, "transform_dynamic")
    n, h = fire.shape[:2]
    meta = {"event_id": str(event.attrs.get("event_id", "event")), "t": h - 1}
    return [
        assemble_sample(
            np.concatenate([fire[i], fire[i, -1:]]),
            valid,
            static,  # shared by the N samples: nothing downstream writes to it
            wind[i],
            stats=stats,
            patch_size=patch_size,
            hist_len=h,
            meta=dict(meta),
            dynamic=dynamic,
        )
        for i in range(n)
    ]


class _Columns:
    """Columns ``cols`` of a 2-D :class:`PackedMask`, read by rows (``view[rows]``)."""

    def __init__(self, mask: PackedMask, cols: slice) -> None:
        self.mask, self.cols = mask, cols
        x0, x1, _ = cols.indices(mask.shape[1])
        self.shape = (mask.shape[0], max(x1 - x0, 0))

    def __getitem__(self, rows: Any) -> np.ndarray:
        return self.mask[rows, self.cols]


def _columns(a: Any, cols: slice | None) -> Any:
    """``a[..., cols]`` of a numpy, Dask or :class:`PackedMask` array (lazy stays lazy); None: ``a``."""
    if cols is None:
        return a
    if isinstance(a, PackedMask):
        return _Columns(a, cols)
    return a[..., cols]


class PanelRows:
    """``reader(rows, cols)``: a 2-D array (numpy, :class:`PackedMask` or lazy Dask) read panel by
    panel: the rows of one column range through a :class:`RowBlocks` (each storage chunk decoded
    once while the rows move down), a new range starting a new one.

    Parameters
    ----------
    array
        ``[H, W]``.
    block
        Storage chunk height (:func:`storage_rows`); None: slice.
    """

    def __init__(self, array: Any, block: int | None = None) -> None:
        self.array, self.block = array, block
        self.width = int(array.shape[-1])
        self._key: tuple[int, int, int] | None = None
        self._rows: RowBlocks | None = None

    def __call__(self, rows: slice, cols: slice = slice(None)) -> np.ndarray:
        key = cols.indices(self.width)
        if key != self._key or self._rows is None:
            whole = key == (0, self.width, 1)
            self._rows = RowBlocks(_columns(self.array, None if whole else cols), 0, self.block)
            self._key = key
        return self._rows(rows)


@dataclass
class _Sources:
    """Where a prediction's strips are read from: row readers of the fire history ``[N, h, H, W]``,
    the static bands, the validity and (events with them) the dynamic bands, over the columns of
    one panel."""

    fire: Callable[[slice], np.ndarray]
    static: RowBlocks
    valid: RowBlocks
    dynamic: Any = None
    readers: tuple[RowBlocks, ...] = ()

    def dropped(self) -> int:
        """Blocks let go by every reader so far."""
        return sum(r.dropped for r in self.readers)

    @classmethod
    def of(cls, event: xr.Dataset, fire_hist: Any, dynamic_hist: Any, cols: slice | None = None) -> _Sources:
        """Readers of ``cols`` (None: every column)."""
        block = storage_rows(event)
        parts: list[RowBlocks] = []
        if isinstance(fire_hist, FrameStack):  # lazy frames read by storage chunk rows, each once
            parts = [RowBlocks(_columns(f, cols), len(f.shape) - 2, block) for f in fire_hist.frames]

            def fire(rows: slice) -> np.ndarray:
                return _stack_frames([p(rows) for p in parts])

        else:
            fire = RowBlocks(_columns(fire_hist, cols), 2, block if _is_lazy(fire_hist) else None)
            parts = [fire]
        static = RowBlocks(_columns(event[STATIC].data, cols), 1, block)
        valid = RowBlocks(_columns(event[VALID].data, cols), 0, block)
        if dynamic_hist is not None:
            dynamic_hist = (
                [_columns(f, cols) for f in dynamic_hist]
                if isinstance(dynamic_hist, (list, tuple))
                else _columns(dynamic_hist, cols)
            )
        dynamic = _row_sources(dynamic_hist, block)
        dyn = [] if dynamic is None else dynamic if isinstance(dynamic, list) else [dynamic]
        return cls(fire, static, valid, dynamic, (*parts, static, valid, *dyn))


def _cut(sample: dict[str, Any], tile: Tile, y0: int, p: int, x0: int = 0) -> dict[str, Any]:
    """The window ``tile`` of a strip sample whose top-left pixel is scene pixel ``(y0, x0)``."""
    Hs, Ws = sample["fire"].shape[-2:]
    hp, wp = -(-tile.h // p) * p, -(-tile.w // p) * p
    ys = slice(tile.y0 - y0, tile.y0 - y0 + hp)
    xs = slice(tile.x0 - x0, tile.x0 - x0 + wp)
    out: dict[str, Any] = {}
    for k, v in sample.items():
        if k != "wind" and isinstance(v, torch.Tensor) and v.ndim >= 2 and tuple(v.shape[-2:]) == (Hs, Ws):
            v = v[..., ys, xs]
        out[k] = v
    out["grid"] = (hp // p, wp // p)
    out["meta"] = {**sample.get("meta", {}), "y0": tile.y0, "x0": tile.x0, "h": tile.h, "w": tile.w}
    return out


def _collate(samples: list[dict[str, Any]], tokens: bool, token_mode: str) -> dict[str, Any]:
    from emberxr.data.collate import temporal_collate

    batch = temporal_collate(samples)
    if tokens:
        from emberxr.tokens import make_tokens

        p = int(batch["patch_size"])
        # no target tokens: a forecast has no target (the batch's is a placeholder)
        tok = make_tokens(
            batch["fire"],
            batch["static"],
            batch["valid"][:, 0],
            None,
            p,
            token_mode,
            dynamic=batch.get("dynamic"),
        )
        batch.update(tok)
    return batch


def _distinct_windows(
    group: Sequence[Tile], strips: list[dict[str, Any]], y0: int, p: int, n: int, x0: int = 0
) -> tuple[dict[tuple[int, Tile], dict[str, Any]], dict[tuple[int, Tile], list[int]]]:
    """The (history, window) pairs the model must run with their window samples, and the
    histories each one stands for.

    Histories whose inputs are equal inside a window (the same fire frames and the same wind; the
    static bands, validity and dynamic bands are the event's, shared by all) get the same
    probabilities there, so one of them is run: the members of an ensemble share every window the
    fire has not reached (and all of step 1), which the model then runs once instead of ``n``
    times.
    """
    items: dict[tuple[int, Tile], dict[str, Any]] = {}
    copies: dict[tuple[int, Tile], list[int]] = {}
    for t in group:
        first: dict[tuple[bytes, bytes], tuple[int, Tile]] = {}
        for m in range(n):
            cut = _cut(strips[m], t, y0, p, x0)
            if n == 1:
                items[(m, t)] = cut
                continue
            key = (cut["fire"].numpy().tobytes(), cut["wind"].numpy().tobytes())
            rep = first.setdefault(key, (m, t))
            if rep[0] == m:
                items[rep] = cut
            else:
                copies.setdefault(rep, []).append(m)
    return items, copies


def _groups(
    bands: Sequence[tuple[Tile, ...]], window: int, width: int, n: int, batch_size: int
) -> list[tuple[Tile, ...]]:
    """Consecutive rows of windows (``window`` rows tall, across ``width`` columns) read as one
    strip: until a batch is full or the strip is big."""
    max_rows = max(window, STRIP_PIXELS // max(width, 1))
    groups: list[list[tuple[Tile, ...]]] = []
    for band in bands:
        if groups:
            g = groups[-1]
            rows = band[0].y0 + band[0].h - g[0][0].y0
            if sum(len(b) for b in g) * n < batch_size and rows <= max_rows:
                g.append(band)
                continue
        groups.append([band])
    return [tuple(t for b in g for t in b) for g in groups]


def predict_histories(
    model: torch.nn.Module | Runner,
    stats: Any,
    event: xr.Dataset,
    fire_hist: Any,
    wind_hist: Any,
    times: Any,
    *,
    max_history: int,
    patch_size: int,
    tokens: bool = False,
    token_mode: str = "pixels",
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    channels_last: bool | None = None,
    compile: bool = False,
    amp: bool = False,
    progress: bool = False,
    desc: str = "predict",
    sink: BlockSink | None = None,
    dynamic_hist: Any = None,
    calibrator: Mapping[str, Any] | None = None,
) -> np.ndarray | None:
    """Next-step fire probability for ``N`` fire histories of one event (see the module docstring).

    Parameters
    ----------
    model
        A trained model (``torch.nn.Module``) or a :class:`Runner` (e.g. an exported model).
    stats
        The ``NormStats`` the model was trained with.
    event
        The FireEvent the histories belong to: its grid, static bands and validity are used (read
        strip by strip; a lazy event stays lazy).
    fire_hist
        ``[N, h, H, W]`` fire masks (numpy, or a lazy Dask array: read strip by strip), oldest
        first; only the last ``max_history`` frames are used.
    wind_hist
        ``[N, h, 2]`` raw wind (u, v) in m/s at the same steps.
    times
        ``[h]`` times of the history frames.
    max_history, patch_size, tokens, token_mode
        How the model's samples are cut (``emberxr.data.loaders.sample_kwargs``).
    tile_size, overlap
        Window side and overlap (:func:`plan_windows`).
    batch_size
        Windows per model call; None: about :data:`BATCH_PIXELS` pixels per call.
    device
        Where a ``torch.nn.Module`` runs (``"cpu"``, ``"cuda"``, ``"auto"`` ...); None keeps the
        model's device. Ignored for a :class:`Runner`.
    channels_last, compile, amp
        :class:`TorchRunner` options (a :class:`Runner` given as ``model`` runs as it was made:
        ``amp`` with one is a :class:`~emberxr.errors.ConfigError`).
    progress, desc
        A progress bar labelled ``desc`` over the windows (shown once the work takes a second).
    sink
        ``sink(row0, col0, block [N, h, w])`` receives the finished pixels (see :data:`BlockSink`:
        rows in order, panel by panel); None collects them into the returned array.
    dynamic_hist
        For events with dynamic bands: their raw values at the history steps, shared by the ``N``
        histories: ``[h, Cd, H, W]`` (numpy or lazy Dask) or a sequence of ``h`` frames
        ``[Cd, H, W]`` (read strip by strip). None: the event has none.
    calibrator
        A probability calibration (``Fitted.calibration``) applied to the logits of the model
        (:func:`probabilities`); None: the raw probabilities.

    Returns
    -------
    numpy.ndarray or None
        ``[N, H, W]`` float32 probabilities (the model's, calibrated when ``calibrator`` is given;
        also outside the validity footprint), or None when a ``sink`` took the rows.
    """
    from emberxr.progress import progress as progress_bar

    H, W = int(event.sizes["y"]), int(event.sizes["x"])
    problems = []
    if len(fire_hist.shape) != 4 or tuple(fire_hist.shape[-2:]) != (H, W):
        problems.append(
            Problem(
                f"fire_hist has shape {tuple(fire_hist.shape)}",
                f"pass [N, h, {H}, {W}] (N histories of h frames)",
            )
        )
    wind = np.asarray(wind_hist, np.float32)
    times = np.asarray(times, dtype="datetime64[ns]")
    if not problems and (
        wind.shape != (fire_hist.shape[0], fire_hist.shape[1], 2) or times.shape != fire_hist.shape[1:2]
    ):
        problems.append(
            Problem(
                f"wind_hist {wind.shape} / times {times.shape} do not match fire_hist {tuple(fire_hist.shape)}",
                "pass wind [N, h, 2] and times [h]",
            )
        )
    if not problems and dynamic_hist is not None and len(dynamic_hist) != fire_hist.shape[1]:
        problems.append(
            Problem(
                f"dynamic_hist has {len(dynamic_hist)} step(s) for {fire_hist.shape[1]} history frame(s)",
                "pass the dynamic bands of every history step ([h, Cd, H, W])",
            )
        )
    if amp and isinstance(model, Runner):
        problems.append(
            Problem(
                f"amp=True with a {type(model).__name__}, which runs as it was made (an exported model "
                "keeps its export's precision)",
                "leave amp off, or predict with the PyTorch checkpoint",
            )
        )
    if not problems and DYNAMIC in event.variables and dynamic_hist is None:
        problems.append(
            Problem(
                "the event has dynamic bands but no dynamic_hist was given",
                "pass the dynamic bands of the history steps (emberxr.forecast.dynamic_history)",
            )
        )
    if problems:
        raise ConfigError(problems, subject="predict_histories")
    compatible = getattr(stats, "check_compatible", None)
    if compatible is not None:  # the event's bands are the training bands, in their order
        compatible(event)
    if calibrator is not None:
        from emberxr.products.calibration import check_calibration

        check_calibration(calibrator)
    if fire_hist.shape[1] > max_history:  # only the last max_history frames matter
        fire_hist, wind, times = fire_hist[:, -max_history:], wind[:, -max_history:], times[-max_history:]
        if dynamic_hist is not None:
            dynamic_hist = dynamic_hist[-max_history:]
    N = int(fire_hist.shape[0])
    p = int(patch_size)
    plan = plan_windows((H, W), tile_size, overlap, p)
    if batch_size is None:
        batch_size = max(1, BATCH_PIXELS // (plan.window[0] * plan.window[1]))
    result = np.empty((N, H, W), np.float32) if sink is None else None

    def collect(row0: int, col0: int, block: np.ndarray) -> None:
        result[:, row0 : row0 + block.shape[1], col0 : col0 + block.shape[2]] = block

    out = sink or collect
    runner = (
        model
        if isinstance(model, Runner)
        else TorchRunner(model, device, channels_last=channels_last, compile=compile, amp=amp)
    )
    panels = plan_panels(plan)
    total = sum(panel.n_windows for panel in panels) * N
    bar = progress_bar(desc=desc, total=total, unit="window", enabled=progress, delay=1.0)
    job = _Job(plan, event, fire_hist, dynamic_hist, wind, stats, p, N, int(batch_size), tokens, token_mode,
               calibrator)  # fmt: skip
    with runner, bar:
        for panel in panels:
            _run_panel(job, panel, runner, out, bar)
            if len(panels) > 1:
                release()  # the finished panel's decoded blocks and buffers
    return result


@dataclass(frozen=True)
class _Job:
    """What every panel of one :func:`predict_histories` call shares."""

    plan: WindowPlan
    event: xr.Dataset
    fire_hist: Any
    dynamic_hist: Any
    wind: np.ndarray
    stats: Any
    patch_size: int
    n: int
    batch_size: int
    tokens: bool
    token_mode: str
    calibrator: Mapping[str, Any] | None


def _run_panel(job: _Job, panel: Panel, runner: Runner, sink: BlockSink, bar: Any) -> None:
    """Predict one panel top to bottom: strips of its columns, windows in batches, blended; its
    finished pixels go to ``sink``."""
    plan, N, p, batch_size = job.plan, job.n, job.patch_size, job.batch_size
    H, W = plan.shape
    (e0, e1), (xa, xb) = panel.out, panel.read
    whole = (xa, xb) == (0, W)

    def finished(row0: int, rows: np.ndarray) -> None:
        sink(row0, e0, rows if whole else rows[:, :, e0 - xa : e1 - xa])

    blender = _RowBlender(N, xb - xa, finished, x0=xa)
    sources = _Sources.of(job.event, job.fire_hist, job.dynamic_hist, None if whole else slice(xa, xb))
    dropped = 0
    for group in _groups(panel.bands, plan.window[0], xb - xa, N, batch_size):
        if sources.dropped() != dropped:  # decoded blocks were let go: return their memory
            dropped = sources.dropped()
            release()
        y0 = group[0].y0
        y1 = max(t.y0 + t.h for t in group)
        with record_function("emberxr::rows_out"):
            blender.flush(y0)
        blender.reach(y1)
        weights = {}
        for t in group:
            weights[t] = plan.weights(t)
            blender.add_weight(t, weights[t])
        with record_function("emberxr::inputs"):  # stages named for torch.profiler
            strips = _strip_samples(job.event, slice(y0, y1), sources, job.wind, job.stats, p)
        cuts, copies = _distinct_windows(group, strips, y0, p, N, xa)
        items = list(cuts)
        for s in range(0, len(items), batch_size):
            chunk = items[s : s + batch_size]
            with record_function("emberxr::collate"):
                batch = _collate([cuts[item] for item in chunk], job.tokens, job.token_mode)
            with record_function("emberxr::model"):
                probs = runner(batch, job.calibrator)
            with record_function("emberxr::blend"):
                for (n, t), prob in zip(chunk, probs):
                    for m in (n, *copies.get((n, t), ())):
                        blender.add(m, t, prob[: t.h, : t.w], weights[t])
            bar.update(len(chunk) + sum(len(copies.get(item, ())) for item in chunk))
    with record_function("emberxr::rows_out"):
        blender.flush(H)
