"""``emberxr models``: lists models and decoders with their sources."""

from __future__ import annotations

import json

from emberxr.cli import main


def test_models_command_lists_builtins_with_sources(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "models:" in out and "decoders:" in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("utae"))
    assert "emberxr (emberxr.models.utae:UTAE)" in line
    assert any(ln.strip().startswith("light") for ln in out.splitlines())


def test_models_command_json_pattern_and_check(capsys):
    assert main(["models", "u*", "--json", "--check"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(data["models"]) == ["unets", "utae"]
    assert {"light", "unet", "segformer"} <= set(data["decoders"])
    assert data["broken"] == []
