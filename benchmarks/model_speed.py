"""Time the default model's parts on random input, batch 1, 256 px, 10,000 centres.

Usage: python benchmarks/model_speed.py

Reports the nearest-centre search as implemented (blocked GEMMs) against the one-product
textbook formula it replaced, and the whole forward pass with and without batch-norm folding
and channels-last (NHWC) memory layout.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from inspector.backends.fuse import fold_batchnorm
from inspector.models import create_model


def _p50(fn, repeats: int = 30) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def main() -> None:
    torch.manual_seed(0)
    model = create_model("cnn-cluster").eval()
    model.set_memory(torch.randn(10_000, model.feature_dim))
    folded, _ = fold_batchnorm(model)
    x = torch.randn(1, 3, 256, 256)
    nhwc = copy.deepcopy(folded).to(memory_format=torch.channels_last)
    x_nhwc = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        emb = model.embed(x)
        flat = emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1])

        def textbook() -> torch.Tensor:
            d2 = (flat * flat).sum(1, keepdim=True) - 2.0 * (flat @ model.memory.t())
            return (d2 + model.memory_sq_norm).min(dim=1).values

        rows = {
            "search, one (N, M) product": _p50(textbook),
            "search, blocked GEMMs (used)": _p50(lambda: model.patch_scores(emb)),
            "forward, batch-norm kept": _p50(lambda: model(x)),
            "forward, batch-norm folded": _p50(lambda: folded(x)),
            "forward, folded + channels-last (used)": _p50(lambda: nhwc(x_nhwc)),
        }
    print(f"threads {torch.get_num_threads()}, 1,024 patches x 10,000 centres x 152 dims")
    for name, ms in rows.items():
        print(f"{name:40s} {ms:7.1f} ms p50")


if __name__ == "__main__":
    main()
