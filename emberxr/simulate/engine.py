"""Bridge from the main environment to the pyretechnics simulator.

pyretechnics pins numpy~=1.26 / scipy~=1.12 / Python~=3.11 and compiles with Cython, so it
usually lives in its own environment (``make sim-venv`` builds ``.venv-sim``). This module finds
it, in this order:

1. ``import pyretechnics`` works in this interpreter → run in-process;
2. the ``EMBERXR_SIM_PYTHON`` environment variable names a Python that has it;
3. ``<repo>/.venv-sim/bin/python``.

Otherwise :class:`~emberxr.errors.SimulatorNotAvailableError`. Out of process, scenarios are sent
in batches to ``engine_worker.py`` (run by file path) through npz files, which amortises the
interpreter start-up.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emberxr.errors import SimulatorNotAvailableError

WORKER = Path(__file__).resolve().with_name("engine_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
SIM_PYTHON_ENV = "EMBERXR_SIM_PYTHON"
PINNED_VERSION = "2026.8.10"


@dataclass
class Scenario:
    """One simulation request: north-up float32 grids, an hourly wind series and settings.

    ``arrays`` holds the grids named in ``engine_worker.GRID_INPUTS`` plus ``wind_speed_kmh`` and
    ``wind_from_deg``; ``meta`` holds ``duration_hours``, ``cell_size``, ``moisture`` and
    ``ignitions`` (see the worker's docstring).
    """

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Simulator:
    """Where the simulator runs: ``python`` is None for in-process."""

    python: str | None

    @property
    def in_process(self) -> bool:
        """True when pyretechnics is imported in this process (no separate interpreter)."""
        return self.python is None

    def describe(self) -> str:
        """One-line human-readable description of where the simulator runs."""
        return "pyretechnics in-process" if self.in_process else f"pyretechnics via {self.python}"


@functools.lru_cache(maxsize=8)
def _has_pyretechnics(python: str) -> bool:
    try:
        done = subprocess.run(
            [python, "-c", "import pyretechnics.eulerian_level_set"],
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def find_simulator(*, allow_in_process: bool = True) -> Simulator:
    """Locate pyretechnics (see the module docstring for the search order).

    Raises
    ------
    SimulatorNotAvailableError
        No environment with pyretechnics was found.
    """
    if allow_in_process and importlib.util.find_spec("pyretechnics") is not None:
        return Simulator(None)
    tried = []
    env_python = os.environ.get(SIM_PYTHON_ENV)
    if env_python:
        if _has_pyretechnics(env_python):
            return Simulator(env_python)
        tried.append(f"${SIM_PYTHON_ENV}={env_python} (cannot import pyretechnics)")
    candidate = REPO_ROOT / ".venv-sim" / "bin" / "python"
    if candidate.exists() and _has_pyretechnics(str(candidate)):
        return Simulator(str(candidate))
    tried.append(f"{candidate} ({'no pyretechnics' if candidate.exists() else 'missing'})")
    if allow_in_process:
        tried.insert(0, f"{sys.executable} (no pyretechnics module)")
    raise SimulatorNotAvailableError(
        "the fire simulator pyretechnics is not available; tried: "
        + "; ".join(tried)
        + f". Fix: run `make sim-venv` (builds .venv-sim with pyretechnics=={PINNED_VERSION}), "
        f"or point {SIM_PYTHON_ENV} at a Python that has it."
    )


def simulator_available() -> bool:
    """True when :func:`find_simulator` would succeed."""
    try:
        find_simulator()
    except SimulatorNotAvailableError:
        return False
    return True


def _pack(scenarios: Sequence[Scenario], path: Path) -> None:
    arrays = {}
    for i, sc in enumerate(scenarios):
        for name, a in sc.arrays.items():
            arrays[f"e{i}__{name}"] = np.ascontiguousarray(a, dtype=np.float32)
    meta = json.dumps([sc.meta for sc in scenarios])
    np.savez(path, meta=np.asarray(meta), **arrays)


def _unpack(path: Path, n: int) -> list[dict[str, Any]]:
    with np.load(path, allow_pickle=False) as res:
        info = json.loads(str(res["meta"]))
        out: list[dict[str, Any]] = [{} for _ in range(n)]
        for key in res.files:
            if key == "meta":
                continue
            idx, _, name = key.partition("__")
            out[int(idx[1:])][name] = res[key]
    for i, stop in enumerate(info["stop_conditions"]):
        out[i]["stop_condition"] = stop
        out[i]["simulator_version"] = info["simulator_version"]
    return out


def run_scenarios(scenarios: Sequence[Scenario], simulator: Simulator | None = None) -> list[dict[str, Any]]:
    """Simulate every scenario and return, per scenario, a dict with north-up
    ``time_of_arrival`` (hours, NaN = unburned), ``fire_type``, ``fireline_intensity``,
    ``stop_condition`` and ``simulator_version``.

    Parameters
    ----------
    scenarios
        The batch; out of process it goes to one worker call.
    simulator
        Where to run (default: :func:`find_simulator`).
    """
    if not scenarios:
        return []
    sim = simulator or find_simulator()
    if sim.in_process:
        from emberxr.simulate import engine_worker

        results = []
        for sc in scenarios:
            arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sc.arrays.items()}
            res = engine_worker.simulate_one(arrays, sc.meta)
            res["simulator_version"] = engine_worker.simulator_version()
            results.append(res)
        return results
    with tempfile.TemporaryDirectory(prefix="emberxr-sim-") as tmp:
        req, out = Path(tmp) / "request.npz", Path(tmp) / "result.npz"
        _pack(scenarios, req)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        done = subprocess.run(
            [str(sim.python), str(WORKER), str(req), str(out)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode != 0 or not out.exists():
            tail = (done.stderr or done.stdout or "").strip().splitlines()[-15:]
            raise RuntimeError(
                f"simulator worker failed (exit {done.returncode}) using {sim.python}:\n" + "\n".join(tail)
            )
        return _unpack(out, len(scenarios))
