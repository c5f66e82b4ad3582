"""Image threshold slider: asks for a new threshold (the window's guard checks the role and
confirms) and for saving it into the bundle."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QSlider,
    QWidget,
)

STEPS = 1000


class ThresholdPanel(QWidget):
    """Slider over raw image-score units, from the good median to far past the calibration.

    Signals:
        threshold_changed(float): the slider was released at, or "Calibrated" asks for, this
            threshold (not saved into the model); the window puts it in force or refuses.
        save_requested(float): write this threshold into the model bundle.
        display_changed(bool, float): heatmap shown, opacity 0..1.
    """

    threshold_changed = Signal(float)
    save_requested = Signal(float)
    display_changed = Signal(bool, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.low, self.high, self.calibrated = 0.0, 1.0, 0.5
        # The threshold itself: the slider has only STEPS positions, so a value set exactly
        # ("Calibrated", a loaded model) must not be rounded to the nearest step.
        self._value = 0.5
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, STEPS)
        # A drag asks for one change, on release: each request is confirmed and audited.
        self.slider.setTracking(False)
        self.value_label = QLabel("–")
        self.calibrated_label = QLabel("calibrated: –")
        reset = QPushButton("Calibrated")
        reset.setToolTip("Back to the threshold calibrated when the model was trained")
        self.save = QPushButton("Save to model")
        self.save.setToolTip("Write this threshold into the model bundle (engineer)")
        self.heatmap = QCheckBox("Heatmap")
        self.heatmap.setChecked(True)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        grid = QGridLayout(self)
        grid.addWidget(QLabel("Threshold"), 0, 0)
        grid.addWidget(self.slider, 0, 1, 1, 2)
        grid.addWidget(self.value_label, 0, 3)
        grid.addWidget(self.calibrated_label, 1, 1)
        grid.addWidget(reset, 1, 2)
        grid.addWidget(self.save, 1, 3)
        grid.addWidget(self.heatmap, 2, 0)
        grid.addWidget(QLabel("Opacity"), 2, 1)
        grid.addWidget(self.opacity, 2, 2, 1, 2)
        self.slider.valueChanged.connect(self._moved)
        self.slider.sliderMoved.connect(
            lambda pos: self.value_label.setText(f"{self._at(pos):.4g}")
        )
        reset.clicked.connect(lambda: self.set_threshold(self.calibrated, emit=True))
        self.save.clicked.connect(lambda: self.save_requested.emit(self.value()))
        self.heatmap.toggled.connect(self._display)
        self.opacity.valueChanged.connect(self._display)
        self.setEnabled(False)

    def configure(self, calibrated: float, good_median: float, current: float) -> None:
        """Set the range for a newly loaded model."""
        spread = max(calibrated - good_median, abs(calibrated) * 0.05, 1e-6)
        self.low, self.high, self.calibrated = good_median, calibrated + 3 * spread, calibrated
        self.high = max(self.high, current * 1.05)
        self.calibrated_label.setText(f"calibrated: {calibrated:.4g}")
        self.setEnabled(True)
        self.set_threshold(current, emit=False)

    def value(self) -> float:
        return self._value

    def set_threshold(self, value: float, emit: bool = True) -> None:
        self._value = value
        pos = round((value - self.low) / max(self.high - self.low, 1e-12) * STEPS)
        self.slider.blockSignals(True)
        self.slider.setValue(max(0, min(STEPS, pos)))
        self.slider.blockSignals(False)
        self.value_label.setText(f"{value:.4g}")
        if emit:
            self.threshold_changed.emit(value)

    def set_display(self, show: bool, opacity: float) -> None:
        self.heatmap.setChecked(show)
        self.opacity.setValue(round(opacity * 100))

    def _at(self, pos: int) -> float:
        return self.low + (self.high - self.low) * pos / STEPS

    def _moved(self, pos: int) -> None:
        v = self._value = self._at(pos)
        self.value_label.setText(f"{v:.4g}")
        self.threshold_changed.emit(v)

    def _display(self, *_args: object) -> None:
        self.display_changed.emit(self.heatmap.isChecked(), self.opacity.value() / 100.0)
