"""Synthetic damage for denoising training: teach a reconstructor to repair, not to copy.

An autoencoder trained only to copy good images learns to copy whatever it is shown, a
defect included, and then its residual marks only the defect's rim. Trained to redraw the
clean image from one with a pasted foreign patch, it learns to replace what does not
belong with what should be there, so a real defect's whole area stands out.
"""

from __future__ import annotations

import torch


def paste_patches(
    batch: torch.Tensor, generator: torch.Generator | None = None, probability: float = 0.5
) -> torch.Tensor:
    """A copy of ``batch`` where about ``probability`` of the images carry one rectangle
    (1/16 to 1/4 of each side) cut from another image of the batch at another place.

    The rectangles are drawn on the CPU (``generator``, else torch's global one, which the
    training loop seeds per epoch); the pasting runs on the batch's device.
    """
    n, _, h, w = batch.shape
    out = batch.clone()
    if n < 2:
        return out

    def draw(high: int) -> int:
        return int(torch.randint(0, max(high, 1), (1,), generator=generator))

    for i in range(n):
        if float(torch.rand(1, generator=generator)) >= probability:
            continue
        ph, pw = h // 16 + draw(h // 4 - h // 16), w // 16 + draw(w // 4 - w // 16)
        donor = (i + 1 + draw(n - 1)) % n  # any image but this one
        sy, sx, ty, tx = draw(h - ph), draw(w - pw), draw(h - ph), draw(w - pw)
        out[i, :, ty : ty + ph, tx : tx + pw] = batch[donor, :, sy : sy + ph, sx : sx + pw]
    return out
