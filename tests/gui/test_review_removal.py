"""A logged part whose images image retention removed: its review says when and why.

The real inspection log and its ``image_removals`` table; the review is opened from the Log
tab as an operator opens it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gui.widgets.log_panel import LogPanel
from gui.widgets.review_dialog import ReviewDialog
from inspector.records import InspectionLog, InspectionRecord
from station.image_keeper import ImageRemovals


def logged(log: InspectionLog, image: Path) -> int:
    return log.add(
        InspectionRecord(time.time(), "cam", "m1", 5.0, 7.0, 0.6, "FAIL", image_path=str(image))
    )


def test_the_review_of_a_removed_image_says_when_and_why(qtbot: Any, tmp_path: Path) -> None:
    kept, removed = tmp_path / "kept.png", tmp_path / "removed.png"
    cv2.imwrite(str(kept), np.full((40, 60, 3), 90, np.uint8))
    log = InspectionLog(tmp_path / "log.sqlite")
    panel = LogPanel(log)
    qtbot.addWidget(panel)
    try:
        kept_id, removed_id = logged(log, kept), logged(log, removed)
        when = time.mktime((2026, 3, 4, 5, 6, 0, 0, 0, -1))
        removals = ImageRemovals(log.path)
        try:
            assert removals.mark([str(removed)], "older than 30 days", when) == 1
        finally:
            removals.close()
        dialog = panel.open_record(removed_id)
        assert dialog is not None
        text = dialog.info.text()
        assert "removed by image retention on 2026-03-04 05:06 (older than 30 days)" in text
        dialog.close()
        dialog = panel.open_record(kept_id)
        assert dialog is not None and "image retention" not in dialog.info.text()
        assert dialog.bare_picture is not None and dialog.bare_picture.shape[:2] == (40, 60)
        dialog.close()
        rec = log.get(removed_id)
        assert rec is not None
        # without the log to ask, the review can only say the image is gone
        alone = ReviewDialog.for_record(rec)
        assert "no longer on disk" in alone.info.text() and "2026-03-04" not in alone.info.text()
        alone.close()
    finally:
        log.close()
