"""Version history of the model bundles promoted to a station, with one-click rollback.

Layout::

    ROOT/
      history.json            every version, which one is current, and an event log
      versions/
        v0001-<model_id>/     a complete copy of the bundle as promoted
        v0002-<model_id>/

A version directory is never changed once it is in place: rollback only moves the ``current``
pointer in ``history.json``, so it is instant and can itself be undone. A bundle is copied in
under a temporary name, checked, then renamed, so a version directory is always complete; a
crash between that rename and the history update leaves an unlisted directory whose number is
never reused. One process changes a store at a time (the station); any number may read it.

Only ``bundle.json`` is parsed (and the weights hashed), so this module does not need torch.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.bundle import BundleError, BundleMeta, read_meta, verify_weights

HISTORY_FILE = "history.json"
VERSIONS_DIR = "versions"
FORMAT = "visual-inspector-model-history"
SCHEMA_VERSION = 1

_ENTRY_FIELDS = {
    "number": int,
    "model_id": str,
    "dir": str,
    "promoted_at": str,
    "note": str,
    "source": str,
}
# Added after the first stores were written: an entry may lack them (defaults apply).
_OPTIONAL_FIELDS = {"promoted_by": str}
DEFAULT_PROMOTER = "operator"
_NUMBERED_DIR = re.compile(r"v(\d+)-")


class ModelStoreError(Exception):
    """The history file is unreadable, or the requested change of version is impossible."""


@dataclass(frozen=True)
class BundleSummary:
    """What a version's table row shows of its bundle, read from its ``bundle.json``.

    Attributes:
        family: the model family ("" when the bundle cannot be read).
        backbone: the backbone's name, "" for a family without one.
        data: the folder the model was trained on.
        images: good images it was fitted on, None when not recorded.
        image_auroc: image AUROC on a labelled test set, None unless evaluated.
        pixel_auroc: pixel AUROC on that set, None unless evaluated.
        threshold: the image threshold the bundle holds now.
    """

    family: str = ""
    backbone: str = ""
    data: str = ""
    images: int | None = None
    image_auroc: float | None = None
    pixel_auroc: float | None = None
    threshold: float | None = None

    @classmethod
    def of(cls, meta: BundleMeta) -> BundleSummary:
        backbone = meta.model_config.get("backbone")
        if isinstance(backbone, dict):
            backbone = backbone.get("name", "")
        images = meta.training.get("fit_images")
        return cls(
            family=meta.family,
            backbone=backbone if isinstance(backbone, str) else "",
            data=str(meta.training.get("data", "")),
            images=images if isinstance(images, int) else None,
            image_auroc=finite_number(meta.evaluation.get("image_auroc")),
            pixel_auroc=finite_number(meta.evaluation.get("pixel_auroc")),
            threshold=meta.thresholds.image,
        )

    @classmethod
    def read(cls, directory: str | Path) -> BundleSummary:
        """The summary of the bundle in ``directory``; an empty one if it cannot be read
        (a damaged version is still listed, so that it can be seen and replaced)."""
        try:
            return cls.of(read_meta(directory))
        except BundleError:
            return cls()


@dataclass(frozen=True)
class ModelVersion:
    """One promoted bundle.

    Attributes:
        number: version number, 1 for the first promotion, never reused.
        model_id: the bundle's model id.
        path: the bundle directory inside the store (load the model from here).
        promoted_at: when it was promoted, ISO 8601 in UTC.
        note: what the engineer wrote when promoting it.
        source: the directory it was promoted from.
        promoted_by: the role that promoted it (stores written before this was recorded:
            ``DEFAULT_PROMOTER``).
        summary: family, training data, metrics and threshold of its bundle.
    """

    number: int
    model_id: str
    path: Path
    promoted_at: str
    note: str
    source: str
    promoted_by: str = DEFAULT_PROMOTER
    summary: BundleSummary = field(default_factory=BundleSummary)


class ModelStore:
    """The promoted model versions of one station, kept under ``root``.

    Raises:
        ModelStoreError: ``history.json`` exists but is corrupt or written by newer software.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.history_path = self.root / HISTORY_FILE
        self._versions = self.root / VERSIONS_DIR
        # Serialises changes from the GUI's threads; reads need no lock (atomic replace).
        self._lock = threading.Lock()
        self._versions.mkdir(parents=True, exist_ok=True)
        self._load()  # a corrupt history fails at start-up, not at the moment of a rollback

    def promote(
        self, bundle_dir: str | Path, note: str = "", promoted_by: str = DEFAULT_PROMOTER
    ) -> ModelVersion:
        """Copy the bundle in as a new version and make it current.

        Args:
            bundle_dir: the bundle to promote.
            note: what the person promoting it wrote ("" for none).
            promoted_by: the role of the person promoting it.

        Raises:
            BundleError: ``bundle_dir`` is not a valid bundle, or its weights are missing or do
                not match the hash in its metadata (nothing is added then).
        """
        source = Path(bundle_dir).resolve()
        meta = read_meta(source)
        if self.root.resolve().is_relative_to(source):
            raise ModelStoreError(f"{source}: cannot promote a directory holding the store")
        with self._lock:
            history = self._load()
            number = self._nextfinite_number(history)
            final = self._versions / f"v{number:04d}-{_safe_name(meta.model_id)}"
            tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self._versions))
            try:
                shutil.copytree(source, tmp, dirs_exist_ok=True, copy_function=shutil.copy2)
                # Check the copy, not the source: it is what the station will load.
                if _verify(tmp, source).model_id != meta.model_id:
                    raise BundleError(f"{source}: the bundle changed while it was being copied")
                os.chmod(tmp, 0o755)  # mkdtemp makes it private; the GUI may run as another user
                _fsync_tree(tmp)
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            _fsync(self._versions)
            entry = {
                "number": number,
                "model_id": meta.model_id,
                "dir": final.name,
                "promoted_at": _now(),
                "note": str(note),
                "source": str(source),
                "promoted_by": str(promoted_by) or DEFAULT_PROMOTER,
            }
            history["versions"].append(entry)
            self._make_current(history, number, "promote")
            return self._version(entry)

    def current(self) -> ModelVersion | None:
        """The version in use, None before the first promotion."""
        history = self._load()
        if history["current"] is None:
            return None
        return self._version(self._entry(history, history["current"]))

    def versions(self) -> list[ModelVersion]:
        """Every version, newest first."""
        entries = sorted(self._load()["versions"], key=lambda e: e["number"], reverse=True)
        return [self._version(e) for e in entries]

    def events(self) -> list[dict[str, Any]]:
        """The event log, oldest first: ``{"time", "action", "version", "previous"}`` each."""
        return list(self._load()["events"])

    def rollback(self, number: int | None = None) -> ModelVersion:
        """Make an older version current: ``number``, or the one before the current one.

        Raises:
            ModelStoreError: nothing is promoted yet, there is no older version, ``number`` is
                not older than the current version, or it does not exist.
            BundleError: the target version's files were damaged on disk.
        """
        with self._lock:
            history = self._load()
            current = history["current"]
            if current is None:
                raise ModelStoreError(f"{self.root}: no model has been promoted; nothing to undo")
            if number is None:
                older = [e["number"] for e in history["versions"] if e["number"] < current]
                if not older:
                    raise ModelStoreError(
                        f"{self.root}: v{current} is the oldest version; none to roll back to"
                    )
                number = max(older)
            elif number >= current:
                raise ModelStoreError(
                    f"{self.root}: v{number} is not older than the current v{current}; "
                    "use activate() to move forward"
                )
            return self._switch(history, number, "rollback")

    def activate(self, number: int) -> ModelVersion:
        """Make version ``number`` current, older or newer.

        Raises:
            ModelStoreError: there is no such version.
            BundleError: its files were damaged on disk.
        """
        with self._lock:
            history = self._load()
            if history["current"] == number:
                return self._version(self._entry(history, number))
            return self._switch(history, number, "activate")

    def _switch(self, history: dict[str, Any], number: int, action: str) -> ModelVersion:
        entry = self._entry(history, number)
        version = self._version(entry)
        _verify(version.path, version.path)  # never point the line at a damaged bundle
        self._make_current(history, number, action)
        return version

    def _make_current(self, history: dict[str, Any], number: int, action: str) -> None:
        history["events"].append(
            {"time": _now(), "action": action, "version": number, "previous": history["current"]}
        )
        history["current"] = number
        self._save(history)

    def _entry(self, history: dict[str, Any], number: int) -> dict[str, Any]:
        for entry in history["versions"]:
            if entry["number"] == number:
                return dict(entry)
        have = ", ".join(f"v{e['number']}" for e in history["versions"]) or "none"
        raise ModelStoreError(f"{self.root}: no version {number} (have: {have})")

    def _version(self, entry: dict[str, Any]) -> ModelVersion:
        fields = {k: entry[k] for k in _ENTRY_FIELDS if k != "dir"}
        path = self._versions / entry["dir"]
        return ModelVersion(
            path=path,
            promoted_by=entry.get("promoted_by") or DEFAULT_PROMOTER,
            summary=BundleSummary.read(path),
            **fields,
        )

    def _nextfinite_number(self, history: dict[str, Any]) -> int:
        # Directories count too: one left by a crash before the history update keeps its number.
        numbers = [e["number"] for e in history["versions"]]
        for child in self._versions.iterdir():
            if match := _NUMBERED_DIR.match(child.name):
                numbers.append(int(match.group(1)))
        return max(numbers, default=0) + 1

    def _load(self) -> dict[str, Any]:
        if not self.history_path.exists():
            return {
                "format": FORMAT,
                "schema_version": SCHEMA_VERSION,
                "current": None,
                "versions": [],
                "events": [],
            }
        try:
            data = json.loads(self.history_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._corrupt(f"unreadable JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise self._corrupt("not a model history file")
        version = data.get("schema_version")
        if not isinstance(version, int):
            raise self._corrupt("schema_version missing or not an integer")
        if version > SCHEMA_VERSION:
            raise ModelStoreError(
                f"{self.history_path}: model history schema version {version} is newer than "
                f"this software reads ({SCHEMA_VERSION}); upgrade visual-inspector"
            )
        entries, events = data.get("versions"), data.get("events")
        if not isinstance(entries, list) or not isinstance(events, list):
            raise self._corrupt("'versions' and 'events' must be lists")
        for e in entries:
            if not isinstance(e, dict) or any(
                not isinstance(e.get(k), t) for k, t in _ENTRY_FIELDS.items()
            ):
                raise self._corrupt(f"malformed version entry {e!r}")
            for k, t in _OPTIONAL_FIELDS.items():
                if k in e and not isinstance(e[k], t):
                    raise self._corrupt(f"version {e['number']}: {k!r} must be a {t.__name__}")
            if Path(e["dir"]).name != e["dir"] or e["dir"] in ("", ".", ".."):
                raise self._corrupt(f"version directory {e['dir']!r} is not a plain name")
        numbers = [e["number"] for e in entries]
        if len(set(numbers)) != len(numbers):
            raise self._corrupt("a version number appears twice")
        if data.get("current") is not None and data["current"] not in numbers:
            raise self._corrupt(f"current version {data['current']!r} is not listed")
        data.setdefault("current", None)
        return data

    def _corrupt(self, why: str) -> ModelStoreError:
        return ModelStoreError(
            f"{self.history_path}: corrupt model history ({why}); the bundles under "
            f"{self._versions} are untouched, restore the file or promote again"
        )

    def _save(self, history: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".history-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(history, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.history_path)  # readers see the old or the new file, never half
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync(self.root)


def _verify(directory: Path, named: Path) -> BundleMeta:
    """Validate a bundle's metadata and weights hash; errors name ``named``."""
    return verify_weights(directory, named)


def finite_number(x: object) -> float | None:
    """``x`` as a float if it is a finite number (not a bool), else None."""
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def _safe_name(model_id: str) -> str:
    # model ids are hex hashes, but a hand-edited bundle.json must not steer the path.
    return re.sub(r"[^A-Za-z0-9_-]", "_", model_id)[:40] or "model"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _fsync_tree(root: Path) -> None:
    # Without this, a power cut soon after promotion can leave a renamed but empty weights file.
    for dirpath, _, names in os.walk(root):
        for name in names:
            _fsync(Path(dirpath, name))
        _fsync(Path(dirpath))


def _fsync(path: Path) -> None:
    if os.name != "posix":
        return  # Windows can neither open a directory nor fsync a read-only handle
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
