"""Exit codes of the command line: 0 ok, 1 bad input, 2 usage, 70 internal bug; tracebacks only with --debug."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import emberxr.cli.models
from emberxr.cli import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_USAGE, main


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-command"],
        ["predict"],  # missing arguments
        ["predict", "a.pt", "b", "-o", "c.tif", "--horizon", "two"],  # not an integer
        ["models", "--no-such-flag"],
        ["evaluate", "a.pt", "b", "--debug"],  # --debug is global: it goes before the command
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "usage: emberxr" in err and "Traceback" not in err


def test_a_command_group_without_action_exits_2(capsys):
    assert main(["data"]) == EXIT_USAGE
    assert main([]) == EXIT_USAGE


def test_bad_input_exits_1_with_a_message_and_no_traceback(tmp_path, capsys):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["predict", str(bad), str(tmp_path), "-o", str(tmp_path / "f.tif")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("emberxr predict: error: ") and str(bad) in err and "Traceback" not in err
    assert main(["--debug", "predict", str(bad), str(tmp_path), "-o", str(tmp_path / "f.tif")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "CheckpointError" in err and "emberxr predict: error: " in err


def test_amp_with_an_exported_model_is_refused_before_anything_is_read(tmp_path, capsys):
    onnx = tmp_path / "model.onnx"  # not even a file: the options are checked first
    out = tmp_path / "f.tif"
    assert (
        main(["predict", str(onnx), str(tmp_path / "none.zarr"), "-o", str(out), "--amp"]) == EXIT_BAD_INPUT
    )
    err = capsys.readouterr().err
    assert "--amp with the exported model" in err and "leave out --amp" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_internal_bug_exits_70_and_asks_for_a_report(monkeypatch, capsys):
    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(emberxr.cli.models, "run", broken)
    assert main(["models"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "emberxr models: internal error (ZeroDivisionError: division by zero)" in err
    assert "bug in emberxr" in err and "emberxr --debug models" in err and "Traceback" not in err
    assert main(["--debug", "models"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" in err and "in broken" in err


def test_the_installed_command_exits_1_without_traceback(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "emberxr",
        "predict",
        str(tmp_path / "missing.pt"),
        str(tmp_path),
        "-o",
        "f.tif",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "emberxr predict: error:" in done.stderr and "Traceback" not in done.stderr


def test_predict_mask_file_is_gray_with_nodata_outside_the_footprint(tmp_path, make_synthetic_event, capsys):
    """``emberxr predict --mask`` with 4 steps: 4 gray/undefined bands (no alpha), 255 outside."""
    import rasterio
    from rasterio.enums import ColorInterp

    import emberxr
    from emberxr.io.events import save_event

    train = [make_synthetic_event(seed=i, event_id=f"s{i}") for i in range(2)]
    emberxr.fit(
        train, model="copylast", run_dir=tmp_path / "run", wandb__enabled=False, progress=False, patch_size=8
    )
    event = make_synthetic_event(seed=5, invalid_border=6)
    store = save_event(event, tmp_path / "event.zarr")
    mask = tmp_path / "mask.tif"
    argv = ["predict", str(tmp_path / "run" / "model.pt"), str(store), "-o", str(tmp_path / "p.tif")]
    assert main([*argv, "--horizon", "4", "--mask", str(mask), "--t", "3"]) == 0
    with rasterio.open(mask) as src:
        assert src.count == 4 and src.nodata == 255 and src.dtypes[0] == "uint8"
        assert src.colorinterp == (ColorInterp.gray,) + (ColorInterp.undefined,) * 3
        assert src.descriptions == ("t+1h", "t+2h", "t+3h", "t+4h")
        data = src.read()
    outside = ~event.valid.values
    assert (data[:, outside] == 255).all() and set(np.unique(data[:, ~outside])) == {0, 1}
