"""Training throughput: samples/s per model at 128² and 256², and EmberFormer's cost against T.

A training step is forward + backward + AdamW on a synthetic batch (``emberxr.testing.make_batch``:
B=8, 8 static bands, patch 16, full histories, no tokens: the model cuts them), the models in their
``make demo`` form (EmberFormer's ``cpu`` preset, U-TAE small, U-Net-S). Samples/s is ``B`` over the
median step time after a warm-up step.

History length: EmberFormer (``cpu`` preset, ``max_seq_len = max_history = T``) at 128², B=8, for
T = 4, 8, 16, 32, with every attention layer on the fused path
(``scaled_dot_product_attention``) and on the explicit path (``AttentionBlock.fused = False``:
``softmax(q kᵀ/√d) v`` written out), training step and inference forward. The temporal attention
costs O(T²) per patch, the rest of the model O(T) (token embedding) or O(1) (the decoder).
The process keeps its heap between steps (``emberxr.memory.retain_heap``), as ``emberxr.fit``
does on the CPU.

Usage::

    .venv/bin/python benchmarks/bench_throughput.py --write    # ~5 min on 2 idle cores
    .venv/bin/python benchmarks/bench_throughput.py --smoke
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib

BLOCK = "bench:throughput"
MODELS = ("emberformer", "utae", "unets")
LABELS = {"emberformer": "EmberFormer (demo `cpu` preset)", "utae": "U-TAE (small)", "unets": "U-Net-S"}
PLOT = "bench-history-length.png"


def _model(name: str, T: int, fused: bool = True):
    from emberxr.layers import AttentionBlock
    from emberxr.models.emberformer import PRESETS
    from emberxr.registry import create_model

    extra = {**PRESETS["cpu"], "max_seq_len": T} if name == "emberformer" else {}
    model = create_model(name, in_static=8, patch_size=16, max_history=T, **extra)
    model.record_attention = False  # every layer on the chosen path
    for m in model.modules():
        if isinstance(m, AttentionBlock):
            m.fused = fused
    return model


def _batch(B: int, T: int, size: int):
    from emberxr.testing import make_batch

    return make_batch(B=B, T=T, H=size, W=size, in_static=8, patch_size=16, hist_lens=[T] * B, invalid_cols=0,
                      tokens=False)  # fmt: skip


def _time(fn, repeats: int) -> tuple[float, float]:
    """Median wall and process CPU seconds of ``fn`` after a warm-up call."""
    fn()
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpu)


def _train_step(model, batch):
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def step():
        out = model(batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out, batch["target"])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def _forward(model, batch):
    import torch

    model.eval()

    def fwd():
        with torch.inference_mode():
            model(batch)

    return fwd


def measure(
    sizes: list[int], history: int, lengths: list[int], batch: int, repeats: int, threads: int
) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    models = []
    for size in sizes:
        b = _batch(batch, history, size)
        for name in MODELS:
            s, c = _time(_train_step(_model(name, history), b), repeats)
            row = {"model": name, "size": size, "step_s": s, "step_cpu_s": c, "samples_per_s": batch / s}
            print(row, flush=True)
            models.append(row)
    lengths_rows = []
    size = min(sizes)
    for T in lengths:
        b = _batch(batch, T, size)
        for fused in (True, False):
            m = _model("emberformer", T, fused)
            row = {"T": T, "fused": fused}
            row["step_s"], row["step_cpu_s"] = _time(_train_step(m, b), repeats)
            row["forward_s"], row["forward_cpu_s"] = _time(_forward(m, b), repeats)
            print(row, flush=True)
            lengths_rows.append(row)
    return {"models": models, "lengths": lengths_rows, "length_size": size}


def render(r: dict) -> str:
    """The ``bench:throughput`` block."""
    sizes = sorted({x["size"] for x in r["models"]})
    lines = [
        f"Training throughput (forward + backward + AdamW, B={r['batch']}, T={r['history']}, 8 static bands, "
        f"{r['threads']} torch thread(s), median of {r['repeats']} steps after a warm-up; in brackets the "
        f"process CPU seconds per step, all threads together, which a shared machine disturbs less). "
        f"{benchlib.machine_line(r['machine'])}",
        "",
        "| model | " + " | ".join(f"samples/s at {s}²" for s in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for m in MODELS:
        cells = [next((x for x in r["models"] if x["model"] == m and x["size"] == s), None) for s in sizes]
        text = ["—" if c is None else f"{c['samples_per_s']:.1f} ({c['step_cpu_s']:.2f} s)" for c in cells]
        lines.append(f"| {LABELS[m]} | " + " | ".join(text) + " |")
    by = {(x["T"], x["fused"]): x for x in r["lengths"]}
    Ts = sorted({x["T"] for x in r["lengths"]})
    lines += [
        "",
        f"EmberFormer against the history length T (`max_seq_len = T`, {r['length_size']}², B={r['batch']}), "
        "seconds per training step and per inference forward (CPU seconds in brackets), fused "
        "(`scaled_dot_product_attention`) and explicit attention:",
        "",
        f"| T | step, fused | step, explicit | forward, fused | forward, explicit | step vs T={Ts[0]} |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    base = by[(Ts[0], True)]["step_s"]
    for T in Ts:
        f, e = by[(T, True)], by[(T, False)]
        cells = [f"{x['step_s']:.3f} ({x['step_cpu_s']:.3f})" for x in (f, e)]
        cells += [f"{x['forward_s']:.3f} ({x['forward_cpu_s']:.3f})" for x in (f, e)]
        lines.append(f"| {T} | " + " | ".join(cells) + f" | {f['step_s'] / base:.2f}× |")
    lines += ["", f"![EmberFormer time against history length](img/{PLOT})", "", f"Command: `{r['command']}`"]
    return "\n".join(lines)


BLOCKS = {BLOCK: render}


def plot(r: dict, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ts = sorted({x["T"] for x in r["lengths"]})
    by = {(x["T"], x["fused"]): x for x in r["lengths"]}
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for fused, style in ((True, "o-"), (False, "s--")):
        name = "fused" if fused else "explicit"
        ax.plot(Ts, [by[(T, fused)]["step_s"] for T in Ts], style, label=f"training step, {name}")
        ax.plot(Ts, [by[(T, fused)]["forward_s"] for T in Ts], style, alpha=0.6, label=f"forward, {name}")
    ax.set(xscale="log", yscale="log", xlabel="history length T", ylabel="seconds",
           title=f"EmberFormer, {r['length_size']}², B={r['batch']}")  # fmt: skip
    ax.set_xticks(Ts, [str(T) for T in Ts])
    ax.legend(fontsize=7)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(folder / PLOT, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = benchlib.parser(__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--history", type=int, default=8)
    ap.add_argument("--lengths", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    from emberxr.memory import retain_heap

    retain_heap()  # as the training loop and the CPU runner do: each step's memory is reused
    if args.smoke:
        args.sizes, args.history, args.lengths, args.batch, args.repeats, args.threads = (
            [32],
            3,
            [2, 4],
            2,
            1,
            1,
        )
    results = measure(args.sizes, args.history, args.lengths, args.batch, args.repeats, args.threads)
    results.update(
        batch=args.batch,
        history=args.history,
        repeats=args.repeats,
        threads=args.threads,
        machine=benchlib.machine(args.threads),
        command=benchlib.command(
            "bench_throughput.py", args, [f"--threads={args.threads}"] if args.threads != 2 else []
        ),
    )
    benchlib.publish(args, BLOCKS, {BLOCK: results})
    if args.write:
        plot(results, args.img)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
