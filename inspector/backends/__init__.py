"""Runtime backends, one per file, chosen from a small table.

Backends are imported only when used, so a station running ONNX Runtime never imports torch
and one without TensorRT never needs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

from inspector.backends.base import Backend
from inspector.bundle import BundleMeta

# name -> "module:Class"; each class offers load(bundle_dir, meta, device, precision).
BACKENDS: dict[str, str] = {
    "torch": "inspector.backends.torch_backend:TorchBackend",
    "onnxruntime": "inspector.backends.onnxruntime_backend:OnnxRuntimeBackend",
    "tensorrt": "inspector.backends.tensorrt_backend:TensorRTBackend",
}
AUTO = "auto"


def backend_class(name: str) -> Any:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)} or auto")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cuda_available() -> bool:
    if not _installed("torch"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def choose_backend(meta: BundleMeta, device: str = "cpu") -> str:
    """TensorRT on a GPU when installed, else ONNX Runtime when the bundle has ONNX, else torch."""
    has_onnx = "onnx" in meta.exports
    if device.startswith("cuda") and has_onnx and _installed("tensorrt") and _cuda_available():
        return "tensorrt"
    if has_onnx and _installed("onnxruntime"):
        return "onnxruntime"
    return "torch"


def open_backend(
    name: str,
    bundle_dir: str | Path,
    meta: BundleMeta,
    device: str = "cpu",
    precision: str = "fp32",
) -> Backend:
    """Load the bundle in backend ``name`` (or the best available one for ``auto``)."""
    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        # A typo such as "gpu" would otherwise run on the CPU without a word.
        raise ValueError(f"device must be cpu, cuda or cuda:N, got {device!r}")
    if name == AUTO:
        name = choose_backend(meta, device)
    return backend_class(name).load(Path(bundle_dir), meta, device=device, precision=precision)


__all__ = ["AUTO", "BACKENDS", "Backend", "backend_class", "choose_backend", "open_backend"]
