"""Simulate events from parameters, and regenerate a stored event from its attributes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import xarray as xr

from emberxr.simulate.build import build_event
from emberxr.simulate.engine import Simulator, run_scenarios
from emberxr.simulate.landscape import Landscape
from emberxr.simulate.scenario import draw_event, make_scenario


def simulate_params(
    params_list: Sequence[dict[str, Any]],
    simulator: Simulator | None = None,
    landscapes: Sequence[Landscape] | None = None,
) -> list[xr.Dataset]:
    """Run the simulator for each parameter set (one batch) and build the FireEvents.

    ``landscapes`` (optional) are the already built landscapes of ``params_list``.
    """
    lands = list(landscapes) if landscapes is not None else [None] * len(params_list)
    built = [make_scenario(p, land) for p, land in zip(params_list, lands)]
    results = run_scenarios([sc for _land, sc in built], simulator)
    return [build_event(p, land, res) for p, (land, _sc), res in zip(params_list, built, results)]


def simulate_events(
    n_events: int,
    *,
    seed: int = 0,
    size: int = 128,
    steps: int = 12,
    dem: str = "fractal",
    start_index: int = 0,
    prefix: str = "sim",
    simulator: Simulator | None = None,
) -> list[xr.Dataset]:
    """Simulate ``n_events`` FireEvents with pyretechnics (no selection applied).

    Parameters
    ----------
    n_events
        How many events (indices ``start_index .. start_index + n_events - 1``).
    seed
        Dataset seed; event ``i`` draws from ``SeedSequence([seed, i])``.
    size, steps, dem
        Domain edge (cells of 30 m), hourly frames, terrain mode (``fractal`` | ``jacksboro``).
    simulator
        Where pyretechnics runs (default: found automatically).

    Raises
    ------
    SimulatorNotAvailableError
        pyretechnics is not installed anywhere emberxr can find it (run ``make sim-venv``).
    """
    drawn = [
        draw_event(seed, i, size=size, steps=steps, dem=dem, prefix=prefix)
        for i in range(start_index, start_index + n_events)
    ]
    return simulate_params([p for p, _ in drawn], simulator, [land for _, land in drawn])


def regenerate(attrs: Mapping[str, Any] | xr.Dataset, simulator: Simulator | None = None) -> xr.Dataset:
    """Rebuild an event from its attributes (``sim_params``), bit for bit.

    Parameters
    ----------
    attrs
        A stored event (Dataset) or its ``attrs`` mapping.
    """
    from emberxr.errors import ReaderError

    if isinstance(attrs, xr.Dataset):
        attrs = attrs.attrs
    raw = attrs.get("sim_params")
    if not raw:
        raise ReaderError(
            "the event has no 'sim_params' attribute, so it was not made by emberxr.simulate and "
            "cannot be regenerated; pass an event from a simulated collection (e.g. sim-small)"
        )
    params = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return simulate_params([params], simulator)[0]
