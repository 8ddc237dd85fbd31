"""``emberxr fit CONFIG [key=value ...]``: train a model from a YAML config with dotted overrides.

Runs in one process, or under DDP when launched by ``torchrun``::

    emberxr fit configs/emberformer.yaml model.d_model=128 training.epochs=5
    torchrun --nproc_per_node=2 -m emberxr fit configs/emberformer.yaml
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fit`` sub-command."""
    p = subparsers.add_parser(
        "fit",
        help="train a model (YAML config + dotted overrides); torchrun-aware",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "config", metavar="CONFIG", help="YAML config (configs/*.yaml) or a bare name such as 'emberformer'"
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, e.g. model.d_model=128 training.epochs=5",
    )
    p.add_argument(
        "--data", help="catalog name/path, event store (zarr) (default: data.catalog of the config)"
    )
    p.add_argument("--model", help="model name (overrides model.name)")
    p.add_argument(
        "--run-dir",
        help="checkpoint directory (default: training.output_dir/<run_name>, else a new <model>-<timestamp>)",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue from RUN_DIR/last.pt (the last complete epoch)"
    )
    p.add_argument("--no-wandb", action="store_true", help="turn W&B logging off")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr fit``."""
    from emberxr.api import fit
    from emberxr.train.config import merge_overrides, read_yaml

    extra = list(args.overrides)
    if args.no_wandb:
        extra.append("wandb.enabled=false")
    cfg = merge_overrides(read_yaml(args.config), extra)  # fit validates it all at once
    fitted = fit(args.data, model=args.model, config=cfg, resume=args.resume, run_dir=args.run_dir)
    import os

    from emberxr.train.distributed import env_world_size

    if int(os.environ.get("RANK", "0")) == 0:
        where = fitted.run_dir / "model.pt" if fitted.run_dir else "?"
        n = env_world_size()
        print(
            f"[emberxr] {fitted.model_name}: epoch {fitted.epoch}, threshold {fitted.threshold:.3f}, "
            f"{fitted.steps} steps in {fitted.train_seconds:.0f} s on {n} process(es) -> {where}"
        )
    return 0
