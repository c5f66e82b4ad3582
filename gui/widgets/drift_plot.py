"""The station's health at a glance: the line's health, drift trend lanes and camera health.

`DriftPlot` paints, per drift quantity (brightness, contrast, sharpness = focus, score), the
EWMA of good parts against its control limits (``station.drift``), one lane each, with QPainter
as ``trend_plot`` does. Each lane is drawn in units of its own limit, so the dashed limit lines
sit at the same height in every lane and a lane that left them is red.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.widgets.line_status import OK_STYLE, WARN_STYLE
from station.drift import QUANTITIES, ChartLine

SPAN = 1.6  # a lane shows deviations up to this many limits each way
SHOWN = {"sharpness": "focus"}  # the sharpness statistic is the camera's focus measure
MAX_POINTS = 400  # the newest EWMA values drawn per lane


class DriftPlot(QWidget):
    """EWMA per quantity against its control limits; empty until a chart is set."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lines: dict[str, ChartLine] = {}
        self.note = "no drift reference yet"
        self.setMinimumHeight(150)

    def set_chart(self, lines: Mapping[str, ChartLine], note: str = "") -> None:
        """Show these charts (``DriftMonitor.chart()``); ``note`` where there are none."""
        self.lines = {k: lines[k] for k in QUANTITIES if k in lines}
        self.note = note
        self.update()

    def points(self, name: str) -> int:
        """How many EWMA values the lane of ``name`` holds (0 without a chart)."""
        line = self.lines.get(name)
        return len(line.values) if line else 0

    def paintEvent(self, _event) -> None:  # noqa: N802, ANN001 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#fafafa"))
        if not self.lines:
            p.setPen(QColor("#9e9e9e"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.note)
            p.end()
            return
        area = QRectF(self.rect()).adjusted(72, 4, -6, -4)
        lane_h = area.height() / len(self.lines)
        for i, (name, line) in enumerate(self.lines.items()):
            lane = QRectF(area.left(), area.top() + i * lane_h, area.width(), lane_h - 4)
            self._lane(p, name, line, lane)
        p.end()

    def _lane(self, p: QPainter, name: str, line: ChartLine, box: QRectF) -> None:
        red, grey = QColor("#c62828"), QColor("#9e9e9e")
        p.setPen(QPen(grey, 1))
        p.drawRect(box)

        def y_of(deviation: float) -> float:
            d = max(-SPAN, min(SPAN, deviation))
            return box.center().y() - d / SPAN * box.height() / 2

        label = QRectF(0, box.top(), 68, box.height())
        p.setPen(red if line.active else QColor("#424242"))
        p.drawText(label, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                   SHOWN.get(name, name))  # fmt: skip
        p.setPen(QPen(red, 1, Qt.PenStyle.DashLine))
        limits = (1.0,) if line.one_sided else (1.0, -1.0)
        for limit in limits:
            p.drawLine(QPointF(box.left(), y_of(limit)), QPointF(box.right(), y_of(limit)))
        p.setPen(QPen(grey, 1, Qt.PenStyle.DotLine))
        p.drawLine(QPointF(box.left(), y_of(0)), QPointF(box.right(), y_of(0)))
        values = line.values[-MAX_POINTS:]
        if not values:
            return
        scale = line.limit if line.limit > 0 else 1.0
        step = box.width() / max(len(values) - 1, 1)
        p.setPen(QPen(red if line.active else QColor("#1565c0"), 1.5))
        previous: QPointF | None = None
        for j, value in enumerate(values):
            point = QPointF(box.left() + j * step, y_of((value - line.reference) / scale))
            if previous is not None:
                p.drawLine(previous, point)
            previous = point


class HealthPanel(QWidget):
    """Health (ok, or warning with its reason), the drift plot and the camera's health."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.health_label = QLabel()
        self.health_label.setWordWrap(True)
        self.plot = DriftPlot()
        self.camera_label = QLabel("camera: –")
        self.camera_label.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for widget in (self.health_label, self.plot, self.camera_label):
            lay.addWidget(widget)
        self.show_health("ok", "")

    @property
    def health(self) -> tuple[str, str]:
        return self._health

    def show_health(self, level: str, reason: str) -> None:
        """("ok", "") or ("warning", why), as ``LineStatus.health_changed`` says it."""
        self._health = (level, reason)
        self.health_label.setText(f"health: {level}" + (f" — {reason}" if reason else ""))
        self.health_label.setStyleSheet(OK_STYLE if level == "ok" else WARN_STYLE)

    def show_chart(self, recipe: str, lines: Mapping[str, ChartLine], note: str = "") -> None:
        self.plot.set_chart(lines, note)
        self.plot.setToolTip(f"drift of {recipe}: EWMA of good parts against its limits")

    def show_camera(
        self, fps: float, dropped: int | None, exposure_us: object, focus: float | None
    ) -> None:
        """Frame rate, frames the camera lost, exposure and the focus measure (EWMA)."""
        parts = [f"camera: {fps:.1f} fps"]
        parts.append(f"dropped {dropped}" if dropped is not None else "dropped n/a")
        parts.append(f"exposure {exposure_us:g} µs" if isinstance(exposure_us, float | int)
                     else "exposure: the camera's")  # fmt: skip
        parts.append(f"focus {focus:.2f}" if focus is not None else "focus –")
        self.camera_label.setText("  ·  ".join(parts))
