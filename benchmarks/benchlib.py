"""What every benchmark script shares: options, machine details, raw results, generated blocks.

Each ``benchmarks/bench_*.py`` script

- measures and saves its raw results as JSON in ``benchmarks/results/<block>.json`` (so the doc can
  be re-rendered without re-measuring);
- renders each of its blocks of ``docs/benchmarks.md`` with a ``render(results) -> str`` function
  listed in its module-level ``BLOCKS = {block name: render}``, and writes it with
  :func:`emberxr.doc_blocks.replace_block` (``tests/test_benchmarks.py`` fails when a block differs
  from what its render function makes of the committed results);
- accepts ``--smoke`` (tiny sizes, seconds), ``--write`` (save results, rewrite the blocks and
  plots) and ``--doc`` / ``--results`` / ``--img`` (where; ``run_all.py --smoke`` points them at a
  temporary copy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "benchmarks" / "results"
IMG = ROOT / "docs" / "img"


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark script takes."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--write", action="store_true", help="save the results and rewrite docs/benchmarks.md")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: check that the script runs (seconds)")
    ap.add_argument("--doc", type=Path, default=DOC, help="the doc whose blocks are rewritten (--write)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder of the raw results (--write)")
    ap.add_argument("--img", type=Path, default=IMG, help="folder of the plots (--write)")
    return ap


def command(script: str, args: argparse.Namespace, options: list[str]) -> str:
    """The command line that reproduces a run (shown in the doc)."""
    parts = [".venv/bin/python", f"benchmarks/{script}", *options]
    if args.smoke:
        parts.append("--smoke")
    return shlex.join([*parts, "--write"])


def machine(threads: Any = None) -> dict[str, Any]:
    """Where a benchmark ran: CPU, cores, load, library versions."""
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch"] = torch.__version__.split("+")[0]
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        pass
    if threads is not None:
        info["threads"] = threads
    for var in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS"):  # they change timings; say when set
        if os.environ.get(var):
            info.setdefault("env", {})[var] = os.environ[var]
    if hasattr(os, "getloadavg"):
        info["load_1min"] = round(os.getloadavg()[0], 1)
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(m: Mapping[str, Any]) -> str:
    """One sentence with the machine details of a result."""
    parts = [f"{m.get('cpu', m.get('machine', '?'))}, {m.get('cores', '?')} logical CPU"]
    if m.get("gpu"):
        parts.append(f"GPU {m['gpu']}")
    parts.append(f"Python {m.get('python', '?')}")
    if m.get("torch"):
        parts.append(f"torch {m['torch']}")
    if m.get("env"):
        parts.append("environment " + " ".join(f"{k}={v}" for k, v in sorted(m["env"].items())))
    if m.get("load_1min") is not None:
        parts.append(f"load average {m['load_1min']} when it started (other jobs share the machine)")
    return "Machine: " + ", ".join(parts) + "."


def save(results: Mapping[str, Any], block: str, args: argparse.Namespace) -> Path:
    """Write the raw results of ``block`` (``bench:NAME`` → ``NAME.json``)."""
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{block.removeprefix('bench:')}.json"
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return path


def load(block: str, results: Path = RESULTS) -> dict[str, Any]:
    """The saved raw results of ``block``."""
    return json.loads((results / f"{block.removeprefix('bench:')}.json").read_text())


def publish(
    args: argparse.Namespace, blocks: Mapping[str, Callable[[dict], str]], results: Mapping[str, dict]
) -> None:
    """Print each block; with ``--write`` save its results and rewrite it in the doc."""
    from emberxr.doc_blocks import replace_block

    for name, render in blocks.items():
        if name not in results:
            continue
        text = render(results[name])
        print(text, flush=True)
        if args.write:
            save(results[name], name, args)
            replace_block(args.doc, name, text)


def synthetic_event(size: int, frames: int, chunk: int = 512, bands: int = 4, time_chunk: int = 1) -> Any:
    """A Dask-backed FireEvent of ``size``² cells: a growing ellipse fire, smooth static bands.

    Nothing is computed here: every block is made on demand, so events of any size can be
    written to zarr (``emberxr.io.events.save_events``) chunk by chunk.
    """
    import dask.array as da
    import numpy as np
    import rioxarray  # noqa: F401
    import xarray as xr

    def fire_block(block_info=None):
        (t0, t1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
        t = np.arange(t0, t1)[:, None, None]
        yy, xx = np.mgrid[y0:y1, x0:x1]
        d = np.hypot((yy - size / 2) / 1.0, (xx - size / 3) / 1.7)
        return (d[None] < size * 0.05 * (1 + t)).astype(np.uint8)

    def static_block(block_info=None):
        (b0, b1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        return np.stack([np.sin(xx / (50 + 10 * b)) * 100 + yy * 0.01 * b for b in range(b0, b1)]).astype(
            np.float32
        )

    def axis(n: int, c: int) -> tuple[int, ...]:
        return (c,) * (n // c) + ((n % c,) if n % c else ())

    chunk = min(chunk, size)
    fire = da.map_blocks(
        fire_block, chunks=(axis(frames, time_chunk), axis(size, chunk), axis(size, chunk)), dtype=np.uint8
    )
    static = da.map_blocks(
        static_block, chunks=((1,) * bands, axis(size, chunk), axis(size, chunk)), dtype=np.float32
    )
    valid = da.ones((size, size), dtype=bool, chunks=chunk)
    x = 500_000.0 + 15.0 + 30.0 * np.arange(size)
    y = 4_200_000.0 - 15.0 - 30.0 * np.arange(size)
    ds = xr.Dataset(
        {
            "fire": (("time", "y", "x"), fire),
            "static": (("band", "y", "x"), static),
            "wind_u": (("time",), np.full(frames, 4.0, np.float32)),
            "wind_v": (("time",), np.full(frames, 1.0, np.float32)),
            "valid": (("y", "x"), valid),
        },
        coords={
            "time": np.datetime64("2026-07-01T12:00") + np.arange(frames) * np.timedelta64(1, "h"),
            "y": y,
            "x": x,
            "band": np.array([f"b{i}" for i in range(bands)]),
            "band_kind": ("band", np.array(["continuous"] * bands)),
        },
        attrs={"event_id": f"bench-{size}", "source": "benchmark", "time_step_hours": 1.0},
    )
    return ds.rio.write_crs("EPSG:32611")


def demo_fitted(
    name: str,
    n_static: int,
    stats: Any = None,
    tile_size: int | None = 64,
    max_history: int = 8,
    model: dict[str, Any] | None = None,
) -> Any:
    """A :class:`emberxr.Fitted` with the architecture ``make demo`` trains (``configs/demo.yaml``:
    EmberFormer's ``cpu`` preset, patch 16, 64² training tiles), here with ``max_history`` frames
    and random weights (speed and memory do not depend on the weights). ``model``: options that
    replace the preset's (e.g. ``{"decoder_config": {"widths": [16, 16, 48]}}``)."""
    import torch

    from emberxr.api import Fitted
    from emberxr.registry import create_model, get_model_class
    from emberxr.train.config import build_config, model_kwargs

    over: dict[str, Any] = {"max_history": max_history, "patch_size": 16, "tile_size": tile_size}
    if name == "emberformer":
        over["model__preset"] = "cpu"
    over.update({f"model__{k}": v for k, v in (model or {}).items()})
    cfg = build_config(name, None, over)
    torch.manual_seed(0)
    net = create_model(name, **model_kwargs(cfg, get_model_class(name), n_static))
    return Fitted(net, name, cfg, stats, 0.5)
