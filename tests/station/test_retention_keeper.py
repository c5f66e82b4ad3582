"""Image retention on a running station: the recorder writes real files and real log rows,
the keeper bounds the folder (oldest parts first) and marks the rows whose images went."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from inspector.recorder import PartContext, PartRecorder
from inspector.records import InspectionLog, InspectionRecord
from inspector.result import InspectionResult, Verdict
from station.image_keeper import ImageKeeper, ImageRemovals
from station.retention import GB, RetentionPolicy

DAY = 86400.0


def result(verdict: Verdict) -> InspectionResult:
    return InspectionResult(0.9, 0.6, verdict, 0.5, np.zeros((48, 48), np.float32))


def record(
    recorder: PartRecorder, keeper: ImageKeeper, i: int, verdict: Verdict, when: float
) -> InspectionRecord:
    image = np.random.default_rng(i).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    policy = recorder.policy
    if not keeper.wants(str(verdict)):
        recorder.policy = "none"
    rec = recorder.record(image, result(verdict), PartContext("cam", "m1", f"p{i}", when))
    recorder.policy = policy
    if rec.image_path:
        os.utime(rec.image_path, (when, when))
        os.utime(rec.overlay_path, (when, when))
        keeper.saved((rec.image_path, rec.overlay_path), when)
    return rec


def test_tiny_budget_removes_oldest_parts_and_marks_their_records(tmp_path: Path) -> None:
    log_path, images = tmp_path / "log.db", tmp_path / "images"
    log = InspectionLog(log_path)
    recorder = PartRecorder(log, images, "all")
    keeper = ImageKeeper(images, log_path, RetentionPolicy(1, None, None), interval_s=3600)
    assert keeper.prune_now()  # its first pass indexed the (empty) folder
    now = time.time()
    recs = [record(recorder, keeper, i, Verdict.FAIL, now - 100 + i) for i in range(10)]
    assert keeper.prune_now()
    part_bytes = sum(Path(p).stat().st_size for p in (recs[0].image_path, recs[0].overlay_path))
    # room for five parts: over it, pruned down to 90 % (4.5 parts), oldest first
    keeper.set_policy(RetentionPolicy(1, None, 5 * part_bytes / GB))
    assert keeper.prune_now()
    kept = [r for r in recs if Path(r.image_path).exists()]
    gone = [r for r in recs if not Path(r.image_path).exists()]
    assert gone == recs[: len(gone)] and len(kept) == 4  # the newest four stay
    assert all(not Path(r.overlay_path).exists() for r in gone)  # image and overlay together
    assert log.count() == 10  # every record kept
    removals = ImageRemovals(log_path)
    assert removals.count() == len(gone)
    mark = removals.get(gone[0].id or 0)
    assert mark is not None and mark.path == gone[0].image_path
    assert "over" in mark.reason and "GB" in mark.reason
    assert removals.get(kept[0].id or 0) is None
    row = log.get(gone[0].id or 0)
    assert row is not None and row.image_path == gone[0].image_path  # the row unchanged
    removals.close()
    keeper.close()
    log.close()


def test_age_bound_found_at_start_one_ok_in_n_and_stale_tmp(tmp_path: Path) -> None:
    log_path, images = tmp_path / "log.db", tmp_path / "images"
    log = InspectionLog(log_path)
    recorder = PartRecorder(log, images, "all")
    now = time.time()
    sampler = ImageKeeper(images, log_path, RetentionPolicy(3, None, None), interval_s=3600)
    assert sampler.prune_now()
    verdicts = [Verdict.PASS] * 7 + [Verdict.FAIL] * 2
    recs = [record(recorder, sampler, i, v, now - (9 - i) * DAY) for i, v in enumerate(verdicts)]
    sampler.close()
    saved = [i for i, r in enumerate(recs) if r.image_path]
    assert saved == [0, 3, 6, 7, 8]  # OK parts 1, 4, 7 and every NG part
    stale = Path(recs[8].image_path).with_name("x.tmp.png")
    stale.write_bytes(b"half")
    os.utime(stale, (now - DAY, now - DAY))
    # a restart with a 2.5-day bound: what earlier runs left is found and aged out
    keeper = ImageKeeper(images, log_path, RetentionPolicy(3, 2.5, None), interval_s=3600)
    assert keeper.prune_now()
    assert [i for i in saved if Path(recs[i].image_path).exists()] == [7, 8]
    assert not stale.exists()
    removals = ImageRemovals(log_path)
    mark = removals.get(recs[0].id or 0)
    assert removals.count() == 3 and mark is not None and "older than 2.5 days" in mark.reason
    assert log.count() == 9
    removals.close()
    keeper.close()
    log.close()
