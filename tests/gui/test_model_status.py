"""What the station says about the model at work: after a failed load, after a save."""

from __future__ import annotations


def test_a_failed_load_says_which_model_is_still_judging(qtbot, window, tmp_path) -> None:
    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    running = win.state.model.model_id
    broken = tmp_path / "broken_model"
    broken.mkdir()
    (broken / "bundle.json").write_text("{ not json")
    win.load_model(str(broken))
    qtbot.waitUntil(lambda: "failed to load" in win.model_label.text(), timeout=30_000)
    text = win.model_label.text()
    assert f"model {running}" in text and "still running" in text and "broken_model" in text
    assert running in win.statusBar().currentMessage()
    n = win.state.counters.total
    qtbot.waitUntil(lambda: win.state.counters.total >= n + 2, timeout=30_000)  # and it does


def test_save_to_model_refreshes_the_model_tab(qtbot, window) -> None:
    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    # The tab hears of the model through a queued signal, a moment after the state has it.
    qtbot.waitUntil(lambda: "image threshold" in win.model_panel.info.text(), timeout=30_000)
    calibrated = win.state.model.calibrated_threshold
    assert f"image threshold {calibrated:.4g} (calibrated" in win.model_panel.info.text()
    win.live.threshold.set_threshold(calibrated * 1.5)
    value = win.live.threshold.value()  # what the slider's steps make of it
    win.live.threshold.save.click()
    text = win.model_panel.info.text()
    assert f"image threshold {value:.4g}, <b>set by the operator</b>" in text
    assert f"calibrated {calibrated:.4g}" in text  # the calibration stays visible
    assert win.live.threshold.calibrated_label.text() == f"calibrated: {calibrated:.4g}"
    # A restart reads it back the same way from the bundle.
    win.load_model(win.state.model.path)
    qtbot.waitUntil(lambda: "set by the operator" in win.model_panel.info.text(), timeout=30_000)
