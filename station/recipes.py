"""Recipes: what the station needs to inspect one product, as JSON files in the workspace.

A recipe names the product, the model bundle (and optionally the model id it must have), an
image-threshold override, camera settings, a region of interest, the image save policy and
alarm limits. Files live in ``<workspace>/recipes/*.json``, one recipe a file, each with
``"schema": 1`` and a unique ``"index"`` (the PLC's RecipeIndex, 1 or more). Loading checks
every field and names the file and the field in its error. Example::

    {"schema": 1, "index": 1, "product": "metal_plate", "model": "models/metal_plate",
     "thresholds": {"image": null},
     "camera": {"exposure_us": 2000, "gain_db": 0, "pixel_format": "Mono8", "trigger": "hardware"},
     "save": {"ok_every": 10, "max_days": 30, "max_gb": 50},
     "alarms": {"drift": true, "max_ng_rate": 0.2}}
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inspector.capture.pylon import PIXEL_FORMATS, TRIGGERS
from station.retention import RetentionPolicy

SCHEMA_VERSION = 1
RECIPE_DIR = "recipes"


class RecipeError(ValueError):
    """A recipe file is unreadable or has a bad field; the message names both."""


@dataclass(frozen=True)
class CameraSettings:
    """Camera settings a recipe applies between parts (None keeps the camera's).

    Attributes:
        exposure_us: exposure time in microseconds.
        gain_db: gain in dB.
        pixel_format: "Mono8", "Mono12" or "RGB8" (``inspector.capture.pylon``).
        trigger: "off" (free run), "software" or "hardware" frame trigger.
    """

    exposure_us: float | None = None
    gain_db: float | None = None
    pixel_format: str | None = None
    trigger: str | None = None

    def given(self) -> dict[str, object]:
        """The settings the recipe sets, by name (what it leaves to the camera left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class AlarmLimits:
    """When the station raises alarms for this product.

    Attributes:
        drift: raise the DRIFT alarm on a drift warning (see `station.drift`).
        max_ng_rate: NG share of the last `ng_window` parts above which the log warns; None off.
        ng_window: parts the NG rate is taken over.
    """

    drift: bool = True
    max_ng_rate: float | None = None
    ng_window: int = 200


@dataclass(frozen=True)
class Recipe:
    """One product's recipe (see the module docstring for the file format)."""

    index: int
    product: str
    model: str
    model_id: str = ""
    image_threshold: float | None = None
    camera: CameraSettings = field(default_factory=CameraSettings)
    roi: tuple[int, int, int, int] | None = None
    save: RetentionPolicy = field(default_factory=RetentionPolicy)
    alarms: AlarmLimits = field(default_factory=AlarmLimits)

    def model_path(self, workspace: Path) -> Path:
        path = Path(self.model)
        return path if path.is_absolute() else workspace / path

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "index": self.index,
            "product": self.product,
            "model": self.model,
            "model_id": self.model_id,
            "thresholds": {"image": self.image_threshold},
            "camera": asdict(self.camera),
            "roi": list(self.roi) if self.roi is not None else None,
            "save": asdict(self.save),
            "alarms": asdict(self.alarms),
        }


class _Fields:
    """Reads typed fields from one file's JSON object, naming file and field on error."""

    def __init__(self, path: Path, data: object, known: set[str], prefix: str = "") -> None:
        if not isinstance(data, dict):
            raise RecipeError(f"{path}: {prefix or 'the file'} must be a JSON object")
        self.path, self.data, self.prefix = path, data, prefix
        unknown = set(data) - known
        if unknown:
            raise RecipeError(f"{path}: unknown field {self._name(sorted(unknown)[0])}")

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def get(
        self, key: str, kind: type | tuple[type, ...], default: Any = ..., optional: bool = False
    ) -> Any:
        if key not in self.data:
            if default is ...:
                raise RecipeError(f"{self.path}: field {self._name(key)} is missing")
            return default
        value = self.data[key]
        if value is None and optional:
            return None
        # JSON true/false are Python bools, which isinstance also counts as int.
        ok = (
            isinstance(value, bool)
            if kind is bool
            else (isinstance(value, kind) and not isinstance(value, bool))
        )
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise RecipeError(
                f"{self.path}: field {self._name(key)} must be {names}, got {value!r}"
            )
        return value

    def section(self, key: str, known: set[str]) -> _Fields:
        value = self.data.get(key)
        return _Fields(self.path, {} if value is None else value, known, self._name(key))


def _positive(path: Path, name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise RecipeError(f"{path}: field {name} must be positive, got {value}")


def parse_recipe(path: Path, data: object) -> Recipe:
    """Validate one recipe's JSON object read from `path`."""
    known = {"schema", "index", "product", "model", "model_id", "thresholds", "camera", "roi"}
    top = _Fields(path, data, known | {"save", "alarms"})
    schema = top.get("schema", int)
    if schema != SCHEMA_VERSION:
        raise RecipeError(
            f"{path}: field schema is {schema}; this station reads schema {SCHEMA_VERSION}"
        )
    index = top.get("index", int)
    if not 1 <= index <= 65535:
        raise RecipeError(f"{path}: field index must be 1..65535, got {index}")
    product = top.get("product", str).strip()
    model = top.get("model", str).strip()
    if not product or not model:
        raise RecipeError(f"{path}: field {'product' if not product else 'model'} is empty")
    thresholds = top.section("thresholds", {"image"})
    image = thresholds.get("image", (int, float), None, optional=True)
    cam = top.section("camera", {"exposure_us", "gain_db", "pixel_format", "trigger"})
    camera = CameraSettings(
        cam.get("exposure_us", (int, float), None, optional=True),
        cam.get("gain_db", (int, float), None, optional=True),
        cam.get("pixel_format", str, None, optional=True),
        cam.get("trigger", str, None, optional=True),
    )
    _positive(path, "camera.exposure_us", camera.exposure_us)
    for name, value, allowed in (
        ("pixel_format", camera.pixel_format, PIXEL_FORMATS),
        ("trigger", camera.trigger, TRIGGERS),
    ):
        if value is not None and value not in allowed:
            choices = ", ".join(allowed)
            raise RecipeError(
                f"{path}: field camera.{name} must be one of {choices}, got {value!r}"
            )
    roi_value = top.get("roi", list, None, optional=True)
    roi = None
    if roi_value is not None:
        if len(roi_value) != 4 or not all(isinstance(v, int) and v >= 0 for v in roi_value):
            raise RecipeError(f"{path}: field roi must be [x, y, width, height], got {roi_value}")
        roi = (roi_value[0], roi_value[1], roi_value[2], roi_value[3])
    sv = top.section("save", {"ok_every", "max_days", "max_gb"})
    try:
        save = RetentionPolicy(
            sv.get("ok_every", int, RetentionPolicy.ok_every),
            sv.get("max_days", (int, float), RetentionPolicy.max_days, optional=True),
            sv.get("max_gb", (int, float), RetentionPolicy.max_gb, optional=True),
        )
    except ValueError as exc:
        raise RecipeError(f"{path}: field save: {exc}") from exc
    al = top.section("alarms", {"drift", "max_ng_rate", "ng_window"})
    alarms = AlarmLimits(
        al.get("drift", bool, True),
        al.get("max_ng_rate", (int, float), None, optional=True),
        al.get("ng_window", int, 200),
    )
    _positive(path, "alarms.ng_window", alarms.ng_window)
    return Recipe(
        index, product, model, top.get("model_id", str, ""), image, camera, roi, save, alarms
    )


def load_recipe(path: Path) -> Recipe:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read ({exc.strerror})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecipeError(f"{path}: not valid JSON ({exc})") from exc
    return parse_recipe(path, data)


def save_recipe(recipe: Recipe, folder: Path) -> Path:
    """Write `recipe` to ``folder/<product>.json`` atomically (temporary file, then rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in recipe.product)
    path = folder / f"{safe}.json"
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(recipe.to_json(), f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


class RecipeBook:
    """All recipes of a workspace, by index."""

    def __init__(self, recipes: dict[int, Recipe], workspace: Path) -> None:
        self._recipes = dict(recipes)
        self.workspace = workspace

    @classmethod
    def load(cls, workspace: Path, folder: Path | None = None) -> RecipeBook:
        """Read ``<workspace>/recipes/*.json`` (or ``folder/*.json``; model paths stay
        relative to the workspace); raises RecipeError on the first bad file."""
        recipes: dict[int, Recipe] = {}
        files: dict[int, Path] = {}
        folder = workspace / RECIPE_DIR if folder is None else folder
        if not folder.is_dir():
            raise RecipeError(f"{folder}: no such recipe folder")
        for path in sorted(folder.glob("*.json")):
            recipe = load_recipe(path)
            if recipe.index in recipes:
                raise RecipeError(
                    f"{path}: field index {recipe.index} is already used by {files[recipe.index]}"
                )
            recipes[recipe.index], files[recipe.index] = recipe, path
        return cls(recipes, workspace)

    def __iter__(self) -> Iterator[Recipe]:
        return iter(sorted(self._recipes.values(), key=lambda r: r.index))

    def __len__(self) -> int:
        return len(self._recipes)

    def get(self, index: int) -> Recipe:
        """The recipe with this index; KeyError naming the indices there are."""
        if index not in self._recipes:
            have = ", ".join(str(i) for i in sorted(self._recipes)) or "none"
            raise KeyError(f"no recipe with index {index} (recipes: {have})")
        return self._recipes[index]
