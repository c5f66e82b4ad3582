"""TensorRT backend: a cached engine with device buffers and a CUDA stream set up once.

Per call it copies the batch into a preallocated pinned host buffer, then onto the device,
runs the engine and copies the outputs back, all on one stream; nothing is allocated per
call. Input and output tensors stay referenced by this object for its whole life, so no
buffer can be freed while the GPU still reads it. torch provides the CUDA memory and the
stream (a GPU station has it anyway), so no pycuda/cuda-python dependency is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inspector.backends.base import check_input_size
from inspector.backends.onnx_spec import INPUT_NAME, OUTPUT_NAMES
from inspector.backends.tensorrt_engine import (
    EngineOptions,
    buffer_plan,
    get_or_build,
    gpu_identity,
    import_tensorrt,
)
from inspector.bundle import BundleError, BundleMeta, inside_bundle


class TensorRTBackend:
    """Runs a bundle's TensorRT engine (built from its ONNX on first use, then cached)."""

    name = "tensorrt"

    def __init__(self, trt: Any, engine_file: Path, device: str = "cuda", max_batch: int = 32):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(engine_file.read_bytes())
        if self.engine is None:
            raise BundleError(f"{engine_file}: TensorRT cannot load this engine")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        if sorted(names) != sorted([INPUT_NAME, *OUTPUT_NAMES]):
            raise BundleError(f"{engine_file}: engine tensors {names} are not this product's")
        shapes = {n: tuple(self.engine.get_tensor_shape(n)) for n in names}
        self.max_batch = max_batch
        self.plan = buffer_plan(shapes, max_batch)
        self.buffers = {
            n: torch.empty(shape, dtype=torch.float32, device=self.device)
            for n, (shape, _) in self.plan.items()
        }
        self.host = {
            n: torch.empty(shape, dtype=torch.float32, pin_memory=True)
            for n, (shape, _) in self.plan.items()
        }
        for n, buf in self.buffers.items():
            self.context.set_tensor_address(n, int(buf.data_ptr()))
        self.stream = torch.cuda.Stream(device=self.device)

    @classmethod
    def load(
        cls, bundle_dir: Path, meta: BundleMeta, device: str = "cuda", precision: str = "fp32"
    ) -> TensorRTBackend:
        trt = import_tensorrt()
        device = device if device.startswith("cuda") else "cuda"
        index = int(device.split(":")[1]) if ":" in device else 0
        gpu, capability = gpu_identity(index)
        options = EngineOptions(precision=precision)
        import torch

        cached = get_or_build(
            trt, Path(bundle_dir), options, gpu, capability, None, torch.device(device)
        )
        path = inside_bundle(bundle_dir, str(cached.path.relative_to(bundle_dir)), "engine file")
        backend = cls(trt, path, device=device, max_batch=options.max_batch)
        dims = backend.plan[INPUT_NAME][0][2:]
        check_input_size(path, list(dims), meta.preprocessing.input_size)
        return backend

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores, maps = [], []
        for start in range(0, batch.shape[0], self.max_batch):
            s, m = self._run(batch[start : start + self.max_batch])
            scores.append(s)
            maps.append(m)
        return np.concatenate(scores), np.concatenate(maps)

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        b = batch.shape[0]
        host_in = self.host[INPUT_NAME][:b]
        host_in.numpy()[...] = batch
        with torch.cuda.stream(self.stream):
            self.buffers[INPUT_NAME][:b].copy_(host_in, non_blocking=True)
            self.context.set_input_shape(INPUT_NAME, tuple(batch.shape))
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed")
            for name in OUTPUT_NAMES:
                self.host[name][:b].copy_(self.buffers[name][:b], non_blocking=True)
        self.stream.synchronize()
        amap = self.host[OUTPUT_NAMES[0]][:b, 0].numpy().copy()
        score = self.host[OUTPUT_NAMES[1]][:b].numpy().copy()
        return score, amap

    def close(self) -> None:
        self.context = None
        self.engine = None
        self.buffers = {}
        self.host = {}

    def __enter__(self) -> TensorRTBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
