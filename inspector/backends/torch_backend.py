"""PyTorch backend: the reference every other backend is compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inspector.backends.base import check_input_size
from inspector.backends.fuse import fold_batchnorm
from inspector.bundle import BundleMeta
from inspector.models.base import AnomalyModel

PRECISIONS = ("fp32", "fp16")


class TorchBackend:
    """Runs an ``AnomalyModel`` in eval mode under ``torch.inference_mode``.

    ``precision="fp16"`` (CUDA only) runs the model under autocast; the models keep their
    distance computations in fp32 themselves, where fp16 would overflow.
    """

    name = "torch"

    def __init__(
        self,
        model: AnomalyModel,
        device: str = "cpu",
        fuse: bool = True,
        channels_last: bool = True,
        precision: str = "fp32",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        self.device = torch.device(device)
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("fp16 needs a CUDA device; CPUs run the fp32 model")
        self.precision = precision
        if fuse:
            # Same scores, faster on a CPU.
            model, _ = fold_batchnorm(model)
        self.model = model.to(self.device).eval()
        # NHWC lets oneDNN run the depthwise convolutions of mobile backbones: the
        # EfficientNet-Lite0 feature pass takes about half the time.
        self.channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    @classmethod
    def load(
        cls,
        bundle_dir: Path,
        meta: BundleMeta,
        device: str = "cpu",
        precision: str = "fp32",
        allow_download: bool = False,
    ) -> TorchBackend:
        from inspector.bundle import load_bundle

        model, loaded = load_bundle(bundle_dir, device="cpu", allow_download=allow_download)
        # The config's size is covered by the model id (checked on load); preprocessing's
        # is not, and a fully convolutional model would run at any size without a word.
        size = loaded.model_config.get("input_size", loaded.preprocessing.input_size)
        check_input_size(bundle_dir, list(size), meta.preprocessing.input_size)
        return cls(model, device=device, precision=precision)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fp16 = self.precision == "fp16"
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, dtype=torch.float16, enabled=fp16),
        ):
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
