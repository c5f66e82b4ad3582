"""Drift warnings on real sample images and real model scores: a stable run stays quiet, a
slowly dimming light and a knocked camera are caught within the documented number of parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from inspector.imageio import read_image
from station.drift import (
    Calibration,
    CameraHealth,
    DriftMonitor,
    DriftSettings,
    image_stats,
)

# Documented in docs/line.md: the bounds these tests hold the monitor to.
DIMMING_PER_PART = 0.0005  # the light loses 0.05 % a part (10 % over 200 parts)
DIMMING_CAUGHT_WITHIN = 150
SHIFT_PX = (6, 3)
SHIFT_CAUGHT_WITHIN = 150


def shifted(image: np.ndarray) -> np.ndarray:
    """The camera knocked: the part moves by SHIFT_PX in the image."""
    dx, dy = SHIFT_PX
    m = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    h, w = image.shape[:2]
    out: np.ndarray = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return out


@pytest.fixture(scope="module")
def good(sample_product: Path, trained_bundle: Path) -> dict[str, Any]:
    """Every good image of the sample product, its statistics and its real model score, and
    the same for the images as a knocked camera sees them."""
    from inspector.runtime import Inspector

    train = [read_image(p) for p in sorted((sample_product / "train" / "good").glob("*.png"))]
    held = [read_image(p) for p in sorted((sample_product / "test" / "good").glob("*.png"))]
    with Inspector.load(trained_bundle) as model:
        threshold = model.thresholds.image
        images = train + held
        stats = [image_stats(i) | {"score": model.inspect(i).score} for i in images]
        moved = [shifted(i) for i in held]
        moved_stats = [image_stats(i) | {"score": model.inspect(i).score} for i in moved]
    calibration = Calibration.from_samples(
        {k: [s[k] for s in stats] for k in ("brightness", "contrast", "sharpness")}
        # scores of the held-out good images: training images score lower than new parts
        | {"score": [s["score"] for s in stats[len(train) :]]}
    )
    return {
        "images": images,
        "stats": stats,
        "moved_stats": moved_stats,
        "calibration": calibration,
        "threshold": threshold,
    }


pytestmark = pytest.mark.slow  # trained_bundle trains a model


def test_stable_run_of_2000_good_parts_raises_no_warning(good: dict[str, Any]) -> None:
    monitor = DriftMonitor("metal_plate", good["calibration"])
    rng = np.random.default_rng(0)
    warnings = []
    for i in rng.integers(0, len(good["stats"]), size=2000):
        warnings += monitor.update(good["stats"][i])
    assert warnings == [] and monitor.parts == 2000


def test_slowly_dimming_light_is_caught(good: dict[str, Any]) -> None:
    monitor = DriftMonitor("metal_plate", good["calibration"])
    rng = np.random.default_rng(1)
    caught = None
    for part in range(1, 400):
        image = good["images"][rng.integers(0, len(good["images"]))]
        gain = 1.0 - DIMMING_PER_PART * part
        dimmed = np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        changes = monitor.update(image_stats(dimmed))
        if any(w.active and w.quantity == "brightness" for w in changes):
            caught = part
            break
    assert caught is not None and caught <= DIMMING_CAUGHT_WITHIN, caught
    assert monitor.ewma["brightness"] < good["calibration"].references["brightness"].mean


def test_knocked_camera_is_caught_and_clears_when_fixed(good: dict[str, Any]) -> None:
    monitor = DriftMonitor("metal_plate", good["calibration"])
    rng = np.random.default_rng(2)
    for i in rng.integers(0, len(good["stats"]), size=200):
        assert monitor.update(good["stats"][i]) == []
    caught = None
    moved = [s for s in good["moved_stats"] if s["score"] <= good["threshold"]]  # OK parts
    for part in range(1, 200):
        changes = monitor.update(moved[rng.integers(0, len(moved))])
        if any(w.active for w in changes):
            caught = part
            break
    assert caught is not None and caught <= SHIFT_CAUGHT_WITHIN, caught
    cleared = []
    for i in rng.integers(0, len(good["stats"]), size=400):  # camera put back
        cleared += [w for w in monitor.update(good["stats"][i]) if not w.active]
    assert cleared and not monitor.active


def test_settings_and_health() -> None:
    cal = Calibration.from_samples({"brightness": [100.0, 102.0, 98.0]})
    assert Calibration.from_json(cal.to_json()) == cal
    monitor = DriftMonitor("p", cal, DriftSettings(smoothing=0.5, limit_sigmas=3.0))
    assert monitor.update({"brightness": 100.0, "unknown": 1.0}) == []
    with pytest.raises(ValueError, match="at least 2 good parts"):
        Calibration.from_samples({"score": [1.0]})
    health = CameraHealth()
    for n in range(1, 11):
        health.update(frame_time=n * 0.1, frame_number=n + (n > 5) * 2, exposure_us=900.0)
    report = health.report()
    assert report.fps == pytest.approx(10.0, rel=0.01)
    assert report.dropped == 2 and report.exposure_us == 900.0
