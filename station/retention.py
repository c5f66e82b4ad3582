"""Which part images a line station keeps, and for how long.

Every NG and ERROR image is kept, one OK image in `ok_every`, and the folder is bounded by age
(`max_days`) and size (`max_gb`): the oldest parts go first (a part's image and its overlay
together), and each removal is reported so the record of that part is kept and marked
"image removed" (``station.image_keeper``). A write that fails (disk full, folder gone) never
stops inspection: `ImageRetention.keep` returns None and reports it to `on_error` (the station
raises the STORAGE alarm).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

GB = 1_000_000_000
OVERLAY_SUFFIX = "_overlay"  # the recorder's heatmap overlay beside a part image
TMP_MARK = ".tmp"  # half-written files (atomic writes) are never indexed


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


class OkSampler:
    """Counts OK parts and says which to keep (the first, then one in ``ok_every``)."""

    def __init__(self, ok_every: int) -> None:
        self.ok_every = ok_every
        self.ok_seen = 0

    def wants(self, verdict: str) -> bool:
        """Whether a part with this verdict ("OK", "NG", "ERROR") is kept; counts OK parts."""
        if verdict != "OK":
            return True
        self.ok_seen += 1
        return self.ok_every > 0 and (self.ok_seen - 1) % self.ok_every == 0


@dataclass(slots=True)  # one per kept part: a 50 GB folder holds hundreds of thousands
class _Part:
    """The files of one part in the index: its time and the bytes they hold."""

    mtime: float
    size: int
    paths: list[Path]

    @property
    def key(self) -> str:
        return part_key(self.paths[0])


def part_key(path: Path) -> str:
    """The part a file belongs to: its stem, without the overlay's suffix."""
    stem = path.stem
    return stem[: -len(OVERLAY_SUFFIX)] if stem.endswith(OVERLAY_SUFFIX) else stem


class FolderIndex:
    """The part images in ``folder/<day>/``, oldest first, with the bytes they hold.

    Not thread-safe: one owner adds and prunes.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._parts: list[_Part] = []
        self._bytes = 0
        self._known: set[Path] = set()
        self.scan()

    def scan(self) -> None:
        """Index what is on disk (earlier runs too), so the bounds hold across restarts."""
        groups: dict[tuple[Path, str], _Part] = {}
        for path in self.folder.glob("*/*"):
            if TMP_MARK in path.name:
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            if not path.is_file():
                continue
            part = groups.setdefault((path.parent, part_key(path)), _Part(st.st_mtime, 0, []))
            part.mtime = min(part.mtime, st.st_mtime)
            part.size += st.st_size
            part.paths.append(path)
        self._parts = sorted(groups.values(), key=lambda p: p.mtime)
        self._bytes = sum(p.size for p in self._parts)
        self._known = {path for part in self._parts for path in part.paths}

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._parts)

    def add(self, paths: Iterable[Path], when: float) -> None:
        """Index one part's files, written at ``when`` (files indexed already are skipped)."""
        files, size = [], 0
        for path in paths:
            if path in self._known:
                continue
            try:
                size += path.stat().st_size
            except OSError:
                continue
            files.append(path)
        if files:
            self._known.update(files)
            self._parts.append(_Part(when, size, files))
            self._bytes += size
            # Parts come in time order; a clock stepped back must not put one out of it.
            if len(self._parts) > 1 and self._parts[-2].mtime > when:
                self._parts.sort(key=lambda p: p.mtime)

    def over(self, policy: RetentionPolicy, now: float) -> bool:
        """Whether the oldest part is past the age bound or the folder past its size."""
        if not self._parts:
            return False
        if policy.max_days is not None and self._parts[0].mtime < now - policy.max_days * 86400:
            return True
        return policy.max_gb is not None and self._bytes > policy.max_gb * GB

    def prune(
        self, policy: RetentionPolicy, now: float, fill: float = 1.0
    ) -> list[tuple[str, list[Path], str]]:
        """Remove the oldest parts past the age bound, and past the size bound until the
        folder holds ``fill`` of it; (key, paths removed, why) for each part, oldest first."""
        oldest_allowed = (
            now - policy.max_days * 86400 if policy.max_days is not None else -float("inf")
        )
        limit = policy.max_gb * GB * fill if policy.max_gb is not None else float("inf")
        size_bound = policy.max_gb is not None and self._bytes > policy.max_gb * GB
        removed = []
        while self._parts:
            part = self._parts[0]
            if part.mtime < oldest_allowed:
                why = f"older than {policy.max_days:g} days"
            elif size_bound and self._bytes > limit:
                why = f"the image folder is over {policy.max_gb:g} GB"
            else:
                break
            self._parts.pop(0)
            self._bytes -= part.size
            self._known.difference_update(part.paths)
            gone = []
            for path in part.paths:
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:  # still there: it will be indexed again at a rescan
                    log.warning("cannot remove %s: %s", path, exc)
                    continue
                gone.append(path)
            if gone:
                removed.append((part.key, gone, why))
        return removed


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
        self.failed = 0
        self._sampler = OkSampler(policy.ok_every)
        self._index = FolderIndex(folder)

    @property
    def ok_seen(self) -> int:
        return self._sampler.ok_seen

    def wants(self, verdict: str) -> bool:
        """Whether a part with this verdict ("OK", "NG", "ERROR") is kept; counts OK parts."""
        return self._sampler.wants(verdict)

    def keep(
        self, key: str, image: np.ndarray, verdict: str, now: float | None = None
    ) -> Path | None:
        """Save the image if the policy wants it; the saved path, or None (not wanted, failed)."""
        if not self.wants(verdict):
            return None
        now = time.time() if now is None else now
        day = time.strftime("%Y-%m-%d", time.localtime(now))
        path = self.folder / day / f"{key}.png"
        tmp = path.with_name(path.name + TMP_MARK)
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
        self._index.add([path], now)
        self.prune(now)
        return path

    @property
    def bytes_used(self) -> int:
        return self._index.bytes_used

    def prune(self, now: float | None = None) -> list[str]:
        """Remove the oldest images past the age or size bound; the keys removed."""
        now = time.time() if now is None else now
        keys = []
        for key, _paths, _why in self._index.prune(self.policy, now):
            keys.append(key)
            if self.on_removed is not None:
                self.on_removed(key)
        return keys


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    return image
