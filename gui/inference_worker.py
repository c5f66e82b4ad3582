"""The inference thread of the station: the only place a model runs.

It takes the newest frame from the capture thread (every frame, or one per trigger),
inspects and records it, and hands a display-sized ViewItem to the UI. It imports the
runtime lazily, so the ``gui`` package itself never imports torch.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from gui.frame_slot import LatestSlot
from gui.view_item import ViewItem, to_display
from gui.workers import CaptureError
from inspector.capture import Frame
from inspector.recorder import PartContext, PartRecorder
from inspector.records import InspectionLog

TRIGGER_WAIT_S = 2.0  # a trigger with no frame within this is logged as an ERROR part
NO_IMAGE = np.full((240, 320, 3), 64, np.uint8)  # shown for a part with no picture
# Neither a model load nor an inspection can be interrupted, and a QThread destroyed while
# it runs aborts the process: a closing station waits this long. A 48 MP part with its
# evidence takes ~15 s on a busy 2-core station, a first model load (torch import) more.
STOP_WAIT_MS = 60_000


class InferenceWorker(QThread):
    """Takes the newest frame (every frame, or one per trigger), inspects and records it."""

    result_ready = Signal(object)  # ViewItem
    model_loaded = Signal(object)  # dict: model_id, family, path, thresholds, score_stats, ...
    model_failed = Signal(str, str)  # bundle path, reason

    def __init__(
        self,
        slot: LatestSlot[Frame],
        log_path: Path,
        images_dir: Path,
        save_policy: str = "fail",
        trigger_mode: str = "continuous",
        threshold_overrides: dict[str, float] | None = None,
        errors: queue.Queue[CaptureError] | None = None,
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
        self.errors = errors
        self._source = ""

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

    def set_source(self, label: str) -> None:
        """What to call the source when a trigger gets no frame from it."""
        with self._lock:
            self._source = label

    def stop(self) -> bool:
        """Stop after the current part or model load; True once the thread has ended."""
        self.requestInterruption()
        self._stop.set()
        return self.wait(STOP_WAIT_MS)

    # --- worker thread -----------------------------------------------------------------
    def run(self) -> None:
        log = InspectionLog(self.log_path)
        recorder: PartRecorder | None = None
        insp: Any = None
        try:
            while not self.isInterruptionRequested():
                with self._lock:
                    pending, self._pending_model = self._pending_model, None
                loaded = self._load(pending, log) if pending else None
                if loaded is not None:
                    # Free the old model's native memory now, not whenever its last
                    # reference goes.
                    if insp is not None:
                        insp.close()
                    insp, recorder = loaded
                if insp is None or recorder is None:
                    self._stop.wait(0.05)
                    continue
                # Read after a load, which takes seconds: a choice made meanwhile counts.
                with self._lock:
                    threshold, self._pending_threshold = self._pending_threshold, None
                    recorder.policy = self._save_policy
                if threshold is not None and threshold[0] == insp.model_id:
                    # Set by a person at the station, where an implausible value is theirs
                    # to confirm (inspector.verdict.implausible_threshold_reason).
                    insp.set_thresholds(image=threshold[1], allow_implausible=True)
                self._log_capture_errors(insp, recorder)
                frame = self._next_frame(insp, recorder)
                if frame is not None:
                    self.result_ready.emit(self._inspect(insp, recorder, frame))
        finally:
            log.close()
            if insp is not None:
                insp.close()

    def _load(self, bundle: str, log: InspectionLog) -> tuple[Any, PartRecorder] | None:
        from inspector.folder import map_display_range
        from inspector.runtime import Inspector

        try:
            insp = Inspector.load(bundle)
        except Exception as exc:  # any bad bundle: report it, keep the current model running
            self.model_failed.emit(bundle, str(exc))
            return None
        map_range = map_display_range(insp)
        recorder = PartRecorder(log, self.images_dir, "none", map_range)  # policy set per part
        meta = insp.meta  # as in the bundle, before any override
        with self._lock:
            override = self._overrides.get(meta.model_id)
        if override is not None:
            insp.set_thresholds(image=override, allow_implausible=True)
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

    def _log_capture_errors(self, insp: Any, recorder: PartRecorder) -> None:
        """Unreadable frames become ERROR parts (counted, logged) in continuous mode.

        In triggered mode only what a trigger asks for is a part, so they are dropped there
        (the status bar still shows each one).
        """
        while self.errors is not None:
            try:
                err = self.errors.get_nowait()
            except queue.Empty:
                return
            if self.trigger_mode != "triggered":
                ctx = PartContext(err.source, insp.model_id, err.name, err.timestamp)
                self.result_ready.emit(self._error_part(insp, recorder, ctx, err.message))

    def _next_frame(self, insp: Any, recorder: PartRecorder) -> Frame | None:
        if self.trigger_mode != "triggered":
            return self.slot.get(timeout=0.05)
        if not self._trigger.wait(0.05):
            return None
        self._trigger.clear()
        frame = self.slot.get(timeout=TRIGGER_WAIT_S)
        if frame is None:
            # The operator (or a PLC) asked for a part: a missing one is an ERROR, not silence.
            with self._lock:
                source = self._source
            ctx = PartContext(source, insp.model_id, "", time.time())
            reason = f"trigger: no frame from {source} within {TRIGGER_WAIT_S:g} s"
            self.result_ready.emit(self._error_part(insp, recorder, ctx, reason))
        return frame

    def _error_part(
        self,
        insp: Any,
        recorder: PartRecorder,
        ctx: PartContext,
        reason: str,
        image: np.ndarray | None = None,
    ) -> ViewItem:
        """Log a part that could not be inspected and describe it for the UI."""
        rec = recorder.record_error(ctx, reason, insp.thresholds.image)
        shown, _, scale = to_display(image if image is not None else NO_IMAGE, None)
        return ViewItem(
            shown,
            np.zeros(shown.shape[:2], np.float32),
            scale,
            float("nan"),
            "ERROR",
            insp.thresholds.image,
            source=ctx.source,
            name=ctx.name,
            timestamp=rec.timestamp,
            record_id=rec.id,
            error=rec.error,
        )

    def _inspect(self, insp: Any, recorder: PartRecorder, frame: Frame) -> ViewItem:
        ctx = PartContext(frame.source, insp.model_id, frame.name, frame.timestamp)
        try:
            result = insp.inspect(frame.image)
        except Exception as exc:  # one bad frame must never stop the line; it is logged
            reason = f"{frame.name or frame.source}: {exc}"
            return self._error_part(insp, recorder, ctx, reason, frame.image)
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
            full_frame=scale == 1.0 and frame.image.dtype == np.uint8,
        )
