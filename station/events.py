"""The records the station state holds and the events it announces, all frozen dataclasses.

Listeners of ``station.state.StationState`` receive one of the ``StateEvent`` types; a
transport (PLC link) or a test matches on the type it cares about.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from inspector.verdict import Calibration, ScoreStats, Thresholds
from station.shifts import Tally


class SetBy(StrEnum):
    """Who chose the image threshold in force."""

    BUNDLE = "bundle"  # as calibrated or saved into the model
    OPERATOR = "operator"
    ENGINEER = "engineer"
    RECIPE = "recipe"
    PLC = "plc"


@dataclass(frozen=True)
class LoadedModel:
    """The model the inference thread judges with, as read from its bundle.

    Attributes:
        path: bundle folder; model_id, family, backend, created: what it is.
        input_size: model input (height, width).
        thresholds: the thresholds stored in the bundle.
        calibration: the bundle's calibration record (None if it was not calibrated).
        score_stats: good-image score statistics (normalisation, slider range).
        map_range: anomaly-map values shown from cold to hot.
        training, evaluation: the bundle's training and evaluation records.
    """

    path: str
    model_id: str
    family: str
    backend: str
    thresholds: Thresholds
    score_stats: ScoreStats
    input_size: tuple[int, int] = (0, 0)
    created: str = ""
    calibration: Calibration | None = None
    map_range: tuple[float, float] = (0.0, 1.0)
    training: Mapping[str, Any] = field(default_factory=dict)
    evaluation: Mapping[str, Any] = field(default_factory=dict)

    @property
    def calibrated_threshold(self) -> float:
        """The image threshold calibration chose (exactly as stored), even after another
        one was saved."""
        cal = self.calibration
        return cal.image_threshold if cal is not None else self.thresholds.image


@dataclass(frozen=True)
class ActiveThreshold:
    """The image threshold parts are judged by now, and who set it."""

    model_id: str
    value: float
    by: SetBy


@dataclass(frozen=True)
class PartResult:
    """One judged part, without its pictures (those stay with the window).

    Attributes:
        part_id: the id a trigger asked for, else one given by the inference thread.
        verdict: PASS, FAIL or ERROR; score: raw image score (NaN for ERROR).
        threshold: the image threshold it was judged by; model_id: the model that judged.
        source, name, timestamp: where and when the frame came from.
        record_id: row in the inspection log (None if even the log refused it).
        error: the reason, for ERROR parts; image_path: saved part image or "".
        timings_ms: model timings; latency_ms: frame grabbed to verdict.
    """

    part_id: str
    verdict: str
    score: float
    threshold: float
    model_id: str = ""
    source: str = ""
    name: str = ""
    timestamp: float = 0.0
    record_id: int | None = None
    error: str = ""
    image_path: str = ""
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    latency_ms: float = math.nan


@dataclass(frozen=True)
class LinkStatus:
    """A line link (PLC transport): its name, whether it is connected, and a detail."""

    name: str
    connected: bool
    detail: str = ""


# --- events ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelRequested:
    path: str
    by: str


@dataclass(frozen=True)
class ModelChanged:
    model: LoadedModel
    threshold: ActiveThreshold


@dataclass(frozen=True)
class ModelFailed:
    path: str
    reason: str
    running: LoadedModel | None  # the model that goes on judging


@dataclass(frozen=True)
class ThresholdChanged:
    threshold: ActiveThreshold
    saved: bool = False  # written into the bundle


@dataclass(frozen=True)
class ModeChanged:
    mode: str


@dataclass(frozen=True)
class SourceChanged:
    spec: str


@dataclass(frozen=True)
class SourceStatus:
    status: str  # connecting, live, retrying, ended, stopped
    detail: str


@dataclass(frozen=True)
class SavePolicyChanged:
    policy: str


@dataclass(frozen=True)
class TriggerRequested:
    part_id: str
    by: str


@dataclass(frozen=True)
class PartJudged:
    result: PartResult
    counters: Tally


@dataclass(frozen=True)
class CountersChanged:
    counters: Tally
    by: str


@dataclass(frozen=True)
class RecipeSelected:
    name: str
    by: str


@dataclass(frozen=True)
class RoleChanged:
    role: str


@dataclass(frozen=True)
class LinkChanged:
    status: LinkStatus


StateEvent = (
    ModelRequested
    | ModelChanged
    | ModelFailed
    | ThresholdChanged
    | ModeChanged
    | SourceChanged
    | SourceStatus
    | SavePolicyChanged
    | TriggerRequested
    | PartJudged
    | CountersChanged
    | RecipeSelected
    | RoleChanged
    | LinkChanged
)
Listener = Callable[[StateEvent], None]
