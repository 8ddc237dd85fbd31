"""``emberxr pretrain``: pretrain a decoder's encoder on simulated fires (next-step spread).

Writes the weight file ``model.pretrained: true`` loads (``$EMBERXR_WEIGHTS_DIR`` or
``~/.cache/emberxr/weights/<decoder>-<encoder>.pt``), or ``-o FILE``::

    emberxr pretrain                                         # segformer / mit_b0 on sim-wide-small (or sim-small)
    emberxr pretrain --decoder unet --steps 2000 --device cuda
    emberxr pretrain --data sim-small --dtype float16 -o segformer-mit_b0.pt
    emberxr pretrain --run-dir runs/pre --resume             # continue an interrupted run
    emberxr pretrain data.tile_size=128 training.lr_temporal=2e-3

Only the train and val splits are read. See docs/models.md ("Pretrained encoders").
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pretrain`` sub-command."""
    p = subparsers.add_parser(
        "pretrain",
        help="pretrain a decoder encoder on simulated fires; writes the file pretrained: true loads",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        help="catalog name/path or event store (default: sim-wide-small if installed, else sim-small)",
    )
    p.add_argument(
        "--decoder", default="segformer", help="decoder with an encoder: unet, segformer (default)"
    )
    p.add_argument("--encoder", help="its encoder (default: the decoder's, e.g. mit_b0, resnet18)")
    p.add_argument("--steps", type=int, default=500, help="optimisation steps (default 500)")
    p.add_argument("--batch-size", type=int, default=8, help="samples per step (default 8)")
    p.add_argument(
        "--epoch-steps",
        type=int,
        default=100,
        help="steps between validations and resumable checkpoints (default 100)",
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "float16", "bfloat16"),
        help="storage dtype of the file (float16 halves it; default float32)",
    )
    p.add_argument(
        "-o", "--output", help="weight file to write (default: where pretrained: true looks first)"
    )
    p.add_argument(
        "--run-dir",
        help="checkpoints of the run (default: a new runs/pretrain-<decoder>-<encoder>-<timestamp>)",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --run-dir from its last complete epoch"
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (training.num_threads)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides of the pretraining config, e.g. data.tile_size=128 "
        "model.decoder_config.encoder_depth=4",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr pretrain``."""
    from emberxr.pretrain import pretrain

    overrides = list(args.overrides)
    if args.threads is not None:
        overrides.append(f"training.num_threads={args.threads}")
    result = pretrain(
        args.data,
        decoder=args.decoder,
        encoder=args.encoder,
        steps=args.steps,
        batch_size=args.batch_size,
        epoch_steps=args.epoch_steps,
        device=args.device,
        seed=args.seed,
        output=args.output,
        run_dir=args.run_dir,
        resume=args.resume,
        dtype=args.dtype,
        overrides=overrides,
    )
    m = result.metadata
    loss = m["metrics"].get("val/loss", float("nan"))
    size = result.path.stat().st_size / 1e6
    print(
        f"[emberxr] pretrained {m['decoder']}/{m['encoder']} on {m['catalog']} ({m['train_events']} train "
        f"events): {m['steps']} steps in {m['train_seconds']:.0f} s, val loss {loss:.4f} -> {result.path} "
        f"({size:.1f} MB, {m['in_channels']} input channels)"
    )
    return 0
