"""Which frame a trigger judges: the one a triggered camera captured for it.

A free-running camera's newest frame shows the part in front of it (the station's slot). A
triggered camera delivers one frame a trigger, so a part must get that frame and never an
older one (a verdict sent with the wrong part is the worst a station can do):

- hardware trigger: the first frame captured after the station was ready for the part. The
  PLC's pulse on the camera's line starts the exposure and may deliver the frame before the
  PLC's Trigger reaches the station over the network, so "after the trigger" is taken from
  the last moment the PLC could not have pulsed yet: Ready raised (``ready``; a PLC pulses
  only once it sees Ready), the previous part done, or the camera's trigger mode set,
  whichever is latest. A frame of a pulse that came too late for its own part (after its
  NO_FRAME, before the ack) is thereby no later part's either.
- software trigger: the station fires the camera's trigger and takes the first frame after.

No such frame within ``wait_s`` is the part's no frame (ERROR, the NO_FRAME alarm on a line).
Qt-free: the camera is anything with ``trigger_mode``, ``fire``, ``frame_after`` and
``mode_set_at``, as ``gui.capture_control.CaptureControl``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from inspector.capture import Frame, FrameError, SourceError

TRIGGERED = ("software", "hardware")


class TriggeredCamera(Protocol):
    mode_set_at: float

    def trigger_mode(self) -> str: ...

    def fire(self) -> None: ...

    def frame_after(self, after: float, deadline: float) -> Frame | None: ...


class PartFrames:
    """Picks each part's frame from a triggered camera.

    Args:
        camera: the station's capture control.
        wait_s: how long a part waits for its frame after the trigger.
        ready: ``time.time()`` the station last became ready for a trigger (the line link's
            Ready), or None.
    """

    def __init__(
        self, camera: TriggeredCamera, wait_s: float, ready: Callable[[], float] | None = None
    ) -> None:
        self.camera = camera
        self.wait_s = wait_s
        self.ready = ready
        self.ready_at = 0.0  # time.time() the previous part was done (or its frame taken)

    def triggered(self) -> str:
        """The camera's trigger mode where frames must be matched to triggers, else ""."""
        mode = self.camera.trigger_mode()
        return mode if mode in TRIGGERED else ""

    def take(self, source: str) -> tuple[Frame | None, str]:
        """The frame for the trigger that just came, or None and why (names ``source``)."""
        mode = self.triggered()
        deadline = time.monotonic() + self.wait_s
        ready = self.ready() if self.ready is not None else 0.0
        after = max(self.ready_at, self.camera.mode_set_at, ready)
        if mode == "software":
            after = time.time()
            try:
                self.camera.fire()
            except (SourceError, FrameError) as exc:
                return None, f"trigger: no frame from {source}: software trigger failed: {exc}"
        frame = self.camera.frame_after(after, deadline)
        if frame is None:
            why = f"within {self.wait_s:g} s ({mode} trigger)"
            return None, f"trigger: no frame from {source} {why}"
        self.ready_at = max(self.ready_at, frame.timestamp)  # never the same frame twice
        return frame, ""

    def done(self) -> None:
        """The part is judged: a frame captured before now belongs to no later part."""
        self.ready_at = max(self.ready_at, time.time())
