"""The interface every runtime backend offers: load -> infer(batch) -> close."""

from __future__ import annotations

from collections.abc import Sequence
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


def check_input_size(where: object, dims: Sequence[object], input_size: Sequence[int]) -> None:
    """Raise BundleError unless the model's fixed image size ``dims`` (H, W) is the bundle's.

    Every backend checks it: an edited ``preprocessing.input_size`` would feed the model
    images of another size, which some runtimes run without a word.
    """
    from inspector.bundle import BundleError

    got = [int(d) if isinstance(d, int) else d for d in dims]
    if got != [int(v) for v in input_size]:
        raise BundleError(
            f"{where}: the model takes {got} pixel inputs but bundle.json's "
            f"preprocessing.input_size is {list(input_size)} (bundle edited or mixed up)"
        )
