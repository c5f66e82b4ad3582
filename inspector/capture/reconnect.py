"""Keep a capture source alive: reopen it with exponential backoff whenever it fails."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from inspector.capture.base import CaptureSource, Frame, SourceError

log = logging.getLogger(__name__)

STATES = ("connecting", "live", "retrying", "ended", "stopped")


def _wait(stop: threading.Event, seconds: float) -> bool:
    return stop.wait(seconds)


class Reconnector:
    """Wraps a factory of capture sources and keeps one of them delivering frames.

    States: "connecting" (opening, or opened and waiting for the first frame), "live" (frames
    are coming), "retrying" (the source failed; waiting before reopening), "ended" (a finite
    source ran out) and "stopped" (the stop event was set, or close() was called).

    `on_state(state, message)` is called from the thread that calls `next_frame` whenever the
    state or its message changes; a GUI must hand it over to its UI thread itself. To stop
    from another thread, set the stop event given to `next_frame`; call `close()` from the
    worker thread (or once it has finished).

    Args:
        factory: makes a new, unopened source; called again for every reconnection so a
            source never has to support being reopened. May raise SourceError, which is
            retried like a failed open.
        on_state: optional callback for state changes.
        backoff: first and largest wait in seconds between attempts; the wait doubles after
            each failure and goes back to the first value after a good frame.
        wait: `wait(stop, seconds)` sleeps until `stop` is set or the time is up; tests pass
            a recording stand-in.
    """

    def __init__(
        self,
        factory: Callable[[], CaptureSource],
        on_state: Callable[[str, str], None] | None = None,
        backoff: tuple[float, float] = (0.5, 10.0),
        wait: Callable[[threading.Event, float], bool] = _wait,
    ) -> None:
        first, largest = backoff
        if not 0 < first <= largest:
            raise ValueError(
                f"backoff must be (first, largest) with 0 < first <= largest, got {backoff}"
            )
        self._factory = factory
        self._on_state = on_state
        self._backoff = (float(first), float(largest))
        self._wait = wait
        self._delay = self._backoff[0]
        self._source: CaptureSource | None = None
        self.state = "connecting"
        self.message = ""

    @property
    def source(self) -> CaptureSource | None:
        """The source now in use, None between attempts."""
        return self._source

    def next_frame(self, stop: threading.Event) -> Frame | None:
        """Next frame, reopening the source as often as needed.

        Returns:
            The next frame, or None once a finite source ended or `stop` is set.

        Raises:
            FrameError: one frame was bad; call again for the next one.
        """
        while True:
            if stop.is_set():
                self._finish("stopped", "stopped")
                return None
            if self.state in ("ended", "stopped"):
                return None
            source = self._source if self._source is not None else self._connect(stop)
            if source is None:
                continue  # the open failed and the backoff wait is over (or stop was set)
            try:
                frame = source.read()  # FrameError goes to the caller; the source stays open
            except SourceError as exc:
                self._retry(str(exc), stop)
                continue
            if frame is not None:
                self._delay = self._backoff[0]
                self._set("live", source.label)
                return frame
            if stop.is_set():
                continue
            if source.finite:
                self._finish("ended", f"{source.label}: end of source")
                return None
            self._retry(f"{source.label}: returned no frame", stop)

    def close(self) -> None:
        """Close the source and stop; later next_frame calls return None."""
        self._finish("stopped", "stopped")

    def _connect(self, stop: threading.Event) -> CaptureSource | None:
        source: CaptureSource | None = None
        try:
            source = self._factory()
            self._set("connecting", f"connecting to {source.label}")
            source.stop_event = stop
            source.open()
        except SourceError as exc:
            if source is not None:
                source.close()  # free whatever a half-done open acquired
            self._retry(str(exc), stop)
            return None
        self._source = source
        return source

    def _retry(self, reason: str, stop: threading.Event) -> None:
        self._close_source()
        delay = self._delay
        self._delay = min(delay * 2, self._backoff[1])
        log.warning("capture failed: %s; retry in %.1f s", reason, delay)
        self._set("retrying", f"{reason}; retry in {_seconds(delay)} s")
        self._wait(stop, delay)

    def _finish(self, state: str, message: str) -> None:
        self._close_source()
        self._set(state, message)

    def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.close()

    def _set(self, state: str, message: str) -> None:
        if (state, message) == (self.state, self.message) or self.state == "stopped":
            return  # "stopped" is final: a late failure must not turn it back into "retrying"
        self.state, self.message = state, message
        if self._on_state is not None:
            self._on_state(state, message)


def _seconds(value: float) -> str:
    """2.0 -> "2.0", 0.05 -> "0.05": one decimal unless that would hide a short wait."""
    return f"{value:.1f}" if value >= 0.1 else f"{value:.2g}"
