"""Evaluation metrics: image and pixel AUROC, AUPRO, F1 and the reject rates of an operating point.

Conventions shared by every function:

* A higher score means more anomalous. Labels are 1 (or True) for anomalous, 0 for good;
  masks count any nonzero pixel as anomalous, so bool, 0/1 and 0/255 masks all work.
* The ranking metrics (`roc_curve`, `auroc`, `pixel_auroc`, `aupro`) need no threshold; a point
  of `roc_curve` counts the samples with ``score >= threshold`` as the standard ROC does.
* The operating-point metrics (`f1_at_threshold`, `rates_at_threshold`) flag samples with the
  product's verdict rule (`inspector.verdict.fails`): a score exactly on the threshold passes,
  and a NaN or infinite score is anomalous (FAIL), as the runtime and the station judge it.
  `best_f1_threshold` ranks finite scores and returns a threshold for that same rule.

Pixel metrics are sized for ~100 maps of 512x512 (26M pixels). Each score is converted to float32
(scores closer than float32 resolution tie) and packed with its label or region id into one
uint64 key per pixel: one in-place ``np.sort`` (several times faster than an argsort plus
gathers) then ranks them. Only the few runs of tied scores that hold anomalous pixels shape the
area left of a curve, so after one scan for those, all work is on small arrays.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import ArrayLike

from inspector.verdict import fails

# Column of the high (score) and low (label / region) half of a uint64 key viewed as two uint32s.
_HI, _LO = (1, 0) if sys.byteorder == "little" else (0, 1)


def _image_inputs(
    scores: ArrayLike, labels: ArrayLike, finite: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Validates image-level inputs and returns them as float64 scores and bool labels.

    ``finite=False`` lets NaN and infinite scores through, for the metrics that judge each
    sample by the verdict rule (which fails them) rather than rank the scores.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if s.size != y.size:
        raise ValueError(f"scores and labels differ in length: {s.size} vs {y.size}")
    if s.size == 0:
        raise ValueError("scores and labels are empty")
    if finite and not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    if y.dtype != bool and not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be bool or 0/1, got values {np.unique(y)[:10]}")
    return s, y.astype(bool)


def _require_both_classes(n_positive: int, n_total: int, what: str) -> None:
    if n_positive == 0 or n_positive == n_total:
        present = "anomalous" if n_positive else "good"
        raise ValueError(f"{what} needs both good and anomalous samples, got only {present} ones")


def _threshold(threshold: float) -> float:
    t = float(threshold)
    if math.isnan(t):
        raise ValueError("threshold is NaN")
    return t


def _run_ends(sorted_values: np.ndarray) -> np.ndarray:
    """Indices of the last element of each run of equal values (tied scores pass together)."""
    ends = np.flatnonzero(sorted_values[1:] != sorted_values[:-1])
    return np.append(ends, sorted_values.size - 1)


def _image_counts(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores, highest first, with the anomalous and good counts scoring >= each."""
    order = np.argsort(s)[::-1]
    s_desc = s[order]
    ends = _run_ends(s_desc)
    tps = np.cumsum(y[order], dtype=np.int64)[ends]
    return s_desc[ends], tps, ends + 1 - tps


def _auc(
    d_tp: np.ndarray, fp_before: np.ndarray, fp_through: np.ndarray, n_pos: int, n_neg: int
) -> float:
    """Trapezoid area under the ROC curve from the runs of tied scores holding anomalous samples.

    For each such run: its anomalous count ``d_tp`` and the good samples scoring above it
    (``fp_before``) and above or tied with it (``fp_through``). Runs of good samples only add
    horizontal segments, so the area is 1 minus the area left of the curve, the sum of
    d_tp * (fp_before + fp_through) / 2. In integers that is the exact Mann-Whitney statistic
    (a tie between a good and an anomalous sample earns half credit), rounded once at the end.
    """
    twice_left = int(np.dot(d_tp.astype(np.int64), (fp_before + fp_through).astype(np.int64)))
    return (2 * n_pos * n_neg - twice_left) / (2 * n_pos * n_neg)


def _descending_key(score_map: np.ndarray, name: str) -> np.ndarray:
    """uint32 keys of a map's float32 scores whose ascending order is descending score order.

    NaN is rejected, so no key is 0xFFFFFFFF and key + 1 stays within 32 bits.
    """
    # Adding +0.0 copies and turns -0.0 into +0.0, which would otherwise get a key of its own.
    f = np.asarray(score_map, dtype=np.float32).ravel() + np.float32(0.0)
    if not np.isfinite(f).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    u = f.view(np.uint32)
    # IEEE-754 bits order like the floats once negatives are fully inverted and positives get the
    # sign bit; inverting that key again makes the highest score the smallest key.
    return np.where(u >= 0x80000000, u, ~u & np.uint32(0x7FFFFFFF))


def _pack_pixels(
    maps: Sequence[ArrayLike], masks: Sequence[ArrayLike], regions: bool
) -> tuple[np.ndarray, int, np.ndarray]:
    """Packs every pixel into a uint64 key: descending-score key high, label or region id low.

    Args:
        maps: 2-D anomaly maps.
        masks: ground-truth masks of the same shapes.
        regions: store the global 8-connected region id (0 for normal pixels) instead of 0/1.

    Returns:
        The unsorted keys, the anomalous pixel count and the pixel count of each region (region
        id i + 1 at index i; empty unless ``regions``).
    """
    maps_a = [np.asarray(m) for m in maps]
    masks_a = [np.asarray(m) for m in masks]
    if len(maps_a) != len(masks_a):
        raise ValueError(f"got {len(maps_a)} maps but {len(masks_a)} masks")
    if not maps_a:
        raise ValueError("maps and masks are empty")
    for i, (m, k) in enumerate(zip(maps_a, masks_a, strict=True)):
        if m.ndim != 2:
            raise ValueError(f"maps[{i}] must be 2-D, got shape {m.shape}")
        if k.shape != m.shape:
            raise ValueError(f"masks[{i}] has shape {k.shape} but maps[{i}] has {m.shape}")

    # Filling a preallocated array avoids holding the per-image copies and their concatenation.
    keys = np.empty(sum(m.size for m in maps_a), dtype=np.uint64)
    sizes: list[np.ndarray] = []
    n_regions = n_anomalous = 0
    offset = 0
    for i, (m, k) in enumerate(zip(maps_a, masks_a, strict=True)):
        out = keys[offset : offset + m.size]
        offset += m.size
        np.left_shift(_descending_key(m, f"maps[{i}]").astype(np.uint64), np.uint64(32), out=out)
        if regions:
            count, lab = cv2.connectedComponents((k != 0).astype(np.uint8), connectivity=8)
            low = lab.ravel().astype(np.uint64)
            low[low > 0] += np.uint64(n_regions)  # ids unique across images
            sizes.append(np.bincount(lab.ravel(), minlength=count)[1:])
            n_regions += count - 1
        else:
            low = (k != 0).ravel().astype(np.uint64)
        n_anomalous += int(np.count_nonzero(low))
        out |= low
    region_sizes = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int64)
    return keys, n_anomalous, region_sizes


def _anomalous_runs(keys: np.ndarray) -> tuple[np.ndarray, ...]:
    """Finds the runs of tied scores holding anomalous pixels in keys sorted ascending.

    Anomalous pixels are rare, so everything past one scan for them works on small arrays.

    Returns:
        ``(low, a_before, a_through, n_before, n_through)``: the low halves (label or region id)
        of the anomalous pixels, highest score first; then for each run, highest score first,
        the anomalous and the normal pixels scoring above it and above or tied with it.
    """
    halves = keys.view(np.uint32).reshape(-1, 2)
    pos = np.flatnonzero(halves[:, _LO])
    hi = halves[pos, _HI].astype(np.uint64)
    a_before = np.flatnonzero(np.concatenate(([True], hi[1:] != hi[:-1])))
    a_through = np.append(a_before[1:], pos.size)
    hi = hi[a_before]
    # With the label or region id in the low half, key hi << 32 sorts first in its run of ties.
    start = np.searchsorted(keys, hi << np.uint64(32))
    stop = np.searchsorted(keys, (hi + np.uint64(1)) << np.uint64(32))
    return halves[pos, _LO], a_before, a_through, start - a_before, stop - a_through


def roc_curve(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve with one point per distinct score.

    Args:
        scores: 1-D scores, higher is more anomalous.
        labels: 1-D labels, 1 / True for anomalous.

    Returns:
        ``(fpr, tpr, thresholds)``: float64 arrays, thresholds descending. Point i is the rate of
        good (fpr) and anomalous (tpr) samples with ``score >= thresholds[i]``; the first point
        has threshold +inf and is (0, 0), the last is (1, 1).

    Raises:
        ValueError: on malformed inputs or when only one class is present.
    """
    s, y = _image_inputs(scores, labels)
    _require_both_classes(int(y.sum()), y.size, "roc_curve")
    thresholds, tps, fps = _image_counts(s, y)
    fpr = np.concatenate(([0.0], fps / fps[-1]))
    tpr = np.concatenate(([0.0], tps / tps[-1]))
    return fpr, tpr, np.concatenate(([np.inf], thresholds))


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve; ties between a good and an anomalous sample count half.

    Args:
        scores: 1-D scores, higher is more anomalous.
        labels: 1-D labels, 1 / True for anomalous.

    Returns:
        The AUROC in [0, 1]: 1 for a perfect detector, 0 for an inverted one.

    Raises:
        ValueError: on malformed inputs or when only one class is present.
    """
    s, y = _image_inputs(scores, labels)
    _require_both_classes(int(y.sum()), y.size, "auroc")
    _, tps, fps = _image_counts(s, y)
    fp_before = np.concatenate(([0], fps[:-1]))
    return _auc(np.diff(tps, prepend=0), fp_before, fps, int(tps[-1]), int(fps[-1]))


def pixel_auroc(maps: Sequence[ArrayLike], masks: Sequence[ArrayLike]) -> float:
    """AUROC over all pixels of all maps together.

    Args:
        maps: 2-D anomaly maps (or an (N, H, W) array), compared at float32 precision.
        masks: ground-truth masks of the same shapes; nonzero is anomalous.

    Returns:
        The pixel AUROC.

    Raises:
        ValueError: on mismatched or malformed inputs or when only one class is present.
    """
    keys, n_pos, _ = _pack_pixels(maps, masks, regions=False)
    _require_both_classes(n_pos, keys.size, "pixel_auroc")
    keys.sort()  # in place: no second 8-byte-per-pixel array
    _, a_before, a_through, n_before, n_through = _anomalous_runs(keys)
    return _auc(a_through - a_before, n_before, n_through, n_pos, keys.size - n_pos)


def aupro(maps: Sequence[ArrayLike], masks: Sequence[ArrayLike], fpr_limit: float = 0.3) -> float:
    """Normalised area under the per-region-overlap (PRO) curve up to a false positive rate.

    Regions are the 8-connected components of each mask. At threshold t, PRO(t) is the mean over
    all regions of all images of the fraction of the region's pixels with score >= t, and FPR(t)
    is the fraction of all normal pixels with score >= t. The curve has one point per distinct
    score, is cut at exactly ``fpr_limit`` by linear interpolation and integrated with the
    trapezoid rule.

    Args:
        maps: 2-D anomaly maps (or an (N, H, W) array), compared at float32 precision.
        masks: ground-truth masks of the same shapes; nonzero is anomalous.
        fpr_limit: upper FPR limit of the integral, in (0, 1].

    Returns:
        The area divided by ``fpr_limit`` (1.0 for a perfect map), or nan when the masks hold
        no anomalous region.

    Raises:
        ValueError: on mismatched or malformed inputs, a bad limit, or no normal pixel.
    """
    limit = float(fpr_limit)
    if not 0.0 < limit <= 1.0:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    keys, n_anomalous, sizes = _pack_pixels(maps, masks, regions=True)
    if sizes.size == 0:
        return math.nan
    n_normal = keys.size - n_anomalous
    if n_normal == 0:
        raise ValueError("aupro needs normal pixels to measure the false positive rate")

    keys.sort()  # in place: no second 8-byte-per-pixel array
    region, a_before, a_through, n_before, n_through = _anomalous_runs(keys)
    # Each anomalous pixel adds 1 / (its region's size * the region count) to PRO.
    weight = np.concatenate(([0.0], 1.0 / (sizes * float(sizes.size))))
    pro = np.concatenate(([0.0], np.cumsum(weight[region])))
    # Between runs holding anomalous pixels only normal pixels pass, moving the curve along a
    # horizontal line: the points entering and leaving those runs, joined by straight lines,
    # are the whole curve, from (0, 0) to (1, 1).
    x = np.empty(2 * a_before.size + 2)
    y = np.empty_like(x)
    x[0], y[0], x[-1], y[-1] = 0.0, 0.0, 1.0, pro[-1]
    x[1:-1:2], y[1:-1:2] = n_before / n_normal, pro[a_before]
    x[2:-1:2], y[2:-1:2] = n_through / n_normal, pro[a_through]

    j = int(np.searchsorted(x, limit))  # first point with x >= limit; x[0] = 0 < limit
    y_limit = y[j - 1] + (y[j] - y[j - 1]) * (limit - x[j - 1]) / (x[j] - x[j - 1])
    x = np.append(x[:j], limit)
    y = np.append(y[:j], y_limit)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2.0 / limit)


def _confusion(s: np.ndarray, y: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    flagged = fails(s, threshold)
    tp = int(np.count_nonzero(flagged & y))
    fp = int(np.count_nonzero(flagged)) - tp
    fn = int(np.count_nonzero(y)) - tp
    return tp, fp, y.size - tp - fp - fn, fn


def f1_at_threshold(
    scores: ArrayLike, labels: ArrayLike, threshold: float
) -> dict[str, float | int]:
    """Precision, recall and F1 when each sample is judged by the verdict rule.

    Args:
        scores: 1-D scores, higher is more anomalous; NaN or infinite ones are anomalous.
        labels: 1-D labels, 1 / True for anomalous.
        threshold: the decision threshold; a score equal to it is judged good.

    Returns:
        ``precision``, ``recall``, ``f1`` (floats; 0.0 where the denominator is zero, e.g.
        precision with nothing flagged) and the counts ``tp``, ``fp``, ``tn``, ``fn`` (ints).

    Raises:
        ValueError: on malformed inputs or a NaN threshold.
    """
    s, y = _image_inputs(scores, labels, finite=False)
    tp, fp, tn, fn = _confusion(s, y, _threshold(threshold))
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def best_f1_threshold(scores: ArrayLike, labels: ArrayLike) -> tuple[float, float]:
    """Threshold maximising F1 under the verdict rule (a score above it FAILs).

    Every way of flagging the k highest distinct scores is tried. The threshold returned lies
    midway between the lowest flagged and the highest unflagged distinct score (or is the float
    just below the minimum when flagging everything wins), so it is robust to small score drift.
    Among equal F1 values the highest threshold wins, which rejects the fewest good parts.

    Args:
        scores: 1-D scores, higher is more anomalous.
        labels: 1-D labels, 1 / True for anomalous.

    Returns:
        ``(threshold, f1)``; ``f1_at_threshold`` at that threshold gives the same F1.

    Raises:
        ValueError: on malformed inputs or when only one class is present.
    """
    s, y = _image_inputs(scores, labels)
    n_pos = int(y.sum())
    _require_both_classes(n_pos, y.size, "best_f1_threshold")
    distinct, tps, fps = _image_counts(s, y)
    f1 = 2 * tps / (tps + fps + n_pos)  # 2tp / (2tp + fp + fn) with fn = n_pos - tp
    i = int(np.argmax(f1))
    hi = distinct[i]
    if i + 1 == distinct.size:
        return float(np.nextafter(hi, -np.inf)), float(f1[i])
    lo = distinct[i + 1]
    mid = hi / 2 + lo / 2  # halves first: no overflow near the float limits
    # Between adjacent floats the midpoint rounds onto one of them; lo is then the only
    # threshold that flags hi and not lo.
    return float(mid if lo <= mid < hi else lo), float(f1[i])


def rates_at_threshold(
    scores: ArrayLike, labels: ArrayLike, threshold: float
) -> dict[str, float | int]:
    """Line-side error rates when each sample is judged by the verdict rule.

    Args:
        scores: 1-D scores, higher is more anomalous; NaN or infinite ones are anomalous.
        labels: 1-D labels, 1 / True for anomalous.
        threshold: the decision threshold; a score equal to it is judged good.

    Returns:
        ``false_reject_rate`` (good parts judged anomalous / good parts) and ``miss_rate``
        (anomalous parts judged good / anomalous parts), floats that are nan when their class is
        absent, plus the ints ``false_rejects``, ``misses``, ``n_good`` and ``n_anomalous``.

    Raises:
        ValueError: on malformed inputs or a NaN threshold.
    """
    s, y = _image_inputs(scores, labels, finite=False)
    tp, fp, tn, fn = _confusion(s, y, _threshold(threshold))
    n_good, n_anomalous = fp + tn, tp + fn
    return {
        "false_reject_rate": fp / n_good if n_good else math.nan,
        "miss_rate": fn / n_anomalous if n_anomalous else math.nan,
        "false_rejects": fp,
        "misses": fn,
        "n_good": n_good,
        "n_anomalous": n_anomalous,
    }
