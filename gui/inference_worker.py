"""The inference thread of the station: the only place a model runs.

It takes the newest frame from the capture thread (every frame, or one per trigger),
inspects and records it, counts it in the station state and hands a display-sized ViewItem
to the UI. What it judges by (model, threshold, mode, save policy) it reads from the station
state, the one home of those choices. It imports the runtime lazily, so the ``gui`` package
itself never imports torch.

A recipe's retention policy (`set_retention`) thins the OK images it keeps and bounds the
image folder (``station.image_keeper``). An image that cannot be written (disk full, folder
gone) never costs a part its verdict or its row: the row is kept without the image and
``storage_changed`` says why (and "" once images are written again). With ``charting`` on,
each inspected part's image statistics (``station.drift.image_stats``) go out with it on
``stats_ready``, computed here rather than on the UI thread.
"""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QThread, Signal

from gui.frame_slot import LatestSlot
from gui.view_item import ViewItem, to_display
from gui.workers import CaptureError
from inspector.capture import Frame
from inspector.capture.devices import hide_password
from inspector.recorder import PartContext, PartRecorder
from inspector.records import InspectionLog, InspectionRecord
from inspector.result import InspectionResult
from station.drift import image_stats
from station.events import LoadedModel, ModelRequested, StateEvent, TriggerRequested
from station.image_keeper import ImageKeeper
from station.retention import RetentionPolicy
from station.state import StationState

log = logging.getLogger(__name__)

TRIGGER_WAIT_S = 2.0  # a trigger with no frame within this is logged as an ERROR part
MAX_PENDING_TRIGGERS = 100  # triggers that came faster than parts could be judged
NO_IMAGE = np.full((240, 320, 3), 64, np.uint8)  # shown for a part with no picture
# Neither a model load nor an inspection can be interrupted, and a QThread destroyed while
# it runs aborts the process: a closing station waits this long. A 48 MP part with its
# evidence takes ~15 s on a busy 2-core station, a first model load (torch import) more.
STOP_WAIT_MS = 60_000


class InferenceWorker(QThread):
    """Takes the newest frame (every frame, or one per trigger), inspects and records it."""

    result_ready = Signal(object)  # ViewItem, already counted in the station state
    stats_ready = Signal(object, object)  # ViewItem, its image statistics (with ``charting``)
    storage_changed = Signal(str)  # why images are not being saved; "" once they are again

    def __init__(
        self,
        state: StationState,
        slot: LatestSlot[Frame],
        log_path: Path,
        images_dir: Path,
        errors: queue.Queue[CaptureError] | None = None,
    ) -> None:
        super().__init__()
        self.state = state
        self.slot = slot
        self.log_path, self.images_dir = log_path, images_dir
        self.errors = errors
        self._lock = threading.Lock()
        self._pending_model: str | None = None
        self._triggers: collections.deque[str] = collections.deque(maxlen=MAX_PENDING_TRIGGERS)
        self._trigger = threading.Event()
        self._stop = threading.Event()
        self._part_ids = itertools.count(1)
        self.keeper: ImageKeeper | None = None
        self.charting = False
        self._storage_problem = ""
        self._unsubscribe = state.subscribe(self._on_state)

    def set_retention(self, policy: RetentionPolicy | None) -> None:
        """Keep images under ``policy`` from the next part on (None: the save policy alone).

        Any thread; a recipe switch calls it between parts.
        """
        with self._lock:
            keeper = self.keeper
            if policy is not None and keeper is None:
                self.keeper = ImageKeeper(self.images_dir, self.log_path, policy)
                return
            if policy is None:
                self.keeper = None
        if keeper is not None and policy is None:
            keeper.close()
        elif keeper is not None and policy is not None:
            keeper.set_policy(policy)

    # --- requests, from any thread -----------------------------------------------------
    def _on_state(self, event: StateEvent) -> None:
        if isinstance(event, ModelRequested):
            with self._lock:
                self._pending_model = event.path
        elif isinstance(event, TriggerRequested) and self.state.mode == "triggered":
            with self._lock:
                self._triggers.append(event.part_id)
            self._trigger.set()

    def stop(self) -> bool:
        """Stop after the current part or model load; True once the thread has ended."""
        self._unsubscribe()
        self.requestInterruption()
        self._stop.set()
        stopped = self.wait(STOP_WAIT_MS)
        self.set_retention(None)
        return stopped

    # --- worker thread -----------------------------------------------------------------
    def run(self) -> None:
        log_db = InspectionLog(self.log_path)
        recorder: PartRecorder | None = None
        insp: Any = None
        try:
            while not self.isInterruptionRequested():
                with self._lock:
                    pending, self._pending_model = self._pending_model, None
                loaded = self._load(pending, log_db) if pending else None
                if loaded is not None:
                    # Free the old model's native memory now, not whenever its last
                    # reference goes.
                    if insp is not None:
                        insp.close()
                    insp, recorder = loaded
                if insp is None or recorder is None:
                    self._stop.wait(0.05)
                    continue
                try:
                    self._step(insp, recorder)
                except Exception:  # the line goes on; the part's own errors are handled below
                    log.exception("inference step failed")
                    self._stop.wait(0.05)
        finally:
            log_db.close()
            if insp is not None:
                insp.close()

    def _step(self, insp: Any, recorder: PartRecorder) -> None:
        self._apply_choices(insp, recorder)
        self._log_capture_errors(insp, recorder)
        taken = self._next_frame(insp, recorder)
        if taken is not None:
            # Again once the part is here: a recipe applied while waiting for its trigger
            # (a PLC selects, then triggers at once) counts for it.
            self._apply_choices(insp, recorder)
            frame, part_id = taken
            self._publish(self._judge(insp, recorder, frame, part_id))

    def _apply_choices(self, insp: Any, recorder: PartRecorder) -> None:
        # Read before each part: a choice made at the station or by a PLC counts at once.
        recorder.policy = self.state.save_policy
        active = self.state.threshold
        if active is not None and active.model_id == insp.model_id:
            if active.value != insp.thresholds.image:
                # Set by a person at the station (or a line link), where an implausible value
                # is theirs to confirm (inspector.verdict.implausible_threshold_reason).
                insp.set_thresholds(image=active.value, allow_implausible=True)

    def _publish(self, item: ViewItem) -> None:
        self.state.record_result(item.result())
        self.result_ready.emit(item)
        if self.charting and item.verdict != "ERROR":
            try:
                self.stats_ready.emit(item, image_stats(item.image))
            except Exception:  # charting must never cost the line a part
                log.exception("image statistics of part %s failed", item.part_id)

    def _record(
        self, recorder: PartRecorder, image: np.ndarray, result: InspectionResult, ctx: PartContext
    ) -> InspectionRecord:
        """Record the part: its images where the policy and retention keep them, and its row
        always (without the images when they cannot be written)."""
        keeper, policy = self.keeper, recorder.policy
        if keeper is not None and not keeper.wants(str(result.verdict)):
            recorder.policy = "none"
        try:
            try:
                rec = recorder.record(image, result, ctx)
            except (OSError, cv2.error) as exc:
                self._storage(f"part images not saved in {self.images_dir}: {exc}")
                recorder.policy = "none"
                return recorder.record(image, result, ctx)
        finally:
            recorder.policy = policy
        if rec.image_path:
            self._storage("")
            if keeper is not None:
                keeper.saved((rec.image_path, rec.overlay_path), rec.timestamp)
        return rec

    def _storage(self, problem: str) -> None:
        if problem != self._storage_problem:
            self._storage_problem = problem
            if problem:
                log.error("%s; inspection goes on, the parts are logged", problem)
            else:
                log.info("part images are saved again in %s", self.images_dir)
            self.storage_changed.emit(problem)

    def _load(self, bundle: str, log_db: InspectionLog) -> tuple[Any, PartRecorder] | None:
        from inspector.folder import map_display_range
        from inspector.runtime import Inspector

        try:
            insp = Inspector.load(bundle)
            map_range = map_display_range(insp)
        except Exception as exc:  # any bad bundle: report it, keep the current model running
            self.state.model_failed(bundle, str(exc))
            return None
        recorder = PartRecorder(log_db, self.images_dir, "none", map_range)  # policy per part
        meta = insp.meta  # as in the bundle, before the station's threshold
        override = self.state.threshold_for(meta.model_id)
        if override is not None:
            # The first part is judged by the station's threshold, not the bundle's.
            insp.set_thresholds(image=override, allow_implausible=True)
        size = meta.preprocessing.input_size
        model = LoadedModel(
            path=bundle,
            model_id=meta.model_id,
            family=meta.family,
            backend=insp.backend.name,
            thresholds=meta.thresholds,
            score_stats=meta.score_stats,
            input_size=(int(size[0]), int(size[1])),
            created=meta.created,
            calibration=meta.calibration,
            map_range=map_range,
            training=meta.training,
            evaluation=meta.evaluation,
        )
        self.state.set_model(model)
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
            if self.state.mode != "triggered":
                ctx = self._context(err.source, insp.model_id, err.name, err.timestamp, "")
                self._publish(self._error_part(insp, recorder, ctx, err.message, self._id("")))

    def _next_frame(self, insp: Any, recorder: PartRecorder) -> tuple[Frame, str] | None:
        if self.state.mode != "triggered":
            with self._lock:
                self._triggers.clear()  # a trigger belongs to the mode it was made in
            frame = self.slot.get(timeout=0.05)
            return None if frame is None else (frame, self._id(""))
        if not self._trigger.wait(0.05):
            return None
        with self._lock:
            part_id = self._triggers.popleft() if self._triggers else ""
            if not self._triggers:
                self._trigger.clear()
        frame = self.slot.get(timeout=TRIGGER_WAIT_S)
        if frame is None:
            # The operator (or a PLC) asked for a part: a missing one is an ERROR, not silence.
            source, part_id = hide_password(self.state.source), self._id(part_id)
            ctx = self._context(source, insp.model_id, "", time.time(), part_id)
            reason = f"trigger: no frame from {source} within {TRIGGER_WAIT_S:g} s"
            self._publish(self._error_part(insp, recorder, ctx, reason, part_id))
            return None
        return frame, self._id(part_id)

    def _context(
        self, source: str, model_id: str, name: str, timestamp: float, part_id: str
    ) -> PartContext:
        # A triggered part is recorded under the id its trigger gave (a PLC's serial).
        part = part_id if self.state.mode == "triggered" else ""
        return PartContext(source, model_id, name, timestamp, part, self.state.recipe)

    def _id(self, part_id: str) -> str:
        return part_id or f"P{next(self._part_ids)}"

    def _judge(self, insp: Any, recorder: PartRecorder, frame: Frame, part_id: str) -> ViewItem:
        """Inspect and record one part; any failure makes it an ERROR part, never a crash."""
        ctx = self._context(frame.source, insp.model_id, frame.name, frame.timestamp, part_id)
        label = shown_name(frame.name) or frame.source
        try:
            result = insp.inspect(frame.image)
        except Exception as exc:  # one bad frame must never stop the line; it is logged
            return self._error_part(insp, recorder, ctx, f"{label}: {exc}", part_id, frame.image)
        try:
            rec = self._record(recorder, frame.image, result, ctx)
        except Exception as exc:  # judged but not recorded: not a verdict anyone can trust
            log.exception("could not record part %s", label)
            reason = f"{label}: could not record the part: {exc}"
            return self._error_part(insp, recorder, ctx, reason, part_id, frame.image)
        image, amap, scale = _display(frame.image, result.anomaly_map)
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
            part_id=part_id,
            model_id=insp.model_id,
        )

    def _error_part(
        self,
        insp: Any,
        recorder: PartRecorder,
        ctx: PartContext,
        reason: str,
        part_id: str,
        image: np.ndarray | None = None,
    ) -> ViewItem:
        """Log a part that could not be inspected and describe it for the UI."""
        threshold = insp.thresholds.image
        record_id, timestamp = None, ctx.timestamp
        try:
            rec = recorder.record_error(ctx, reason, threshold)
        except Exception:
            # The log refused the part as named (e.g. a name that is not UTF-8): keep the
            # row under the name shown escaped rather than lose it.
            log.exception("could not log the ERROR part %s", shown_name(ctx.name))
            try:
                escaped = replace(ctx, name=shown_name(ctx.name))
                rec = recorder.record_error(escaped, shown_name(reason), threshold)
            except Exception as exc:
                log.exception("the inspection log refused an ERROR part")
                reason = f"{reason} (not logged: {exc})"
                rec = None
        if rec is not None:
            record_id, timestamp, reason = rec.id, rec.timestamp, rec.error
        shown, _, scale = _display(image if image is not None else NO_IMAGE, None)
        return ViewItem(
            shown,
            np.zeros(shown.shape[:2], np.float32),
            scale,
            float("nan"),
            "ERROR",
            threshold,
            source=ctx.source,
            name=ctx.name,
            timestamp=timestamp,
            record_id=record_id,
            error=reason,
            part_id=part_id,
            model_id=insp.model_id,
        )


def shown_name(name: str) -> str:
    """A file name for people and logs: bytes that are not UTF-8 shown as escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _display(
    image: np.ndarray, anomaly_map: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, float]:
    try:
        return to_display(image, anomaly_map)
    except Exception:  # e.g. an array the display cannot show: the verdict still counts
        log.exception("could not prepare a part for display")
        return to_display(NO_IMAGE, None)
