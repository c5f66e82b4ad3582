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


def require_device(device: str) -> None:
    """Raise ValueError unless ``device`` names a device that is here.

    ``cuda`` on a machine without a GPU would otherwise run on the CPU, many times slower,
    with at most a warning: a line set up for a GPU must hear that it has none.
    """
    if device == "auto" or not device.startswith("cuda"):
        if device not in ("auto", "cpu"):
            raise ValueError(f"device must be cpu, cuda or cuda:N, got {device!r}")
        return
    if not re.fullmatch(r"cuda(:\d+)?", device):
        raise ValueError(f"device must be cpu, cuda or cuda:N, got {device!r}")
    index = int(device.split(":")[1]) if ":" in device else 0
    if _installed("torch"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    elif _installed("onnxruntime"):
        import onnxruntime as ort

        count = 1 if "CUDAExecutionProvider" in ort.get_available_providers() else 0
    else:
        count = 0
    if index >= count:
        have = f"{count} CUDA GPU(s)" if count else "no CUDA GPU"
        raise ValueError(f"--device {device}: this machine has {have}; use --device cpu")


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
    allow_download: bool = False,
) -> Backend:
    """Load the bundle in backend ``name`` (or the best available one for ``auto``).

    ``allow_download`` permits a backbone that would be fetched from a hub (refused else).
    """
    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        # A typo such as "gpu" would otherwise run on the CPU without a word.
        raise ValueError(f"device must be cpu, cuda or cuda:N, got {device!r}")
    require_device(device)
    if name == AUTO:
        name = choose_backend(meta, device)
    # Only the torch backend builds a backbone, so only it can be asked to download one.
    extra = {"allow_download": True} if allow_download and name == "torch" else {}
    return backend_class(name).load(
        Path(bundle_dir), meta, device=device, precision=precision, **extra
    )


__all__ = [
    "AUTO",
    "BACKENDS",
    "Backend",
    "backend_class",
    "choose_backend",
    "open_backend",
    "require_device",
]
