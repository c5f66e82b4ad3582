"""What the review dialog shows for a part from the inspection log, read back from disk.

The recorder keeps, per saved part, the image as taken (``image_path``) and a heatmap overlay
with the defect regions drawn in (``overlay_path``); regions themselves are only counted in the
row. Image retention may have removed both since (``station.image_keeper``): the row stays, and
its removal mark says when and why. Qt-free, so it is tested without a display.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gui.view_item import ViewItem, to_display
from inspector.imageio import ImageLoadError, read_image
from inspector.records import InspectionRecord
from station.image_keeper import Removal


@dataclass
class RecordEvidence:
    """A logged part ready to show.

    Attributes:
        item: the part as a ViewItem (no anomaly map: only the overlay picture was kept).
        bare: the part image at display size, None if none was saved or it cannot be read.
        heatmap: the saved overlay (heatmap and regions) at display size, or None.
        problem: why a picture is missing, for the user ('' if both are there).
    """

    item: ViewItem
    bare: np.ndarray | None
    heatmap: np.ndarray | None
    problem: str = ""


def load_evidence(rec: InspectionRecord, removal: Removal | None = None) -> RecordEvidence:
    """Read a record's saved images (shrunk to display size); missing files are said, not
    raised.

    Args:
        rec: the logged part.
        removal: its mark in ``image_removals`` where retention removed its images.
    """
    problems: list[str] = []
    gone = rec.image_path and not Path(rec.image_path).exists()
    if removal is not None or gone:
        problems.append(removed_text(removal))
        bare = heatmap = None
    else:
        bare = _read(rec.image_path, "part image", problems)
        heatmap = _read(rec.overlay_path, "heatmap overlay", problems)
    if not rec.image_path and rec.verdict != "ERROR":
        problems.insert(0, "no image was saved for this part (save policy)")
    elif not rec.image_path:
        problems.insert(0, "no image was saved for this part")
    image = bare if bare is not None else np.zeros((1, 1, 3), np.uint8)
    item = ViewItem(
        image=image,
        anomaly_map=np.zeros(image.shape[:2], np.float32),
        scale=1.0,
        score=rec.score,
        verdict=rec.verdict,
        threshold=rec.threshold,
        source=rec.source,
        name=rec.part,
        timestamp=rec.timestamp,
        record_id=rec.id,
        image_path=rec.image_path,
        error=rec.error,
        label=rec.label,
    )
    return RecordEvidence(item, bare, heatmap, "; ".join(problems))


def removed_text(removal: Removal | None) -> str:
    """Why a logged part's images are gone (the row itself is kept)."""
    if removal is None:
        return "the part image is no longer on disk (image retention removes the oldest)"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(removal.removed_at))
    return f"the part image was removed by image retention on {when} ({removal.reason})"


def _read(path: str, what: str, problems: list[str]) -> np.ndarray | None:
    if not path:
        return None
    try:
        image, _, _ = to_display(read_image(path), None)
    except ImageLoadError as exc:
        problems.append(f"{what}: {exc}")
        return None
    return image
