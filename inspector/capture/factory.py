"""Turn what a user typed (camera number, URL, folder, video file) into a capture source."""

from __future__ import annotations

import os
import re
from pathlib import Path

from inspector.capture.base import CaptureSource, SourceError
from inspector.capture.devices import CameraSource, StreamSource, VideoFileSource, hide_password
from inspector.capture.folder import FolderSource
from inspector.capture.genicam import parse_spec as parse_genicam
from inspector.capture.pylon import parse_spec as parse_pylon
from inspector.imageio import IMAGE_SUFFIXES

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")


def open_source(
    spec: str | int | os.PathLike[str], fps: float | None = None, loop: bool = True
) -> CaptureSource:
    """Make the source a user typed: a camera number, a stream URL, a folder or a video file.

    Understood: 0, "0", "camera:0" (cameras); rtsp://, http:// and https:// URLs; an existing
    folder, or image file, played at `fps` (default 2); an existing video file, at `fps` or its
    own rate. The source is returned unopened.

    Raises:
        ValueError: the spec is empty or a URL with another scheme.
        SourceError: the spec names no existing file or folder.
    """
    if isinstance(spec, bool) or not isinstance(spec, int | str | os.PathLike):
        raise ValueError(f"source must be a camera number, text or path, got {spec!r}")
    if isinstance(spec, int):
        return CameraSource(spec)
    text = os.fspath(spec).strip()
    if isinstance(spec, os.PathLike):
        return _path_source(Path(text), fps, loop)  # a Path is never a camera number or URL
    if not text:
        raise ValueError("no source given (expected a camera number, URL, folder or video)")
    if (pylon := parse_pylon(text)) is not None:
        return pylon  # "pylon" or "pylon:SERIAL", a GenICam camera through pypylon
    if (gentl := parse_genicam(text)) is not None:
        return gentl  # "genicam:PRODUCER.cti[:SERIAL]", any camera with a GenTL producer
    camera = re.fullmatch(r"(?:camera:)?(\d+)", text, flags=re.IGNORECASE)
    if camera:
        return CameraSource(int(camera.group(1)))
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme in STREAM_SCHEMES:
            return StreamSource(text)
        raise ValueError(
            f"{hide_password(text)}: unsupported URL scheme {scheme!r} "
            f"(use {', '.join(s + '://' for s in STREAM_SCHEMES)})"
        )
    return _path_source(Path(text).expanduser(), fps, loop)


def _path_source(path: Path, fps: float | None, loop: bool) -> CaptureSource:
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
        return FolderSource(path, fps=2.0 if fps is None else fps, loop=loop)
    if path.is_file():
        return VideoFileSource(path, loop=loop, fps=fps)
    raise SourceError(f"{path}: no such file or folder (and not a camera number or stream URL)")
