from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def exported_bundle(trained_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the test bundle with its ONNX export (made once per test run)."""
    pytest.importorskip("onnxruntime")
    from training.export import export_onnx

    out = Path(shutil.copytree(trained_bundle, tmp_path_factory.mktemp("onnx") / "model"))
    export_onnx(out)
    return out
