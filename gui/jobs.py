"""Training and comparison runs as background processes.

Training runs in a separate process (the ``inspector`` CLI), not a thread: it uses every
core for minutes, can be cancelled by killing it without leaving a half-finished state in the
station, and a crash in it cannot take the station down. Progress comes from its progress-bar
output, parsed here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

# tqdm lines look like "features:  45%|####5     | 18/40 [00:03<00:04, 5.1img/s]".
_PROGRESS = re.compile(r"([A-Za-z][\w ]*?):\s+(\d{1,3})%\|")

# How long a cancelled run gets to finish its batch and save its checkpoint before it is
# killed. A batch can take several seconds on a busy 2-core station (3 s was too short
# once the machine was loaded), and the wait does not block the station.
CLEAN_EXIT_MS = 20_000


def parse_progress(text: str) -> tuple[str, int] | None:
    """The last (stage, percent) in a chunk of progress-bar output, if any."""
    found = _PROGRESS.findall(text)
    if not found:
        return None
    stage, pct = found[-1]
    return stage.strip(), min(100, int(pct))


def cli_command(*args: str) -> tuple[str, list[str]]:
    """Program and arguments that run ``inspector <args>`` with this Python."""
    return sys.executable, ["-m", "inspector.cli", *args]


class Job(QObject):
    """One CLI run: output lines, progress, and a finished signal with the exit code."""

    output = Signal(str)
    progress = Signal(str, int)
    finished = Signal(int)

    def __init__(self, args: Sequence[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.args = list(args)
        self.proc = QProcess(self)
        self.proc.readyReadStandardOutput.connect(self._stdout)
        self.proc.readyReadStandardError.connect(self._stderr)
        self.proc.finished.connect(lambda code, _status: self.finished.emit(int(code)))
        self.cancelled = False

    def start(self) -> None:
        program, args = cli_command(*self.args)
        self.output.emit("$ inspector " + " ".join(self.args))
        self.proc.start(program, args)

    def running(self) -> bool:
        return self.proc.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Ask the run to stop after its current batch (SIGTERM: it keeps its checkpoint and
        exits); kill it if it is still running ``CLEAN_EXIT_MS`` later. Returns at once:
        ``finished`` says when it has gone."""
        if self.running():
            self.cancelled = True
            self.proc.terminate()
            QTimer.singleShot(CLEAN_EXIT_MS, self._kill_if_running)

    def stop(self, wait_ms: int = 5000) -> None:
        """Cancel and wait (the station is closing): killed after ``wait_ms``."""
        self.cancel()
        if self.running() and not self.proc.waitForFinished(wait_ms):
            self._kill_if_running()

    def _kill_if_running(self) -> None:
        if self.running():
            self.proc.kill()
            self.proc.waitForFinished(3000)

    def _stdout(self) -> None:
        text = bytes(self.proc.readAllStandardOutput().data()).decode(errors="replace")
        for line in text.splitlines():
            if line.strip():
                self.output.emit(line)

    def _stderr(self) -> None:
        text = bytes(self.proc.readAllStandardError().data()).decode(errors="replace")
        found = parse_progress(text)
        if found:
            self.progress.emit(*found)
        for line in re.split(r"[\r\n]+", text):
            if line.strip() and not _PROGRESS.search(line):
                self.output.emit(line)
