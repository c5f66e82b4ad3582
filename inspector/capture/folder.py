"""A folder of images played as a camera."""

from __future__ import annotations

from pathlib import Path

from inspector.capture.base import CaptureSource, Frame, FrameError, Pacer, SourceError
from inspector.imageio import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    ImageLoadError,
    iter_image_files,
    read_image,
)


class FolderSource(CaptureSource):
    """Images in a folder (sorted, sub-folders included) played as a camera.

    The folder is listed again each time a loop starts, so files added while it runs are
    picked up. A single image file may be given instead of a folder.

    Args:
        folder: the folder (or one image file).
        fps: frames per second; <= 0 gives frames as fast as they are asked for.
        loop: start again after the last file; False makes the source finite.
        recursive: include sub-folders.
        max_pixels: largest image accepted, as in `read_image`.
    """

    def __init__(
        self,
        folder: str | Path,
        fps: float = 2.0,
        loop: bool = True,
        recursive: bool = True,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        super().__init__(str(folder), finite=not loop)
        self.folder = Path(folder)
        self.loop = loop
        self.recursive = recursive
        self.max_pixels = max_pixels
        self._pacer = Pacer(fps)
        self._files: list[Path] = []
        self._pos = 0

    def _open(self) -> None:
        self._files = self._scan()
        self._pos = 0
        self._pacer.reset()

    def _release(self) -> None:
        self._files = []

    def _scan(self) -> list[Path]:
        if not self.folder.exists():
            raise SourceError(f"{self.label}: folder not found")
        try:
            files = iter_image_files(self.folder, recursive=self.recursive)
        except OSError as exc:
            raise SourceError(f"{self.label}: cannot list folder ({exc.strerror or exc})") from exc
        if not files:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise SourceError(f"{self.label}: no image files in folder (looked for {suffixes})")
        return files

    def read(self) -> Frame | None:
        self._check_open()
        if self._pos >= len(self._files):
            if not self.loop:
                return None
            self._files, self._pos = self._scan(), 0
        if not self._wait_for_slot(self._pacer):
            return None
        with self._lock:
            self._check_open()  # close() may have run while we waited
            path = self._files[self._pos]
            self._pos += 1
        # A bad file still takes its time slot, so a folder of bad files cannot spin the CPU.
        self._pacer.advance()
        try:
            image = read_image(path, max_pixels=self.max_pixels)
        except ImageLoadError as exc:
            if not self.folder.exists():
                # The whole folder went away (unmounted share, renamed): that is a lost
                # camera to reconnect to, not one bad picture.
                raise SourceError(f"{self.label}: folder disappeared") from exc
            raise FrameError(path, exc.reason) from exc
        name = path.name if path == self.folder else path.relative_to(self.folder).as_posix()
        return self._frame(image, name)
