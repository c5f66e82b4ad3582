"""A small yield-over-the-shift plot drawn with QPainter (no plotting library)."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from station.shifts import TrendPoint

FLOOR = 50.0  # the y axis starts here: a yield under 50 % is off the chart's bottom anyway


class TrendPlot(QWidget):
    """Yield per trend bucket (%), one dot per bucket with parts, joined by a line; the
    alarm's yield limit as a dashed red line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[TrendPoint] = []
        self.limit: float | None = None
        self.setMinimumHeight(110)

    def set_points(self, points: list[TrendPoint], limit: float | None = None) -> None:
        self.points, self.limit = list(points), limit
        self.update()

    def values(self) -> list[float | None]:
        """Yield per bucket in percent (None for a bucket without judged parts)."""
        return [p.tally.yield_pct for p in self.points]

    def paintEvent(self, _event) -> None:  # noqa: N802, ANN001 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#fafafa"))
        box = QRectF(self.rect()).adjusted(34, 8, -8, -18)
        p.setPen(QPen(QColor("#9e9e9e"), 1))
        p.drawRect(box)

        def y_of(pct: float) -> float:
            frac = (max(pct, FLOOR) - FLOOR) / (100.0 - FLOOR)
            return box.bottom() - frac * box.height()

        p.setPen(QColor("#616161"))
        for tick in (50, 75, 100):
            p.drawText(QRectF(0, y_of(tick) - 8, 30, 16), Qt.AlignmentFlag.AlignRight, f"{tick}")
        if self.limit is not None:
            p.setPen(QPen(QColor("#c62828"), 1, Qt.PenStyle.DashLine))
            p.drawLine(
                QPointF(box.left(), y_of(self.limit)), QPointF(box.right(), y_of(self.limit))
            )
        n = len(self.points)
        if n:
            first = datetime.fromtimestamp(self.points[0].start).strftime("%H:%M")
            p.setPen(QColor("#616161"))
            p.drawText(QRectF(box.left(), box.bottom() + 2, 80, 16), first)
            last = datetime.fromtimestamp(self.points[-1].start).strftime("%H:%M")
            right = Qt.AlignmentFlag.AlignRight
            p.drawText(QRectF(box.right() - 80, box.bottom() + 2, 80, 16), right, last)
        step = box.width() / max(n - 1, 1)
        line = QPen(QColor("#1b5e20"), 2)
        previous: QPointF | None = None
        for i, pct in enumerate(self.values()):
            if pct is None:
                previous = None  # a gap: no parts in that bucket
                continue
            point = QPointF(box.left() + i * step if n > 1 else box.center().x(), y_of(pct))
            p.setPen(line)
            if previous is not None:
                p.drawLine(previous, point)
            p.setBrush(
                QColor("#1b8a3a") if self.limit is None or pct >= self.limit else QColor("#c62828")
            )
            p.drawEllipse(point, 3.5, 3.5)
            previous = point
        if not any(v is not None for v in self.values()):
            p.setPen(QColor("#9e9e9e"))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, "no judged parts in this shift yet")
        p.end()
