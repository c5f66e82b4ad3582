"""Training and comparison runs as background processes, and the progress they report.

Training runs in a separate process (the ``inspector`` CLI), not a thread: it uses every
core for minutes, can be cancelled by killing it without leaving a half-finished state in the
station, and a crash in it cannot take the station down. ``train`` and ``evaluate`` run with
``--progress json``: one JSON object per stderr line (``progress``, ``done`` or ``error``);
any other stderr line is free text for the log.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

# How long a cancelled run gets to finish its batch and save its checkpoint before it is
# killed. A batch can take several seconds on a busy 2-core station, and the wait does not
# block the station.
CLEAN_EXIT_MS = 20_000
PROGRESS_COMMANDS = ("train", "evaluate")  # the commands that speak the JSON protocol


@dataclass(frozen=True)
class Progress:
    """Where a run is: its stage, that stage's count and the whole run's share done."""

    stage: str
    stage_index: int = 0
    stage_count: int = 1
    done: int = 0
    total: int = 0
    overall: float = 0.0
    eta_s: float | None = None
    losses: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    bundle: str


@dataclass(frozen=True)
class Failed:
    message: str


RunEvent = Progress | Done | Failed


def parse_line(line: str) -> RunEvent | None:
    """The protocol event on one stderr line, or None for free text."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    kind = obj.get("event")
    if kind == "done":
        return Done(str(obj.get("bundle", "")))
    if kind == "error":
        return Failed(str(obj.get("message", "")))
    if kind != "progress":
        return None
    overall = _number(obj.get("overall"))
    if overall is None:
        return None
    eta = _number(obj.get("eta_s"))
    raw = obj.get("losses")
    losses: dict = raw if isinstance(raw, dict) else {}
    return Progress(
        stage=str(obj.get("stage", "")),
        stage_index=int(_number(obj.get("stage_index")) or 0),
        stage_count=max(1, int(_number(obj.get("stage_count")) or 1)),
        done=int(_number(obj.get("done")) or 0),
        total=int(_number(obj.get("total")) or 0),
        overall=min(1.0, max(0.0, overall)),
        eta_s=None if eta is None or eta < 0 else eta,
        losses={str(k): v for k, v in losses.items() if _number(v) is not None},
    )


def _number(x: object) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def describe(p: Progress) -> str:
    """``stage 2/4: features 12/40 · about 31 s left``"""
    text = f"stage {p.stage_index + 1}/{p.stage_count}: {p.stage}"
    if p.total:
        text += f" {p.done}/{p.total}"
    if p.losses:
        text += "  ·  " + ", ".join(f"{k} {v:.4g}" for k, v in p.losses.items())
    if p.eta_s is not None:
        text += f"  ·  about {format_eta(p.eta_s)} left"
    return text


def format_eta(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"


class LineBuffer:
    """Whole lines out of a byte stream read in arbitrary chunks."""

    def __init__(self) -> None:
        self._rest = ""

    def feed(self, text: str) -> list[str]:
        text = (self._rest + text).replace("\r\n", "\n").replace("\r", "\n")
        *lines, self._rest = text.split("\n")
        return [line for line in lines if line.strip()]

    def flush(self) -> list[str]:
        rest, self._rest = self._rest, ""
        return [rest] if rest.strip() else []


def cli_command(*args: str) -> tuple[str, list[str]]:
    """Program and arguments that run ``inspector <args>`` with this Python."""
    return sys.executable, ["-m", "inspector.cli", *args]


class Job(QObject):
    """One CLI run: output lines, typed progress, and a finished signal with the exit code.

    After it has finished, ``bundle`` holds what a ``done`` event named and ``error`` what
    an ``error`` event said.
    """

    output = Signal(str)
    progress = Signal(object)  # Progress
    finished = Signal(int)

    def __init__(
        self,
        args: Sequence[str],
        parent: QObject | None = None,
        cli: Callable[..., tuple[str, list[str]]] | None = None,
    ) -> None:
        """
        Args:
            args: the ``inspector`` command line (``--progress json`` is added where spoken).
            cli: program and arguments for an ``inspector`` command line (default
                ``cli_command``: this Python's ``inspector``).
        """
        super().__init__(parent)
        self.args = list(args)
        if self.args[:1] and self.args[0] in PROGRESS_COMMANDS:
            self.args += ["--progress", "json"]
        self.command = (cli or cli_command)(*self.args)
        self.bundle = ""
        self.error = ""
        self._stdout_lines, self._stderr_lines = LineBuffer(), LineBuffer()
        self.proc = QProcess(self)
        self.proc.readyReadStandardOutput.connect(self._stdout)
        self.proc.readyReadStandardError.connect(self._stderr)
        self.proc.finished.connect(self._finished)
        self.cancelled = False

    def start(self) -> None:
        self.output.emit("$ inspector " + " ".join(self.args))
        self.proc.start(*self.command)

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
        for line in self._stdout_lines.feed(text):
            self.output.emit(line)

    def _stderr(self) -> None:
        text = bytes(self.proc.readAllStandardError().data()).decode(errors="replace")
        self._handle(self._stderr_lines.feed(text))

    def _handle(self, lines: list[str]) -> None:
        for line in lines:
            event = parse_line(line)
            if isinstance(event, Progress):
                self.progress.emit(event)
            elif isinstance(event, Done):
                self.bundle = event.bundle
            elif isinstance(event, Failed):
                self.error = event.message
                self.output.emit(f"error: {event.message}")
            else:
                self.output.emit(line)

    def _finished(self, code: int, _status: object) -> None:
        self._stderr()  # what came with the exit, then a last line without its newline
        self._handle(self._stderr_lines.flush())
        for line in self._stdout_lines.flush():
            self.output.emit(line)
        self.finished.emit(int(code))
