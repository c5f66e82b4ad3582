"""PyTorch backend: the reference every other backend is compared with."""

from __future__ import annotations

import numpy as np
import torch

from inspector.backends.fuse import fold_batchnorm
from inspector.models.base import AnomalyModel


class TorchBackend:
    """Runs an ``AnomalyModel`` in eval mode under ``torch.inference_mode``."""

    name = "torch"

    def __init__(
        self,
        model: AnomalyModel,
        device: str = "cpu",
        fuse: bool = True,
        channels_last: bool = True,
    ) -> None:
        self.device = torch.device(device)
        if fuse:
            # Same scores, ~15 % faster on a CPU (benchmarks/model_speed.py).
            model, _ = fold_batchnorm(model)
        self.model = model.to(self.device).eval()
        # NHWC lets oneDNN run the depthwise convolutions of mobile backbones: the
        # EfficientNet-Lite0 feature pass takes about half the time (benchmarks/model_speed.py).
        self.channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            out = self.model(x)
            return (
                out.pred_score.float().cpu().numpy(),
                out.anomaly_map[:, 0].float().cpu().numpy(),
            )

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]

    def __enter__(self) -> TorchBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
