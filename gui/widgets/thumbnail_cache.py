"""Small images of saved part files, made off the UI thread and kept in memory.

A saved part can be a 48-megapixel PNG that takes a second to decode: the Log tab asks only
for the rows it shows, one file at a time on one background thread (the inspection thread
needs the other cores), and paints a placeholder until the thumbnail is there.
"""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap

from gui.qimage import to_qimage
from inspector.imageio import ImageLoadError, read_image, to_uint8
from inspector.overlay import make_thumbnail

SIDE = 64
CAPACITY = 1500  # about 25 MB of 64 px thumbnails


def placeholder(text: str, side: int = SIDE) -> QPixmap:
    """A grey square saying why there is no picture (e.g. "no image saved")."""
    out = QPixmap(side, side)
    out.fill(QColor("#d0d0d0"))
    p = QPainter(out)
    p.setPen(QColor("#404040"))
    p.drawRect(0, 0, side - 1, side - 1)
    p.drawText(out.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
    p.end()
    return out


def _load(path: str, side: int) -> QImage:
    # QImage (not QPixmap) may be made outside the UI thread.
    return to_qimage(make_thumbnail(to_uint8(read_image(path)), side))


class ThumbnailCache(QObject):
    """``get(path)`` returns a thumbnail, or None and emits ``ready(path)`` once it exists."""

    ready = Signal(str)
    _loaded = Signal(str, object, str)  # path, QImage or None, why not

    def __init__(self, side: int = SIDE, capacity: int = CAPACITY, parent: QObject | None = None):
        super().__init__(parent)
        self.side = side
        self.capacity = capacity
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._errors: dict[str, str] = {}
        self._pending: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbnails")
        self._loaded.connect(self._store)  # queued: emitted on the pool's thread
        self.destroyed.connect(lambda: self._pool.shutdown(wait=False, cancel_futures=True))

    def get(self, path: str) -> QPixmap | None:
        """The thumbnail of ``path``; None while it is made or when it cannot be (see
        ``error``)."""
        pixmap = self._pixmaps.get(path)
        if pixmap is not None:
            self._pixmaps.move_to_end(path)
            return pixmap
        if path not in self._errors and path not in self._pending:
            self._pending.add(path)
            self._pool.submit(self._work, path)
        return None

    def error(self, path: str) -> str:
        """Why ``path`` has no thumbnail ('' if it has one or is still loading)."""
        return self._errors.get(path, "")

    def _work(self, path: str) -> None:
        try:
            image, why = _load(path, self.side), ""
        except ImageLoadError as exc:
            image, why = None, exc.reason
        except Exception as exc:  # noqa: BLE001 (any decoder failure becomes a placeholder)
            image, why = None, str(exc)
        try:
            self._loaded.emit(path, image, why)
        except RuntimeError:  # the cache was deleted meanwhile
            pass

    def _store(self, path: str, image: QImage | None, why: str) -> None:
        self._pending.discard(path)
        if image is None:
            self._errors[path] = why or "unreadable"
        else:
            self._pixmaps[path] = QPixmap.fromImage(image)
            while len(self._pixmaps) > self.capacity:
                self._pixmaps.popitem(last=False)
        self.ready.emit(path)
