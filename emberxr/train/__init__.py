"""Training: configuration, loss, metrics, checkpoints, the loop, W&B and DDP helpers.

Modules (each has one job):

- :mod:`emberxr.train.config` — the configuration: pydantic sections, model-owned options, YAML,
  dotted overrides, `fit` keywords (`build_config`), validation before any data is read.
- :mod:`emberxr.train.model_config` — the model section: options checked against the model's
  constructor, presets, constructor arguments, a dry build on the ``meta`` device.
- :mod:`emberxr.train.loss` — masked weighted BCE + Dice, and its ``pos_weight`` from the events.
- :mod:`emberxr.train.metrics` — streaming pixel metrics (P/R/F1/IoU/AP) for the next mask and
  the newly burned pixels, stratified by history length and per event.
- :mod:`emberxr.train.checkpoint` — :class:`~emberxr.train.checkpoint.CheckpointRecord`, the one
  ``weights_only``-safe checkpoint record (``best.pt``, ``last.pt``, ``model.pt``).
- :mod:`emberxr.train.loop` — :class:`~emberxr.train.loop.Trainer`, the one loop for every model.
- :mod:`emberxr.train.evaluate` — the metrics table of a trained model and the choice of its
  threshold (max next-mask F1).
- :mod:`emberxr.train.runs` — run directories (``<model>-<timestamp>``).
- :mod:`emberxr.train.wandb_utils` — W&B that never hangs nor fails a run.
- :mod:`emberxr.train.distributed` — DDP set-up from ``torchrun`` environment variables.

Nothing is imported here, so ``import emberxr.train.config`` stays light.
"""
