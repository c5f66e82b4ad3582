"""After each part: drift charts, image retention, and their alarms on the PLC's Alarm signal.

`LineMonitor.record` is a handshake record sink. It does its work (image statistics, PNG
encoding) on its own worker thread so the handshake's loop never waits for a disk, and raises
DRIFT or STORAGE through the handshake (`Handshake.raise_alarm`) from there.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from station.alarms import AlarmCode
from station.drift import Calibration, DriftMonitor, DriftWarning, image_stats
from station.line.handshake import Handshake, LineRecord
from station.line.signals import LineVerdict
from station.recipes import RecipeBook
from station.retention import ImageRetention

log = logging.getLogger(__name__)

VERDICT_NAMES = {LineVerdict.OK: "OK", LineVerdict.NG: "NG", LineVerdict.ERROR: "ERROR"}


class LineMonitor:
    """Feeds judged parts to the recipe's drift monitor and to image retention.

    Args:
        handshake: where DRIFT and STORAGE alarms go (the PLC sees them on ``Alarm``).
        recipes: to find each part's recipe (its alarm limits).
        calibrations: product name -> calibration; a recipe without one is not charted.
        retention: keeps part images, or None.
        on_warning: also told of every drift warning (a station's trend plot and log).
    """

    def __init__(
        self,
        handshake: Handshake,
        recipes: RecipeBook,
        calibrations: Mapping[str, Calibration],
        retention: ImageRetention | None = None,
        on_warning: Callable[[DriftWarning], None] | None = None,
    ) -> None:
        self.handshake = handshake
        self.recipes = recipes
        self.calibrations = dict(calibrations)
        self.retention = retention
        self.on_warning = on_warning
        self.monitors: dict[str, DriftMonitor] = {}
        self.kept: dict[str, str] = {}  # part id -> image path
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="line-monitor")
        if retention is not None:
            retention.on_error = self._storage_failed

    def record(self, record: LineRecord) -> None:
        """The handshake's record sink (called on its loop)."""
        self._loop = asyncio.get_running_loop()
        self._worker.submit(self._process, record)

    def close(self) -> None:
        """Finish the parts already handed over."""
        self._worker.shutdown(wait=True)

    def _process(self, record: LineRecord) -> None:
        try:
            result = record.result
            if self.retention is not None and result.image is not None:
                key = f"{record.cycle:08d}_{record.part_id}"
                path = self.retention.keep(key, result.image, VERDICT_NAMES[result.verdict])
                if path is not None:
                    self.kept[record.part_id] = str(path)
            if result.verdict == LineVerdict.OK:
                self._chart(record)
        except Exception:  # monitoring must never cost a part its verdict or the line its run
            log.exception("monitoring part %r failed", record.part_id)

    def _chart(self, record: LineRecord) -> None:
        name, image = record.recipe_name, record.result.image
        if image is None:
            return
        monitor = self.monitors.get(name)
        if monitor is None:
            calibration = self.calibrations.get(name)
            if calibration is None:
                return
            monitor = self.monitors[name] = DriftMonitor(name, calibration)
        stats = image_stats(image)
        if math.isfinite(record.result.raw_score):
            stats["score"] = record.result.raw_score
        changes = monitor.update(stats)
        try:
            alarm = self.recipes.get(record.recipe_index).alarms.drift
        except KeyError:
            alarm = True
        for warning in changes:
            log.warning("drift %s on %s: EWMA %.3g against %.3g after %d good parts (%s)",
                        warning.quantity, name, warning.value, warning.reference,
                        warning.parts, "raised" if warning.active else "cleared")  # fmt: skip
            if self.on_warning is not None:
                self.on_warning(warning)
        if alarm and changes:
            if monitor.active:
                drifting = ", ".join(sorted(monitor.active))
                self._alarm(AlarmCode.DRIFT, f"{name}: {drifting} drifted from calibration")
            else:
                self._alarm(AlarmCode.DRIFT, "")

    def _storage_failed(self, message: str) -> None:
        self._alarm(AlarmCode.STORAGE, message)

    def _alarm(self, code: AlarmCode, message: str) -> None:
        """Raise (message) or clear ("") an alarm on the handshake's loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        hs = self.handshake
        coro = hs.raise_alarm(code, message) if message else hs.clear_alarm(code)
        asyncio.run_coroutine_threadsafe(coro, loop)
