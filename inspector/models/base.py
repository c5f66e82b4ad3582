"""The one interface every model family implements."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn


class InferenceBatch(NamedTuple):
    """What every model's eval-mode ``forward`` returns, whatever its family.

    Attributes:
        pred_score: image scores, shape (B,), raw units, higher is more anomalous.
        anomaly_map: per-pixel scores at the model's input resolution, shape (B, 1, H, W).
    """

    pred_score: torch.Tensor
    anomaly_map: torch.Tensor


class AnomalyModel(nn.Module):
    """Base of every exported model: a pure function from normalised images to scores.

    Fitting lives in ``training/``; thresholds live in the bundle's metadata, never here, so
    an engineer can move them without re-exporting the graph.
    """

    family: ClassVar[str]

    def config(self) -> dict[str, Any]:
        """JSON-serialisable arguments that rebuild this model with ``create_model``."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> InferenceBatch:  # pragma: no cover - abstract
        raise NotImplementedError


def gaussian_kernel1d(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian taps covering +-4 sigma."""
    radius = max(1, int(4.0 * sigma + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


class GaussianBlur(nn.Module):
    """Separable Gaussian smoothing as two fixed convolutions (exports to any runtime).

    Args:
        sigma: standard deviation in pixels (0: no smoothing).
        channels: channels of the input, each smoothed on its own. Smoothing many planes as
            channels of one depthwise convolution is about ten times faster on the CPU, in
            training too, than as a batch of one-channel images (SSIM's window).
    """

    kx: torch.Tensor
    ky: torch.Tensor

    def __init__(self, sigma: float, channels: int = 1) -> None:
        super().__init__()
        kernel = gaussian_kernel1d(sigma) if sigma > 0 else torch.ones(1)
        self.pad, self.channels = kernel.numel() // 2, int(channels)
        row = kernel.view(1, 1, 1, -1).repeat(self.channels, 1, 1, 1)
        self.register_buffer("kx", row, persistent=False)
        self.register_buffer("ky", row.transpose(2, 3).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad == 0:
            return x
        # Replicate padding keeps border pixels from being pulled towards zero.
        x = nn.functional.pad(x, (self.pad, self.pad, 0, 0), mode="replicate")
        x = nn.functional.conv2d(x, self.kx, groups=self.channels)
        x = nn.functional.pad(x, (0, 0, self.pad, self.pad), mode="replicate")
        return nn.functional.conv2d(x, self.ky, groups=self.channels)
