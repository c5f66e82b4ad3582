"""Fitting the CNN-feature clustering model: collect patch features, choose centres."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from inspector.models.cnn_cluster import FAR, SEARCH_BLOCK, CnnClusterModel
from inspector.models.cnn_cluster_config import CnnClusterConfig
from inspector.models.features import receptive_field_shift
from training.data import NoReadableImages, iter_batches
from training.fitters.context import FitContext, Fitter, feature_model_args
from training.memory import greedy_coreset_indices, kmeans_centres
from training.progress import Progress
from training.settings import TrainSettings


def build_cnn_cluster(s: TrainSettings) -> CnnClusterModel:
    cfg: CnnClusterConfig = s.config
    return CnnClusterModel(
        **feature_model_args(s),
        projection_dim=cfg.projection_dim,
        coarse_size=cfg.coarse_memory,
        refine_k=cfg.refine_patches,
    )


def fit_cnn_cluster_context(model: CnnClusterModel, ctx: FitContext) -> dict[str, Any]:
    """``fit_cnn_cluster`` streaming the training images (no copy of them in memory), then
    the exact-search bound from the held-out good images (``ctx.val_files``)."""
    run = ctx.settings.run
    batches = iter_batches(ctx.fit_files, ctx.preprocessing, run.batch_size, ctx.skipped)
    summary = fit_cnn_cluster(
        model, batches, len(ctx.fit_files), ctx.config, run.seed, ctx.show_progress, ctx.progress
    )
    if two_level(model) and ctx.config.exact_beyond > 0:
        # Calibration reads these images next and records the unreadable ones, once.
        held_out = iter_batches(ctx.val_files, ctx.preprocessing, run.batch_size, [])
        ctx.progress.stage("bound", len(ctx.val_files))
        try:
            distances = held_out_distances(model, held_out, ctx.progress)
        except NoReadableImages:
            distances = torch.empty(0)  # calibration then fails, naming every file
        summary.update(fit_refine_bound(model, distances, ctx.config.exact_beyond))
    return summary


def _collect_patches(
    model: CnnClusterModel,
    batches: Iterable[np.ndarray],
    n_images: int,
    cfg: CnnClusterConfig,
    seed: int,
    show: bool,
    progress: Progress,
) -> torch.Tensor:
    """All (or, for big sets, a per-image random share of) patch features, shape (N, D).

    Subsampling per image keeps memory bounded for thousands of images while every image
    still contributes, so rare-but-normal appearances are not dropped wholesale.
    """
    gen = torch.Generator().manual_seed(seed)
    h, w = (v // model.stride for v in model.input_size)
    per_image = min(h * w, max(1, cfg.max_patches // max(1, n_images)))
    parts = []
    progress.stage("features", n_images)
    with (
        torch.inference_mode(),
        tqdm(total=n_images, desc="features", unit="img", disable=not show) as bar,
    ):
        for batch in batches:
            emb = model.aggregate(torch.from_numpy(batch))
            b, d = emb.shape[:2]
            x = emb.permute(0, 2, 3, 1).reshape(b, -1, d)
            if per_image < x.shape[1]:
                pick = torch.stack(
                    [torch.randperm(x.shape[1], generator=gen)[:per_image] for _ in range(b)]
                )
                x = torch.gather(x, 1, pick.unsqueeze(-1).expand(-1, -1, d))
            parts.append(x.reshape(-1, d).clone())
            bar.update(b)
            progress.update(bar.n)
    return torch.cat(parts)


def principal_axes(x: torch.Tensor, k: int, sample: int = 200_000) -> torch.Tensor:
    """The top-``k`` principal axes (D, k) of already-centred features ``x``."""
    if len(x) > sample:
        x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:sample]]
    cov = (x.t() @ x) / max(1, len(x) - 1)
    _, vecs = torch.linalg.eigh(cov.double())  # ascending eigenvalues
    return vecs[:, -k:].flip(1).float().contiguous()


def fit_cnn_cluster(
    model: CnnClusterModel,
    batches: Iterable[np.ndarray],
    n_images: int,
    cfg: CnnClusterConfig,
    seed: int,
    show_progress: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fill the model's feature statistics and memory of cluster centres."""
    progress = progress or Progress.silent()
    # Raw (unstandardised) features first: the model starts with mean 0 and scale 1.
    raw = _collect_patches(model, batches, n_images, cfg, seed, show_progress, progress)
    mean, scale = raw.mean(dim=0), raw.std(dim=0).clamp_min(1e-6)
    feats = (raw - mean) / scale
    del raw
    projection = None
    if model.projection_dim > 0:
        projection = principal_axes(feats, model.projection_dim)
        feats = feats @ projection
    n_centres = int(min(cfg.max_memory, max(1, math.ceil(cfg.memory_fraction * len(feats)))))
    steps = n_centres if cfg.strategy == "coreset" else cfg.kmeans_iterations
    progress.stage("memory", steps)
    with tqdm(total=steps, desc=cfg.strategy, unit="ctr", disable=not show_progress) as bar:

        def advance(done: int, total: int) -> None:
            bar.update(done - bar.n)
            progress.update(done)

        if cfg.strategy == "coreset":
            centres = feats[greedy_coreset_indices(feats, n_centres, seed=seed, progress=advance)]
        elif cfg.strategy == "kmeans":
            centres = kmeans_centres(
                feats, n_centres, iterations=cfg.kmeans_iterations, seed=seed, progress=advance
            )
        else:
            raise ValueError(f"unknown memory strategy {cfg.strategy!r}")
    model.set_feature_stats(mean, scale, projection)
    model.map_shift = receptive_field_shift(model)
    summary: dict[str, Any] = {
        "patches": int(len(feats)),
        "centres": int(len(centres)),
        "strategy": cfg.strategy,
        "map_shift": list(model.map_shift),
    }
    if 0 < model.coarse_size < len(centres):
        progress.stage("coarse", 1)
        centres = coarse_first(centres, model.coarse_size, seed)
        model.set_memory(centres)
        summary.update(fit_coarse_estimate(model, feats, seed))
    else:
        model.set_memory(centres)
    return summary


def coarse_first(centres: torch.Tensor, n_coarse: int, seed: int) -> torch.Tensor:
    """The centres reordered so the first ``n_coarse`` are a greedy k-centre cover of all."""
    first = greedy_coreset_indices(centres, n_coarse, seed=seed)
    rest = torch.ones(len(centres), dtype=torch.bool)
    rest[first] = False
    return torch.cat([centres[first], centres[rest]])


def two_level(model: CnnClusterModel) -> bool:
    """Whether the fitted model searches a coarse cover first (its memory outgrew it)."""
    return 0 < model.coarse_size < model.memory.shape[0] and model.refine_k > 0


def fit_coarse_estimate(
    model: CnnClusterModel, feats: torch.Tensor, seed: int, sample: int = 20_000
) -> dict[str, Any]:
    """Fit full-memory distance ~ a * coarse distance + b on training patches.

    Most training patches are not centres themselves, so their distances look like a good
    part's; the line turns the cheap coarse distance into an estimate on the same scale as
    the exact distances of the refined patches, so the map stays consistent.
    """
    gen = torch.Generator().manual_seed(seed)
    x = feats[torch.randperm(len(feats), generator=gen)[:sample]]
    blocks = model.coarse_size // SEARCH_BLOCK
    with torch.inference_mode():
        coarse = model._nearest(x, model.search[:blocks])
        exact = model._nearest(x, model.search)
    a = torch.stack([coarse, torch.ones_like(coarse)], dim=1).double()
    slope, intercept = torch.linalg.lstsq(a, exact.double().unsqueeze(1)).solution.flatten()
    model.coarse_fit = torch.tensor([float(slope), float(intercept)])
    return {"coarse_fit": [round(float(slope), 6), round(float(intercept), 6)]}


def held_out_distances(
    model: CnnClusterModel, batches: Iterable[np.ndarray], progress: Progress | None = None
) -> torch.Tensor:
    """Exact nearest-centre distance of every patch of ``batches`` (images the memory was
    not fitted on), before the map's blur and upsampling; shape (N,)."""
    parts, done = [], 0
    with torch.inference_mode():
        for batch in batches:
            emb = model.embed(torch.from_numpy(batch))
            x = emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1])
            parts.append(model._nearest(x, model.search))
            done += len(batch)
            if progress is not None:
                progress.update(done)
    return torch.cat(parts) if parts else torch.empty(0)


def fit_refine_bound(
    model: CnnClusterModel, distances: torch.Tensor, factor: float
) -> dict[str, Any]:
    """Set ``refine_above`` to ``factor`` times the farthest of ``distances``.

    The distances must come from good images the memory never saw: training patches lie
    closer to their own memory than a new good part's do, so a bound taken from them makes
    most patches of every new image look beyond it, and the search is exact everywhere at
    twice the cost. Beyond the farthest held-out good patch lies what good parts rarely
    reach, defects first, and that is searched exactly whatever its size. Without distances
    (no readable held-out image) the bound stays off.
    """
    if factor < 0:
        raise ValueError(f"exact_beyond must be >= 0, got {factor}")
    if factor == 0 or distances.numel() == 0:
        bound = FAR
    else:
        bound = factor * float(distances.max())
    model.refine_above = torch.tensor(bound)
    return {
        "refine_above": round(bound, 6),
        "held_out_patches": int(distances.numel()),
    }


FITTER = Fitter(
    build=build_cnn_cluster,
    fit=fit_cnn_cluster_context,
    stages=(("features", 3.0), ("memory", 4.0), ("coarse", 1.0), ("bound", 1.0)),
)
