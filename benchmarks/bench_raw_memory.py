"""Raw reader memory benchmark: peak RSS of opening large raw event folders.

Two folders are written to a temporary directory (``--size`` cells square, default 20000):

* **reject**: a sparse ``size``² terrain (tiled, DEFLATE: a few MB) with two 48×48 PNG frames,
  which the reader must reject (PNG size differs from the grid);
* **big**: the same terrain with two ``size``² PNG frames: a legitimate two-frame event.

Each case runs in its own child process, which records its peak resident set with
``resource.getrusage`` (``ru_maxrss``): ``RawReader().open`` alone (headers checked, event built
lazily; the untagged terrain band is read once, in chunks, to tell binary from continuous), and
``emberxr.open_event`` (the same plus :func:`emberxr.validate`: one streamed pass over every
pixel). Children run under a 12 GiB address-space limit so a regression cannot exhaust a shared
machine.

Usage::

    .venv/bin/python benchmarks/bench_raw_memory.py            # print the markdown section
    .venv/bin/python benchmarks/bench_raw_memory.py --write    # also update docs/benchmarks.md
    .venv/bin/python benchmarks/bench_raw_memory.py --size 4000
    .venv/bin/python benchmarks/bench_raw_memory.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib

BLOCK = "bench:raw-memory"
#: targets (GiB): a rejected folder reads no pixel; a two-frame 20000² event validates in a
#: fraction of what the eager reader needed (10.6 GiB)
TARGETS = {"reject": 0.5, "big": 4.0}
_LIMIT = 12 * 2**30


def make_folders(root: Path, size: int) -> None:
    """Write the ``reject`` and ``big`` raw folders (terrain streamed block by block)."""
    import numpy as np
    import rasterio
    from PIL import Image
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    blk = 512
    for case, png in (("reject", 48), ("big", size)):
        folder = root / case
        (folder / "fire").mkdir(parents=True)
        profile = {
            "driver": "GTiff",
            "width": size,
            "height": size,
            "count": 1,
            "dtype": "float32",
            "crs": "EPSG:32611",
            "transform": from_origin(500_000, 4_200_000, 30, 30),
            "tiled": True,
            "blockxsize": blk,
            "blockysize": blk,
            "compress": "DEFLATE",
            "nodata": np.nan,
        }
        with rasterio.open(folder / "terrain.tif", "w", **profile) as dst:
            dst.set_band_description(1, "elevation")
            zeros = np.zeros((blk, blk), np.float32)
            for r in range(0, size, blk):
                for c in range(0, size, blk):
                    h, w = min(blk, size - r), min(blk, size - c)
                    dst.write(zeros[:h, :w] + (100.0 if r == c == 0 else 0.0), 1, window=Window(c, r, w, h))
        for t in range(2):
            a = np.zeros((png, png), np.uint8)
            m = png // 2
            a[m - 1 - t : m + 1 + t, m - 1 - t : m + 1 + t] = 255
            Image.fromarray(a).save(folder / "fire" / f"{t:04d}.png")
            del a
        (folder / "wind.csv").write_text("time,u,v\n2026-07-01T12:00:00,1,0\n2026-07-01T13:00:00,1,0\n")


def child(folder: str, mode: str) -> None:
    """Open ``folder`` (mode ``open`` or ``validate``) and print a JSON line with the peak RSS."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (_LIMIT, _LIMIT))
    import emberxr
    from emberxr.errors import EmberxrError
    from emberxr.readers.raw_reader import RawReader

    t0 = time.perf_counter()
    try:
        if mode == "open":
            RawReader().open(folder)
        else:
            emberxr.open_event(folder)
        outcome = "opened"
    except MemoryError:
        outcome = "MemoryError"
    except EmberxrError as exc:
        lines = str(exc).replace(f"{folder}/", "").splitlines()
        first = (lines[1] if len(lines) > 1 else lines[0]).strip().removeprefix("1. ")
        outcome = f"{type(exc).__name__}: {first.split(' (rows')[0]}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30
    print(json.dumps({"peak_gib": peak, "seconds": time.perf_counter() - t0, "outcome": outcome}))


def run(size: int) -> dict:
    """Write the folders, open each in a child process; the raw results."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="emberxr-raw-mem-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        make_folders(root, size)
        made = time.perf_counter() - t0
        terrain_mb = (root / "big" / "terrain.tif").stat().st_size / 1e6
        png_mb = (root / "big" / "fire" / "0000.png").stat().st_size / 1e6
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        for case in ("reject", "big"):
            for mode in ("open", "validate"):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(root / case), mode],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=True,
                )
                res = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append({"case": case, "mode": mode, **res})
    return {"rows": rows, "size": size, "terrain_mb": terrain_mb, "png_mb": png_mb, "write_seconds": made}


def render(r: dict) -> str:
    """The ``bench:raw-memory`` block."""
    size = r["size"]
    what = {
        "reject": f"{size}² terrain + two 48² PNGs",
        "big": f"{size}² terrain + two {size}² PNGs",
    }
    call = {"open": "`RawReader().open`", "validate": "`emberxr.open_event` (open + validate)"}
    lines = [
        f"Peak RSS of a child process opening a raw event folder; terrain {r['terrain_mb']:.1f} MB on disk "
        f"(sparse, tiled DEFLATE), each large PNG {r['png_mb']:.2f} MB (folders written in "
        f"{r['write_seconds']:.0f} s). {benchlib.machine_line(r['machine'])}",
        "",
        "| folder | call | peak RSS (GiB) | target (GiB) | seconds | outcome |",
        "|---|---|---:|---:|---:|---|",
    ]
    for x in r["rows"]:
        case, mode = x["case"], x["mode"]
        target = TARGETS[case] if (case == "reject" or mode == "validate") else None
        lines.append(
            f"| {what[case]} | {call[mode]} | {x['peak_gib']:.2f} | "
            f"{'< ' + str(target) if target else '—'} | {x['seconds']:.1f} | {x['outcome']} |"
        )
    lines += ["", f"Command: `{r['command']}`"]
    return "\n".join(lines)


BLOCKS = {BLOCK: render}


def main(argv: list[str] | None = None) -> int:
    ap = benchlib.parser(__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=20000, help="cells per side (default 20000)")
    ap.add_argument("--child", nargs=2, metavar=("FOLDER", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if args.smoke:
        args.size = 600
    results = run(args.size)
    opts = [] if args.smoke or args.size == 20000 else [f"--size={args.size}"]
    results.update(machine=benchlib.machine(1), command=benchlib.command("bench_raw_memory.py", args, opts))
    benchlib.publish(args, BLOCKS, {BLOCK: results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
