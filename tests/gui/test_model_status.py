"""What the station says about the model at work: after a failed load, after a save."""

from __future__ import annotations


def test_a_failed_load_says_which_model_is_still_judging(qtbot, window, tmp_path) -> None:
    win = window
    qtbot.waitUntil(lambda: win.model_info is not None, timeout=30_000)
    running = win.model_info["model_id"]
    broken = tmp_path / "broken_model"
    broken.mkdir()
    (broken / "bundle.json").write_text("{ not json")
    win.load_model(str(broken))
    qtbot.waitUntil(lambda: "failed to load" in win.model_label.text(), timeout=30_000)
    text = win.model_label.text()
    assert f"model {running}" in text and "still running" in text and "broken_model" in text
    assert running in win.statusBar().currentMessage()
    n = win.counters.total
    qtbot.waitUntil(lambda: win.counters.total >= n + 2, timeout=30_000)  # and it does
