"""GUI fixtures: a station window on a temporary workspace with the shared test model."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("PySide6")


TEST_PIN = "2468"


@pytest.fixture(autouse=True)
def engineer_at_the_station(monkeypatch):
    """Every window starts unlocked as engineer (the PIN set, typed when asked) and every
    change is confirmed; tests of the roles themselves lock it and replace
    ``win.guard.prompts``. Unlocking up front keeps the PIN check (scrypt, slow on purpose)
    out of the tests' timing."""
    from gui.guard import Guard, Prompts
    from station.roles import Role

    def prompts(guard: Guard) -> Prompts:
        if guard.access.needs_first_pin():
            guard.access.set_pin(Role.ENGINEER, TEST_PIN)
        guard.access.unlock(TEST_PIN)
        return Prompts(
            ask_pin=lambda *_: TEST_PIN,
            confirm=lambda *_: True,
            tell=lambda *_: None,
            ask_text=lambda _parent, _title, current: current,
        )

    monkeypatch.setattr(Guard, "prompts_for", prompts)


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
