"""Torch datasets, loaders and the epoch sampler for a training configuration.

The factories here turn events, normalisation statistics and a validated configuration
(:func:`emberxr.train.config.load_config`) into what :class:`emberxr.train.loop.Trainer` and
evaluation iterate over: :func:`build_dataset` (a
:class:`~emberxr.data.datasets.FireSampleDataset` with the configuration's history cap, patch
size, tiles and augmentation), :func:`sample_subset` (a fixed random subset),
:func:`build_loader` (a ``DataLoader`` with :func:`~emberxr.data.collate.temporal_collate`),
:func:`validation_loader` (the fixed validation subset ``fit`` scores and chooses its threshold
on), :func:`training_loaders` (all of them for one run) and :class:`EpochSampler` (per-epoch
shuffling that also advances the dataset's crop epoch, shards samples across DDP ranks and
resumes an epoch part-way). :func:`sample_kwargs` gives forecasting the same sample settings.

Whether a dataset is preloaded or streamed is :func:`resolve_preload`'s decision
(``data.preload``: ``auto`` preloads what fits a memory budget). Streamed datasets read windows
per sample (:mod:`emberxr.data.streaming`); DataLoader workers (``data.num_workers``) are
persistent and start with :func:`worker_init`, which gives each worker its own zarr handles and
caches.

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
    "EpochSubset",
    "available_memory",
    "base_dataset",
    "build_dataset",
    "build_loader",
    "resolve_preload",
    "sample_kwargs",
    "sample_subset",
    "token_kwargs",
    "training_loaders",
    "validation_loader",
    "worker_init",
]


class EpochSampler:
    """Shuffling sampler with per-epoch seeds that also advances the dataset's crop epoch.

    The order of epoch ``e`` is ``numpy.random.default_rng([seed, e]).permutation(n)`` (or
    ``0..n-1`` without shuffling). Like ``torch.utils.data.DistributedSampler``, it shards the
    samples across DDP ranks: rank ``r`` of ``world`` takes every ``world``-th index starting at
    ``r``, the order padded by wrapping so every rank gets the same count.

    It yields keys ``(epoch, i)`` (see :meth:`FireSampleDataset.__getitem__
    <emberxr.data.datasets.FireSampleDataset.__getitem__>`), so DataLoader workers, persistent
    ones included, cut each epoch's crops without being told the epoch; ``keys=False`` yields
    plain indices.

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
    keys
        Yield ``(epoch, i)`` pairs (True) or indices.
    """

    def __init__(
        self,
        n: int,
        seed: int,
        shuffle: bool,
        rank: int = 0,
        world: int = 1,
        dataset: Any = None,
        keys: bool = True,
    ):
        self.n, self.seed, self.shuffle, self.rank, self.world = n, seed, shuffle, rank, world
        self.epoch = 0
        self.start = 0
        self.dataset = dataset
        self.keys = bool(keys)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Use the order (and dataset crops) of ``epoch``, beginning at position ``start`` of this
        rank's share (to resume an epoch part-way: the remaining order is unchanged)."""
        self.epoch = int(epoch)
        self.start = int(start)
        base = getattr(self.dataset, "dataset", self.dataset)
        if hasattr(base, "set_epoch"):
            base.set_epoch(self.epoch)

    def order(self) -> np.ndarray:
        """This rank's sample indices of the current epoch, from the start (ignores ``start``)."""
        idx = (
            np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
            if self.shuffle
            else np.arange(self.n)
        )
        per = -(-self.n // self.world)
        idx = np.resize(idx, per * self.world)  # pad by wrapping so every rank gets the same count
        return idx[self.rank :: self.world]

    def __iter__(self) -> Iterator[Any]:
        idx = self.order()[self.start :].tolist()
        if self.keys:
            return iter([(self.epoch, i) for i in idx])
        return iter(idx)

    def __len__(self) -> int:
        return max(0, -(-self.n // self.world) - self.start)


class EpochSubset:
    """A fixed subset of a dataset that passes ``(epoch, i)`` keys on (as ``(epoch, indices[i])``).

    ``torch.utils.data.Subset`` would index its index list with the pair.
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            epoch, i = key
            return self.dataset[(epoch, self.indices[i])]
        return self.dataset[self.indices[key]]


def sample_subset(ds: Any, n: int | None, seed: int) -> Any:
    """``n`` samples of ``ds`` drawn once with ``seed`` (kept in index order); ``ds`` itself when
    ``n`` is None or not smaller than ``len(ds)``. The subset accepts ``(epoch, i)`` keys."""
    if n is None or n >= len(ds):
        return ds
    idx = np.sort(np.random.default_rng(seed).choice(len(ds), size=n, replace=False))
    return EpochSubset(ds, idx.tolist())


def base_dataset(ds: Any) -> Any:
    """The dataset under any subset wrappers (``.dataset`` attributes)."""
    while hasattr(ds, "dataset") and not hasattr(ds, "reset_caches"):
        ds = ds.dataset
    return ds


def worker_init(worker_id: int) -> None:
    """``worker_init_fn`` of emberxr's loaders: the worker empties the caches it inherited and
    forgets the parent's zarr handles, so it reopens the stores itself and fills its own bounded
    caches (:meth:`FireSampleDataset.reset_caches <emberxr.data.datasets.FireSampleDataset.reset_caches>`)."""
    import torch

    info = torch.utils.data.get_worker_info()
    ds = base_dataset(info.dataset) if info is not None else None
    if ds is not None and hasattr(ds, "reset_caches"):
        ds.reset_caches()


def resolve_preload(data: Mapping[str, Any], events: Sequence[xr.Dataset]) -> bool:
    """Whether a dataset of ``events`` is preloaded under ``data.preload`` / ``data.preload_max_gb``.

    ``true`` / ``false`` are obeyed. ``auto`` preloads when the events' decoded size (fire,
    static bands, validity; from metadata only, events already in memory count 0) is at most
    ``data.preload_max_gb`` GiB, or, when that is null, a quarter of the memory available now
    (:func:`available_memory`); otherwise samples are streamed.
    """
    mode = data.get("preload", "auto")
    if mode is True or mode is False:
        return bool(mode)
    from emberxr.data.streaming import lazy_nbytes
    from emberxr.schema import DYNAMIC, FIRE, STATIC, VALID

    names = (FIRE, STATIC, VALID, DYNAMIC)
    need = lazy_nbytes([ev[v].data for ev in events for v in names if v in ev.variables])
    limit = data.get("preload_max_gb")
    budget = float(limit) * 2**30 if limit is not None else available_memory() / 4
    return need <= budget


def available_memory() -> int:
    """Bytes of memory available to new allocations now (``psutil`` when installed, else
    ``MemAvailable`` of ``/proc/meminfo``, else a quarter of the physical memory)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 4


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
    events: Sequence[xr.Dataset],
    stats: Any,
    cfg: Mapping[str, Any],
    model: Any,
    train: bool,
    preload: bool | None = None,
) -> Any:
    """The sample dataset of ``events`` for the configuration, preloaded or streamed.

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
    preload
        Load the events into memory (True) or stream windows from them (False); None decides
        by ``data.preload`` (:func:`resolve_preload`). Both give the same samples.
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
        preload=resolve_preload(d, events) if preload is None else bool(preload),
        cache_mb=d["cache_mb"],
        progress=cfg["training"]["progress"],
        target=cfg["data"].get("target"),
    )


def build_loader(ds: Any, cfg: Mapping[str, Any], sampler: Any = None, batch_size: int | None = None) -> Any:
    """A ``DataLoader`` over ``ds`` with the configuration's batch size and workers.

    Batches are made by :func:`~emberxr.data.collate.temporal_collate`; the order is the
    sampler's (or the dataset's when ``sampler`` is None). With ``data.num_workers`` > 0 the
    workers are persistent (their caches and zarr handles live across epochs) and start with
    :func:`worker_init`.
    """
    import torch

    from emberxr.data.collate import temporal_collate

    workers = int(cfg["data"]["num_workers"])
    # with workers, the loader seeds them from its own generator: torch's global RNG (dropout
    # masks ...) then does not depend on when the persistent workers were started, so a resumed
    # run draws what an uninterrupted one draws
    generator = torch.Generator().manual_seed(int(cfg["training"]["seed"])) if workers > 0 else None
    return torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size or cfg["training"]["batch_size"],
        sampler=sampler,
        shuffle=False,
        collate_fn=temporal_collate,
        num_workers=workers,
        persistent_workers=workers > 0,
        worker_init_fn=worker_init if workers > 0 else None,
        generator=generator,
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
