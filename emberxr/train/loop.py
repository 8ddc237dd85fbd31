"""The one training loop for every model.

:class:`Trainer` runs AdamW with differential learning rates (``model.param_groups()``:
``temporal`` at ``training.lr_temporal``, ``spatial`` at ``training.lr_spatial``; no weight decay
on biases and norms). When pretrained weights were loaded (``model.pretrained_parameters()``), those
parameters stay frozen — their BatchNorm statistics included — for ``training.freeze_epochs`` and
``lr_spatial: auto`` is ``lr_temporal / 10``; otherwise nothing is frozen and ``auto`` is
``lr_temporal``. It follows a cosine
(with optional warm-up) or plateau schedule, clips gradients, uses mixed precision where the
device supports it, validates every epoch, keeps the best checkpoint, stops early, and writes a
resumable ``last.pt`` after every complete epoch — and, with ``training.checkpoint_every_steps``,
every that many steps within an epoch: a run killed mid-epoch resumes at the step after the last
such checkpoint, with the same remaining sample order, crops and RNG state, so it ends with the
weights an uninterrupted run ends with. Under DDP (``torchrun``) every rank trains on its shard of
the data; rank 0 alone validates, logs and writes checkpoints.

A model without trainable parameters (``copylast``) runs zero optimisation steps: it is
validated once and saved.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emberxr.data.loaders import EpochSampler
from emberxr.errors import CheckpointError
from emberxr.inference import amp_dtype
from emberxr.memory import retain_heap
from emberxr.progress import progress as progress_bar
from emberxr.train.checkpoint import CheckpointRecord, ResumeState, rng_state, set_rng_state
from emberxr.train.distributed import DistInfo, all_gather_objects, all_reduce_sum, barrier, broadcast_object
from emberxr.train.loss import FireLoss
from emberxr.train.metrics import MetricAccumulator, summary_keys

LAST = "last.pt"
BEST = "best.pt"
#: per-epoch values the trainer logs besides the validation summary
EPOCH_METRICS = ("val/loss", "train/loss_epoch")
#: a per-epoch hook: ``callback(epoch, metrics) -> stop``; see :class:`Trainer`
EpochCallback = Callable[[int, Mapping[str, float]], "bool | None"]


def monitor_keys(target: str = "cumulative") -> list[str]:
    """Every metric :class:`Trainer` logs per epoch for a target kind (``data.target``), i.e. the
    values ``training.monitor`` may name (no ``val/new_*`` for ``active`` targets)."""
    return [*summary_keys("val/", target), *EPOCH_METRICS]


def pretrained_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``model`` that were loaded from pretrained weights (empty if none)."""
    fn = getattr(model, "pretrained_parameters", None)
    return list(fn()) if callable(fn) else []


def resolve_lr_spatial(tcfg: Mapping[str, Any], loaded: bool) -> float:
    """``training.lr_spatial``: a number as given; ``auto`` = ``lr_temporal / 10`` when pretrained
    weights were loaded, else ``lr_temporal`` (a random decoder learns at the temporal rate)."""
    lr = tcfg["lr_spatial"]
    if lr == "auto":
        return float(tcfg["lr_temporal"]) / (10.0 if loaded else 1.0)
    return float(lr)


def hold_frozen_norms(model: nn.Module) -> None:
    """Put every BatchNorm layer whose parameters are all frozen in eval mode (running statistics
    are not updated), after ``model.train()``."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()


def _draws_on_iter(loader: Any) -> bool:
    """Whether ``iter(loader)`` draws from torch's global RNG: a DataLoader without its own
    generator draws its workers' base seed each time it starts a pass, unless its persistent
    workers already run."""
    if not isinstance(loader, torch.utils.data.DataLoader) or loader.generator is not None:
        return False
    return not (loader.persistent_workers and loader.num_workers > 0)


def start_pass(loader: Any, draws: int = 1) -> Iterator[Any]:
    """``iter(loader)``, with torch's global RNG advanced by ``draws`` numbers for a DataLoader
    (one is what a worker-less DataLoader draws itself), whatever the loader's workers: dropout
    masks (and so the trained weights) do not depend on ``data.num_workers``."""
    it = iter(loader)
    if isinstance(loader, torch.utils.data.DataLoader):
        for _ in range(draws - int(_draws_on_iter(loader))):
            torch.empty((), dtype=torch.int64).random_()
    return it


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Move the tensors of a batch dict to ``device`` (other values are kept)."""
    return {
        k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()
    }


def has_trainable(model: nn.Module) -> bool:
    """True when the model has at least one parameter that requires a gradient."""
    return any(p.requires_grad for p in model.parameters())


def sample_history(batch: Mapping[str, Any]) -> list[int]:
    """History available to each sample (``t + 1`` from ``meta``, else ``hist_len``), for strata."""
    meta = batch.get("meta")
    if meta and all(isinstance(m, Mapping) and "t" in m for m in meta):
        return [int(m["t"]) + 1 for m in meta]
    return [int(h) for h in batch["hist_len"].tolist()]


def event_ids(batch: Mapping[str, Any]) -> list[str] | None:
    """Event id of each sample (from ``meta``), or None."""
    meta = batch.get("meta")
    if meta and all(isinstance(m, Mapping) and "event_id" in m for m in meta):
        return [str(m["event_id"]) for m in meta]
    return None


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    loader: Any,
    threshold: float = 0.5,
    device: torch.device | str = "cpu",
    per_event: bool = True,
    progress: bool = False,
    on_first: Any = None,
    loss_fn: nn.Module | None = None,
    dist: DistInfo | None = None,
    desc: str = "evaluate",
    target: str = "cumulative",
) -> tuple[MetricAccumulator, float]:
    """Run a model over a loader and accumulate metrics.

    Under DDP (``dist`` with several ranks) every rank scores its own share of the batches
    (every ``world_size``-th sample of a map-style DataLoader's dataset, else every
    ``world_size``-th batch) and the ranks' counts are summed, so every rank returns the metrics
    of the whole loader: exactly what one process would report. Every rank must call it.
    ``target`` is the target kind (``data.target``): ``"active"`` targets get no new-burn metrics.

    Returns
    -------
    (MetricAccumulator, mean loss)
        The loss (mean over every rank's batches) is NaN when ``loss_fn`` is None.
    """
    from emberxr.models.base import last_frame

    dist = dist or DistInfo()
    device = torch.device(device)
    acc = MetricAccumulator(threshold, per_event=per_event, target=target)
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    shard = _rank_share(loader, dist)
    batches = len(shard) if hasattr(shard, "__len__") else None
    # two draws: a progress bar over the DataLoader itself (what emberxr did before) started it
    # twice (tqdm.auto calls iter() in its constructor), and results must stay the same
    it = start_pass(shard, draws=2)
    bar = progress_bar(it, desc, batches, enabled=progress and dist.is_main, unit="batch")
    for i, batch in enumerate(bar):
        batch = to_device(batch, device)
        logits = model(batch).float()
        acc.update(
            logits,
            batch["target"],
            batch["valid"],
            last_frame(batch),
            sample_history(batch),
            event_ids(batch),
        )
        if loss_fn is not None:
            total += float(loss_fn(logits, batch["target"], batch["valid"]))
            n += 1
        if i == 0 and on_first is not None:
            on_first(batch, logits)
    bar.close()
    model.train(was_training)
    if dist.enabled:
        acc = _sum_over_ranks(acc, dist)
        total, n = all_reduce_sum(torch.tensor([total, float(n)], dtype=torch.float64), dist).tolist()
    return acc, (total / n if n else float("nan"))


def _rank_share(loader: Any, dist: DistInfo) -> Any:
    """This rank's part of ``loader``: each sample (or batch) goes to exactly one rank, none twice."""
    if not dist.enabled:
        return loader
    from torch.utils.data import DataLoader, IterableDataset, SequentialSampler, Subset

    if (
        isinstance(loader, DataLoader)
        and not isinstance(loader.dataset, IterableDataset)
        and isinstance(loader.sampler, SequentialSampler)
    ):
        part = Subset(loader.dataset, range(dist.rank, len(loader.dataset), dist.world_size))
        return DataLoader(
            part,
            batch_size=loader.batch_size,
            collate_fn=loader.collate_fn,
            num_workers=loader.num_workers,
            pin_memory=loader.pin_memory,
        )
    import itertools

    return itertools.islice(loader, dist.rank, None, dist.world_size)


def _sum_over_ranks(acc: MetricAccumulator, dist: DistInfo) -> MetricAccumulator:
    """Every rank's counts summed (the same accumulator on every rank)."""
    states = all_gather_objects(acc.state(), dist)
    total = MetricAccumulator.from_state(states[0])
    for state in states[1:]:
        total.merge(MetricAccumulator.from_state(state))
    return total


class Trainer:
    """Train one model with one configuration.

    Parameters
    ----------
    model
        A :class:`emberxr.models.base.FireModel`.
    cfg
        Validated configuration (:func:`emberxr.train.config.load_config`).
    run_dir
        Where ``last.pt`` and ``best.pt`` go.
    checkpoint_extra
        :class:`~emberxr.train.checkpoint.CheckpointRecord` fields stored in every checkpoint
        (``model_name``, ``model_config``, ``norm_stats``, ``band_names``, ``data_config`` ...).
    dist
        DDP placement (default: one process).
    logger
        A :class:`emberxr.train.wandb_utils.WandbLogger` (or None).
    callbacks
        Per-epoch hooks, called on the main process after every validated epoch (after the
        checkpoints are written) as ``callback(epoch, metrics)`` with the values logged for that
        epoch (``val/*``, ``train/loss_epoch``). A callback returning True stops training after
        this epoch, like early stopping (the best checkpoint so far is kept); an exception it
        raises ends the run. Hyper-parameter searches use this to report to their pruner.
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: Mapping[str, Any],
        run_dir: str | Path,
        checkpoint_extra: Mapping[str, Any],
        dist: DistInfo | None = None,
        logger: Any = None,
        callbacks: Sequence[EpochCallback] = (),
    ):
        self.cfg = cfg
        self.tcfg = cfg["training"]
        self.model = model
        self.run_dir = Path(run_dir)
        self.extra = dict(checkpoint_extra)
        self.dist = dist or DistInfo()
        self.logger = logger
        self.callbacks = list(callbacks)
        self.device = resolve_device(self.tcfg["device"])
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.model.to(self.device)
        if self.device.type == "cpu":
            retain_heap()  # each step's activations stay in the heap for the next step
        self.trainable = has_trainable(model)
        # freezing (and the lower decoder learning rate) only apply to weights that were loaded
        self.pretrained = bool(pretrained_parameters(model))
        self.freeze_epochs = int(self.tcfg["freeze_epochs"]) if self.pretrained else 0
        self.history: list[dict[str, float]] = []
        self.best_metric: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.global_step = 0
        self.start_epoch = 1
        self._resume_step, self._resume_loss = 0, 0.0  # position in start_epoch (mid-epoch resume)
        self._pending_rng: dict[str, Any] | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.scaler: Any = None
        self._ddp: nn.Module | None = None
        self._ddp_frozen: bool | None = None
        amp = self.tcfg["amp"]
        self.amp_dtype: torch.dtype | None = None
        if amp is True or (amp == "auto" and self.device.type == "cuda"):
            self.amp_dtype = amp_dtype(self.device)

    # -- set-up ----------------------------------------------------------------------------------
    def _build_optimizer(self, steps_total: int) -> None:
        groups_src = (
            self.model.param_groups()
            if hasattr(self.model, "param_groups")
            else {"temporal": list(self.model.parameters())}
        )
        lrs = {
            "temporal": self.tcfg["lr_temporal"],
            "spatial": resolve_lr_spatial(self.tcfg, self.pretrained),
        }
        groups, seen = [], set()
        for gname, params in groups_src.items():
            lr = lrs.get(gname, self.tcfg["lr_temporal"])
            decay = [p for p in params if p.ndim > 1 and id(p) not in seen]
            no_decay = [p for p in params if p.ndim <= 1 and id(p) not in seen]
            seen.update(id(p) for p in params)
            for plist, wd, tag in ((decay, self.tcfg["weight_decay"], "decay"), (no_decay, 0.0, "no_decay")):
                if plist:
                    groups.append({"params": plist, "lr": lr, "weight_decay": wd, "name": f"{gname}/{tag}"})
        rest = [p for p in self.model.parameters() if id(p) not in seen]
        if rest:
            groups.append(
                {"params": rest, "lr": self.tcfg["lr_temporal"], "weight_decay": 0.0, "name": "other"}
            )
        self.optimizer = torch.optim.AdamW(groups)
        sched = self.tcfg["schedule"]
        if sched == "cosine":
            warm = int(self.tcfg["warmup_steps"])
            total = max(1, steps_total)

            def factor(step: int) -> float:
                if warm and step < warm:
                    return (step + 1) / warm
                prog = min(1.0, (step - warm) / max(1, total - warm))
                return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * prog))

            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        elif sched == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode=self.tcfg["monitor_mode"], factor=0.5, patience=2
            )
        else:
            self.scheduler = None
        if self.amp_dtype == torch.float16:
            self.scaler = torch.amp.GradScaler("cuda")

    def _net(self, frozen: bool) -> nn.Module:
        """The module to call for training (a DDP wrapper under torchrun, rebuilt after (un)freezing)."""
        if not self.dist.enabled:
            return self.model
        if self._ddp is None or self._ddp_frozen != frozen:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = DDP(self.model, device_ids=ids, find_unused_parameters=True)
            self._ddp_frozen = frozen
        return self._ddp

    def _autocast(self) -> Any:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # -- checkpoints -----------------------------------------------------------------------------
    def checkpoint_payload(
        self,
        epoch: int,
        metrics: Mapping[str, float],
        resume: bool,
        position: tuple[int, float, dict[str, Any]] | None = None,
    ) -> CheckpointRecord:
        """The checkpoint record of the current model state.

        Its threshold is None: the threshold is chosen after training (:func:`emberxr.fit`).
        ``resume`` adds the optimizer, scheduler, scaler and RNG state (``last.pt``);
        ``position`` = ``(steps done in epoch + 1, their summed loss, sampler settings)`` marks a
        checkpoint written part-way through epoch ``epoch + 1``.
        """
        state = None
        if resume:
            step, loss_sum, settings = position if position is not None else (0, 0.0, None)
            state = ResumeState(
                optimizer=self.optimizer.state_dict() if self.optimizer else None,
                scheduler=self.scheduler.state_dict() if self.scheduler is not None else None,
                scaler=self.scaler.state_dict() if self.scaler is not None else None,
                rng=rng_state(),
                best_metric=self.best_metric,
                best_epoch=self.best_epoch,
                bad_epochs=self.bad_epochs,
                global_step=self.global_step,
                epoch_step=int(step),
                epoch_loss_sum=float(loss_sum),
                sampler=settings,
            )
        return CheckpointRecord.of(
            self.model,
            **self.extra,
            threshold=None,
            config=dict(self.cfg),
            epoch=int(epoch),
            metrics={k: float(v) for k, v in metrics.items()},
            history=list(self.history),
            resume=state,
        )

    def _restore(self, path: Path, settings: Mapping[str, Any] | None = None) -> None:
        # read on CPU: RNG states must stay CPU tensors; weights and optimizer state are copied
        # or cast onto the parameters' device by load_state_dict
        ck = CheckpointRecord.load(path, map_location="cpu")
        fix = (
            "Resume with the same config and overrides as the interrupted run, or start a new run "
            "directory (--run-dir) without --resume."
        )
        want = self.extra.get("model_name")
        if want is not None and ck.model_name != want:
            raise CheckpointError(
                f"cannot resume from {path}: it holds {ck.model_name!r}, not {want!r}. {fix}"
            )
        try:
            self.model.load_state_dict(ck.state_dict)
        except RuntimeError as exc:
            raise CheckpointError(
                f"cannot resume from {path}: its weights do not fit this run's {want or 'model'} "
                f"(saved config {ck.model_config}). {fix}\n{exc}"
            ) from None
        r = ck.resume or ResumeState()
        if (
            r.epoch_step
            and r.sampler is not None
            and settings is not None
            and dict(r.sampler) != dict(settings)
        ):
            changed = ", ".join(
                f"{k} {r.sampler.get(k)!r} -> {settings.get(k)!r}"
                for k in sorted(set(r.sampler) | set(settings))
                if r.sampler.get(k) != settings.get(k)
            )
            raise CheckpointError(
                f"cannot resume {path} mid-epoch ({r.epoch_step} steps into epoch {ck.epoch + 1}): "
                f"the samples would not be the same ({changed}). {fix}"
            )
        if self.optimizer is not None and r.optimizer:
            self.optimizer.load_state_dict(r.optimizer)
        if self.scheduler is not None and r.scheduler:
            self.scheduler.load_state_dict(r.scheduler)
        if self.scaler is not None and r.scaler:
            self.scaler.load_state_dict(r.scaler)
        self._resume_step, self._resume_loss = int(r.epoch_step), float(r.epoch_loss_sum)
        if r.rng and self._resume_step:
            self._pending_rng = r.rng  # set once the data iterator of the resumed pass exists
        elif r.rng:
            set_rng_state(r.rng)
        self.best_metric = r.best_metric
        self.best_epoch = int(r.best_epoch)
        self.bad_epochs = int(r.bad_epochs)
        self.global_step = int(r.global_step)
        self.history = list(ck.history)
        self.start_epoch = int(ck.epoch) + 1

    # -- the loop --------------------------------------------------------------------------------
    def _batches(
        self, loader: Any, sampler: Any, epoch: int, steps: int | None, skip: int = 0
    ) -> Iterator[dict[str, Any]]:
        """The batches of ``epoch``: one pass (``steps`` None) or ``steps`` batches over as many
        passes as needed (pass ``j`` uses the sampler order of ``epoch * 1000 + j``), without the
        first ``skip`` ones, which are never read (a resumed epoch)."""
        settable = sampler is not None and hasattr(sampler, "set_epoch")
        if settable:
            sampler.set_epoch(epoch * 1000)
        sub, within = divmod(skip, max(1, len(loader))) if skip else (0, 0)
        done, first = skip, True
        while True:
            start = within * (getattr(loader, "batch_size", None) or 1) if first else 0
            if settable and start and isinstance(sampler, EpochSampler):
                sampler.set_epoch(epoch * 1000 + sub, start=start)
                start = 0
            elif settable and (sub or not first):
                sampler.set_epoch(epoch * 1000 + sub)
            it = start_pass(loader)
            if first and self._pending_rng is not None:
                set_rng_state(self._pending_rng)
                self._pending_rng = None
                if skip and within == 0 and isinstance(loader, torch.utils.data.DataLoader):
                    # the uninterrupted run started this pass after the checkpoint: its new
                    # DataLoader iterator drew one number from torch's RNG, draw it too
                    torch.empty((), dtype=torch.int64).random_()
            if start:  # a sampler that cannot start part-way: read and drop the done batches
                import itertools

                it = itertools.islice(it, within, None)
            first = False
            empty = True
            for batch in it:
                empty = False
                yield batch
                done += 1
                if steps is not None and done >= steps:
                    return
            if steps is None or empty:
                return
            sub += 1

    def _sampler_settings(self, loader: Any, sampler: Any) -> dict[str, Any]:
        """What a mid-epoch position refers to: a resumed run must have the same."""
        n = sampler.n if isinstance(sampler, EpochSampler) else len(getattr(loader, "dataset", loader))
        return {
            "samples": int(n),
            "batch_size": int(getattr(loader, "batch_size", None) or 1),
            "world": int(self.dist.world_size),
            "seed": int(self.tcfg["seed"]),
            "steps_per_epoch": self.tcfg["steps_per_epoch"],
        }

    def _improved(self, value: float) -> bool:
        if value is None or not math.isfinite(value):
            return self.best_metric is None
        if self.best_metric is None or not math.isfinite(self.best_metric):
            return True
        return value > self.best_metric if self.tcfg["monitor_mode"] == "max" else value < self.best_metric

    def validate(self, val_loader: Any, epoch: int, loss_fn: nn.Module) -> dict[str, float]:
        """The flat ``val/*`` metrics (empty without a validation loader).

        Under DDP every rank scores its share of the validation data and the counts are summed,
        so every rank gets the metrics of the whole split.
        """
        if val_loader is None:
            return {}

        def preview(batch: Any, logits: Any) -> None:
            if self.logger is not None and self.dist.is_main:
                self.logger.log_preview(batch, logits, epoch)

        acc, vloss = evaluate_model(
            self.model,
            val_loader,
            0.5,
            self.device,
            per_event=False,
            progress=self.tcfg["progress"],
            on_first=preview,
            loss_fn=loss_fn,
            dist=self.dist,
            desc="validate",
            target=self.cfg["data"]["target"],
        )
        out = acc.summary("val/")
        out["val/loss"] = vloss
        return out

    def fit(
        self,
        train_loader: Any,
        val_loader: Any,
        loss_fn: FireLoss,
        train_sampler: Any = None,
        resume: bool = False,
    ) -> dict[str, Any]:
        """Train; returns ``{"best_path", "last_path", "history", "best_metric", "best_epoch", "steps", "seconds"}``."""
        t0 = time.time()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        last_path, best_path = self.run_dir / LAST, self.run_dir / BEST
        monitor = self.tcfg["monitor"]
        seed_everything(self.tcfg["seed"] + self.dist.rank)
        epochs = self.tcfg["epochs"]
        steps_per_epoch = self.tcfg["steps_per_epoch"]
        n_steps = steps_per_epoch if steps_per_epoch is not None else max(1, len(train_loader))
        if not self.trainable:
            metrics = self.validate(val_loader, 0, loss_fn)
            if self.dist.is_main:
                self.history.append({"epoch": 0, **metrics})
                self.best_metric = metrics.get(monitor)
                self.checkpoint_payload(0, metrics, resume=False).save(best_path)
                self.checkpoint_payload(0, metrics, resume=True).save(last_path)
                if self.logger is not None:
                    self.logger.log({**metrics, "epoch": 0})
                self._call_back(0, metrics)
            barrier(self.dist)
            return self._result(best_path, last_path, t0)
        self._build_optimizer(epochs * n_steps)
        if self.pretrained and self.tcfg["progress"] and self.dist.is_main:
            n = sum(q.numel() for q in pretrained_parameters(self.model))
            print(
                f"[emberxr] {n:,} pretrained parameters: frozen for {self.freeze_epochs} epoch(s), "
                f"decoder learning rate {resolve_lr_spatial(self.tcfg, True):g}"
            )
            if (report := getattr(getattr(self.model, "decoder", None), "load_report", None)) is not None:
                print(f"[emberxr] decoder weights: {report}")  # what was loaded, mapped, skipped
        settings = self._sampler_settings(train_loader, train_sampler)
        if resume and last_path.exists():
            self._restore(last_path, settings)
            if self.dist.is_main:
                at = f" step {self._resume_step}" if self._resume_step else ""
                print(f"[emberxr] resuming from {last_path} at epoch {self.start_epoch}{at}")
        every = self.tcfg["checkpoint_every_steps"]
        if self.logger is not None:
            self.logger.watch(self.model)
        stop = False
        for epoch in range(self.start_epoch, epochs + 1):
            frozen = epoch <= self.freeze_epochs
            (self.model.freeze_decoder if frozen else self.model.unfreeze_decoder)()
            net = self._net(frozen)
            net.train()
            if frozen:
                hold_frozen_norms(self.model)
            bar = None
            skip = self._resume_step if epoch == self.start_epoch else 0
            it = self._batches(train_loader, train_sampler, epoch, steps_per_epoch, skip)
            if self.tcfg["progress"] and self.dist.is_main:
                bar = progress_bar(total=n_steps, desc=f"epoch {epoch}/{epochs}", unit="step")
                bar.update(skip)
            run_loss, seen = (self._resume_loss, skip) if skip else (0.0, 0)
            for batch in it:
                batch = to_device(batch, self.device)
                with self._autocast():
                    logits = net(batch)
                loss = loss_fn(logits.float(), batch["target"], batch["valid"])
                self.optimizer.zero_grad(set_to_none=True)
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    self.scaler.unscale_(self.optimizer)
                else:
                    loss.backward()
                if self.tcfg["grad_clip"]:
                    nn.utils.clip_grad_norm_(
                        [p for p in self.model.parameters() if p.grad is not None], self.tcfg["grad_clip"]
                    )
                if self.scaler is not None:
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
                if self.scheduler is not None and self.tcfg["schedule"] == "cosine":
                    self.scheduler.step()
                self.global_step += 1
                lv = float(loss.detach())
                run_loss += lv
                seen += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{run_loss / seen:.4f}")
                if self.logger is not None and self.dist.is_main and self.global_step % 10 == 0:
                    self.logger.log(
                        {
                            "train/loss": lv,
                            "train/lr": self.optimizer.param_groups[0]["lr"],
                            "train/step": self.global_step,
                        }
                    )
                if every and self.dist.is_main and seen % every == 0 and seen < n_steps:
                    done = dict(self.history[-1]) if self.history else {}
                    done.pop("epoch", None)
                    record = self.checkpoint_payload(epoch - 1, done, True, (seen, run_loss, settings))
                    record.save(last_path)
            if bar is not None:
                bar.close()
            metrics = self.validate(val_loader, epoch, loss_fn)
            if self.dist.is_main:
                metrics["train/loss_epoch"] = run_loss / max(seen, 1)
                value = metrics.get(monitor, float("nan"))
                if monitor not in metrics and val_loader is not None:
                    from emberxr.errors import ConfigError, Problem

                    raise ConfigError(
                        [
                            Problem(
                                f"'training.monitor' {monitor!r} is not a logged metric",
                                f"use one of {', '.join(monitor_keys(self.cfg['data']['target']))}",
                            )
                        ]
                    )
                if self.scheduler is not None and self.tcfg["schedule"] == "plateau" and math.isfinite(value):
                    self.scheduler.step(value)
                improved = self._improved(value)
                if improved:
                    self.best_metric, self.best_epoch, self.bad_epochs = value, epoch, 0
                    self.checkpoint_payload(epoch, metrics, resume=False).save(best_path)
                    if self.logger is not None:
                        self.logger.log_artifact(
                            str(best_path),
                            f"{self.extra.get('model_name', 'model')}-best",
                            {"epoch": epoch, monitor: value},
                        )
                else:
                    self.bad_epochs += 1
                self.history.append({"epoch": epoch, **metrics})
                patience = self.tcfg["early_stopping"]
                stop = patience is not None and self.bad_epochs >= patience
                self.checkpoint_payload(epoch, metrics, resume=True).save(last_path)
                if self.logger is not None:
                    self.logger.log({**metrics, "epoch": epoch})
                stop = self._call_back(epoch, metrics) or stop
                if self.tcfg["progress"]:
                    print(
                        f"[emberxr] epoch {epoch}: loss {metrics['train/loss_epoch']:.4f}  {monitor} {value:.4f}"
                        + ("  (best)" if improved else "")
                    )
            stop = bool(broadcast_object(stop, self.dist))
            if stop:
                break
        barrier(self.dist)
        return self._result(best_path, last_path, t0)

    def _call_back(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        """Run the per-epoch callbacks (every one of them); True when one asks to stop."""
        asked = [bool(cb(epoch, dict(metrics))) for cb in self.callbacks]
        return any(asked)

    def _result(self, best_path: Path, last_path: Path, t0: float) -> dict[str, Any]:
        return {
            "best_path": best_path,
            "last_path": last_path,
            "history": self.history,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "steps": self.global_step,
            "seconds": time.time() - t0,
        }
