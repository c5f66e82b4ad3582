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
from training.data import iter_batches
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
    """``fit_cnn_cluster`` streaming the training images (no copy of them in memory)."""
    run = ctx.settings.run
    batches = iter_batches(ctx.fit_files, ctx.preprocessing, run.batch_size, ctx.skipped)
    return fit_cnn_cluster(
        model, batches, len(ctx.fit_files), ctx.config, run.seed, ctx.show_progress, ctx.progress
    )


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
        summary.update(fit_coarse_estimate(model, feats, seed, cfg.exact_beyond))
    else:
        model.set_memory(centres)
    return summary


def coarse_first(centres: torch.Tensor, n_coarse: int, seed: int) -> torch.Tensor:
    """The centres reordered so the first ``n_coarse`` are a greedy k-centre cover of all."""
    first = greedy_coreset_indices(centres, n_coarse, seed=seed)
    rest = torch.ones(len(centres), dtype=torch.bool)
    rest[first] = False
    return torch.cat([centres[first], centres[rest]])


def fit_coarse_estimate(
    model: CnnClusterModel,
    feats: torch.Tensor,
    seed: int,
    exact_beyond: float = 0.0,
    sample: int = 20_000,
) -> dict[str, Any]:
    """Fit full-memory distance ~ a * coarse distance + b on training patches, and the
    distance above which a patch is always searched exactly.

    Most training patches are not centres themselves, so their distances look like a good
    part's; the line turns the cheap coarse distance into an estimate on the same scale as
    the exact distances of the refined patches, so the map stays consistent. With
    ``exact_beyond`` > 0 the bound ``refine_above`` is that quantile of the good patches'
    exact distances: what lies farther from the memory, defects first, is searched exactly.
    These are in-sample distances, below those of unseen good patches, so even the farthest
    (1.0) refines most patches of a new image.
    """
    if not 0.0 <= exact_beyond <= 1.0:
        raise ValueError(f"exact_beyond must be within [0, 1], got {exact_beyond}")
    gen = torch.Generator().manual_seed(seed)
    x = feats[torch.randperm(len(feats), generator=gen)[:sample]]
    blocks = model.coarse_size // SEARCH_BLOCK
    with torch.inference_mode():
        coarse = model._nearest(x, model.search[:blocks])
        exact = model._nearest(x, model.search)
    a = torch.stack([coarse, torch.ones_like(coarse)], dim=1).double()
    slope, intercept = torch.linalg.lstsq(a, exact.double().unsqueeze(1)).solution.flatten()
    model.coarse_fit = torch.tensor([float(slope), float(intercept)])
    bound = float(torch.quantile(exact.double(), exact_beyond)) if exact_beyond > 0 else FAR
    model.refine_above = torch.tensor(bound)
    return {
        "coarse_fit": [round(float(slope), 6), round(float(intercept), 6)],
        "refine_above": round(bound, 6),
    }


FITTER = Fitter(
    build=build_cnn_cluster,
    fit=fit_cnn_cluster_context,
    stages=(("features", 3.0), ("memory", 4.0), ("coarse", 1.0)),
)
