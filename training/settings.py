"""Training settings: defaults in code, then a user file, then command-line overrides.

A run's settings are the shared ``RunSettings`` and the chosen family's own config
(``inspector.families``). Files, presets and the command line name them flat, by field
name: no name belongs to both, so each lands in one place, and a name the chosen family
does not have is an error that names the key and the family.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.families import DEFAULT_FAMILY, check_setting_names, family_spec
from inspector.models.spec import RunSettings, as_json, with_changes

PRESETS_DIR = Path(__file__).resolve().parent / "presets"

__all__ = ["PRESETS_DIR", "RunSettings", "TrainSettings", "preset_path"]


def preset_path(name: str) -> Path:
    """The settings file of preset ``name`` (``training/presets/NAME.toml``)."""
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))
        raise ValueError(f"unknown preset {name!r}; known presets: {known}")
    return path


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides what a training run produces.

    Attributes:
        model: model family (``inspector.families``).
        run: settings every family shares (input, calibration, the gradient loop).
        config: the family's own config dataclass (its defaults when None is given).
        preset: the preset these settings started from (``from_preset``), kept in the
            bundle so that the station retrains a model with the same preset.
    """

    model: str = DEFAULT_FAMILY
    run: RunSettings = field(default_factory=RunSettings)
    config: Any = None
    preset: str = ""

    def __post_init__(self) -> None:
        spec = family_spec(self.model)
        if self.config is None:
            object.__setattr__(self, "config", spec.config())
        elif type(self.config) is not spec.config:
            raise TypeError(f"config of family {self.model} must be a {spec.config.__name__}")

    @classmethod
    def for_family(cls, model: str, **changes: Any) -> TrainSettings:
        """The defaults of family ``model``, then ``changes`` (None values ignored)."""
        spec = family_spec(model)
        run = with_changes(RunSettings(), spec.run_defaults, "run")
        return cls(model=model, run=run).override(**changes)

    def to_dict(self) -> dict[str, Any]:
        """Flat and JSON-able, as files and ``from_dict`` take it."""
        return {
            "model": self.model,
            **as_json(self.run),
            **as_json(self.config),
            "preset": self.preset,
        }

    def override(self, **changes: Any) -> TrainSettings:
        """A copy with the non-None ``changes`` applied (as given on a command line)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        model = changes.pop("model", self.model)
        if model != self.model:
            raise ValueError(f"settings of model {self.model} cannot be changed to {model}")
        preset = changes.pop("preset", self.preset)
        check_setting_names(self.model, changes)
        run_names = {f.name for f in dataclasses.fields(RunSettings)}
        run = {k: v for k, v in changes.items() if k in run_names}
        own = {k: v for k, v in changes.items() if k not in run_names}
        return dataclasses.replace(
            self,
            run=with_changes(self.run, run, "run"),
            config=with_changes(self.config, own, f"model family {self.model!r}"),
            preset=str(preset),
        )

    @classmethod
    def from_preset(cls, name: str) -> TrainSettings:
        """The settings of preset ``name``, which names its family (``preset_path``)."""
        return cls.from_file(preset_path(name)).override(preset=name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], model: str | None = None) -> TrainSettings:
        """Family defaults overridden by flat ``data`` (a file's contents).

        ``model`` (a command line's ``--model``) wins over the data's own ``model``, and its
        family's defaults are the base the values apply to. Data that names a ``preset`` (as
        a bundle's ``train_settings.json`` of a preset's model does) starts from that preset
        instead, which must then be for the same family.
        """
        data = dict(data)
        family = model or data.pop("model", None)
        data.pop("model", None)
        preset = data.pop("preset", "")
        if not preset:
            return cls.for_family(family or DEFAULT_FAMILY, **data)
        base = cls.from_preset(preset)
        if family and family != base.model:
            raise ValueError(f"preset {preset} is for model {base.model}, not {family}")
        return base.override(**data)

    @classmethod
    def from_file(cls, path: str | Path, model: str | None = None) -> TrainSettings:
        """``from_dict`` of a ``.toml`` or ``.json`` settings file; errors name the file."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a valid settings file ({exc})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a settings file holds a table of settings")
        try:
            return cls.from_dict(data, model=model)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
