from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def exported_bundle(trained_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the test bundle with its ONNX export (made once per test session)."""
    pytest.importorskip("onnxruntime")
    from training.export import export_onnx

    out = Path(shutil.copytree(trained_bundle, tmp_path_factory.mktemp("onnx") / "model"))
    export_onnx(out)
    return out


@pytest.fixture(scope="session")
def family_bundles(
    exported_bundle: Path, sample_product: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """An exported bundle of every registered model family, trained on the sample product
    with that family's defaults (the default family reuses ``exported_bundle``), so every
    family a later change registers is export- and parity-tested without editing tests."""
    from inspector.models import list_models
    from training.export import export_onnx
    from training.settings import TrainSettings
    from training.train import train

    out = {"cnn-cluster": exported_bundle}
    for family in list_models():
        if family not in out:
            path = tmp_path_factory.mktemp(family) / "model"
            train(sample_product, path, TrainSettings(model=family), show_progress=False)
            export_onnx(path)
            out[family] = path
    return out
