"""The code stays lint-clean and the runtime stays free of training code."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.prefix) / "bin" / "ruff").exists(),
    reason="ruff not installed",
)
def test_ruff_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.prefix) / "bin" / "ruff")
    out = subprocess.run(
        [
            ruff,
            "check",
            "inspector",
            "training",
            "gui",
            "station",
            "tests",
            "benchmarks",
            "scripts",
            "sample_images",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_mypy_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    mypy = pytest.importorskip("mypy.api")
    monkeypatch.chdir(ROOT)  # the config lists package folders relative to the root
    stdout, stderr, status = mypy.run(["--config-file", str(ROOT / "pyproject.toml")])
    assert status == 0, stdout + stderr


def imported_modules(package: str) -> list[tuple[Path, str]]:
    """(file, module) for every import statement in a package, however deep or lazy."""
    found = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.append((path, node.module))
    return found


def test_inspector_never_imports_training() -> None:
    offenders = [
        f"{p.name}: {m}" for p, m in imported_modules("inspector") if m.split(".")[0] == "training"
    ]
    assert not offenders


def test_gui_never_imports_torch_or_training() -> None:
    """The UI side never runs a model: model code stays in inspector's worker-side API."""
    banned = {"torch", "timm", "training"}
    offenders = [f"{p.name}: {m}" for p, m in imported_modules("gui") if m.split(".")[0] in banned]
    assert not offenders


def test_station_core_never_imports_qt_torch_gui_or_training() -> None:
    """PLC links, recipes and monitors drive the station without a window or a model."""
    banned = {"torch", "timm", "training", "gui", "PySide6"}
    found = imported_modules("station")
    offenders = [f"{p.name}: {m}" for p, m in found if m.split(".")[0] in banned]
    assert not offenders


def test_light_imports_do_not_load_torch() -> None:
    # The GUI process and report tools import these; torch costs seconds and hundreds of MB.
    code = (
        "import sys, inspector, inspector.imageio, inspector.report, inspector.overlay, "
        "inspector.result; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr
