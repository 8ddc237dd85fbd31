"""Every registered model and decoder passes every conformance check (``emberxr.testing``).

The cases come from :func:`emberxr.testing.conformance_cases`: one test id per (subject, check),
e.g. ``test_model_conforms[emberformer:target_unused]``, so a failure names one check.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import emberxr
from emberxr.registry import get_model_class
from emberxr.testing import CHECKS, check_decoder, check_model, conformance_cases, make_batch, pad_history

DOCS = Path(__file__).resolve().parents[2] / "docs"

# tiny sizes keep the suite fast; everything else is each model's default
SMALL = {
    "emberformer": {"d_model": 16, "nhead": 2, "num_layers": 1},
    "utae": {
        "encoder_widths": [8, 8, 16],
        "decoder_widths": [8, 8, 16],
        "n_head": 4,
        "ltae_dim": 16,
        "ltae_mlp": [16],
    },
}
SMALL_DECODERS = {"unet": {"encoder_depth": 3, "decoder_channels": [32, 16, 8]}}

MODEL_CASES = [
    case for name in emberxr.list_models() for case in conformance_cases(name, **SMALL.get(name, {}))
]
DECODER_CASES = [
    case
    for name in emberxr.list_decoders()
    for case in conformance_cases(name, kind="decoder", **SMALL_DECODERS.get(name, {}))
]
VARIANT_CASES = [
    *conformance_cases(
        "emberformer",
        label="emberformer-spatial-mean",
        **SMALL["emberformer"],
        spatial_layers=2,
        token_mode="mean",
    ),
    *conformance_cases("utae", label="utae-paper", preset="paper"),
    *conformance_cases("unets", label="unets-patch16", patch_size=16),
    *conformance_cases(
        "emberformer",
        label="emberformer-dynamic-mean",
        **SMALL["emberformer"],
        in_dynamic=2,
        token_mode="mean",
    ),
    *conformance_cases(
        "emberformer",
        label="emberformer-dynamic-off",
        **SMALL["emberformer"],
        in_dynamic=2,
        use_dynamic=False,
    ),
]
# every built-in model with dynamic bands (batches with `dynamic [B, T, 3, H, W]`)
DYNAMIC_CASES = [
    case
    for name in emberxr.list_models()
    if "in_dynamic" in inspect.signature(get_model_class(name)).parameters
    for case in conformance_cases(name, label=f"{name}-dynamic", in_dynamic=3, **SMALL.get(name, {}))
]


@pytest.mark.parametrize("case", MODEL_CASES, ids=str)
def test_model_conforms(case):
    case()


@pytest.mark.parametrize("case", DECODER_CASES, ids=str)
def test_decoder_conforms(case):
    case()


@pytest.mark.parametrize("case", VARIANT_CASES, ids=str)
def test_model_variant_conforms(case):
    case()


@pytest.mark.parametrize("case", DYNAMIC_CASES, ids=str)
def test_model_with_dynamic_bands_conforms(case):
    case()


def test_every_built_in_model_takes_dynamic_bands():
    built_in = [n for n in emberxr.list_models() if get_model_class(n).__module__.startswith("emberxr.")]
    assert {c.subject.label for c in DYNAMIC_CASES} >= {f"{n}-dynamic" for n in built_in}


def test_the_table_is_one_list_of_uniquely_named_checks_for_models_and_decoders():
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names))
    assert all(c.applies_to and set(c.applies_to) <= {"model", "decoder"} for c in CHECKS)
    shared = {c.name for c in CHECKS if set(c.applies_to) == {"model", "decoder"}}
    assert {"determinism", "save_load", "batch_independence", "tile_sizes", "inputs_unchanged"} <= shared
    assert all(c.description for c in CHECKS)


def test_parametrised_cases_cover_the_table_once_per_subject():
    ids = [str(c) for c in MODEL_CASES]
    assert len(ids) == len(set(ids))
    model_checks = [c.name for c in CHECKS if "model" in c.applies_to]
    decoder_checks = [c.name for c in CHECKS if "decoder" in c.applies_to]
    assert [str(c) for c in conformance_cases("conv2d")] == [f"conv2d:{n}" for n in model_checks]
    assert [str(c) for c in conformance_cases("light")] == [f"light:{n}" for n in decoder_checks] + [
        f"light:emberformer:{n}" for n in model_checks
    ]


def test_check_model_and_check_decoder_run_the_same_table():
    report = check_model("copylast")
    model_checks = {c.name for c in CHECKS if "model" in c.applies_to}
    assert set(report.passed) | set(report.skipped) == model_checks
    assert report.skipped == {
        "backward": "model has no trainable parameters",
        "tokens": "model does not use tokens",
        "dynamic_used": "built without dynamic bands (in_dynamic=0)",
    }
    dec = check_decoder("light", in_model=False)
    assert set(dec.passed) == {c.name for c in CHECKS if "decoder" in c.applies_to}


def test_a_given_batch_is_used_and_never_changed():
    batch = make_batch(B=2, T=3, H=16, W=24, in_static=2, patch_size=8, tokens=False)
    fire = batch["fire"].clone()
    report = check_model("conv2d", batch=batch, in_static=2, patch_size=8, hidden=4, layers=1)
    assert report.ok and "tokens" in report.skipped
    assert batch["fire"].equal(fire) and "fire_tokens" not in batch


def test_docs_describe_every_check():
    text = (DOCS / "plugins.md").read_text()
    missing = [c.name for c in CHECKS if not re.search(rf"`{c.name}`", text)]
    assert not missing, f"docs/plugins.md does not describe the checks {missing}"


def test_make_batch_follows_the_contract():
    b = make_batch(B=3, T=5, H=16, W=24, in_static=2, patch_size=8, hist_lens=[5, 3, 1])
    assert b["fire"].shape == (3, 5, 16, 24) and b["grid"] == (2, 3)
    assert b["valid_t"].tolist()[1] == [False, False, True, True, True]
    assert float(b["fire"][1, :2].abs().sum()) == 0 and float(b["wind"][2, :4].abs().sum()) == 0
    assert b["fire_tokens"].shape == (3, 5, 6, 64) and b["static_tokens"].shape == (3, 6, 2 * 64)
    # fire grows monotonically (cumulative burn) over the real frames
    real = b["fire"][0]
    assert bool((real[1:] >= real[:-1]).all())
    padded = pad_history(b, 2)
    assert padded["fire"].shape[1] == 7 and padded["valid_t"][:, :2].sum() == 0
