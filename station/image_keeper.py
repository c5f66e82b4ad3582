"""Image retention on a running station: the recorder writes, this keeps the folder bounded.

The inspection thread asks `ImageKeeper.wants` whether a judged part's images are kept (every
NG and ERROR, one OK part in ``ok_every``) and tells `saved` what it wrote. Pruning (oldest
parts first, past the age bound or the disk budget) runs on the keeper's own thread: every
`interval_s`, at once when a saved part takes the folder over its budget, and when the policy
changes (a recipe switch). Over the budget it prunes down to `FILL` of it, so a full folder
costs one pass now and then rather than a removal after every part.

The part's row stays in the inspection log; the removal is marked in the table
``image_removals`` of the same file (record id, path, when, why), which ``InspectionLog``
leaves alone as it does every station table (``station.logdb``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from station.logdb import StationDb
from station.retention import TMP_MARK, FolderIndex, OkSampler, RetentionPolicy

log = logging.getLogger(__name__)

FILL = 0.9  # over the disk budget, prune down to this share of it
INTERVAL_S = 60.0
STALE_TMP_S = 600.0  # a half-written file this old is left over from a failed write
SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE image_removals (
        record_id INTEGER PRIMARY KEY, path TEXT NOT NULL,
        removed_at REAL NOT NULL, reason TEXT NOT NULL DEFAULT ''
    )""",
)
_CHUNK = 500  # paths per lookup (SQLite's limit on bound parameters is 999 on old builds)
STATION_VERDICTS = {"PASS": "OK", "FAIL": "NG", "ERROR": "ERROR"}


class RemovalError(Exception):
    """The removal marks cannot be read or written; the message names the file."""


@dataclass(frozen=True)
class Removal:
    """The mark of a record whose images were removed."""

    record_id: int
    path: str
    removed_at: float
    reason: str


class ImageRemovals:
    """The ``image_removals`` table of the inspection log file ``path``."""

    def __init__(self, path: str | Path) -> None:
        self._db = StationDb(path, RemovalError, "image removal marks")
        try:
            self._db.ensure_table("image_removals", SCHEMA_VERSION, _SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def mark(self, paths: Sequence[str], reason: str, when: float) -> int:
        """Mark the records whose part image or overlay is one of ``paths``; how many."""
        marked = 0
        for start in range(0, len(paths), _CHUNK):
            chunk = list(paths[start : start + _CHUNK])
            marks = ", ".join("?" * len(chunk))
            rows = self._db.read(
                f"SELECT id, image_path, overlay_path FROM inspections "
                f"WHERE image_path IN ({marks}) OR overlay_path IN ({marks})",
                chunk + chunk,
            )
            with self._db.transaction() as conn:
                for record_id, image, overlay in rows:
                    conn.execute(
                        "INSERT OR IGNORE INTO image_removals VALUES (?, ?, ?, ?)",
                        (int(record_id), image or overlay, when, reason),
                    )
            marked += len(rows)
        return marked

    def get(self, record_id: int) -> Removal | None:
        rows = self._db.read(
            "SELECT record_id, path, removed_at, reason FROM image_removals WHERE record_id = ?",
            (int(record_id),),
        )
        return Removal(*rows[0]) if rows else None

    def count(self) -> int:
        return int(self._db.read("SELECT COUNT(*) FROM image_removals")[0][0])

    def close(self) -> None:
        self._db.close()


class ImageKeeper:
    """Keeps a station's image folder within its `RetentionPolicy` while the station runs.

    Args:
        folder: the station's image folder (``<folder>/<day>/...``).
        log_path: the inspection log, where removals are marked.
        policy: what to keep (`set_policy` changes it).
        on_removed: called on the keeper's thread with (record ids marked, why) per pass.
        interval_s: time between two passes when nothing asks for one.
        clock: epoch seconds now (tests age the folder with it).
    """

    def __init__(
        self,
        folder: Path,
        log_path: Path,
        policy: RetentionPolicy,
        on_removed: Callable[[int, str], None] | None = None,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.log_path = log_path
        self.on_removed = on_removed
        self.interval_s = interval_s
        self.clock = clock
        self.passes = 0
        self.removed_parts = 0
        self._lock = threading.Lock()
        self._policy = policy
        self._sampler = OkSampler(policy.ok_every)
        self._new: list[tuple[list[Path], float]] = []
        self._pending_bytes = 0
        self._indexed_bytes = 0
        self._wake = threading.Event()
        self._done = threading.Condition(self._lock)
        self._asked = self._finished = 0  # passes asked for, and the last one finished
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="image-keeper", daemon=True)
        self._thread.start()

    @property
    def policy(self) -> RetentionPolicy:
        return self._policy

    def set_policy(self, policy: RetentionPolicy) -> None:
        """Apply a new policy (a recipe switch) from the next part on; prunes at once."""
        with self._lock:
            if policy != self._policy:
                self._policy = policy
                self._sampler = OkSampler(policy.ok_every)
        log.info(
            "image retention: one OK part in %s, %s days, %s GB",
            policy.ok_every or "none",
            "no bound in" if policy.max_days is None else f"{policy.max_days:g}",
            "no bound in" if policy.max_gb is None else f"{policy.max_gb:g}",
        )
        self.prune_soon()

    def wants(self, verdict: str) -> bool:
        """Whether a part judged ``verdict`` (PASS, FAIL, ERROR) keeps its images."""
        with self._lock:
            return self._sampler.wants(STATION_VERDICTS.get(verdict, verdict))

    def saved(self, paths: Iterable[str | Path], when: float) -> None:
        """A part's images were written (inspection thread); prunes soon when over budget."""
        files = [Path(p) for p in paths if p]
        size = 0
        for path in files:
            try:
                size += path.stat().st_size
            except OSError:
                pass
        with self._lock:
            self._new.append((files, when))
            self._pending_bytes += size
            over = self._policy.max_gb is not None and (
                self._indexed_bytes + self._pending_bytes > self._policy.max_gb * 1e9
            )
        if over:
            self.prune_soon()

    def prune_soon(self) -> int:
        """Ask for a pass now (off the caller's thread); its number."""
        with self._lock:
            self._asked += 1
            asked = self._asked
        self._wake.set()
        return asked

    def prune_now(self, timeout: float = 30.0) -> bool:
        """A pass, waited for (tests); True when it finished in time."""
        asked = self.prune_soon()
        with self._done:
            return (
                self._done.wait_for(
                    lambda: self._finished >= asked or not self._thread.is_alive(), timeout
                )
                and self._finished >= asked
            )

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(30.0)

    # -- the keeper's thread -------------------------------------------------------------

    def _run(self) -> None:
        removals: ImageRemovals | None = None
        index: FolderIndex | None = None
        try:
            removals = ImageRemovals(self.log_path)
            index = FolderIndex(self.folder)  # on this thread: a big folder takes a while
            while not self._stop.is_set():
                self._wake.clear()
                with self._lock:
                    asked = self._asked
                try:
                    self._pass(index, removals)
                except Exception:  # pruning must never stop; the next pass tries again
                    log.exception("image retention pass failed in %s", self.folder)
                with self._done:
                    self._finished = asked
                    self._done.notify_all()
                self._wake.wait(self.interval_s)
        except Exception:
            log.exception("image retention stopped for %s", self.folder)
        finally:
            with self._done:
                self._done.notify_all()
            if removals is not None:
                removals.close()

    def _pass(self, index: FolderIndex, removals: ImageRemovals) -> None:
        with self._lock:
            new, self._new = self._new, []
            self._pending_bytes = 0
            policy = self._policy
        for files, when in new:
            index.add(files, when)
        now = self.clock()
        by_reason: dict[str, list[str]] = {}
        for _key, removed, why in index.prune(policy, now, FILL):
            by_reason.setdefault(why, []).extend(str(p) for p in removed)
            self.removed_parts += 1
        with self._lock:
            self._indexed_bytes = index.bytes_used
        for why, names in by_reason.items():
            marked = removals.mark(names, why, now)
            log.info("image retention: %d files removed (%s), %d records marked",
                     len(names), why, marked)  # fmt: skip
            if self.on_removed is not None:
                self.on_removed(marked, why)
        self._remove_stale_tmp(now)
        self.passes += 1

    def _remove_stale_tmp(self, now: float) -> None:
        """Half-written files of writes that failed (a full disk) are never finished."""
        for path in self.folder.glob(f"*/*{TMP_MARK}*"):
            try:
                if path.stat().st_mtime < now - STALE_TMP_S:
                    path.unlink()
            except OSError:
                pass
