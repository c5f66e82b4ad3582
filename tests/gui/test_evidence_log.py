"""The Log tab's evidence: thumbnails, coloured verdicts, a double-click opens the right part."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QTableWidgetItem

from gui.widgets.log_panel import VERDICT_COLUMN, LogPanel
from gui.widgets.review_dialog import ReviewDialog
from gui.widgets.verdict_banner import COLOURS
from inspector.imageio import read_image
from inspector.recorder import PartContext, PartRecorder
from inspector.records import InspectionLog
from inspector.result import DefectRegion, InspectionResult, Verdict

BLUE = (20, 40, 220)
GREEN = (30, 200, 60)


def part(colour: tuple[int, int, int]) -> np.ndarray:
    return np.full((120, 160, 3), colour, np.uint8)


def result(verdict: Verdict, hot: float) -> InspectionResult:
    regions = [DefectRegion(10, 10, 40, 30, 1200, hot)] if verdict == Verdict.FAIL else []
    return InspectionResult(
        score=hot * 10,
        normalized_score=hot,
        verdict=verdict,
        threshold=5.0,
        anomaly_map=np.full((120, 160), hot, np.float32),
        regions=regions,
    )


@pytest.fixture
def log(tmp_path: Path):
    with InspectionLog(tmp_path / "log.db") as log:
        yield log


@pytest.fixture
def logged(log: InspectionLog, tmp_path: Path) -> dict[str, int]:
    """A PASS (not saved), a FAIL (saved, blue) and an ERROR part, by the real recorder."""
    rec = PartRecorder(log, tmp_path / "images", policy="fail")
    ids = {
        "pass": rec.record(
            part(GREEN), result(Verdict.PASS, 0.1), PartContext("cam", "m", "a.png")
        ).id,
        "fail": rec.record(
            part(BLUE), result(Verdict.FAIL, 1.0), PartContext("cam", "m", "b.png")
        ).id,
        "error": rec.record_error(PartContext("cam", "m", "c.png"), "camera timeout").id,
    }
    return {k: int(v) for k, v in ids.items() if v is not None}


def cell_of(panel: LogPanel, record_id: int, column: int) -> QTableWidgetItem:
    """The cell in ``column`` of the row showing ``record_id``, wherever sorting put it."""
    table = panel.table
    for row in range(table.rowCount()):
        id_cell = table.item(row, 0)
        if id_cell is not None and id_cell.text() == str(record_id):
            cell = table.item(row, column)
            assert cell is not None
            return cell
    raise AssertionError(f"record {record_id} is not in the table")


def colour_at_centre(pixmap) -> tuple[int, int, int]:  # noqa: ANN001
    c = pixmap.toImage().pixelColor(pixmap.width() // 2, pixmap.height() // 2)
    return c.red(), c.green(), c.blue()


def test_rows_are_coloured_and_show_their_thumbnail(qtbot, log, logged) -> None:
    panel = LogPanel(log)
    qtbot.addWidget(panel)
    panel.show()
    panel.refresh()
    for key, verdict in (("pass", "PASS"), ("fail", "FAIL"), ("error", "ERROR")):
        cell = cell_of(panel, logged[key], VERDICT_COLUMN)
        assert cell.text() == verdict
        assert cell.background().color().name() == COLOURS[verdict]

    fail_cell = cell_of(panel, logged["fail"], 0)
    # The thumbnail is made from the saved FAIL image (blue), on a background thread.
    qtbot.waitUntil(
        lambda: colour_at_centre(fail_cell.data(Qt.ItemDataRole.DecorationRole)) == BLUE,
        timeout=10_000,
    )
    # Parts without a saved image say so instead of showing nothing.
    no_image = cell_of(panel, logged["pass"], 0).data(Qt.ItemDataRole.DecorationRole)
    assert colour_at_centre(no_image) != BLUE
    assert not no_image.isNull()


def test_double_click_opens_the_right_part_with_bare_and_heatmap(qtbot, log, logged) -> None:
    panel = LogPanel(log)
    qtbot.addWidget(panel)
    panel.show()
    panel.refresh()
    table = panel.table
    cell = cell_of(panel, logged["fail"], 2)
    table.scrollToItem(cell)
    qtbot.waitExposed(panel)
    where = table.visualItemRect(cell).center()
    with qtbot.waitSignal(panel.record_opened) as opened:
        # A press first, as from a real mouse: the view opens only the row that was pressed.
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=where)
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert opened.args == [logged["fail"]]
    dialog = panel.review
    assert dialog is not None and dialog.item.record_id == logged["fail"]
    qtbot.addWidget(dialog)
    # Heatmap first: the overlay the recorder saved for this record; then the bare part.
    rec = log.get(logged["fail"])
    assert rec is not None and dialog.showing_heatmap()
    heat = dialog.shown_picture()
    assert heat is not None and np.array_equal(heat, read_image(rec.overlay_path))
    assert np.abs(heat[60, 80].astype(int) - BLUE).max() > 40
    dialog.bare_radio.click()
    bare = dialog.shown_picture()
    assert bare is not None and tuple(bare[60, 80]) == BLUE
    assert "defect regions: 1, largest 1200 px" in dialog.info.text()


def opened(qtbot, log: InspectionLog, record_id: int) -> tuple[LogPanel, ReviewDialog]:  # noqa: ANN001
    panel = LogPanel(log)
    qtbot.addWidget(panel)
    dialog = panel.open_record(record_id)
    assert dialog is not None
    qtbot.addWidget(dialog)
    return panel, dialog


def test_a_part_without_saved_image_opens_with_the_reason(qtbot, log, logged) -> None:
    _, dialog = opened(qtbot, log, logged["pass"])
    assert dialog.shown_picture() is None
    assert not dialog.heatmap_radio.isEnabled() and not dialog.copy_button.isEnabled()
    assert "save policy" in dialog.view.placeholder


def test_an_unknown_record_is_said_not_opened(qtbot, log, logged) -> None:
    panel = LogPanel(log)
    qtbot.addWidget(panel)
    assert panel.open_record(9999) is None
    assert "9999" in panel.summary.text()


def test_marking_good_from_a_logged_part_emits_its_record(qtbot, log, logged) -> None:
    panel, dialog = opened(qtbot, log, logged["fail"])
    with qtbot.waitSignal(panel.mark_good) as marked:
        dialog.good_button.click()
    assert marked.args == [logged["fail"]]


def test_thumbnails_are_made_only_for_rows_in_view(qtbot, log, tmp_path: Path) -> None:
    rec = PartRecorder(log, tmp_path / "images", policy="all")
    oldest_id = None
    for n in range(150):
        stored = rec.record(part((n, 0, 0)), result(Verdict.PASS, 0.1), PartContext("cam", "m"))
        oldest_id = oldest_id or stored.id
    assert oldest_id is not None
    panel = LogPanel(log)
    qtbot.addWidget(panel)
    asked: list[str] = []
    real_get = panel.thumbnails.get

    def counting_get(path: str) -> QPixmap | None:
        asked.append(path)
        return real_get(path)

    panel.thumbnails.get = counting_get  # type: ignore[method-assign]
    panel.resize(900, 500)
    panel.show()
    panel.refresh()
    qtbot.waitUntil(lambda: len(asked) > 0)
    assert len(set(asked)) < 20  # a screenful, not 150 full-size decodes
    panel.table.scrollToBottom()
    oldest = cell_of(panel, oldest_id, 0)
    qtbot.waitUntil(
        lambda: colour_at_centre(oldest.data(Qt.ItemDataRole.DecorationRole)) == (0, 0, 0),
        timeout=10_000,
    )
