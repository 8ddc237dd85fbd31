"""Atomic writes: an interrupted write never leaves a partial file under the final name.

The SIGKILL tests run a writer in a subprocess whose data source blocks midway through the write
(a Dask task that announces itself and then waits), kill it with SIGKILL at that point, and check
that the destination is absent or still the old complete file.
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import textwrap

import pytest
import xarray as xr

from emberxr.atomic import atomic_path


def test_exception_leaves_no_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_exception_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"new, half written")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_directory_replaced_whole(tmp_path):
    target = tmp_path / "store"
    with atomic_path(target, is_dir=True) as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("1")
    with atomic_path(target, is_dir=True) as tmp:
        tmp.mkdir()
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["store"]


def _run_until_blocked(script: str, *args: str) -> None:
    """Run ``script``; when it prints BLOCKED (midway through its write), SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        line = proc.stdout.readline() if ready else ""
        if "BLOCKED" not in line:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"writer never reached the blocking point: {line!r} {err[-2000:]}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


_GEOTIFF_WRITER = """
    import sys, threading
    import numpy as np, dask, dask.array as dsa, xarray as xr, rioxarray
    from emberxr.io import to_geotiff

    H = W = 1024
    def band(i):
        if i == 2:  # two bands (8 MB) are written; now stall until killed
            print("BLOCKED", flush=True)
            threading.Event().wait()
        return np.random.default_rng(i).random((1, H, W), dtype=np.float32)

    parts = [dsa.from_delayed(dask.delayed(band)(i), shape=(1, H, W), dtype=np.float32) for i in range(4)]
    da = xr.DataArray(
        dsa.concatenate(parts), dims=("band", "y", "x"),
        coords={"x": 500015.0 + 30 * np.arange(W), "y": 4199985.0 - 30 * np.arange(H)},
    ).rio.write_crs("EPSG:32611")
    to_geotiff(da, sys.argv[1], cog=sys.argv[2] == "cog")
"""


@pytest.mark.parametrize("cog", ["plain", "cog"])
def test_sigkill_during_geotiff_write_leaves_no_file(tmp_path, cog):
    target = tmp_path / "pred.tif"
    _run_until_blocked(_GEOTIFF_WRITER, str(target), cog)
    assert not target.exists()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert leftovers and all(n.startswith(".pred.tif.tmp-") for n in leftovers)  # only hidden temporaries


def test_sigkill_during_geotiff_overwrite_keeps_old_file(tmp_path, event):
    from emberxr.io import to_geotiff

    target = tmp_path / "pred.tif"
    to_geotiff(event.static, target)
    old = target.read_bytes()
    _run_until_blocked(_GEOTIFF_WRITER, str(target), "plain")
    assert target.read_bytes() == old


_ZARR_WRITER = """
    import sys, threading
    import numpy as np, dask, dask.array as dsa
    from emberxr.testing import synthetic_event
    from emberxr.io.events import save_events

    def slow(a):
        print("BLOCKED", flush=True)
        threading.Event().wait()
        return a

    evs = [synthetic_event(seed=i, event_id=f"new-{i}") for i in range(2)]
    st = evs[1].static
    evs[1]["static"] = st.copy(data=dsa.from_delayed(dask.delayed(slow)(st.values), st.shape, st.dtype))
    save_events(evs, sys.argv[1], mode=sys.argv[2], check=False)
"""


@pytest.mark.parametrize("mode", ["w", "a"])
def test_sigkill_during_zarr_write_keeps_complete_events(tmp_path, events, mode):
    from emberxr.io.events import list_event_ids, open_events, save_events

    store = tmp_path / "ev.zarr"
    save_events(events[:2], store)
    _run_until_blocked(_ZARR_WRITER, str(store), mode)
    expected = sorted(["synthetic-0", "synthetic-1"] + (["new-0"] if mode == "a" else []))
    assert list_event_ids(store) == expected  # the interrupted group (and, for "w", the new store) is absent
    tree = open_events(store)
    for ev in events[:2]:
        xr.testing.assert_identical(tree[ev.attrs["event_id"]].to_dataset().load(), ev)
    if mode == "a":
        assert int(tree["new-0"].to_dataset().fire.sum()) > 0
        # the next append cleans the stale temporary left by the killed writer
        save_events([events[2]], store, mode="a")
        assert not [p for p in store.iterdir() if p.name.startswith(".")]


def test_atomic_file_gets_normal_permissions_not_mkstemp_private(tmp_path):
    import os

    from emberxr.atomic import atomic_path

    old = os.umask(0o022)
    try:
        target = tmp_path / "forecast.tif"
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"x")
        assert target.stat().st_mode & 0o777 == 0o644
        target.chmod(0o640)  # an overwrite keeps the existing file's mode
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"y")
        assert target.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_next_write_removes_the_temporary_of_a_killed_writer(tmp_path, event):
    from emberxr.io import to_geotiff

    target = tmp_path / "pred.tif"
    _run_until_blocked(_GEOTIFF_WRITER, str(target), "plain")
    stale = [p for p in tmp_path.iterdir() if p.name.startswith(".pred.tif.tmp-")]
    assert stale  # the killed writer's temporary
    to_geotiff(event.static, target)
    assert [p.name for p in tmp_path.iterdir()] == ["pred.tif"]


def test_temporaries_of_live_writers_and_other_names_are_kept(tmp_path):
    from emberxr.atomic import remove_stale_temporaries

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        mine = tmp_path / f".out.bin.tmp-{live.pid}-abc"  # a concurrent writer of the same name
        gone = tmp_path / f".out.bin.tmp-{dead.pid}-def"
        other = tmp_path / f".other.bin.tmp-{dead.pid}-ghi"  # another name: not this write's business
        old_dir = tmp_path / f".out.bin.old-{dead.pid}"
        for p in (mine, gone, other):
            p.write_bytes(b"partial")
        old_dir.mkdir()
        (old_dir / "x").write_text("1")
        with atomic_path(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"new")
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == sorted(["out.bin", mine.name, other.name])
        assert remove_stale_temporaries(tmp_path) == [other]  # all names: the dead one goes
    finally:
        live.kill()
        live.wait()
    with atomic_path(tmp_path / "out.bin") as tmp:
        tmp.write_bytes(b"newer")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
