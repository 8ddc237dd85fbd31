"""Conformance checks for models and decoders: one function per check, one table for both.

Every check is a function of a :class:`~emberxr.testing.subjects.Subject` (the model or decoder
under test: how to build it, feed it and read its output) listed once in :data:`CHECKS` with the
kinds it applies to. Shared
checks (determinism, save/load, batch independence, tile sizes, inputs left unchanged, ...) are
written once and run on models and decoders alike.

Three ways to run them::

    from emberxr.testing import check_model, check_decoder, conformance_cases
    check_model("mymodel", in_static=3, patch_size=8)     # AssertionError listing every failure
    check_model("mymodel", in_static=3, in_dynamic=2)     # the same with dynamic bands
    check_decoder("mydecoder")                            # + emberformer built with that decoder

    @pytest.mark.parametrize("case", conformance_cases("mymodel", in_static=3), ids=str)
    def test_mymodel_conforms(case):                      # one pytest id per check
        case()
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .batches import add_tokens, copy_batch, pad_history
from .subjects import DecoderSubject, Kind, ModelSubject, Subject, registry

__all__ = [
    "CHECKS",
    "ConformanceCase",
    "ConformanceCheck",
    "ConformanceReport",
    "check_decoder",
    "check_model",
    "conformance_cases",
]


# ---------------------------------------------------------------------------------------------
# helpers of the checks
# ---------------------------------------------------------------------------------------------
def _close(a: Tensor, b: Tensor, what: str, atol: float) -> None:
    assert a.shape == b.shape, f"{what}: shapes {tuple(a.shape)} vs {tuple(b.shape)}"
    assert torch.isfinite(a).all() and torch.isfinite(b).all(), f"{what}: output has NaN/inf"
    diff = float((a - b).abs().max()) if a.numel() else 0.0
    assert diff <= atol, f"{what}: max abs difference {diff:.3g} > {atol:g}"


def _seeded_run(s: Subject, module: nn.Module, inputs: Any, seed: int) -> Tensor:
    # the same seed before each call: dropout draws the same masks in train mode
    torch.manual_seed(seed)
    with torch.no_grad():
        return s.run(module, inputs)


def _same_output(
    s: Subject, reference: Any, variants: dict[str, Any], removed: Sequence[str], problem: str, fix: str
) -> None:
    """Assert the output on each variant equals the output on ``reference``, in eval and train mode.

    A ``KeyError`` naming a key in ``removed`` (a variant left it out) means the module reads it.
    """
    for mode, module in (("eval", s.module), ("train", s.train_module())):
        ref = _seeded_run(s, module, reference, s.seed)
        for what, inputs in variants.items():
            try:
                out = _seeded_run(s, module, inputs, s.seed)
            except KeyError as exc:
                key = exc.args[0] if exc.args else None
                if key in removed:
                    raise AssertionError(
                        f"{problem}: forward ({mode} mode) reads batch[{key!r}] (KeyError when it is absent); {fix}"
                    ) from None
                raise
            diff = float((ref - out).abs().max()) if ref.shape == out.shape else float("inf")
            assert diff <= s.atol, (
                f"{problem}: the output ({mode} mode) changed when {what} (max abs difference {diff:.3g}); {fix}"
            )


def _poisoned(value: Any) -> Any:
    """A different value of the same structure (strings, numbers, flags all changed)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 17
    if isinstance(value, str):
        return f"{value}-poisoned"
    if isinstance(value, dict):
        return {k: _poisoned(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_poisoned(v) for v in value)
    if value is None:
        return "poisoned"
    return value


def _equal_values(a: Any, b: Any) -> bool:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
            return False
        if a.is_floating_point() or a.is_complex():
            return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())
        return bool(torch.equal(a, b))
    try:
        return bool(a == b)
    except Exception:  # values whose == is not a truth value: compare their text
        return repr(a) == repr(b)


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    found = [f"added {k!r}" for k in after if k not in before]
    found += [f"removed {k!r}" for k in before if k not in after]
    found += [f"changed {k!r}" for k in before if k in after and not _equal_values(before[k], after[k])]
    return found


# ---------------------------------------------------------------------------------------------
# the checks: each takes a Subject, returns None (passed) or a reason to skip, raises on failure
# ---------------------------------------------------------------------------------------------
def check_build(s: Subject) -> None:
    """Builds from keyword arguments; ``config`` is plain JSON."""
    module = s.module
    cfg = module.config
    assert isinstance(cfg, dict), f"{s.kind}.config is a {type(cfg).__name__}, not a dict"
    assert json.loads(json.dumps(cfg)) == cfg, f"{s.kind}.config is not JSON round-trippable: {cfg!r}"


def check_config_roundtrip(s: Subject) -> None:
    """``config`` holds every constructor argument given, and ``create(**config)`` rebuilds the same
    thing: equal config, same state-dict keys and shapes, same outputs with the same weights."""
    module = s.module
    cfg = module.config
    for key, val in s.options.items():
        assert key in cfg, (
            f"{s.kind}.config lacks {key!r} (built with {key}={val!r}); record every constructor argument"
        )
        try:
            given = json.loads(json.dumps(val))
        except TypeError:  # a class or object argument: recorded by its registry name
            continue
        assert cfg[key] == given, f"{s.kind}.config[{key!r}] = {cfg[key]!r}, but it was built with {val!r}"
    torch.manual_seed(s.seed)
    rebuilt = s.create(**cfg).eval()
    assert rebuilt.config == cfg, (
        f"create(**config) gives another config: {rebuilt.config!r} != {cfg!r}; config must be the constructor arguments"
    )
    mine = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    diff = sorted(set(mine) ^ set(theirs)) + sorted(
        k for k in set(mine) & set(theirs) if mine[k] != theirs[k]
    )
    assert not diff, (
        f"create(**config) builds a different {s.kind}: state-dict keys/shapes differ at {diff[:5]}"
        f"{' ...' if len(diff) > 5 else ''}; a constructor argument is missing from config"
    )
    rebuilt.load_state_dict(module.state_dict())
    inputs = s.inputs()
    with torch.no_grad():
        _close(
            s.run(module, inputs),
            s.run(rebuilt, inputs),
            f"create(**config) with the same weights computes something else: a constructor argument is "
            f"missing from {s.kind}.config",
            0.0,
        )


def check_forward(s: Subject) -> None:
    """Forward gives finite float32 logits ``[B, 1, H, W]``."""
    inputs = s.inputs()
    with torch.no_grad():
        out = s.run(s.module, inputs)
    shape = s.expected_shape(inputs)
    assert isinstance(out, Tensor), f"forward returned a {type(out).__name__}, not a Tensor"
    assert tuple(out.shape) == shape, f"output shape {tuple(out.shape)}, expected {shape}"
    assert out.dtype == torch.float32, f"output dtype {out.dtype}, expected float32"
    assert torch.isfinite(out).all(), "output has NaN/inf"


def check_backward(s: Subject) -> str | None:
    """A training step's gradients reach the parameters and are finite."""
    module = s.train_module()
    params = [q for q in module.parameters() if q.requires_grad]
    if not params:
        return f"{s.kind} has no trainable parameters"
    inputs = s.inputs()
    s.loss(s.run(module, inputs), inputs).backward()
    grads = [q.grad for q in params if q.grad is not None]
    assert grads, "no parameter received a gradient"
    assert all(torch.isfinite(g).all() for g in grads), "non-finite gradients"
    assert any(float(g.abs().sum()) > 0 for g in grads), "all gradients are zero"
    return None


def check_batch_independence(s: Subject) -> None:
    """Each sample's output is the same alone as within the batch."""
    inputs = s.inputs()
    with torch.no_grad():
        full = s.run(s.module, inputs)
        for i in range(s.batch_size(inputs)):
            one = s.run(s.module, s.select(inputs, [i]))
            _close(full[i : i + 1], one, f"sample {i} alone differs from sample {i} in the batch", s.atol)


def check_determinism(s: Subject) -> None:
    """Two builds with the same seed compute the same output."""
    inputs = s.inputs()
    with torch.no_grad():
        a = s.run(s.build(), inputs)
        b = s.run(s.build(), inputs)
    _close(a, b, f"two {s.kind}s built with the same seed differ", 0.0)


def check_save_load(s: Subject) -> None:
    """``config`` and the state dict survive a ``weights_only`` checkpoint: the reloaded copy
    (built with another seed) computes the same output."""
    module = s.module
    buf = io.BytesIO()
    torch.save({"config": module.config, "state": module.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    fresh = s.build(s.seed + 1)
    fresh.load_state_dict(ckpt["state"])
    fresh.eval()
    inputs = s.inputs()
    with torch.no_grad():
        _close(s.run(module, inputs), s.run(fresh, inputs), f"reloaded {s.kind} differs", 0.0)


def check_tile_sizes(s: Subject) -> None:
    """Works at another tile size (non-square multiples of ``patch_size``), not only the default."""
    p = s.patch_size
    for H, W in s.other_sizes():
        inputs = s.inputs((H, W))
        try:
            with torch.no_grad():
                out = s.run(s.module, inputs)
        except Exception as exc:
            raise AssertionError(
                f"fails at tile size {H}x{W} (a multiple of patch_size={p}): {type(exc).__name__}: {exc}; "
                f"work for any H, W that are multiples of patch_size"
            ) from None
        shape = s.expected_shape(inputs)
        assert tuple(out.shape) == shape, (
            f"at tile size {H}x{W}: output shape {tuple(out.shape)}, expected {shape}"
        )
        assert torch.isfinite(out).all(), f"at tile size {H}x{W}: output has NaN/inf"


def check_inputs_unchanged(s: Subject) -> None:
    """Forward (eval and train mode) and backward leave the inputs as they were (no in-place edits)."""
    inputs = s.inputs()
    before = copy_batch(s.entries(inputs))
    fix = "copy before changing a value (x = x.clone(), batch = dict(batch))"
    with torch.no_grad():
        s.run(s.module, inputs)
    found = _changes(before, s.entries(inputs))
    assert not found, f"forward (eval mode) changed its inputs in place: {', '.join(found)}; {fix}"
    module = s.train_module()
    out = s.run(module, inputs)
    if out.requires_grad:
        s.loss(out, inputs).backward()
    found = _changes(before, s.entries(inputs))
    assert not found, f"forward/backward (train mode) changed its inputs in place: {', '.join(found)}; {fix}"


# -- models only ------------------------------------------------------------------------------
def check_padding_invariance(s: Subject) -> None:
    """Adding padded frames in front of the history does not change the output."""
    batch = s.inputs()
    with torch.no_grad():
        a = s.run(s.module, batch)
        b = s.run(s.module, pad_history(batch, 2))
    _close(a, b, "adding 2 padded frames in front changed the output", s.atol)


def check_padded_content_ignored(s: Subject) -> str | None:
    """What padded frames contain (``valid_t`` False) does not change the output."""
    batch = s.inputs()
    pad = ~batch["valid_t"]
    if not bool(pad.any()):
        return "batch has no padded frames"
    noisy = copy_batch(batch)
    noisy["fire"][pad] = 1.0
    noisy["wind"][pad] = 5.0
    if "dynamic" in noisy:
        noisy["dynamic"][pad] = 5.0
    if "fire_tokens" in batch:
        add_tokens(noisy, s.token_mode)
    with torch.no_grad():
        _close(
            s.run(s.module, batch),
            s.run(s.module, noisy),
            "content of padded frames (valid_t False) changed the output",
            s.atol,
        )
    return None


def check_target_unused(s: Subject) -> None:
    """The output does not depend on ``target`` / ``target_tokens`` (no target leakage)."""
    batch = s.inputs()
    keys = [k for k in ("target", "target_tokens") if k in batch]
    poisoned = copy_batch(batch)
    for k in keys:
        poisoned[k] = 1.0 - poisoned[k]
    absent = {k: v for k, v in copy_batch(batch).items() if k not in keys}
    _same_output(
        s,
        batch,
        {"the target was left out": absent, "the target was inverted": poisoned},
        keys,
        "target leakage",
        "a model must never read batch['target'] or batch['target_tokens'] (predict batches have none)",
    )


def check_meta_unused(s: Subject) -> str | None:
    """The output does not depend on ``meta`` (event ids, tile origins, augmentation records)."""
    batch = s.inputs()
    if "meta" not in batch:
        return "batch has no meta"
    poisoned = copy_batch(batch)
    poisoned["meta"] = _poisoned(batch["meta"])
    absent = {k: v for k, v in copy_batch(batch).items() if k != "meta"}
    _same_output(
        s,
        batch,
        {"meta was left out": absent, "meta was changed": poisoned},
        ["meta"],
        "depends on meta",
        "models must not read batch['meta'] (bookkeeping of the data pipeline, not an input)",
    )
    return None


def check_validity_mask(s: Subject) -> None:
    """Logits at invalid pixels (``valid`` False) are ``OUTSIDE_LOGIT``, whatever the inputs there
    and wherever the mask is."""
    from emberxr.models.base import OUTSIDE_LOGIT

    batch = s.inputs()
    # a second mask: the top-left quarter of sample 0 invalid too, with fire and odd statics there
    moved = copy_batch(batch)
    H, W = batch["fire"].shape[-2:]
    block = torch.zeros((H, W), dtype=torch.bool)
    block[: max(H // 2, 1), : max(W // 2, 1)] = True
    moved["valid"][0, 0][block] = False
    real = moved["valid_t"][0]
    moved["fire"][0, real] = torch.where(block, 1.0, moved["fire"][0, real])
    if "static" in moved:
        moved["static"][0][:, block] = 7.0
    if "dynamic" in moved:
        moved["dynamic"][0][:, :, block] = 7.0
    if "fire_tokens" in batch:
        add_tokens(moved, s.token_mode)
    for what, x in (("the batch's own mask", batch), ("a moved mask", moved)):
        invalid = ~x["valid"].to(torch.bool).expand(s.expected_shape(x))
        if not bool(invalid.any()):
            continue
        with torch.no_grad():
            out = s.run(s.module, x)
        got = out[invalid]
        bad = (got - OUTSIDE_LOGIT).abs() > s.atol
        assert not bool(bad.any()), (
            f"validity mask ignored ({what}): {int(bad.sum())} of {int(invalid.sum())} invalid pixels have logits "
            f"other than OUTSIDE_LOGIT={OUTSIDE_LOGIT} (e.g. {float(got[bad][0]):.4g}); end forward with "
            "emberxr.models.base.apply_valid(logits, batch)"
        )


def check_dynamic_used(s: Subject) -> str | None:
    """A model built with dynamic bands (``in_dynamic > 0``) reads them: changing the dynamic bands
    of the last real step changes the output, and a batch without ``dynamic`` is refused with a
    clear error rather than predicted from zeros."""
    from emberxr.errors import EmberxrError

    if not s.options.get("in_dynamic"):
        return "built without dynamic bands (in_dynamic=0)"
    if not getattr(s.module.requires, "uses_dynamic", True):
        return "model declares uses_dynamic=False"
    batch = s.inputs()
    changed = copy_batch(batch)
    last = batch["valid_t"].shape[1] - 1  # left padding: the last step is real for every sample
    changed["dynamic"][:, last] = changed["dynamic"][:, last] * -3.0 + 2.0
    if "fire_tokens" in batch:
        add_tokens(changed, s.token_mode)
    with torch.no_grad():
        a, b = s.run(s.module, batch), s.run(s.module, changed)
    valid = batch["valid"].to(torch.bool).expand_as(a)
    diff = float((a - b).abs()[valid].max())
    assert diff > s.atol, (
        f"changing the last step's dynamic bands changed no valid logit (max difference {diff:.3g}); "
        "a model built with in_dynamic > 0 must use batch['dynamic']"
    )
    bare = {k: v for k, v in copy_batch(batch).items() if k not in ("dynamic", "dynamic_tokens")}
    try:
        with torch.no_grad():
            s.run(s.module, bare)
    except EmberxrError:
        return None
    raise AssertionError(
        "a batch without 'dynamic' was predicted although the model was built with in_dynamic > 0; "
        "read the bands with emberxr.models.base.dynamic_bands (it raises a clear error)"
    )


def check_param_groups(s: Subject) -> None:
    """``param_groups()`` has ``temporal`` and ``spatial`` and covers every parameter exactly once."""
    module = s.module
    groups = module.param_groups()
    assert set(groups) >= {"temporal", "spatial"}, f"param_groups keys {sorted(groups)}"
    ids = [id(q) for qs in groups.values() for q in qs]
    assert len(ids) == len(set(ids)), "a parameter appears in more than one group"
    assert set(ids) == {id(q) for q in module.parameters()}, "param_groups do not cover every parameter"


def check_tokens(s: Subject) -> str | None:
    """A model that uses tokens gives the same output with and without precomputed tokens."""
    module = s.module
    if not getattr(module.requires, "tokens", False):
        return "model does not use tokens"
    batch = s.inputs()
    bare = {k: v for k, v in batch.items() if not k.endswith("_tokens")}
    with torch.no_grad():
        _close(
            s.run(module, batch),
            s.run(module, bare),
            "output with tokens differs from output without",
            s.atol,
        )
    return None


# -- decoders only ----------------------------------------------------------------------------
def check_context_gradient(s: Subject) -> None:
    """The gradient of the output reaches the context (the decoder uses what the model computed)."""
    module = s.train_module()
    context, fine = s.inputs()
    context.requires_grad_(True)
    s.loss(s.run(module, (context, fine)), (context, fine)).backward()
    assert context.grad is not None and float(context.grad.abs().sum()) > 0, "no gradient reaches the context"


# ---------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConformanceCheck:
    """One entry of :data:`CHECKS`.

    Attributes
    ----------
    name
        Check name (report key, test id).
    applies_to
        ``"model"``, ``"decoder"`` or both.
    function
        ``function(subject) -> None | str``: None when passed, a reason when skipped; raises
        :class:`AssertionError` (or anything else) when failed.
    """

    name: str
    applies_to: tuple[Kind, ...]
    function: Callable[[Subject], str | None]

    @property
    def description(self) -> str:
        """The check's one-paragraph description (its function's docstring)."""
        return " ".join((self.function.__doc__ or "").split())


BOTH: tuple[Kind, ...] = ("model", "decoder")

#: every conformance check, in the order they run
CHECKS: tuple[ConformanceCheck, ...] = (
    ConformanceCheck("build", BOTH, check_build),
    ConformanceCheck("config_roundtrip", BOTH, check_config_roundtrip),
    ConformanceCheck("forward", BOTH, check_forward),
    ConformanceCheck("backward", BOTH, check_backward),
    ConformanceCheck("context_gradient", ("decoder",), check_context_gradient),
    ConformanceCheck("padding_invariance", ("model",), check_padding_invariance),
    ConformanceCheck("padded_content_ignored", ("model",), check_padded_content_ignored),
    ConformanceCheck("validity_mask", ("model",), check_validity_mask),
    ConformanceCheck("target_unused", ("model",), check_target_unused),
    ConformanceCheck("meta_unused", ("model",), check_meta_unused),
    ConformanceCheck("dynamic_used", ("model",), check_dynamic_used),
    ConformanceCheck("inputs_unchanged", BOTH, check_inputs_unchanged),
    ConformanceCheck("tile_sizes", BOTH, check_tile_sizes),
    ConformanceCheck("batch_independence", BOTH, check_batch_independence),
    ConformanceCheck("determinism", BOTH, check_determinism),
    ConformanceCheck("save_load", BOTH, check_save_load),
    ConformanceCheck("param_groups", ("model",), check_param_groups),
    ConformanceCheck("tokens", ("model",), check_tokens),
)


# ---------------------------------------------------------------------------------------------
# running them
# ---------------------------------------------------------------------------------------------
Outcome = tuple[Literal["passed", "skipped", "failed", "unbuilt"], str]


def _outcome(check: ConformanceCheck, subject: Subject) -> Outcome:
    if check.name != "build" and subject.build_failed:
        return "unbuilt", subject._error or ""
    try:
        skip = check.function(subject)
    except AssertionError as exc:
        return "failed", str(exc) or "assertion failed"
    except Exception as exc:
        return "failed", f"{type(exc).__name__}: {exc}"
    return ("skipped", skip) if skip else ("passed", "")


@dataclass(frozen=True)
class ConformanceCase:
    """One check on one subject: a pytest parameter (``ids=str`` names it ``<subject>:<check>``).

    Call it to run the check: it raises :class:`AssertionError` naming the check and the problem,
    or calls ``pytest.skip`` when the check does not apply.
    """

    check: ConformanceCheck
    subject: Subject

    @property
    def id(self) -> str:
        return f"{self.subject.label}:{self.check.name}"

    def __str__(self) -> str:
        return self.id

    def run(self) -> Outcome:
        """``(status, message)``; status ``passed``, ``skipped``, ``failed`` or ``unbuilt``."""
        return _outcome(self.check, self.subject)

    def __call__(self) -> None:
        status, message = self.run()
        if status == "failed":
            raise AssertionError(f"conformance check {self.id} failed: {message}")
        if status == "unbuilt":
            raise AssertionError(f"conformance check {self.id}: {self.subject.kind} did not build: {message}")
        if status == "skipped":
            import pytest

            pytest.skip(message)


def _cases(subject: Subject) -> list[ConformanceCase]:
    return [ConformanceCase(c, subject) for c in CHECKS if subject.kind in c.applies_to]


def _in_model_subject(decoder: DecoderSubject) -> ModelSubject:
    """EmberFormer (tiny, with dynamic bands) built with the decoder under test."""
    return ModelSubject(
        "emberformer",
        {
            "in_static": 3,
            "in_dynamic": 2,
            "patch_size": decoder.patch_size,
            "d_model": 16,
            "nhead": 2,
            "num_layers": 1,
            "decoder": decoder.target,
            "decoder_config": {
                k: v
                for k, v in decoder.options.items()
                if k not in ("context_channels", "fine_channels", "patch_size")
            },
        },
        seed=decoder.seed,
        atol=decoder.atol,
        label=f"{decoder.label}:emberformer",
    )


def _decoder_subject(
    name_or_cls: Any,
    *,
    context_channels: int = 16,
    fine_channels: int = 6,
    patch_size: int = 8,
    size: tuple[int, int] = (32, 32),
    seed: int = 0,
    atol: float = 1e-4,
    **config: Any,
) -> DecoderSubject:
    options = dict(
        context_channels=context_channels, fine_channels=fine_channels, patch_size=patch_size, **config
    )
    return DecoderSubject(name_or_cls, options, size=size, seed=seed, atol=atol)


def _kind_of(name_or_cls: Any) -> Kind:
    if isinstance(name_or_cls, str):
        reg = registry()
        if name_or_cls not in reg.list_models() and name_or_cls in reg.list_decoders():
            return "decoder"
        return "model"
    from emberxr.decoders.base import FireDecoder

    return "decoder" if isinstance(name_or_cls, type) and issubclass(name_or_cls, FireDecoder) else "model"


def conformance_cases(
    name_or_cls: Any, *, kind: Kind | None = None, in_model: bool = True, **options: Any
) -> list[ConformanceCase]:
    """The conformance checks of one model or decoder as pytest parameters, one per check.

    ::

        @pytest.mark.parametrize("case", conformance_cases("mymodel", in_static=3), ids=str)
        def test_mymodel_conforms(case):
            case()

    Nothing is built until a case runs; the cases of one call share one built module.

    Parameters
    ----------
    name_or_cls
        Registry name or class of a model or decoder.
    kind
        ``"model"`` or ``"decoder"`` (default: decided from the registry or the base class).
    in_model
        For a registered decoder, also the model checks of ``emberformer`` built with it
        (ids ``<decoder>:emberformer:<check>``).
    **options
        As for :func:`check_model` (``batch``, ``seed``, ``atol`` and constructor arguments; and
        ``label``, the subject's name in the test ids) or
        :func:`check_decoder` (``context_channels``, ``fine_channels``, ``patch_size``, ``size``,
        ``seed``, ``atol`` and decoder options).

    Returns
    -------
    list of ConformanceCase
    """
    kind = kind or _kind_of(name_or_cls)
    if kind == "model":
        batch, label = options.pop("batch", None), options.pop("label", None)
        seed, atol = options.pop("seed", 0), options.pop("atol", 1e-4)
        return _cases(ModelSubject(name_or_cls, options, batch=batch, seed=seed, atol=atol, label=label))
    if kind != "decoder":
        raise ValueError(f"kind must be 'model' or 'decoder', got {kind!r}")
    subject = _decoder_subject(name_or_cls, **options)
    cases = _cases(subject)
    if in_model and isinstance(name_or_cls, str):
        cases += _cases(_in_model_subject(subject))
    return cases


@dataclass
class ConformanceReport:
    """Outcome of :func:`check_model` / :func:`check_decoder`: check name → result."""

    subject: str
    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failed

    def __str__(self) -> str:
        lines = [f"conformance of {self.subject}: {len(self.passed)} passed, {len(self.failed)} failed"]
        lines += [f"  FAIL {k}: {v}" for k, v in self.failed.items()]
        lines += [f"  skip {k}: {v}" for k, v in self.skipped.items()]
        return "\n".join(lines)

    def add(self, subject: Subject, prefix: str = "") -> None:
        """Run every check that applies to ``subject`` and record it (names prefixed)."""
        for case in _cases(subject):
            status, message = case.run()
            name = prefix + case.check.name
            if status == "passed":
                self.passed.append(name)
            elif status == "failed":
                self.failed[name] = message
            else:
                self.skipped[name] = f"{subject.kind} did not build" if status == "unbuilt" else message


def check_model(
    name_or_cls: Any,
    *,
    batch: dict[str, Any] | None = None,
    seed: int = 0,
    atol: float = 1e-4,
    raise_on_failure: bool = True,
    **config: Any,
) -> ConformanceReport:
    """Run every model check of :data:`CHECKS`.

    Parameters
    ----------
    name_or_cls
        A registered model name or a :class:`~emberxr.models.base.FireModel` subclass.
    batch
        Batch to use (default: :func:`~emberxr.testing.make_batch` with ``in_static`` /
        ``patch_size`` from ``config``); it is never changed.
    seed
        Seed for model construction.
    atol
        Tolerance of the equality checks.
    raise_on_failure
        Raise :class:`AssertionError` listing every failed check (default) instead of returning.
    **config
        Constructor keyword arguments (``in_static`` default 3, ``patch_size`` default 8,
        hyper-parameters).

    Returns
    -------
    ConformanceReport
    """
    subject = ModelSubject(name_or_cls, config, batch=batch, seed=seed, atol=atol)
    report = ConformanceReport(f"model {subject.label!r}")
    report.add(subject)
    if raise_on_failure and not report.ok:
        raise AssertionError(str(report))
    return report


def check_decoder(
    name_or_cls: Any,
    *,
    context_channels: int = 16,
    fine_channels: int = 6,
    patch_size: int = 8,
    size: tuple[int, int] = (32, 32),
    in_model: bool = True,
    seed: int = 0,
    atol: float = 1e-4,
    raise_on_failure: bool = True,
    **config: Any,
) -> ConformanceReport:
    """Run every decoder check of :data:`CHECKS` (and, with ``in_model``, the model checks of
    ``emberformer`` built with this decoder, reported as ``emberformer:<check>``).

    Parameters
    ----------
    name_or_cls
        A registered decoder name or a :class:`~emberxr.decoders.base.FireDecoder` subclass.
    context_channels, fine_channels, patch_size
        Decoder constructor arguments used for the stand-alone checks.
    size
        Default ``(H, W)`` of the fine features.
    in_model
        Also run the model checks on ``create_model("emberformer", decoder=...)`` (needs a name).
    seed, atol, raise_on_failure
        As for :func:`check_model`.
    **config
        Extra decoder options.

    Returns
    -------
    ConformanceReport
    """
    subject = _decoder_subject(
        name_or_cls,
        context_channels=context_channels,
        fine_channels=fine_channels,
        patch_size=patch_size,
        size=size,
        seed=seed,
        atol=atol,
        **config,
    )
    report = ConformanceReport(f"decoder {subject.label!r}")
    report.add(subject)
    if in_model and isinstance(name_or_cls, str):
        report.add(_in_model_subject(subject), prefix="emberformer:")
    if raise_on_failure and not report.ok:
        raise AssertionError(str(report))
    return report
