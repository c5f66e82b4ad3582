"""Self-validation: how well a configuration separates synthetic defects from good parts.

Family-independent: a family's search scores a ``CheckSet`` (held-out good images and
synthetic defective copies of them, ``training.synthetic``) however it can, and
``separation`` turns the scores and maps into the figures every candidate is judged by.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from inspector.verdict import fails, threshold_for_false_reject_rate
from training import metrics
from training.synthetic import lighting_drift, synthesize

# Light drifts between fitting and the line (a few per cent of brightness, more than the
# held-out images show), and good parts under it must still pass.
DRIFT = 0.1
PIXEL_SIDE = 128  # maps and masks are compared at this side: enough for a 2-px scratch

# A candidate's scores (B,) and maps (B, H, W) of a batch of input-sized integer images.
ScoreFn = Callable[[Sequence[np.ndarray]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class CheckSet:
    """Held-out good images and synthetic defective copies of them (input size, integer).

    Attributes:
        goods: good images no candidate was fitted on.
        defective: synthetic defective copies of ``goods``.
        masks: (H, W) bool of each defective image: True where it was changed.
        kinds: the synthetic defect kind of each defective image.
        origins: the index in ``goods`` each defective image was made from.
        drifted: each of ``goods`` under drifted light (``lighting_drift``): still good.
    """

    goods: list[np.ndarray]
    defective: list[np.ndarray]
    masks: list[np.ndarray]
    kinds: list[str]
    origins: list[int]
    drifted: list[np.ndarray]

    @classmethod
    def build(
        cls,
        goods: Sequence[np.ndarray],
        sources: Sequence[np.ndarray],
        per_image: int = 2,
        seed: int = 0,
        drift: float = DRIFT,
    ) -> CheckSet:
        """``per_image`` synthetic defects on each of ``goods``, textures from ``sources``,
        and each good image once more under drifted light."""
        defects = synthesize(goods, sources, per_image, seed)
        if not goods or not defects:
            raise ValueError("self-validation needs held-out good images to damage")
        rng = np.random.default_rng([seed, 1])
        return cls(
            list(goods),
            [d.image for d in defects],
            [d.mask for d in defects],
            [d.kind for d in defects],
            [d.source for d in defects],
            [lighting_drift(im, drift, rng) for im in goods],
        )

    def summary(self) -> dict[str, object]:
        return {
            "good_images": len(self.goods),
            "defective_images": len(self.defective),
            "kinds": dict(sorted(Counter(self.kinds).items())),
        }


@dataclass(frozen=True)
class Separation:
    """Self-validation figures of one candidate.

    Attributes:
        image_auroc: synthetic defective vs held-out good images, by image score.
        pixel_auroc: over the pixels of every map, defect masks against the rest.
        detected: share of synthetic defects failed at the threshold that fails the target
            false-reject rate of the held-out good images.
        false_reject_rate: held-out good images failed at that threshold.
        drift_false_reject_rate: the same good images under drifted light failed at it.
        combined: the mean of image AUROC, pixel AUROC, the share detected and the share
            of drifted good images passed: what candidates are ranked by.
    """

    image_auroc: float
    pixel_auroc: float
    detected: float
    false_reject_rate: float
    drift_false_reject_rate: float
    combined: float

    @classmethod
    def of(
        cls, image: float, pixel: float, detected: float, frr: float, drift_frr: float
    ) -> Separation:
        combined = (image + pixel + detected + 1.0 - drift_frr) / 4.0
        return cls(image, pixel, detected, frr, drift_frr, combined)

    def to_json(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def _small(maps: np.ndarray) -> np.ndarray:
    if maps.shape[-1] <= PIXEL_SIDE and maps.shape[-2] <= PIXEL_SIDE:
        return maps
    size = (PIXEL_SIDE, PIXEL_SIDE)
    return np.stack([cv2.resize(m, size, interpolation=cv2.INTER_AREA) for m in maps])


def small_masks(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Masks at the side maps are compared at: a pixel is defective if a quarter of it is."""
    size = (PIXEL_SIDE, PIXEL_SIDE)
    return np.stack(
        [
            cv2.resize(m.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.25
            for m in masks
        ]
    )


def image_figures(
    good_scores: np.ndarray,
    defective_scores: np.ndarray,
    drifted_scores: np.ndarray,
    target_false_reject_rate: float,
) -> tuple[float, float, float, float]:
    """Image AUROC, the share of defects detected, and the false-reject rates of the good
    images and of the drifted good images, at the threshold calibration would set on the
    good images for the target rate."""
    g, d = np.asarray(good_scores, np.float64), np.asarray(defective_scores, np.float64)
    labels = np.r_[np.zeros(len(g)), np.ones(len(d))]
    auroc = metrics.auroc(np.r_[g, d], labels)
    threshold = threshold_for_false_reject_rate(g, target_false_reject_rate)
    rates = [float(np.mean(fails(x, threshold))) for x in (d, g, drifted_scores)]
    return auroc, rates[0], rates[1], rates[2]


def pixel_figure(good_maps: np.ndarray, defective_maps: np.ndarray, masks: np.ndarray) -> float:
    """Pixel AUROC of maps (N, H, W) against ``small_masks`` (every good pixel is normal)."""
    g, d = _small(np.asarray(good_maps, np.float32)), _small(np.asarray(defective_maps, np.float32))
    if masks.shape[1:] != d.shape[1:]:
        raise ValueError(f"masks are {masks.shape[1:]}, maps {d.shape[1:]}")
    all_masks = np.concatenate([np.zeros(g.shape, bool), masks])
    return metrics.pixel_auroc(list(np.concatenate([g, d])), list(all_masks))


def separation(
    good: tuple[np.ndarray, np.ndarray],
    defective: tuple[np.ndarray, np.ndarray],
    drifted_scores: np.ndarray,
    masks: np.ndarray,
    target_false_reject_rate: float,
) -> Separation:
    """Figures of one candidate from its (scores, maps) of the good and the defective images.

    Args:
        good: scores (G,) and maps (G, H, W) of the held-out good images.
        defective: scores (D,) and maps (D, H, W) of the synthetic defective images.
        drifted_scores: scores (G,) of the good images under drifted light.
        masks: (D, PIXEL_SIDE, PIXEL_SIDE) bool (``small_masks``), or at the maps' size.
        target_false_reject_rate: the run's target; sets the threshold as calibration does.
    """
    image, detected, frr, drift_frr = image_figures(
        good[0], defective[0], drifted_scores, target_false_reject_rate
    )
    pixel = pixel_figure(good[1], defective[1], masks)
    return Separation.of(image, pixel, detected, frr, drift_frr)


def validate(score: ScoreFn, check: CheckSet, target_false_reject_rate: float) -> Separation:
    """``separation`` of a candidate that scores images itself (one call per image set)."""
    return separation(
        score(check.goods),
        score(check.defective),
        score(check.drifted)[0],
        small_masks(check.masks),
        target_false_reject_rate,
    )
