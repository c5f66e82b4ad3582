"""What the Retrain tab compares between the current model and a candidate, and which way
is better for each figure. Qt-free, so the rule is tested without widgets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from inspector.bundle import BundleMeta
from inspector.model_store import BundleSummary, finite_number

HIGHER, LOWER, NEUTRAL = 1, -1, 0  # which way a figure is better


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def num(x: float) -> str:
    return f"{x:.3f}"


def short(x: float) -> str:
    return f"{x:.4g}"


@dataclass(frozen=True)
class Metric:
    """One row of the comparison.

    Attributes:
        key: the key in a model's facts.
        label: the row's title.
        better: HIGHER, LOWER, or NEUTRAL (shown, never judged: e.g. thresholds, whose scale
            differs between families).
        show: formats a value.
        rel_tol: relative difference under which two values count as equal (timing noise).
        what: the row's tooltip: where the figure comes from.
    """

    key: str
    label: str
    better: int
    show: Callable[[float], str] = num
    rel_tol: float = 0.0
    what: str = ""


# The one table of directions. Order is display order.
METRICS = (
    Metric("image_auroc", "Image AUROC (test set)", HIGHER, num, what="labelled test folder"),
    Metric("pixel_auroc", "Pixel AUROC (test set)", HIGHER, num, what="labelled test folder"),
    Metric(
        "test_false_reject_rate",
        "False rejects, test set (good parts)",
        LOWER,
        pct,
        what="good parts of the test folder failed at each model's own threshold",
    ),
    Metric(
        "miss_rate",
        "Missed defects, test set",
        LOWER,
        pct,
        what="defective parts of the test folder passed",
    ),
    Metric(
        "collected_false_reject_rate",
        "Rejects among the collected good images",
        LOWER,
        pct,
        what="the current model run on the good images the new model was trained on; "
        "every reject is false (the new model is not judged on its own training images)",
    ),
    Metric(
        "calibration_false_reject_rate",
        "False rejects at calibration (held-out good)",
        LOWER,
        pct,
        what="held-out good images of each model's own training data",
    ),
    Metric("threshold", "Image threshold", NEUTRAL, short, what="scores are per model"),
    Metric("good_median", "Calibration good score, median", NEUTRAL, short),
    Metric("good_max", "Calibration good score, max", NEUTRAL, short),
    Metric("images", "Training images", NEUTRAL, lambda x: f"{x:.0f}"),
    Metric(
        "latency_ms",
        "Latency (ms per image)",
        # Shown, never judged: two evaluations of one model on a busy station differed
        # several-fold, so a colour here would mislead more than it tells.
        NEUTRAL,
        lambda x: f"{x:.1f}",
        rel_tol=0.25,  # within this, "same"
        what="mean time per test image measured by the evaluation (needs a test folder); "
        "time both models with 'inspector benchmark' to compare speeds",
    ),
)
TEXT_ROWS = (("model", "Model id"), ("family", "Family / backbone"))


class Change(Enum):
    BETTER = "better"
    WORSE = "worse"
    SAME = "same"
    UNKNOWN = ""  # a side lacks the figure, or it is neutral


def judge(metric: Metric, current: float | None, candidate: float | None) -> Change:
    """Whether the candidate's figure is better, worse or the same as the current one's."""
    if current is None or candidate is None:
        return Change.UNKNOWN
    if metric.show(current) == metric.show(candidate):
        return Change.SAME  # equal as far as the eye can tell
    if abs(candidate - current) <= metric.rel_tol * max(abs(current), abs(candidate)):
        return Change.SAME
    if metric.better == NEUTRAL:
        return Change.UNKNOWN
    up = candidate > current
    return Change.BETTER if up == (metric.better == HIGHER) else Change.WORSE


def difference(metric: Metric, current: float | None, candidate: float | None) -> str:
    """``+1.2 pt`` for rates, ``+0.012`` for AUROC, ``-3.1`` ms: candidate minus current."""
    if current is None or candidate is None:
        return ""
    d = candidate - current
    if metric.show is pct:
        return f"{100 * d:+.1f} pt"
    text = metric.show(abs(d))
    return ("+" if d >= 0 else "-") + text


def facts(
    meta: BundleMeta,
    evaluation: Mapping[str, Any] | None = None,
    collected: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A model's figures for the comparison.

    Args:
        meta: the bundle's metadata.
        evaluation: the ``inspector evaluate`` JSON on the test folder, if one was given.
        collected: the ``summary`` of ``inspector inspect`` on the collected good images.
    """
    s = BundleSummary.of(meta)
    cal = meta.calibration
    out: dict[str, Any] = {
        "model": meta.model_id,
        "family": f"{s.family} / {s.backbone}" if s.backbone else s.family,
        "threshold": meta.thresholds.image,
        "images": s.images,
        "calibration_false_reject_rate": cal.false_reject_rate if cal else None,
        "good_median": cal.good_score_median if cal else meta.score_stats.good_median,
        "good_max": cal.good_score_max if cal else meta.score_stats.good_max,
    }
    ev = evaluation or {}
    out["image_auroc"] = finite_number(ev.get("image_auroc"))
    out["pixel_auroc"] = finite_number(ev.get("pixel_auroc"))
    out["test_false_reject_rate"] = finite_number(ev.get("false_reject_rate"))
    out["miss_rate"] = finite_number(ev.get("miss_rate"))
    out["latency_ms"] = finite_number(ev.get("latency_ms_mean"))
    if collected:
        fail, passed = _count(collected.get("fail")), _count(collected.get("pass"))
        judged = fail + passed
        out["collected_false_reject_rate"] = fail / judged if judged else None
    return out


def _count(x: object) -> int:
    return x if isinstance(x, int) and not isinstance(x, bool) else 0
