"""One-file checkpoints that load with ``torch.load(weights_only=True)``.

A checkpoint is a dict of plain tensors, dicts, lists, str, int, float, bool and None only::

    format            "emberxr-checkpoint"
    version           1
    emberxr_version   library version that wrote it
    model_name        registry name
    model_config      constructor kwargs (``model.config``)
    state_dict        model weights
    norm_stats        ``NormStats.to_dict()``
    band_names        static band names, in order
    threshold         probability threshold chosen on validation
    config            the full training configuration
    epoch             last complete epoch (1-based; 0 = not trained)
    metrics           validation metrics of this checkpoint
    resume            (optional) optimizer / scheduler / RNG state, best metric, history

Writes are atomic (:func:`emberxr.atomic.atomic_path`): an interrupted save never leaves a broken
file under the final name.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emberxr.atomic import atomic_path
from emberxr.errors import CheckpointError

FORMAT = "emberxr-checkpoint"
VERSION = 1
REQUIRED = (
    "format",
    "version",
    "model_name",
    "model_config",
    "state_dict",
    "norm_stats",
    "band_names",
    "threshold",
)


def _plain(obj: Any) -> Any:
    """Convert numpy scalars/arrays and tuples into weights_only-safe types."""
    if isinstance(obj, Mapping):
        return {str(k) if not isinstance(k, int) else k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_checkpoint(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path
        Destination file (``.pt``).
    payload
        The checkpoint fields (see the module docstring); ``format``/``version``/``emberxr_version``
        are filled in.

    Returns
    -------
    Path
        The written file.
    """
    from emberxr import __version__

    data = {"format": FORMAT, "version": VERSION, "emberxr_version": __version__, **_plain(dict(payload))}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint (``weights_only=True``: no code is unpickled).

    Raises
    ------
    CheckpointError
        Missing file, not a checkpoint, unsafe content, or missing fields.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not exist; pass the path of a .pt file written by fit"
        )
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path} could not be read as an emberxr checkpoint ({type(exc).__name__}: {str(exc)[:200]}); "
            "it may be truncated or not written by emberxr — re-run fit or pick another file"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an emberxr checkpoint (no format={FORMAT!r}); use a file written by fit"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(
            f"{path} lacks field(s) {', '.join(missing)}; the file is damaged or from another tool"
        )
    if int(data["version"]) > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {data['version']}, newer than this emberxr understands ({VERSION}); "
            "upgrade emberxr"
        )
    return data


def check_bands(ckpt_bands: Sequence[str], data_bands: Sequence[str], source: str = "the data") -> None:
    """Raise :class:`CheckpointError` when the data's static bands differ from the checkpoint's."""
    a, b = [str(x) for x in ckpt_bands], [str(x) for x in data_bands]
    if a == b:
        return
    missing = [x for x in a if x not in b]
    extra = [x for x in b if x not in a]
    parts = []
    if missing:
        parts.append(f"missing band(s) {', '.join(missing)}")
    if extra:
        parts.append(f"unexpected band(s) {', '.join(extra)}")
    if not parts:
        parts.append(f"bands in another order ({', '.join(b)} instead of {', '.join(a)})")
    raise CheckpointError(
        f"{source} does not match the checkpoint's static bands: {'; '.join(parts)}. The model was trained on "
        f"[{', '.join(a)}]; give it data with exactly these bands (same names, same order) or re-train on the new bands"
    )


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as weights_only-safe values."""
    py = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
            "name": str(name),
        },
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np_state = (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    np.random.set_state(np_state)  # noqa: NPY002
    torch.set_rng_state(state["torch"])
