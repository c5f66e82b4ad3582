"""Synthetic defects: each changes its image only where its mask says, and visibly there."""

from __future__ import annotations

import numpy as np
import pytest

from training.synthetic import (
    KINDS,
    MIN_CHANGE,
    lighting_drift,
    make_defect,
    smooth_noise,
    synthesize,
)


def _part(seed: int, dtype: type = np.uint8, size: int = 96) -> np.ndarray:
    """A textured good image: smooth shading plus grain, like a photographed surface."""
    rng = np.random.default_rng(seed)
    top = 65535 if dtype == np.uint16 else 255
    base = 0.3 + 0.4 * smooth_noise((size, size), 3, rng)
    grain = rng.normal(0, 0.03, (size, size))
    gray = np.clip(base + grain, 0, 1) * top
    return np.repeat(gray[:, :, None], 3, axis=2).round().astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("kind", KINDS)
def test_a_defect_changes_its_image_only_inside_its_mask(kind: str, dtype: type) -> None:
    image, other = _part(0, dtype), _part(1, dtype)
    for seed in range(5):
        defect = make_defect(image, [other], kind, np.random.default_rng(seed))
        assert defect is not None and defect.kind == kind
        assert defect.image.shape == image.shape and defect.image.dtype == image.dtype
        assert defect.mask.shape == image.shape[:2] and defect.mask.dtype == bool
        assert defect.mask.any() and not defect.mask.all()
        assert np.array_equal(defect.image[~defect.mask], image[~defect.mask])
        top = 65535.0 if dtype == np.uint16 else 255.0
        change = np.abs(defect.image[defect.mask].astype(float) - image[defect.mask]) / top
        assert change.mean() >= MIN_CHANGE


def test_defects_are_repeatable_and_take_the_kinds_in_turn() -> None:
    images = [_part(i) for i in range(3)]
    first = synthesize(images, images, per_image=4, seed=7)
    again = synthesize(images, images, per_image=4, seed=7)
    other = synthesize(images, images, per_image=4, seed=8)
    assert [d.kind for d in first] == list(KINDS) * 3
    assert [d.source for d in first] == [0] * 4 + [1] * 4 + [2] * 4
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, again, strict=True))
    assert any(not np.array_equal(a.mask, b.mask) for a, b in zip(first, other, strict=True))
    for d in first:  # each defect is a copy of the good image it names
        unchanged = ~d.mask
        assert np.array_equal(d.image[unchanged], images[d.source][unchanged])


def test_an_invisible_defect_is_given_up_not_returned() -> None:
    flat = np.full((64, 64, 3), 128, np.uint8)
    # Pasting a flat patch onto the same flat grey changes nothing anyone could see.
    assert make_defect(flat, [flat], "cut_paste", np.random.default_rng(0)) is None


def test_unknown_kind_is_named() -> None:
    with pytest.raises(ValueError, match="unknown synthetic defect kind 'dent'"):
        make_defect(_part(0), [], "dent", np.random.default_rng(0))


def test_lighting_drift_moves_the_whole_image_a_little() -> None:
    image = _part(0)
    drifted = lighting_drift(image, 0.1, np.random.default_rng(3))
    ratio = drifted.astype(float).mean() / image.mean()
    assert drifted.dtype == image.dtype and 0.05 - 0.01 <= abs(ratio - 1) <= 0.1 + 0.01
