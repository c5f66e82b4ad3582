"""Sources read through `cv2.VideoCapture`: local cameras, network streams and video files."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from inspector.capture.base import CaptureSource, Frame, Pacer, SourceError, to_rgb

log = logging.getLogger(__name__)

DEFAULT_VIDEO_FPS = 25.0  # used when a video file does not state a usable frame rate
STREAM_TIMEOUT_MS = 5000  # FFmpeg's own default is 30 s, far too long for an operator to wait


class _VideoCaptureSource(CaptureSource):
    """Shared handling of a `cv2.VideoCapture` handle."""

    def __init__(self, label: str, finite: bool = False) -> None:
        super().__init__(label, finite)
        self._cap: cv2.VideoCapture | None = None

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _grab(self) -> np.ndarray | None:
        """Read one raw frame with the lock held; None when the capture gave none."""
        if self._cap is None or not self._is_open:
            raise SourceError(f"{self.label}: source is not open")
        try:
            ok, image = self._cap.read()
        except cv2.error as exc:
            raise SourceError(f"{self.label}: capture failed ({exc.err})") from exc
        return image if ok and image is not None else None

    def _rgb(self, image: np.ndarray) -> np.ndarray:
        try:
            return to_rgb(image)
        except ValueError as exc:
            raise SourceError(f"{self.label}: {exc}") from exc


class CameraSource(_VideoCaptureSource):
    """A local camera opened by index through `cv2.VideoCapture`.

    Args:
        index: camera number (0 is the first camera).
        width, height: requested frame size; the camera may pick the nearest size it has.
        fourcc: requested pixel format such as "MJPG" or "Y16 ".
        convert_rgb: False asks OpenCV for raw frames, which keeps 16-bit mono cameras
            (fourcc "Y16 ") at 16 bits instead of reducing them to 8-bit BGR.
        backend: OpenCV capture API (cv2.CAP_ANY lets OpenCV choose).
    """

    def __init__(
        self,
        index: int = 0,
        width: int | None = None,
        height: int | None = None,
        fourcc: str | None = None,
        convert_rgb: bool = True,
        backend: int = cv2.CAP_ANY,
    ) -> None:
        super().__init__(f"camera {index}")
        self.index = index
        self._settings = (width, height, fourcc, convert_rgb, backend)

    def _open(self) -> None:
        width, height, fourcc, convert_rgb, backend = self._settings
        cap = cv2.VideoCapture(self.index, backend)
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"{self.label}: cannot open (not connected, in use by another program, "
                "or no permission)"
            )
        # FOURCC before the size: some drivers only offer large sizes in compressed formats.
        if fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*fourcc.ljust(4)[:4]))
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if not convert_rgb:
            cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        got = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if (width and got[0] != width) or (height and got[1] != height):
            log.warning("%s: asked for %sx%s, camera gives %dx%d", self.label, width, height, *got)
        self._cap = cap

    def read(self) -> Frame | None:
        with self._lock:
            image = self._grab()
            if image is None:
                raise SourceError(f"{self.label}: no frame (camera disconnected?)")
            return self._frame(self._rgb(image))


class StreamSource(_VideoCaptureSource):
    """A network stream (rtsp://, http:// or https://) read through OpenCV's FFmpeg backend.

    The label hides any password in the URL, since labels are shown and logged.

    Args:
        url: the stream address.
        timeout_ms: how long opening or waiting for a frame may take before it fails.
    """

    def __init__(self, url: str, timeout_ms: int = STREAM_TIMEOUT_MS) -> None:
        super().__init__(hide_password(url))
        self.url = url
        self.timeout_ms = timeout_ms

    def _open(self) -> None:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            self.timeout_ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            self.timeout_ms,
        ]
        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.label}: cannot open stream (unreachable or not a video)")
        self._cap = cap

    def read(self) -> Frame | None:
        with self._lock:
            image = self._grab()
            if image is None:
                raise SourceError(f"{self.label}: stream stopped sending frames")
            return self._frame(self._rgb(image))


class VideoFileSource(_VideoCaptureSource):
    """A video file played as a camera.

    Args:
        path: the video file.
        loop: start again at the end; False makes the source finite.
        realtime: pace frames to the frame rate; False gives them as fast as asked.
        fps: frame rate to pace to instead of the one the file states.
    """

    def __init__(
        self,
        path: str | Path,
        loop: bool = True,
        realtime: bool = True,
        fps: float | None = None,
    ) -> None:
        super().__init__(str(path), finite=not loop)
        self.path = Path(path)
        self.loop = loop
        self.realtime = realtime
        self.fps = fps
        self._pacer = Pacer(0.0)
        self._ended = False

    def _open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"{self.label}: video file not found")
        self._cap = self._new_capture()
        rate = self.fps
        if rate is None:
            rate = float(self._cap.get(cv2.CAP_PROP_FPS))
            if not 0 < rate <= 1000:  # also catches NaN
                log.warning("%s: no usable frame rate, playing at %g fps", self.label, rate)
                rate = DEFAULT_VIDEO_FPS
        self._pacer = Pacer(rate if self.realtime else 0.0)
        self._ended = False

    def _new_capture(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.label}: cannot open as a video (unknown format or codec)")
        return cap

    def read(self) -> Frame | None:
        self._check_open()
        if self._ended:
            return None
        if not self._wait_for_slot(self._pacer):
            return None
        with self._lock:
            image = self._grab()
            if image is None and not self.loop:
                self._ended = True
                return None
            if image is None:
                image = self._rewind()
            self._pacer.advance()
            return self._frame(self._rgb(image))

    def _rewind(self) -> np.ndarray:
        assert self._cap is not None  # _grab checked it
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        image = self._grab()
        if image is None:
            # Seeking is unreliable for some containers; reopening always starts at frame 0.
            self._cap.release()
            self._cap = self._new_capture()
            image = self._grab()
        if image is None:
            raise SourceError(f"{self.label}: no frame could be read from the video")
        return image


def hide_password(url: str) -> str:
    """The URL with any password replaced by ***, for labels and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
