"""Machine-readable progress of a run: its stages, where it is, and an estimate of the rest.

``inspector train --progress json`` and ``inspector evaluate --progress json`` write one JSON
object per line to stderr, for the station to read (never the text of a progress bar)::

    {"event": "progress", "stage": "features", "stage_index": 0, "stage_count": 4,
     "done": 12, "total": 40, "overall": 0.07, "eta_s": 31.5, "losses": {"loss": 0.12}}
    {"event": "done", "bundle": "PATH"}
    {"event": "error", "message": "..."}

``overall`` runs from 0 to 1 over the whole run and never goes back: each stage has a weight
(its rough share of the run's time), and a stage the run skips is passed over.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Emit = Callable[[dict[str, Any]], None]

# ``training.evaluate``'s stages: scoring the labelled images, then the metrics over them.
EVALUATION_STAGES = [("evaluation", 4.0), ("metrics", 1.0)]


def json_lines(stream: Any = None) -> Emit:
    """An ``Emit`` writing each event as one JSON line to ``stream`` (default stderr)."""

    def emit(event: dict[str, Any]) -> None:
        out = stream or sys.stderr
        out.write(json.dumps(event, allow_nan=False) + "\n")
        out.flush()

    return emit


class Progress:
    """A run's stage plan and its progress through it.

    Args:
        stages: (name, weight) in the order the run passes them.
        emit: where events go; None reports nothing (the plan is still followed).
        every_s: least time between two events within a stage (its first and last always go).
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        stages: Sequence[tuple[str, float]],
        emit: Emit | None = None,
        every_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.names = [name for name, _ in stages]
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"stage names repeat in {self.names}")
        weights = [max(float(w), 0.0) for _, w in stages]
        total = sum(weights) or 1.0
        self._starts = [sum(weights[:i]) / total for i in range(len(weights))]
        self._shares = [w / total for w in weights]
        self.emit, self.every_s, self.clock = emit, every_s, clock
        self.t0 = clock()
        self.index, self.done, self.total = -1, 0, 1
        self.overall = 0.0
        self._last_emit = -math.inf
        self._last_step = (-1, -1)

    @classmethod
    def silent(cls) -> Progress:
        """A progress without a plan: it reports nothing and accepts any stage."""
        return cls(())

    def stage(self, name: str, total: int) -> None:
        """Begin stage ``name`` of ``total`` steps; the stages before it are finished.

        A stage missing from the plan is a bug in the plan (a fitter's ``stages``), so it
        fails loudly whether or not anyone listens; only a plan-less progress accepts any.
        """
        if name not in self.names:
            if not self.names:
                return
            raise ValueError(f"stage {name!r} is not in the plan {self.names}")
        index = self.names.index(name)
        if index < self.index:
            raise ValueError(f"stage {name!r} comes before the current {self.names[self.index]!r}")
        if 0 <= self.index < index and self.done < self.total:
            self.update(self.total, force=True)  # the stage left behind, complete
        self.index, self.done, self.total = index, 0, max(int(total), 1)
        self.update(0, force=True)

    def update(
        self, done: int, losses: Mapping[str, float] | None = None, force: bool = False
    ) -> None:
        """``done`` steps of the current stage are finished (absolute, not an increment).

        An update with ``losses`` (one an epoch) always goes out: a listener's loss curve
        must not lose an epoch because the epochs were fast.
        """
        if self.index < 0:
            return
        self.done = min(max(int(done), self.done), self.total)
        i = self.index
        here = self._starts[i] + self._shares[i] * self.done / self.total
        self.overall = min(1.0, max(self.overall, here))
        now = self.clock()
        last = self.done == self.total
        due = force or last or bool(losses) or now - self._last_emit >= self.every_s
        if self.emit is None or not due:
            return
        if (i, self.done) == self._last_step and not losses:
            return  # nothing new to say
        self._last_emit, self._last_step = now, (i, self.done)
        event: dict[str, Any] = {
            "event": "progress",
            "stage": self.names[i],
            "stage_index": i,
            "stage_count": len(self.names),
            "done": self.done,
            "total": self.total,
            "overall": round(self.overall, 4),
            "eta_s": self.eta_s(now),
        }
        if losses:
            event["losses"] = {k: float(v) for k, v in losses.items() if math.isfinite(v)}
        self.emit(event)

    def eta_s(self, now: float) -> float | None:
        """Seconds left at the pace so far (None until the run has measurably begun)."""
        if self.overall < 0.01:
            return None
        return round((now - self.t0) * (1.0 - self.overall) / self.overall, 1)

    def finish(self, **fields: Any) -> None:
        """The run succeeded: the last stage complete, then a ``done`` event."""
        if self.emit is None:
            return
        if self.index >= 0 and self.done < self.total:
            self.update(self.total, force=True)
        self.emit({"event": "done", **fields})

    def fail(self, message: str) -> None:
        """The run failed: an ``error`` event (the process exits non-zero after it)."""
        if self.emit is not None:
            self.emit({"event": "error", "message": message})
