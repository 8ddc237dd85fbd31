"""The real pyretechnics simulator through the bridge: orientation, slope effect, availability."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from emberxr.errors import SimulatorNotAvailableError
from emberxr.simulate import engine
from emberxr.simulate.engine import Scenario, find_simulator, run_scenarios, simulator_available

needs_sim = pytest.mark.skipif(
    not simulator_available(),
    reason="pyretechnics not found (in-process, $EMBERXR_SIM_PYTHON or .venv-sim): run `make sim-venv`",
)

N = 64
MOISTURE = {"dead_1hr": 0.05, "dead_10hr": 0.06, "dead_100hr": 0.08, "live_herbaceous": 0.6,
            "live_woody": 0.9, "foliar": 1.0}  # fmt: skip


def _scenario(
    wind_from: float, speed: float, elevation: np.ndarray | None = None, hours: int = 3
) -> Scenario:
    from emberxr.simulate.landscape import slope_aspect

    elev = np.zeros((N, N)) if elevation is None else elevation
    slope_deg, aspect = slope_aspect(elev, 30.0)
    zeros = np.zeros((N, N), np.float32)
    arrays = {
        "slope": np.tan(np.deg2rad(slope_deg)).astype(np.float32),
        "aspect": aspect,
        "fuel_model": np.full((N, N), 102.0, np.float32),  # GR2, uniform
        "canopy_cover": zeros, "canopy_height": zeros, "canopy_base_height": zeros,
        "canopy_bulk_density": zeros,
        "wind_speed_kmh": np.full(hours, speed, np.float32),
        "wind_from_deg": np.full(hours, wind_from, np.float32),
    }  # fmt: skip
    meta = {"duration_hours": hours, "cell_size": 30.0, "moisture": MOISTURE, "ignitions": [[N // 2, N // 2]]}
    return Scenario(arrays, meta)


def _extent(toa: np.ndarray) -> dict[str, int]:
    rows, cols = np.nonzero(np.isfinite(toa))
    c = N // 2
    return {"north": c - rows.min(), "south": rows.max() - c, "west": c - cols.min(), "east": cols.max() - c}


@pytest.mark.simulator
@needs_sim
def test_wind_direction_in_north_up_output():
    west, north = run_scenarios([_scenario(270.0, 12.0), _scenario(0.0, 12.0)])
    e = _extent(west["time_of_arrival"])
    assert e["east"] > 2 * e["west"] and e["east"] >= 5, e  # wind from the west pushes the fire east
    assert west["time_of_arrival"][N // 2, N // 2] == 0.0  # ignition cell stays where it was put
    e = _extent(north["time_of_arrival"])
    assert e["south"] > 2 * e["north"] and e["south"] >= 5, e  # wind from the north pushes it south
    assert west["simulator_version"] == "2026.8.10"


@pytest.mark.simulator
@needs_sim
def test_fire_runs_faster_upslope():
    rows = np.mgrid[0:N, 0:N][0].astype(float)
    rising_north = 30.0 * 0.4 * (N - rows)  # 40 % slope, up towards the north
    (res,) = run_scenarios([_scenario(0.0, 0.0, rising_north, hours=3)])
    e = _extent(res["time_of_arrival"])
    assert e["north"] > 1.5 * e["south"], e
    flat = _extent(run_scenarios([_scenario(0.0, 0.0, None, hours=3)])[0]["time_of_arrival"])
    assert e["north"] > flat["north"]


@pytest.mark.simulator
@needs_sim
def test_worker_runs_by_path_without_emberxr():
    sim = find_simulator(allow_in_process=False)
    done = subprocess.run([sim.python, str(engine.WORKER), "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == engine.PINNED_VERSION


def test_missing_simulator_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "REPO_ROOT", tmp_path)
    monkeypatch.setenv(engine.SIM_PYTHON_ENV, str(tmp_path / "no-python"))
    with pytest.raises(SimulatorNotAvailableError, match="make sim-venv") as info:
        find_simulator(allow_in_process=False)
    assert "no-python" in str(info.value) and ".venv-sim" in str(info.value)
