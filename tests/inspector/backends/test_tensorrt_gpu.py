"""Real TensorRT: runs only where ``tensorrt`` imports and a CUDA GPU is present.

Tolerances: fp32 engine within 1e-3 of torch on the normalised map (TensorRT picks its own
kernels); fp16 engine: verdicts identical on the sample test set.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from inspector.imageio import iter_image_files
from inspector.runtime import Inspector

pytestmark = pytest.mark.gpu


def _gpu_reason() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "tensorrt is not installed (it needs NVIDIA's package index)"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU"
    return None


@pytest.mark.skipif(_gpu_reason() is not None, reason=str(_gpu_reason()))
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_matches_torch(exported_bundle: Path, sample_product: Path, precision) -> None:
    files = iter_image_files([sample_product / "test"])
    with (
        Inspector.load(exported_bundle, backend="torch") as ref,
        Inspector.load(
            exported_bundle, device="cuda", backend="tensorrt", precision=precision
        ) as t,
    ):
        a, b = ref.inspect_batch(files), t.inspect_batch(files)
        spread = ref.thresholds.image - ref.meta.score_stats.good_median
    assert [r.verdict for r in a] == [r.verdict for r in b]
    if precision == "fp32":
        for x, y in zip(a, b, strict=True):
            assert np.abs(x.anomaly_map - y.anomaly_map).max() * 0.5 / spread <= 1e-3
