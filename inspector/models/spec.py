"""What a model family declares, without torch: its name, settings and where its code lives.

Each family's ``*_config.py`` beside its model file holds a frozen config dataclass (the
family's own hyperparameters, with defaults) and one ``FamilySpec``; ``inspector.families``
registers the specs. The command line, the station's model chooser and bundle validation
read these, so nothing here may import torch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class SettingsError(ValueError):
    """A setting that a family does not have, or a value it cannot take."""


def setting(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    flag: str = "",
) -> Any:
    """A settings field: its default, its one-line help (shown by ``--help``), the values
    allowed and, where it differs from ``--name-with-dashes``, its command-line flag."""
    meta = {"help": help, "choices": choices, "minimum": minimum, "flag": flag}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunSettings:
    """Settings of a run that every family shares: the input, the calibration, and the
    gradient loop (used by the trained families only)."""

    input_size: int = setting(256, "square model input side in pixels", minimum=8)
    resize_mode: str = setting(
        "stretch",
        "stretch, or letterbox to keep the aspect ratio (mixed image shapes)",
        choices=("stretch", "letterbox"),
    )
    # On by default: parts photographed under drifting light are judged by their shape.
    normalize_intensity: bool = setting(
        True,
        "bring every image to the brightness and contrast of the median training image first",
    )
    min_contrast: float = setting(
        0.16,
        "floor that lifts low-contrast parts when normalising, as a camera's auto-contrast "
        "would (0..1 standard deviation)",
        minimum=0.0,
    )
    # Per product: what suits one part costs accuracy on another (training.autoconfig).
    auto: str = setting(
        "on",
        "choose intensity normalisation, feature stages, map blur and image score by "
        "self-validation on synthetic defects of held-out good images; settings given "
        "explicitly are kept (off: the settings as given)",
        choices=("on", "off"),
    )
    holdout: float = setting(0.2, "share of good images held out for calibration", minimum=0.0)
    target_false_reject_rate: float = setting(
        0.01,
        "good parts allowed to fail; sets the image threshold",
        minimum=0.0,
        flag="--target-frr",
    )
    min_defect_area_px: int = setting(
        25, "smallest reported defect region (original-image pixels)", minimum=0,
        flag="--min-defect-area",
    )  # fmt: skip
    batch_size: int = setting(16, "images per forward pass (per optimiser step)", minimum=1)
    seed: int = setting(
        0, "makes splits, sampling, centres, weight init and augmentation repeatable", minimum=0
    )
    epochs: int = setting(40, "most passes over the training images", minimum=1)
    learning_rate: float = setting(1e-3, "AdamW step size", minimum=0.0, flag="--lr")
    patience: int = setting(
        8, "stop after this many epochs without a better validation loss (0: never)", minimum=0
    )
    # Geometry only when the user says the part may look like that; photometric jitter is
    # always on.
    augment: tuple[str, ...] = setting(
        (),
        "geometric augmentations the product allows (photometric jitter is always on)",
        choices=("hflip", "vflip", "rot90", "rotate", "shift"),
    )
    device: str = setting("auto", "auto (CUDA when present), cpu or cuda[:N]")
    amp: bool = setting(True, "mixed precision on CUDA (ignored on the CPU)")
    tensorboard: bool = setting(True, "write loss curves, reconstructions and maps")
    warmup_steps: int = setting(
        0, "learning rates rise linearly over each optimiser's first steps (0: none)", minimum=0
    )


@dataclass(frozen=True)
class FamilySpec:
    """One model family, declared once.

    Attributes:
        name: the family's name on the command line, in bundles and in the station.
        description: one line of what the family is for.
        config: frozen dataclass of the family's own hyperparameters, with their defaults.
        trained: gradient-trained through the shared loop (epochs, checkpoints, TensorBoard).
        model: ``"module:Class"`` of the torch model (imported only when a model is built).
        fitter: ``"module:NAME"`` of the training side's ``Fitter`` (build, fit, stages);
            only ``training`` resolves it, so a runtime without training never imports it.
        run_defaults: shared run settings this family needs at other values (its epochs,
            learning rate, batch size).
    """

    name: str
    description: str
    config: type
    trained: bool
    model: str
    fitter: str
    run_defaults: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not dataclasses.is_dataclass(self.config):
            raise TypeError(f"family {self.name}: config must be a dataclass")
        run = {f.name for f in dataclasses.fields(RunSettings)}
        clash = run & {f.name for f in dataclasses.fields(self.config)}
        if clash:
            raise TypeError(f"family {self.name}: config repeats run settings {sorted(clash)}")
        unknown = set(self.run_defaults) - run
        if unknown:
            raise TypeError(f"family {self.name}: run_defaults names no run setting {unknown}")


def field_types(cls: type) -> dict[str, Any]:
    """Resolved annotations of a settings dataclass's fields."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def parse_text(text: str) -> Any:
    """A value typed on a command line: JSON where it parses (numbers, lists, true/false),
    else the text itself (names such as ``resnet18``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def coerce(kind: Any, value: Any, what: str) -> Any:
    """``value`` (from a file, JSON or a command line) as a field of type ``kind``."""
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        if isinstance(value, str):  # "2,8" or "2 8" as typed, or JSON "[2, 8]"
            value = parse_text(value)
            if isinstance(value, str):
                value = [v for v in re.split(r"[,\s]+", value) if v]
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(coerce(item, v, what) for v in items)
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]  # one value given where a list could be (a shared option)
    if isinstance(value, str) and kind is not str:
        value = parse_text(value)
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    if kind is str and isinstance(value, str):
        return value
    raise SettingsError(f"{what} must be {getattr(kind, '__name__', kind)}, got {value!r}")


def check_fields(obj: Any, owner: str) -> None:
    """Each field of a settings dataclass within its choices and minimum."""
    for f in dataclasses.fields(obj):
        value, meta = getattr(obj, f.name), f.metadata
        values = value if isinstance(value, tuple) else (value,)
        what = f"setting '{f.name}' of {owner}"
        if meta.get("choices"):
            bad = [v for v in values if v not in meta["choices"]]
            if bad:
                raise SettingsError(f"{what}: {bad[0]!r} is not one of {list(meta['choices'])}")
        if meta.get("minimum") is not None:
            low = [v for v in values if not isinstance(v, str) and v < meta["minimum"]]
            if low:
                raise SettingsError(f"{what} must be at least {meta['minimum']}, got {low[0]}")


def with_changes(obj: Any, changes: Mapping[str, Any], owner: str) -> Any:
    """A copy of settings dataclass ``obj`` with ``changes`` coerced to its field types."""
    types = field_types(type(obj))
    typed = {k: coerce(types[k], v, f"setting '{k}' of {owner}") for k, v in changes.items()}
    out = dataclasses.replace(obj, **typed)
    check_fields(out, owner)
    return out


def as_json(obj: Any) -> dict[str, Any]:
    """A settings dataclass as JSON-able values (tuples become lists)."""
    return {
        f.name: list(v) if isinstance(v := getattr(obj, f.name), tuple) else v
        for f in dataclasses.fields(obj)
    }
