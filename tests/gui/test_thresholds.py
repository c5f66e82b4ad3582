"""The operator's threshold judges every part, from the first one after a (re)start."""

from __future__ import annotations

from pathlib import Path

from inspector.bundle import read_meta
from inspector.records import InspectionLog


def test_saved_override_judges_the_first_part_after_a_start(qtbot, tmp_path, model_copy, parts):
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace

    model_id = read_meta(model_copy).model_id
    override = 1e-6  # far below every score: each part FAILs, good ones too
    settings = StationSettings(
        model=str(model_copy), source=str(parts), fps=20.0, threshold_overrides={model_id: override}
    )
    win = MainWindow(Workspace(tmp_path / "ws"), settings)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.state.counters.total >= 3, timeout=60_000)
    assert win.live.threshold.value_label.text() == f"{override:.4g}"
    win.shutdown()
    with InspectionLog(win.workspace.log_file) as log:
        rows = sorted(log.query(limit=1000), key=lambda r: r.id)
    # The first parts too: the override applies before the UI has heard of the model.
    assert [(r.threshold, r.verdict) for r in rows] == [(override, "FAIL")] * len(rows)


def test_banner_shows_the_verdict_that_was_counted(qtbot, window) -> None:
    win = window
    qtbot.waitUntil(
        lambda: win.live.current is not None and win.live.current.verdict == "FAIL", timeout=60_000
    )
    item = win.live.current
    # A part judged before a slider move reached the worker: counted as FAIL, so the banner
    # says FAIL too, even though the slider would now pass it.
    win.state.set_mode("triggered")  # no new part replaces it meanwhile
    win.set_threshold(item.score * 2)
    assert win.live.banner.verdict.text() == "PASS"  # the shown part, re-judged at once
    win.show_result(item)  # as if it had just arrived, judged at its own threshold
    assert win.live.banner.verdict.text() == "FAIL"
    assert win.live.banner.part_id == item.part_id


def test_saving_the_threshold_keeps_judging_by_it(qtbot, window, model_copy: Path) -> None:
    win = window
    qtbot.waitUntil(lambda: win.live.current is not None, timeout=60_000)
    win.set_threshold(1e-6)
    win.save_threshold(1e-6)
    assert read_meta(model_copy).thresholds.image == 1e-6
    n = win.state.counters.total
    qtbot.waitUntil(lambda: win.state.counters.total >= n + 3, timeout=30_000)
    assert win.live.current is not None and win.live.current.threshold == 1e-6
