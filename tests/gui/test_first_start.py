"""First start: PREPARING with progress until the sample model is loaded, promoted once."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

FAKE_TRAIN = """
import json, shutil, sys, time
args = sys.argv[1:]
assert args[0] == "train" and args[-2:] == ["--progress", "json"], args
out = args[args.index("--out") + 1]
for i in range(4):
    sys.stderr.write(json.dumps({"event": "progress", "stage": "features", "stage_index": 0,
        "stage_count": 2, "done": i + 1, "total": 4, "overall": (i + 1) / 5,
        "eta_s": 4 - i}) + "\\n")
    sys.stderr.flush()
    time.sleep(0.4)
shutil.copytree(sys.argv[0].replace("fake_inspector.py", "model"), out, dirs_exist_ok=True)
sys.stderr.write(json.dumps({"event": "done", "bundle": out}) + "\\n")
"""


def test_first_start_prepares_the_sample_model_then_promotes_it_once(
    qtbot, monkeypatch, tmp_path: Path, model_copy: Path, parts: Path
) -> None:
    """``inspector train`` is stood in for by a script that speaks the progress protocol and
    delivers a real bundle (training the sample model is tested with the CLI itself)."""
    from gui.main_window import SAMPLE_NOTE, MainWindow
    from gui.settings import StationSettings, Workspace

    script = model_copy.parent / "fake_inspector.py"
    script.write_text(textwrap.dedent(FAKE_TRAIN))
    monkeypatch.setattr("gui.jobs.cli_command", lambda *a: (sys.executable, [str(script), *a]))
    win = MainWindow(Workspace(tmp_path / "ws"), StationSettings(source=str(parts), fps=20.0))
    qtbot.addWidget(win)
    win.show()
    try:
        banner = win.live.banner
        assert banner.verdict.text() == "PREPARING"
        assert "preparing the sample model" in banner.detail.text()
        seen: list[tuple[str, str]] = []
        qtbot.waitUntil(lambda: "%" in banner.detail.text(), timeout=20_000)

        def model_in() -> bool:
            seen.append((banner.verdict.text(), banner.detail.text()))
            return win.state.model is not None

        qtbot.waitUntil(model_in, timeout=60_000)
        assert all(verdict == "PREPARING" for verdict, _ in seen[:-1]), seen
        assert any("stage 1/2: features" in detail for _, detail in seen)
        current = win.store.current()
        assert current is not None and current.number == 1 and current.note == SAMPLE_NOTE
        assert win.retrain.stage.text() == "promoted"
        assert not win.retrain.promote_button.isEnabled()
        qtbot.waitUntil(lambda: win.state.counters.total >= 2, timeout=30_000)
        assert win.store.current().number == 1 and len(win.store.versions()) == 1
    finally:
        win.shutdown()
