"""The station started from the command line exits cleanly (the --screenshot path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_screenshot_run_exits_cleanly(tmp_path: Path, trained_bundle: Path, parts: Path) -> None:
    # Before the teardown fix most runs of this exact command line died at exit (segfault:
    # "shared QObject was deleted directly"); two runs in a row must both end with code 0.
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for run in range(2):
        shot = tmp_path / f"shot{run}.png"
        done = subprocess.run(
            [sys.executable, "-m", "gui.app", "--workspace", str(tmp_path / f"ws{run}")]
            + ["--model", str(trained_bundle), "--source", str(parts)]
            + ["--screenshot", str(shot), "--screenshot-after", "2"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "shared QObject" not in done.stderr
        assert shot.is_file() and shot.stat().st_size > 10_000
