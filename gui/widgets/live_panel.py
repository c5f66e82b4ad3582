"""The Live tab: source and mode bar, the judged part, banner, counters, slider, history."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.settings import TRIGGER_MODES, StationSettings
from gui.widgets.counters import Counters
from gui.widgets.history_strip import HistoryStrip
from gui.widgets.image_view import ImageView
from gui.widgets.threshold_panel import ThresholdPanel
from gui.widgets.verdict_banner import VerdictBanner
from inspector.recorder import SAVE_POLICIES


class LivePanel(QWidget):
    """Layout only: the main window wires these widgets to the worker threads."""

    def __init__(self, settings: StationSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        s = settings
        self.source_edit = QLineEdit(s.source)
        self.source_edit.setToolTip("camera index, video file, rtsp/http URL, or image folder")
        self.connect_button = QPushButton("Connect")
        self.trigger_mode = QComboBox()
        self.trigger_mode.addItems(TRIGGER_MODES)
        self.trigger_mode.setCurrentText(s.trigger_mode)
        self.trigger_button = QPushButton("Inspect now  [Space]")
        self.save_policy = QComboBox()
        self.save_policy.addItems(SAVE_POLICIES)
        self.save_policy.setCurrentText(s.save_policy)
        top = QHBoxLayout()
        for w in (
            QLabel("Source"),
            self.source_edit,
            self.connect_button,
            QLabel("Mode"),
            self.trigger_mode,
            self.trigger_button,
            QLabel("Save images"),
            self.save_policy,
        ):
            top.addWidget(w)

        self.view = ImageView("waiting for the first part …")
        self.banner = VerdictBanner()
        self.counters = Counters()
        self.stats = QLabel("–")
        self.stats.setWordWrap(True)
        self.threshold = ThresholdPanel()
        self.threshold.set_display(s.show_heatmap, s.opacity)
        right = QVBoxLayout()
        right.addWidget(self.banner)
        right.addWidget(self.counters)
        right.addWidget(self.stats)
        right.addWidget(self.threshold)
        right.addStretch(1)
        side = QWidget()
        side.setLayout(right)
        side.setFixedWidth(420)
        middle = QHBoxLayout()
        middle.addWidget(self.view, 1)
        middle.addWidget(side)
        self.history = HistoryStrip()
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(middle, 1)
        lay.addWidget(self.history)
