"""GUI fixtures: a station window on a temporary workspace with the shared test model."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("PySide6")


@pytest.fixture
def model_copy(trained_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the test bundle (some tests write thresholds into it)."""
    return Path(shutil.copytree(trained_bundle, tmp_path / "model"))


@pytest.fixture
def parts(sample_product: Path, tmp_path: Path) -> Path:
    """A folder of a few good and defective sample parts, played as a camera."""
    folder = tmp_path / "camera"
    folder.mkdir()
    for kind in ("good", "scratch", "hole"):
        for src in sorted((sample_product / "test" / kind).glob("*.png"))[:2]:
            shutil.copy(src, folder / f"{kind}_{src.name}")
    return folder


@pytest.fixture
def window(qtbot, tmp_path: Path, model_copy: Path, parts: Path) -> Iterator:
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace

    ws = Workspace(tmp_path / "ws")
    settings = StationSettings(model=str(model_copy), source=str(parts), fps=20.0)
    win = MainWindow(ws, settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()
