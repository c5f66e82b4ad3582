"""The UI side never runs a model: the gui package must not import torch itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

GUI = Path(__file__).resolve().parents[2] / "gui"


def test_no_gui_module_imports_torch_or_training() -> None:
    for path in GUI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in ("torch", "timm", "training"), f"{path}: imports {name}"


def test_building_the_window_modules_loads_no_torch() -> None:
    code = (
        "import sys, gui.main_window, gui.app, gui.commands\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=GUI.parent)
