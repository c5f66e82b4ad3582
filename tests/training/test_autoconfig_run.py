"""Automatic configuration in real training runs on the sample product."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.bundle import read_meta
from training.settings import TrainSettings
from training.train import train

pytestmark = pytest.mark.slow  # fits models


def _cli(*argv: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "inspector.cli", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def test_cli_run_records_and_shows_the_search(sample_product: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    run = _cli(
        "train", "--data", str(sample_product), "--out", str(out), "--input-size", "128",
        "--max-memory", "400", "--set", "blur_sigma=4", "--export", "none", "--quiet",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    block = read_meta(out).training["autoconfig"]
    # Given explicitly (even at its default): kept, never searched.
    assert "blur_sigma" in block["explicit"] and "blur_sigma" not in block["searched"]
    assert set(block["searched"]) == {"normalize_intensity", "layers", "score_topk"}
    assert len(block["candidates"]) == 2 * 2 * 3
    assert block["check_set"]["good_images"] == 8 and block["check_set"]["defective_images"] > 8
    assert all(0.0 <= c["combined"] <= 1.0 for c in block["candidates"])
    assert block["given"]["settings"]["normalize_intensity"] is True
    settings = json.loads((out / "train_settings.json").read_text())
    for key, value in block["chosen"].items():  # the model is fitted with the choice
        assert settings[key] == value
    assert settings["blur_sigma"] == 4.0 and settings["auto"] == "on"
    assert "automatic configuration in" in run.stdout
    assert "given explicitly, not searched: blur_sigma" in run.stdout

    shown = _cli("evaluate", str(sample_product), "--model", str(out))
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "automatic configuration in" in shown.stdout
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["autoconfig"]["chosen"] == block["chosen"]


def test_auto_off_fits_the_settings_as_given(sample_product: Path, tmp_path: Path) -> None:
    small = {"input_size": 128, "max_memory": 400}
    off = train(
        sample_product, tmp_path / "off", TrainSettings().override(auto="off", **small),
        show_progress=False,
    )  # fmt: skip
    assert "autoconfig" not in off.training
    # Every searched setting given explicitly: the search runs and must change nothing, so
    # the model is the one the settings as given make, to the model id.
    names = ["normalize_intensity", "layers", "blur_sigma", "score_topk"]
    kept = train(
        sample_product, tmp_path / "kept", TrainSettings().override(**small),
        show_progress=False, explicit=names,
    )  # fmt: skip
    assert kept.training["autoconfig"]["note"] == "every searched setting was given"
    assert kept.model_id == off.model_id
    assert {**kept.training["settings"], "auto": "off"} == off.training["settings"]
