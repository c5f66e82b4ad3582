"""Inspect many files: per-file errors become ERROR rows, results go to CSV, JSON and HTML.

Shared by the ``inspector inspect`` command and the station's folder mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.imageio import ImageLoadError, read_image, to_uint8
from inspector.overlay import overlay_thumbnail_jpeg
from inspector.report import (
    ReportRow,
    summarize,
    write_html_report,
    write_results_csv,
    write_results_json,
)
from inspector.result import InspectionResult
from inspector.runtime import Inspector

THUMB_SIDE = 160


@dataclass(frozen=True)
class FolderRun:
    """What a folder inspection produced."""

    rows: list[ReportRow]
    summary: dict
    out_dir: Path


def map_display_range(insp: Inspector) -> tuple[float, float]:
    """Map values drawn transparent (typical good pixel) and hottest (well past the limit)."""
    low = insp.meta.score_stats.pixel_good_median
    return low, insp.thresholds.pixel + (insp.thresholds.pixel - low)


def inspect_files(
    insp: Inspector,
    files: Sequence[Path],
    out_dir: str | Path,
    *,
    save_maps: bool = False,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> FolderRun:
    """Inspect ``files``, write ``results.csv``, ``results.json`` and ``report.html``.

    A file that cannot be read or inspected becomes an ERROR row with its reason; the run
    goes on. ``cancelled`` is polled between batches (the GUI's cancel button).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    maps_dir = out_dir / "maps"
    if save_maps:
        maps_dir.mkdir(exist_ok=True)
    rows: list[ReportRow] = []
    t0 = time.perf_counter()
    for start in range(0, len(files), batch_size):
        if cancelled is not None and cancelled():
            break
        chunk = list(enumerate(files[start : start + batch_size], start))
        loaded, errors = [], {}
        for i, path in chunk:
            try:
                loaded.append((i, path, read_image(path, max_pixels=insp.max_pixels)))
            except ImageLoadError as exc:
                errors[i] = exc.reason
        results: dict[int, InspectionResult] = {}
        if loaded:
            try:
                batch = insp.inspect_batch([im for _, _, im in loaded])
                results = {i: r for (i, _, _), r in zip(loaded, batch, strict=True)}
            except Exception:
                # Isolate the failing image instead of losing the whole batch.
                for i, _, im in loaded:
                    try:
                        results[i] = insp.inspect(im)
                    except Exception as exc:  # noqa: BLE001 - reported per file
                        errors[i] = f"inspection failed: {exc}"
        images = {i: im for i, _, im in loaded}
        for i, path in chunk:
            rows.append(
                _row(
                    insp,
                    i,
                    Path(path),
                    results.get(i),
                    images.get(i),
                    errors.get(i, ""),
                    maps_dir if save_maps else None,
                )
            )
        if progress:
            progress(len(rows), len(files))
    summary = summarize(rows)
    summary.update(
        model_id=insp.model_id,
        threshold=insp.thresholds.image,
        seconds=round(time.perf_counter() - t0, 3),
        cancelled=len(rows) < len(files),
    )
    write_results_csv(rows, out_dir / "results.csv")
    write_results_json(rows, out_dir / "results.json", summary)
    write_html_report(
        rows,
        out_dir / "report.html",
        threshold=insp.thresholds.image,
        title="Inspection report",
        model_info=model_info(insp),
    )
    return FolderRun(rows, summary, out_dir)


def model_info(insp: Inspector) -> dict[str, str]:
    m = insp.meta
    return {
        "model id": m.model_id,
        "family": m.family,
        "backbone": str(m.model_config.get("backbone", {}).get("name", "-")),
        "input size": "x".join(str(v) for v in m.preprocessing.input_size),
        "threshold": f"{m.thresholds.image:.4g}",
        "target false-reject rate": f"{m.thresholds.target_false_reject_rate:.2%}",
        "trained on": f"{m.training.get('fit_images', '?')} images, {m.created}",
    }


def _row(
    insp: Inspector,
    i: int,
    path: Path,
    result: InspectionResult | None,
    image: np.ndarray | None,
    error: str,
    maps_dir: Path | None,
) -> ReportRow:
    if result is None or image is None:
        return ReportRow.from_error(path, error or "not inspected")
    map_path = ""
    if maps_dir is not None:
        target = maps_dir / f"{i:05d}_{path.stem}.npy"
        np.save(target, result.anomaly_map.astype(np.float32))
        map_path = str(target.resolve())
    low, high = map_display_range(insp)
    thumb = overlay_thumbnail_jpeg(
        to_uint8(image), result.anomaly_map, low, high, result.regions, max_side=THUMB_SIDE
    )
    return ReportRow.from_result(path, result, thumbnail_jpeg=thumb, anomaly_map_path=map_path)
