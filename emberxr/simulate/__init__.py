"""Physics-simulated fire events (pyretechnics: Rothermel surface/crown fire, level-set spread).

Landscapes, weather, moisture and ignitions are drawn here with numpy from a seeded generator;
the simulator itself runs in-process when ``pyretechnics`` is importable, otherwise in the
separate ``.venv-sim`` environment (``make sim-venv``). See ``docs/dataset.md``.

Submodules load on first use, so ``import emberxr.simulate`` is cheap.
"""

from __future__ import annotations

from emberxr._lazy import lazy_namespace

_LAZY = {
    "simulate_events": "emberxr.simulate.run",
    "simulate_params": "emberxr.simulate.run",
    "regenerate": "emberxr.simulate.run",
    "draw_event_params": "emberxr.simulate.scenario",
    "make_scenario": "emberxr.simulate.scenario",
    "build_landscape": "emberxr.simulate.landscape",
    "draw_landscape_params": "emberxr.simulate.landscape",
    "Landscape": "emberxr.simulate.landscape",
    "build_event": "emberxr.simulate.build",
    "burns_meaningfully": "emberxr.simulate.build",
    "find_simulator": "emberxr.simulate.engine",
    "simulator_available": "emberxr.simulate.engine",
    "run_scenarios": "emberxr.simulate.engine",
    "generate_collection": "emberxr.simulate.generate",
    "dataset_stats": "emberxr.simulate.stats",
    "history_histogram": "emberxr.simulate.stats",
}

__getattr__, __dir__, __all__ = lazy_namespace("emberxr.simulate", _LAZY, globals())
