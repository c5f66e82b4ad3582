"""What the handshake hands the station and gets back: one part's result and its record.

`StationPort` is what a station implements for the handshake (`runner.LineRunner` without Qt,
`state_port.StatePort` on the station's state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from station.alarms import AlarmCode
from station.line.signals import LineVerdict


class UnknownRecipe(KeyError):
    """The PLC asked for a recipe index the station does not have."""


class PartError(RuntimeError):
    """Judging a part failed; `code` says which alarm it raises (CAMERA, NO_FRAME, INSPECTION)."""

    def __init__(self, code: AlarmCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PartResult:
    """What the station answers for one trigger.

    Attributes:
        verdict: OK, NG or ERROR.
        score: normalised score (0.5 at the threshold); NaN for ERROR.
        model_id: the model that judged the part.
        image: the frame judged (kept for retention and for checking), or None.
        frame_time: when the frame was grabbed (`time.time()`), or None.
        timings_ms: stage name -> milliseconds (grab, preprocess, model, postprocess).
        raw_score: the score in the model's own units (NaN for ERROR).
    """

    verdict: LineVerdict
    score: float
    model_id: str = ""
    image: np.ndarray | None = None
    frame_time: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    raw_score: float = float("nan")


@dataclass(frozen=True)
class LineRecord:
    """One triggered part, handed to the record sink as soon as its result is known.

    Attributes:
        part_id: PartId the PLC wrote before the trigger.
        recipe_index: recipe in use for this part; recipe_name its product name.
        result: the verdict, score, model and frame.
        cycle: running number of accepted triggers (1, 2, ...).
        trigger_time: `time.time()` of the trigger; latency_ms trigger to ResultReady.
        error: why the verdict is ERROR, "" otherwise.
    """

    part_id: str
    recipe_index: int
    recipe_name: str
    result: PartResult
    cycle: int
    trigger_time: float
    latency_ms: float
    error: str = ""


class StationPort(Protocol):
    """What the handshake asks of the station (`StatePort` on the state, or `LineRunner`)."""

    async def inspect(self, part_id: str, recipe_index: int) -> PartResult:
        """Grab and judge one part; raises PartError when no verdict can be given."""

    async def select_recipe(self, index: int) -> str:
        """Switch to a recipe between parts and return its name; raises UnknownRecipe."""


RecordSink = Callable[[LineRecord], None]
