"""Capture and inference threads of the station.

capture thread --LatestSlot (newest frame only)--> inference thread --Qt signal--> UI thread

Both are QThreads that stop on ``requestInterruption()`` and report through typed signals.
The inference thread is the only place a model runs; it imports the runtime lazily, so the
``gui`` package itself never imports torch (and a future ONNX-only station needs none).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QThread, Signal

from gui.frame_slot import LatestSlot
from gui.view_item import ViewItem, to_display
from inspector.capture import (
    CaptureSource,
    Frame,
    FrameError,
    Reconnector,
    VideoFileSource,
    open_source,
)
from inspector.capture.devices import STREAM_TIMEOUT_MS
from inspector.recorder import PartContext, PartRecorder
from inspector.records import InspectionLog

PREVIEW_INTERVAL_S = 0.1  # live preview (trigger mode) at most 10 times a second
# A closing station waits this long for a capture thread: longer than an OpenCV stream open
# or read can block (STREAM_TIMEOUT_MS), so no thread is still running when Qt tears down.
STOP_WAIT_MS = STREAM_TIMEOUT_MS + 3000


class CaptureWorker(QThread):
    """Reads frames from a capture source, reconnecting with backoff when it fails."""

    state_changed = Signal(str, str)  # state, detail
    frame_error = Signal(str)  # one bad frame (e.g. an unreadable file); capture goes on
    preview = Signal(object)  # display-sized RGB image of the newest frame
    collected = Signal(str)  # path of a frame saved for retraining

    def __init__(
        self,
        spec: str,
        fps: float,
        slot: LatestSlot[Frame],
        video_fps: float | None = None,
    ) -> None:
        """
        Args:
            spec: what the user typed (camera number, URL, folder, video file).
            fps: rate an image folder is played at.
            slot: the hand-over to the inference thread.
            video_fps: rate for a video file; None plays it at the rate the file states.
        """
        super().__init__()
        self.spec, self.fps, self.slot = spec, fps, slot
        self.video_fps = video_fps
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last: Frame | None = None
        self._collect_every = 0
        self._collect_dir: Path | None = None

    def last_frame(self) -> Frame | None:
        """The newest full-resolution frame (for 'capture this part as good')."""
        with self._lock:
            return self._last

    def collect_every(self, n: int, folder: Path | None) -> None:
        """Save every ``n``-th frame into ``folder`` for retraining (0 = off)."""
        with self._lock:
            self._collect_every, self._collect_dir = max(0, int(n)), folder

    def request_stop(self) -> None:
        """Ask the thread to stop and return at once.

        An OpenCV open or read of a stream that does not answer blocks for up to its
        timeout and cannot be interrupted, so nobody should wait for it on the UI thread.
        Setting the flag under the lock guarantees that no frame of this worker reaches the
        shared slot after this returns, even if a blocked read completes later.
        """
        with self._lock:
            self._stop.set()
        self.requestInterruption()

    def stop(self, wait_ms: int = STOP_WAIT_MS) -> bool:
        """Stop and wait (the station is closing); True if the thread has finished."""
        self.request_stop()
        return self.wait(wait_ms)

    def run(self) -> None:
        source = Reconnector(
            lambda: make_source(self.spec, self.fps, self.video_fps),
            on_state=lambda state, detail: self.state_changed.emit(state, detail),
        )
        last_preview = 0.0
        try:
            while not self.isInterruptionRequested():
                try:
                    frame = source.next_frame(self._stop)
                except FrameError as exc:
                    self.frame_error.emit(str(exc))
                    continue
                if frame is None:
                    break  # source ended or stop requested
                with self._lock:
                    if self._stop.is_set():
                        break  # replaced by another source while this frame was read
                    self._last = frame
                    every, folder = self._collect_every, self._collect_dir
                    self.slot.put(frame)
                if every and folder is not None and frame.index % every == 0:
                    self.collected.emit(str(save_frame(frame, folder)))
                now = time.monotonic()
                if now - last_preview >= PREVIEW_INTERVAL_S:
                    last_preview = now
                    self.preview.emit(to_display(frame.image, None)[0])
        finally:
            source.close()


def make_source(spec: str, folder_fps: float, video_fps: float | None = None) -> CaptureSource:
    """The source for ``spec``, looping: an image folder at ``folder_fps``, a video file at
    ``video_fps`` or, when that is None, at the rate the file states (the folder rate, 2 fps
    by default, would play a 25 fps recording in slow motion)."""
    source = open_source(spec, fps=folder_fps, loop=True)
    if isinstance(source, VideoFileSource):
        return VideoFileSource(source.path, loop=True, fps=video_fps)
    return source


def save_frame(frame: Frame, folder: Path) -> Path:
    """Write a frame losslessly (16-bit stays 16-bit) for a training set."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = frame.name and Path(frame.name).stem or f"frame{frame.index:06d}"
    path = folder / f"{time.strftime('%Y%m%d_%H%M%S')}_{frame.index:06d}_{stem}.png"
    img = frame.image
    if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path


class InferenceWorker(QThread):
    """Takes the newest frame (every frame, or one per trigger), inspects and records it."""

    result_ready = Signal(object)  # ViewItem
    model_loaded = Signal(object)  # dict: model_id, family, path, thresholds, score_stats, ...
    model_failed = Signal(str)

    def __init__(
        self,
        slot: LatestSlot[Frame],
        log_path: Path,
        images_dir: Path,
        save_policy: str = "fail",
        trigger_mode: str = "continuous",
        threshold_overrides: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.slot = slot
        self.log_path, self.images_dir = log_path, images_dir
        self._lock = threading.Lock()
        self._pending_model: str | None = None
        # Operator thresholds per model id, applied inside _load: a model's first part
        # must be judged by the operator's threshold, not the bundle's until the UI catches up.
        self._overrides = dict(threshold_overrides or {})
        self._pending_threshold: tuple[str, float] | None = None
        self._save_policy = save_policy
        self.trigger_mode = trigger_mode
        self._trigger = threading.Event()
        self._stop = threading.Event()

    # --- called from the UI thread -------------------------------------------------------
    def load_model(self, bundle: str | Path) -> None:
        with self._lock:
            self._pending_model = str(bundle)

    def set_image_threshold(self, model_id: str, value: float) -> None:
        """Judge the next parts by ``value`` if the running model is ``model_id``."""
        with self._lock:
            self._pending_threshold = (model_id, float(value))

    def set_threshold_overrides(self, overrides: dict[str, float]) -> None:
        """The operator's per-model thresholds, applied whenever such a model is loaded."""
        with self._lock:
            self._overrides = dict(overrides)

    def set_save_policy(self, policy: str) -> None:
        with self._lock:
            self._save_policy = policy

    def trigger(self) -> None:
        """Software trigger: inspect the newest frame (trigger mode)."""
        self._trigger.set()

    def stop(self) -> None:
        self.requestInterruption()
        self._stop.set()
        self.wait(10000)

    # --- worker thread -----------------------------------------------------------------
    def run(self) -> None:
        log = InspectionLog(self.log_path)
        recorder: PartRecorder | None = None
        insp: Any = None
        try:
            while not self.isInterruptionRequested():
                with self._lock:
                    pending, self._pending_model = self._pending_model, None
                    threshold, self._pending_threshold = self._pending_threshold, None
                    policy = self._save_policy
                loaded = self._load(pending, log, policy) if pending else None
                if loaded is not None:
                    # The old runtime session holds native memory (~5 MB for ONNX Runtime)
                    # that dropping the object alone does not give back.
                    if insp is not None:
                        insp.close()
                    insp, recorder = loaded
                if insp is None or recorder is None:
                    self._stop.wait(0.05)
                    continue
                if threshold is not None and threshold[0] == insp.model_id:
                    insp.set_thresholds(image=threshold[1])
                recorder.policy = policy
                frame = self._next_frame()
                if frame is not None:
                    self.result_ready.emit(self._inspect(insp, recorder, frame))
        finally:
            log.close()
            if insp is not None:
                insp.close()

    def _load(
        self, bundle: str, log: InspectionLog, policy: str
    ) -> tuple[Any, PartRecorder] | None:
        from inspector.folder import map_display_range
        from inspector.runtime import Inspector

        try:
            insp = Inspector.load(bundle)
        except Exception as exc:  # any bad bundle: report it, keep the current model running
            self.model_failed.emit(f"{bundle}: {exc}")
            return None
        map_range = map_display_range(insp)
        recorder = PartRecorder(log, self.images_dir, policy, map_range)
        meta = insp.meta  # as in the bundle, before any override
        with self._lock:
            override = self._overrides.get(meta.model_id)
        if override is not None:
            insp.set_thresholds(image=override)
        self.model_loaded.emit(
            {
                "path": bundle,
                "backend": insp.backend.name,
                "model_id": meta.model_id,
                "family": meta.family,
                "created": meta.created,
                "thresholds": meta.thresholds,
                "image_threshold": insp.thresholds.image,  # what parts are judged by now
                "override": override is not None,
                "score_stats": meta.score_stats,
                "map_range": map_range,
                "training": meta.training,
                "evaluation": meta.evaluation,
            }
        )
        return insp, recorder

    def _next_frame(self) -> Frame | None:
        if self.trigger_mode == "triggered":
            if not self._trigger.wait(0.05):
                return None
            self._trigger.clear()
            return self.slot.get(timeout=2.0)
        return self.slot.get(timeout=0.05)

    def _inspect(self, insp: Any, recorder: PartRecorder, frame: Frame) -> ViewItem:
        ctx = PartContext(frame.source, insp.model_id, frame.name, frame.timestamp)
        try:
            result = insp.inspect(frame.image)
        except Exception as exc:  # one bad frame must never stop the line; it is logged
            rec = recorder.record_error(
                ctx, f"{frame.name or frame.source}: {exc}", insp.thresholds.image
            )
            image, _, scale = to_display(frame.image, None)
            return ViewItem(
                image,
                np.zeros(image.shape[:2], np.float32),
                scale,
                float("nan"),
                "ERROR",
                insp.thresholds.image,
                source=frame.source,
                name=frame.name,
                timestamp=frame.timestamp,
                record_id=rec.id,
                error=rec.error,
            )
        rec = recorder.record(frame.image, result, ctx)
        image, amap, scale = to_display(frame.image, result.anomaly_map)
        return ViewItem(
            image=image,
            anomaly_map=amap,
            scale=scale,
            score=result.score,
            verdict=str(result.verdict),
            threshold=result.threshold,
            regions=result.regions,
            source=frame.source,
            name=frame.name,
            timestamp=frame.timestamp,
            latency_ms=(time.time() - frame.timestamp) * 1e3,
            timings_ms=dict(result.timings_ms),
            record_id=rec.id,
            image_path=rec.image_path,
        )
