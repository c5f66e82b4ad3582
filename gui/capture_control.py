"""The capture thread of the current source, and the old ones still winding down.

Switching sources must never wait: an OpenCV open or read of a stream that does not answer
blocks for up to its timeout and cannot be interrupted. So the old thread is only asked to
stop; its signals are no longer passed on; it cannot put another frame into the shared slot
(``CaptureWorker.request_stop``); and it is kept referenced until its thread has ended,
because a QThread object destroyed while its thread runs aborts the process.

A recipe's camera settings (`apply_camera`) go to the running source where it takes them
(``apply(exposure_us=..., gain_db=..., ...)``, as ``PylonSource`` does), and again each time
the camera comes back live (a reconnected camera opens with its own settings). A source that
does not take some or all of them is said once per source, in the log and on ``camera_note``;
that is no error.
"""

from __future__ import annotations

import inspect
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, SignalInstance

from gui.frame_slot import LatestSlot
from gui.workers import STOP_WAIT_MS, CaptureError, CaptureWorker
from inspector.capture import Frame
from station.recipes import CameraSettings

log = logging.getLogger(__name__)


class CaptureControl(QObject):
    """Runs one capture thread at a time and relays the signals of that one only.

    Signals mirror `CaptureWorker`'s, from the current worker only.
    """

    state_changed = Signal(str, str)  # state, detail
    frame_error = Signal(str)
    preview = Signal(object)
    collected = Signal(str)
    camera_note = Signal(str)  # what became of a recipe's camera settings, for the status bar

    def __init__(
        self,
        slot: LatestSlot[Frame],
        errors: queue.Queue[CaptureError],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.slot, self.errors = slot, errors
        self.worker: CaptureWorker | None = None
        self.retired: set[CaptureWorker] = set()  # asked to stop, thread still running
        self.camera: CameraSettings | None = None  # the recipe's, applied at each (re)open
        self.applied: dict[str, object] = {}  # what the running source last took
        self._camera_lock = threading.Lock()
        self._told: set[tuple[str, str]] = set()  # (source, setting) said not to be taken
        self.state_changed.connect(self._reapply)

    def switch(self, spec: str, fps: float, video_fps: float | None = None) -> None:
        """Start capturing from ``spec`` ("" = none); returns at once."""
        self.retire()
        self.slot.clear()
        if not spec:
            return
        worker = CaptureWorker(spec, fps, self.slot, video_fps, self.errors)
        self.worker = worker
        # Queued signals of a replaced worker may still arrive after the switch; they must
        # not paint its state or frames over the new source's.
        for theirs, ours in (
            (worker.state_changed, self.state_changed),
            (worker.frame_error, self.frame_error),
            (worker.preview, self.preview),
            (worker.collected, self.collected),
        ):
            theirs.connect(self._relay(worker, ours))
        worker.finished.connect(lambda: self._finished(worker))
        worker.start()

    def retire(self) -> None:
        """Ask the current thread to stop without waiting for it."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        worker.request_stop()
        if worker.isFinished():
            worker.deleteLater()  # its finished signal came while it was current
        else:
            self.retired.add(worker)

    def shutdown(self, wait_ms: int = STOP_WAIT_MS) -> None:
        """Stop every thread, old ones too, and wait for each (the station is closing).

        Each gets long enough for an OpenCV stream timeout; they wind down in parallel.
        """
        self.retire()
        for worker in self.retired:
            worker.request_stop()
        for worker in list(self.retired):
            worker.wait(wait_ms)

    def apply_camera(self, camera: CameraSettings | None) -> dict[str, object]:
        """Set the recipe's camera settings on the running source (any thread, between
        parts) and keep them for the next open; the settings it took."""
        self.camera = camera
        return self._apply()

    def _reapply(self, state: str, _detail: str) -> None:
        if state == "live" and self.camera is not None:
            self._apply()

    def _apply(self) -> dict[str, object]:
        camera, worker = self.camera, self.worker
        wanted = camera.given() if camera is not None else {}
        reconnector = worker.source if worker is not None else None
        source = reconnector.source if reconnector is not None else None
        if not wanted or source is None:
            return {}  # applied when the camera is open (``_reapply``)
        apply = getattr(source, "apply", None)
        try:
            params = inspect.signature(apply).parameters if apply is not None else {}
        except (TypeError, ValueError):
            params = {}
        taken = {k: v for k, v in wanted.items() if k in params}
        for name in sorted(set(wanted) - set(taken)):
            note = f"{source.label} does not take {name} while running: the recipe's "
            self._tell_once(source.label, name, f"{note}{name} {wanted[name]} is not applied")
        if not taken or apply is None:
            return {}
        with self._camera_lock:
            try:
                apply(**taken)
            except Exception as exc:  # a value the camera refuses: said, capture goes on
                message = f"{source.label}: recipe camera settings not applied: {exc}"
                log.error(message)
                self.camera_note.emit(message)
                return {}
        self.applied = taken
        shown = ", ".join(f"{k} {v}" for k, v in taken.items())
        log.info("%s: camera settings applied: %s", source.label, shown)
        self.camera_note.emit(f"{source.label}: {shown}")
        return taken

    def _tell_once(self, label: str, name: str, message: str) -> None:
        if (label, name) not in self._told:
            self._told.add((label, name))
            log.info(message)
            self.camera_note.emit(message)

    def camera_health(self) -> tuple[int, int | None, object]:
        """(frames delivered by the running source, frames the camera numbered but never
        delivered or None where it does not number them, exposure in µs or None)."""
        worker = self.worker
        reconnector = worker.source if worker is not None else None
        source = reconnector.source if reconnector is not None else None
        frame = worker.last_frame() if worker is not None else None
        exposure = self.applied.get("exposure_us")
        if exposure is None:
            exposure = getattr(getattr(source, "settings", None), "exposure_us", None)
        dropped = getattr(source, "dropped", None)
        return (frame.index if frame is not None else 0, dropped, exposure)

    def last_frame(self) -> Frame | None:
        return self.worker.last_frame() if self.worker is not None else None

    def collect_every(self, n: int, folder: Path | None) -> None:
        if self.worker is not None:
            self.worker.collect_every(n, folder)

    def _relay(self, worker: CaptureWorker, signal: SignalInstance) -> Callable[..., None]:
        def relay(*args: object) -> None:
            if worker is self.worker:
                signal.emit(*args)

        return relay

    def _finished(self, worker: CaptureWorker) -> None:
        if worker in self.retired:
            self.retired.discard(worker)
            worker.wait()  # finished is emitted just before the thread returns
            worker.deleteLater()
