"""Marking a false reject good never puts a wrong image into the training set."""

from __future__ import annotations

from pathlib import Path

import cv2

from inspector.records import InspectionLog


def _training_files(win) -> list[Path]:
    return sorted(Path(str(win.retrain.data_folder())).glob("*.png"))


def _switch_to_unsaved(qtbot, win, folder: Path):
    """Save no images, play ``folder``, return a part of it (and its log row)."""
    win.live.save_policy.setCurrentText("none")
    win.connect_source(str(folder))
    qtbot.waitUntil(
        lambda: win.live.current is not None and win.live.current.source == str(folder),
        timeout=30_000,
    )
    item = win.live.current
    assert item.image_path == "" and item.record_id is not None
    return item


def test_a_downscaled_part_is_labelled_but_not_added(qtbot, window, parts, tmp_path) -> None:
    win = window
    big = tmp_path / "big"
    big.mkdir()
    for src in sorted(parts.glob("hole*.png")):  # 1200 px: shown downscaled to 960
        cv2.imwrite(str(big / src.name), cv2.resize(cv2.imread(str(src)), (1200, 1200)))
    _switch_to_unsaved(qtbot, win, big)
    qtbot.waitUntil(lambda: win.live.current.verdict == "FAIL", timeout=30_000)
    item = win.live.current
    assert not item.full_frame and item.image_path == ""
    win.review(item)
    win._review.good_button.click()
    assert "NOT added to the training set" in win.statusBar().currentMessage()
    assert win._review.notice.isVisible() and "not kept" in win._review.notice.text()
    assert _training_files(win) == []
    assert win.log.get(item.record_id).label == "good"


def test_a_full_size_8_bit_part_is_added_from_the_display_copy(qtbot, window, parts) -> None:
    win = window
    item = _switch_to_unsaved(qtbot, win, parts)  # 256 px, 8-bit: the copy is the frame
    assert item.full_frame
    win.mark_item_good(item)
    (added,) = _training_files(win)
    assert cv2.imread(str(added)).shape == (256, 256, 3)
    assert "added to the next training set" in win.statusBar().currentMessage()


def test_log_tab_mark_on_a_row_without_image_says_so(qtbot, window) -> None:
    win = window
    win.live.save_policy.setCurrentText("none")
    n = win.state.counters.total
    qtbot.waitUntil(lambda: win.state.counters.total >= n + 2, timeout=30_000)
    win.tabs.setCurrentWidget(win.log_panel)
    table = win.log_panel.table
    row = next(r for r in range(table.rowCount()) if not _row_image(win, table, r))
    table.selectRow(row)
    win.log_panel._mark_selected()
    assert "NOT added to the training set" in win.statusBar().currentMessage()
    assert _training_files(win) == []


def _row_image(win, table, row: int) -> str:
    record_id = int(table.item(row, 0).text())
    with InspectionLog(win.workspace.log_file) as log:
        rec = log.get(record_id)
    assert rec is not None
    return rec.image_path
