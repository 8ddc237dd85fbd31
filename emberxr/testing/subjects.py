"""What a conformance check runs on: a model or decoder, how to build it, feed it and read it.

A :class:`Subject` hides the one difference between models and decoders that the checks care about
(a model takes a batch dict, a decoder ``(context, fine)``), so every check in
:mod:`emberxr.testing.conformance` is written once for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from .batches import copy_batch, make_batch, select

__all__ = ["DecoderSubject", "Kind", "ModelSubject", "NotBuiltError", "Subject", "registry"]

Kind = Literal["model", "decoder"]


class NotBuiltError(AssertionError):
    """The subject could not be built (reported by the ``build`` check, skips the others)."""


def _label(name_or_cls: Any) -> str:
    return name_or_cls if isinstance(name_or_cls, str) else getattr(name_or_cls, "__name__", str(name_or_cls))


def registry() -> Any:
    """The model/decoder registry module (the one place emberxr.testing imports it from)."""
    from emberxr import registry as module

    return module


class Subject:
    """A model or decoder under test: how to build it, make its inputs and run it.

    The checks only use this interface, so each is written once for models and decoders.
    Inputs handed out are fresh copies: a check (or a misbehaving module) cannot change what the
    next check sees.

    Parameters
    ----------
    name_or_cls
        Registry name or class.
    options
        Constructor keyword arguments.
    seed
        Seed for construction (``torch.manual_seed`` before each build).
    atol
        Tolerance of the equality checks.
    label
        Name in reports and test ids (default: the registry name / class name).
    """

    kind: ClassVar[Kind]

    def __init__(
        self,
        name_or_cls: Any,
        options: dict[str, Any],
        *,
        seed: int = 0,
        atol: float = 1e-4,
        label: str | None = None,
    ) -> None:
        self.target = name_or_cls
        self.options = dict(options)
        self.seed = seed
        self.atol = atol
        self.label = label or _label(name_or_cls)
        self._module: nn.Module | None = None
        self._train_module: nn.Module | None = None
        self._error: str | None = None

    # -- building ------------------------------------------------------------------------------
    def create(self, **options: Any) -> nn.Module:
        """Build through the registry (``create_model`` / ``create_decoder``) with these options."""
        raise NotImplementedError

    def build(self, seed: int | None = None) -> nn.Module:
        """A freshly built module in eval mode (``torch.manual_seed(seed)`` first)."""
        torch.manual_seed(self.seed if seed is None else seed)
        return self.create(**self.options).eval()

    def _build_once(self) -> None:
        if self._module is None and self._error is None:
            try:
                self._module = self.build()
            except Exception as exc:
                self._error = f"{type(exc).__name__}: {exc}"

    @property
    def module(self) -> nn.Module:
        """The module built once with :attr:`seed`, in eval mode; raises :class:`NotBuiltError`."""
        self._build_once()
        if self._module is None:
            raise NotBuiltError(f"could not build {self.kind} {self.label!r}: {self._error}")
        return self._module

    def train_module(self) -> nn.Module:
        """A second module (built once, same seed) in train mode, gradients cleared.

        Train-mode outputs use batch statistics, so sharing it between checks changes nothing
        they compare; the module of :attr:`module` stays in eval mode, untouched.
        """
        if self._train_module is None:
            self._train_module = self.build()
        self._train_module.train().zero_grad(set_to_none=True)
        return self._train_module

    @property
    def build_failed(self) -> bool:
        """True when building raised (tried once, on first use)."""
        self._build_once()
        return self._error is not None

    # -- inputs and outputs --------------------------------------------------------------------
    def inputs(self, size: tuple[int, int] | None = None) -> Any:
        """Fresh inputs at the default tile size or at ``size`` ``(H, W)``."""
        raise NotImplementedError

    def other_sizes(self) -> list[tuple[int, int]]:
        """A tile size besides the default one the subject must also work at: 3p × 5p (non-square)."""
        p = self.patch_size
        return [s for s in [(3 * p, 5 * p), (5 * p, 3 * p)] if s != self.default_size][:1]

    @property
    def patch_size(self) -> int:
        raise NotImplementedError

    @property
    def token_mode(self) -> str:
        """How batch tokens are cut for this subject (a model's ``token_mode`` option, else pixels)."""
        return str(self.options.get("token_mode") or "pixels")

    @property
    def default_size(self) -> tuple[int, int]:
        """``(H, W)`` of :meth:`inputs` without a size."""
        raise NotImplementedError

    def run(self, module: nn.Module, inputs: Any) -> Tensor:
        """Run ``module`` on ``inputs``; logits ``[B, 1, H, W]``."""
        raise NotImplementedError

    def batch_size(self, inputs: Any) -> int:
        raise NotImplementedError

    def select(self, inputs: Any, index: Sequence[int]) -> Any:
        """The inputs of the given samples only."""
        raise NotImplementedError

    def expected_shape(self, inputs: Any) -> tuple[int, ...]:
        raise NotImplementedError

    def loss(self, out: Tensor, inputs: Any) -> Tensor:
        """A scalar training loss of the output (for the backward checks)."""
        raise NotImplementedError

    def entries(self, inputs: Any) -> dict[str, Any]:
        """The inputs by name (batch keys, or ``context`` / ``fine``), for the mutation check."""
        raise NotImplementedError


class ModelSubject(Subject):
    """A :class:`~emberxr.models.base.FireModel` fed a batch dict (``docs/architecture.md``).

    Parameters
    ----------
    batch
        The batch to use (default :func:`~emberxr.testing.make_batch` with ``B=3, T=4, 32×32``
        and ``in_static`` / ``patch_size`` / ``in_dynamic`` from ``options``, which default to 3,
        8 and 0: a ``dynamic`` batch key only when the model is built with ``in_dynamic > 0``).
    """

    kind = "model"

    def __init__(
        self, name_or_cls: Any, options: dict[str, Any], *, batch: dict[str, Any] | None = None, **kw: Any
    ):
        options = dict(options)
        options.setdefault("in_static", 3)
        options.setdefault("patch_size", 8)
        super().__init__(name_or_cls, options, **kw)
        self._batch = copy_batch(batch) if batch is not None else None

    def create(self, **options: Any) -> nn.Module:
        return registry().create_model(self.target, **options)

    @property
    def patch_size(self) -> int:
        return int(self._batch["patch_size"]) if self._batch is not None else int(self.options["patch_size"])

    def inputs(self, size: tuple[int, int] | None = None) -> dict[str, Any]:
        if self._batch is None:
            self._batch = make_batch(
                B=3,
                T=4,
                H=32,
                W=32,
                in_static=self.options["in_static"],
                patch_size=self.options["patch_size"],
                token_mode=self.token_mode,
                in_dynamic=self.in_dynamic,
            )
        if size is None:
            return copy_batch(self._batch)
        ref = self._batch
        return make_batch(
            B=2,
            T=ref["fire"].shape[1],
            H=size[0],
            W=size[1],
            in_static=ref["static"].shape[1],
            patch_size=self.patch_size,
            hist_lens=[ref["fire"].shape[1], 1],
            seed=self.seed + 1,
            tokens="fire_tokens" in ref,
            token_mode=self.token_mode,
            in_dynamic=int(ref["dynamic"].shape[2]) if "dynamic" in ref else 0,
        )

    @property
    def in_dynamic(self) -> int:
        """Dynamic bands of the batches: the model's ``in_dynamic`` option (0 when not given)."""
        return int(self.options.get("in_dynamic") or 0)

    @property
    def default_size(self) -> tuple[int, int]:
        H, W = self.inputs()["fire"].shape[-2:]
        return int(H), int(W)

    def run(self, module: nn.Module, inputs: dict[str, Any]) -> Tensor:
        return module(inputs)

    def batch_size(self, inputs: dict[str, Any]) -> int:
        return int(inputs["fire"].shape[0])

    def select(self, inputs: dict[str, Any], index: Sequence[int]) -> dict[str, Any]:
        return select(inputs, index)

    def expected_shape(self, inputs: dict[str, Any]) -> tuple[int, ...]:
        B, _T, H, W = inputs["fire"].shape
        return (B, 1, H, W)

    def loss(self, out: Tensor, inputs: dict[str, Any]) -> Tensor:
        return nn.functional.binary_cross_entropy_with_logits(out, inputs["target"])

    def entries(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return inputs


class DecoderSubject(Subject):
    """A :class:`~emberxr.decoders.base.FireDecoder` fed ``(context [B, d, Gy, Gx], fine [B, Cf, H, W])``.

    ``options`` hold ``context_channels``, ``fine_channels``, ``patch_size`` and the decoder's own
    options; ``size`` is the default ``(H, W)``.
    """

    kind = "decoder"

    def __init__(
        self, name_or_cls: Any, options: dict[str, Any], *, size: tuple[int, int] = (32, 32), **kw: Any
    ):
        super().__init__(name_or_cls, options, **kw)
        self.size = (int(size[0]), int(size[1]))

    def create(self, **options: Any) -> nn.Module:
        return registry().create_decoder(self.target, **options)

    @property
    def patch_size(self) -> int:
        return int(self.options["patch_size"])

    def inputs(self, size: tuple[int, int] | None = None) -> tuple[Tensor, Tensor]:
        H, W = size or self.size
        p = self.patch_size
        gen = torch.Generator().manual_seed(self.seed + H * 1000 + W)
        context = torch.randn(3, self.options["context_channels"], H // p, W // p, generator=gen)
        fine = torch.randn(3, self.options["fine_channels"], H, W, generator=gen)
        return context, fine

    @property
    def default_size(self) -> tuple[int, int]:
        return self.size

    def run(self, module: nn.Module, inputs: tuple[Tensor, Tensor]) -> Tensor:
        return module(*inputs)

    def batch_size(self, inputs: tuple[Tensor, Tensor]) -> int:
        return int(inputs[0].shape[0])

    def select(self, inputs: tuple[Tensor, Tensor], index: Sequence[int]) -> tuple[Tensor, Tensor]:
        idx = torch.as_tensor(list(index), dtype=torch.int64)
        return inputs[0][idx], inputs[1][idx]

    def expected_shape(self, inputs: tuple[Tensor, Tensor]) -> tuple[int, ...]:
        B, _C, H, W = inputs[1].shape
        return (B, 1, H, W)

    def loss(self, out: Tensor, inputs: tuple[Tensor, Tensor]) -> Tensor:
        return out.square().mean()

    def entries(self, inputs: tuple[Tensor, Tensor]) -> dict[str, Any]:
        return {"context": inputs[0], "fine": inputs[1]}
