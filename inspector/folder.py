"""Inspect many files: whatever goes wrong with one file becomes its ERROR row, never the run's.

Shared by the ``inspector inspect`` command and the station's folder mode. Each batch's rows
are in the run's journal and ``results.csv`` (see ``inspector.journal``) before the next
batch starts; ``results.json`` and ``report.html`` are made from the journal at the end.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector import commands
from inspector.atomic import kill_point, write_with
from inspector.imageio import ImageLoadError, read_image, to_uint8
from inspector.journal import RunJournal
from inspector.outlock import output_lock
from inspector.overlay import overlay_thumbnail_jpeg
from inspector.report import ReportRow, summarize, write_html_report, write_results_json
from inspector.result import InspectionResult
from inspector.runtime import Inspector
from inspector.safe_text import shown

THUMB_SIDE = 160
# Pixels decoded and held at once by one batch (images, their float copies and maps): four
# 100 MP images at the default batch size would need 3.5 GB. A single larger image still
# runs, alone (its own size is capped by ``Inspector.max_pixels``).
DEFAULT_BATCH_PIXELS = commands.DEFAULT_BATCH_PIXELS
_MAP_STEM_CHARS = 80  # keeps "00001_<stem>.npy" far below the 255-byte name limit


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
    resume: bool = False,
    max_batch_pixels: int = DEFAULT_BATCH_PIXELS,
) -> FolderRun:
    """Inspect ``files``, write ``results.csv``, ``results.jsonl``, ``results.json`` and
    ``report.html`` into ``out_dir`` (holding its lock, see ``inspector.outlock``).

    A file that cannot be named, read, inspected or have its outputs written becomes an
    ERROR row with its reason; the run goes on. ``cancelled`` is polled between batches (the
    GUI's cancel button). With ``resume`` the parts already in the folder's journal are kept
    and not judged again.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with output_lock(out_dir):
        return _inspect(
            insp,
            files,
            out_dir,
            save_maps,
            batch_size,
            progress,
            cancelled,
            resume,
            max_batch_pixels,
        )


def _inspect(
    insp: Inspector,
    files: Sequence[Path],
    out_dir: Path,
    save_maps: bool,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
    resume: bool,
    max_batch_pixels: int,
) -> FolderRun:
    maps_dir = out_dir / "maps"
    if save_maps:
        maps_dir.mkdir(exist_ok=True)
    run = {"model_id": insp.model_id, "threshold": insp.thresholds.image, "save_maps": save_maps}
    journal = RunJournal(out_dir, run, resume=resume)
    t0 = time.perf_counter()
    todo = [(i, Path(f)) for i, f in enumerate(files) if not journal.done(_key(f))]
    try:
        for batch, errors in _batches(insp, todo, batch_size, max_batch_pixels):
            if cancelled is not None and cancelled():
                break
            results = _judge(insp, batch, errors)
            images = {i: (p, im) for i, p, im in batch}
            paths = {i: p for i, (p, _) in images.items()} | {i: e[0] for i, e in errors.items()}
            rows = [
                ReportRow.from_error(paths[i], errors[i][1])
                if i in errors
                else _row(insp, i, paths[i], results[i], images[i][1], maps_dir, save_maps)
                for i in sorted(paths)
            ]
            journal.append(rows)
            kill_point(f"batch-{len(journal)}")
            if progress:
                progress(len(journal), len(files))
    finally:
        journal.close()
    rows = journal.rows()
    summary = summarize(rows)
    summary.update(
        model_id=insp.model_id,
        threshold=insp.thresholds.image,
        seconds=round(time.perf_counter() - t0, 3),
        cancelled=len(rows) < len(files),
    )
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


def _key(path: str | os.PathLike[str]) -> str:
    return os.path.abspath(os.fspath(path))


Loaded = list[tuple[int, Path, np.ndarray]]
Errors = dict[int, tuple[Path, str]]


def _batches(
    insp: Inspector, todo: list[tuple[int, Path]], batch_size: int, max_pixels: int
) -> Iterator[tuple[Loaded, Errors]]:
    """Read files into batches of at most ``batch_size`` files and ``max_pixels`` pixels.

    Yields the decoded images and, keyed by index, the files that could not be read.
    """
    batch: Loaded = []
    errors: Errors = {}
    pixels = 0
    for i, path in todo:
        try:
            image = read_image(path, max_pixels=insp.max_pixels, strict=insp.strict_decode)
        except ImageLoadError as exc:
            errors[i] = (path, exc.reason)
        except Exception as exc:  # noqa: BLE001 - any failure of one file stays its own
            errors[i] = (path, f"could not read: {type(exc).__name__}: {exc}")
        else:
            size = image.shape[0] * image.shape[1]
            if batch and pixels + size > max_pixels:
                yield batch, errors
                batch, errors, pixels = [], {}, 0
            batch.append((i, path, image))
            pixels += size
        if len(batch) + len(errors) >= batch_size:
            yield batch, errors
            batch, errors, pixels = [], {}, 0
    if batch or errors:
        yield batch, errors


def _judge(insp: Inspector, batch: Loaded, errors: Errors) -> dict[int, InspectionResult]:
    if not batch:
        return {}
    try:
        judged = insp.inspect_batch([im for _, _, im in batch])
        return {i: r for (i, _, _), r in zip(batch, judged, strict=True)}
    except Exception:  # noqa: BLE001 - isolate the failing image instead of the whole batch
        results = {}
        for i, path, im in batch:
            try:
                results[i] = insp.inspect(im)
            except Exception as exc:  # noqa: BLE001 - reported per file
                errors[i] = (path, f"inspection failed: {type(exc).__name__}: {exc}")
        return results


def _row(
    insp: Inspector,
    i: int,
    path: Path,
    result: InspectionResult,
    image: np.ndarray,
    maps_dir: Path,
    save_maps: bool,
) -> ReportRow:
    try:
        map_path = ""
        if save_maps:
            target = maps_dir / f"{i:05d}_{_safe_stem(path)}.npy"
            amap = result.anomaly_map.astype(np.float32)
            write_with(target, lambda f: np.save(f, amap))
            map_path = str(target.resolve())
        low, high = map_display_range(insp)
        thumb = overlay_thumbnail_jpeg(
            to_uint8(image), result.anomaly_map, low, high, result.regions, max_side=THUMB_SIDE
        )
        return ReportRow.from_result(path, result, thumbnail_jpeg=thumb, anomaly_map_path=map_path)
    except Exception as exc:  # noqa: BLE001 - a full disk or a bad name costs this row only
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return ReportRow.from_error(
            path,
            f"judged {result.verdict} (score {result.score:.6g}) but its outputs could not be "
            f"written: {type(exc).__name__}: {shown(why)}",
        )


def _safe_stem(path: Path) -> str:
    """The file's stem in characters every file system takes, short enough for any name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", shown(path.stem))[:_MAP_STEM_CHARS] or "image"
