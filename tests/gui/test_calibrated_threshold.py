"""'Calibrated' restores the exact stored threshold, and 'Save to model' writes it back."""

from __future__ import annotations

CALIBRATED = 13.819402456283569  # between two of the slider's steps


def test_calibrated_then_save_gives_the_exact_stored_value(qtbot) -> None:
    from PySide6.QtWidgets import QPushButton

    from gui.widgets.threshold_panel import ThresholdPanel

    panel = ThresholdPanel()
    qtbot.addWidget(panel)
    panel.configure(CALIBRATED, good_median=10.3, current=CALIBRATED)
    assert panel.value() == CALIBRATED  # a loaded model's threshold, not its slider step
    panel.configure(CALIBRATED, good_median=10.3, current=31.0)  # an operator's value
    assert panel.value() == 31.0
    (reset,) = [b for b in panel.findChildren(QPushButton) if b.text() == "Calibrated"]
    with qtbot.waitSignal(panel.threshold_changed) as changed:
        reset.click()
    assert changed.args == [CALIBRATED]
    with qtbot.waitSignal(panel.save_requested) as saved:
        panel.save.click()
    assert saved.args == [CALIBRATED]
