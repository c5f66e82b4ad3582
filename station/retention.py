"""Which part images a line station keeps, and for how long.

Every NG and ERROR image is kept, one OK image in `ok_every`, and the folder is bounded by age
(`max_days`) and size (`max_gb`): the oldest images go first, and each removal is reported to
`on_removed` so the record of that part is kept and marked "image removed". A write that fails
(disk full, folder gone) never stops inspection: `keep` returns None and reports it to
`on_error` (the station raises the STORAGE alarm).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

GB = 1_000_000_000


@dataclass(frozen=True)
class RetentionPolicy:
    """What to keep.

    Attributes:
        ok_every: keep one OK image in this many (1 keeps all, 0 keeps none).
        max_days: remove images older than this; None keeps them regardless of age.
        max_gb: keep the folder under this many gigabytes (10^9 bytes); None no bound.
    """

    ok_every: int = 10
    max_days: float | None = 30.0
    max_gb: float | None = 50.0

    def __post_init__(self) -> None:
        if self.ok_every < 0:
            raise ValueError(f"ok_every must be 0 or more, got {self.ok_every}")
        for name in ("max_days", "max_gb"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or null, got {value}")


class ImageRetention:
    """Keeps part images in ``folder/YYYY-MM-DD/<key>.png`` under a `RetentionPolicy`.

    Args:
        folder: where images go (one station writes it).
        policy: what to keep.
        on_removed: called with each removed image's key (the record is marked, not deleted).
        on_error: called with a message when an image could not be written.
    """

    def __init__(
        self,
        folder: Path,
        policy: RetentionPolicy,
        on_removed: Callable[[str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.folder = folder
        self.policy = policy
        self.on_removed = on_removed
        self.on_error = on_error
        self.ok_seen = 0
        self.failed = 0
        self._files: list[tuple[float, int, Path]] = []  # (mtime, bytes, path), oldest first
        self._bytes = 0
        self._scan()

    def _scan(self) -> None:
        """Index what earlier runs left, so the bounds hold across restarts."""
        found = []
        for path in self.folder.glob("*/*.png"):
            try:
                st = path.stat()
            except OSError:
                continue
            found.append((st.st_mtime, st.st_size, path))
        self._files = sorted(found)
        self._bytes = sum(size for _, size, _ in self._files)

    def wants(self, verdict: str) -> bool:
        """Whether a part with this verdict ("OK", "NG", "ERROR") is kept; counts OK parts."""
        if verdict != "OK":
            return True
        self.ok_seen += 1
        every = self.policy.ok_every
        return every > 0 and (self.ok_seen - 1) % every == 0

    def keep(
        self, key: str, image: np.ndarray, verdict: str, now: float | None = None
    ) -> Path | None:
        """Save the image if the policy wants it; the saved path, or None (not wanted, failed)."""
        if not self.wants(verdict):
            return None
        now = time.time() if now is None else now
        day = time.strftime("%Y-%m-%d", time.localtime(now))
        path = self.folder / day / f"{key}.png"
        tmp = path.with_name(path.name + ".tmp")
        try:
            ok, data = cv2.imencode(".png", _bgr(image))
            if not ok:
                raise OSError("PNG encoding failed")
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data.tobytes())
                f.flush()
            os.replace(tmp, path)
            os.utime(path, (now, now))
        except OSError as exc:
            self.failed += 1
            message = f"image of part {key} not kept: {exc.strerror or exc} ({path.parent})"
            log.warning(message)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if self.on_error is not None:
                self.on_error(message)
            return None
        self._files.append((now, len(data), path))
        self._bytes += len(data)
        self.prune(now)
        return path

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def prune(self, now: float | None = None) -> list[str]:
        """Remove the oldest images past the age or size bound; the keys removed."""
        now = time.time() if now is None else now
        p = self.policy
        oldest_allowed = now - p.max_days * 86400 if p.max_days is not None else -float("inf")
        limit = p.max_gb * GB if p.max_gb is not None else float("inf")
        removed = []
        while self._files and (self._files[0][0] < oldest_allowed or self._bytes > limit):
            _, size, path = self._files.pop(0)
            self._bytes -= size
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("cannot remove %s: %s", path, exc)
                continue
            removed.append(path.stem)
            if self.on_removed is not None:
                self.on_removed(path.stem)
        return removed


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    return image
