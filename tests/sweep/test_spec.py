"""The W&B sweep format: validation (every problem, naming its key) and the mapping onto Optuna."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from emberxr.errors import ConfigError
from emberxr.sweep.spec import load_sweep, parse_sweep, quantize

from .conftest import COMMAND

optuna.logging.set_verbosity(optuna.logging.WARNING)


def spec_of(params, method="random", check_config=False, **top):
    raw = {"method": method, "metric": {"name": "val/new_ap", "goal": "maximize"}, "command": COMMAND}
    raw.update(top)
    raw["parameters"] = params
    return parse_sweep(raw, source="test.yaml", check_config=check_config)


def draw(param, n=1500, seed=0):
    """``n`` configuration values of one parameter from Optuna's random sampler."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(param.suggest(trial))
        study.tell(trial, 0.0)
    return out


def one(form):
    (p,) = spec_of({"a.x": form}).params
    return p


def problems_of(exc):
    return "\n".join(str(p) for p in exc.value.problems)


# ---------------------------------------------------------------------------------------------
# every parameter form, sampled
# ---------------------------------------------------------------------------------------------
def test_constant_is_applied_not_searched():
    p = one({"value": 7})
    assert (p.kind, p.searched) == ("constant", False)
    assert set(draw(p, 20)) == {7}


def test_categorical_values_including_lists_come_back_as_given():
    p = one({"values": [[16, 32], [32, 64, 128], "x", 3]})
    got = draw(p, 400)
    assert all(v in ([16, 32], [32, 64, 128], "x", 3) for v in got)
    assert {str(v) for v in got} == {"[16, 32]", "[32, 64, 128]", "x", "3"}
    assert isinstance(next(v for v in got if isinstance(v, list)), list)


def test_min_max_of_integers_is_int_uniform_with_both_ends():
    p = one({"min": 2, "max": 5})
    assert p.kind == "int_uniform"
    got = draw(p, 600)
    assert all(type(v) is int for v in got)
    assert set(got) == {2, 3, 4, 5}


@pytest.mark.parametrize(
    "form", [{"min": 0, "max": 0.5}, {"min": 0.0, "max": 1}, {"distribution": "uniform", "min": 1, "max": 3}]
)
def test_min_max_with_a_float_is_a_float_uniform(form):
    p = one(form)
    assert p.kind == "uniform"
    got = np.array(draw(p, 2000))
    lo, hi = float(form["min"]), float(form["max"])
    assert got.min() >= lo and got.max() <= hi
    assert len(set(got.tolist())) > 1900  # continuous
    # uniform, not log: the median sits in the middle
    assert abs(np.median(got) - (lo + hi) / 2) < 0.06 * (hi - lo)


def test_int_uniform_with_float_bounds_is_refused():
    with pytest.raises(ConfigError) as exc:
        one({"distribution": "int_uniform", "min": 0.5, "max": 3})
    assert "int_uniform needs integer min and max" in problems_of(exc)


@pytest.mark.parametrize(
    ("form", "lo", "hi"),
    [
        ({"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1}, 1e-4, 1e-1),
        ({"distribution": "log_uniform", "min": math.log(1e-4), "max": math.log(1e-1)}, 1e-4, 1e-1),
        # 1/X log-uniform on [min, max] is X log-uniform on the same bounds
        ({"distribution": "inv_log_uniform_values", "min": 1e-4, "max": 1e-1}, 1e-4, 1e-1),
        # X = exp(-U(min, max)): X in [e^-max, e^-min]
        ({"distribution": "inv_log_uniform", "min": math.log(10), "max": math.log(1e4)}, 1e-4, 1e-1),
    ],
)
def test_log_forms_are_log_uniform_on_the_right_bounds(form, lo, hi):
    got = np.array(draw(one(form), 3000))
    assert got.min() >= lo * (1 - 1e-9) and got.max() <= hi * (1 + 1e-9)
    logs = np.log10(got)
    # uniform in log space: every decade holds about a third of the draws
    for a in (-4, -3, -2):
        share = np.mean((logs >= a) & (logs < a + 1))
        assert 0.28 < share < 0.39, (a, share)
    assert abs(np.median(logs) + 2.5) < 0.1  # geometric mean of the bounds


@pytest.mark.parametrize(
    ("form", "lo", "hi", "q", "integer"),
    [
        ({"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25}, 0.0, 1.0, 0.25, False),
        ({"distribution": "q_uniform", "min": 4, "max": 64, "q": 4}, 4, 64, 4, True),
        ({"distribution": "q_log_uniform_values", "min": 8, "max": 512, "q": 8}, 8, 512, 8, True),
        (
            {"distribution": "q_log_uniform", "min": math.log(1e-3), "max": math.log(1.0), "q": 1e-3},
            1e-3,
            1.0,
            1e-3,
            False,
        ),
    ],
)
def test_quantised_forms_round_to_multiples_of_q(form, lo, hi, q, integer):
    got = draw(one(form), 1500)
    assert all(isinstance(v, int) for v in got) if integer else all(isinstance(v, float) for v in got)
    for v in got:
        k = v / q
        assert abs(k - round(k)) < 1e-9, v  # a multiple of q, without float noise
        assert lo - q / 2 <= v <= hi + q / 2
    if form["distribution"].startswith("q_log"):  # log-scale before rounding: small values dominate
        assert np.median(got) < (lo + hi) / 4


def test_quantize_is_w_and_b_rounding_without_noise():
    assert quantize(0.30000000000000004, 0.1) == 0.3
    assert quantize(13.0, 4) == 12 and isinstance(quantize(13.0, 4), int)
    assert quantize(0.07, 0.05) == 0.05


@pytest.mark.parametrize(
    ("form", "suggestion"),
    [
        ({"distribution": "normal", "mu": 0.1, "sigma": 0.05}, "min: 0, max: 0.2"),
        ({"distribution": "log_normal", "mu": -7, "sigma": 1}, "log_uniform_values"),
        ({"distribution": "q_normal", "mu": 8, "sigma": 2, "q": 1}, "q_uniform, min: 4, max: 12"),
        ({"distribution": "beta", "a": 2, "b": 3}, "min: 0.0, max: 1.0"),
        ({"values": [1, 2], "probabilities": [0.9, 0.1]}, "remove probabilities"),
    ],
)
def test_forms_without_an_optuna_counterpart_are_errors_with_a_bounded_fix(form, suggestion):
    with pytest.raises(ConfigError) as exc:
        one(form)
    text = problems_of(exc)
    assert "parameters.a.x" in text and suggestion in text
    # W&B samples them itself: the wandb backend accepts the same YAML
    raw = {"method": "random", "command": COMMAND, "parameters": {"a.x": form}}
    assert parse_sweep(raw, backend="wandb", check_config=False).params[0].kind != "constant"


def test_nested_parameter_groups_become_dotted_names():
    spec = spec_of(
        {
            "model": {"parameters": {"hidden": {"values": [4, 8]}, "layers": {"value": 2}}},
            "training.seed": {"value": 1},
        }
    )
    assert [p.name for p in spec.params] == ["model.hidden", "model.layers", "training.seed"]
    assert spec.constants == {"model.layers": 2, "training.seed": 1}


# ---------------------------------------------------------------------------------------------
# grid
# ---------------------------------------------------------------------------------------------
def test_grid_values_follow_w_and_b():
    spec = spec_of(
        {
            "a.cat": {"values": ["x", "y"]},
            "a.int": {"min": 1, "max": 3},
            "a.q": {"distribution": "q_uniform", "min": 0.0, "max": 0.3, "q": 0.1},  # arange: max excluded
            "a.const": {"value": 5},
        },
        method="grid",
    )
    assert spec.grid_space() == {"a.cat": ["x", "y"], "a.int": [1, 2, 3], "a.q": [0.0, 0.1, 0.2]}
    assert spec.grid_size() == 18


def test_a_continuous_parameter_in_a_grid_is_an_error_naming_it():
    with pytest.raises(ConfigError) as exc:
        spec_of(
            {
                "a.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
                "a.b": {"values": [1]},
            },
            method="grid",
        )
    text = problems_of(exc)
    assert "parameters.a.lr is continuous" in text and "a.b" not in text


# ---------------------------------------------------------------------------------------------
# validation: every problem at once, each naming its key
# ---------------------------------------------------------------------------------------------
def test_unsupported_and_unknown_keys_are_all_named(write_sweep):
    path = write_sweep(
        {
            "method": "bayse",
            "controller": {"type": "local"},
            "metric": {"name": "val/new_ap", "goal": "maximize", "impute": "worst"},
            "early_terminate": {"type": "hyperband", "min_iter": 1, "strict": False},
            "paramters": {},
            "parameters": {
                "model.hidden": {"values": [4], "step": 2},
                "training.lr_temporal": {"distribution": "log_uniform_values", "min": "1e-4", "max": 0.1},
                "training.weight_decay": {"distribution": "gaussian"},
            },
        }
    )
    with pytest.raises(ConfigError) as exc:
        load_sweep(path)
    text = problems_of(exc)
    for needle in (
        "'method' is 'bayse'",
        "did you mean 'bayes'",
        "unsupported key 'controller'",
        "unsupported key metric.impute",
        "unsupported key early_terminate.strict",
        "unknown key 'paramters'",
        "did you mean 'parameters'",
        "unsupported key parameters.model.hidden.step",
        "write 1.0e-4",
        "'gaussian' is not a W&B distribution",
    ):
        assert needle in text, needle


def test_parameter_values_are_checked_against_the_training_config(write_sweep):
    path = write_sweep(
        {
            "method": "random",
            "metric": {"name": "val/new_aq", "goal": "maximize"},
            "parameters": {
                "model.hiden": {"values": [4, 8]},
                "training.batch_size": {"values": [0, 8]},
                "training.lr_temporal": {"min": -1.0, "max": 0.1},
            },
        }
    )
    with pytest.raises(ConfigError) as exc:
        load_sweep(path)
    text = problems_of(exc)
    assert "metric.name 'val/new_aq'" in text and "did you mean 'val/new_ap'" in text
    assert "parameters.model.hiden = 4" in text and "'model.hidden'" in text
    assert "parameters.training.batch_size = 0" in text
    assert "parameters.training.batch_size = 8" not in text
    assert "parameters.training.lr_temporal = -1.0" in text


def test_the_command_must_run_emberxr_fit_with_args_no_hyphens(write_sweep):
    with pytest.raises(ConfigError) as exc:
        load_sweep(
            write_sweep(
                {
                    "method": "random",
                    "command": ["python", "train.py", "${args}"],
                    "parameters": {"model.hidden": {"values": [4]}},
                }
            )
        )
    text = problems_of(exc)
    assert "${args}" in text and "${args_no_hyphens}" in text and "does not run emberxr fit" in text
    cmd = [*COMMAND[:-1], "--resume", "${args_no_hyphens}"]
    with pytest.raises(ConfigError) as exc:
        load_sweep(
            write_sweep({"method": "random", "command": cmd, "parameters": {"model.hidden": {"values": [4]}}})
        )
    assert "'--resume'" in problems_of(exc)


def test_fixed_overrides_from_the_command_and_the_caller(write_sweep):
    cmd = [*COMMAND[:-1], "training.epochs=3", "--data", "sim-small", "${args_no_hyphens}"]
    spec = load_sweep(
        write_sweep({"method": "random", "command": cmd, "parameters": {"model.hidden": {"values": [4, 8]}}}),
        overrides=["training.batch_size=2"],
    )
    assert spec.config == "conv2d" and spec.fixed == {"training.epochs": 3, "training.batch_size": 2}
    assert spec.fit_options["data"] == "sim-small"
    with pytest.raises(ConfigError) as exc:
        load_sweep(spec.source, overrides=["model.hidden=16"])
    assert "'model.hidden' is both swept and fixed" in problems_of(exc)


def test_hyperband_with_max_iter_and_s_starts_where_w_and_b_does():
    spec = spec_of(
        {"a.x": {"values": [1]}}, early_terminate={"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3}
    )
    assert spec.hyperband == {"min_iter": 3, "max_iter": 27, "eta": 3}
    with pytest.raises(ConfigError, match="needs an integer"):
        spec_of({"a.x": {"values": [1]}}, early_terminate={"type": "hyperband", "min_iter": 1, "eta": 2.5})


@pytest.mark.parametrize("name", ["sweep_emberformer", "sweep_utae", "sweep_unets"])
def test_the_shipped_sweeps_validate_and_fit_accepts_what_the_agent_passes(name, monkeypatch):
    """Every shipped sweep passes validation, and `emberxr fit` takes the command a W&B agent builds
    (wandb's own formatting of sampled values: floats like 1e-05, lists, booleans)."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

    import emberxr.api
    from emberxr.cli import main

    spec = load_sweep(name)
    assert spec.metric == "val/new_ap" and spec.goal == "maximize" and spec.hyperband and spec.run_cap
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    got = []

    def capture(data, model=None, config=None, **kw):
        got.append(config)
        raise SystemExit(0)

    monkeypatch.setattr(emberxr.api, "fit", capture)
    for _ in range(3):
        trial = study.ask()
        values = {p.name: p.suggest(trial) for p in spec.searched}
        study.tell(trial, 0.0)
        args = create_sweep_command_args({"args": {k: {"value": v} for k, v in values.items()}})
        words = []
        for w in create_sweep_command(spec.raw["command"]):
            words += args[w[2:-1]] if w.startswith("${args") else [w]
        argv = words[words.index("fit") :]
        with pytest.raises(SystemExit):
            main(argv)
        from emberxr.train.config import build_config

        cfg = build_config(None, got[-1])
        for key, value in values.items():
            section, _, leaf = key.partition(".")
            have = cfg[section][leaf]
            assert have == value or (isinstance(value, float) and math.isclose(have, value, rel_tol=1e-9)), (
                key
            )
