from __future__ import annotations

import torch

from training.memory import greedy_coreset_indices, kmeans_centres, nearest_centre


def _covering_radius(x: torch.Tensor, centres: torch.Tensor) -> float:
    return float(torch.cdist(x, centres).min(dim=1).values.max())


def _clusters(n: int = 3000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(20, 16, generator=g) * 10
    labels = torch.randint(20, (n,), generator=g)
    # One rare cluster of 5 points: a coreset must keep it, random sampling usually loses it.
    x = centres[labels] + torch.randn(n, 16, generator=g)
    rare = torch.randn(5, 16, generator=g) + 80
    return torch.cat([x, rare])


def test_coreset_covers_better_than_random() -> None:
    x = _clusters()
    idx = greedy_coreset_indices(x, 60)
    assert len(idx) == 60 and len(set(idx.tolist())) == 60
    rand = torch.randperm(len(x), generator=torch.Generator().manual_seed(1))[:60]
    assert _covering_radius(x, x[idx]) < 0.6 * _covering_radius(x, x[rand])
    assert int((idx >= len(x) - 5).sum()) >= 1  # the rare cluster is represented


def _textbook_greedy(x: torch.Tensor, k: int, start: int) -> list[int]:
    """Farthest-point selection one step at a time, with exact distances."""
    picked = [start]
    nearest = torch.cdist(x, x[start : start + 1]).squeeze(1)
    for _ in range(k - 1):
        far = int(torch.argmax(nearest))
        picked.append(far)
        nearest = torch.minimum(nearest, torch.cdist(x, x[far : far + 1]).squeeze(1))
    return picked


def test_batched_coreset_takes_exactly_the_textbook_greedy_steps(monkeypatch) -> None:
    import training.memory as memory

    # A small pool and update block force many passes, and early stops inside the pool.
    monkeypatch.setattr(memory, "POOL", 16)
    monkeypatch.setattr(memory, "ROWS", 100)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1500, 12, generator=g, dtype=torch.float64).float()
    idx = greedy_coreset_indices(x, 300, seed=2)
    assert idx.tolist() == _textbook_greedy(x, 300, int(idx[0]))


def test_coreset_of_identical_patches_does_not_hang() -> None:
    x = torch.ones(50, 4)
    idx = greedy_coreset_indices(x, 10)
    assert len(idx) == 10


def test_coreset_is_reproducible_and_reports_progress() -> None:
    x = _clusters()
    seen = []
    a = greedy_coreset_indices(x, 40, seed=3, progress=lambda d, t: seen.append((d, t)))
    b = greedy_coreset_indices(x, 40, seed=3)
    assert torch.equal(a, b)
    assert seen[-1] == (40, 40)


def test_kmeans_reduces_inertia_below_its_start() -> None:
    x = _clusters()
    start = x[greedy_coreset_indices(x, 20, seed=0)]
    centres = kmeans_centres(x, 20, iterations=10, seed=0)

    def inertia(c: torch.Tensor) -> float:
        return float(((x - c[nearest_centre(x, c)]) ** 2).sum())

    assert centres.shape == (20, 16)
    assert inertia(centres) < inertia(start)


def test_nearest_centre_matches_cdist() -> None:
    g = torch.Generator().manual_seed(0)
    x, c = torch.randn(1000, 8, generator=g), torch.randn(30, 8, generator=g)
    assert torch.equal(nearest_centre(x, c, chunk=128), torch.cdist(x, c).argmin(dim=1))


def test_coarse_first_puts_a_cover_of_the_memory_in_front() -> None:
    import torch

    from training.fitters.cnn_cluster import coarse_first

    torch.manual_seed(0)
    centres = torch.randn(500, 8)
    ordered = coarse_first(centres, 50, seed=0)
    # Same centres, reordered.
    assert torch.equal(ordered.sort(0).values, centres.sort(0).values)

    # The first 50 cover the set much better than 50 taken at random.
    def radius(subset: torch.Tensor) -> float:
        return float(torch.cdist(centres, subset).amin(1).max())

    assert radius(ordered[:50]) < 0.9 * radius(centres[torch.randperm(500)[:50]])
