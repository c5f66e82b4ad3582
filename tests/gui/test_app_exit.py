"""The station started from the command line exits cleanly (the --screenshot path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_screenshot_run_exits_cleanly(tmp_path: Path, trained_bundle: Path, parts: Path) -> None:
    # A window left to Python's finalisation dies at exit (segfault: "shared QObject was
    # deleted directly") in most runs: two runs in a row must both end with code 0.
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


def _rows(log_file: Path) -> int:
    import sqlite3
    from contextlib import closing

    if not log_file.is_file():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{log_file}?mode=ro", uri=True, timeout=1)) as db:
            return int(db.execute("SELECT COUNT(*) FROM inspections").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sigterm_closes_the_station_like_its_window(
    tmp_path: Path, trained_bundle: Path, parts: Path
) -> None:
    """Settings saved, log closed (no WAL left), threads joined, exit status 0."""
    import json
    import signal
    import time

    ws = tmp_path / "ws"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen(
            [sys.executable, "-m", "gui.app", "--workspace", str(ws)]
            + ["--model", str(trained_bundle), "--source", str(parts), "--trigger", "continuous"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 90
            before = _rows(ws / "inspections.sqlite")
            while _rows(ws / "inspections.sqlite") < before + 2 and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()[1][-2000:]
                time.sleep(0.3)
            time.sleep(1.0)  # the settings written after start-up are on disk by now
            (ws / "settings.json").unlink()  # only the shutdown can write it again
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, (sig, err[-2000:])
        assert "Traceback" not in err and "shared QObject" not in err
        saved = json.loads((ws / "settings.json").read_text())
        assert saved["source"] == str(parts) and saved["model"] == str(trained_bundle)
        wal = ws / "inspections.sqlite-wal"
        assert not wal.exists() or wal.stat().st_size == 0  # every connection closed
