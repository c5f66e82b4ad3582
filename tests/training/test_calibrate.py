from __future__ import annotations

import numpy as np
import pytest

from training.calibrate import calibrate, threshold_for_false_reject_rate


def test_threshold_rejects_at_most_the_target_share() -> None:
    scores = np.arange(1, 101, dtype=float)  # 1..100
    t = threshold_for_false_reject_rate(scores, 0.05)
    assert t == pytest.approx(95.5)  # midpoint between the 95th and 96th score
    assert np.mean(scores > t) == pytest.approx(0.05)


def test_few_images_use_the_gaussian_tail() -> None:
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    t = threshold_for_false_reject_rate(scores, 0.01)  # 1 % of 4 images: reject none
    # mean 2.5 + 2.326 * sample std 1.291 = 5.503, above max + 5 % margin (4.075)
    assert t == pytest.approx(2.5 + 2.3263 * 1.2910, abs=1e-3)
    tight = np.array([10.0, 10.0, 10.0, 10.1])
    assert threshold_for_false_reject_rate(tight, 0.01) > 10.1


def test_errors() -> None:
    with pytest.raises(ValueError, match="no calibration scores"):
        threshold_for_false_reject_rate(np.array([]), 0.01)
    with pytest.raises(ValueError, match="false-reject rate"):
        threshold_for_false_reject_rate(np.array([1.0]), 1.5)
    with pytest.raises(ValueError, match="false-reject rate"):
        threshold_for_false_reject_rate(np.array([1.0]), 0.0)


def test_calibrate_report() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(10, 1, 200)
    th, stats, report = calibrate(scores, scores * 0.9, scores * 0.3, 0.02, 30)
    assert report["calibration_false_reject_rate"] <= 0.02
    assert th.pixel < th.image and th.min_defect_area_px == 30
    assert stats.good_count == 200 and stats.good_median == pytest.approx(np.median(scores))
