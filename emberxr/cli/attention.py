"""``emberxr attention CKPT DATA``: where a trained EmberFormer looks, in time and in space.

    emberxr attention runs/emberformer-.../model.pt sim-small --split test -o attention/
    emberxr attention model.pt sim-small --event sim-small-00003 --time 5 --patch 3,4

Writes attention_by_age.csv (attention mass per sample, head and frame age), attention_summary.csv
(per history length: mass on the last frame, the last three and older frames, against uniform),
temporal_attention.png and, for a model with spatial attention layers, spatial_attention.png (one
patch's attention over the event's patch grid), and prints the answer to "are early frames
attended?". See emberxr.attention.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``attention`` sub-command."""
    p = subparsers.add_parser(
        "attention",
        help="temporal attention by frame age and history length, spatial attention maps (EmberFormer)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="CKPT", help="an EmberFormer checkpoint (model.pt / best.pt)")
    p.add_argument("data", metavar="DATA", help="catalog name/path, event store or raw folder")
    p.add_argument("--split", default="test", help="split to analyse (default test)")
    p.add_argument(
        "-o", "--output-dir", default="attention", help="where tables and PNGs go (default attention/)"
    )
    p.add_argument("--max-samples", type=int, default=2000, help="samples analysed (default 2000; 0 = all)")
    p.add_argument("--batch-size", type=int, help="evaluation batch size (default: the training config's)")
    p.add_argument("--event", help="event id of the spatial map (default: the sample with the most new burn)")
    p.add_argument("--time", type=int, help="last observed frame t of the spatial map's sample")
    p.add_argument("--patch", help="query patch ROW,COL of the spatial map (default: most new burn)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr attention``."""
    from emberxr.api import load
    from emberxr.attention import analyze_attention
    from emberxr.errors import ConfigError, Problem

    patch = None
    if args.patch:
        try:
            patch = tuple(int(v) for v in args.patch.split(","))
            assert len(patch) == 2
        except (ValueError, AssertionError):
            raise ConfigError(
                [Problem(f"--patch {args.patch!r}", "give ROW,COL on the patch grid, e.g. 3,4")]
            ) from None
    fitted = load(args.checkpoint)
    rep = analyze_attention(
        fitted,
        args.data,
        args.split,
        args.output_dir,
        max_samples=args.max_samples or None,
        batch_size=args.batch_size,
        event=args.event,
        time=args.time,
        patch=patch,
        progress=args.progress,
    )
    cols = ["hist_len", "n_samples", "last", "last3", "older", "uniform_last", "uniform_last3"]
    for scope in ("fire", "all"):
        s = rep.summary[rep.summary["scope"] == scope][cols]
        print(f"temporal attention ({scope} patches): mean share per history length")
        print(s.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(rep.answer)
    print(f"attention on padded frames: max {rep.padded_mass_max:.2e} (must be 0)")
    if rep.spatial is not None:
        m = rep.spatial["meta"]
        print(f"spatial map: event {m.get('event_id')} t={m.get('t')}, query patch {rep.spatial['patch']}")
    for note in rep.notes:
        print(f"note: {note}")
    for f in rep.files:
        print(f"wrote {f}")
    return 0
