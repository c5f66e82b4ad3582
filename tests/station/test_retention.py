"""Image retention: what is kept, the age and size bounds, and a full disk that stops nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from inspector.imageio import read_image
from station.retention import ImageRetention, RetentionPolicy

DAY = 86400.0


def noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)


def test_every_ng_and_error_and_one_ok_in_n(tmp_path: Path) -> None:
    keep = ImageRetention(tmp_path, RetentionPolicy(ok_every=3, max_days=None, max_gb=None))
    verdicts = ["OK", "NG", "OK", "OK", "ERROR", "OK", "OK", "OK", "NG"]
    saved = [keep.keep(f"p{i}", noise(i), v) for i, v in enumerate(verdicts)]
    kept = [i for i, p in enumerate(saved) if p is not None]
    assert kept == [0, 1, 4, 5, 8]  # OK parts 1, 4 (the 4th OK) and the NG/ERROR ones
    image = noise(4)
    assert saved[4] is not None and np.array_equal(read_image(saved[4]), image)
    none = ImageRetention(tmp_path / "n", RetentionPolicy(ok_every=0))
    assert none.keep("x", image, "OK") is None and none.keep("y", image, "NG") is not None


def test_oldest_removed_first_by_age_and_by_size_records_marked(tmp_path: Path) -> None:
    removed: list[str] = []
    now = time.time()
    keep = ImageRetention(
        tmp_path, RetentionPolicy(1, max_days=2.0, max_gb=None), on_removed=removed.append
    )
    for i in range(5):
        keep.keep(f"day{i}", noise(i), "NG", now=now - (4 - i) * DAY)  # 4, 3, 2, 1, 0 days old
    assert removed == ["day0", "day1"]  # older than 2 days, oldest first
    assert sorted(p.stem for p in tmp_path.glob("*/*.png")) == ["day2", "day3", "day4"]

    size = keep.bytes_used / 3
    removed.clear()
    small = ImageRetention(
        tmp_path, RetentionPolicy(1, None, max_gb=3.5 * size / 1e9), on_removed=removed.append
    )
    assert small.bytes_used == pytest.approx(3 * size)  # found what was there at start
    small.keep("new", noise(9), "NG", now=now)
    assert removed == ["day2"] and small.bytes_used <= 3.5 * size


def test_disk_full_never_stops_inspection_and_is_reported(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full to produce a real 'no space left on device'")
    errors: list[str] = []
    keep = ImageRetention(tmp_path, RetentionPolicy(1, None, None), on_error=errors.append)
    now = time.time()
    day = time.strftime("%Y-%m-%d", time.localtime(now))
    (tmp_path / day).mkdir()
    (tmp_path / day / "full.png.tmp").symlink_to("/dev/full")  # this write hits a full device
    assert keep.keep("full", noise(1), "NG", now=now) is None
    assert keep.failed == 1 and "No space left on device" in errors[0] and "full" in errors[0]
    assert keep.keep("next", noise(2), "NG", now=now) is not None  # goes on
    assert not (tmp_path / day / "full.png").exists()
