"""Tests of training.metrics against hand-computed values and slow reference implementations."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage.measure import label as sk_label

from training.metrics import (
    aupro,
    auroc,
    best_f1_threshold,
    f1_at_threshold,
    pixel_auroc,
    rates_at_threshold,
    roc_curve,
)

# ---------------------------------------------------------------------------------------------
# AUROC


def test_auroc_small_example() -> None:
    # Anomalous 0.35 beats good 0.1 but not 0.4; anomalous 0.8 beats both: 3 of 4 pairs.
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)


def test_auroc_tie_between_classes_earns_half() -> None:
    # Pairs (anomalous, good): (0.5, 0.2) win, (0.5, 0.5) tie = 0.5, (0.9, 0.2) and (0.9, 0.5)
    # win: (1 + 0.5 + 2) / 4 = 0.875.
    assert auroc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]) == pytest.approx(0.875)
    # Every pair tied: 0.5.
    assert auroc([0.3, 0.3, 0.3], [0, 1, 1]) == pytest.approx(0.5)


def test_auroc_ties_within_a_class_do_not_matter() -> None:
    assert auroc([0.3, 0.3, 0.7, 0.7], [False, False, True, True]) == 1.0


def test_auroc_perfect_and_inverted() -> None:
    assert auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auroc([0.8, 0.9, 0.1, 0.2], [0, 0, 1, 1]) == 0.0


def test_roc_curve_points() -> None:
    # Thresholds inf, 0.9, 0.5, 0.2 flag {}, {0.9}, {0.9, 0.5, 0.5}, all (score >= t):
    # tpr 0, 1/2, 1, 1 and fpr 0, 0, 1/2, 1. Trapezoids: 0 + 0.5 * 0.75 + 0.5 * 1 = 0.875.
    fpr, tpr, thr = roc_curve([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1])
    np.testing.assert_array_equal(thr, [np.inf, 0.9, 0.5, 0.2])
    assert np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2) == pytest.approx(0.875)


def test_auroc_matches_pairwise_brute_force() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 7, 50, 400):
        scores = rng.integers(0, 10, n) / 10  # few levels: many ties, within and across classes
        labels = rng.random(n) < 0.3
        labels[:2] = [False, True]
        pos, neg = scores[labels], scores[~labels]
        wins = np.sum(pos[:, None] > neg[None, :]) + 0.5 * np.sum(pos[:, None] == neg[None, :])
        assert auroc(scores, labels) == pytest.approx(wins / (pos.size * neg.size), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Pixel AUROC


def test_pixel_auroc_hand_example() -> None:
    # 2x2 anomalous block scoring 0.8, 0.8, 0.9, 0.5; the 12 normal pixels are nine 0.1, two 0.6
    # and one 0.9. Normals beaten per anomalous pixel (ties half): 11 + 11 + (11 + 0.5) + 9
    # = 42.5 of 4 * 12 = 48 pairs -> 85/96.
    score_map = np.array(
        [
            [0.1, 0.1, 0.1, 0.6],
            [0.1, 0.8, 0.8, 0.1],
            [0.1, 0.9, 0.5, 0.6],
            [0.9, 0.1, 0.1, 0.1],
        ],
        dtype=np.float32,
    )
    mask = np.zeros((4, 4), np.uint8)
    mask[1:3, 1:3] = 255
    assert pixel_auroc([score_map], [mask]) == pytest.approx(85 / 96)
    # Split into two images, as an (N, H, W) array, and with a bool mask: same pixels, same value.
    assert pixel_auroc([score_map[:2], score_map[2:]], [mask[:2], mask[2:]]) == pytest.approx(
        85 / 96
    )
    assert pixel_auroc(score_map[None], (mask > 0)[None]) == pytest.approx(85 / 96)


def test_pixel_auroc_matches_auroc_with_negative_scores_and_signed_zeros() -> None:
    rng = np.random.default_rng(1)
    maps = [(rng.integers(-20, 20, (9, 13)) / 7).astype(np.float32) for _ in range(3)]
    maps[0][0, :4] = [-0.0, 0.0, -0.0, 0.0]
    masks = [rng.random((9, 13)) < 0.2 for _ in range(3)]
    masks[0][0, :4] = [True, False, False, True]
    expected = auroc(
        np.concatenate([m.ravel() for m in maps]), np.concatenate([k.ravel() for k in masks])
    )
    assert pixel_auroc(maps, masks) == pytest.approx(expected, abs=1e-12)


def test_pixel_auroc_signed_zeros_tie() -> None:
    assert pixel_auroc([np.array([[-0.0, 0.0]])], [np.array([[0, 1]])]) == 0.5


# ---------------------------------------------------------------------------------------------
# AUPRO

# 3x4 map. Region A = (0,0); region B = (1,2), (2,1), (2,3), one region only because diagonal
# neighbours join under 8-connectivity. The 8 other pixels are normal: FPR moves in steps of 1/8.
_PRO_MASK = np.array(
    [
        [1, 0, 0, 0],
        [0, 0, 1, 0],
        [0, 1, 0, 1],
    ],
    dtype=np.uint8,
)
_PRO_MAP = np.array(
    [
        [0.9, 0.1, 0.1, 0.1],
        [0.1, 0.6, 0.8, 0.1],
        [0.4, 0.5, 0.1, 0.4],
    ],
    dtype=np.float32,
)
# Distinct thresholds, highest first (PRO = mean of the two region overlaps):
#   t=0.9: A 1, B 0    -> PRO 1/2,  FPR 0
#   t=0.8: A 1, B 1/3  -> PRO 2/3,  FPR 0
#   t=0.6: normal 0.6  -> PRO 2/3,  FPR 1/8
#   t=0.5: B 2/3       -> PRO 5/6,  FPR 1/8
#   t=0.4: B 3/3 and the normal 0.4 tie -> PRO 1, FPR 2/8 (a diagonal segment)
#   t=0.1: everything  -> PRO 1,    FPR 1


def test_aupro_hand_example_interpolates_inside_a_segment() -> None:
    # Up to FPR 0.2: [0, 1/8] at PRO 2/3 gives 1/12. On the diagonal (1/8, 5/6) -> (1/4, 1), PRO
    # at 0.2 is 5/6 + (1/6) * (0.075 / 0.125) = 14/15, so [1/8, 0.2] gives
    # 0.075 * (5/6 + 14/15) / 2 = 53/800. Total 359/2400, divided by 0.2: 359/480.
    assert aupro([_PRO_MAP], [_PRO_MASK], fpr_limit=0.2) == pytest.approx(359 / 480)


def test_aupro_hand_example_limit_on_a_point() -> None:
    # Up to FPR 1/8: the flat PRO 2/3 all the way, normalised by 1/8: 2/3.
    assert aupro([_PRO_MAP], [_PRO_MASK], fpr_limit=0.125) == pytest.approx(2 / 3)


def test_aupro_hand_example_full_range() -> None:
    # Up to FPR 1: 1/12 + 53/800 (as above) + [0.2, 1/4] at (14/15 + 1) / 2 = 29/30 over 0.05
    # = 29/600, + [1/4, 1] at PRO 1 = 3/4. Sum = (200 + 159 + 116 + 1800) / 2400 = 2275/2400.
    assert aupro([_PRO_MAP], [_PRO_MASK], fpr_limit=1.0) == pytest.approx(2275 / 2400)


def test_aupro_perfect_map_is_one() -> None:
    rng = np.random.default_rng(2)
    masks = [np.zeros((32, 32), np.uint8) for _ in range(3)]
    cv2.circle(masks[0], (8, 8), 5, 255, -1)
    cv2.rectangle(masks[0], (20, 20), (30, 22), 255, -1)
    cv2.circle(masks[2], (16, 16), 2, 255, -1)
    # Every anomalous pixel above every normal one, but with spread inside each class.
    maps = [(k > 0) + 0.5 * rng.random(k.shape) for k in masks]
    assert aupro(maps, masks) == pytest.approx(1.0)
    assert aupro(maps, masks, fpr_limit=0.01) == pytest.approx(1.0)


def test_aupro_without_regions_is_nan() -> None:
    assert math.isnan(aupro([np.random.default_rng(3).random((8, 8))], [np.zeros((8, 8))]))


def _slow_aupro(maps: list[np.ndarray], masks: list[np.ndarray], fpr_limit: float) -> float:
    """Reference: one threshold at a time, regions from skimage instead of cv2."""
    normal = np.concatenate([m[k == 0] for m, k in zip(maps, masks, strict=True)])
    regions = [
        m[lab == r]
        for m, k in zip(maps, masks, strict=True)
        for lab in [sk_label(k > 0, connectivity=2)]
        for r in range(1, lab.max() + 1)
    ]
    thresholds = np.unique(np.concatenate([m.ravel() for m in maps]))[::-1]
    xs, ys = [0.0], [0.0]
    for t in thresholds:
        xs.append(float(np.mean(normal >= t)))
        ys.append(float(np.mean([np.mean(r >= t) for r in regions])))
    area = 0.0
    for x0, y0, x1, y1 in zip(xs[:-1], ys[:-1], xs[1:], ys[1:], strict=True):
        if x0 >= fpr_limit:
            break
        if x1 > fpr_limit:
            y1 = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
            x1 = fpr_limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area / fpr_limit


@pytest.mark.parametrize("fpr_limit", [0.05, 0.3, 1.0])
def test_aupro_matches_slow_reference(fpr_limit: float) -> None:
    rng = np.random.default_rng(4)
    maps, masks = [], []
    for _ in range(4):
        seeds = (rng.random((24, 24)) < 0.015).astype(np.uint8)
        size = int(rng.integers(0, 2))
        # Single pixels, 3x3 squares and merged blobs: ~24 regions of very different sizes.
        mask = cv2.dilate(seeds, np.ones((2 * size + 1,) * 2, np.uint8))
        noise = rng.integers(-100, 100, mask.shape) / 99  # ~200 levels: ties across classes
        # float32 from the start, so both implementations see exactly the same thresholds.
        maps.append((noise + 0.8 * mask).astype(np.float32))
        masks.append(mask * 255)
    assert sum(int(sk_label(k > 0, connectivity=2).max()) for k in masks) >= 10
    expected = _slow_aupro(maps, masks, fpr_limit)
    assert aupro(maps, masks, fpr_limit=fpr_limit) == pytest.approx(expected, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# Operating points (anomalous when score > threshold)

_SCORES = [0.1, 0.4, 0.5, 0.5, 0.9]
_LABELS = [0, 1, 0, 1, 1]


def test_f1_at_threshold_score_on_threshold_passes() -> None:
    # t=0.5 flags only 0.9 (0.5 is not > 0.5): tp 1, fp 0, fn 2 (0.4, 0.5), tn 2.
    # Precision 1, recall 1/3, F1 = 2 / (2 + 0 + 2) = 0.5.
    r = f1_at_threshold(_SCORES, _LABELS, 0.5)
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (1, 0, 2, 2)
    assert r["precision"] == pytest.approx(1.0)
    assert r["recall"] == pytest.approx(1 / 3)
    assert r["f1"] == pytest.approx(0.5)


def test_f1_at_threshold_below_a_tie() -> None:
    # t=0.45 flags 0.5, 0.5, 0.9: tp 2, fp 1, fn 1 (0.4), tn 1. All three ratios 2/3.
    r = f1_at_threshold(_SCORES, _LABELS, 0.45)
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (2, 1, 1, 1)
    assert (r["precision"], r["recall"], r["f1"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))


def test_f1_at_threshold_nothing_flagged_is_zero_not_an_error() -> None:
    r = f1_at_threshold(_SCORES, _LABELS, 1.0)
    assert (r["precision"], r["recall"], r["f1"]) == (0.0, 0.0, 0.0)


def test_best_f1_threshold() -> None:
    # Flagging the top distinct groups (3 anomalous in all, F1 = 2tp / (tp + fp + 3)):
    #   {0.9}: tp 1, fp 0 -> 0.5;  + {0.5, 0.5}: tp 2, fp 1 -> 2/3;  + {0.4}: tp 3, fp 1 -> 6/7;
    #   + {0.1}: tp 3, fp 2 -> 0.75. Best 6/7, threshold midway between 0.4 and 0.1: 0.25.
    threshold, f1 = best_f1_threshold(_SCORES, _LABELS)
    assert threshold == pytest.approx(0.25)
    assert f1 == pytest.approx(6 / 7)
    assert f1_at_threshold(_SCORES, _LABELS, threshold)["f1"] == pytest.approx(f1)


def test_best_f1_threshold_flag_everything() -> None:
    # {0.7}: tp 1, fp 0 -> 2 / (1 + 0 + 2) = 2/3; all: tp 2, fp 1 -> 4/5. Below the minimum.
    threshold, f1 = best_f1_threshold([0.5, 0.5, 0.7], [1, 0, 1])
    assert threshold < 0.5
    assert f1 == pytest.approx(0.8)
    assert f1_at_threshold([0.5, 0.5, 0.7], [1, 0, 1], threshold)["f1"] == pytest.approx(0.8)


def test_best_f1_threshold_adjacent_floats() -> None:
    # No float lies between a and its successor: the threshold must be a itself.
    a = 0.3
    b = float(np.nextafter(a, 1.0))
    threshold, f1 = best_f1_threshold([a, b], [0, 1])
    assert (threshold, f1) == (a, 1.0)
    assert f1_at_threshold([a, b], [0, 1], threshold)["f1"] == 1.0


def test_rates_at_threshold() -> None:
    # Good 0.2, 0.6, 0.3: 0.6 > 0.5 is rejected -> 1/3. Anomalous 0.8, 0.4: 0.4 missed -> 1/2.
    r = rates_at_threshold([0.2, 0.6, 0.3, 0.8, 0.4], [0, 0, 0, 1, 1], 0.5)
    assert r["false_reject_rate"] == pytest.approx(1 / 3)
    assert r["miss_rate"] == pytest.approx(0.5)
    assert (r["false_rejects"], r["misses"], r["n_good"], r["n_anomalous"]) == (1, 1, 3, 2)
    # A score on the threshold passes.
    assert rates_at_threshold([0.5], [0], 0.5)["false_reject_rate"] == 0.0


def test_rates_at_threshold_missing_class_is_nan() -> None:
    r = rates_at_threshold([0.2, 0.6], [0, 0], 0.5)
    assert r["false_reject_rate"] == 0.5
    assert math.isnan(r["miss_rate"])


def test_python_types() -> None:
    assert type(auroc([0.1, 0.9], [0, 1])) is float
    assert type(pixel_auroc([np.eye(2)], [np.eye(2)])) is float
    assert type(aupro([np.eye(3)], [np.eye(3)])) is float
    r = f1_at_threshold([0.1, 0.9], [0, 1], 0.5)
    assert type(r["f1"]) is float and type(r["tp"]) is int
    assert all(type(v) is float for v in best_f1_threshold([0.1, 0.9], [0, 1]))


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("func", [auroc, roc_curve, best_f1_threshold])
def test_one_class_raises(func) -> None:
    with pytest.raises(ValueError, match="only good"):
        func([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="only anomalous"):
        func([0.1, 0.2], [1, 1])


def test_image_input_errors() -> None:
    with pytest.raises(ValueError, match="differ in length: 3 vs 2"):
        auroc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="scores must be 1-D"):
        auroc([[0.1, 0.2]], [0, 1])
    with pytest.raises(ValueError, match="labels must be bool or 0/1"):
        auroc([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="NaN"):
        auroc([0.1, np.nan], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        f1_at_threshold([], [], 0.5)
    with pytest.raises(ValueError, match="threshold is NaN"):
        rates_at_threshold([0.1], [0], math.nan)


def test_pixel_input_errors() -> None:
    m = np.zeros((4, 4))
    k = np.eye(4)
    for func in (pixel_auroc, aupro):
        with pytest.raises(ValueError, match=r"masks\[1\] has shape \(4, 3\)"):
            func([m, m], [k, k[:, :3]])
        with pytest.raises(ValueError, match="2 maps but 1 masks"):
            func([m, m], [k])
        with pytest.raises(ValueError, match=r"maps\[0\] must be 2-D"):
            func([m[None]], [k[None]])
        with pytest.raises(ValueError, match="empty"):
            func([], [])
        with pytest.raises(ValueError, match="NaN"):
            func([np.full((4, 4), np.nan)], [k])
    with pytest.raises(ValueError, match="only good"):
        pixel_auroc([m], [np.zeros((4, 4))])
    with pytest.raises(ValueError, match="fpr_limit"):
        aupro([m], [k], fpr_limit=0.0)
    with pytest.raises(ValueError, match="fpr_limit"):
        aupro([m], [k], fpr_limit=1.5)
    with pytest.raises(ValueError, match="normal pixels"):
        aupro([m], [np.ones((4, 4))])


def test_operating_point_metrics_fail_non_finite_scores_as_the_runtime_does() -> None:
    scores = [0.2, math.nan, math.inf, -math.inf, 0.5]
    r = rates_at_threshold(scores, [0, 0, 0, 0, 0], 0.5)
    assert r["false_rejects"] == 3  # NaN and both infinities; 0.5 on the threshold passes
    f1 = f1_at_threshold(scores, [0, 1, 1, 1, 0], 0.5)
    assert (f1["tp"], f1["fp"], f1["fn"]) == (3, 0, 0)
    with pytest.raises(ValueError, match="NaN"):
        auroc(scores, [0, 1, 1, 1, 0])  # ranking needs real scores
