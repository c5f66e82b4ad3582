"""The last parts as framed thumbnails, newest on the left; click one to review it full size.

Following the line: the strip shows the newest part unless the user scrolled it away, and
then a "back to live" button brings it back. What counts as the user scrolling is only the
scroll bar's ``actionTriggered`` (drag, click, wheel): Qt also moves the value itself when
items are inserted, laid out, hidden or shown (and when a clicked item becomes current), and
none of those may stop the strip following.

Nothing moves under the pointer: while the pointer moves or clicks over the strip, new parts
are still inserted, but the view is shifted by the same width, so the thumbnail the operator
is aiming at stays where it is. When the pointer leaves, or rests for ``HOLD_S`` without
moving, the strip returns to live. The hold is time-limited on purpose: a pointer left on the
strip (or a Leave or button release lost to a dialog opened over it) must not stop the strip
following for good.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.qimage import to_pixmap
from gui.view_item import THUMB_SIDE, ViewItem
from gui.widgets.verdict_banner import COLOURS

KEEP = 60  # parts kept in the strip; the inspection log keeps everything
FRAME = 6  # px of verdict colour around each thumbnail: readable at a glance, not text only
CELL = QSize(THUMB_SIDE + 2 * FRAME + 10, THUMB_SIDE + 2 * FRAME + 26)
CONTROLS_WIDTH = 124
HOLD_S = 4.0  # a pointer resting this long without moving no longer holds the strip still
# Each of these (re)starts the hold. A held button is not a hold of its own: a release that
# goes to a dialog opened by the click would otherwise hold the strip for good.
HOLD_EVENTS = frozenset(
    {
        QEvent.Type.Enter,
        QEvent.Type.MouseMove,
        QEvent.Type.HoverMove,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonRelease,
    }
)


def framed(thumb: np.ndarray, verdict: str) -> QPixmap:
    """The thumbnail inside a thick border of its verdict's colour."""
    inner = to_pixmap(thumb)
    side = THUMB_SIDE + 2 * FRAME
    out = QPixmap(side, side)
    out.fill(QColor(COLOURS.get(verdict, COLOURS[""])))
    p = QPainter(out)
    p.fillRect(FRAME, FRAME, THUMB_SIDE, THUMB_SIDE, QColor("#202020"))
    # Centred: thumbnails keep the part's aspect ratio, the frame is square.
    p.drawPixmap(
        FRAME + (THUMB_SIDE - inner.width()) // 2, FRAME + (THUMB_SIDE - inner.height()) // 2, inner
    )
    p.end()
    return out


class HistoryStrip(QListWidget):
    """Thumbnails of the last ``KEEP`` parts with a FAIL-only filter and a live button."""

    part_selected = Signal(object)  # ViewItem
    following_changed = Signal(bool)  # True: the newest part is in view
    fail_only_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMB_SIDE + 2 * FRAME, THUMB_SIDE + 2 * FRAME))
        self.setGridSize(CELL)
        self.setUniformItemSizes(True)
        self.setFixedHeight(CELL.height() + 26)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        # Pixels, so the view can be shifted by exactly one cell when a part is inserted.
        self.setHorizontalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.setMovement(QListWidget.Movement.Static)
        self.viewport().setMouseTracking(True)
        self.parts: list[ViewItem] = []
        self._following = True
        self._held_until = 0.0  # monotonic time the pointer stops holding the view
        self._missed = 0  # parts added while not following
        self._build_controls()
        bar = self.horizontalScrollBar()
        bar.actionTriggered.connect(self._user_scrolled)
        self._release = QTimer(self)
        self._release.setSingleShot(True)
        self._release.timeout.connect(self._hold_expired)
        self.itemClicked.connect(self._clicked)

    def _build_controls(self) -> None:
        # In a margin left of the thumbnails: newest parts enter on the left, so "live" is
        # on the left too.
        self.controls = QWidget(self)
        self.fail_only = QCheckBox("FAIL only")
        self.fail_only.setToolTip("Show only parts judged FAIL")
        self.live_button = QPushButton("◀ Back to live")
        self.live_button.setToolTip("Scroll to the newest part and follow new parts again")
        self.live_button.setStyleSheet("font-weight:bold; background:#1565c0; color:white;")
        self.live_button.hide()
        lay = QVBoxLayout(self.controls)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.fail_only)
        lay.addStretch(1)
        lay.addWidget(self.live_button)
        self.setViewportMargins(CONTROLS_WIDTH, 0, 0, 0)
        self.fail_only.toggled.connect(self.set_fail_only)
        self.live_button.clicked.connect(self.back_to_live)

    # --- public ----------------------------------------------------------------------------
    def add_part(self, item: ViewItem, thumb) -> None:  # noqa: ANN001 (numpy image)
        """Insert a part on the left; the view follows it unless the user looks elsewhere."""
        when = time.strftime("%H:%M:%S", time.localtime(item.timestamp or time.time()))
        entry = QListWidgetItem(QIcon(framed(thumb, item.verdict)), f"{item.verdict} {when}")
        entry.setForeground(QColor(COLOURS.get(item.verdict, COLOURS[""])))
        font = QFont(entry.font())
        font.setBold(True)
        entry.setFont(font)
        entry.setToolTip(f"{item.name or item.source}\nscore {item.score:.4g}\n{item.error}")
        bar = self.horizontalScrollBar()
        before = bar.value()
        self.insertItem(0, entry)
        self.parts.insert(0, item)
        hidden = self._filtered_out(item)
        self.setRowHidden(0, hidden)
        while self.count() > KEEP:
            self.takeItem(self.count() - 1)
            self.parts.pop()
        # Lay out now, not at Qt's next idle moment, so the scroll range already counts the
        # new part when the view is placed below.
        self.doItemsLayout()
        if self._following and not self.holding():
            bar.setValue(bar.minimum())
            return
        if not hidden:
            bar.setValue(before + CELL.width())  # the same thumbnails stay under the pointer
            if not self._following:
                self._missed += 1
                self.live_button.setText(f"◀ Back to live\n{self._missed} new")

    def is_following(self) -> bool:
        """True unless the user scrolled away from the newest part."""
        return self._following

    def holding(self) -> bool:
        """True while the pointer over the strip holds the thumbnails in place."""
        return time.monotonic() < self._held_until

    def back_to_live(self) -> None:
        """Show the newest part and follow new parts again."""
        self._held_until = 0.0
        self._set_following(True)
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().minimum())

    def set_fail_only(self, on: bool) -> None:
        """Show only FAIL parts (True) or every part."""
        if self.fail_only.isChecked() != on:
            self.fail_only.setChecked(on)  # re-enters through toggled
            return
        for row, item in enumerate(self.parts):
            self.setRowHidden(row, self._filtered_out(item))
        self.doItemsLayout()
        if self._following:
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().minimum())
        self.fail_only_changed.emit(on)

    def visible_parts(self) -> list[ViewItem]:
        """The parts the filter shows, newest first (scrolled out of view or not)."""
        return [item for row, item in enumerate(self.parts) if not self.isRowHidden(row)]

    # --- internals -------------------------------------------------------------------------
    def _filtered_out(self, item: ViewItem) -> bool:
        return self.fail_only.isChecked() and item.verdict != "FAIL"

    def _set_following(self, on: bool) -> None:
        if on == self._following:
            return
        self._following = on
        self._missed = 0
        self.live_button.setText("◀ Back to live")
        self.live_button.setVisible(not on)
        self.following_changed.emit(on)

    def _user_scrolled(self, _action: int) -> None:
        # Emitted before the value moves; sliderPosition already holds where it goes.
        bar = self.horizontalScrollBar()
        self._set_following(bar.sliderPosition() <= bar.minimum())

    def _hold(self) -> None:
        self._held_until = time.monotonic() + HOLD_S
        self._release.start(int(HOLD_S * 1000) + 50)

    def _hold_expired(self) -> None:
        if self._following and not self.holding():
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().minimum())

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        kind = event.type()
        if kind in HOLD_EVENTS:
            self._hold()
        elif kind == QEvent.Type.Leave:
            self._held_until = 0.0
            self._hold_expired()
        return super().viewportEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 (Qt API)
        super().resizeEvent(event)
        # Beside the thumbnails only, clear of the scroll bar below them.
        view = self.viewport().geometry()
        self.controls.setGeometry(self.frameWidth(), view.y(), CONTROLS_WIDTH, view.height())

    def showEvent(self, event) -> None:  # noqa: N802, ANN001 (Qt API)
        # Parts keep arriving while another tab is shown; come back showing the newest.
        super().showEvent(event)
        if self._following:
            self.doItemsLayout()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().minimum())

    def _clicked(self, entry: QListWidgetItem) -> None:
        row = self.row(entry)
        if 0 <= row < len(self.parts):
            self.part_selected.emit(self.parts[row])
