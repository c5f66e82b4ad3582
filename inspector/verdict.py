"""The verdict rule, written once: thresholds, score statistics, PASS/FAIL, the normalised
score, the false-reject-rate calibration and the sanity limit on a threshold a person sets.

The runtime, the station, the evaluation metrics and the reports all import from here, so a
score is judged the same way wherever it is shown or counted.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from inspector.result import Verdict

# A threshold more than this many good-score spreads above the highest good score (or the
# calibrated threshold, when higher) passes nearly any part: a slip, not a decision.
PLAUSIBLE_SPREADS = 10.0


def _require_number(name: str, value: object, allow_inf: bool) -> None:
    """Raise ValueError unless ``value`` is a real number (not NaN; inf only if allowed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if math.isnan(float(value)) or (not allow_inf and math.isinf(float(value))):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _require_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail settings, kept out of the exported graph.

    Attributes:
        image: image score above which a part FAILs.
        pixel: anomaly-map value above which a pixel belongs to a defect region.
        min_defect_area_px: regions smaller than this (original-image pixels) are not reported.
        target_false_reject_rate: the good-part reject rate the image threshold was set for.
    """

    image: float
    pixel: float
    min_defect_area_px: int = 25
    target_false_reject_rate: float = 0.01

    def __post_init__(self) -> None:
        # A NaN threshold would pass every part (any comparison with NaN is false), so bad
        # values are refused wherever thresholds are made. inf is allowed here (training's
        # placeholder before calibration, or "no regions" for pixels); a bundle or a user may
        # only set a finite image threshold (``finite_image_threshold``).
        _require_number("image threshold", self.image, allow_inf=True)
        _require_number("pixel threshold", self.pixel, allow_inf=True)
        _require_count("min_defect_area_px", self.min_defect_area_px)
        _require_number("target_false_reject_rate", self.target_false_reject_rate, False)
        if not 0.0 <= self.target_false_reject_rate <= 1.0:
            raise ValueError(
                f"target_false_reject_rate must be in [0, 1], got {self.target_false_reject_rate}"
            )


@dataclass(frozen=True)
class ScoreStats:
    """Image-score statistics of the held-out good images, for normalisation and display."""

    good_median: float
    good_max: float
    good_count: int
    pixel_good_median: float = 0.0

    def __post_init__(self) -> None:
        for name in ("good_median", "good_max", "pixel_good_median"):
            _require_number(name, getattr(self, name), allow_inf=False)


def finite_image_threshold(thresholds: Thresholds) -> Thresholds:
    """``thresholds`` if its image threshold is finite; an infinite one would pass (or
    fail) every part whatever its score, which no bundle or user should set."""
    if not math.isfinite(thresholds.image):
        raise ValueError(f"image threshold must be a finite number, got {thresholds.image}")
    return thresholds


def fails(scores: ArrayLike, threshold: float) -> np.ndarray:
    """Which scores FAIL at ``threshold``: all but the finite ones at or under it.

    Written as "PASS only if finite and at or under" so a NaN or infinite score, which says
    nothing about the part, never lets a part through.
    """
    s = np.asarray(scores, np.float64)
    return ~(np.isfinite(s) & (s <= threshold))


def judge(score: float, thresholds: Thresholds) -> Verdict:
    """PASS or FAIL of one image score (the rule of ``fails``)."""
    return Verdict.FAIL if fails(score, thresholds.image) else Verdict.PASS


def normalize(value: float | np.ndarray, threshold: float, good_median: float) -> np.ndarray:
    """Map raw scores to 0..1: the good median goes to 0, the threshold to 0.5.

    Linear on both sides of the threshold with the same slope, clipped, so an operator reads
    0.5 as "at the limit" whatever the model's own units are.
    """
    spread = max(threshold - good_median, 1e-12)
    return np.clip(0.5 + 0.5 * (np.asarray(value, np.float64) - threshold) / spread, 0.0, 1.0)


def normalized_score(score: float, thresholds: Thresholds, stats: ScoreStats) -> float:
    return float(normalize(score, thresholds.image, stats.good_median))


@dataclass(frozen=True)
class Calibration:
    """How the thresholds were calibrated on held-out good images (``training.calibration``
    in ``bundle.json``).

    Attributes:
        images: calibration images scored.
        image_threshold: the image threshold calibration chose, exactly as stored.
        pixel_threshold: the pixel threshold calibration chose.
        target_false_reject_rate: the good-part reject rate asked for.
        false_reject_rate: the reject rate the image threshold gives on the calibration images.
        good_score_median: median image score of the calibration images.
        good_score_max: highest image score of the calibration images.
    """

    images: int
    image_threshold: float
    pixel_threshold: float
    target_false_reject_rate: float
    false_reject_rate: float
    good_score_median: float
    good_score_max: float

    # Field name -> key in bundle.json (the file's layout predates this record).
    _KEYS = {
        "images": "calibration_images",
        "image_threshold": "image_threshold",
        "pixel_threshold": "pixel_threshold",
        "target_false_reject_rate": "target_false_reject_rate",
        "false_reject_rate": "calibration_false_reject_rate",
        "good_score_median": "good_score_median",
        "good_score_max": "good_score_max",
    }

    def __post_init__(self) -> None:
        for name, key in self._KEYS.items():
            if name == "images":
                _require_count(key, self.images)
            else:
                _require_number(key, getattr(self, name), allow_inf=name == "pixel_threshold")

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, name) for name, key in self._KEYS.items()}

    @classmethod
    def from_json(cls, d: object) -> Calibration:
        """The record from its ``bundle.json`` object (raises ValueError naming the field)."""
        if not isinstance(d, dict):
            raise ValueError(f"training.calibration must be an object, got {d!r}")
        missing = [key for key in cls._KEYS.values() if key not in d]
        if missing:
            raise ValueError(f"training.calibration lacks {', '.join(missing)}")
        try:
            return cls(**{name: d[key] for name, key in cls._KEYS.items()})
        except ValueError as exc:
            raise ValueError(f"training.calibration.{exc}") from None


def calibration_in(training: dict[str, Any]) -> Calibration | None:
    """The calibration record of a bundle's training summary; None when it has none."""
    raw = training.get("calibration")
    return None if raw is None else Calibration.from_json(raw)


def threshold_for_false_reject_rate(good_scores: ArrayLike, rate: float) -> float:
    """Threshold that should fail about ``rate`` of good parts like these.

    With enough calibration images the threshold lies between the empirical quantile's
    neighbours. With too few to reject even one (fewer than 1 / rate), the highest score says
    little about the tail, so the threshold is the larger of "just above the highest score"
    and a Gaussian tail estimate (mean + z * std at 1 - rate), which is what keeps a model
    calibrated on a handful of images from rejecting half the good parts.
    """
    s = np.sort(np.asarray(good_scores, np.float64))
    if s.size == 0:
        raise ValueError("no calibration scores")
    if not 0.0 < rate < 1.0:
        raise ValueError("false-reject rate must be in (0, 1)")
    allowed = int(np.floor(rate * s.size + 1e-9))  # good images we may reject
    if allowed == 0:
        above_max = s[-1] + 0.05 * max(s[-1] - np.median(s), 1e-6)
        if s.size < 2:
            return float(above_max)
        z = NormalDist().inv_cdf(1.0 - rate)
        return float(max(above_max, s.mean() + z * s.std(ddof=1)))
    keep = s.size - allowed
    return float((s[keep - 1] + s[keep]) / 2.0)


def calibrate(
    good_scores: ArrayLike,
    good_map_maxima: ArrayLike,
    good_map_medians: ArrayLike,
    target_false_reject_rate: float,
    min_defect_area_px: int,
) -> tuple[Thresholds, ScoreStats, Calibration]:
    """Image and pixel thresholds, score statistics and their record, from held-out good
    images.

    The pixel threshold is set like the image one but on each good map's maximum, so a good
    part shows a defect region no more often than it is falsely rejected.
    """
    scores = np.asarray(good_scores, np.float64)
    if not np.isfinite(scores).all():
        raise ValueError("calibration scores contain NaN or infinite values")
    image_t = threshold_for_false_reject_rate(scores, target_false_reject_rate)
    pixel_t = threshold_for_false_reject_rate(good_map_maxima, target_false_reject_rate)
    thresholds = Thresholds(
        image=image_t,
        pixel=pixel_t,
        min_defect_area_px=int(min_defect_area_px),
        target_false_reject_rate=float(target_false_reject_rate),
    )
    stats = ScoreStats(
        good_median=float(np.median(scores)),
        good_max=float(scores.max()),
        good_count=int(scores.size),
        pixel_good_median=float(np.median(np.asarray(good_map_medians, np.float64))),
    )
    record = Calibration(
        images=int(scores.size),
        image_threshold=image_t,
        pixel_threshold=pixel_t,
        target_false_reject_rate=float(target_false_reject_rate),
        false_reject_rate=float(np.mean(fails(scores, image_t))),
        good_score_median=stats.good_median,
        good_score_max=stats.good_max,
    )
    return thresholds, stats, record


def plausible_threshold_limit(stats: ScoreStats, calibrated: float | None = None) -> float:
    """The highest image threshold that still means something for a model with ``stats``.

    ``PLAUSIBLE_SPREADS`` times the good parts' spread (highest minus median score) above
    the highest good score, or above the calibrated threshold when that is higher (a
    calibration on few images may set it above every good score).
    """
    top = max(stats.good_max, calibrated) if calibrated is not None else stats.good_max
    spread = max(top - stats.good_median, 0.05 * abs(top), 1e-6)
    return top + PLAUSIBLE_SPREADS * spread


def implausible_threshold_reason(
    value: float, stats: ScoreStats, calibrated: float | None = None
) -> str | None:
    """Why an image threshold a person set is implausible, or None when it is plausible.

    Only the high side is checked: a threshold far above every good score passes defective
    parts without a sign, while one set too low fails good parts, which is loud and safe.
    Without score statistics (no good images scored) nothing can be said, so None.

    Args:
        value: the image threshold asked for.
        stats: the model's good-score statistics.
        calibrated: the calibrated image threshold, if known.
    """
    if stats.good_count <= 0:
        return None
    if not math.isfinite(value):
        return f"image threshold {value} is not a finite number"
    limit = plausible_threshold_limit(stats, calibrated)
    if value <= limit:
        return None
    return (
        f"image threshold {value:.6g} is above the plausible limit {limit:.6g} (good parts "
        f"scored at most {stats.good_max:.6g}, median {stats.good_median:.6g}): it would pass "
        "almost any part"
    )


def plausible_thresholds(
    thresholds: Thresholds, stats: ScoreStats, calibrated: float | None = None
) -> Thresholds:
    """``thresholds`` if its image threshold is finite and plausible, else ValueError."""
    reason = implausible_threshold_reason(
        finite_image_threshold(thresholds).image, stats, calibrated
    )
    if reason is not None:
        raise ValueError(reason)
    return thresholds
