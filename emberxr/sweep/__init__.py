"""Hyper-parameter sweeps from one YAML in W&B's sweep format (``docs/sweeps.md``).

>>> from emberxr.sweep import load_sweep, run_sweep, sweep_report
>>> spec = load_sweep("sweep_emberformer", overrides=["training.epochs=6"])  # doctest: +SKIP
>>> study = run_sweep(spec, trials=12)                                        # doctest: +SKIP
>>> print(sweep_report("sweeps/sweep_emberformer").text())                    # doctest: +SKIP

- :mod:`emberxr.sweep.spec` — the format: reading, validating (every key, every parameter value
  against the training configuration) and mapping each parameter form onto Optuna;
- :mod:`emberxr.sweep.optuna_backend` — the offline backend (TPE / random / grid, Hyperband
  pruning from per-epoch reports, run cap, SQLite / journal / RDB storage, resumption, parallel
  workers, one run directory per trial);
- :mod:`emberxr.sweep.wandb_backend` — registering the same YAML on a W&B server and running
  ``wandb agent``;
- :mod:`emberxr.sweep.report` — best trials, ``trials.csv`` and the plots.

Nothing here is imported by ``import emberxr``; Optuna is imported when a sweep runs.
"""

from __future__ import annotations

from emberxr._lazy import lazy_namespace

_LAZY = {
    "Param": "emberxr.sweep.spec:Param",
    "SweepSpec": "emberxr.sweep.spec:SweepSpec",
    "load_sweep": "emberxr.sweep.spec:load_sweep",
    "parse_sweep": "emberxr.sweep.spec:parse_sweep",
    "run_sweep": "emberxr.sweep.optuna_backend:run_sweep",
    "EpochReporter": "emberxr.sweep.optuna_backend:EpochReporter",
    "open_storage": "emberxr.sweep.optuna_backend:open_storage",
    "wandb_sweep": "emberxr.sweep.wandb_backend:wandb_sweep",
    "sweep_report": "emberxr.sweep.report:sweep_report",
    "SweepReport": "emberxr.sweep.report:SweepReport",
}

__getattr__, __dir__, __all__ = lazy_namespace("emberxr.sweep", _LAZY, globals())
