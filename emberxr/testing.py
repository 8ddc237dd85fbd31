"""Conformance checks for model and decoder authors, and a synthetic batch maker.

Run the same checks the emberxr test suite runs on every registered model and decoder::

    from emberxr.testing import check_model, check_decoder
    check_model("emberformer", in_static=3, patch_size=8)        # raises AssertionError listing failures
    check_decoder("fpn")                                          # your plugin decoder

The checks: the model builds from JSON-able ``config`` and ``model.config`` rebuilds it; forward
gives finite float logits ``[B, 1, H, W]``; backward reaches the parameters; adding padded frames in
front of the history does not change the output, nor does what padded frames contain (a model must
honour ``valid_t``, not rely on zeros); each sample's output does not depend on the other
samples of the batch; the same seed builds the same model; a saved state dict loads into a fresh
model with identical outputs; parameter groups cover every parameter exactly once; and (for models
that accept tokens) the output is the same with or without precomputed tokens.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ConformanceReport",
    "add_tokens",
    "check_decoder",
    "check_model",
    "make_batch",
    "pad_history",
    "select",
]


def make_batch(
    B: int = 2,
    T: int = 4,
    H: int = 32,
    W: int = 32,
    in_static: int = 3,
    patch_size: int = 8,
    hist_lens: Sequence[int] | None = None,
    seed: int = 0,
    tokens: bool = True,
    invalid_cols: int = 4,
    token_mode: str = "pixels",
) -> dict[str, Any]:
    """A synthetic batch following the batch contract (``docs/architecture.md``).

    Each sample is a fire growing as an ellipse from a random ignition, pushed by a random wind.
    Histories are left-padded to ``T`` (``hist_lens`` default: ``T, T-1, ...`` down to 1), and the
    last sample has its rightmost ``invalid_cols`` columns marked invalid.

    Parameters
    ----------
    B, T, H, W
        Batch size, padded history length, tile size (``H, W`` multiples of ``patch_size``).
    in_static
        Number of static bands.
    patch_size
        p, for the token entries and ``grid``.
    hist_lens
        Real frames per sample (each 1..T).
    seed
        Random seed (numpy and torch are not touched globally).
    tokens
        Also add ``fire_tokens``, ``static_tokens``, ``valid_tokens``, ``target_tokens``.
    invalid_cols
        Columns marked invalid in the last sample (0 = all valid).
    token_mode
        How the tokens are cut (:data:`emberxr.tokens.TOKEN_MODES`).

    Returns
    -------
    dict
        The batch dict with torch tensors.
    """
    import numpy as np
    import torch

    if H % patch_size or W % patch_size:
        raise ValueError(f"H={H} and W={W} must be multiples of patch_size={patch_size}")
    rng = np.random.default_rng(seed)
    if hist_lens is None:
        hist_lens = [max(T - i, 1) for i in range(B)]
    hist_lens = [int(h) for h in hist_lens]
    if len(hist_lens) != B or not all(1 <= h <= T for h in hist_lens):
        raise ValueError(f"hist_lens must hold B={B} values in 1..T={T}, got {hist_lens}")
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    fire = np.zeros((B, T, H, W), np.float32)
    wind = np.zeros((B, T, 2), np.float32)
    target = np.zeros((B, 1, H, W), np.float32)
    valid_t = np.zeros((B, T), bool)
    valid = np.ones((B, 1, H, W), bool)
    if invalid_cols:
        valid[-1, :, :, W - invalid_cols :] = False
    static = rng.normal(0, 1, (B, in_static, H, W)).astype(np.float32)
    for b, n in enumerate(hist_lens):
        cy, cx = rng.uniform(0.3, 0.7) * H, rng.uniform(0.3, 0.7) * W
        u, v = rng.normal(0, 1, 2)
        rate = rng.uniform(1.0, 2.5)
        frames = []
        for k in range(n + 1):
            r = rate * (k + 1)
            dy, dx = yy - (cy - 0.6 * v * k), xx - (cx + 0.6 * u * k)
            frames.append(((dy / r) ** 2 + (dx / (1.4 * r)) ** 2 <= 1.0).astype(np.float32))
        frames = np.maximum.accumulate(np.stack(frames), axis=0) * valid[b, 0]
        fire[b, T - n :] = frames[:n]
        target[b, 0] = frames[n]
        valid_t[b, T - n :] = True
        wind[b, T - n :] = np.array([u, v], np.float32) + rng.normal(0, 0.1, (n, 2)).astype(np.float32)
    batch: dict[str, Any] = {
        "fire": torch.from_numpy(fire),
        "valid_t": torch.from_numpy(valid_t),
        "hist_len": torch.tensor(hist_lens, dtype=torch.int64),
        "wind": torch.from_numpy(wind),
        "static": torch.from_numpy(static),
        "valid": torch.from_numpy(valid),
        "target": torch.from_numpy(target),
        "patch_size": int(patch_size),
        "grid": (H // patch_size, W // patch_size),
        "meta": [{"event_id": f"synthetic-{b}", "t": hist_lens[b] - 1, "y0": 0, "x0": 0} for b in range(B)],
    }
    if tokens:
        add_tokens(batch, token_mode)
    return batch


def add_tokens(batch: dict[str, Any], token_mode: str = "pixels") -> dict[str, Any]:
    """Add the token entries of the batch contract, cut from ``fire``/``static``/``valid``/``target``
    by :func:`emberxr.tokens.make_tokens` in ``token_mode``."""
    from emberxr.tokens import make_tokens

    valid = batch["valid"][:, 0]
    tokens = make_tokens(
        batch["fire"], batch["static"], valid, batch["target"][:, 0], int(batch["patch_size"]), token_mode
    )
    batch.update(tokens)
    return batch


def pad_history(batch: dict[str, Any], extra: int) -> dict[str, Any]:
    """A copy of ``batch`` with ``extra`` more padded frames in front (zeros, ``valid_t`` False)."""
    import torch

    out = dict(batch)
    for key in ("fire", "wind", "fire_tokens"):
        if key in batch:
            x = batch[key]
            out[key] = torch.cat([x.new_zeros((x.shape[0], extra, *x.shape[2:])), x], dim=1)
    vt = batch["valid_t"]
    out["valid_t"] = torch.cat([vt.new_zeros((vt.shape[0], extra)), vt], dim=1)
    return out


def select(batch: dict[str, Any], index: Sequence[int]) -> dict[str, Any]:
    """The sub-batch of the given sample indices."""
    import torch

    idx = torch.as_tensor(list(index), dtype=torch.int64)
    out = {}
    for key, val in batch.items():
        if isinstance(val, torch.Tensor) and val.dim() > 0 and val.shape[0] == batch["fire"].shape[0]:
            out[key] = val[idx]
        elif key == "meta":
            out[key] = [val[i] for i in index]
        else:
            out[key] = val
    return out


@dataclass
class ConformanceReport:
    """Outcome of :func:`check_model` / :func:`check_decoder`."""

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


def _run(report: ConformanceReport, name: str, fn: Callable[[], str | None]) -> None:
    try:
        skip = fn()
    except AssertionError as exc:
        report.failed[name] = str(exc) or "assertion failed"
    except Exception as exc:
        report.failed[name] = f"{type(exc).__name__}: {exc}"
    else:
        if skip:
            report.skipped[name] = skip
        else:
            report.passed.append(name)


def _close(a: Any, b: Any, what: str, atol: float) -> None:
    import torch

    diff = float((a - b).abs().max()) if a.numel() else 0.0
    assert a.shape == b.shape and torch.isfinite(a).all() and diff <= atol, (
        f"{what}: max abs difference {diff:.3g} > {atol:g} (shapes {tuple(a.shape)} vs {tuple(b.shape)})"
    )


def check_model(
    name_or_cls: Any,
    *,
    batch: dict[str, Any] | None = None,
    seed: int = 0,
    atol: float = 1e-4,
    raise_on_failure: bool = True,
    **config: Any,
) -> ConformanceReport:
    """Run the model conformance checks.

    Parameters
    ----------
    name_or_cls
        A registered model name or a :class:`~emberxr.models.base.FireModel` subclass.
    batch
        Batch to use (default: :func:`make_batch` with ``in_static`` / ``patch_size`` from ``config``).
    seed
        Seed for model construction.
    atol
        Tolerance of the equality checks.
    raise_on_failure
        Raise :class:`AssertionError` listing every failed check (default) instead of returning.
    **config
        Constructor keyword arguments (``in_static``, ``patch_size``, hyper-parameters).

    Returns
    -------
    ConformanceReport
    """
    import torch

    from emberxr.registry import create_model

    config.setdefault("in_static", 3)
    config.setdefault("patch_size", 8)
    token_mode = config.get("token_mode") or "pixels"
    label = (
        name_or_cls if isinstance(name_or_cls, str) else getattr(name_or_cls, "__name__", str(name_or_cls))
    )
    report = ConformanceReport(f"model {label!r}")
    if batch is None:
        batch = make_batch(
            B=3,
            T=4,
            H=32,
            W=32,
            in_static=config["in_static"],
            patch_size=config["patch_size"],
            token_mode=token_mode,
        )
    state: dict[str, Any] = {}

    def build(s: int = seed) -> Any:
        torch.manual_seed(s)
        return create_model(name_or_cls, **config).eval()

    def c_build() -> None:
        model = build()
        state["model"] = model
        cfg = model.config
        assert json.loads(json.dumps(cfg)) == cfg, f"model.config is not JSON round-trippable: {cfg!r}"
        for key, val in config.items():
            assert cfg.get(key) == val, f"model.config[{key!r}] = {cfg.get(key)!r}, built with {val!r}"
        create_model(name_or_cls, **cfg)

    def c_forward() -> None:
        model = state["model"]
        with torch.no_grad():
            out = model(batch)
        B, _T, H, W = batch["fire"].shape
        assert tuple(out.shape) == (B, 1, H, W), f"output shape {tuple(out.shape)}, expected {(B, 1, H, W)}"
        assert out.dtype == torch.float32, f"output dtype {out.dtype}, expected float32"
        assert torch.isfinite(out).all(), "output has NaN/inf"
        state["out"] = out

    def c_backward() -> str | None:
        model = build().train()
        params = [q for q in model.parameters() if q.requires_grad]
        if not params:
            return "no trainable parameters"
        out = model(batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out, batch["target"])
        loss.backward()
        grads = [q.grad for q in params if q.grad is not None]
        assert grads, "no parameter received a gradient"
        assert all(torch.isfinite(g).all() for g in grads), "non-finite gradients"
        assert any(float(g.abs().sum()) > 0 for g in grads), "all gradients are zero"
        return None

    def c_padding() -> None:
        model = state["model"]
        with torch.no_grad():
            a = model(batch)
            b = model(pad_history(batch, 2))
        _close(a, b, "adding 2 padded frames in front changed the output", atol)

    def c_padded_content() -> str | None:
        model = state["model"]
        pad = ~batch["valid_t"]
        if not bool(pad.any()):
            return "batch has no padded frames"
        noisy = dict(batch)
        fire = batch["fire"].clone()
        fire[pad] = 1.0
        wind = batch["wind"].clone()
        wind[pad] = 5.0
        noisy["fire"], noisy["wind"] = fire, wind
        if "fire_tokens" in batch:
            noisy = add_tokens(noisy, token_mode)
        with torch.no_grad():
            _close(
                model(batch),
                model(noisy),
                "content of padded frames (valid_t False) changed the output",
                atol,
            )
        return None

    def c_batch_independence() -> None:
        model = state["model"]
        with torch.no_grad():
            full = model(batch)
            for i in range(batch["fire"].shape[0]):
                one = model(select(batch, [i]))
                _close(full[i : i + 1], one, f"sample {i} alone differs from sample {i} in the batch", atol)

    def c_determinism() -> None:
        with torch.no_grad():
            a = build()(batch)
            b = build()(batch)
        _close(a, b, "two models built with the same seed differ", 0.0)

    def c_save_load() -> None:
        model = state["model"]
        buf = io.BytesIO()
        torch.save({"config": model.config, "state": model.state_dict()}, buf)
        buf.seek(0)
        ckpt = torch.load(buf, weights_only=True)
        fresh = build(seed + 1)
        fresh.load_state_dict(ckpt["state"])
        fresh.eval()
        with torch.no_grad():
            _close(model(batch), fresh(batch), "reloaded model differs", 0.0)

    def c_param_groups() -> None:
        model = state["model"]
        groups = model.param_groups()
        assert set(groups) >= {"temporal", "spatial"}, f"param_groups keys {sorted(groups)}"
        ids = [id(q) for qs in groups.values() for q in qs]
        assert len(ids) == len(set(ids)), "a parameter appears in more than one group"
        assert set(ids) == {id(q) for q in model.parameters()}, "param_groups do not cover every parameter"

    def c_tokens() -> str | None:
        model = state["model"]
        if not getattr(model.requires, "tokens", False):
            return "model does not use tokens"
        bare = {k: v for k, v in batch.items() if not k.endswith("_tokens")}
        with torch.no_grad():
            _close(model(batch), model(bare), "output with tokens differs from output without", atol)
        return None

    checks = [
        ("build", c_build),
        ("forward", c_forward),
        ("backward", c_backward),
        ("padding_invariance", c_padding),
        ("padded_content_ignored", c_padded_content),
        ("batch_independence", c_batch_independence),
        ("determinism", c_determinism),
        ("save_load", c_save_load),
        ("param_groups", c_param_groups),
        ("tokens", c_tokens),
    ]
    for name, fn in checks:
        if name != "build" and "model" not in state:
            report.skipped[name] = "model did not build"
            continue
        _run(report, name, fn)
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
    """Run the decoder conformance checks (and, with ``in_model``, :func:`check_model` on
    ``emberformer`` using this decoder).

    Parameters
    ----------
    name_or_cls
        A registered decoder name or a :class:`~emberxr.decoders.base.FireDecoder` subclass.
    context_channels, fine_channels, patch_size
        Decoder constructor arguments used for the stand-alone checks.
    size
        ``(H, W)`` of the fine features.
    in_model
        Also run the model checks on ``create_model("emberformer", decoder=...)`` (needs a name).
    **config
        Extra decoder options.

    Returns
    -------
    ConformanceReport
    """
    import torch

    from emberxr.registry import create_decoder

    label = (
        name_or_cls if isinstance(name_or_cls, str) else getattr(name_or_cls, "__name__", str(name_or_cls))
    )
    report = ConformanceReport(f"decoder {label!r}")
    H, W = size
    gen = torch.Generator().manual_seed(seed)
    context = torch.randn(3, context_channels, H // patch_size, W // patch_size, generator=gen)
    fine = torch.randn(3, fine_channels, H, W, generator=gen)
    kwargs = dict(
        context_channels=context_channels, fine_channels=fine_channels, patch_size=patch_size, **config
    )
    state: dict[str, Any] = {}

    def build(s: int = seed) -> Any:
        torch.manual_seed(s)
        return create_decoder(name_or_cls, **kwargs).eval()

    def c_build() -> None:
        dec = build()
        state["dec"] = dec
        cfg = dec.config
        assert json.loads(json.dumps(cfg)) == cfg, f"decoder.config is not JSON round-trippable: {cfg!r}"
        create_decoder(name_or_cls, **cfg)

    def c_forward() -> None:
        with torch.no_grad():
            out = state["dec"](context, fine)
        assert tuple(out.shape) == (3, 1, H, W), f"output shape {tuple(out.shape)}, expected {(3, 1, H, W)}"
        assert torch.isfinite(out).all(), "output has NaN/inf"

    def c_backward() -> None:
        dec = build().train()
        ctx = context.clone().requires_grad_(True)
        out = dec(ctx, fine)
        out.square().mean().backward()
        assert ctx.grad is not None and float(ctx.grad.abs().sum()) > 0, "no gradient reaches the context"
        grads = [q.grad for q in dec.parameters() if q.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), "parameters got no finite gradient"

    def c_batch_independence() -> None:
        dec = state["dec"]
        with torch.no_grad():
            full = dec(context, fine)
            for i in range(3):
                _close(
                    full[i : i + 1],
                    dec(context[i : i + 1], fine[i : i + 1]),
                    f"sample {i} alone differs",
                    atol,
                )

    def c_determinism() -> None:
        with torch.no_grad():
            _close(build()(context, fine), build()(context, fine), "same seed, different decoders", 0.0)

    def c_save_load() -> None:
        dec = state["dec"]
        buf = io.BytesIO()
        torch.save(dec.state_dict(), buf)
        buf.seek(0)
        fresh = build(seed + 1)
        fresh.load_state_dict(torch.load(buf, weights_only=True))
        fresh.eval()
        with torch.no_grad():
            _close(dec(context, fine), fresh(context, fine), "reloaded decoder differs", 0.0)

    for name, fn in [
        ("build", c_build),
        ("forward", c_forward),
        ("backward", c_backward),
        ("batch_independence", c_batch_independence),
        ("determinism", c_determinism),
        ("save_load", c_save_load),
    ]:
        if name != "build" and "dec" not in state:
            report.skipped[name] = "decoder did not build"
            continue
        _run(report, name, fn)
    if in_model and isinstance(name_or_cls, str):
        sub = check_model(
            "emberformer",
            in_static=3,
            patch_size=patch_size,
            d_model=16,
            nhead=2,
            num_layers=1,
            decoder=name_or_cls,
            decoder_config=copy.deepcopy(config),
            raise_on_failure=False,
        )
        report.passed += [f"emberformer:{n}" for n in sub.passed]
        report.failed.update({f"emberformer:{k}": v for k, v in sub.failed.items()})
        report.skipped.update({f"emberformer:{k}": v for k, v in sub.skipped.items()})
    if raise_on_failure and not report.ok:
        raise AssertionError(str(report))
    return report
