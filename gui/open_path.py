"""Open a file or folder in the desktop's application, or tell the user where it is.

On Linux ``QDesktopServices.openUrl`` only starts ``xdg-open`` and reports success as soon as
it has started; with no browser or file manager configured, ``xdg-open`` fails a moment later
with a line on stderr that nobody sees, and the button seems to do nothing. So on Linux
``xdg-open`` is run here and its exit status watched. Whenever opening fails, a message names
the path (selectable, with a button to copy it): never fail silently.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import shiboken6
from PySide6.QtCore import QCoreApplication, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget

WATCH_S = 15.0  # an opener still running by then has started its application
POLL_MS = 100
_watching: set[_Watch] = set()  # keeps watches alive until their opener is done
_open_boxes: set[QMessageBox] = set()


def opener_command() -> list[str] | None:
    """The command that opens a path on this system, or None to use QDesktopServices."""
    if sys.platform.startswith("linux"):
        found = shutil.which("xdg-open")
        return [found] if found else []
    return None


def open_path(path: str | Path, parent: QWidget | None = None, what: str = "file") -> None:
    """Open ``path`` (``what`` names it in messages: file, folder, report)."""
    p = Path(path)
    if not p.exists():
        show_path_message(parent, f"The {what} does not exist.", p)
        return
    command = opener_command()
    if command is None:
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(p))):
            show_path_message(parent, f"No application is set up to open this {what}.", p)
        return
    if not command:
        show_path_message(
            parent, f"No desktop opener (xdg-open) is installed to open this {what}.", p
        )
        return
    # stderr into a file, not a pipe: the application xdg-open starts inherits it and must
    # never block on a pipe nobody reads once the watch is over.
    err = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(
            [*command, str(p)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # closing the station must not close what it opened
        )
    except OSError as exc:
        err.close()
        show_path_message(parent, f"Could not start {command[0]} ({exc}).", p)
        return
    _watching.add(_Watch(proc, err, parent, what, p))


class _Watch:
    """Polls one opener process and shows a message if it fails."""

    def __init__(
        self, proc: subprocess.Popen, err, parent: QWidget | None, what: str, path: Path
    ) -> None:  # noqa: ANN001 (a binary temporary file)
        self.proc, self.err, self.parent, self.what, self.path = proc, err, parent, what, path
        self.polls = int(WATCH_S * 1000 / POLL_MS)
        # Parented to the application: the dialog that asked may close before the answer.
        self.timer = QTimer(QCoreApplication.instance())
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    def _poll(self) -> None:
        self.polls -= 1
        code = self.proc.poll()
        if code is None and self.polls > 0:
            return
        self.timer.stop()
        self.timer.deleteLater()
        _watching.discard(self)
        if code:
            self.err.seek(0)
            detail = self.err.read()[-400:].decode(errors="replace").strip()
            parent = (
                self.parent if self.parent is not None and shiboken6.isValid(self.parent) else None
            )
            show_path_message(
                parent,
                f"No application could open this {self.what} (exit status {code})."
                + (f"\n{detail}" if detail else ""),
                self.path,
            )
        self.err.close()


def _forget(box: QMessageBox) -> None:
    _open_boxes.discard(box)
    box.deleteLater()


def show_path_message(parent: QWidget | None, reason: str, path: Path) -> QMessageBox:
    """A non-blocking message with the path, selectable and copyable."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Cannot open")
    box.setText(f"{reason}\n\nIt is here:\n{path}")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    copy = box.addButton("Copy path", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Close)
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(str(path)))
    # A box without a parent is owned by Python: held here until it is closed.
    _open_boxes.add(box)
    box.finished.connect(lambda _result: _forget(box))
    box.open()
    return box
