"""The W&B backend: register a sweep configuration on a W&B server and run ``wandb agent``.

The YAML goes to W&B as it is, except that the settings given on the ``emberxr sweep`` command
line (fixed ``key=value`` overrides, ``--device``, ``--data``, ``--no-wandb`` is refused) are
written into its ``command`` before ``${args_no_hyphens}``, so every agent's ``emberxr fit`` gets
them. W&B samples, prunes (``early_terminate``) and caps (``run_cap``) on its server; each agent
runs ``emberxr fit`` as a child process (``wandb agent --count N``).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from emberxr.errors import ConfigError, Problem, SweepError
from emberxr.sweep.spec import ARG_MACRO, SweepSpec

__all__ = ["wandb_command", "wandb_sweep"]


def wandb_command(spec: SweepSpec, extra: Sequence[str]) -> dict[str, Any]:
    """The sweep configuration sent to W&B: ``extra`` words inserted before the argument macro."""
    raw = copy.deepcopy(spec.raw)
    cmd = [str(c) for c in raw["command"]]
    at = cmd.index(ARG_MACRO)
    raw["command"] = [*cmd[:at], *extra, *cmd[at:]]
    return raw


def _credentials() -> bool:
    from emberxr.train.wandb_utils import resolve_mode

    return resolve_mode("online") == "online"


def wandb_sweep(
    spec: SweepSpec,
    *,
    overrides: Sequence[str] = (),
    trials: int | None = None,
    workers: int = 1,
    data: str | None = None,
    device: str | None = None,
    project: str | None = None,
    entity: str | None = None,
) -> str:
    """Create the sweep on the W&B server and run ``workers`` agents here; returns the sweep path.

    Raises
    ------
    ConfigError
        No W&B credentials (``WANDB_API_KEY`` or ``wandb login``): nothing is sent.
    SweepError
        An agent exited with an error.
    """
    if not _credentials():
        raise ConfigError(
            [
                Problem(
                    "W&B sweeps run on a W&B server and need an account: no WANDB_API_KEY and no `wandb login`",
                    "log in (wandb login) or export WANDB_API_KEY; or run the same YAML offline with "
                    "--backend optuna",
                )
            ],
            subject="sweep",
        )
    import wandb

    extra = list(overrides)
    if device is not None:
        extra.append(f"training.device={device}")
    if data is not None:
        extra += ["--data", str(data)]
    config = wandb_command(spec, extra)
    project = project or config.get("project") or "emberxr"
    entity = entity or config.get("entity")
    sweep_id = wandb.sweep(config, entity=entity, project=project)
    path = "/".join(p for p in (entity, project, sweep_id) if p)
    print(f"[emberxr] W&B sweep {path}: more agents anywhere with `wandb agent {path}`")
    agent = [sys.executable, "-m", "wandb", "agent", *(["--count", str(trials)] if trials else []), path]
    procs = [subprocess.Popen(agent) for _ in range(max(1, workers))]
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SweepError(f"wandb agent exited with {codes}; see its output above")
    return path
