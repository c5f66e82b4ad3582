"""A part's score judged against the part's own level, within bounds set by good parts."""

from __future__ import annotations

import pytest
import torch

from inspector.models.part_level import (
    LEVEL_MARGIN,
    part_level,
    reference_level,
    relative_score,
)


def flat_map(level: float, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return level * (1 + 0.05 * torch.rand(1, 1, size, size, generator=g))


def test_level_is_the_median_and_a_local_defect_does_not_move_it() -> None:
    amap = flat_map(2.0)
    defect = amap.clone()
    defect[..., 10:20, 10:20] = 50.0
    assert part_level(amap).item() == pytest.approx(2.05, abs=0.02)
    assert part_level(defect).item() == pytest.approx(part_level(amap).item(), rel=0.02)


def test_each_map_gets_its_own_level_and_odd_shapes_work() -> None:
    maps = torch.cat([flat_map(1.0, 40), flat_map(3.0, 40)])
    assert part_level(maps).tolist() == pytest.approx([1.025, 3.075], abs=0.02)
    assert part_level(torch.ones(1, 1, 7, 300)).item() == 1.0


def peak(amap: torch.Tensor) -> torch.Tensor:
    return amap.flatten(1).amax(dim=1)


def test_a_part_within_the_margin_is_judged_against_itself() -> None:
    brighter = flat_map(1.3)  # a good part whose whole map sits 30 % higher
    brighter[..., 30, 30] = 13.0
    score = relative_score(peak(brighter), brighter, reference=1.0)
    assert score.item() == pytest.approx(13.0 / part_level(brighter).item())


def test_a_part_wrong_all_over_keeps_its_excess() -> None:
    wrong = flat_map(10.0)  # far above anything good parts showed
    assert relative_score(peak(wrong), wrong, reference=1.0) == pytest.approx(
        peak(wrong) / LEVEL_MARGIN
    )
    clean = flat_map(0.01)  # and a suspiciously clean one is not magnified
    assert relative_score(peak(clean), clean, reference=1.0) == pytest.approx(
        peak(clean) * LEVEL_MARGIN
    )


def test_reference_zero_leaves_scores_of_older_bundles_alone() -> None:
    amap = flat_map(4.0)
    score = peak(amap)
    assert relative_score(score, amap, reference=0.0) is score


def test_reference_is_the_median_good_level_and_needs_good_images() -> None:
    assert reference_level(torch.tensor([1.0, 2.0, 10.0])) == 2.0
    with pytest.raises(ValueError, match="held-out good images"):
        reference_level(torch.empty(0))
