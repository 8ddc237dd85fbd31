"""Weights & Biases logging that never hangs and never fails a run.

- Mode: ``wandb.mode`` from the config, else ``$WANDB_MODE``, else ``online`` when
  ``$WANDB_API_KEY`` is set and ``offline`` otherwise. ``disabled`` turns everything into no-ops.
- Every W&B call is wrapped: an exception (no network, no login, a W&B bug) is reported once as a
  warning and logging is switched off for the rest of the run; training goes on.
- Run names and tags are generated from the model name, its preset and the options the config sets
  explicitly (no model is special-cased), history length and seed; ``define_metric`` ties
  ``train/*`` and ``val/*`` to their step counters; the model may be ``watch``-ed; each validation
  logs a preview image (history, target, prediction); the best checkpoint is uploaded as an artifact.
- Sweeps: a W&B sweep agent injects its parameters into ``run.config`` as flat dotted keys
  (``model.d_model``); :meth:`WandbLogger.sweep_overrides` returns them so they can be applied over
  the configuration with :func:`emberxr.train.config.build_config` (which an Optuna trial uses too).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

from emberxr.train.config import flatten, is_known_key


class _Safe:
    """Wraps a W&B run; turns itself off after the first failure."""

    def __init__(self, run: Any):
        self.run = run
        self.ok = run is not None

    def call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.ok:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # never fail a run because of logging
            self.ok = False
            warnings.warn(
                f"W&B {what} failed ({type(exc).__name__}: {exc}); W&B logging is off for this run",
                stacklevel=3,
            )
            return None


def resolve_mode(cfg_mode: str | None = None) -> str:
    """The W&B mode to use: config, then ``$WANDB_MODE``, then online/offline by API key."""
    mode = cfg_mode or os.environ.get("WANDB_MODE")
    if mode in ("disabled", "dryrun"):
        return "disabled" if mode == "disabled" else "offline"
    if mode == "online" and not (os.environ.get("WANDB_API_KEY") or _has_netrc_login()):
        return "offline"
    if mode:
        return mode
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def _has_netrc_login() -> bool:
    netrc = os.path.expanduser("~/.netrc")
    try:
        with open(netrc) as fh:
            return "api.wandb.ai" in fh.read()
    except OSError:
        return False


def _explicit_options(cfg: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The model options a configuration sets itself (scalars only), in the order given."""
    return [
        (k, v)
        for k, v in cfg["model"].items()
        if k not in ("name", "preset") and (v is None or isinstance(v, (str, int, float, bool)))
    ]


def run_name(cfg: Mapping[str, Any]) -> str:
    """A short descriptive run name: model, preset, explicit options, history and seed, e.g.
    ``emberformer-cpu-d_model=128-h6-s0`` (at most 128 characters)."""
    m, d, t = cfg["model"], cfg["data"], cfg["training"]
    parts = [m["name"], *([m["preset"]] if m.get("preset") else [])]
    parts += [f"{k}={v}" for k, v in _explicit_options(cfg)]
    parts += [f"h{d['max_history']}", f"s{t['seed']}"]
    name = "-".join(str(p) for p in parts)
    return name if len(name) <= 128 else name[:125] + "..."


def run_tags(cfg: Mapping[str, Any]) -> list[str]:
    """Tags: model name, preset, text-valued explicit options (``decoder=unet``), history length,
    schedule, plus ``wandb.tags``."""
    m = cfg["model"]
    tags = [m["name"], *([f"preset-{m['preset']}"] if m.get("preset") else [])]
    tags += [f"{k}={v}"[:64] for k, v in _explicit_options(cfg) if isinstance(v, str)]
    tags += [f"hist{cfg['data']['max_history']}", cfg["training"]["schedule"]]
    return tags + [str(x) for x in cfg["wandb"]["tags"]]


class WandbLogger:
    """The W&B side of a training run (a no-op when disabled or on non-zero ranks).

    Parameters
    ----------
    cfg
        Validated configuration.
    context
        Extra values stored in the run config (script, data source, world size ...).
    enabled
        False on non-zero DDP ranks.
    directory
        Where W&B keeps its files (``<directory>/wandb``; default ``training.output_dir``).
    """

    def __init__(
        self,
        cfg: Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
        enabled: bool = True,
        directory: str | os.PathLike | None = None,
    ):
        self.cfg = cfg
        self.mode = resolve_mode(cfg["wandb"]["mode"])
        self._safe = _Safe(None)
        if not (enabled and cfg["wandb"]["enabled"]) or self.mode == "disabled":
            return
        try:
            import wandb
        except ImportError:  # pragma: no cover
            return
        self._wandb = wandb
        wdir = str(directory or cfg["training"]["output_dir"])
        os.makedirs(wdir, exist_ok=True)
        settings = None
        try:
            settings = wandb.Settings(init_timeout=30, silent=True, console="off")
        except Exception:  # older/newer wandb without these settings
            settings = None
        run = _Safe(object()).call(
            "init",
            wandb.init,
            project=cfg["wandb"]["project"],
            entity=cfg["wandb"]["entity"],
            name=cfg["wandb"]["name"] or run_name(cfg),
            group=cfg["wandb"].get("group"),
            tags=run_tags(cfg),
            config={**flatten(cfg), **dict(context or {})},
            mode=self.mode,
            dir=wdir,
            reinit="finish_previous",
            settings=settings,
        )
        self._safe = _Safe(run)
        if run is not None:
            self.define_common_metrics()

    @property
    def active(self) -> bool:
        """True while W&B logging works."""
        return self._safe.ok

    @property
    def run(self) -> Any:
        """The W&B run (None when disabled)."""
        return self._safe.run if self._safe.ok else None

    def sweep_overrides(self) -> dict[str, Any]:
        """Flat dotted config values a sweep injected that differ from what the run was given."""
        if not self.active:
            return {}
        given = flatten(self.cfg)
        out: dict[str, Any] = {}
        try:
            items = dict(self.run.config).items()
        except Exception:
            return {}
        for k, v in items:
            key = "training" + k[5:] if k.startswith("train.") else k
            if is_known_key(key) and given.get(key) != v:
                out[key] = v
        return out

    def define_common_metrics(self) -> None:
        """``train/*`` against ``train/step``, ``val/*`` against ``epoch``."""
        r = self.run
        for name, step in (
            ("train/step", None),
            ("epoch", None),
            ("train/*", "train/step"),
            ("val/*", "epoch"),
        ):
            if step is None:
                self._safe.call("define_metric", r.define_metric, name)
            else:
                self._safe.call("define_metric", r.define_metric, name, step_metric=step)

    def watch(self, model: Any) -> None:
        """``wandb.watch`` the model (gradients) when ``wandb.watch`` is set."""
        if self.active and self.cfg["wandb"]["watch"]:
            self._safe.call("watch", self.run.watch, model, log="gradients", log_freq=100)

    def log(self, values: Mapping[str, Any]) -> None:
        """Log a dict of scalars (include ``train/step`` or ``epoch``)."""
        if self.active:
            self._safe.call("log", self.run.log, dict(values))

    def log_preview(self, batch: Mapping[str, Any], logits: Any, epoch: int) -> None:
        """Log a grid image: last history frame, target, predicted probability, for up to 4 samples."""
        if not (self.active and self.cfg["wandb"]["log_images"]):
            return

        def make() -> None:
            import numpy as np
            import torch

            from emberxr.models.base import last_frame

            n = min(4, logits.shape[0])
            last = last_frame(dict(batch))[:n, 0].cpu().numpy()
            tgt = batch["target"][:n, 0].cpu().numpy()
            prob = torch.sigmoid(logits[:n, 0].float()).detach().cpu().numpy()
            rows = [
                np.concatenate([a, np.ones((a.shape[0], 2)), b, np.ones((a.shape[0], 2)), c], axis=1)
                for a, b, c in zip(last, tgt, prob)
            ]
            img = (np.concatenate(rows, axis=0) * 255).astype(np.uint8)
            self.run.log(
                {
                    "val/preview": self._wandb.Image(img, caption="history (last) | target | prediction"),
                    "epoch": epoch,
                }
            )

        self._safe.call("preview", make)

    def log_artifact(self, path: str, name: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Upload a checkpoint file as a ``model`` artifact."""
        if not (self.active and self.cfg["wandb"]["log_artifact"]):
            return

        def make() -> None:
            art = self._wandb.Artifact(name, type="model", metadata=dict(metadata or {}))
            art.add_file(str(path))
            self.run.log_artifact(art, aliases=["best"])

        self._safe.call("artifact", make)

    def summary(self, values: Mapping[str, Any]) -> None:
        """Set run summary values."""
        if self.active:
            self._safe.call("summary", self.run.summary.update, dict(values))

    def finish(self) -> None:
        """Close the run (never raises)."""
        if self.run is not None:
            self._safe.call("finish", self.run.finish)
        self._safe.ok = False
