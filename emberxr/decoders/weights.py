"""Pretrained weights, offline: where they live, reading and writing them, loading them into a module.

A decoder's ``weights`` argument (EmberFormer's ``pretrained`` option) is one of

- ``None`` or ``False``: random initialisation;
- ``True``: the default weight file of that decoder and encoder, ``<decoder>-<encoder>.pt``, looked
  up in ``$EMBERXR_WEIGHTS_DIR``, then in ``$XDG_CACHE_HOME/emberxr/weights`` (default
  ``~/.cache/emberxr/weights``), then among the files shipped inside the package
  (``emberxr/_weights``), in that order (:func:`default_weights_path`). When none holds it,
  :class:`~emberxr.errors.WeightsError` says where to put one and how to make it (``emberxr
  pretrain``) — a random initialisation is never used in its place;
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

**Files of other origin** (ImageNet): the first convolution is adapted to the model's input
channels the way ImageNet weights are usually reused: for one channel the RGB kernels are summed;
otherwise they are tiled over the new channels and scaled by ``3 / C`` so activations keep their
magnitude.

**Files written by** ``emberxr pretrain`` (:func:`save_weights`) hold
``{"state_dict": {...}, "metadata": {...}}`` (``torch.load(weights_only=True)`` reads them) whose
metadata (:data:`METADATA_FORMAT`) names every input channel of the encoder (``input_names``) and
its first convolution (``first_conv``). Their first convolution is never tiled: when the model's
channel names are known (:mod:`emberxr.channels`, set by :func:`emberxr.fit`) its kernel columns
are matched by name — a channel the file lacks (a fuel model the pretraining data never had) starts
at zero, a channel the model lacks is dropped, both listed in the report; when they are not known,
the file must have exactly the model's input channels, else the error lists the file's channels.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from emberxr.errors import WeightsError

#: environment variable naming the first directory searched for ``pretrained: true`` weights
WEIGHTS_DIR_ENV = "EMBERXR_WEIGHTS_DIR"
#: folder of the package holding shipped weight files (the last place :func:`weights_dirs` searches)
PACKAGE_WEIGHTS = "_weights"
#: ``metadata["format"]`` of the files :func:`save_weights` writes
METADATA_FORMAT = "emberxr-pretrained-encoder"
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
    """What loading a weight file did.

    Attributes
    ----------
    source
        The file.
    loaded
        Tensors of the module that now hold the file's values.
    adapted
        Tensors loaded after a change of shape: a first convolution tiled over the input channels
        (files without channel names, e.g. ImageNet), a first convolution matched by channel name
        (see ``new_channels`` / ``dropped_channels``), SAM tensors cut to its first mask output.
    ignored
        Classifier-head tensors of the file that an encoder has no use for.
    skipped
        Other tensors of the file that were not used, with the reason (e.g. a Segment Anything
        checkpoint's image encoder).
    initialised
        Tensors of the module the file did not provide (kept at their initialisation).
    new_channels, dropped_channels
        Input channels the model has and the file lacks (zero kernels), and the other way round.
    metadata
        The file's metadata (files of ``emberxr pretrain``: objective, catalog, steps, channels ...).
    """

    source: str
    loaded: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    initialised: list[str] = field(default_factory=list)
    new_channels: list[str] = field(default_factory=list)
    dropped_channels: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        text = f"loaded {len(self.loaded)} tensors from {self.source}"
        meta = self.metadata
        if meta.get("format") == METADATA_FORMAT:
            text += (
                f" (emberxr pretrain: {meta.get('objective')} on {meta.get('catalog')}, "
                f"{meta.get('steps')} steps)"
            )
        if self.adapted:
            text += f"; adapted: {', '.join(self.adapted)}"
        if self.new_channels:
            text += f"; input channels new to the weights (zero-initialised): {', '.join(self.new_channels)}"
        if self.dropped_channels:
            text += f"; input channels of the weights this model lacks (dropped): {', '.join(self.dropped_channels)}"
        if self.ignored:
            text += f"; ignored (classifier head): {', '.join(self.ignored)}"
        if self.skipped:
            text += f"; skipped {len(self.skipped)} tensors of the file: {_summarise(self.skipped)}"
        if self.initialised:
            text += f"; kept at initialisation: {', '.join(self.initialised)}"
        return text


def _summarise(skipped: Mapping[str, str]) -> str:
    """``key (reason)`` per skipped tensor; more than three keys sharing a first component and a
    reason are grouped under their common prefix (``image_encoder.* (180 tensors: reason)``)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for key, reason in skipped.items():
        groups.setdefault((key.split(".", 1)[0], reason), []).append(key)
    parts = []
    for (_, reason), keys in groups.items():
        if len(keys) > 3:
            split = [k.split(".") for k in keys]
            common = next((i for i, c in enumerate(zip(*split)) if len(set(c)) > 1), min(map(len, split)))
            parts.append(f"{'.'.join(split[0][:common])}.* ({len(keys)} tensors: {reason})")
        else:
            parts += [f"{k} ({reason})" for k in keys]
    return "; ".join(parts)


def _recipe(encoder: str, filename: str) -> str:
    """How to write the ImageNet weights of an smp encoder to ``filename`` (needs network once)."""
    return (
        f"import segmentation_models_pytorch as smp, torch; torch.save(smp.encoders.get_encoder("
        f"{encoder!r}, weights='imagenet').state_dict(), '{filename}')"
    )


def weights_filename(decoder: str, encoder: str) -> str:
    """File name of the default weights of ``decoder`` with ``encoder``: ``<decoder>-<encoder>.pt``."""
    return f"{decoder}-{encoder}.pt".replace("/", "_")


def package_weights_dir() -> Path:
    """The folder of weight files shipped inside the installed package (``emberxr/_weights``)."""
    from importlib.resources import files

    return Path(str(files("emberxr") / PACKAGE_WEIGHTS))


def weights_dirs() -> list[Path]:
    """Directories searched for default weights, in order: ``$EMBERXR_WEIGHTS_DIR`` (when set), then
    ``$XDG_CACHE_HOME/emberxr/weights`` (``~/.cache/emberxr/weights`` without ``XDG_CACHE_HOME``),
    then the package's shipped files (:func:`package_weights_dir`, last so a file of the user's
    own always wins)."""
    dirs = []
    env = os.environ.get(WEIGHTS_DIR_ENV)
    if env:
        dirs.append(Path(env).expanduser())
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    dirs.append(Path(cache).expanduser() / "emberxr" / "weights")
    dirs.append(package_weights_dir())
    return dirs


def user_weights_dir() -> Path:
    """Where ``emberxr pretrain`` writes by default: the first directory of :func:`weights_dirs`
    (``$EMBERXR_WEIGHTS_DIR`` when set, else the cache directory)."""
    return weights_dirs()[0]


def default_weights_path(decoder: str, encoder: str, how: str | None = None) -> Path:
    """The weight file ``pretrained: true`` means for ``decoder`` with ``encoder``.

    Parameters
    ----------
    decoder
        Decoder registry name (``"unet"``, ``"segformer"``, ``"sam"``).
    encoder
        Its encoder name (``"resnet18"``, ``"mit_b0"``), or the part the file holds.
    how
        How to make the file, for the error message (default: ``emberxr pretrain`` or the
        ImageNet recipe of an smp encoder).

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
    dirs = weights_dirs()
    candidates = [d / name for d in dirs]
    for path in candidates:
        if path.is_file():
            return path
    where = " or ".join(repr(str(c)) for c in candidates[:-1])
    how = how or (
        f"pretrain it on simulated fires: emberxr pretrain --decoder {decoder} --encoder {encoder} "
        f"(writes {str(candidates[0])!r}), or for ImageNet weights, on a machine with network: "
        f"{_recipe(encoder, name)}"
    )
    raise WeightsError(
        f"pretrained=true needs the {decoder!r} decoder's {encoder!r} weights, but there is no "
        f"file {where} (and none shipped with emberxr). Make one — {how}; set {WEIGHTS_DIR_ENV} to use another "
        f"directory — or pass the file itself: pretrained='/path/to/weights.pt' (model.pretrained in a "
        f"config), or pretrained=false to train from a random initialisation"
    )


def resolve_weights(
    weights: bool | str | os.PathLike | None, decoder: str, encoder: str, how: str | None = None
) -> str | None:
    """The local file a decoder's ``weights`` argument stands for (None = random initialisation).

    Parameters
    ----------
    weights
        None/False, True (:func:`default_weights_path`) or a local file path.
    decoder, encoder
        Names used for the default location.
    how
        How to make the default file (see :func:`default_weights_path`).

    Raises
    ------
    WeightsError
        ``True`` without a default file, or a path that does not exist (a hub name gets the recipe
        to make a local file).
    """
    if weights is None or weights is False or _SKIP_FILES.get():
        return None
    if weights is True:
        return str(default_weights_path(decoder, encoder, how))
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


def read_weights(weights: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a weight file: its state dict of tensors and its metadata (``torch.load(weights_only=True)``).

    Returns
    -------
    (dict, dict)
        The tensors (a nested ``state_dict`` / ``model`` unwrapped) and the file's ``metadata``
        mapping (empty for files without one, e.g. ImageNet state dicts).

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
    meta = state.get("metadata") if isinstance(state, Mapping) else None
    return _unwrap(state, str(path)), dict(meta) if isinstance(meta, Mapping) else {}


def read_state_dict(weights: str | os.PathLike) -> dict[str, Tensor]:
    """The state dict of tensors of a local weight file (:func:`read_weights` without the metadata)."""
    return read_weights(weights)[0]


def save_weights(
    path: str | os.PathLike,
    state: Mapping[str, Tensor],
    metadata: Mapping[str, Any],
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``{"state_dict": state, "metadata": metadata}`` atomically (readable with ``weights_only``).

    Parameters
    ----------
    path
        Destination file (its folder is created).
    state
        Tensors (moved to the CPU; floating tensors cast to ``dtype`` when given).
    metadata
        Plain values only (str, int, float, bool, None, lists and dicts of them); ``format`` is set
        to :data:`METADATA_FORMAT` and ``dtype`` to the stored floating dtype.
    dtype
        E.g. ``torch.float16`` to halve the file; loading casts back to the model's dtype.

    Returns
    -------
    Path
    """
    from emberxr.atomic import atomic_path

    tensors = {
        k: (v.detach().to("cpu", dtype) if dtype is not None and v.is_floating_point() else v.detach().cpu())
        for k, v in state.items()
    }
    meta = _plain(dict(metadata), "metadata")
    stored = next(
        (str(v.dtype).removeprefix("torch.") for v in tensors.values() if v.is_floating_point()), None
    )
    meta = {**meta, "format": METADATA_FORMAT, "dtype": stored}
    path = Path(path).expanduser()
    with atomic_path(path) as tmp:
        torch.save({"state_dict": tensors, "metadata": meta}, tmp)
    return path


def _unwrap(state: object, source: str) -> dict[str, Tensor]:
    for key in ("state_dict", "model", "model_state"):
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(f"{source!r} does not hold a state dict of tensors; save model.state_dict()")
    return dict(state)


def _is_head(key: str) -> bool:
    return key.split(".", 1)[0] in HEAD_PREFIXES


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain Python values ``torch.load(weights_only=True)`` reads back (str subclasses
    and numpy scalars included); anything else is a ``TypeError`` naming where it is."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)):
        return type(value)(value) if type(value) in (int, float) else float(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return _plain(value.item(), where)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where} is a {type(value).__name__}; weight-file metadata holds plain values only")


def map_input_channels(
    weight: Tensor, file_names: Sequence[str], model_names: Sequence[str]
) -> tuple[Tensor, list[str], list[str]]:
    """Rearrange a first-conv kernel ``[O, C_file, ...]`` to the model's channels, by name.

    Parameters
    ----------
    weight
        The file's kernel; column ``i`` reads the channel ``file_names[i]``.
    file_names, model_names
        Input channel names of the file and of the model, in channel order.

    Returns
    -------
    (Tensor, list, list)
        ``[O, len(model_names), ...]`` — a channel of both keeps its column, a channel new to the
        model gets zeros (it adds nothing to what the pretrained encoder computes until
        fine-tuning learns it) — then the new channel names and the file's dropped ones.
    """
    column = {n: i for i, n in enumerate(file_names)}
    out = weight.new_zeros((weight.shape[0], len(model_names), *weight.shape[2:]))
    for j, name in enumerate(model_names):
        if name in column:
            out[:, j] = weight[:, column[name]]
    new = [n for n in model_names if n not in column]
    kept = set(model_names)
    return out, new, [n for n in file_names if n not in kept]


def load_pretrained(
    module: nn.Module,
    weights: str | os.PathLike,
    input_names: Sequence[str] | None = None,
    expect: Mapping[str, Any] | None = None,
) -> LoadReport:
    """Load a local weight file into ``module`` (an encoder), fitting its first conv to the input channels.

    Parameters
    ----------
    module
        The module whose ``state_dict`` keys the file should match (after stripping a prefix).
    weights
        Path of a local file (see the module docstring; :func:`resolve_weights` turns ``True`` into
        the default location).
    input_names
        Names of the module's input channels, when known: a file of ``emberxr pretrain`` is then
        mapped channel by channel (:func:`map_input_channels`).
    expect
        Metadata values the file must have when it records them, e.g. ``{"encoder": "resnet18"}``:
        a file pretrained for another encoder fails with that reason rather than a key list.

    Returns
    -------
    LoadReport
        Loaded, adapted and ignored (classifier head) keys, channels mapped by name, the file's
        metadata.

    Raises
    ------
    WeightsError
        The file does not fit the module: every missing key, shape mismatch and unused tensor
        (other than a classifier head) is listed; or a file of ``emberxr pretrain`` made for other
        input channels when the module's channel names are not known.
    """
    state, meta = read_weights(weights)
    wrong = {k: v for k, v in (expect or {}).items() if k in meta and meta[k] != v}
    if wrong:
        raise WeightsError(
            f"weights {os.fspath(weights)!r} were made for "
            + ", ".join(f"{k}={meta[k]!r}" for k in wrong)
            + " but this model has "
            + ", ".join(f"{k}={v!r}" for k, v in wrong.items())
            + "; use the same settings (e.g. decoder_config.encoder) or make a file for this model "
            "with emberxr pretrain (docs/models.md)"
        )
    target = module.state_dict()
    wanted = {k for k in target if not k.endswith("num_batches_tracked")}
    best = max(_PREFIXES, key=lambda p: sum(1 for k in state if k.startswith(p) and k[len(p) :] in target))
    renamed = {k[len(best) :]: v for k, v in state.items() if k.startswith(best)}
    report = LoadReport(source=os.fspath(weights), metadata=meta)
    named = isinstance(meta.get("input_names"), list) and meta.get("first_conv") in renamed
    if named:  # a file of emberxr pretrain: its channels are named, never tiled
        key, file_names = meta["first_conv"], [str(n) for n in meta["input_names"]]
        src, dst = renamed[key], target.get(key)
        if dst is not None and input_names is not None and list(input_names) != file_names:
            renamed[key], report.new_channels, report.dropped_channels = map_input_channels(
                src, file_names, input_names
            )
            report.adapted.append(key)
        elif dst is not None and src.shape != dst.shape:
            raise WeightsError(
                f"weights {os.fspath(weights)!r} were pretrained for {src.shape[1]} input channels, but this "
                f"model's encoder has {dst.shape[1]} and their names are unknown here, so they cannot be "
                f"matched. The file's channels: {', '.join(file_names)}. Train through emberxr.fit / "
                f"emberxr fit (which names the data's channels and matches them), or pretrain on data with "
                f"this model's bands: emberxr pretrain --data <your catalog>"
            )
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
            if (
                not named
                and src.dim() >= 3
                and src.shape[0] == dst.shape[0]
                and src.shape[2:] == dst.shape[2:]
            ):
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
