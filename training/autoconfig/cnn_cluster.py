"""The cnn-cluster family's automatic configuration: a small grid judged by self-validation.

What is searched, and why only this:

- ``normalize_intensity`` on / off: whether lighting drift or the part's own contrast
  carries the defects differs per product, and a fixed rule costs accuracy on some.
- feature stages: the configured ones, or the coarsest of them alone (wider context, a
  coarser map, faster). Finer or deeper stages are left out: they multiply the patches or
  the feature width, and with them the inspection time.
- ``blur_sigma`` 2 / 4 / 8 and ``score_topk`` 1 / 4 / 16: map smoothing and how many patches
  make the image score; both reuse the same patch scores, so they cost almost nothing.

Memory size is not searched: a larger memory never separates worse, it only costs time,
which self-validation cannot weigh. Backbone features are computed once per intensity
setting and reused by every other candidate; the search's memory is fitted on a subsample.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from inspector.imageio import ImageLoadError, read_image
from inspector.models.base import GaussianBlur
from inspector.models.cnn_cluster import CnnClusterModel
from inspector.models.features import aggregate_stages, receptive_field_shift
from inspector.models.head import patch_head
from inspector.preprocess import Geometry, Preprocessing, fit_to_input, normalise_input
from training.autoconfig.validation import (
    CheckSet,
    Separation,
    image_figures,
    pixel_figure,
    small_masks,
)
from training.fitters import fitter_of
from training.fitters.cnn_cluster import principal_axes
from training.memory import greedy_coreset_indices
from training.progress import Progress
from training.settings import TrainSettings

FIT_IMAGES = 32  # fit images whose patches make the search's memory
CHECK_GOODS = 32  # held-out good images damaged and scored
DEFECTS_PER_IMAGE = 2
MAX_PATCHES = 20_000  # patches the search's memory is chosen from
BLURS = (2.0, 4.0, 8.0)
TOPKS = (1, 4, 16)
# A candidate replaces the settings as given only if it separates clearly better: the
# figures of a few dozen images are noisy, and the given settings are the safe choice.
MARGIN = 0.01
BATCH = 16
T = TypeVar("T")

# The settings each searched axis changes; given any of them, the axis is not searched.
AXES = {
    "normalize_intensity": ("normalize_intensity", "min_contrast"),
    "layers": ("layers", "aggregation", "backbone", "backbone_location", "backbone_weights"),
    "blur_sigma": ("blur_sigma",),
    "score_topk": ("score_topk",),
}


def _spread(files: Sequence[Path], n: int) -> list[Path]:
    """``n`` evenly spaced files (all of them if fewer)."""
    picks = np.unique(np.linspace(0, len(files) - 1, min(len(files), n)).round().astype(int))
    return [files[i] for i in picks] if files else []


def _load(files: Sequence[Path], spec: Preprocessing) -> list[tuple[np.ndarray, Geometry]]:
    out = []
    for path in files:
        try:
            out.append(fit_to_input(read_image(path), spec))
        except ImageLoadError:
            continue  # the fit and the calibration record unreadable files
    return out


def axis_values(s: TrainSettings, explicit: frozenset[str]) -> dict[str, list[Any]]:
    """Each searched axis's values, the given one first; axes given explicitly are left out."""
    cfg, run = s.config, s.run
    layers = [(tuple(cfg.layers), tuple(cfg.aggregation))]
    if len(cfg.layers) > 1:
        layers.append(((cfg.layers[-1],), (cfg.aggregation[-1],)))
    values: dict[str, list[Any]] = {
        "normalize_intensity": [run.normalize_intensity, not run.normalize_intensity],
        "layers": layers,
        "blur_sigma": [cfg.blur_sigma, *(b for b in BLURS if b != cfg.blur_sigma)],
        "score_topk": [cfg.score_topk, *(k for k in TOPKS if k != cfg.score_topk)],
    }
    return {
        axis: vals
        for axis, vals in values.items()
        if not explicit.intersection(AXES[axis]) and len(vals) > 1
    }


def _batches(items: Sequence[T], n: int = BATCH) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class _Features:
    """Backbone stage outputs of the fit subset, the goods and the defective images under
    one preprocessing: computed once, aggregated per feature-stage candidate."""

    def __init__(
        self,
        extractor: torch.nn.Module,
        pre: Preprocessing,
        fit: list[tuple[np.ndarray, Geometry]],
        goods: list[tuple[np.ndarray, Geometry]],
        check: CheckSet,
        tick: Any,
    ) -> None:
        sets = {
            "fit": fit,
            "good": goods,
            # A defective copy has its good image's geometry (letterbox content box).
            "defective": [
                (im, goods[i][1]) for im, i in zip(check.defective, check.origins, strict=True)
            ],
            "drifted": [(im, g) for im, (_, g) in zip(check.drifted, goods, strict=True)],
        }
        self.stages: dict[str, list[list[torch.Tensor]]] = {}
        with torch.inference_mode():
            for name, items in sets.items():
                out: list[list[torch.Tensor]] = []
                for chunk in _batches(items):
                    x = np.stack([normalise_input(im, g, pre) for im, g in chunk])
                    out.append(extractor(torch.from_numpy(x)))
                    tick(len(chunk))
                self.stages[name] = out

    def aggregated(self, name: str, picks: Sequence[int], agg: Sequence[int]) -> torch.Tensor:
        parts = [aggregate_stages([b[i] for i in picks], tuple(agg)) for b in self.stages[name]]
        return torch.cat(parts)


def _fit_memory(model: CnnClusterModel, raw: torch.Tensor, s: TrainSettings) -> None:
    """Feature statistics and a coreset memory from the fit subset's raw features."""
    d = raw.shape[1]
    x = raw.permute(0, 2, 3, 1).reshape(-1, d)
    gen = torch.Generator().manual_seed(s.run.seed)
    if len(x) > MAX_PATCHES:
        x = x[torch.randperm(len(x), generator=gen)[:MAX_PATCHES]]
    mean, scale = x.mean(dim=0), x.std(dim=0).clamp_min(1e-6)
    x = (x - mean) / scale
    projection = None
    if model.projection_dim > 0:
        projection = principal_axes(x, model.projection_dim)
        x = x @ projection
    cfg = s.config
    n = int(min(cfg.max_memory, max(1, math.ceil(cfg.memory_fraction * len(x)))))
    model.set_feature_stats(mean, scale, projection)
    model.set_memory(x[greedy_coreset_indices(x, n, seed=s.run.seed)])
    model.map_shift = receptive_field_shift(model)


def _patch_scores(model: CnnClusterModel, raw: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([model.patch_scores(model.transform(r)) for r in raw.split(BATCH)])


def _head(
    patch: torch.Tensor, model: CnnClusterModel, topk: int, blur: float
) -> tuple[np.ndarray, np.ndarray]:
    with torch.inference_mode():
        out = patch_head(patch, model.input_size, topk, model.map_shift, GaussianBlur(blur))
    return out.pred_score.numpy(), out.anomaly_map[:, 0].numpy()


def search(
    s: TrainSettings,
    fit_files: Sequence[Path],
    cal_files: Sequence[Path],
    explicit: frozenset[str],
    progress: Progress,
) -> tuple[TrainSettings, dict[str, Any]]:
    """The candidate that separates synthetic defects on held-out good images best.

    Returns:
        The settings to fit with (``s`` with the searched axes set) and the record of the
        search for the bundle: what was searched, each candidate's figures, the choice.
    """
    from training.train import fitted_preprocessing  # the fit's own rule, not a copy

    t0 = time.perf_counter()
    axes = axis_values(s, explicit)
    record: dict[str, Any] = {
        "family": s.model,
        "searched": {k: [_jsonable(v) for v in vals] for k, vals in axes.items()},
        "explicit": sorted(explicit),
    }
    base = Preprocessing((s.run.input_size,) * 2, s.run.resize_mode)
    fit_sub = _spread(fit_files, FIT_IMAGES)
    fit = _load(fit_sub, base)
    goods = _load(_spread(cal_files, CHECK_GOODS), base)
    if not axes or not fit or not goods:
        why = "every searched setting was given" if not axes else "too few readable images"
        return s, {**record, "chosen": {}, "note": why, "seconds": _since(t0)}
    check = CheckSet.build([im for im, _ in goods], [im for im, _ in fit], DEFECTS_PER_IMAGE,
                           seed=s.run.seed)  # fmt: skip
    masks = small_masks(check.masks)
    norms = axes.get("normalize_intensity", [s.run.normalize_intensity])
    layer_sets = axes.get("layers", [(tuple(s.config.layers), tuple(s.config.aggregation))])
    n_images = len(fit) + 2 * len(goods) + len(check.defective)
    progress.stage("autoconfig", len(norms) * (n_images + len(layer_sets)))
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        progress.update(done)

    fitter = fitter_of(s.model)
    extractor_model = fitter.build(s.override(coarse_memory=0)).eval()
    results: list[tuple[dict[str, Any], Separation]] = []
    for norm in norms:
        pre = fitted_preprocessing(s.override(normalize_intensity=norm), fit_sub)
        feats = _Features(extractor_model.extractor, pre, fit, goods, check, tick)
        for layers, agg in layer_sets:
            model = fitter.build(s.override(layers=layers, aggregation=agg, coarse_memory=0))
            picks = [list(s.config.layers).index(layer) for layer in layers]
            variant = {"normalize_intensity": norm, "layers": layers, "aggregation": agg}
            results += _head_candidates(model.eval(), feats, picks, variant, axes, s, masks)
            tick(1)
    chosen = _choose(results)
    searched = {*axes, *(("aggregation",) if "layers" in axes else ())}
    changes = {k: v for k, v in chosen.items() if k in searched}
    given = results[0][0]
    record.update(
        {
            "check_set": {"fit_images": len(fit), **check.summary()},
            "candidates": [{"settings": _jsonable(c), **sep.to_json()} for c, sep in results],
            "given": {"settings": _jsonable(given), **results[0][1].to_json()},
            "chosen": _jsonable(changes),
            "chosen_figures": next(sep.to_json() for c, sep in results if c == chosen),
            "changed": sorted(k for k, v in changes.items() if v != given[k]),
            "seconds": _since(t0),
        }
    )
    return s.override(**changes), record


def _head_candidates(
    model: CnnClusterModel,
    feats: _Features,
    picks: list[int],
    variant: dict[str, Any],
    axes: dict[str, list[Any]],
    s: TrainSettings,
    masks: np.ndarray,
) -> list[tuple[dict[str, Any], Separation]]:
    """Every blur and score_topk candidate of one preprocessing and feature-stage variant:
    the memory and the patch scores once, then only the cheap head per candidate."""
    agg = variant["aggregation"]
    _fit_memory(model, feats.aggregated("fit", picks, agg), s)
    good, bad, drifted = (
        _patch_scores(model, feats.aggregated(name, picks, agg))
        for name in ("good", "defective", "drifted")
    )
    pixel = {
        blur: pixel_figure(_head(good, model, 1, blur)[1], _head(bad, model, 1, blur)[1], masks)
        for blur in axes.get("blur_sigma", [s.config.blur_sigma])
    }
    out = []
    for topk in axes.get("score_topk", [s.config.score_topk]):
        image, detected, frr, drift_frr = image_figures(
            _head(good, model, topk, 0.0)[0],
            _head(bad, model, topk, 0.0)[0],
            _head(drifted, model, topk, 0.0)[0],
            s.run.target_false_reject_rate,
        )
        for blur, pix in pixel.items():
            choice = {**variant, "blur_sigma": blur, "score_topk": topk}
            out.append((choice, Separation.of(image, pix, detected, frr, drift_frr)))
    return out


def _choose(results: list[tuple[dict[str, Any], Separation]]) -> dict[str, Any]:
    """The best candidate if it beats the settings as given (the first) by ``MARGIN``,
    else the settings as given."""
    best = max(range(len(results)), key=lambda i: (results[i][1].combined, -i))
    if results[best][1].combined < results[0][1].combined + MARGIN:
        best = 0
    return results[best][0]


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _since(t0: float) -> float:
    return round(time.perf_counter() - t0, 1)
