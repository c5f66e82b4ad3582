"""The station's image folder bounded by days and disk space without a line.

Settings ``image_max_days`` and ``image_max_gb`` (never more than half the folder's disk
unless lifted), validated on load with the file and field named; the running window keeps its
folder within them through the same ``ImageKeeper`` a line's recipe uses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gui.settings import StationSettings, Workspace, image_retention
from station.image_keeper import ImageRemovals
from station.retention import GB


def test_defaults_bound_days_and_a_safe_share_of_the_disk(tmp_path: Path) -> None:
    half = shutil.disk_usage(tmp_path).total / GB / 2
    policy = image_retention(StationSettings(), tmp_path / "not" / "yet")
    assert (policy.ok_every, policy.max_days) == (1, 30.0)  # the save policy picks the parts
    assert policy.max_gb == pytest.approx(min(20.0, half))
    huge = image_retention(StationSettings(image_max_gb=1e9, image_max_days=None), tmp_path)
    assert huge.max_gb == pytest.approx(half) and huge.max_days is None
    assert image_retention(StationSettings(image_max_gb=None), tmp_path).max_gb is None


def test_a_bad_bound_is_named_and_falls_back_to_its_default(tmp_path: Path, capsys: Any) -> None:
    ws = Workspace(tmp_path)
    ws.settings_file.write_text(
        json.dumps({"image_max_days": -3, "image_max_gb": "lots", "fps": 5})
    )
    settings = ws.load_settings()
    said = capsys.readouterr().out
    assert f"{ws.settings_file}: field image_max_days must be positive or null, got -3" in said
    assert "field image_max_gb must be a number or null, got 'lots'" in said
    assert (settings.image_max_days, settings.image_max_gb, settings.fps) == (30.0, 20.0, 5)
    ws.save_settings(StationSettings(image_max_days=7, image_max_gb=None))
    assert (ws.load_settings().image_max_days, ws.load_settings().image_max_gb) == (7, None)
    with pytest.raises(ValueError, match="image_max_gb must be positive or null, got 0"):
        StationSettings(image_max_gb=0)


@pytest.mark.slow  # the shared test model is trained once (about 10 s)
def test_the_station_without_a_line_keeps_its_image_folder_within_the_bound(
    qtbot: Any, tmp_path: Path, model_copy: Path, parts: Path
) -> None:
    from gui.main_window import MainWindow

    images = tmp_path / "images"
    budget = 300_000  # bytes: a few parts' images and overlays
    settings = StationSettings(
        model=str(model_copy),
        source=str(parts),
        fps=20.0,
        save_policy="all",
        output_dir=str(images),
        image_max_gb=budget / GB,
    )
    win = MainWindow(Workspace(tmp_path / "ws"), settings)
    qtbot.addWidget(win)
    try:
        keeper = win.inference.keeper
        assert keeper is not None and keeper.policy.max_gb == pytest.approx(budget / GB)
        qtbot.waitUntil(lambda: win.log.count() >= 20, timeout=60_000)
        win.state.set_mode("triggered")  # no new part while the folder is checked
        qtbot.wait(300)
        assert keeper.prune_now()
        assert sum(p.stat().st_size for p in images.glob("*/*") if p.is_file()) <= budget
        rows = win.log.query(limit=None)
        assert len(rows) >= 20 and all(r.verdict in ("PASS", "FAIL") for r in rows)
    finally:
        win.shutdown()
    removals = ImageRemovals(win.workspace.log_file)
    try:
        assert removals.count() > 0  # the oldest parts' images went, their rows are kept
    finally:
        removals.close()
