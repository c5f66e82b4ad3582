"""The verdict rule, the calibration and its record, and the threshold sanity limit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from inspector.bundle import BundleError, BundleMeta, read_meta, save_bundle, update_thresholds
from inspector.preprocess import Preprocessing
from inspector.result import Verdict
from inspector.verdict import (
    PLAUSIBLE_SPREADS,
    Calibration,
    ScoreStats,
    Thresholds,
    calibrate,
    fails,
    implausible_threshold_reason,
    judge,
    normalize,
    normalized_score,
    plausible_threshold_limit,
    threshold_for_false_reject_rate,
)

STATS = ScoreStats(good_median=10.0, good_max=12.0, good_count=50)

# training.calibration exactly as bundles written before the typed record hold it.
OLD_CALIBRATION = {
    "calibration_images": 8,
    "image_threshold": 13.819402456283569,
    "pixel_threshold": 0.7,
    "target_false_reject_rate": 0.01,
    "calibration_false_reject_rate": 0.0,
    "good_score_median": 10.0,
    "good_score_max": 12.0,
}


def test_normalize_anchors() -> None:
    # good median -> 0, threshold -> 0.5, threshold + (threshold - median) -> 1
    assert normalize(2.0, threshold=4.0, good_median=2.0) == pytest.approx(0.0)
    assert normalize(4.0, threshold=4.0, good_median=2.0) == pytest.approx(0.5)
    assert normalize(6.0, threshold=4.0, good_median=2.0) == pytest.approx(1.0)
    assert normalize(100.0, threshold=4.0, good_median=2.0) == pytest.approx(1.0)
    assert normalize(3.0, threshold=4.0, good_median=2.0) == pytest.approx(0.25)
    th = Thresholds(image=1.0, pixel=1.0)
    stats = ScoreStats(good_median=0.5, good_max=0.9, good_count=10)
    assert normalized_score(1.0, th, stats) == pytest.approx(0.5)


def test_at_the_threshold_passes_and_nothing_non_finite_does() -> None:
    th = Thresholds(image=1.0, pixel=1.0)
    assert judge(1.0, th) is Verdict.PASS
    assert judge(np.nextafter(1.0, 2.0), th) is Verdict.FAIL
    for score in (math.nan, math.inf, -math.inf):
        assert judge(score, th) is Verdict.FAIL, score
    np.testing.assert_array_equal(
        fails([0.5, 1.0, 1.5, math.nan, math.inf, -math.inf], 1.0),
        [False, False, True, True, True, True],
    )


def test_threshold_rejects_at_most_the_target_share() -> None:
    scores = np.arange(1, 101, dtype=float)  # 1..100
    t = threshold_for_false_reject_rate(scores, 0.05)
    assert t == pytest.approx(95.5)  # midpoint between the 95th and 96th score
    assert np.mean(fails(scores, t)) == pytest.approx(0.05)


def test_few_images_use_the_gaussian_tail() -> None:
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    t = threshold_for_false_reject_rate(scores, 0.01)  # 1 % of 4 images: reject none
    # mean 2.5 + 2.326 * sample std 1.291 = 5.503, above max + 5 % margin (4.075)
    assert t == pytest.approx(2.5 + 2.3263 * 1.2910, abs=1e-3)
    tight = np.array([10.0, 10.0, 10.0, 10.1])
    assert threshold_for_false_reject_rate(tight, 0.01) > 10.1


def test_calibration_errors() -> None:
    with pytest.raises(ValueError, match="no calibration scores"):
        threshold_for_false_reject_rate(np.array([]), 0.01)
    with pytest.raises(ValueError, match="false-reject rate"):
        threshold_for_false_reject_rate(np.array([1.0]), 1.5)
    with pytest.raises(ValueError, match="false-reject rate"):
        threshold_for_false_reject_rate(np.array([1.0]), 0.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        calibrate(np.array([1.0, math.nan]), np.ones(2), np.ones(2), 0.01, 25)


def test_calibrate_gives_thresholds_stats_and_their_record() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(10, 1, 200)
    th, stats, cal = calibrate(scores, scores * 0.9, scores * 0.3, 0.02, 30)
    assert cal.false_reject_rate <= 0.02
    assert th.pixel < th.image and th.min_defect_area_px == 30
    assert stats.good_count == 200 == cal.images
    assert stats.good_median == pytest.approx(np.median(scores)) == cal.good_score_median
    assert cal.image_threshold == th.image and cal.pixel_threshold == th.pixel
    # A calibrated threshold is always plausible for its own model.
    assert implausible_threshold_reason(th.image, stats, cal.image_threshold) is None


def test_calibration_record_keeps_the_bundle_json_layout_and_the_exact_float() -> None:
    cal = Calibration.from_json(OLD_CALIBRATION)
    assert cal.images == 8 and cal.false_reject_rate == 0.0
    assert cal.image_threshold == OLD_CALIBRATION["image_threshold"]  # exact, not rounded
    again = json.loads(json.dumps(cal.to_json()))
    assert again == OLD_CALIBRATION and Calibration.from_json(again) == cal


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("image_threshold"), "lacks image_threshold"),
        (lambda d: d.update(image_threshold="13.8"), "image_threshold must be a number"),
        (lambda d: d.update(calibration_images=-1), "calibration_images must be an integer"),
        (lambda d: d.update(good_score_max=math.nan), "good_score_max must be a finite"),
    ],
)
def test_a_bad_calibration_record_names_its_field(edit, message: str) -> None:
    d = dict(OLD_CALIBRATION)
    edit(d)
    with pytest.raises(ValueError, match=message):
        Calibration.from_json(d)
    with pytest.raises(ValueError, match="training.calibration"):
        Calibration.from_json(d)


def _bundle(tmp_path: Path, training: dict, image: float = 13.819402456283569) -> Path:
    meta = BundleMeta(
        family="cnn-cluster",
        model_config={"tag": "verdict"},
        preprocessing=Preprocessing(input_size=(64, 64)),
        thresholds=Thresholds(image=image, pixel=0.7),
        score_stats=STATS,
        training=training,
    )
    out = tmp_path / "model"
    save_bundle(out, torch.nn.Linear(4, 2), meta)
    return out


def test_a_bundle_exposes_its_calibration_record(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, {"fit_images": 32, "calibration": OLD_CALIBRATION})
    raw = json.loads((bundle / "bundle.json").read_text())
    assert raw["training"]["calibration"] == OLD_CALIBRATION  # the file's layout is kept
    meta = read_meta(bundle)
    assert meta.calibration == Calibration.from_json(OLD_CALIBRATION)
    assert meta.calibration.image_threshold == meta.thresholds.image


def test_a_bundle_without_calibration_loads_and_a_broken_one_is_named(tmp_path: Path) -> None:
    assert read_meta(_bundle(tmp_path / "a", {})).calibration is None
    bundle = _bundle(tmp_path / "b", {"calibration": OLD_CALIBRATION})
    path = bundle / "bundle.json"
    raw = json.loads(path.read_text())
    raw["training"]["calibration"]["pixel_threshold"] = None
    path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=r"bundle\.json.*training\.calibration\.pixel_threshold"):
        read_meta(bundle)


def test_plausible_limit() -> None:
    limit = plausible_threshold_limit(STATS)
    assert limit == 12.0 + PLAUSIBLE_SPREADS * 2.0
    assert implausible_threshold_reason(limit, STATS) is None
    reason = implausible_threshold_reason(1e308, STATS)
    assert reason is not None and "plausible limit 32" in reason and "at most 12" in reason
    assert implausible_threshold_reason(np.nextafter(limit, math.inf), STATS) is not None
    # Too low is loud (good parts fail), never silent: not refused.
    assert implausible_threshold_reason(-1e308, STATS) is None
    # A calibrated threshold above every good score moves the limit up with it.
    assert plausible_threshold_limit(STATS, calibrated=20.0) == 20.0 + PLAUSIBLE_SPREADS * 10.0
    # Identical good scores: a spread of 5 % of the score stands in for zero.
    flat = ScoreStats(good_median=4.0, good_max=4.0, good_count=3)
    assert plausible_threshold_limit(flat) == pytest.approx(4.0 + PLAUSIBLE_SPREADS * 0.2)
    # No good images scored: nothing to compare with.
    assert implausible_threshold_reason(1e308, ScoreStats(0.0, 0.0, 0)) is None


def test_an_implausible_threshold_is_refused_in_a_bundle_and_when_saved(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, {"calibration": OLD_CALIBRATION})
    with pytest.raises(ValueError, match="plausible limit"):
        update_thresholds(bundle, image=1e308)
    assert read_meta(bundle).thresholds.image == OLD_CALIBRATION["image_threshold"]
    update_thresholds(bundle, image=30.0)  # high, but within the limit
    path = bundle / "bundle.json"
    raw = json.loads(path.read_text())
    raw["thresholds"]["image"] = 1e308  # edited by hand
    path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=r"bundle\.json.*image threshold 1e\+308.*plausible"):
        read_meta(bundle)


def test_a_threshold_for_this_run_needs_confirmation_when_implausible(tmp_path: Path) -> None:
    meta = read_meta(_bundle(tmp_path, {"calibration": OLD_CALIBRATION}))
    with pytest.raises(ValueError, match="plausible limit"):
        meta.with_thresholds(image=1e308)
    assert meta.with_thresholds(allow_implausible=True, image=1e308).thresholds.image == 1e308
    with pytest.raises(ValueError, match="finite"):
        meta.with_thresholds(allow_implausible=True, image=math.inf)
