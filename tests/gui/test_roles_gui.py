"""Roles at the window: an operator is refused, an engineer unlocks, confirms and is audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.audit import AuditTrail

TEST_PIN = "2468"  # the engineer PIN the conftest sets


class Person:
    """Answers the guard's dialogs as a person at the station would, and remembers them."""

    def __init__(self, pin: str | None = None, confirm: bool | list[bool] = True) -> None:
        self.pin, self.answers = pin, confirm
        self.asked_pin: list[str] = []
        self.confirmed: list[str] = []
        self.told: list[str] = []

    def prompts(self):  # noqa: ANN201
        from gui.guard import Prompts

        return Prompts(
            ask_pin=lambda _p, text: self.asked_pin.append(text) or self.pin,
            confirm=self._confirm,
            tell=lambda _p, text: self.told.append(text),
            ask_text=lambda _p, _t, current: current,
        )

    def _confirm(self, _parent, _title: str, text: str) -> bool:
        self.confirmed.append(text)
        if isinstance(self.answers, list):
            return self.answers.pop(0)
        return self.answers


def _rows(win, action: str) -> list:
    with AuditTrail(win.workspace.log_file) as audit:
        return audit.query(action=action)


@pytest.fixture
def loaded(qtbot, window):
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=60_000)
    window.state.set_mode("triggered")  # no new part meanwhile
    window.guard.lock()  # the conftest's engineer leaves: the station is the operator's
    return window


def test_an_operator_is_refused_a_threshold_change(loaded) -> None:
    win = loaded
    person = Person(pin=None)  # asked for the PIN, the operator cancels
    win.guard.prompts = person.prompts()
    old = win.state.threshold.value
    win.live.threshold.set_threshold(old * 1.1)  # as the slider's release or "Calibrated"
    assert win.state.threshold.value == old
    assert win.live.threshold.value() == old  # the slider is put back
    assert _rows(win, "set_threshold") == []
    assert "needs the engineer role" in person.asked_pin[0]
    assert "not changed: it needs the engineer role" in person.told[-1]
    assert "needs the engineer role" in win.statusBar().currentMessage()
    assert win.role_bar.label.text().strip() == "OPERATOR"


def test_a_wrong_pin_is_refused_and_audited(loaded) -> None:
    win = loaded
    person = Person(pin="0000")
    win.guard.prompts = person.prompts()
    old = win.state.threshold.value
    win.live.threshold.set_threshold(old * 1.1)
    assert win.state.threshold.value == old
    assert any("wrong PIN" in t for t in person.told)
    assert _rows(win, "unlock_failed") and not _rows(win, "set_threshold")


def test_an_engineer_unlocks_confirms_and_the_change_is_audited(qtbot, loaded) -> None:
    win = loaded
    person = Person(pin=TEST_PIN)
    win.guard.prompts = person.prompts()
    old = win.state.threshold.value
    new = old * 1.05
    win.live.threshold.set_threshold(new)
    assert win.state.threshold.value == new
    assert win.role_bar.label.text().strip() == "ENGINEER" and win.state.role == "engineer"
    assert f"{old:.6g} -> {new:.6g}" in person.confirmed[0]
    (row,) = _rows(win, "set_threshold")
    assert (row.role, row.old, row.new) == ("engineer", repr(old), repr(new))
    assert row.subject == win.state.model.model_id
    # ... and the Log tab shows it.
    win.tabs.setCurrentWidget(win.log_panel)
    shown = [win.audit_view.texts(i) for i in range(win.audit_view.table.rowCount())]
    assert ["engineer", "set threshold", f"{old!r} -> {new!r}"] in [r[1:3] + r[4:5] for r in shown]
    # Unlocked: the next change asks no PIN, only the confirmation.
    win.live.threshold.set_threshold(old)
    assert len(person.asked_pin) == 1 and len(_rows(win, "set_threshold")) == 2
    win.role_bar.button.click()  # Lock
    assert win.role_bar.label.text().strip() == "OPERATOR"


def test_an_implausible_threshold_needs_a_second_confirmation(loaded) -> None:
    win = loaded
    person = Person(pin=TEST_PIN, confirm=[True, False])
    win.guard.prompts = person.prompts()
    old = win.state.threshold.value
    far = win.state.model.score_stats.good_max * 100
    win.live.threshold.set_threshold(far)
    assert win.state.threshold.value == old and not _rows(win, "set_threshold")
    assert "above the plausible limit" in person.confirmed[1]
    person.answers = [True, True]
    win.live.threshold.set_threshold(far)
    (row,) = _rows(win, "set_threshold")
    assert row.new == repr(far) and "plausible limit" in row.reason


def test_cancelled_confirmation_changes_nothing(loaded) -> None:
    win = loaded
    win.guard.prompts = Person(pin=TEST_PIN, confirm=False).prompts()
    win.live.save_policy.setCurrentText("none")
    assert win.state.save_policy == "fail" and win.live.save_policy.currentText() == "fail"
    assert not _rows(win, "set_save_policy")


def test_save_policy_counters_and_training_data_are_gated(loaded) -> None:
    win = loaded
    win.guard.prompts = Person(pin=None).prompts()
    win.live.save_policy.setCurrentText("none")
    assert win.state.save_policy == "fail" and win.live.save_policy.currentText() == "fail"
    before = win.production.counters.current().total
    win.live.counters.reset.click()
    assert win.production.counters.current().total == before
    win.log_panel.mark_good.emit(1)
    assert win.log.get(1) is None or win.log.get(1).label == ""
    win.guard.prompts = Person(pin=TEST_PIN).prompts()
    win.live.save_policy.setCurrentText("none")
    assert win.state.save_policy == "none"
    (row,) = _rows(win, "set_save_policy")
    assert (row.old, row.new, row.role) == ("fail", "none", "engineer")


def test_first_run_without_a_pin_says_how_to_set_one(
    qtbot, monkeypatch, tmp_path: Path, model_copy
) -> None:
    from gui.guard import Guard
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace

    person = Person(pin=TEST_PIN)
    monkeypatch.setattr(Guard, "prompts_for", lambda _guard: person.prompts())  # no PIN set
    ws = Workspace(tmp_path / "fresh")
    win = MainWindow(ws, StationSettings(model=str(model_copy), source=""))
    qtbot.addWidget(win)
    try:
        win.role_bar.button.click()  # Unlock…
        assert person.asked_pin == []
        assert f"python -m station.pins set --workspace {ws.root}" in person.told[-1]
        assert win.guard.role == 0
    finally:
        win.shutdown()


def test_an_idle_engineer_is_locked_again(qtbot, tmp_path: Path, model_copy) -> None:
    from PySide6.QtCore import Qt

    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace

    now = [1_000_000.0]
    settings = StationSettings(model=str(model_copy), source="", idle_lock_minutes=1.0)
    win = MainWindow(Workspace(tmp_path / "ws"), settings, clock=lambda: now[0])
    qtbot.addWidget(win)
    win.show()
    try:
        win.guard.lock()
        win.guard.prompts = Person(pin=TEST_PIN).prompts()
        win.role_bar.button.click()
        assert win.role_bar.label.text().strip() == "ENGINEER"
        now[0] += 50
        qtbot.keyClick(win, Qt.Key.Key_Shift)  # activity restarts the idle time
        now[0] += 50
        win.guard.poll()
        assert win.role_bar.label.text().strip() == "ENGINEER"
        now[0] += 11  # 61 s without activity; the 1 s timer polls the role
        qtbot.waitUntil(lambda: win.role_bar.label.text().strip() == "OPERATOR", timeout=3000)
        assert win.state.role == "operator"
        lock = _rows(win, "lock")[0]  # the newest; the older one is the manual lock above
        assert (lock.role, lock.old, lock.new) == ("system", "engineer", "operator")
        assert "idle 1 min" in lock.reason
    finally:
        win.shutdown()
