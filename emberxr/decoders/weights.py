"""Pretrained weights, offline: load a local state-dict file into an encoder, adapting the first conv.

``weights`` is one of

- ``None``: random initialisation;
- a path to a local file (``.pth`` / ``.pt`` / ``.bin`` saved with ``torch.save(state_dict)``, or
  ``.safetensors`` when the ``safetensors`` package is installed) holding an encoder state dict,
  e.g. ``timm.create_model("resnet18", pretrained=True).state_dict()`` saved on a machine with
  network. Keys may carry a ``module.``/``encoder.``/``model.``/``backbone.`` prefix; a nested
  ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped; classifier heads are ignored;
- a hub name (``"resnet18.a1_in1k"``): fails at once with :class:`~emberxr.errors.WeightsError`
  unless ``EMBERXR_ALLOW_DOWNLOAD=1`` is set, in which case timm downloads it. emberxr never
  contacts a hub otherwise, so nothing hangs on a machine without network.

The first convolution is adapted to the model's input channels the way ImageNet weights are
usually reused: for one channel the RGB kernels are summed; otherwise they are tiled over the new
channels and scaled by ``3 / C`` so activations keep their magnitude.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from emberxr.errors import WeightsError

ALLOW_DOWNLOAD_ENV = "EMBERXR_ALLOW_DOWNLOAD"
_PREFIXES = ("", "module.", "encoder.", "model.", "backbone.", "net.encoder.", "module.encoder.")


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did."""

    source: str
    loaded: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def adapt_input_conv(weight: Tensor, in_channels: int) -> Tensor:
    """Adapt a conv kernel ``[O, C, k, k]`` to ``in_channels`` input channels.

    Parameters
    ----------
    weight
        Pretrained kernel (typically C = 3).
    in_channels
        Channels the model's first conv receives.

    Returns
    -------
    Tensor
        ``[O, in_channels, k, k]``: summed over C for one channel, otherwise tiled and scaled by
        ``C / in_channels``.
    """
    c = weight.shape[1]
    if in_channels == c:
        return weight.clone()
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    reps = math.ceil(in_channels / c)
    return weight.repeat(1, reps, *([1] * (weight.dim() - 2)))[:, :in_channels] * (c / in_channels)


def is_hub_name(weights: str) -> bool:
    """True when ``weights`` does not look like a local path (no separator, no file suffix)."""
    p = Path(weights)
    return not (
        os.sep in weights or "/" in weights or p.suffix in {".pth", ".pt", ".bin", ".safetensors", ".ckpt"}
    )


def read_state_dict(weights: str | os.PathLike) -> dict[str, Tensor]:
    """Read a state dict from a local file or (only with ``EMBERXR_ALLOW_DOWNLOAD=1``) a timm hub name.

    Raises
    ------
    WeightsError
        Missing file, unreadable file, or a hub name while downloads are not allowed.
    """
    text = os.fspath(weights)
    path = Path(text).expanduser()
    if path.is_file():
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(
                f"could not read weights file {str(path)!r}: {type(exc).__name__}: {exc}; save it with "
                "torch.save(model.state_dict(), path) (plain tensors only)"
            ) from exc
        return _unwrap(state, str(path))
    if not is_hub_name(text):
        raise WeightsError(f"weights file {text!r} does not exist; pass an existing local file or None")
    if os.environ.get(ALLOW_DOWNLOAD_ENV) != "1":
        raise WeightsError(
            f"weights {text!r} is not a local file and emberxr does not download weights "
            f"(no network is assumed). On a machine with network run: "
            f"import timm, torch; torch.save(timm.create_model({text!r}, pretrained=True).state_dict(), "
            f"'{text}.pth') — then pass decoder_weights='/path/to/{text}.pth'. "
            f"To allow downloads here, set {ALLOW_DOWNLOAD_ENV}=1."
        )
    try:  # pragma: no cover - needs network
        import timm

        return dict(timm.create_model(text, pretrained=True).state_dict())
    except Exception as exc:  # pragma: no cover - needs network
        raise WeightsError(f"could not download weights {text!r}: {type(exc).__name__}: {exc}") from exc


def _unwrap(state: object, source: str) -> dict[str, Tensor]:
    for key in ("state_dict", "model", "model_state"):
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(f"{source!r} does not hold a state dict of tensors; save model.state_dict()")
    return dict(state)


def load_pretrained(module: nn.Module, weights: str | os.PathLike) -> LoadReport:
    """Load ``weights`` into ``module`` (an encoder), adapting the first conv to its input channels.

    Parameters
    ----------
    module
        The module whose ``state_dict`` keys the file should match (after stripping a prefix).
    weights
        Local file, or hub name (see the module docstring).

    Returns
    -------
    LoadReport
        Loaded, adapted and ignored keys.

    Raises
    ------
    WeightsError
        The file does not fit the module; every missing key and shape mismatch is listed.
    """
    state = read_state_dict(weights)
    target = module.state_dict()
    wanted = {k for k in target if not k.endswith("num_batches_tracked")}
    best = max(_PREFIXES, key=lambda p: sum(1 for k in state if k.startswith(p) and k[len(p) :] in target))
    renamed = {k[len(best) :]: v for k, v in state.items() if k.startswith(best)}
    report = LoadReport(source=os.fspath(weights))
    report.ignored = sorted(set(renamed) - set(target)) + sorted(k for k in state if not k.startswith(best))
    problems: list[str] = []
    new_state: dict[str, Tensor] = {}
    for key in sorted(wanted):
        if key not in renamed:
            problems.append(f"missing {key!r} {tuple(target[key].shape)}")
            continue
        src, dst = renamed[key], target[key]
        if src.shape != dst.shape:
            if src.dim() >= 3 and src.shape[0] == dst.shape[0] and src.shape[2:] == dst.shape[2:]:
                src = adapt_input_conv(src, dst.shape[1])
                report.adapted.append(key)
            else:
                problems.append(f"{key!r}: file has shape {tuple(src.shape)}, model needs {tuple(dst.shape)}")
                continue
        new_state[key] = src.to(dst.dtype)
        report.loaded.append(key)
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise WeightsError(
            f"weights {os.fspath(weights)!r} do not fit {type(module).__name__} "
            f"({len(problems)} problem(s); use weights saved from the same architecture, e.g. the same "
            f"encoder name):\n  " + "\n  ".join(shown)
        )
    for key in target:
        if key.endswith("num_batches_tracked") and key in renamed:
            new_state[key] = renamed[key]
    # keys were matched against module.state_dict() above; call the base method because some
    # encoders (smp's MiT) override load_state_dict without the ``strict`` argument
    nn.Module.load_state_dict(module, new_state, strict=False)
    return report
