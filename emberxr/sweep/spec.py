"""Sweep configurations in Weights & Biases' format: reading, validation, the search space.

One YAML drives both backends: ``wandb sweep`` reads it as it is, and ``emberxr sweep --backend
optuna`` maps it onto Optuna. This module owns the format (``docs/sweeps.md``):

- top level: ``method`` (``bayes``, ``random``, ``grid``), ``metric`` (``name``, ``goal``,
  ``target``), ``parameters``, ``early_terminate`` (``hyperband``), ``run_cap``, ``command``,
  ``program``, ``name``, ``description``, ``entity``, ``project`` (and the inert ``apiVersion``,
  ``kind``). Other W&B keys (``controller``, ``scheduler``, ``metrics``, ``job`` ...) have no
  offline meaning and are errors that name the key;
- ``command`` must run ``emberxr fit CONFIG [fixed overrides] ${args_no_hyphens}`` (the only
  argument macro ``emberxr fit`` understands); the CONFIG and fixed overrides it names are what
  every trial trains with;
- ``parameters``: dotted configuration keys (``model.d_model``), or nested groups
  (``model: {parameters: {d_model: ...}}``, flattened to the same dotted names), each in one of
  W&B's forms (:class:`Param`).

:func:`load_sweep` reads and checks everything at once — every key and form, the command, and
every parameter value against the training configuration (each categorical value, and each range
at its ends and inside, is applied to the base configuration and validated; the model is built
on the ``meta`` device) — and raises one :class:`~emberxr.errors.ConfigError` listing every
problem, before any trial runs.

Mapping onto Optuna (:meth:`Param.suggest`): ``values`` → categorical (lists and mappings are
carried as JSON text); ``value`` → a constant applied to every trial (not searched);
``min``/``max`` → ``int_uniform`` when both are integers, else ``uniform``; ``log_uniform_values``
→ a log-scale float; ``log_uniform`` (bounds are natural logs) → a log-scale float on
``[e^min, e^max]``; ``inv_log_uniform_values`` / ``inv_log_uniform`` (1/X log-uniform, which is
the same law as X log-uniform on the matching bounds) → a log-scale float; the quantised forms
``q_uniform``, ``q_log_uniform``, ``q_log_uniform_values`` → Optuna samples the continuous value
(stored as the trial's parameter) and the configuration gets ``round(x / q) * q``, an integer
when ``q`` is one — W&B's own rule. ``normal``, ``log_normal``, ``beta`` (and their ``q_``
forms) and ``probabilities`` have no Optuna counterpart: they are errors that name the
parameter and suggest a bounded form with the same centre and spread. A ``grid`` sweep takes
``values``, ``value``, ``int_uniform`` (every integer from min to max) and ``q_uniform`` (``min,
min+q, ...`` below ``max``, as W&B enumerates it); any continuous parameter in a grid is an error.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from emberxr.errors import ConfigError, Problem

__all__ = [
    "ARG_MACRO",
    "DISTRIBUTIONS",
    "MACHINE_KEYS",
    "Param",
    "SweepSpec",
    "load_sweep",
    "parse_sweep",
    "show",
]

#: the argument macro ``emberxr fit`` understands (``key=value`` words)
ARG_MACRO = "${args_no_hyphens}"
_OTHER_ARG_MACROS = (
    "${args}",
    "${args_json}",
    "${args_json_file}",
    "${args_no_boolean_flags}",
    "${args_no_equals}",
    "${args_append_hydra}",
    "${args_override_hydra}",
)
_LAUNCH_MACROS = ("${env}", "${interpreter}", "${program}")
_ENVVAR = re.compile(r"\$\{envvar:([A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

METHODS = ("bayes", "random", "grid")
#: top-level keys this backend reads; W&B keys it cannot honour offline are errors
TOP_KEYS = (
    "method",
    "metric",
    "parameters",
    "early_terminate",
    "run_cap",
    "command",
    "program",
    "name",
    "description",
    "entity",
    "project",
    "apiVersion",
    "kind",
)
_WANDB_ONLY = {
    "controller": "the local/cloud controller choice exists only on a W&B server",
    "scheduler": "custom schedulers (method: custom) run only on a W&B server",
    "metrics": "multi-objective sweeps need method: custom on a W&B server",
    "job": "W&B Launch jobs run only on a W&B server",
    "image_uri": "W&B Launch images run only on a W&B server",
}
METRIC_KEYS = ("name", "goal", "target")
_METRIC_WANDB_ONLY = {
    "impute": "how W&B's bayes search scores failed runs; Optuna's samplers skip failed trials",
    "impute_while_running": "W&B's bayes search only",
}
HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")

#: distribution -> the keys it takes (besides ``distribution``)
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "categorical": ("values",),
    "categorical_w_probabilities": ("values", "probabilities"),
    "int_uniform": ("min", "max"),
    "uniform": ("min", "max"),
    "q_uniform": ("min", "max", "q"),
    "log_uniform": ("min", "max"),
    "log_uniform_values": ("min", "max"),
    "inv_log_uniform": ("min", "max"),
    "inv_log_uniform_values": ("min", "max"),
    "q_log_uniform": ("min", "max", "q"),
    "q_log_uniform_values": ("min", "max", "q"),
    "normal": ("mu", "sigma"),
    "q_normal": ("mu", "sigma", "q"),
    "log_normal": ("mu", "sigma"),
    "q_log_normal": ("mu", "sigma", "q"),
    "beta": ("a", "b"),
    "q_beta": ("a", "b", "q"),
}
_DEFAULTS = {"q": 1.0, "mu": 0.0, "sigma": 1.0, "a": 1.0, "b": 1.0}
_GRID_KINDS = ("constant", "categorical", "int_uniform", "q_uniform")
#: fixed overrides that belong to one machine, not to the experiment (may differ on resumption)
MACHINE_KEYS = ("training.device", "training.num_threads", "training.progress", "data.num_workers")
#: forms Optuna has no counterpart for
_NO_OPTUNA = (
    "categorical_w_probabilities",
    "normal",
    "q_normal",
    "log_normal",
    "q_log_normal",
    "beta",
    "q_beta",
)


# ---------------------------------------------------------------------------------------------
# one parameter
# ---------------------------------------------------------------------------------------------
def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_scalar(x: Any) -> bool:
    return x is None or isinstance(x, (bool, int, float, str))


def _encode(value: Any) -> Any:
    """An Optuna categorical choice for a value (lists and mappings as JSON text)."""
    return value if _is_scalar(value) else json.dumps(value, sort_keys=True)


def quantize(x: float, q: float | int) -> float | int:
    """``round(x / q) * q`` as W&B computes it (an ``int`` when ``q`` is one), without float noise."""
    k = round(x / q)
    if _is_int(q):
        return int(k * q)
    return float(Decimal(repr(float(q))) * k)


def show(value: Any) -> str:
    """A parameter value for a one-line summary (floats with 4 significant digits)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass(frozen=True)
class Param:
    """One swept configuration key in a W&B form.

    Attributes
    ----------
    name
        Dotted configuration key (``model.d_model``).
    kind
        The W&B distribution (``categorical``, ``int_uniform``, ``log_uniform_values`` ...;
        ``constant`` for ``value``).
    values
        Choices (``categorical``) or the constant (``(value,)``).
    low, high
        ``min`` / ``max`` as written (natural logs for ``log_uniform``, ``inv_log_uniform`` and
        ``q_log_uniform``).
    q
        Quantisation step of the ``q_`` forms.
    extra
        ``mu``/``sigma``/``a``/``b``/``probabilities`` of the forms without an Optuna counterpart.
    """

    name: str
    kind: str
    values: tuple[Any, ...] = ()
    low: float | int | None = None
    high: float | int | None = None
    q: float | int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    # -- Optuna ------------------------------------------------------------------------------
    @property
    def searched(self) -> bool:
        """False for a constant (applied to every trial, not an Optuna parameter)."""
        return self.kind != "constant"

    def bounds(self) -> tuple[float, float, bool]:
        """``(low, high, log)`` of the continuous value Optuna samples (range forms only)."""
        lo, hi = float(self.low), float(self.high)
        if self.kind in ("log_uniform", "q_log_uniform"):
            return math.exp(lo), math.exp(hi), True
        if self.kind == "inv_log_uniform":  # X = exp(-U(min, max))
            return math.exp(-hi), math.exp(-lo), True
        if self.kind in ("log_uniform_values", "inv_log_uniform_values", "q_log_uniform_values"):
            return lo, hi, True
        return lo, hi, False

    def grid(self) -> list[Any]:
        """The values a ``grid`` sweep enumerates (W&B's rule for each form)."""
        if self.kind in ("constant", "categorical"):
            return list(self.values)
        if self.kind == "int_uniform":
            return list(range(int(self.low), int(self.high) + 1))
        if self.kind == "q_uniform":
            out, k = [], 0
            step = Decimal(repr(self.q))
            while True:  # min, min + q, ... below max (numpy.arange, as W&B)
                v = Decimal(repr(self.low)) + k * step
                if v >= Decimal(repr(self.high)):
                    return out
                out.append(int(v) if _is_int(self.low) and _is_int(self.q) else float(v))
                k += 1
        raise ValueError(f"{self.kind} has no grid")  # pragma: no cover - rejected by validation

    def suggest(self, trial: Any, grid: bool = False) -> Any:
        """Ask an Optuna trial for this parameter; returns the configuration value.

        ``grid``: the parameter is a categorical over :meth:`grid` (what ``GridSampler`` serves).
        """
        if self.kind == "constant":
            return copy.deepcopy(self.values[0])
        if grid or self.kind == "categorical":
            choices = self.grid() if grid else list(self.values)
            encoded = [_encode(v) for v in choices]
            picked = trial.suggest_categorical(self.name, encoded)
            return copy.deepcopy(choices[encoded.index(picked)])
        if self.kind == "int_uniform":
            return int(trial.suggest_int(self.name, int(self.low), int(self.high)))
        lo, hi, log = self.bounds()
        x = float(trial.suggest_float(self.name, lo, hi, log=log))
        return quantize(x, self.q) if self.kind.startswith("q_") else x

    def describe(self, grid: bool = False) -> str:
        """The Optuna mapping in words (``emberxr sweep --dry-run``)."""
        if self.kind == "constant":
            return f"constant {self.values[0]!r}"
        if grid or self.kind == "categorical":
            vals = self.grid() if grid else list(self.values)
            return f"categorical {vals!r}"
        if self.kind == "int_uniform":
            return f"int in [{self.low}, {self.high}]"
        lo, hi, log = self.bounds()
        text = f"float in [{lo:.6g}, {hi:.6g}]" + (" log-scale" if log else "")
        return text + (f", then round(x/{self.q})*{self.q}" if self.kind.startswith("q_") else "")

    def probes(self) -> list[Any]:
        """Values checked against the training configuration before any trial: every choice, or
        a range's ends and an interior point."""
        if self.kind in ("constant", "categorical", "categorical_w_probabilities"):
            return list(self.values)
        if self.kind == "int_uniform":
            return sorted({int(self.low), int(self.high), (int(self.low) + int(self.high)) // 2})
        if self.kind in _NO_OPTUNA:  # W&B samples these (--backend wandb): their typical values
            e = self.extra
            if "mu" in e:
                pts = [e["mu"] - 2 * e["sigma"], e["mu"], e["mu"] + 2 * e["sigma"]]
                pts = [math.exp(v) for v in pts] if "log" in self.kind else pts
            else:
                pts = [0.05, e["a"] / (e["a"] + e["b"]) if e["a"] + e["b"] else 0.5, 0.95]
            return [quantize(v, self.q) for v in pts] if self.kind.startswith("q_") else pts
        lo, hi, log = self.bounds()
        inner = (
            math.exp(math.log(lo) + 0.37 * (math.log(hi) - math.log(lo))) if log else lo + 0.37 * (hi - lo)
        )
        pts = [lo, inner, hi]
        return [quantize(p, self.q) for p in pts] if self.kind.startswith("q_") else pts


def _param_problems(where: str, name: str, cfg: Any, problems: list[Problem]) -> Param | None:
    """Check one parameter entry in W&B's schema; returns it or None (problems appended)."""
    if not isinstance(cfg, Mapping):
        problems.append(
            Problem(
                f"{where} is {type(cfg).__name__}, not a mapping",
                "write it as {values: [...]}, {value: ...}, {min: ..., max: ...} or {distribution: ...}",
            )
        )
        return None
    dist = cfg.get("distribution")
    if dist is None:
        if "value" in cfg:
            dist = "constant"
        elif "values" in cfg:
            dist = "categorical_w_probabilities" if "probabilities" in cfg else "categorical"
        elif "min" in cfg and "max" in cfg:
            dist = "int_uniform" if _is_int(cfg["min"]) and _is_int(cfg["max"]) else "uniform"
        else:
            problems.append(
                Problem(
                    f"{where} has none of values, value, min/max or distribution",
                    "give values: [...], value: ..., min:/max: or a distribution (docs/sweeps.md)",
                )
            )
            return None
    if dist not in DISTRIBUTIONS:
        near = difflib.get_close_matches(str(dist), list(DISTRIBUTIONS), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(map(repr, near))}? " if near else ""
        problems.append(
            Problem(
                f"{where}.distribution {dist!r} is not a W&B distribution",
                f"{hint}use one of {', '.join(DISTRIBUTIONS)}",
            )
        )
        return None
    allowed = DISTRIBUTIONS[dist]
    bad = [k for k in cfg if k not in (*allowed, "distribution")]
    for k in bad:
        problems.append(
            Problem(
                f"unsupported key {where}.{k} for distribution {dist!r}",
                f"{dist} takes {', '.join(allowed)}",
            )
        )
    required = [k for k in allowed if k not in cfg and k not in _DEFAULTS]
    for k in required:
        problems.append(Problem(f"{where} ({dist}) has no {k!r}", f"{dist} takes {', '.join(allowed)}"))
    if bad or required:
        return None
    n0 = len(problems)
    get = {k: cfg.get(k, _DEFAULTS.get(k)) for k in allowed}
    for k in ("min", "max", "q", "mu", "sigma", "a", "b"):
        if k in get and not _is_number(get[k]):
            hint = (
                " (YAML reads 1e-4 as text: write 1.0e-4)"
                if isinstance(get[k], str) and re.fullmatch(r"[-+]?\d+e[-+]?\d+", get[k])
                else ""
            )
            problems.append(Problem(f"{where}.{k} is {get[k]!r}, not a number", f"write a number{hint}"))
    if len(problems) > n0:
        return None
    if dist == "int_uniform" and not (_is_int(get["min"]) and _is_int(get["max"])):
        problems.append(
            Problem(
                f"{where}: int_uniform needs integer min and max (got {get['min']!r}, {get['max']!r})",
                "write integers, or use distribution: uniform for a float range",
            )
        )
    if "min" in get and get["min"] >= get["max"]:
        problems.append(Problem(f"{where}: min {get['min']} is not below max {get['max']}", "swap them"))
    if dist.endswith("_values") and "min" in get and get["min"] <= 0:
        problems.append(
            Problem(
                f"{where}: {dist} needs min > 0 (got {get['min']})",
                "give positive bounds (the values themselves, not their logarithms)",
            )
        )
    if "q" in get and get["q"] <= 0:
        problems.append(Problem(f"{where}.q is {get['q']}, not > 0", "give a positive step"))
    if "sigma" in get and get["sigma"] < 0:
        problems.append(Problem(f"{where}.sigma is {get['sigma']}, negative", "give sigma >= 0"))
    values: tuple[Any, ...] = ()
    if dist == "constant":
        values = (cfg["value"],)
    elif "values" in allowed:
        vals = cfg["values"]
        if not isinstance(vals, list) or not vals:
            problems.append(Problem(f"{where}.values is {vals!r}", "give a non-empty list of choices"))
        else:
            values = tuple(vals)
            enc = [_encode(v) for v in vals]
            if len(set(map(repr, enc))) != len(enc):
                problems.append(
                    Problem(f"{where}.values repeats a choice: {vals!r}", "list each choice once")
                )
        if dist == "categorical_w_probabilities":
            probs = cfg["probabilities"]
            if not isinstance(probs, list) or len(probs) != len(vals) or not all(map(_is_number, probs)):
                problems.append(
                    Problem(f"{where}.probabilities is {probs!r}", "give one probability per value")
                )
    if len(problems) > n0:
        return None
    extra = {k: get[k] for k in ("mu", "sigma", "a", "b") if k in get}
    if dist == "categorical_w_probabilities":
        extra["probabilities"] = tuple(cfg["probabilities"])
    return Param(
        name=name,
        kind=dist,
        values=values,
        low=get.get("min"),
        high=get.get("max"),
        q=get.get("q") if "q" in allowed else None,
        extra=extra,
    )


def _optuna_problem(where: str, p: Param) -> Problem | None:
    """Why a form has no Optuna counterpart, with the bounded form to write instead."""
    if p.kind not in _NO_OPTUNA:
        return None
    e = p.extra
    if p.kind == "categorical_w_probabilities":
        return Problem(
            f"unsupported key {where}.probabilities (Optuna draws categorical choices uniformly)",
            "remove probabilities (TPE learns which choices score better), or run this sweep with "
            "--backend wandb",
        )
    if p.kind in ("normal", "q_normal"):
        lo, hi = e["mu"] - 2 * e["sigma"], e["mu"] + 2 * e["sigma"]
        fix = f"distribution: {'q_' if p.kind == 'q_normal' else ''}uniform, min: {lo:g}, max: {hi:g}"
    elif p.kind in ("log_normal", "q_log_normal"):
        lo, hi = math.exp(e["mu"] - 2 * e["sigma"]), math.exp(e["mu"] + 2 * e["sigma"])
        fix = f"distribution: {'q_' if p.kind == 'q_log_normal' else ''}log_uniform_values, min: {lo:.4g}, max: {hi:.4g}"
    else:
        fix = f"distribution: {'q_' if p.kind == 'q_beta' else ''}uniform, min: 0.0, max: 1.0"
    return Problem(
        f"{where}: distribution {p.kind!r} is unbounded or shaped, and Optuna has no counterpart",
        f"write the range it covers instead, e.g. {fix} (mu ± 2 sigma), or use --backend wandb",
    )


# ---------------------------------------------------------------------------------------------
# the whole sweep
# ---------------------------------------------------------------------------------------------
@dataclass
class SweepSpec:
    """A checked sweep configuration (:func:`load_sweep`).

    Attributes
    ----------
    raw
        The YAML as read (what ``wandb sweep`` gets).
    source
        The YAML's path (None for a mapping).
    name
        ``name`` of the YAML, else the file's stem.
    method
        ``bayes``, ``random`` or ``grid``.
    metric, goal
        The per-epoch metric to optimise and ``maximize``/``minimize`` (W&B's default goal is
        ``minimize``); without a ``metric`` (random and grid only) the base configuration's
        ``training.monitor`` and its ``monitor_mode``.
    target
        ``metric.target``: the sweep stops once a trial reaches it (None: never).
    params
        The parameters (constants included), sorted by name.
    run_cap
        ``run_cap`` (None when absent).
    hyperband
        ``early_terminate`` with its defaults filled in (``min_iter``, ``max_iter``, ``eta``),
        or None.
    config
        The training configuration the command names (a path or a shipped name).
    fixed
        Dotted overrides fixed by the command line or by the caller, applied to every trial.
    fit_options
        ``--data`` / ``--model`` / ``--no-wandb`` options of the command (``data``, ``model``,
        ``no_wandb``).
    resolved
        What the base configuration (fixed overrides and constants applied) resolves to in the
        installed emberxr (:func:`~emberxr.train.config.resolved_settings`, machine settings left
        out); None when the configuration was not checked.
    """

    raw: dict[str, Any]
    source: Path | None
    name: str
    method: str
    metric: str
    goal: str
    target: float | None
    params: list[Param]
    run_cap: int | None
    hyperband: dict[str, Any] | None
    config: str
    fixed: dict[str, Any]
    fit_options: dict[str, Any]
    resolved: dict[str, Any] | None = None

    @property
    def direction(self) -> str:
        """Optuna's study direction."""
        return "maximize" if self.goal == "maximize" else "minimize"

    @property
    def searched(self) -> list[Param]:
        """The parameters Optuna searches (constants left out)."""
        return [p for p in self.params if p.searched]

    @property
    def constants(self) -> dict[str, Any]:
        """The ``value`` parameters, applied to every trial."""
        return {p.name: p.values[0] for p in self.params if not p.searched}

    def grid_space(self) -> dict[str, list[Any]]:
        """``{name: choices}`` of a grid sweep (choices encoded as Optuna stores them)."""
        return {p.name: [_encode(v) for v in p.grid()] for p in self.searched}

    def grid_size(self) -> int:
        """Number of points of the grid (1 without searched parameters)."""
        return math.prod(len(p.grid()) for p in self.searched)

    def base_config(self) -> dict[str, Any]:
        """The command's configuration with its fixed overrides applied (not validated)."""
        from emberxr.train.config import merge_overrides, read_yaml

        return merge_overrides(read_yaml(self.config), self.fixed)

    def identity(self) -> dict[str, Any]:
        """What must match when a stored study is continued: the YAML's search definition, the
        fixed overrides, the data and what the base configuration resolves to (:attr:`resolved`:
        library defaults included; settings of one machine — :data:`MACHINE_KEYS`, ``wandb.*`` —
        may differ)."""
        keep = ("method", "metric", "parameters", "early_terminate", "command")
        fixed = {k: v for k, v in self.fixed.items() if k not in MACHINE_KEYS and not k.startswith("wandb.")}
        return json.loads(
            json.dumps(
                {
                    "sweep": {k: self.raw.get(k) for k in keep},
                    "fixed": fixed,
                    "data": self.fit_options.get("data"),
                    **({"resolved": self.resolved} if self.resolved is not None else {}),
                },
                sort_keys=True,
                default=str,
            )
        )


def _flatten_params(params: Any, prefix: str, where: str, problems: list[Problem], out: list[Param]) -> None:
    if not isinstance(params, Mapping) or not params:
        problems.append(
            Problem(
                f"{where} is {params!r}", "give a mapping of dotted configuration keys to parameter forms"
            )
        )
        return
    for key, cfg in params.items():
        key = str(key)
        name = f"{prefix}{key}"
        w = f"{where}.{key}"
        if not _NAME.match(key):
            problems.append(Problem(f"parameter name {key!r} is not valid", "use letters, digits, _ . -"))
            continue
        if isinstance(cfg, Mapping) and "parameters" in cfg:
            extra = [k for k in cfg if k != "parameters"]
            if extra:
                problems.append(
                    Problem(
                        f"unsupported key {w}.{extra[0]} next to 'parameters'",
                        "a parameter group holds only 'parameters'",
                    )
                )
                continue
            _flatten_params(cfg["parameters"], f"{name}.", f"{w}.parameters", problems, out)
            continue
        p = _param_problems(w, name, cfg, problems)
        if p is not None:
            out.append(p)


def _parse_command(command: Any, problems: list[Problem]) -> tuple[str | None, list[str], dict[str, Any]]:
    """``(config, fixed override words, fit options)`` of an ``emberxr fit`` command line."""
    import argparse

    fix = f"write command: [${{env}}, ${{interpreter}}, -m, emberxr, fit, CONFIG, {ARG_MACRO}]"
    if command is None:
        problems.append(Problem("the sweep has no 'command' that runs emberxr fit", fix))
        return None, [], {}
    if not isinstance(command, list) or not all(isinstance(c, (str, int, float)) for c in command):
        problems.append(Problem(f"'command' is {command!r}, not a list of words", fix))
        return None, [], {}
    words = [_ENVVAR.sub(lambda m: os.environ.get(m.group(1), m.group(1)), str(c)) for c in command]
    for macro in _OTHER_ARG_MACROS:
        if macro in words:
            problems.append(
                Problem(
                    f"'command' passes the parameters with {macro}",
                    f"emberxr fit takes key=value overrides: use {ARG_MACRO}",
                )
            )
    if ARG_MACRO not in words:
        problems.append(Problem(f"'command' has no {ARG_MACRO}: the trials would not get their values", fix))
    if "fit" not in words or "emberxr" not in [Path(w).name for w in words[: words.index("fit")]]:
        problems.append(Problem(f"'command' does not run emberxr fit: {' '.join(words)}", fix))
        return None, [], {}
    rest = [w for w in words[words.index("fit") + 1 :] if w != ARG_MACRO and w not in _OTHER_ARG_MACROS]
    leftover = [w for w in rest if w in _LAUNCH_MACROS]
    for w in leftover:
        problems.append(Problem(f"'command' has {w} after 'fit'", fix))
    parser = argparse.ArgumentParser(prog="emberxr fit", add_help=False, exit_on_error=False)
    parser.add_argument("config", nargs="?")
    parser.add_argument("--data")
    parser.add_argument("--model")
    parser.add_argument("--no-wandb", action="store_true")
    try:
        ns, unknown = parser.parse_known_args([w for w in rest if w not in _LAUNCH_MACROS])
    except argparse.ArgumentError as exc:
        problems.append(Problem(f"'command': {exc}", fix))
        return None, [], {}
    overrides = [w for w in unknown if "=" in w and not w.startswith("-")]
    for w in unknown:
        if w not in overrides:
            problems.append(
                Problem(
                    f"'command' passes {w!r} to emberxr fit",
                    "a sweep manages run directories and resumption itself; give only CONFIG, "
                    "key=value overrides, --data, --model and --no-wandb",
                )
            )
    if ns.config is None:
        problems.append(Problem("'command' names no configuration after 'fit'", fix))
    opts = {"data": ns.data, "model": ns.model, "no_wandb": bool(ns.no_wandb)}
    return ns.config, overrides, opts


def parse_sweep(
    raw: Mapping[str, Any],
    *,
    source: str | os.PathLike | None = None,
    backend: str = "optuna",
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    check_config: bool = True,
) -> SweepSpec:
    """Check a sweep configuration (a mapping in W&B's format) and return its :class:`SweepSpec`.

    Parameters
    ----------
    raw
        The YAML's content.
    source
        Where it came from (for messages and the default name).
    backend
        ``"optuna"`` also rejects the forms Optuna cannot represent; ``"wandb"`` checks only what
        ``emberxr fit`` needs (W&B samples the values itself).
    overrides
        Extra fixed dotted overrides for every trial (``["training.epochs=6"]``), applied after
        the command's.
    check_config
        Apply every parameter value to the training configuration and validate it.

    Raises
    ------
    ConfigError
        Every problem found, each naming its key.
    """
    problems: list[Problem] = []
    offline: list[Problem] = []  # what only the Optuna backend cannot honour
    where = str(source) if source else "the sweep"
    if not isinstance(raw, Mapping):
        raise ConfigError(
            [
                Problem(
                    f"{where} holds a {type(raw).__name__}, not a mapping", "write a W&B sweep configuration"
                )
            ],
            subject="sweep",
        )
    raw = copy.deepcopy(dict(raw))
    for key in raw:
        if key in TOP_KEYS:
            continue
        if key in _WANDB_ONLY:
            offline.append(
                Problem(
                    f"unsupported key {key!r}: {_WANDB_ONLY[key]}",
                    "remove it for the offline backend, or run with --backend wandb",
                )
            )
            continue
        near = difflib.get_close_matches(str(key), TOP_KEYS, n=3, cutoff=0.6)
        problems.append(
            Problem(
                f"unknown key {key!r}",
                f"did you mean {', '.join(map(repr, near))}?" if near else f"use {', '.join(TOP_KEYS[:11])}",
            )
        )
    method = raw.get("method")
    if method not in METHODS:
        near = difflib.get_close_matches(str(method), METHODS, n=1, cutoff=0.5)
        problems.append(
            Problem(
                f"'method' is {method!r}",
                (f"did you mean {near[0]!r}? " if near else "") + "use bayes, random or grid",
            )
        )
    # metric
    metric, goal, target = None, "minimize", None
    m = raw.get("metric")
    if m is not None:
        if not isinstance(m, Mapping) or "name" not in m:
            problems.append(Problem(f"'metric' is {m!r}", "write metric: {name: val/new_ap, goal: maximize}"))
        else:
            for k in m:
                if k in _METRIC_WANDB_ONLY:
                    offline.append(
                        Problem(f"unsupported key metric.{k}: {_METRIC_WANDB_ONLY[k]}", "remove it")
                    )
                elif k not in METRIC_KEYS:
                    problems.append(Problem(f"unknown key metric.{k}", "metric takes name, goal, target"))
            metric = str(m["name"])
            goal = m.get("goal", "minimize")
            if goal not in ("maximize", "minimize"):
                problems.append(Problem(f"metric.goal is {goal!r}", "use maximize or minimize"))
            target = m.get("target")
            if target is not None and not _is_number(target):
                problems.append(Problem(f"metric.target is {target!r}", "give a number"))
    elif method == "bayes" or raw.get("early_terminate"):
        problems.append(
            Problem(
                "bayes search and early termination need a 'metric'",
                "write metric: {name: val/new_ap, goal: maximize}",
            )
        )
    # run cap
    run_cap = raw.get("run_cap")
    if run_cap is not None and (not _is_int(run_cap) or run_cap < 1):
        problems.append(Problem(f"'run_cap' is {run_cap!r}", "give an integer >= 1"))
        run_cap = None
    # early termination
    hyperband = None
    et = raw.get("early_terminate")
    if et is not None:
        hyperband = _hyperband(et, problems)
        if hyperband and not float(hyperband["eta"]).is_integer():
            offline.append(
                Problem(
                    f"early_terminate.eta is {hyperband['eta']}: Optuna's Hyperband needs an integer",
                    "use eta: 2, 3 or 4",
                )
            )
    # parameters
    params: list[Param] = []
    if "parameters" not in raw:
        problems.append(Problem("the sweep has no 'parameters'", "list the configuration keys to search"))
    else:
        _flatten_params(raw["parameters"], "", "parameters", problems, params)
    params.sort(key=lambda p: p.name)
    names = [p.name for p in params]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(Problem(f"parameter {dup!r} is given twice", "give each key once"))
    for p in params:
        pr = _optuna_problem(f"parameters.{p.name}", p)
        if pr is not None:
            offline.append(pr)
    if method == "grid":
        for p in params:
            if p.kind not in _GRID_KINDS:
                problems.append(
                    Problem(
                        f"parameters.{p.name} is continuous ({p.kind}); a grid sweep cannot enumerate it",
                        "give values: [...], or int_uniform / q_uniform bounds, or use method: random/bayes",
                    )
                )
    if backend == "optuna":
        problems += offline
    # the command
    config, cmd_overrides, fit_options = _parse_command(raw.get("command"), problems)
    from emberxr.train.config import parse_override

    fixed: dict[str, Any] = {}
    for word in [*cmd_overrides, *_override_words(overrides)]:
        try:
            k, v = parse_override(word) if isinstance(word, str) else word
        except ConfigError as exc:
            problems += exc.problems
            continue
        fixed[k] = v
    clash = sorted(set(fixed) & set(names))
    for k in clash:
        problems.append(
            Problem(
                f"{k!r} is both swept and fixed ({fixed[k]!r})", "remove the fixed override or the parameter"
            )
        )
    name = str(raw.get("name") or (Path(source).stem if source else "sweep"))
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        problems.append(Problem(f"sweep name {name!r} is not a folder name", "use letters, digits, _ . -"))
    spec = SweepSpec(
        raw=raw,
        source=Path(source) if source else None,
        name=name,
        method=str(method),
        metric=metric or "",
        goal=goal,
        target=target,
        params=params,
        run_cap=run_cap,
        hyperband=hyperband,
        config=str(config or ""),
        fixed=fixed,
        fit_options=fit_options,
    )
    if not problems and check_config:
        problems += _config_problems(spec)
    if problems:
        raise ConfigError(problems, subject=f"sweep {where}")
    return spec


def _override_words(overrides: Sequence[str] | Mapping[str, Any] | None) -> list[Any]:
    if not overrides:
        return []
    if isinstance(overrides, Mapping):
        return list(overrides.items())
    return list(overrides)


def _hyperband(et: Any, problems: list[Problem]) -> dict[str, Any] | None:
    if not isinstance(et, Mapping) or et.get("type") != "hyperband":
        problems.append(
            Problem(
                f"early_terminate is {et!r}",
                "the only early termination is {type: hyperband, min_iter: N} (or max_iter and s)",
            )
        )
        return None
    out = {"min_iter": et.get("min_iter"), "max_iter": et.get("max_iter"), "eta": et.get("eta", 3)}
    for k in et:
        if k not in HYPERBAND_KEYS:
            problems.append(
                Problem(
                    f"unsupported key early_terminate.{k}", f"hyperband takes {', '.join(HYPERBAND_KEYS[1:])}"
                )
            )
    if et.get("strict", True) is not True:
        problems.append(
            Problem(
                "unsupported key early_terminate.strict: false (W&B's relaxed rule)",
                "remove it: Optuna's Hyperband is the original (strict) algorithm",
            )
        )
    eta = out["eta"]
    if not _is_number(eta) or eta <= 1:
        problems.append(Problem(f"early_terminate.eta is {eta!r}", "give a number > 1 (default 3)"))
        return None
    for k in ("min_iter", "max_iter"):
        v = out[k]
        if v is not None and (not _is_int(v) or v < 1):
            problems.append(Problem(f"early_terminate.{k} is {v!r}", "give an integer >= 1 (epochs)"))
            return None
    s = et.get("s")
    if out["min_iter"] is None:
        if out["max_iter"] is None or s is None:
            problems.append(
                Problem(
                    "early_terminate needs min_iter, or max_iter and s",
                    "e.g. early_terminate: {type: hyperband, min_iter: 2}",
                )
            )
            return None
        if not _is_number(s) or s < 0:
            problems.append(Problem(f"early_terminate.s is {s!r}", "give a number >= 0 (brackets)"))
            return None
        # W&B stops runs at max_iter / eta^k for k = 1..s: the first band is max_iter / eta^s
        out["min_iter"] = max(1, round(out["max_iter"] / eta**s))
    if out["max_iter"] is not None and out["max_iter"] < out["min_iter"]:
        problems.append(
            Problem(
                f"early_terminate.max_iter {out['max_iter']} is below min_iter {out['min_iter']}", "swap them"
            )
        )
    return out


def _config_problems(spec: SweepSpec) -> list[Problem]:
    """Apply every parameter value (and the fixed overrides) to the training configuration."""
    from emberxr.train.config import build_config, merge_overrides, read_yaml, resolved_settings
    from emberxr.train.loop import monitor_keys

    problems: list[Problem] = []
    try:
        base = merge_overrides(read_yaml(spec.config), spec.fixed)
        model = spec.fit_options.get("model")
        cfg0 = build_config(model, base, spec.constants)
    except ConfigError as exc:
        return [
            Problem(f"the command's configuration {spec.config!r}: {p.what}", p.fix) for p in exc.problems
        ]
    machine = [*MACHINE_KEYS, *(f"wandb.{k}" for k in cfg0.get("wandb", {}))]
    spec.resolved = resolved_settings(cfg0, leave_out=machine)
    if not spec.metric:
        spec.metric = cfg0["training"]["monitor"]
        spec.goal = "maximize" if cfg0["training"]["monitor_mode"] == "max" else "minimize"
    keys = monitor_keys()
    if spec.metric not in keys:
        near = difflib.get_close_matches(spec.metric, keys, n=3, cutoff=0.5)
        problems.append(
            Problem(
                f"metric.name {spec.metric!r} is not a metric emberxr fit logs every epoch",
                (f"did you mean {', '.join(map(repr, near))}? " if near else "")
                + f"use one of {', '.join(keys)}",
            )
        )
    seen: set[tuple[str, str]] = set()
    for p in spec.searched:
        for value in p.probes():
            try:
                build_config(model, base, {**spec.constants, p.name: value})
            except ConfigError as exc:
                for pr in exc.problems:
                    if (p.name, pr.what) in seen:
                        continue
                    seen.add((p.name, pr.what))
                    problems.append(Problem(f"parameters.{p.name} = {value!r}: {pr.what}", pr.fix))
    return problems


def load_sweep(
    path: str | os.PathLike,
    *,
    backend: str = "optuna",
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    check_config: bool = True,
) -> SweepSpec:
    """Read a sweep YAML (a path, or a shipped name such as ``sweep_emberformer``) and check it.

    See :func:`parse_sweep` for the parameters; raises :class:`~emberxr.errors.ConfigError`
    listing every problem.
    """
    from emberxr.train.config import find_config, read_yaml

    found = find_config(path)
    raw = read_yaml(found)
    return parse_sweep(raw, source=found, backend=backend, overrides=overrides, check_config=check_config)
