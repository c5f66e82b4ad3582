"""Drift charts of a linked station, per recipe, fed with each good part's statistics.

A recipe's reference is ``<folder>/<product>.json`` (``station.drift.Calibration`` as JSON;
the station keeps them in ``<recipes>/drift/``) when that file exists; otherwise it is
learned from the recipe's first ``baseline`` good parts and written there, so a restart
charts against the same reference and an engineer can delete the file to learn a new one
(after relighting the cell).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from station.drift import QUANTITIES, Calibration, DriftMonitor, DriftWarning

log = logging.getLogger(__name__)

BASELINE_PARTS = 50


class DriftWatch:
    """One EWMA chart per recipe (``station.drift``), its reference stored beside the recipes.

    Args:
        folder: where the references live (created at the first one learned).
        baseline: good parts learned from when a recipe has no reference yet.
    """

    def __init__(self, folder: Path, baseline: int = BASELINE_PARTS) -> None:
        if baseline < 2:
            raise ValueError(f"baseline must be 2 good parts or more, got {baseline}")
        self.folder = folder
        self.baseline = baseline
        self.monitors: dict[str, DriftMonitor] = {}
        self._learning: dict[str, dict[str, list[float]]] = {}

    def path(self, recipe: str) -> Path:
        return self.folder / f"{recipe}.json"

    def good_part(self, recipe: str, stats: Mapping[str, float]) -> list[DriftWarning]:
        """Chart one good part of ``recipe``; the warnings it raised or cleared."""
        monitor = self.monitors.get(recipe) or self._monitor(recipe, stats)
        return monitor.update(stats) if monitor is not None else []

    def learned(self, recipe: str) -> int:
        """Good parts of ``recipe`` learned from so far (while it has no reference)."""
        samples = self._learning.get(recipe, {})
        return min((len(v) for v in samples.values()), default=0)

    def active(self, recipe: str) -> set[str]:
        monitor = self.monitors.get(recipe)
        return set(monitor.active) if monitor else set()

    def _monitor(self, recipe: str, stats: Mapping[str, float]) -> DriftMonitor | None:
        path = self.path(recipe)
        if path.is_file():
            try:
                calibration = Calibration.from_json(json.loads(path.read_text("utf-8")))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("%s: unreadable drift reference (%s); learning a new one", path, exc)
            else:
                self.monitors[recipe] = DriftMonitor(recipe, calibration)
                return self.monitors[recipe]
        samples = self._learning.setdefault(recipe, {})
        for name in QUANTITIES:
            if name in stats:
                samples.setdefault(name, []).append(float(stats[name]))
        if min((len(v) for v in samples.values()), default=0) < self.baseline:
            return None
        calibration = Calibration.from_samples(samples)
        del self._learning[recipe]
        self._save(path, calibration)
        self.monitors[recipe] = DriftMonitor(recipe, calibration)
        log.info("drift reference of %s learned from %d good parts", recipe, self.baseline)
        return None  # the parts learned from are the reference, not charted against it

    @staticmethod
    def _save(path: Path, calibration: Calibration) -> None:
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(calibration.to_json(), indent=2), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # charting goes on from memory; the next start learns again
            log.error("%s: could not keep the drift reference (%s)", path, exc)
