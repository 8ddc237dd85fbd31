"""The main demo: every model on ``sim-wide-small`` with short budgets, one table, one forecast, panels.

``configs/demo.yaml`` holds the shared settings (``common``: a training config applied to every
model) and one section per model (``models.<name>``: overrides, e.g. its step budget). Budgets are
fixed numbers of optimisation steps (``training.epochs × training.steps_per_epoch``) so results are
reproducible; the wall-clock time of each fit is printed and recorded in the table.

Outputs (``outputs/`` by default)::

    results.md, results.csv          comparison on the test split (next mask and new burns),
                                     plus history strata; the CSV is the full tidy table
    runs.csv, study.json             the same results as a study (emberxr.study): copy both to
                                     docs/results/demo/ and run `make results` to update the docs
    forecast_<event>.tif             3-step probability forecast (bands t+1h, t+2h, t+3h)
    forecast_<event>_arrival.tif     estimated arrival time (hours from the issue time)
    panels/<event>.png               history, target, each model's prediction, error map
    panels/forecast_<event>.png      the multi-step forecast and arrival time
    runs/<model>/model.pt            checkpoints
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emberxr.errors import ConfigError, Problem

DEFAULT_CONFIG = "demo"  # emberxr/configs/demo.yaml (configs/demo.yaml in a checkout)
_DEMO_KEYS = ("common", "models", "forecast", "panels")


def _deep_merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(a))
    for k, v in b.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_demo_config(path: str | os.PathLike | None) -> dict[str, Any]:
    """Read a demo YAML (default: the shipped ``configs/demo.yaml``) and check its top-level keys."""
    from emberxr.train.config import find_config, read_yaml

    p = find_config(path or DEFAULT_CONFIG)
    spec = read_yaml(p)
    unknown = [k for k in spec if k not in _DEMO_KEYS]
    problems = [Problem(f"unknown demo key {k!r}", f"use {', '.join(_DEMO_KEYS)}") for k in unknown]
    if not isinstance(spec.get("models"), Mapping) or not spec["models"]:
        problems.append(
            Problem("demo config has no 'models' section", "list the models to fit under models:")
        )
    if problems:
        raise ConfigError(problems, subject=str(p))
    return spec


def model_config(spec: Mapping[str, Any], name: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The validated training config of one demo model (common, then its section, then overrides)."""
    from emberxr.train.config import apply_overrides, read_yaml

    section = dict(spec["models"].get(name) or {})
    base: dict[str, Any] = {}
    if "config" in section:  # a model's own YAML (e.g. configs/emberformer.yaml) as the base
        base = read_yaml(section.pop("config"))
    cfg = _deep_merge(_deep_merge(base, spec.get("common") or {}), section)
    cfg.setdefault("model", {})["name"] = name
    return apply_overrides(cfg, list(overrides))


def comparison(table: Any) -> Any:
    """One row per model: next-mask and new-burn metrics of the ``all`` group."""
    import pandas as pd

    rows = []
    for model, g in table[table["scope"] == "all"].groupby("model", sort=False):
        row: dict[str, Any] = {"model": model}
        for fam, tag in (("next", "next"), ("new", "new")):
            r = g[g["target"] == fam].iloc[0]
            for m in ("precision", "recall", "f1", "iou", "ap"):
                row[f"{tag}_{m}"] = r[m]
        row["threshold"] = g["threshold"].iloc[0]
        rows.append(row)
    return pd.DataFrame(rows)


def strata(table: Any, family: str, metric: str) -> Any:
    """Models × history buckets for one family and metric."""
    sub = table[(table["scope"] == "history") & (table["target"] == family)]
    return sub.pivot_table(index="model", columns="group", values=metric, sort=False).reset_index()


def _save_as_study(
    out: Path,
    tables: Sequence[Any],
    names: Sequence[str],
    fitted: Mapping[str, Any],
    timing: Mapping[str, Mapping[str, float]],
    cfgs: Mapping[str, Mapping[str, Any]],
    label: str,
    splits: Mapping[str, Sequence[Any]],
) -> None:
    """``runs.csv`` + ``study.json`` of the demo in the study format (:func:`emberxr.study.save_study`)."""
    from emberxr.study import evaluation_rows, hardware, save_study

    rows = []
    for name, df in zip(names, tables):
        f, tr = fitted[name], cfgs[name]["training"]
        for r in evaluation_rows(df, arm=name, seed=tr["seed"], split="test"):
            r.update(
                model=name,
                steps=int(f.steps or 0),
                train_seconds=float(f.train_seconds or 0.0),
                fit_seconds=timing[name]["fit_s"],
                eval_seconds=timing[name]["eval_s"],
                hardware=hardware(tr["device"]),
            )
            rows.append(r)
    trained = [n for n in names if timing[n]["steps"]] or list(names)
    tr = cfgs[trained[-1]]["training"]
    meta = {
        "name": "demo",
        "data": label,
        "train_events": {k: len(splits[k]) for k in ("train", "val") if k in splits},
        "eval_events": {"test": len(splits.get("test") or splits["val"])},
        "seeds": sorted({int(cfgs[n]["training"]["seed"]) for n in names}),
        "budget": {f"training.{k}": tr[k] for k in ("epochs", "steps_per_epoch", "batch_size")},
        "reference": None,
        "source": "`make demo` (emberxr/configs/demo.yaml).",
    }
    save_study(out, rows, meta)


def _pick_event(events: Sequence[Any], horizon: int) -> tuple[Any, int]:
    """The test event (and issue frame) with the most new burning in the forecast window."""
    best, best_score = None, -1.0
    for ev in events:
        n_t = int(ev.sizes["time"])
        t = max(0, min(n_t - 1 - horizon, n_t // 2))
        fire = np.asarray(ev["fire"].isel(time=[t, min(t + horizon, n_t - 1)]).values) > 0
        score = float((fire[1] & ~fire[0]).sum())
        if score > best_score:
            best, best_score = (ev, t), score
    return best


def run_demo(
    config: str | os.PathLike | None = None,
    out: str | os.PathLike = "outputs",
    models: Sequence[str] | None = None,
    data: Any = None,
    overrides: Sequence[str] = (),
) -> Any:
    """Run the demo; returns the comparison DataFrame (see the module docstring for outputs)."""
    import pandas as pd
    import torch

    from emberxr.api import fit
    from emberxr.data.sources import resolve_splits
    from emberxr.forecast import write_forecast
    from emberxr.plots import plot_horizon, plot_panel
    from emberxr.train.metrics import write_table

    t_start = time.time()
    spec = load_demo_config(config)
    names = list(models or spec["models"])
    missing = [n for n in names if n not in spec["models"]]
    if missing:
        raise ConfigError(
            [Problem(f"model(s) {missing} not in the demo config", f"choose from {list(spec['models'])}")]
        )
    cfgs = {n: model_config(spec, n, overrides) for n in names}
    first = cfgs[names[0]]
    if first["training"]["num_threads"]:
        torch.set_num_threads(int(first["training"]["num_threads"]))
    out = Path(out)
    (out / "panels").mkdir(parents=True, exist_ok=True)
    source = data or first["data"]["catalog"]
    label = source if isinstance(source, (str, os.PathLike)) else "given data"
    print(f"[emberxr demo] loading {label} ...", flush=True)
    t0 = time.time()
    splits = resolve_splits(source)
    for s in ("train", "val", "test"):
        if s in splits:
            splits[s] = [ev.load() for ev in splits[s]]
    print(
        f"[emberxr demo] {', '.join(f'{k}: {len(v)} events' for k, v in splits.items())} ({time.time() - t0:.0f} s)",
        flush=True,
    )
    test = splits.get("test") or splits["val"]
    fitted, tables, timing = {}, [], {}
    for name in names:
        print(f"[emberxr demo] fitting {name} ...", flush=True)
        t0 = time.time()
        f = fit(
            {k: v for k, v in splits.items() if k in ("train", "val")},
            model=None,
            config=cfgs[name],
            run_dir=out / "runs" / name,
        )
        fit_s = time.time() - t0
        t0 = time.time()
        df = f.evaluate(test, per_event=True)
        timing[name] = {"fit_s": fit_s, "eval_s": time.time() - t0, "steps": f.steps or 0}
        print(
            f"[emberxr demo] {name}: {f.steps} steps, fit {fit_s:.0f} s, test eval {timing[name]['eval_s']:.0f} s",
            flush=True,
        )
        fitted[name] = f
        tables.append(df)
    table = pd.concat(tables, ignore_index=True)
    comp = comparison(table)
    comp["steps"] = [timing[m]["steps"] for m in comp["model"]]
    comp["fit_s"] = [round(timing[m]["fit_s"], 1) for m in comp["model"]]
    write_table(table, str(out / "results.csv"))
    _save_as_study(out, tables, names, fitted, timing, cfgs, label, splits)
    md = [
        f"# emberxr demo results ({label}, test split: {len(test)} events)",
        "",
        "Pixel metrics over valid pixels. `next_*`: fire mask at t+1; `new_*`: newly burned pixels "
        "(scored over pixels not burning at t). Threshold chosen on validation (max next-mask F1).",
        "",
        comp.to_markdown(index=False, floatfmt=".3f"),
        "",
        "## New-burn F1 by history length (frames available)",
        "",
        strata(table, "new", "f1").to_markdown(index=False, floatfmt=".3f"),
        "",
        "## Next-mask AP by history length",
        "",
        strata(table, "next", "ap").to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    (out / "results.md").write_text("\n".join(md))
    print("\n" + comp.to_markdown(index=False, floatfmt=".3f") + "\n", flush=True)
    # forecast GeoTIFF and panels
    fc = spec.get("forecast") or {}
    horizon = int(fc.get("horizon", 3))
    fc_model = fc.get("model") or names[-1]
    if fc_model in fitted:
        ev, t = _pick_event(test, horizon)
        eid = str(ev.attrs.get("event_id", "event"))
        ds = fitted[fc_model].forecast(ev, t=t, horizon=horizon)
        write_forecast(ds, str(out / f"forecast_{eid}.tif"))
        write_forecast(ds, str(out / f"forecast_{eid}_arrival.tif"), variable="arrival_time")
        plot_horizon(
            ds,
            out / "panels" / f"forecast_{eid}.png",
            title=f"{fc_model}: {eid} from frame {t}, horizon {horizon}",
        )
        print(f"[emberxr demo] forecast -> {out / f'forecast_{eid}.tif'}", flush=True)
    n_panels = int((spec.get("panels") or {}).get("n_events", 3))
    for ev in test[:n_panels]:
        n_t = int(ev.sizes["time"])
        t = max(0, min(n_t - 2, n_t // 2))
        preds = {n: np.asarray(f.predict(ev, t=t).values) for n, f in fitted.items()}
        thr = {n: f.threshold for n, f in fitted.items()}
        eid = str(ev.attrs.get("event_id", "event"))
        plot_panel(
            ev,
            t,
            preds,
            thr,
            out / "panels" / f"{eid}.png",
            error_model=fc_model if fc_model in fitted else None,
            max_history=first["data"]["max_history"],
        )
    print(f"[emberxr demo] done in {time.time() - t_start:.0f} s; outputs in {out}/", flush=True)
    return comp
