"""Choosing the cluster centres that stand for "normal": greedy k-centre coreset and k-means.

Both work on (N, D) float32 patch features and scale to hundreds of thousands of patches on a
2-core CPU by splitting the pool into chunks: greedy k-centre costs O(N * M) per chunk, so k
chunks cost 1/k of one big search, and the union of per-chunk coresets still covers every
patch (each patch is within its chunk's covering radius of some centre).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

ProgressFn = Callable[[int, int], None]

STRATEGIES = ("coreset", "kmeans")


def _projection(dim: int, out_dim: int, generator: torch.Generator) -> torch.Tensor:
    # Random Gaussian projection (Johnson-Lindenstrauss): distances are roughly preserved, and
    # the greedy search touches out_dim instead of dim numbers per patch and step.
    return torch.randn(dim, out_dim, generator=generator) / math.sqrt(out_dim)


def greedy_coreset_indices(
    features: torch.Tensor,
    n_select: int,
    *,
    project_dim: int = 64,
    chunk_size: int = 40_000,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Indices of ``n_select`` patches chosen by greedy farthest-point (k-centre) selection.

    Args:
        features: (N, D) patch features.
        n_select: number of centres; at most N.
        project_dim: random-projection width used for the search (0 = no projection).
        chunk_size: patches searched together; bounds memory and time.
        seed: makes the projection, chunking and starting points reproducible.
        progress: called with (centres chosen so far, n_select).
    """
    n = features.shape[0]
    n_select = min(int(n_select), n)
    if n_select <= 0:
        raise ValueError("n_select must be positive")
    gen = torch.Generator().manual_seed(seed)
    feats = features
    if project_dim and project_dim < features.shape[1]:
        feats = features @ _projection(features.shape[1], project_dim, gen)
    order = torch.randperm(n, generator=gen)
    n_chunks = max(1, math.ceil(n / chunk_size))
    chunks = torch.tensor_split(order, n_chunks)
    chosen: list[torch.Tensor] = []
    done = 0
    for i, idx in enumerate(chunks):
        # Share the budget in proportion to chunk size; the last chunk takes the remainder.
        quota = n_select - done if i == n_chunks - 1 else round(n_select * len(idx) / n)
        quota = max(1, min(quota, len(idx)))

        def report(k: int, offset: int = done) -> None:
            if progress is not None:
                progress(offset + k, n_select)

        local = _greedy(feats[idx], quota, gen, report)
        chosen.append(idx[local])
        done += quota
    return torch.cat(chosen)[:n_select]


def _greedy(
    x: torch.Tensor, k: int, gen: torch.Generator, progress: Callable[[int], object]
) -> torch.Tensor:
    sq = (x * x).sum(dim=1)
    start = int(torch.randint(len(x), (1,), generator=gen))
    picked = torch.empty(k, dtype=torch.long)
    picked[0] = start
    # Squared distance from each patch to its nearest chosen centre so far.
    nearest = (sq - 2.0 * (x @ x[start]) + sq[start]).clamp_min(0)
    report_every = max(1, k // 50)
    for j in range(1, k):
        far = int(torch.argmax(nearest))
        picked[j] = far
        d = (sq - 2.0 * (x @ x[far]) + sq[far]).clamp_min(0)
        torch.minimum(nearest, d, out=nearest)
        if j % report_every == 0:
            progress(j)
    progress(k)
    return picked


def kmeans_centres(
    features: torch.Tensor,
    n_clusters: int,
    *,
    iterations: int = 10,
    sample_size: int = 100_000,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Cluster centres from Lloyd's k-means, started from a greedy coreset.

    Starting from farthest-point centres keeps rare normal patterns as clusters of their own,
    which random starts lose. Runs on a random sample of at most ``sample_size`` patches.
    """
    gen = torch.Generator().manual_seed(seed)
    x = features
    if len(x) > sample_size:
        x = x[torch.randperm(len(x), generator=gen)[:sample_size]]
    n_clusters = min(int(n_clusters), len(x))
    centres = x[greedy_coreset_indices(x, n_clusters, seed=seed)].clone()
    for it in range(iterations):
        assign = nearest_centre(x, centres)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=len(centres)).to(x.dtype)
        filled = counts > 0
        # Empty clusters keep their previous centre rather than collapsing to the origin.
        centres[filled] = sums[filled] / counts[filled, None]
        if progress:
            progress(it + 1, iterations)
    return centres


def nearest_centre(x: torch.Tensor, centres: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Index of the nearest centre for every row of ``x``, computed in chunks."""
    c_sq = (centres * centres).sum(dim=1)
    out = torch.empty(len(x), dtype=torch.long)
    for s in range(0, len(x), chunk):
        part = x[s : s + chunk]
        d = c_sq.unsqueeze(0) - 2.0 * (part @ centres.t())
        out[s : s + chunk] = d.argmin(dim=1)
    return out
