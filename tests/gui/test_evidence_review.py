"""The review dialog: heatmap / bare switch on screen, copy path, open folder never silent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

import gui.open_path as open_path_module
from gui.open_path import open_path
from gui.view_item import ViewItem
from gui.widgets.review_dialog import ReviewDialog

BARE = (20, 40, 220)
HEAT = (230, 30, 10)


def item(image_path: str = "", verdict: str = "FAIL") -> ViewItem:
    image = np.full((90, 120, 3), BARE, np.uint8)
    return ViewItem(
        image=image,
        anomaly_map=np.zeros((90, 120), np.float32),
        scale=1.0,
        score=7.0,
        verdict=verdict,
        threshold=5.0,
        record_id=41,
        image_path=image_path,
    )


def centre_on_screen(dialog: ReviewDialog) -> tuple[int, int, int]:
    shot = dialog.view.grab().toImage()
    c = shot.pixelColor(shot.width() // 2, shot.height() // 2)
    return c.red(), c.green(), c.blue()


def messages_naming(path: Path) -> list[QMessageBox]:
    return [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, QMessageBox) and w.isVisible() and str(path) in w.text()
    ]


def test_switch_shows_bare_part_and_heatmap_on_screen(qtbot) -> None:
    heat = np.full((90, 120, 3), HEAT, np.uint8)
    dialog = ReviewDialog(item(), heat)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.showing_heatmap() and centre_on_screen(dialog) == HEAT
    dialog.bare_radio.click()
    assert not dialog.showing_heatmap() and centre_on_screen(dialog) == BARE
    dialog.show_heatmap(True)
    assert centre_on_screen(dialog) == HEAT


def test_error_part_has_no_heatmap_to_switch_to(qtbot) -> None:
    dialog = ReviewDialog(item(verdict="ERROR"), np.zeros((90, 120, 3), np.uint8))
    qtbot.addWidget(dialog)
    assert not dialog.heatmap_radio.isEnabled() and not dialog.showing_heatmap()
    picture = dialog.shown_picture()
    assert picture is not None and tuple(picture[45, 60]) == BARE


def test_copy_path_puts_the_exact_path_on_the_clipboard(qtbot, tmp_path: Path) -> None:
    saved = tmp_path / "dåy 1" / "120000_001_0001_part.png"  # a space and non-ASCII survive
    dialog = ReviewDialog(item(str(saved)), None)
    qtbot.addWidget(dialog)
    QGuiApplication.clipboard().setText("something else")
    with qtbot.waitSignal(dialog.path_copied):
        dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == str(saved)


def test_unsaved_part_cannot_copy_or_open(qtbot) -> None:
    dialog = ReviewDialog(item(""), None)
    qtbot.addWidget(dialog)
    assert not dialog.copy_button.isEnabled() and not dialog.folder_button.isEnabled()


def test_open_folder_that_fails_shows_the_path(qtbot, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(open_path_module, "opener_command", lambda: ["false"])
    saved = tmp_path / "part.png"
    saved.write_bytes(b"x")
    dialog = ReviewDialog(item(str(saved)), None)
    qtbot.addWidget(dialog)
    dialog.folder_button.click()
    qtbot.waitUntil(lambda: bool(messages_naming(tmp_path)), timeout=5_000)
    box = messages_naming(tmp_path)[0]
    assert "exit status 1" in box.text()
    copy = next(b for b in box.buttons() if b.text() == "Copy path")
    copy.click()
    assert QGuiApplication.clipboard().text() == str(tmp_path)


def test_opening_that_succeeds_shows_no_message(qtbot, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(open_path_module, "opener_command", lambda: ["true"])
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    open_path(report, None, "report")
    qtbot.wait(500)
    assert messages_naming(report) == []


@pytest.mark.parametrize(
    ("command", "said"),
    [([], "xdg-open"), (["/nonexistent/opener"], "Could not start"), (None, "No application")],
)
def test_no_opener_is_said_with_the_path(qtbot, tmp_path: Path, monkeypatch, command, said) -> None:
    monkeypatch.setattr(open_path_module, "opener_command", lambda: command)
    # Where Qt opens paths itself (Windows, macOS), its refusal is what is reported.
    monkeypatch.setattr(open_path_module.QDesktopServices, "openUrl", lambda _url: False)
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    open_path(report, None, "report")
    (box,) = messages_naming(report)
    assert said in box.text()
    box.close()


def test_a_missing_file_is_said(qtbot, tmp_path: Path) -> None:
    gone = tmp_path / "gone" / "report.html"
    open_path(gone, None, "report")
    (box,) = messages_naming(gone)
    assert "does not exist" in box.text()
    box.close()
