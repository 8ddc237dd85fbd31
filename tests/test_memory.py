"""emberxr.memory.release: glibc's malloc_trim where there is one, called after large lazy passes."""

from __future__ import annotations

import platform

import numpy as np
import pytest

from emberxr import memory


def test_release_finds_malloc_trim_on_glibc_and_returns_a_bool():
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert memory._trim() is not None
    assert isinstance(memory.release(), bool)


def test_release_is_a_no_op_without_malloc_trim(monkeypatch):
    monkeypatch.setattr(memory, "_trim", lambda: None)
    assert memory.release() is False


@pytest.fixture
def lazy_scene(make_synthetic_event, tmp_path):
    import emberxr
    from emberxr.io.events import save_event

    ev = make_synthetic_event(height=72, width=40, invalid_border=0)
    path = tmp_path / "scene.zarr"
    enc = {"fire": {"chunks": (8, 16, 40)}, "static": {"chunks": (4, 16, 40)}, "valid": {"chunks": (16, 40)}}
    save_event(ev, path, encoding=enc)
    return ev, emberxr.open_event(path, validate=False)


def test_validation_and_streamed_prediction_give_memory_back(lazy_scene, monkeypatch):
    import emberxr.inference as inference
    import emberxr.validate as validate_mod
    from emberxr.normalize import compute_stats
    from emberxr.registry import create_model

    ev, lazy = lazy_scene
    calls = []
    monkeypatch.setattr(validate_mod, "release", lambda: calls.append("validate") or True)
    monkeypatch.setattr(inference, "release", lambda: calls.append("predict") or True)
    validate_mod.validate(ev)  # in memory: nothing to give back
    assert calls == []
    validate_mod.validate(lazy)  # small: loaded at once, then checked in memory
    assert calls == []
    monkeypatch.setattr(validate_mod, "_LOAD_BELOW_BYTES", 0)  # as a large event: one Dask pass
    validate_mod.validate(lazy)
    assert calls == ["validate"]
    stats = compute_stats([ev])
    model = create_model("conv2d", in_static=stats.n_static, max_history=4).eval()
    fire = np.asarray(ev["fire"].values[None, :4])
    wind = np.zeros((1, 4, 2), np.float32)
    inference.predict_histories(
        model,
        stats,
        lazy,
        fire,
        wind,
        ev["time"].values[:4],
        max_history=4,
        patch_size=8,
        tile_size=24,
        overlap=8,
        batch_size=2,
    )
    assert calls.count("predict") >= 2  # the 72 rows pass 16-row blocks: some are let go on the way


_CALLS = """
import resource, sys
import torch
from emberxr import memory
from emberxr.decoders.light import LightDecoder
torch.set_num_threads(1)
if sys.argv[1] == "retain":
    assert memory.retain_heap() is True
    assert memory.retain_heap() is True  # once per process: the second call changes nothing
torch.manual_seed(0)
net = LightDecoder(16, 6).eval()
context, fine = torch.randn(16, 16, 4, 4), torch.randn(16, 6, 64, 64)
with torch.inference_mode():
    for _ in range(3):  # the first calls grow the heap
        net(context, fine)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        net(context, fine)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's heap thresholds"
)
def test_retain_heap_keeps_a_calls_memory_for_the_next_call():
    """Five calls of a small decoder on 16 windows of 64² (about 30 MB of activations each): by
    default the heap gives their memory back and every call faults thousands of pages in again;
    kept, the later calls reuse it."""
    import subprocess
    import sys

    def faults(mode):
        out = subprocess.run([sys.executable, "-c", _CALLS, mode], capture_output=True, text=True, check=True)
        return int(out.stdout.strip())

    default, retained = faults("default"), faults("retain")
    assert default > 5 * 1000  # the premise: measured about 7,000 per call
    assert retained < default // 10


def test_retain_heap_is_a_no_op_without_glibc(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    memory.retain_heap.cache_clear()
    try:
        assert memory.retain_heap() is False
    finally:
        memory.retain_heap.cache_clear()


def test_the_cpu_runner_retains_the_heap(monkeypatch):
    import torch

    import emberxr.inference as inference

    calls = []
    monkeypatch.setattr(inference, "retain_heap", lambda: calls.append(1) or True)
    with inference.TorchRunner(torch.nn.Linear(2, 2), "cpu"):
        pass
    assert calls == [1]
