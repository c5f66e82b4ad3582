"""Synthetic damage for denoising training."""

from __future__ import annotations

import torch

from training.corrupt import paste_patches


def test_pasted_patches_come_from_other_images_and_leave_the_input_alone() -> None:
    batch = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 64, 64).clone()
    before = batch.clone()
    out = paste_patches(batch, torch.Generator().manual_seed(0), probability=1.0)
    assert torch.equal(batch, before)
    for i in range(4):
        changed = out[i] != i
        assert changed.any(), "every image carries a patch at probability 1"
        assert not (out[i][changed] == i).any()  # the patch is another image's
        ys, xs = changed[0].nonzero(as_tuple=True)
        assert 4 <= int(ys.max() - ys.min()) + 1 <= 16 and 4 <= int(xs.max() - xs.min()) + 1 <= 16


def test_no_patches_at_probability_zero_or_for_a_single_image() -> None:
    g = torch.Generator().manual_seed(0)
    batch = torch.rand(3, 3, 32, 32)
    assert torch.equal(paste_patches(batch, g, probability=0.0), batch)
    assert torch.equal(paste_patches(batch[:1], g, probability=1.0), batch[:1])
