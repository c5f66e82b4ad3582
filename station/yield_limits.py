"""Limits of the production alarms, as a recipe or the station settings hold them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class AlarmLimits:
    """When the alarms are raised; None switches one off.

    Attributes:
        consecutive_fails: raise at this many FAILs in a row (ERRORs neither count nor break
            the run; a PASS ends it).
        min_yield_pct: raise when the yield over the last ``yield_window`` judged parts is
            below this (strictly), once that many parts were judged.
        yield_window: how many of the latest PASS/FAIL parts the yield is taken over.
        no_parts_s: raise when no part (any verdict) came for this long while running.
    """

    consecutive_fails: int | None = 5
    min_yield_pct: float | None = 90.0
    yield_window: int = 100
    no_parts_s: float | None = 300.0

    def __post_init__(self) -> None:
        if self.consecutive_fails is not None and self.consecutive_fails < 1:
            raise ValueError(f"consecutive_fails must be >= 1, not {self.consecutive_fails!r}")
        if self.min_yield_pct is not None and not 0 < self.min_yield_pct <= 100:
            raise ValueError(f"min_yield_pct must be in (0, 100], not {self.min_yield_pct!r}")
        if self.yield_window < 1:
            raise ValueError(f"yield_window must be >= 1, not {self.yield_window!r}")
        if self.no_parts_s is not None and not self.no_parts_s > 0:
            raise ValueError(f"no_parts_s must be > 0, not {self.no_parts_s!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> AlarmLimits:
        """Limits from a recipe or settings object; errors name ``where`` and the field."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown alarm limit(s) {unknown} (known: {sorted(known)})")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
