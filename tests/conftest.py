"""Shared fixtures: one small model trained once per test run on the sample images."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Tests must never reach a model hub; a missing cache must fail fast, not hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"

# Fixtures that train a model: every test that uses one (directly or through another fixture)
# is marked slow, so `-m "not slow"` never starts a training run.
TRAINING_FIXTURES = frozenset({"trained_bundle", "family_bundles"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: it must see these marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TRAINING_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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


# Epochs for gradient-trained families in tests: enough to find the sample defects, few
# enough for the suite's time budget. A family not listed gets QUICK_EPOCHS.
QUICK_EPOCHS = 5
TEST_EPOCHS = {"feature-ae": 10, "feature-gan": 40, "cae": 8, "ganomaly": 5, "fusion": 10}


@pytest.fixture(scope="session")
def family_bundles(
    trained_bundle: Path, sample_product: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """An ONNX-exported bundle of every registered model family, trained on the sample
    product with that family's defaults (fewer epochs), so every family a later change
    registers is trained, evaluated, exported and parity-tested without editing tests."""
    pytest.importorskip("onnxruntime")
    from inspector.models import list_models
    from training.export import export_onnx
    from training.settings import TrainSettings
    from training.train import train

    out = {}
    for family in list_models():
        path = tmp_path_factory.mktemp(family) / "model"
        if family == "cnn-cluster":
            shutil.copytree(trained_bundle, path)
        else:
            epochs = TEST_EPOCHS.get(family, QUICK_EPOCHS)
            settings = TrainSettings.for_family(family, epochs=epochs, tensorboard=False)
            train(sample_product, path, settings, show_progress=False)
        export_onnx(path)
        out[family] = path
    return out
