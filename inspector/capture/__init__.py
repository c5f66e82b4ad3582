"""Camera-like frame sources for a station: cameras, video files, network streams and folders.

Every source gives `Frame`s holding C-contiguous HxWx3 RGB arrays (uint8, or uint16 for 16-bit
data), so the rest of the station never asks where a frame came from. Two kinds of failure are
kept apart: `SourceError` means the source is gone and must be reopened (`Reconnector` does that
with backoff), `FrameError` means one frame was bad and the next read goes on.

Sources are meant to be driven from one worker thread; `close()` may be called from another
thread to cut short a paced wait (it waits for a grab already in progress, never frees a capture
under it). Qt-free and torch-free, so the GUI process, tests and command-line tools share it.

A worker thread's loop::

    reconnector = Reconnector(lambda: open_source(spec), on_state=report_state)
    while not stop.is_set():
        try:
            frame = reconnector.next_frame(stop)
        except FrameError as exc:
            log.warning("skipped: %s", exc)  # one bad file; the next call goes on
            continue
        if frame is None:
            break  # a finite source ended, or stop was set
        frames.put(frame)
    reconnector.close()
"""

from __future__ import annotations

from inspector.capture.base import CaptureSource, Frame, FrameError, SourceError, to_rgb
from inspector.capture.devices import CameraSource, StreamSource, VideoFileSource
from inspector.capture.factory import open_source
from inspector.capture.folder import FolderSource
from inspector.capture.reconnect import Reconnector

__all__ = [
    "CameraSource",
    "CaptureSource",
    "FolderSource",
    "Frame",
    "FrameError",
    "Reconnector",
    "SourceError",
    "StreamSource",
    "VideoFileSource",
    "open_source",
    "to_rgb",
]
