"""The one gate every change at the station passes: role check, PIN, confirmation, audit row.

A panel only asks (a request signal); the window calls ``Guard.allow`` and carries the change
out only when it returns a role. The permission rule itself is ``station.roles.may``; this file
adds what a person at a screen needs around it: the PIN dialog when the role is too low, a
clear refusal instead of a silent one, "<what>: old -> new" to confirm, and the audit row.

Dialogs go through ``Prompts`` so that tests (and the scripted scenario) answer them in code:
set ``guard.prompts`` (or, before the window exists, ``Guard.prompts_for``) to ``Prompts``
whose callables return what a person would have typed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMessageBox, QWidget

from station.audit import AuditError, AuditTrail
from station.pins import NoPinSet
from station.roles import REQUIRED, AccessControl, Action, Role, UnlockRefused, may

log = logging.getLogger(__name__)


def _ask_pin(parent: QWidget | None, text: str) -> str | None:
    pin, ok = QInputDialog.getText(parent, "Unlock", text, QLineEdit.EchoMode.Password)
    return pin if ok else None


def _confirm(parent: QWidget | None, title: str, text: str) -> bool:
    answer = QMessageBox.question(parent, title, text)
    return answer == QMessageBox.StandardButton.Yes


def _tell(parent: QWidget | None, text: str) -> None:
    QMessageBox.information(parent, "Visual Inspector station", text)


def _ask_text(parent: QWidget | None, title: str, current: str) -> str | None:
    text, ok = QInputDialog.getText(parent, title, title, QLineEdit.EchoMode.Normal, current)
    return text if ok else None


@dataclass
class Prompts:
    """What the guard asks a person; each callable gets the parent widget first.

    Attributes:
        ask_pin: (parent, message) -> the PIN typed, or None if cancelled.
        confirm: (parent, title, message) -> True when the person confirms.
        tell: (parent, message): a refusal or an error the person must read.
        ask_text: (parent, title, current) -> the new text, or None if cancelled.
    """

    ask_pin: Callable[[QWidget | None, str], str | None] = _ask_pin
    confirm: Callable[[QWidget | None, str, str], bool] = _confirm
    tell: Callable[[QWidget | None, str], None] = _tell
    ask_text: Callable[[QWidget | None, str, str], str | None] = _ask_text


class Guard(QObject):
    """Asks, confirms and audits every gated change made at the window.

    Signals:
        role_changed(str): the role after an unlock, a lock or an automatic lock.
        refused(str): a change was refused or cancelled; the message says which and why.
        audited(): an audit row was written (the Log tab refreshes its audit view).

    Args:
        access: the station's current role and PINs.
        audit: where confirmed changes are written.
        workspace: named in the "how to set a PIN" message.
        parent: the window the dialogs belong to.
    """

    role_changed = Signal(str)
    refused = Signal(str)
    audited = Signal()
    prompts_for: ClassVar[Callable[[Guard], Prompts] | None] = None
    """Hook for tests and scripted runs: builds each new guard's prompts (None: dialogs)."""

    def __init__(
        self, access: AccessControl, audit: AuditTrail, workspace: str, parent: QWidget
    ) -> None:
        super().__init__(parent)
        self.access, self.audit, self.workspace = access, audit, workspace
        self.prompts = Guard.prompts_for(self) if Guard.prompts_for else Prompts()
        self._parent = parent
        self._role = access.current_role()

    @property
    def role(self) -> Role:
        return self._role

    def poll(self) -> Role:
        """Ask the access control for the role now (an idle station locks itself here)."""
        role = self.access.current_role()
        if role != self._role:
            self._role = role
            self.role_changed.emit(str(role))
            self.audited.emit()
        return role

    def touch(self) -> None:
        """The person did something: restart the idle time."""
        self.access.touch()

    def how_to_set_pin(self) -> str:
        return (
            "No PIN is set yet, so the station cannot be unlocked. Set the engineer PIN once "
            f"in a terminal:\n\n  python -m station.pins set --workspace {self.workspace}"
        )

    def unlock(self, why: str = "") -> Role | None:
        """Ask for a PIN and unlock; the new role, or None (cancelled, wrong, none set)."""
        if self.access.needs_first_pin():
            self._tell(self.how_to_set_pin())
            return None
        prompt = (why + "\n\n" if why else "") + "Engineer or admin PIN:"
        pin = self.prompts.ask_pin(self._parent, prompt)
        if pin is None:
            return None
        try:
            role = self.access.unlock(pin)
        except (UnlockRefused, NoPinSet) as exc:
            self._tell(f"Not unlocked: {exc}")
            self.audited.emit()  # the wrong PIN is an audit row
            return None
        self.poll()
        self.audited.emit()
        return role

    def lock(self) -> None:
        self.access.lock()
        self.poll()
        self.audited.emit()

    def ensure(self, action: Action, what: str) -> Role | None:
        """The current role if it may do ``action``, else the role unlocked with a PIN for
        it; None (and a refusal the person reads) when it stays too low."""
        role = self.poll()
        if may(role, action):
            return role
        need = REQUIRED[action]
        why = f"{what}: changing it needs the {need} role; the station is locked ({role})."
        role = self.unlock(why) or role
        if not may(role, action):
            return self._refuse(f"{what} not changed: it needs the {need} role.")
        return role

    def allow(
        self,
        action: Action,
        what: str,
        *,
        subject: str = "",
        old: object = None,
        new: object = None,
        warning: str | None = None,
        record: bool = True,
    ) -> Role | None:
        """The role that may carry out this change, after the person confirmed it; else None.

        Args:
            action: what is gated (``station.roles.REQUIRED`` says who may).
            what: the change in words, e.g. "Image threshold".
            subject: what it applies to (a model id), for the audit row.
            old: the value before; new: the value after (both shown and audited).
            warning: a reason the value is suspect; it needs a second, explicit confirmation.
            record: write the audit row here (False where the station module writes it).
        """
        role = self.ensure(action, what)
        if role is None:
            return None
        change = f"{what}: {_show(old)} -> {_show(new)}"
        if not self.prompts.confirm(self._parent, "Confirm the change", change + "\n\nApply?"):
            return self._refuse(f"{what} not changed (cancelled).")
        if warning and not self.prompts.confirm(
            self._parent, "Implausible value", f"{change}\n\n{warning}.\n\nApply it anyway?"
        ):
            return self._refuse(f"{what} not changed: {warning}.")
        self.access.touch()
        if record:
            try:
                self.audit.record(
                    role, action, subject=subject, old=old, new=new, reason=warning or ""
                )
            except AuditError as exc:  # no change without its audit row
                return self._refuse(f"{what} not changed: the audit trail failed: {exc}")
        self.audited.emit()
        return role

    def _refuse(self, message: str) -> Role | None:
        log.info("refused: %s", message)
        self.refused.emit(message)
        self._tell(message)
        return None  # what allow/ensure return when refused

    def _tell(self, message: str) -> None:
        self.prompts.tell(self._parent, message)


ACTIVITY = (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.Wheel)


class ActivityWatcher(QObject):
    """A key, a click or a wheel turn anywhere in the application restarts the idle time of
    an unlocked station (at most once a second: the access control takes a lock for it)."""

    def __init__(self, guard: Guard) -> None:
        super().__init__(guard)
        self.guard = guard
        self._last = 0.0
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def stop(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() in ACTIVITY and time.monotonic() - self._last > 1.0:
            self._last = time.monotonic()
            self.guard.touch()
        return False


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
