"""Every control that changes thresholds, models, save policy, counters or training data is
gated: driven as the operator it changes nothing and writes no audit row; driven by the
engineer it is confirmed, carried out and audited once (who, what, old -> new, when).

One table, one row per path, each driving the real widget of the real window (real Qt
offscreen, the real SQLite log and model store). A control added without its gate makes its
operator row fail.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from inspector.bundle import read_meta
from station.audit import AuditTrail
from station.events import ModelRequested

TEST_PIN = "2468"  # the engineer PIN the conftest sets
Win = object  # gui.main_window.MainWindow (imported late: PySide6 may be missing)


class Answers:
    """A person at the station: the PIN they know (None: no PIN), and what they type."""

    def __init__(self, pin: str | None, text: str = "") -> None:
        self.pin, self.text = pin, text
        self.asked_pin = 0
        self.confirmed: list[str] = []
        self.told: list[str] = []

    def prompts(self):  # noqa: ANN201
        from gui.guard import Prompts

        def ask_pin(_parent: object, _text: str) -> str | None:
            self.asked_pin += 1
            return self.pin

        return Prompts(
            ask_pin=ask_pin,
            confirm=lambda _p, _title, text: self.confirmed.append(text) is None,
            tell=lambda _p, text: self.told.append(text),
            ask_text=lambda _p, _title, current: self.text or current,
        )


@dataclass(frozen=True)
class GatedPath:
    """One way to change something gated.

    Attributes:
        action: the audit trail's action name for it.
        do: drives the real control (the guard's dialogs are answered by ``Answers``).
        state: what the change changes (compared before and after).
        prepare: puts the station where the control can act (run as the engineer).
        text: what the person types when asked for text (a lot, alarm limits).
        shows_state: True when the control shows what is in force (after a refusal too).
    """

    action: str
    do: Callable[..., None]
    state: Callable[..., object]
    prepare: Callable[..., None] = lambda _qtbot, _win, _other: None
    text: str = ""
    shows_state: Callable[..., bool] = lambda _win: True


def _button(parent, text: str):  # noqa: ANN001, ANN202
    from PySide6.QtWidgets import QPushButton

    (button,) = [b for b in parent.findChildren(QPushButton) if b.text() == text]
    return button


def _counted_part(qtbot, win) -> None:  # noqa: ANN001
    n = win.production.counters.current().total.total
    win.trigger()
    qtbot.waitUntil(lambda: win.production.counters.current().total.total > n, timeout=30_000)


def _fail_part(qtbot, win):  # noqa: ANN001, ANN202
    """A judged FAIL part with its image saved (the camera plays good and defective parts)."""
    win.state.set_save_policy("all")
    for _ in range(40):
        _counted_part(qtbot, win)
        fails = [p for p in win.live.history.parts if p.verdict == "FAIL" and p.image_path]
        if fails:
            return fails[0]
    raise AssertionError("no FAIL part in 40 triggers")


def _review_from_strip(qtbot, win, _other) -> None:  # noqa: ANN001
    from PySide6.QtCore import Qt

    item = _fail_part(qtbot, win)
    strip = win.live.history
    row = strip.parts.index(item)
    strip.scrollToItem(strip.item(row))
    rect = strip.visualItemRect(strip.item(row))
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win._review is not None and win._review.item is item


def _row_selected_in_log(qtbot, win, _other) -> None:  # noqa: ANN001
    item = _fail_part(qtbot, win)
    win.tabs.setCurrentWidget(win.log_panel)
    win.log_panel.refresh()
    table = win.log_panel.table
    (row,) = [r for r in range(table.rowCount()) if table.item(r, 0).text() == str(item.record_id)]
    table.selectRow(row)
    win._marked_record = item.record_id


def _opened_from_log(qtbot, win, _other) -> None:  # noqa: ANN001
    item = _fail_part(qtbot, win)
    assert win.log_panel.open_record(item.record_id) is not None


def _label(win, record_id: int | None) -> tuple:  # noqa: ANN001
    rec = win.log.get(record_id) if record_id is not None else None
    return (rec.label if rec else None, win.retrain.refresh_count())


def _two_versions(qtbot, win, other: Path) -> None:  # noqa: ANN001
    win.model_panel.promote(win.state.model.path, "first")
    win.model_panel.promote(str(other), "second")
    loaded = lambda: win.state.model.path == str(win.store.current().path)  # noqa: E731
    qtbot.waitUntil(lambda: win.store.current().number == 2 and loaded(), timeout=30_000)


def _candidate(_qtbot, win, other: Path) -> None:  # noqa: ANN001
    win.retrain.set_current_model("")  # compared with no model: promotion is offered
    win.retrain.show_comparison(other)
    assert win.retrain.promote_button.isEnabled()


def _good_images(_qtbot, win, _other, n: int = 3) -> None:  # noqa: ANN001
    folder = win.retrain.data_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for src in sorted(Path(win.settings.source).glob("good_*.png"))[:n]:
        shutil.copy(src, folder / f"ok_{src.name}")
    win.retrain.refresh_count()


def _marked_shown(win, dialog) -> bool:  # noqa: ANN001
    """The review dialog says "Marked good" exactly when the log holds the label."""
    marked = _label(win, dialog.item.record_id)[0] == "good"
    button = dialog.good_button
    return (button.text() == "Marked good") == marked and button.isEnabled() == (not marked)


def _version_row(win, number: int) -> int:  # noqa: ANN001
    table = win.model_panel.table
    return next(
        r for r in range(table.rowCount()) if table.row_texts(r)["version"][1:2] == str(number)
    )


def _use_version_1(_qtbot, win, _other) -> None:  # noqa: ANN001
    win.model_panel.table.selectRow(_version_row(win, 1))
    win.model_panel.activate_button.click()


def _threshold_calibrated_off(_qtbot, win, _other) -> None:  # noqa: ANN001
    win.set_threshold(win.state.model.calibrated_threshold * 1.04)


def _slider_page_up(_qtbot, win, _other) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QAbstractSlider

    win.live.threshold.slider.triggerAction(QAbstractSlider.SliderAction.SliderPageStepAdd)


def _collect_every_frame(qtbot, win, _other) -> None:  # noqa: ANN001
    win.retrain.every.setValue(1)  # not collecting yet: no request
    win.retrain.collect.setChecked(True)
    qtbot.wait(400)  # 20 frames/s: an ungated collection would have saved several


def _period(win) -> tuple[float, str]:  # noqa: ANN001
    """When the counters' period began, and why (a reset and a new shift each start one)."""
    snap = win.production.counters.current()
    return snap.start, snap.started_by


def _threshold(win) -> float:  # noqa: ANN001
    return win.state.threshold.value


def _slider_shows_state(win) -> bool:  # noqa: ANN001
    return win.live.threshold.value() == win.state.threshold.value


def _requested(win) -> list[str]:  # noqa: ANN001
    return list(win._model_requests)


PATHS: dict[str, GatedPath] = {
    "threshold slider": GatedPath(
        "set_threshold", _slider_page_up, _threshold, shows_state=_slider_shows_state
    ),
    "threshold Calibrated button": GatedPath(
        "set_threshold",
        lambda _q, w, _o: _button(w.live.threshold, "Calibrated").click(),
        _threshold,
        prepare=_threshold_calibrated_off,
        shows_state=_slider_shows_state,
    ),
    "threshold Save to model": GatedPath(
        "save_threshold_to_model",
        lambda _q, w, _o: w.live.threshold.save.click(),
        lambda w: read_meta(w.state.model.path).thresholds.image,
        prepare=_threshold_calibrated_off,
    ),
    "save policy": GatedPath(
        "set_save_policy",
        lambda _q, w, _o: w.live.save_policy.setCurrentText("all"),
        lambda w: w.state.save_policy,
        shows_state=lambda w: w.live.save_policy.currentText() == w.state.save_policy,
    ),
    "counters reset": GatedPath(
        "reset_counters",
        lambda _q, w, _o: w.live.counters.reset.click(),
        _period,
        prepare=lambda q, w, _o: _counted_part(q, w),
    ),
    "new shift": GatedPath(
        "change_shift",
        lambda _q, w, _o: w.live.shift.shift_button.click(),
        _period,
        prepare=lambda q, w, _o: _counted_part(q, w),
    ),
    "lot": GatedPath(
        "set_lot",
        lambda _q, w, _o: w.live.shift.lot_button.click(),
        lambda w: w.production.counters.lot,
        text="LOT-7",
    ),
    "alarm limits": GatedPath(
        "set_alarm_limits",
        lambda _q, w, _o: w.limits_action.trigger(),
        lambda w: w.production.alarms.limits,
        text="consecutive_fails=7",
    ),
    "open model folder": GatedPath(
        "change_model",
        lambda _q, w, _o: _button(w.model_panel, "Open model folder…").click(),
        _requested,
    ),
    "use selected version": GatedPath(
        "change_model",
        _use_version_1,
        lambda w: (w.store.current().number, _requested(w)),
        prepare=_two_versions,
    ),
    "roll back": GatedPath(
        "change_model",
        lambda _q, w, _o: w.model_panel.rollback_button.click(),
        lambda w: (w.store.current().number, _requested(w)),
        prepare=_two_versions,
    ),
    "promote": GatedPath(
        "change_model",
        lambda _q, w, _o: w.retrain.promote_button.click(),
        lambda w: (w.store.current(), _requested(w)),
        prepare=_candidate,
        shows_state=lambda w: w.retrain.promote_button.isEnabled() == (w.store.current() is None),
    ),
    "retrain": GatedPath(
        "retrain",
        lambda _q, w, _o: w.retrain.train_button.click(),
        lambda w: w.retrain.job is not None,
        prepare=_good_images,
    ),
    "capture current frame as good": GatedPath(
        "label_part",
        lambda _q, w, _o: _button(w.retrain, "Capture current frame as good").click(),
        lambda w: w.retrain.refresh_count(),
        prepare=lambda q, w, _o: q.waitUntil(lambda: w.sources.last_frame() is not None),
    ),
    "collect every N frames": GatedPath(
        "label_part",
        _collect_every_frame,
        lambda w: (w.retrain.refresh_count(), w.gates.collecting),
        shows_state=lambda w: w.retrain.collect.isChecked() == bool(w.gates.collecting[0]),
    ),
    "actually good: review from the history strip": GatedPath(
        "label_part",
        lambda _q, w, _o: w._review.good_button.click(),
        lambda w: _label(w, w._review.item.record_id),
        prepare=_review_from_strip,
        shows_state=lambda w: _marked_shown(w, w._review),
    ),
    "actually good: Log tab, selected row": GatedPath(
        "label_part",
        lambda _q, w, _o: w.log_panel.mark.click(),
        lambda w: _label(w, w._marked_record),
        prepare=_row_selected_in_log,
    ),
    "actually good: part opened from the Log tab": GatedPath(
        "label_part",
        lambda _q, w, _o: w.log_panel.review.good_button.click(),
        lambda w: _label(w, w.log_panel.review.item.record_id),
        prepare=_opened_from_log,
        shows_state=lambda w: _marked_shown(w, w.log_panel.review),
    ),
}


def _rows(win, action: str) -> list:  # noqa: ANN001
    with AuditTrail(win.workspace.log_file) as audit:
        return audit.query(action=action)


@pytest.fixture
def station(qtbot, window, model_copy: Path, tmp_path: Path, monkeypatch):  # noqa: ANN201
    """The window with a model loaded, triggered mode, and a second bundle folder (the one
    the "Open model folder…" dialog answers)."""
    from PySide6.QtWidgets import QFileDialog

    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=60_000)
    win.state.set_mode("triggered")  # parts only when a test asks for one
    win._model_requests = []
    win.state.subscribe(
        lambda e: win._model_requests.append(e.path) if isinstance(e, ModelRequested) else None
    )
    other = Path(shutil.copytree(model_copy, tmp_path / "model_b"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: str(other))
    return win, other


def _act(qtbot, station, name: str, pin: str | None) -> tuple:  # noqa: ANN001
    """Prepare as the engineer, lock, then drive the path as a person with ``pin``."""
    win, other = station
    path = PATHS[name]
    path.prepare(qtbot, win, other)
    win.guard.lock()  # the conftest's engineer leaves
    person = Answers(pin, path.text)
    win.guard.prompts = person.prompts()
    rows, before, since = len(_rows(win, path.action)), path.state(win), time.time()
    path.do(qtbot, win, other)
    return win, path, person, rows, before, since


@pytest.mark.parametrize("name", list(PATHS))
def test_the_operator_is_refused_and_nothing_changes(qtbot, station, name) -> None:
    win, path, person, rows, before, _ = _act(qtbot, station, name, None)
    qtbot.wait(300)  # anything started in the background would have shown by now
    assert path.state(win) == before
    assert len(_rows(win, path.action)) == rows
    assert person.asked_pin == 1 and person.confirmed == []
    assert any("needs the engineer role" in t for t in person.told), person.told
    assert win.guard.role == 0
    assert path.shows_state(win)  # the control is back at what is in force


@pytest.mark.parametrize("name", list(PATHS))
def test_the_engineer_confirms_and_it_is_audited(qtbot, station, name) -> None:
    win, path, person, rows, before, since = _act(qtbot, station, name, TEST_PIN)
    qtbot.waitUntil(lambda: path.state(win) != before, timeout=30_000)
    assert person.asked_pin == 1 and len(person.confirmed) >= 1
    assert " -> " in person.confirmed[0]
    new_rows = _rows(win, path.action)[: len(_rows(win, path.action)) - rows]
    assert len(new_rows) == 1, new_rows
    (row,) = new_rows
    assert row.role == "engineer"
    assert row.old != row.new and row.new is not None
    assert since - 1 <= row.timestamp <= time.time()
    assert path.shows_state(win)
