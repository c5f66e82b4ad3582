"""Shared fixtures: one small model trained once per test session on the sample images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests must never reach a model hub; a missing cache must fail fast, not hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"


@pytest.fixture(scope="session")
def sample_product() -> Path:
    """An MVTec-layout product folder from ``sample_images/``."""
    path = SAMPLES / "metal_plate"
    assert (path / "train" / "good").is_dir(), "sample_images/ is missing; run its generate.py"
    return path


@pytest.fixture(scope="session")
def trained_bundle(sample_product: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default cnn-cluster bundle fitted on the sample product (about 10 s)."""
    from training.settings import TrainSettings
    from training.train import train

    out = tmp_path_factory.mktemp("bundle") / "model"
    train(sample_product, out, TrainSettings(), show_progress=False)
    return out
