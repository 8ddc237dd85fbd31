"""Exported models: a checkpoint as an ONNX file or a ``torch.export`` program, and running one.

:func:`export_model` traces the model once with :func:`torch.export.export` (batch, height and
width dynamic; the history length fixed to ``max_history``) and writes

- ``format="onnx"``: an ONNX file (``torch.onnx.export(..., dynamo=True)``) whose
  ``metadata_props`` hold the emberxr metadata, runnable with ONNX Runtime (``pip install
  "emberxr[export]"``);
- ``format="exported-program"``: a ``.pt2`` archive (:func:`torch.export.save`) with the metadata
  as the extra file ``emberxr.json``.

The metadata (:func:`export_metadata`) is what prediction needs besides the graph: the
normalisation statistics, the band list, the threshold, patch size, max history, tile size and the
input names. The exported graph takes the batch tensors ``fire [B, T, H, W]`` (float32),
``wind [B, T, 2]``, ``static [B, Cs, H, W]``, ``valid [B, 1, H, W]`` (bool) and ``valid_t [B, T]``
(bool, left padding) with ``H``, ``W`` multiples of the patch size, and returns the logits
``[B, 1, H, W]``; tokens are cut inside the graph. A model with dynamic bands (``in_dynamic > 0``)
also takes ``dynamic [B, T, Cd, H, W]`` (float32, normalised; :data:`DYNAMIC_INPUT`), and its
file lists it among the ``inputs`` of its metadata. A calibrated checkpoint's calibration travels
in the metadata and is applied to the exported model's logits, as to the eager model's.

After writing, a parity check (:func:`check_parity`) runs the exported file (ONNX Runtime for
ONNX) and the eager model on random histories with different left paddings and window sizes and
raises :class:`~emberxr.errors.ExportError` when they disagree.

:func:`load_exported` reads either file back as an :class:`ExportedModel`;
:func:`emberxr.forecast.write_prediction` (``emberxr predict FILE EVENT -o out.tif``) runs it with
the same windows and blending as the eager model (:class:`emberxr.inference.Runner`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emberxr.errors import ExportError
from emberxr.inference import Runner, TorchRunner

__all__ = [
    "DYNAMIC_INPUT",
    "FORMATS",
    "INPUTS",
    "BatchModule",
    "ExportedModel",
    "check_parity",
    "export_metadata",
    "export_model",
    "load_exported",
]

FORMATS = {"onnx": ".onnx", "exported-program": ".pt2"}
"""Export formats and their file suffixes."""

INPUTS = ("fire", "wind", "static", "valid", "valid_t")
"""The exported graph's inputs, in order (batch keys of ``docs/architecture.md``)."""

DYNAMIC_INPUT = "dynamic"
"""The extra, last input of a model with dynamic bands (``dynamic [B, T, Cd, H, W]``)."""

MAGIC = "emberxr-exported-model"
_EXTRA = "emberxr.json"
PARITY_ATOL = 1e-4
"""Largest probability difference the parity check accepts between exported and eager outputs."""


def model_inputs(model: torch.nn.Module) -> tuple[str, ...]:
    """The exported graph's inputs for ``model``: :data:`INPUTS`, plus :data:`DYNAMIC_INPUT` when the
    model takes dynamic bands."""
    return INPUTS + ((DYNAMIC_INPUT,) if int(getattr(model, "in_dynamic", 0) or 0) > 0 else ())


class BatchModule(torch.nn.Module):
    """A model whose forward takes the batch tensors :data:`INPUTS` positionally (what is exported),
    then ``dynamic`` for a model with dynamic bands."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, fire: torch.Tensor, wind: torch.Tensor, static: torch.Tensor, valid: torch.Tensor,
                valid_t: torch.Tensor, *dynamic: torch.Tensor) -> torch.Tensor:  # fmt: skip
        batch = {"fire": fire, "wind": wind, "static": static, "valid": valid, "valid_t": valid_t}
        if dynamic:
            batch[DYNAMIC_INPUT] = dynamic[0]
        return self.model(batch)


def export_metadata(fitted: Any) -> dict[str, str]:
    """The metadata an exported file carries (string values; JSON where structured)."""
    from emberxr import __version__
    from emberxr.data.loaders import sample_kwargs

    kw = sample_kwargs(fitted.config, fitted.model)
    return {
        "format": MAGIC,
        "version": "1",
        "emberxr_version": __version__,
        "model_name": str(fitted.model_name),
        "band_names": json.dumps(list(fitted.band_names)),
        "norm_stats": json.dumps(fitted.stats.to_dict()),
        "threshold": json.dumps(fitted.threshold),
        "patch_size": str(int(kw["patch_size"])),
        "max_history": str(int(kw["max_history"])),
        "tile_size": json.dumps(kw.get("tile_size")),
        "inputs": json.dumps(list(model_inputs(fitted.model))),
        "calibration": json.dumps(fitted.calibration),
    }


def _example_batch(
    in_static: int, p: int, T: int, B: int, gy: int, gx: int, seed: int, in_dynamic: int = 0
) -> dict[str, Any]:
    """Random histories with different left paddings (``T``, about ``T/2`` and 1 real frames ...)."""
    from emberxr.testing import make_batch

    lens = [max(1, T - (i * T) // max(B - 1, 1)) for i in range(B)]
    lens[-1] = 1
    b = make_batch(
        B=B,
        T=T,
        H=gy * p,
        W=gx * p,
        in_static=in_static,
        patch_size=p,
        hist_lens=lens,
        seed=seed,
        tokens=False,
        in_dynamic=in_dynamic,
    )
    return {k: b[k] for k in INPUTS + ((DYNAMIC_INPUT,) if in_dynamic else ())}


def _args(batch: dict[str, Any], inputs: tuple[str, ...] = INPUTS) -> tuple[torch.Tensor, ...]:
    return tuple(batch[k] for k in inputs)


def _dynamic_shapes(p: int, dynamic: bool = False) -> tuple[Any, ...]:
    from torch.export import Dim

    B = Dim("batch", min=1, max=4096)
    H = p * Dim("grid_y", min=1, max=8192 // p + 1)
    W = p * Dim("grid_x", min=1, max=8192 // p + 1)
    shapes = (
        {0: B, 2: H, 3: W},  # fire
        {0: B},  # wind
        {0: B, 2: H, 3: W},  # static
        {0: B, 2: H, 3: W},  # valid
        {0: B},  # valid_t
    )
    # the dynamic bands are BatchModule's vararg: their shapes come as one tuple
    return shapes + ((({0: B, 3: H, 4: W},),) if dynamic else ())


def export_model(
    fitted: Any,
    path: str | os.PathLike | None = None,
    format: str = "onnx",
    *,
    check: bool = True,
) -> ExportedModel:
    """Export a fitted model (see the module docstring) and check it against the eager model.

    Parameters
    ----------
    fitted
        An :class:`emberxr.Fitted` (``emberxr.load("model.pt")``).
    path
        Output file; default ``<run_dir>/<model_name>`` with the format's suffix (``.onnx`` /
        ``.pt2``).
    format
        ``"onnx"`` or ``"exported-program"``.
    check
        Run :func:`check_parity` on the written file.

    Returns
    -------
    ExportedModel
        The written file, loaded back (``parity`` holds the check's largest difference).

    Raises
    ------
    ExportError
        Unknown format, a missing optional dependency (ONNX), a model that does not export, or a
        failed parity check.
    """
    from emberxr.atomic import atomic_path
    from emberxr.data.loaders import sample_kwargs

    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; use one of {', '.join(FORMATS)}")
    if format == "onnx":
        _need_onnx(export=True)
    if path is None:
        path = Path(fitted.run_dir or ".") / f"{fitted.model_name}{FORMATS[format]}"
    path = Path(path)
    kw = sample_kwargs(fitted.config, fitted.model)
    p, T = int(kw["patch_size"]), int(kw["max_history"])
    meta = export_metadata(fitted)
    inputs = model_inputs(fitted.model)
    n_dyn = _n_dynamic(fitted)
    # on the CPU, in eval mode, attention weights not recorded (restored afterwards)
    with TorchRunner(fitted.model, "cpu"):
        module = BatchModule(fitted.model).eval()
        example = _example_batch(fitted.stats.n_static, p, T, B=2, gy=3, gx=4, seed=0, in_dynamic=n_dyn)
        shapes = _dynamic_shapes(p, dynamic=bool(n_dyn))
        try:
            program = torch.export.export(module, _args(example, inputs), dynamic_shapes=shapes)
        except Exception as exc:  # torch's own message says which line of the model is at fault
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ExportError(
                f"torch.export could not trace model {fitted.model_name!r}: {type(exc).__name__}: {first}. "
                "Fix: remove data-dependent Python control flow (bool(tensor), int(tensor), shapes that "
                "depend on values) from its forward"
            ) from exc
        with atomic_path(path) as tmp:
            if format == "exported-program":
                torch.export.save(program, str(tmp), extra_files={_EXTRA: json.dumps(meta)})
            else:
                _write_onnx(program, tmp, meta)
    exported = load_exported(path)
    if check:
        exported.parity = check_parity(fitted, exported)
    return exported


def _n_dynamic(fitted: Any) -> int:
    """Dynamic feature channels the model takes (0 without dynamic bands)."""
    return (
        int(getattr(fitted.model, "in_dynamic", 0) or 0) if DYNAMIC_INPUT in model_inputs(fitted.model) else 0
    )


def _need_onnx(export: bool = False) -> None:
    import importlib.util

    missing = [m for m in (("onnx", "onnxscript", "onnxruntime") if export else ("onnxruntime",))
               if importlib.util.find_spec(m) is None]  # fmt: skip
    if missing:
        raise ExportError(
            f"ONNX needs the package(s) {', '.join(missing)}, which are not installed. Fix: "
            "pip install 'emberxr[export]' (or use --format exported-program, which needs only torch)"
        )


def _write_onnx(program: Any, path: Path, meta: dict[str, str]) -> None:
    import logging
    import warnings

    quiet = logging.getLogger("onnx_ir")  # notes on empty attribute lists, not problems
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on axis names and opset choices
            onnx_program = torch.onnx.export(program, dynamo=True, verbose=False)
    finally:
        quiet.setLevel(level)
    onnx_program.model.metadata_props.update(meta)
    onnx_program.save(str(path))


@dataclass
class ExportedModel:
    """An exported file read back: its metadata and a way to run it.

    Attributes
    ----------
    path, format
        The file and ``"onnx"`` or ``"exported-program"``.
    model_name, band_names, stats, threshold, patch_size, max_history, tile_size
        From the metadata (``stats`` as ``NormStats``).
    metadata
        The raw metadata strings.
    parity
        Largest probability difference found by :func:`check_parity` (None until checked).
    """

    path: Path
    format: str
    metadata: dict[str, str]
    parity: float | None = None
    _program: Any = field(default=None, repr=False)
    #: ONNX Runtime sessions made so far, per (providers, threads): creating one costs more than a
    #: forecast of a 256² scene
    _sessions: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)

    @property
    def model_name(self) -> str:
        return self.metadata["model_name"]

    @property
    def band_names(self) -> list[str]:
        return list(json.loads(self.metadata["band_names"]))

    @property
    def stats(self) -> Any:
        from emberxr.normalize import NormStats

        return NormStats.from_dict(json.loads(self.metadata["norm_stats"]))

    @property
    def threshold(self) -> float | None:
        return json.loads(self.metadata["threshold"])

    @property
    def patch_size(self) -> int:
        return int(self.metadata["patch_size"])

    @property
    def max_history(self) -> int:
        return int(self.metadata["max_history"])

    @property
    def tile_size(self) -> int | None:
        return json.loads(self.metadata["tile_size"])

    @property
    def inputs(self) -> tuple[str, ...]:
        """The graph's inputs, in order (:data:`INPUTS`, then ``dynamic`` for dynamic bands)."""
        return tuple(json.loads(self.metadata.get("inputs", json.dumps(list(INPUTS)))))

    @property
    def calibration(self) -> dict[str, Any] | None:
        """The checkpoint's probability calibration (None: uncalibrated)."""
        return json.loads(self.metadata.get("calibration", "null"))

    @property
    def sample_kwargs(self) -> dict[str, Any]:
        """How samples are cut for this model (the options of :func:`emberxr.forecast.forecast`)."""
        return {"max_history": self.max_history, "patch_size": self.patch_size, "tile_size": self.tile_size}

    def check_event(self, event: Any) -> None:
        """Raise :class:`~emberxr.errors.CheckpointError` when the event's bands differ from the model's."""
        from emberxr.train.checkpoint import check_event_bands

        check_event_bands(self.band_names, event)

    def runner(self, device: str | torch.device | None = None) -> Runner:
        """A :class:`~emberxr.inference.Runner` of this file on ``device`` (default: the CPU)."""
        if self.format == "onnx":
            return _OnnxRunner(self, device)
        return _ProgramRunner(self, device)

    def __call__(self, batch: dict[str, Any]) -> np.ndarray:
        """Logits ``[B, 1, H, W]`` (numpy) of a batch dict with the :data:`INPUTS` tensors, on the CPU."""
        with self.runner() as r:
            return r.logits(batch)

    def __repr__(self) -> str:
        return f"ExportedModel({str(self.path)!r}, format={self.format!r}, model={self.model_name!r})"


def _pad_history(batch: dict[str, Any], T: int, inputs: tuple[str, ...] = INPUTS) -> dict[str, np.ndarray]:
    """The ``inputs`` as numpy, left-padded to ``T`` steps (exported graphs have a fixed T)."""
    out = {}
    for k in inputs:
        if k not in batch:
            raise ExportError(
                f"the exported model takes {k!r} but the batch has none; "
                + (
                    "forecast an event with the model's dynamic bands"
                    if k == DYNAMIC_INPUT
                    else "check the batch"
                )
            )
        v = batch[k]
        v = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
        out[k] = v
    n = T - out["fire"].shape[1]
    if n < 0:
        raise ExportError(
            f"a batch of {out['fire'].shape[1]} history steps is longer than the exported model's {T}; "
            "cut the history to max_history"
        )
    if n:
        for k in ("fire", "wind", "valid_t", DYNAMIC_INPUT):
            if k not in out:
                continue
            v = out[k]
            out[k] = np.concatenate([np.zeros((v.shape[0], n, *v.shape[2:]), v.dtype), v], axis=1)
    out["fire"] = out["fire"].astype(np.float32, copy=False)
    out["wind"] = out["wind"].astype(np.float32, copy=False)
    out["static"] = out["static"].astype(np.float32, copy=False)
    out["valid"] = out["valid"].astype(bool, copy=False)
    out["valid_t"] = out["valid_t"].astype(bool, copy=False)
    if DYNAMIC_INPUT in out:
        out[DYNAMIC_INPUT] = out[DYNAMIC_INPUT].astype(np.float32, copy=False)
    return out


class _ExportedRunner(Runner):
    def __init__(self, exported: ExportedModel, device: str | torch.device | None) -> None:
        from emberxr.inference import resolve_device

        self.exported = exported
        self.device = resolve_device(device)

    def logits(self, batch: dict[str, Any]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class _OnnxRunner(_ExportedRunner):
    """ONNX Runtime session (CUDA execution provider on a CUDA device when installed)."""

    def __enter__(self) -> _OnnxRunner:
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ExportError(
                    "device cuda asked for an ONNX model but this onnxruntime has no CUDA execution provider; "
                    "install onnxruntime-gpu or use --device cpu"
                )
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": self.device.index or 0}))
        threads = torch.get_num_threads()
        key = (repr(providers), threads)
        self.session = self.exported._sessions.get(key)
        if self.session is None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            self.session = ort.InferenceSession(str(self.exported.path), opts, providers=providers)
            self.exported._sessions[key] = self.session
        self.names = [i.name for i in self.session.get_inputs()]
        return self

    def __exit__(self, *exc: Any) -> None:
        self.session = None

    def logits(self, batch: dict[str, Any]) -> np.ndarray:
        feed = _pad_history(batch, self.exported.max_history, self.exported.inputs)
        # graph inputs in order (ONNX names the dynamic bands' vararg "dynamic_0")
        return self.session.run(None, {n: feed[k] for n, k in zip(self.names, self.exported.inputs)})[0]


class _ProgramRunner(_ExportedRunner):
    """A ``torch.export`` program's module on a device, under inference mode."""

    def __enter__(self) -> _ProgramRunner:
        from torch.export.passes import move_to_device_pass

        ep = self.exported._program
        if ep is None:
            ep = self.exported._program = torch.export.load(str(self.exported.path))
        # the traced graph names the CPU in its constants (torch.arange(..., device=...)): the pass
        # rewrites those as well as the weights (a plain .to(device) would leave them behind)
        self.module = move_to_device_pass(ep, self.device).module()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.module = None

    def logits(self, batch: dict[str, Any]) -> np.ndarray:
        feed = _pad_history(batch, self.exported.max_history, self.exported.inputs)
        args = [torch.from_numpy(feed[k]).to(self.device) for k in self.exported.inputs]
        with torch.inference_mode():
            return self.module(*args).float().cpu().numpy()


def load_exported(path: str | os.PathLike) -> ExportedModel:
    """Read an exported file (``.onnx`` or ``.pt2``) written by :func:`export_model`.

    Raises
    ------
    ExportError
        Not a file emberxr exported (no emberxr metadata), or ONNX Runtime missing for ``.onnx``.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path} does not exist; export a checkpoint with `emberxr export CKPT` first")
    if path.suffix == ".onnx":
        _need_onnx()
        import onnxruntime as ort

        try:
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ExportError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc})") from None
        meta = dict(sess.get_modelmeta().custom_metadata_map)
        fmt, program = "onnx", None
    else:
        import warnings

        extra = {_EXTRA: ""}
        try:
            with warnings.catch_warnings():  # torch's note on how it regroups the CPU weights
                warnings.filterwarnings("ignore", message="No complete tensor found")
                program = torch.export.load(str(path), extra_files=extra)
        except Exception as exc:
            raise ExportError(
                f"{path} is not a torch.export archive ({type(exc).__name__}: {exc}); "
                "use a .pt2 or .onnx file written by `emberxr export`"
            ) from None
        meta = json.loads(extra[_EXTRA]) if extra[_EXTRA] else {}
        fmt = "exported-program"
    if meta.get("format") != MAGIC:
        raise ExportError(
            f"{path} has no emberxr metadata (normalisation statistics, bands, threshold): it was not "
            "written by `emberxr export`. Export the checkpoint with `emberxr export CKPT`"
        )
    return ExportedModel(path, fmt, meta, _program=program)


def check_parity(
    fitted: Any,
    exported: ExportedModel,
    *,
    sizes: tuple[tuple[int, int], ...] = ((2, 2), (3, 5)),
    batch: int = 3,
    atol: float = PARITY_ATOL,
    seed: int = 0,
) -> float:
    """Largest probability difference between ``exported`` and the eager model of ``fitted``.

    Runs both on random histories with different left paddings (full, partial, one real frame)
    on windows of ``sizes`` patch grids, on the CPU.

    Raises
    ------
    ExportError
        The difference exceeds ``atol``.
    """
    p, T = exported.patch_size, exported.max_history
    worst = 0.0
    with TorchRunner(fitted.model, "cpu") as eager, exported.runner() as run:
        for i, (gy, gx) in enumerate(sizes):
            # the first batch has max_history steps; the others fewer, which the exported graph
            # (fixed history length) sees with extra left padding
            steps = T if i == 0 else max(1, T - 2 * i)
            b = _example_batch(
                fitted.stats.n_static,
                p,
                steps,
                B=batch,
                gy=gy,
                gx=gx,
                seed=seed + i,
                in_dynamic=_n_dynamic(fitted),
            )
            worst = max(worst, float(np.abs(run(b) - eager(dict(b))).max()))
    if not worst <= atol:
        raise ExportError(
            f"the exported {exported.format} model differs from the eager model by {worst:.2e} in "
            f"probability (more than {atol:.0e}) on random histories; the export is not faithful. "
            "Please report it with the model name and configuration"
        )
    return worst
