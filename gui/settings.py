"""Station settings and the workspace folder that holds everything the station writes.

Settings are a frozen dataclass with defaults in code, saved as JSON in the workspace (the
same habit as training settings). Everything the station produces lives under one workspace
folder so an engineer can back it up or move it as one thing:

    <workspace>/settings.json        these settings
    <workspace>/inspections.sqlite   the inspection log
    <workspace>/models/              promoted model versions (``ModelStore``)
    <workspace>/images/              saved part images and overlays
    <workspace>/training/good/       good images collected for the next retraining
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from station.retention import GB, RetentionPolicy

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PRODUCT = REPO_ROOT / "sample_images" / "metal_plate"
DISK_SHARE = 0.5  # the image folder never takes more than this share of its disk
RETENTION_FIELDS = ("image_max_days", "image_max_gb")


def default_workspace() -> Path:
    """``$VISUAL_INSPECTOR_HOME``, else the platform's per-user data folder."""
    env = os.environ.get("VISUAL_INSPECTOR_HOME")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or (Path.home() / ".local" / "share")
    return Path(base) / "visual-inspector"


@dataclass(frozen=True)
class StationSettings:
    """What the station remembers between starts.

    Attributes:
        model: bundle directory to load ("" = the workspace's current model version).
        source: capture source: camera index, video file, stream URL or image folder.
        fps: frame rate for image folders played as a camera.
        trigger_mode: ``continuous`` (inspect every frame) or ``triggered`` (one part per
            trigger: button, Space key or software trigger).
        save_policy: which part images to keep: ``fail``, ``all`` or ``none``.
        output_dir: where part images go ("" = ``<workspace>/images``).
        show_heatmap: overlay the anomaly heatmap on the live view.
        opacity: heatmap opacity at the hottest pixels, 0..1.
        threshold_overrides: model id -> image threshold set on the slider but not saved into
            the bundle (kept per model so switching models never carries a threshold across).
        operator_view: start in the full-screen operator view.
        idle_lock_minutes: an unlocked station returns to operator after this long idle.
        alarm_limits: production alarm limits (``station.yield_limits.AlarmLimits`` fields;
            missing ones keep their defaults, null switches one off).
        shift_starts: shift start times "HH:MM" (local); empty: shifts change by hand only.
        trend_minutes: width of one point of the shift's yield trend.
        image_max_days: part images older than this are removed (their rows kept and
            marked); null keeps them regardless of age. A line's recipe brings its own.
        image_max_gb: the image folder is kept under this many GB, and under half its disk
            whatever this says; null: no bound (the disk may fill; inspection goes on).
    """

    model: str = ""
    source: str = str(SAMPLE_PRODUCT / "test")
    fps: float = 2.0
    trigger_mode: str = "continuous"
    save_policy: str = "fail"
    output_dir: str = ""
    show_heatmap: bool = True
    opacity: float = 0.5
    threshold_overrides: dict[str, float] = field(default_factory=dict)
    operator_view: bool = False
    idle_lock_minutes: float = 10.0
    alarm_limits: dict[str, Any] = field(default_factory=dict)
    shift_starts: list[str] = field(default_factory=lambda: ["06:00", "14:00", "22:00"])
    trend_minutes: float = 10.0
    image_max_days: float | None = 30.0
    image_max_gb: float | None = 20.0

    def __post_init__(self) -> None:
        for name in RETENTION_FIELDS:
            problem = _retention_problem(getattr(self, name))
            if problem:
                raise ValueError(f"{name} {problem}")

    def override(self, **changes: Any) -> StationSettings:
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in changes.items() if k in known and v is not None})


class Workspace:
    """The station's folder (see module docstring)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else default_workspace()
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def log_file(self) -> Path:
        return self.root / "inspections.sqlite"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def training_dir(self) -> Path:
        return self.root / "training" / "good"

    @property
    def candidates_dir(self) -> Path:
        return self.root / "training" / "candidates"

    def images_dir(self, settings: StationSettings) -> Path:
        return Path(settings.output_dir) if settings.output_dir else self.root / "images"

    def load_settings(self) -> StationSettings:
        """Saved settings, or defaults; an unreadable file is reported and replaced."""
        try:
            data = json.loads(self.settings_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return StationSettings()
        except (OSError, ValueError) as exc:
            # A damaged settings file must not stop the line: start from defaults, keep a copy.
            self.settings_file.replace(self.settings_file.with_suffix(".json.bad"))
            print(f"warning: {self.settings_file}: unreadable ({exc}); using defaults")
            return StationSettings()
        if not isinstance(data, dict):
            return StationSettings()
        for name in RETENTION_FIELDS:
            problem = _retention_problem(data.get(name))
            if problem:  # this one field falls back to its default, the others count
                print(f"warning: {self.settings_file}: field {name} {problem}; using the default")
                data.pop(name)
        bounds = {k: data[k] for k in RETENTION_FIELDS if k in data}  # null lifts a bound
        return replace(StationSettings().override(**data), **bounds)

    def save_settings(self, settings: StationSettings) -> None:
        tmp = self.settings_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
        os.replace(tmp, self.settings_file)


def _retention_problem(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number or null, got {value!r}"
    if not math.isfinite(value) or value <= 0:
        return f"must be positive or null, got {value!r}"
    return ""


def image_retention(settings: StationSettings, folder: Path) -> RetentionPolicy:
    """The image folder's bounds without a line (a line's recipe brings its own): what the
    save policy keeps, removed oldest first past ``image_max_days`` or the GB bound, which is
    never more than half the disk the folder is on (unless lifted with null)."""
    budget = settings.image_max_gb
    half = _disk_gb(folder) * DISK_SHARE
    if budget is not None and half > 0:
        budget = min(budget, half)
    return RetentionPolicy(1, settings.image_max_days, budget)


def _disk_gb(folder: Path) -> float:
    """Size of the disk ``folder`` is (or will be) on, in GB; 0 where it cannot be told."""
    for path in (folder, *folder.parents):
        try:
            return shutil.disk_usage(path).total / GB
        except OSError:  # not there yet: ask its nearest existing parent
            continue
    return 0.0
