"""The model contract shared by every model in the zoo.

A model is a :class:`FireModel` (an ``nn.Module``) that

- declares what it needs from the batch in the class attribute ``requires``
  (:class:`ModelRequirements`);
- is built from plain JSON-able keyword arguments (``in_static``, ``in_dynamic``, ``patch_size``,
  ``max_history`` plus its own hyper-parameters), which the base class records (:mod:`emberxr.configurable`) and
  gives back through :attr:`FireModel.config`, so a checkpoint can store ``(name, config)`` and
  rebuild with ``emberxr.create_model(name, **config)``;
- maps the collated batch dict (``docs/architecture.md``) to pixel logits ``[B, 1, H, W]``,
  honouring ``valid_t`` (left padding) and the pixel mask ``valid``.

The helpers below (:func:`last_real_index`, :func:`last_frame`, :func:`static_bands`,
:func:`dynamic_bands` ...) are what
the built-in models use to read a batch; plugin authors may use them too. Patch tokens (cutting,
folding static bands, the grid of patch features) come from :mod:`emberxr.tokens`, the same module
the data pipeline uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from emberxr.configurable import Configurable

#: logit given to pixels outside the valid footprint (sigmoid ≈ 3e-4)
OUTSIDE_LOGIT = -8.0


@dataclass(frozen=True)
class ModelRequirements:
    """What a model needs from the batch.

    Attributes
    ----------
    tokens
        The model can use ``fire_tokens`` / ``static_tokens`` / ``valid_tokens`` (it still works
        without them: it cuts patches itself).
    max_history
        Longest history the model looks at (None = whatever the data gives).
    uses_static
        The model reads ``static``.
    uses_wind
        The model reads ``wind``.
    uses_dynamic
        The model reads ``dynamic`` when it is built with ``in_dynamic > 0``.
    """

    tokens: bool = False
    max_history: int | None = None
    uses_static: bool = True
    uses_wind: bool = True
    uses_dynamic: bool = True


class FireModel(Configurable, nn.Module):
    """Base class of every emberxr model (see ``docs/architecture.md``, "The model contract").

    Subclasses take keyword arguments, call ``super().__init__()`` and implement :meth:`forward`.
    The constructor arguments are recorded automatically (:attr:`config`); a configured
    ``max_history`` also becomes the instance's ``requires.max_history``.
    """

    #: registry name, set by subclasses (``register_model()`` without a name uses it, else the
    #: lower-cased class name); the registry key is what ``create_model`` uses
    name: ClassVar[str]
    requires: ModelRequirements = ModelRequirements()
    #: named variants: ``{"preset-name": {constructor option: value, ...}}`` (like timm's default
    #: configs); a training config selects one with ``model.preset``, and its explicit options
    #: override the preset's values
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: keep the temporal attention of each forward pass in :attr:`last_attention` (models with
    #: attention); prediction and export switch it off for the instance (fused attention, no copy)
    record_attention: bool = True

    def __init__(self) -> None:
        super().__init__()
        self.last_attention: Tensor | None = None

    # -- configuration -------------------------------------------------------------------------
    def _config_recorded(self) -> None:
        mh = self.__dict__["_config"].get("max_history")
        if mh is not None and self.requires.max_history != mh:
            # instance-level requirements carry the configured history length (on top of any
            # the constructor set, e.g. uses_dynamic=False)
            self.requires = dataclasses.replace(self.requires, max_history=int(mh))

    # -- training helpers ----------------------------------------------------------------------
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters split for differential learning rates: ``"temporal"`` and ``"spatial"``.

        The default puts every parameter in ``"temporal"``. Each parameter appears exactly once.
        """
        return {"temporal": list(self.parameters()), "spatial": []}

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """Parameters whose values were loaded from pretrained weights (empty when none were).

        The trainer freezes the decoder and lowers its learning rate (``lr_spatial: auto``) only
        when this is not empty.
        """
        return []

    def freeze_decoder(self) -> None:
        """Stop gradients into the (pretrained) decoder. No-op for models without one."""

    def unfreeze_decoder(self) -> None:
        """Undo :meth:`freeze_decoder`. No-op for models without a decoder."""

    def forward(self, batch: dict[str, Any]) -> Tensor:  # pragma: no cover - abstract
        """Map a collated batch to pixel logits ``[B, 1, H, W]``."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        config = self.__dict__.get("_config") or {}
        return ", ".join(f"{k}={v!r}" for k, v in config.items() if not isinstance(v, dict))


# ---------------------------------------------------------------------------------------------
# batch readers
# ---------------------------------------------------------------------------------------------
def last_real_index(valid_t: Tensor) -> Tensor:
    """Index of the last real frame per sample, ``[B]`` int64 (T-1 under left padding).

    A sample with no real frame (not produced by the data pipeline) maps to ``T - 1``.
    """
    T = valid_t.shape[1]
    flipped = torch.flip(valid_t.to(torch.int64), dims=[1])
    return (T - 1 - flipped.argmax(dim=1)).to(torch.int64)


def steps_back(valid_t: Tensor) -> Tensor:
    """For each step, how many real frames come after it (0 = the last real frame), ``[B, T]``.

    Counted backwards from the prediction time, so extra left padding never shifts it.
    """
    v = valid_t.to(torch.int64)
    after = torch.flip(torch.cumsum(torch.flip(v, dims=[1]), dim=1), dims=[1]) - v
    return after


def gather_time(x: Tensor, index: Tensor) -> Tensor:
    """Pick ``x[b, index[b]]`` for a batch-first time series ``x [B, T, ...]``."""
    b = torch.arange(x.shape[0], device=x.device)
    return x[b, index.to(x.device)]


def last_frame(batch: dict[str, Any]) -> Tensor:
    """The last real fire frame ``[B, 1, H, W]``."""
    fire = batch["fire"]
    return gather_time(fire, last_real_index(batch["valid_t"])).unsqueeze(1).to(torch.float32)


def previous_frame(batch: dict[str, Any]) -> Tensor:
    """The real frame before the last ``[B, 1, H, W]`` (the last frame itself when only one exists)."""
    valid_t = batch["valid_t"]
    last = last_real_index(valid_t)
    masked = valid_t.clone()
    masked[torch.arange(valid_t.shape[0], device=valid_t.device), last] = False
    has_prev = masked.any(dim=1)
    prev = torch.where(has_prev, last_real_index(masked), last)
    return gather_time(batch["fire"], prev).unsqueeze(1).to(torch.float32)


def last_wind(batch: dict[str, Any]) -> Tensor:
    """Wind (u, v) at the last real step ``[B, 2]``."""
    return gather_time(batch["wind"], last_real_index(batch["valid_t"])).to(torch.float32)


def static_bands(batch: dict[str, Any], in_static: int) -> Tensor:
    """``static`` as float ``[B, Cs, H, W]``, non-finite values replaced by 0, channel count checked."""
    from emberxr.errors import EmberxrError

    static = batch.get("static")
    fire = batch["fire"]
    if static is None:
        static = fire.new_zeros((fire.shape[0], in_static, *fire.shape[-2:]))
    if static.shape[1] != in_static:
        raise EmberxrError(
            f"batch has {static.shape[1]} static band(s) but the model was built with in_static={in_static}; "
            f"rebuild the model with in_static={static.shape[1]} (or use the same band list as in training)"
        )
    return torch.nan_to_num(static.to(torch.float32), nan=0.0, posinf=0.0, neginf=0.0)


def dynamic_bands(batch: dict[str, Any], in_dynamic: int) -> Tensor:
    """``dynamic`` as float ``[B, T, Cd, H, W]`` (zeros at padded steps), non-finite values replaced
    by 0, channel count checked; ``[B, T, 0, H, W]`` for a model without dynamic bands and a batch
    without them.

    Built-in models call it only when built with ``in_dynamic > 0``: a model without dynamic bands
    ignores a batch's ``dynamic``.

    Raises
    ------
    EmberxrError
        The batch has another number of dynamic bands than the model was built with (``in_dynamic``),
        or none although the model needs them.
    """
    from emberxr.errors import EmberxrError

    dyn = batch.get("dynamic")
    fire = batch["fire"]
    if dyn is None:
        if in_dynamic:
            raise EmberxrError(
                f"batch has no dynamic bands but the model was built with in_dynamic={in_dynamic}; give it "
                "events with the dynamic bands it was trained on (variable 'dynamic')"
            )
        return fire.new_zeros((fire.shape[0], fire.shape[1], 0, *fire.shape[-2:]), dtype=torch.float32)
    if dyn.ndim != 5 or dyn.shape[2] != in_dynamic:
        got = dyn.shape[2] if dyn.ndim == 5 else f"a {tuple(dyn.shape)} tensor of"
        raise EmberxrError(
            f"batch has {got} dynamic band(s) but the model was built with in_dynamic={in_dynamic}; "
            f"rebuild the model with in_dynamic={dyn.shape[2] if dyn.ndim == 5 else '<Cd>'} (or use the same "
            "dynamic bands as in training)"
        )
    return torch.nan_to_num(dyn.to(torch.float32), nan=0.0, posinf=0.0, neginf=0.0)


def last_dynamic(batch: dict[str, Any], in_dynamic: int) -> Tensor:
    """The dynamic bands of the last real step ``[B, Cd, H, W]`` (see :func:`dynamic_bands`)."""
    return gather_time(dynamic_bands(batch, in_dynamic), last_real_index(batch["valid_t"]))


def pixel_valid(batch: dict[str, Any]) -> Tensor:
    """Pixel validity ``[B, 1, H, W]`` bool (all True if the batch has none)."""
    valid = batch.get("valid")
    if valid is None:
        fire = batch["fire"]
        return torch.ones((fire.shape[0], 1, *fire.shape[-2:]), dtype=torch.bool, device=fire.device)
    return valid.to(torch.bool)


def apply_valid(logits: Tensor, batch: dict[str, Any]) -> Tensor:
    """Set logits outside the valid footprint to :data:`OUTSIDE_LOGIT`."""
    return torch.where(pixel_valid(batch), logits, torch.full_like(logits, OUTSIDE_LOGIT))


def broadcast_wind(wind: Tensor, height: int, width: int) -> Tensor:
    """``[B, 2]`` wind → constant planes ``[B, 2, H, W]``."""
    return wind[:, :, None, None].expand(-1, -1, height, width)


def last_step_inputs(batch: dict[str, Any], in_static: int, in_dynamic: int = 0) -> Tensor:
    """Full-resolution inputs of the single-frame models:
    ``[last fire, static, wind u, wind v, last dynamic]``.

    Parameters
    ----------
    batch
        Collated batch dict (``docs/architecture.md``).
    in_static
        Number of static bands the model was built with (checked by :func:`static_bands`).
    in_dynamic
        Number of dynamic bands the model was built with (checked by :func:`dynamic_bands`).

    Returns
    -------
    Tensor
        ``[B, 1 + in_static + 2 + in_dynamic, H, W]`` float32: the last real fire frame, the static
        bands, the wind at the last real step as constant planes and the dynamic bands of the last
        real step.
    """
    last = last_frame(batch)
    H, W = last.shape[-2:]
    parts = [last, static_bands(batch, in_static), broadcast_wind(last_wind(batch), H, W)]
    if in_dynamic:
        parts.append(last_dynamic(batch, in_dynamic))
    return torch.cat(parts, dim=1)


def check_divisible(batch: dict[str, Any], p: int) -> tuple[int, int]:
    """Return the patch grid of the batch; raise if ``H, W`` are not multiples of ``p``."""
    from emberxr.errors import EmberxrError

    H, W = batch["fire"].shape[-2:]
    if H % p or W % p:
        raise EmberxrError(
            f"tile size {H}x{W} is not a multiple of patch_size={p}; pad or crop tiles to multiples of "
            f"{p} (the data pipeline's non-strict mode pads) or build the model with a patch_size that divides them"
        )
    return H // p, W // p
