"""Pretrained weights, offline: where they live, and loading them into an encoder.

A decoder's ``weights`` argument (EmberFormer's ``pretrained`` option) is one of

- ``None`` or ``False``: random initialisation;
- ``True``: the default weight file of that decoder and encoder, ``<decoder>-<encoder>.pt``, looked
  up in ``$EMBERXR_WEIGHTS_DIR`` and then in ``$XDG_CACHE_HOME/emberxr/weights`` (default
  ``~/.cache/emberxr/weights``), in that order (:func:`default_weights_path`). When neither holds
  it, :class:`~emberxr.errors.WeightsError` says where to put one — a random initialisation is
  never used in its place;
- a path to a local file (``.pth`` / ``.pt`` / ``.bin`` saved with ``torch.save(state_dict)``, or
  ``.safetensors`` when the ``safetensors`` package is installed) holding an encoder state dict,
  e.g. ``timm.create_model("resnet18", pretrained=True).state_dict()`` saved on a machine with
  network. Keys may carry a ``module.``/``encoder.``/``model.``/``backbone.`` prefix; a nested
  ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped.

emberxr never downloads weights: a hub name such as ``"resnet18.a1_in1k"`` is an error that says
how to turn it into a local file. Loading is strict: every tensor of the encoder must come from
the file with the same shape (the first convolution excepted, see below), and every tensor of the
file must be used, except a classifier head (``fc.*``, ``head.*``, ``classifier.*`` ...), which is
ignored and reported in the :class:`LoadReport`. A ResNet-34 file offered to a ResNet-18 encoder
therefore fails, listing the 98 tensors it would have dropped.

The first convolution is adapted to the model's input channels the way ImageNet weights are
usually reused: for one channel the RGB kernels are summed; otherwise they are tiled over the new
channels and scaled by ``3 / C`` so activations keep their magnitude.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from emberxr.errors import WeightsError

#: environment variable naming the first directory searched for ``pretrained: true`` weights
WEIGHTS_DIR_ENV = "EMBERXR_WEIGHTS_DIR"
_PREFIXES = ("", "module.", "encoder.", "model.", "backbone.", "net.encoder.", "module.encoder.")
#: first key components of classifier heads: present in ImageNet files, never part of an encoder
HEAD_PREFIXES = ("fc", "head", "heads", "classifier", "last_linear", "pre_logits")
_SUFFIXES = {".pth", ".pt", ".bin", ".safetensors", ".ckpt"}
_SKIP_FILES: contextvars.ContextVar[bool] = contextvars.ContextVar("emberxr_skip_weight_files", default=False)


@contextlib.contextmanager
def skip_weight_files() -> Iterator[None]:
    """Build models without reading weight files (``weights`` is treated as None inside).

    For rebuilding a model whose every tensor comes from a checkpoint's state dict right after:
    the weight file it was trained from is not needed then (and may no longer exist).
    """
    token = _SKIP_FILES.set(True)
    try:
        yield
    finally:
        _SKIP_FILES.reset(token)


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did: tensors loaded, first-conv tensors adapted, head tensors ignored."""

    source: str
    loaded: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"loaded {len(self.loaded)} tensors from {self.source}"
        if self.adapted:
            text += f"; first conv adapted: {', '.join(self.adapted)}"
        if self.ignored:
            text += f"; ignored (classifier head): {', '.join(self.ignored)}"
        return text


def _recipe(encoder: str, filename: str) -> str:
    """How to write the ImageNet weights of an smp encoder to ``filename`` (needs network once)."""
    return (
        f"import segmentation_models_pytorch as smp, torch; torch.save(smp.encoders.get_encoder("
        f"{encoder!r}, weights='imagenet').state_dict(), '{filename}')"
    )


def weights_filename(decoder: str, encoder: str) -> str:
    """File name of the default weights of ``decoder`` with ``encoder``: ``<decoder>-<encoder>.pt``."""
    return f"{decoder}-{encoder}.pt".replace("/", "_")


def weights_dirs() -> list[Path]:
    """Directories searched for default weights, in order: ``$EMBERXR_WEIGHTS_DIR`` (when set), then
    ``$XDG_CACHE_HOME/emberxr/weights`` (``~/.cache/emberxr/weights`` without ``XDG_CACHE_HOME``)."""
    dirs = []
    env = os.environ.get(WEIGHTS_DIR_ENV)
    if env:
        dirs.append(Path(env).expanduser())
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    dirs.append(Path(cache).expanduser() / "emberxr" / "weights")
    return dirs


def default_weights_path(decoder: str, encoder: str) -> Path:
    """The weight file ``pretrained: true`` means for ``decoder`` with ``encoder``.

    Parameters
    ----------
    decoder
        Decoder registry name (``"unet"``, ``"segformer"``).
    encoder
        Its encoder name (``"resnet18"``, ``"mit_b0"``).

    Returns
    -------
    Path
        The first existing ``<dir>/<decoder>-<encoder>.pt`` over :func:`weights_dirs`.

    Raises
    ------
    WeightsError
        No directory holds the file; the message lists where to put one and how to make it.
    """
    name = weights_filename(decoder, encoder)
    candidates = [d / name for d in weights_dirs()]
    for path in candidates:
        if path.is_file():
            return path
    where = " or ".join(repr(str(c)) for c in candidates)
    raise WeightsError(
        f"pretrained=true needs the {decoder!r} decoder's {encoder!r} encoder weights, but there is no "
        f"file {where}. Put an encoder state dict there (on a machine with network: "
        f"{_recipe(encoder, name)}; set {WEIGHTS_DIR_ENV} to use another directory), or pass the file itself: "
        f"pretrained='/path/to/weights.pt' (model.pretrained in a config), or pretrained=false "
        f"to train from a random initialisation"
    )


def resolve_weights(weights: bool | str | os.PathLike | None, decoder: str, encoder: str) -> str | None:
    """The local file a decoder's ``weights`` argument stands for (None = random initialisation).

    Parameters
    ----------
    weights
        None/False, True (:func:`default_weights_path`) or a local file path.
    decoder, encoder
        Names used for the default location.

    Raises
    ------
    WeightsError
        ``True`` without a default file, or a path that does not exist (a hub name gets the recipe
        to make a local file).
    """
    if weights is None or weights is False or _SKIP_FILES.get():
        return None
    if weights is True:
        return str(default_weights_path(decoder, encoder))
    if not isinstance(weights, (str, os.PathLike)):
        raise WeightsError(
            f"weights must be true, false or a local file path, got {type(weights).__name__} {weights!r}"
        )
    text = os.fspath(weights)
    if Path(text).expanduser().is_file():
        return text
    if is_hub_name(text):
        raise WeightsError(
            f"weights {text!r} is not a local file and emberxr does not download weights. On a machine "
            f"with network run: import timm, torch; torch.save(timm.create_model({text!r}, "
            f"pretrained=True).state_dict(), '{text}.pth') (or, for an smp encoder name, "
            f"{_recipe(encoder, weights_filename(decoder, encoder))}) — then pass "
            f"pretrained='/path/to/{text}.pth', "
            f"or copy it to {str(weights_dirs()[0] / weights_filename(decoder, encoder))!r} and pass "
            f"pretrained=true"
        )
    raise WeightsError(
        f"weights file {text!r} does not exist; pass an existing local file, true for "
        f"{weights_filename(decoder, encoder)!r} in the weights directory, or false"
    )


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
    return not (os.sep in weights or "/" in weights or Path(weights).suffix in _SUFFIXES)


def read_state_dict(weights: str | os.PathLike) -> dict[str, Tensor]:
    """Read a state dict of tensors from a local file (``torch.load(weights_only=True)``).

    Raises
    ------
    WeightsError
        Missing or unreadable file, or a file without a state dict of tensors.
    """
    path = Path(os.fspath(weights)).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist; pass an existing local file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).split("\n", 1)[0][:200]
        raise WeightsError(
            f"could not read weights file {str(path)!r} ({type(exc).__name__}: {reason}); save it with "
            "torch.save(model.state_dict(), path) (plain tensors only)"
        ) from None
    return _unwrap(state, str(path))


def _unwrap(state: object, source: str) -> dict[str, Tensor]:
    for key in ("state_dict", "model", "model_state"):
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(f"{source!r} does not hold a state dict of tensors; save model.state_dict()")
    return dict(state)


def _is_head(key: str) -> bool:
    return key.split(".", 1)[0] in HEAD_PREFIXES


def load_pretrained(module: nn.Module, weights: str | os.PathLike) -> LoadReport:
    """Load a local weight file into ``module`` (an encoder), adapting the first conv to its input channels.

    Parameters
    ----------
    module
        The module whose ``state_dict`` keys the file should match (after stripping a prefix).
    weights
        Path of a local file (see the module docstring; :func:`resolve_weights` turns ``True`` into
        the default location).

    Returns
    -------
    LoadReport
        Loaded, adapted and ignored (classifier head) keys.

    Raises
    ------
    WeightsError
        The file does not fit the module: every missing key, shape mismatch and unused tensor
        (other than a classifier head) is listed.
    """
    state = read_state_dict(weights)
    target = module.state_dict()
    wanted = {k for k in target if not k.endswith("num_batches_tracked")}
    best = max(_PREFIXES, key=lambda p: sum(1 for k in state if k.startswith(p) and k[len(p) :] in target))
    renamed = {k[len(best) :]: v for k, v in state.items() if k.startswith(best)}
    report = LoadReport(source=os.fspath(weights))
    unused = sorted(set(renamed) - set(target)) + sorted(k for k in state if not k.startswith(best))
    report.ignored = [k for k in unused if _is_head(k)]
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
    extra = [k for k in unused if not _is_head(k)]
    problems += [f"unused {k!r} {tuple(state.get(best + k, state.get(k)).shape)}" for k in extra]
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise WeightsError(
            f"weights {os.fspath(weights)!r} do not fit {type(module).__name__}: {len(problems)} problem(s) "
            f"({len(new_state)} of {len(wanted)} tensors fit, {len(extra)} tensors of the file would be "
            f"unused besides a classifier head); use weights saved from the same architecture, e.g. the same encoder name:\n  "
            + "\n  ".join(shown)
        )
    for key in target:
        if key.endswith("num_batches_tracked") and key in renamed:
            new_state[key] = renamed[key]
    # keys were matched against module.state_dict() above; call the base method because some
    # encoders (smp's MiT) override load_state_dict without the ``strict`` argument
    nn.Module.load_state_dict(module, new_state, strict=False)
    return report
