"""``emberxr export CKPT --format onnx|exported-program [-o FILE]``: a checkpoint as a deployable file.

``onnx`` writes an ONNX model (run it with ONNX Runtime; needs ``pip install 'emberxr[export]'``),
``exported-program`` a ``torch.export`` archive (``.pt2``). Either file carries the normalisation
statistics, the band list, the threshold, the patch size and the history length as metadata, and
``emberxr predict FILE EVENT -o out.tif`` runs it like the checkpoint. After writing, the exported
model is compared with the eager PyTorch model on random histories with different left paddings
(``--no-check`` skips it); a difference above 1e-4 in probability is an error. Exporting and the
check run on the CPU; ``emberxr predict FILE ... --device cuda`` runs the file on a GPU.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` sub-command."""
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint to ONNX or a torch.export program (with a parity check)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint written by fit (model.pt)")
    p.add_argument(
        "--format",
        choices=("onnx", "exported-program"),
        default="onnx",
        help="onnx (.onnx, ONNX Runtime) or exported-program (.pt2, torch.export); default onnx",
    )
    p.add_argument("-o", "--output", help="output file (default: next to CKPT, named after the model)")
    p.add_argument("--no-check", action="store_true", help="skip the parity check against the eager model")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emberxr export``."""
    from pathlib import Path

    import emberxr
    from emberxr.export import FORMATS, export_model

    fitted = emberxr.load(args.checkpoint)
    out = args.output or Path(args.checkpoint).with_name(f"{fitted.model_name}{FORMATS[args.format]}")
    exported = export_model(fitted, out, args.format, check=not args.no_check)
    check = "not checked" if exported.parity is None else f"parity max |Δp| = {exported.parity:.1e}"
    print(f"[emberxr] {fitted.model_name} exported as {args.format} -> {exported.path} ({check})")
    return 0
