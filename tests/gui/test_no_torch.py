"""The UI side never runs a model: building the station's modules loads no torch.

(The static check that no gui module imports torch is in tests/test_code_quality.py.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_building_the_window_modules_loads_no_torch() -> None:
    code = (
        "import sys, gui.main_window, gui.app, gui.commands\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
