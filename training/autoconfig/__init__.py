"""Automatic configuration: a training run chooses settings per product from good images.

With ``auto = "on"`` a family that registered a search here tries a few candidate settings
on held-out good images and synthetic defective copies of them (``training.synthetic``),
keeps the one that separates them best (``validation``), and records the search in the
bundle. A setting given explicitly (an option, ``--set``, a settings file or preset) is
never searched.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from inspector.families import resolve
from training.progress import Progress
from training.settings import TrainSettings

# family -> "module:function" of its search (settings, fit files, calibration files,
# explicit names, progress) -> (settings to fit with, record for the bundle).
SEARCHES = {"cnn-cluster": "training.autoconfig.cnn_cluster:search"}
STAGE = ("autoconfig", 3.0)  # its share of a run's progress, beside the fit's stages

Search = Callable[..., tuple[TrainSettings, dict[str, Any]]]


def applies(s: TrainSettings) -> bool:
    """Whether a run of ``s`` searches (auto on, and its family has a search)."""
    return s.run.auto == "on" and s.model in SEARCHES


def stages(s: TrainSettings) -> list[tuple[str, float]]:
    """The progress stage of the search, if the run has one."""
    return [STAGE] if applies(s) else []


def explicit_settings(s: TrainSettings) -> frozenset[str]:
    """Settings that differ from the family's defaults: someone chose them, so they are not
    searched (the command line also counts options given at their default)."""
    default = TrainSettings.for_family(s.model)
    mine, theirs = s.to_dict(), default.to_dict()
    return frozenset(k for k in mine if mine[k] != theirs.get(k) and k not in ("model", "preset"))


def auto_configure(
    s: TrainSettings,
    fit_files: Sequence[Path],
    cal_files: Sequence[Path],
    explicit: Collection[str] | None = None,
    progress: Progress | None = None,
) -> tuple[TrainSettings, dict[str, Any] | None]:
    """The settings to fit with and the record of how they were chosen.

    Args:
        s: the run's settings as given.
        fit_files: images the model will be fitted on (the search's memory comes from them).
        cal_files: held-out good images (damaged and scored by the search, never fitted on).
        explicit: names of settings given explicitly (default: ``explicit_settings``).
        progress: reports the ``autoconfig`` stage.

    Returns:
        ``s`` unchanged and None with auto off; ``s`` and a note for a family without a
        search; else the chosen settings and the search's record.
    """
    if s.run.auto != "on":
        return s, None
    if s.model not in SEARCHES:
        return s, {"family": s.model, "note": f"no automatic configuration for {s.model}"}
    names = frozenset(explicit) if explicit is not None else explicit_settings(s)
    search: Search = resolve(SEARCHES[s.model])
    return search(s, list(fit_files), list(cal_files), names, progress or Progress.silent())
