"""Progress bars stay sparse when stderr is a log file, and every slow stage shows one."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from emberxr.progress import LOG_INTERVAL, progress


def _segments(text: str) -> list[str]:
    """What a log viewer shows as lines: tqdm redraws with carriage returns."""
    return [s for s in re.split(r"[\r\n]", text) if s.strip()]


def test_bar_settings_in_a_log_file(capsys):
    bar = progress(range(3), "x")  # pytest's captured stderr is not a terminal
    assert bar.mininterval == LOG_INTERVAL and bar.maxinterval >= LOG_INTERVAL and not bar.dynamic_ncols
    list(bar)
    silent = progress(range(3), "quiet", enabled=False)
    assert list(silent) == [0, 1, 2]
    assert "quiet" not in capsys.readouterr().err


def test_postfix_on_every_step_does_not_redraw_in_a_log_file(tmp_path):
    code = (
        "from emberxr.progress import progress\n"
        "bar = progress(range(20000), 'steps')\n"
        "for i in bar:\n"
        "    bar.set_postfix(loss=f'{1 / (i + 1):.4f}')\n"
        "    bar.set_description(f'steps {i % 3}')\n"
    )
    log = tmp_path / "stderr.log"
    with open(log, "w") as err:
        done = subprocess.run([sys.executable, "-c", code], stderr=err, timeout=120)
    assert done.returncode == 0
    lines = _segments(log.read_text())
    assert 1 <= len(lines) <= 3, lines  # start and end, not one line per step
    assert "20000/20000" in lines[-1]


def test_fit_logs_few_progress_lines_and_shows_every_stage(tmp_path, events):
    from emberxr.io.events import save_events

    store = save_events(events[:3], tmp_path / "events.zarr")
    cfg = tmp_path / "fit.yaml"
    cfg.write_text(
        "model: {name: conv2d}\n"
        "data: {patch_size: 8, max_history: 3}\n"
        "training: {epochs: 2, steps_per_epoch: 40, batch_size: 2, progress: true, early_stopping: null}\n"
        "wandb: {enabled: false}\n"
    )
    log = tmp_path / "stderr.log"
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "emberxr",
        "fit",
        str(cfg),
        "--data",
        str(store),
        "--run-dir",
        str(tmp_path / "r"),
    ]
    with open(log, "w") as err:
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, timeout=300)
    text = log.read_text()
    assert done.returncode == 0, text[-3000:]
    lines = _segments(text)
    for stage in ("load events", "normalisation stats", "epoch 1/2", "epoch 2/2", "validate", "threshold"):
        assert any(line.startswith(stage) for line in lines), (stage, lines)
    for epoch in ("epoch 1/2", "epoch 2/2"):  # 40 steps with a loss postfix each
        assert len([line for line in lines if line.startswith(epoch)]) <= 3
    assert len(lines) <= 40, lines
