"""Torch datasets, loaders and the epoch sampler for a training configuration.

The factories here turn events, normalisation statistics and a validated configuration
(:func:`emberxr.train.config.load_config`) into what :class:`emberxr.train.loop.Trainer` and
evaluation iterate over: :func:`build_dataset` (a
:class:`~emberxr.data.datasets.FireSampleDataset` with the configuration's history cap, patch
size, tiles and augmentation), :func:`sample_subset` (a fixed random subset),
:func:`build_loader` (a ``DataLoader`` with :func:`~emberxr.data.collate.temporal_collate`),
:func:`validation_loader` (the fixed validation subset ``fit`` scores and chooses its threshold
on), :func:`training_loaders` (all of them for one run) and :class:`EpochSampler` (per-epoch
shuffling that also advances the dataset's crop epoch and shards samples across DDP ranks).
:func:`sample_kwargs` gives forecasting the same sample settings.

A model's wish for patch tokens is read from what it declares (``model.requires.tokens`` and
``model.config["token_mode"]``, :func:`token_kwargs`); nothing else of the model is used.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "EpochSampler",
    "build_dataset",
    "build_loader",
    "sample_kwargs",
    "sample_subset",
    "token_kwargs",
    "training_loaders",
    "validation_loader",
]


class EpochSampler:
    """Shuffling sampler with per-epoch seeds that also advances the dataset's crop epoch.

    The order of epoch ``e`` is ``numpy.random.default_rng([seed, e]).permutation(n)`` (or
    ``0..n-1`` without shuffling). Like ``torch.utils.data.DistributedSampler``, it shards the
    samples across DDP ranks: rank ``r`` of ``world`` takes every ``world``-th index starting at
    ``r``, the order padded by wrapping so every rank gets the same count.

    Parameters
    ----------
    n
        Number of samples.
    seed
        Base seed.
    shuffle
        Permute per epoch (True) or keep the order.
    rank, world
        This process's DDP rank and the number of processes.
    dataset
        The dataset (or a ``Subset`` of it); its ``set_epoch`` is called by :meth:`set_epoch` so
        random training crops change with the epoch.
    """

    def __init__(self, n: int, seed: int, shuffle: bool, rank: int = 0, world: int = 1, dataset: Any = None):
        self.n, self.seed, self.shuffle, self.rank, self.world = n, seed, shuffle, rank, world
        self.epoch = 0
        self.dataset = dataset

    def set_epoch(self, epoch: int) -> None:
        """Use the order (and dataset crops) of ``epoch``."""
        self.epoch = int(epoch)
        base = getattr(self.dataset, "dataset", self.dataset)
        if hasattr(base, "set_epoch"):
            base.set_epoch(self.epoch)

    def __iter__(self) -> Iterator[int]:
        idx = (
            np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
            if self.shuffle
            else np.arange(self.n)
        )
        per = -(-self.n // self.world)
        idx = np.resize(idx, per * self.world)  # pad by wrapping so every rank gets the same count
        return iter(idx[self.rank :: self.world].tolist())

    def __len__(self) -> int:
        return -(-self.n // self.world)


def sample_subset(ds: Any, n: int | None, seed: int) -> Any:
    """``n`` samples of ``ds`` drawn once with ``seed`` (kept in index order); ``ds`` itself when
    ``n`` is None or not smaller than ``len(ds)``."""
    import torch

    if n is None or n >= len(ds):
        return ds
    idx = np.sort(np.random.default_rng(seed).choice(len(ds), size=n, replace=False))
    return torch.utils.data.Subset(ds, idx.tolist())


def token_kwargs(model: Any) -> dict[str, Any]:
    """Whether ``model`` wants patch tokens (``model.requires.tokens``) and how they are cut
    (``model.config["token_mode"]``, default ``"pixels"``), as dataset keyword arguments."""
    mc = getattr(model, "config", {}) or {}
    return {
        "tokens": bool(getattr(model.requires, "tokens", False)),
        "token_mode": mc.get("token_mode", "pixels") or "pixels",
    }


def sample_kwargs(cfg: Mapping[str, Any], model: Any) -> dict[str, Any]:
    """How samples of ``model`` are cut under ``cfg``: ``max_history``, ``patch_size``,
    ``tile_size`` and :func:`token_kwargs` (the keyword arguments of :func:`emberxr.forecast.forecast`)."""
    d = cfg["data"]
    return {
        "max_history": d["max_history"],
        "patch_size": d["patch_size"],
        **token_kwargs(model),
        "tile_size": d["tile_size"],
    }


def build_dataset(
    events: Sequence[xr.Dataset], stats: Any, cfg: Mapping[str, Any], model: Any, train: bool
) -> Any:
    """The preloaded sample dataset of ``events`` for the configuration.

    Parameters
    ----------
    events
        FireEvents.
    stats
        ``NormStats`` of the training data.
    cfg
        Validated configuration (``data.*`` and ``training.seed`` are read).
    model
        The model (see :func:`token_kwargs`).
    train
        Training samples (random crops of ``data.tile_size``, augmentation when
        ``data.augment``) or evaluation samples (whole events, tiled when large).
    """
    from emberxr.data.datasets import FireSampleDataset

    d = cfg["data"]
    augment = None
    if train and d["augment"]:
        from emberxr.data.augment import Augment

        augment = Augment()
    return FireSampleDataset(
        events,
        stats,
        max_history=d["max_history"],
        min_history=d["min_history"],
        patch_size=d["patch_size"],
        strict=d["strict"],
        tile_size=d["tile_size"] if train else None,
        train=train,
        augment=augment,
        **token_kwargs(model),
        seed=cfg["training"]["seed"],
        preload=True,
        progress=cfg["training"]["progress"],
        target=cfg["data"].get("target"),
    )


def build_loader(ds: Any, cfg: Mapping[str, Any], sampler: Any = None, batch_size: int | None = None) -> Any:
    """A ``DataLoader`` over ``ds`` with the configuration's batch size and workers.

    Batches are made by :func:`~emberxr.data.collate.temporal_collate`; the order is the
    sampler's (or the dataset's when ``sampler`` is None).
    """
    import torch

    from emberxr.data.collate import temporal_collate

    return torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size or cfg["training"]["batch_size"],
        sampler=sampler,
        shuffle=False,
        collate_fn=temporal_collate,
        num_workers=cfg["data"]["num_workers"],
        drop_last=False,
    )


def validation_loader(
    events: Sequence[xr.Dataset],
    stats: Any,
    cfg: Mapping[str, Any],
    model: Any,
    batch_size: int | None = None,
) -> Any:
    """The loader ``fit`` validates on: evaluation samples of ``events``, at most
    ``data.max_val_samples`` of them drawn with seed ``training.seed + 1``."""
    ds = build_dataset(events, stats, cfg, model, train=False)
    ds = sample_subset(ds, cfg["data"]["max_val_samples"], cfg["training"]["seed"] + 1)
    return build_loader(ds, cfg, batch_size=batch_size)


def training_loaders(
    train_events: Sequence[xr.Dataset],
    val_events: Sequence[xr.Dataset],
    stats: Any,
    cfg: Mapping[str, Any],
    model: Any,
    rank: int = 0,
    world: int = 1,
) -> tuple[Any, Any, EpochSampler]:
    """``(train_loader, val_loader, sampler)`` of one training run.

    Training samples: at most ``data.max_train_samples`` (seed ``training.seed``), shuffled per
    epoch by the returned :class:`EpochSampler` (sharded over ``world`` DDP ranks). Validation:
    :func:`validation_loader`.
    """
    seed = cfg["training"]["seed"]
    train_ds = build_dataset(train_events, stats, cfg, model, train=True)
    train_ds = sample_subset(train_ds, cfg["data"]["max_train_samples"], seed)
    val_loader = validation_loader(val_events, stats, cfg, model)
    sampler = EpochSampler(len(train_ds), seed, True, rank, world, train_ds)
    return build_loader(train_ds, cfg, sampler), val_loader, sampler
