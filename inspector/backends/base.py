"""The interface every runtime backend offers: load -> infer(batch) -> close."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    """A loaded model in some runtime.

    ``infer`` takes a (B, 3, H, W) float32 normalised batch and returns image scores (B,) and
    anomaly maps (B, H, W), both float32 numpy arrays in the model's raw units.
    """

    name: str

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...
