"""The conformance checks fail bad models: one deliberately wrong tiny model per check.

Each bad model is a correct model (:class:`_Good`, which passes every check) with one defect, and
exactly the check for that defect must fail, with a message naming the problem.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from emberxr.decoders.base import FireDecoder, reject_weights
from emberxr.models.base import (
    OUTSIDE_LOGIT,
    FireModel,
    ModelRequirements,
    apply_valid,
    dynamic_bands,
    last_dynamic,
    last_frame,
    static_bands,
)
from emberxr.testing import CHECKS, check_decoder, check_model, conformance_cases


class _Good(FireModel):
    """A correct tiny model: a 3×3 conv over [last frame, static] plus persistence."""

    requires = ModelRequirements(max_history=4, uses_static=True, uses_wind=False)

    def __init__(self, in_static: int = 3, patch_size: int = 8, max_history: int = 4, hidden: int = 4):
        super().__init__()
        self.in_static = in_static
        self.conv = nn.Conv2d(in_static + 1, hidden, 3, padding=1)
        self.head = nn.Conv2d(hidden, 1, 1)
        self.w = nn.Parameter(torch.tensor(2.0))

    def logits(self, batch: dict[str, Any]) -> Tensor:
        last = last_frame(batch)
        x = torch.cat([last, static_bands(batch, self.in_static)], dim=1)
        return self.head(torch.relu(self.conv(x))) + self.w * (2 * last - 1)

    def forward(self, batch: dict[str, Any]) -> Tensor:
        return apply_valid(self.logits(batch), batch)


class _ReadsTarget(_Good):
    def logits(self, batch):
        return super().logits(batch) + 3.0 * batch["target"]


class _ReadsTargetWhenTraining(_Good):
    """Leaks only in train mode (teacher forcing gone wrong): caught by the train-mode comparison."""

    def logits(self, batch):
        out = super().logits(batch)
        return out + batch["target"] if self.training else out


class _ReadsTargetTokensIfPresent(_Good):
    def logits(self, batch):
        out = super().logits(batch)
        tt = batch.get("target_tokens")
        return out if tt is None else out + tt.mean(dim=1)[:, None, None, None]


class _IgnoresMask(_Good):
    def forward(self, batch):
        return self.logits(batch)


class _OneTileSize(_Good):
    """A learned bias map of a fixed 32×32 size."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.bias_map = nn.Parameter(torch.zeros(1, 1, 32, 32))

    def logits(self, batch):
        return super().logits(batch) + self.bias_map


class _ReadsMeta(_Good):
    def logits(self, batch):
        t = torch.tensor([float(m["t"]) for m in batch["meta"]])
        return super().logits(batch) + 0.1 * t[:, None, None, None]


class _ClipsStaticInPlace(_Good):
    def logits(self, batch):
        batch["static"].clamp_(-2.0, 2.0)  # idempotent, so only the mutation check can see it
        return super().logits(batch)


class _CachesInBatch(_Good):
    def logits(self, batch):
        out = super().logits(batch)
        batch["last_logits"] = out.detach()
        return out


class _ForgetsHidden(_Good):
    """``config`` leaves out a constructor argument, so a checkpoint rebuilds another model."""

    @property
    def config(self) -> dict[str, Any]:
        cfg = dict(super().config)
        cfg.pop("hidden", None)
        return cfg


class _DependsOnPaddedLength(_Good):
    def logits(self, batch):
        return super().logits(batch) * (1 + 0.1 * batch["fire"].shape[1])


class _SumsPaddedFrames(_Good):
    def logits(self, batch):
        return super().logits(batch) + batch["fire"].sum(dim=1, keepdim=True)


class _MixesSamples(_Good):
    def logits(self, batch):
        out = super().logits(batch)
        return out - out.mean(dim=0, keepdim=True)


class _GoodDynamic(_Good):
    """The correct model with dynamic bands: the last real step's are extra conv inputs."""

    def __init__(self, in_dynamic: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.in_dynamic = in_dynamic
        self.dyn = nn.Conv2d(max(in_dynamic, 1), 1, 1)

    def logits(self, batch):
        out = super().logits(batch)
        return out + self.dyn(last_dynamic(batch, self.in_dynamic)) if self.in_dynamic else out


class _IgnoresDynamic(_GoodDynamic):
    def logits(self, batch):
        return _Good.logits(self, batch) + 0.0 * self.dyn.bias.sum()


class _ZeroFillsMissingDynamic(_GoodDynamic):
    def logits(self, batch):
        dyn = batch.get("dynamic")
        if dyn is None:
            dyn = batch["fire"].new_zeros(
                (batch["fire"].shape[0], 1, self.in_dynamic, *batch["fire"].shape[-2:])
            )
        return _Good.logits(self, batch) + self.dyn(dyn[:, -1])


class _SumsDynamicOverPadding(_GoodDynamic):
    def logits(self, batch):
        return _Good.logits(self, batch) + self.dyn(dynamic_bands(batch, self.in_dynamic).sum(dim=1))


BAD_MODELS = [
    (_ReadsTarget, {}, "target_unused", "reads batch['target']"),
    (_ReadsTargetWhenTraining, {}, "target_unused", "(train mode)"),
    (_ReadsTargetTokensIfPresent, {}, "target_unused", "target leakage"),
    (_IgnoresMask, {}, "validity_mask", "validity mask ignored"),
    (_OneTileSize, {}, "tile_sizes", "fails at tile size 24x40"),
    (_ReadsMeta, {}, "meta_unused", "reads batch['meta']"),
    (_ClipsStaticInPlace, {}, "inputs_unchanged", "changed its inputs in place: changed 'static'"),
    (_CachesInBatch, {}, "inputs_unchanged", "added 'last_logits'"),
    (_ForgetsHidden, {"hidden": 6}, "config_roundtrip", "config lacks 'hidden'"),
    (_DependsOnPaddedLength, {}, "padding_invariance", "padded frames in front changed the output"),
    (_SumsPaddedFrames, {}, "padded_content_ignored", "content of padded frames"),
    (_IgnoresDynamic, {"in_dynamic": 2}, "dynamic_used", "changed no valid logit"),
    (_ZeroFillsMissingDynamic, {"in_dynamic": 2}, "dynamic_used", "a batch without 'dynamic' was predicted"),
    (_SumsDynamicOverPadding, {"in_dynamic": 2}, "padded_content_ignored", "content of padded frames"),
    (_MixesSamples, {}, "batch_independence", "alone differs"),
]


def test_the_good_model_passes_every_check():
    report = check_model(_Good)
    assert report.ok and set(report.skipped) == {"tokens", "dynamic_used"}
    assert len(report.passed) == sum("model" in c.applies_to for c in CHECKS) - 2


def test_the_good_model_with_dynamic_bands_passes_every_check():
    report = check_model(_GoodDynamic, in_dynamic=2)
    assert report.ok and set(report.skipped) == {"tokens"}, str(report)
    assert "dynamic_used" in report.passed


@pytest.mark.parametrize(
    ("cls", "options", "check", "words"), BAD_MODELS, ids=[c[0].__name__.lstrip("_") for c in BAD_MODELS]
)
def test_exactly_the_intended_check_fails(cls, options, check, words):
    report = check_model(cls, raise_on_failure=False, **options)
    assert set(report.failed) == {check}, str(report)
    assert words in report.failed[check], report.failed[check]


def test_target_leakage_messages_name_the_key_and_the_fix():
    msg = check_model(_ReadsTarget, raise_on_failure=False).failed["target_unused"]
    assert msg.startswith("target leakage") and "must never read batch['target']" in msg
    msg = check_model(_ReadsMeta, raise_on_failure=False).failed["meta_unused"]
    assert "must not read batch['meta']" in msg


def test_check_model_raises_listing_the_failure():
    with pytest.raises(AssertionError, match=r"FAIL target_unused: target leakage"):
        check_model(_ReadsTarget)


def test_a_failing_case_names_its_check_and_the_others_pass():
    cases = {case.check.name: case for case in conformance_cases(_IgnoresMask)}
    with pytest.raises(AssertionError, match=r"_IgnoresMask:validity_mask failed: validity mask ignored"):
        cases.pop("validity_mask")()
    assert {name: case.run()[0] for name, case in cases.items()} == {
        name: "skipped" if name in ("tokens", "dynamic_used") else "passed" for name in cases
    }


def test_the_moved_mask_catches_logits_overwritten_after_masking():
    class _OverwritesTopLeft(_Good):
        def forward(self, batch):
            out = self.logits(batch).clone()
            out[~batch["valid"]] = OUTSIDE_LOGIT  # right for the batch's own mask ...
            out[:, :, : out.shape[-2] // 4, : out.shape[-1] // 4] = 0.0  # ... wrong elsewhere
            return out

    msg = check_model(_OverwritesTopLeft, raise_on_failure=False).failed["validity_mask"]
    assert "(a moved mask)" in msg


def test_a_model_that_does_not_build_fails_build_and_skips_the_rest():
    class _Broken(_Good):
        def __init__(self, **kwargs: Any):
            raise RuntimeError("no such layer")

    report = check_model(_Broken, raise_on_failure=False)
    assert list(report.failed) == ["build"] and "no such layer" in report.failed["build"]
    assert set(report.skipped.values()) == {"model did not build"}
    case = next(c for c in conformance_cases(_Broken) if c.check.name == "forward")
    with pytest.raises(AssertionError, match="did not build: RuntimeError: no such layer"):
        case()


class _MutatingDecoder(FireDecoder):
    """A decoder that clips its fine features in place."""

    def __init__(
        self, context_channels: int, fine_channels: int, patch_size: int = 16, weights: str | None = None
    ):
        super().__init__()
        reject_weights("mutating", weights)
        self.ctx = nn.Conv2d(context_channels, 4, 1)
        self.fine = nn.Conv2d(fine_channels, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 1, 1)
        self.p = patch_size

    def forward(self, context: Tensor, fine: Tensor) -> Tensor:
        fine.clamp_(-1.0, 1.0)
        ctx = nn.functional.interpolate(self.ctx(context), scale_factor=self.p, mode="nearest")
        return self.head(torch.relu(ctx + self.fine(fine)))


def test_the_shared_checks_fail_a_decoder_too():
    report = check_decoder(_MutatingDecoder, raise_on_failure=False)
    assert set(report.failed) == {"inputs_unchanged"}, str(report)
    assert "changed 'fine'" in report.failed["inputs_unchanged"]
    assert "validity_mask" not in report.passed  # a model-only check
