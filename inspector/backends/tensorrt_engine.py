"""Building and caching TensorRT engines from a bundle's ONNX graph.

Written against NVIDIA's documented TensorRT Python API (8.6 and 10.x). The ``tensorrt``
module is passed in rather than imported here, so the logic (cache keys, shape profiles,
precision choice, fp32 islands, calibration) is testable without a GPU.

Engines live in ``BUNDLE/engines/<key>.engine`` with a ``<key>.json`` sidecar; the key covers
everything an engine depends on (ONNX hash, TensorRT version, GPU, precision, shapes), so a
bundle moved to another GPU or TensorRT version builds a new engine instead of crashing on
an incompatible one. A timing cache beside them makes rebuilds fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from inspector.atomic import write_text
from inspector.backends.onnx_spec import INPUT_NAME
from inspector.bundle import BundleError, read_meta

ENGINES_DIR = "engines"
TIMING_CACHE = "timing.cache"
PRECISIONS = ("fp32", "fp16", "int8")
# Layers whose names start with this are the pretrained backbone (the exporter names nodes
# by module path). Only they may run in reduced precision: everything after (feature
# standardisation, squared distances to the centres, whose |m|^2 padding is ~1e30, maps)
# overflows or loses the score's resolution in fp16.
REDUCED_PRECISION_PREFIX = "/model/extractor/"


@dataclass(frozen=True)
class EngineOptions:
    """How to build an engine.

    Attributes:
        precision: ``fp32``, ``fp16``, ``int8`` or None (fp16 where the GPU has fast fp16).
        min_batch / opt_batch / max_batch: the optimisation profile's batch sizes.
        workspace_gb: builder scratch memory limit.
    """

    precision: str | None = None
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 32
    workspace_gb: float = 2.0

    def __post_init__(self) -> None:
        if self.precision not in (None, *PRECISIONS):
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise ValueError("batch sizes must satisfy 1 <= min <= opt <= max")


def has_fast_fp16(trt: Any, builder: Any, capability: tuple[int, int]) -> bool:
    """Whether fp16 pays off here: the builder's own answer when it still gives one
    (deprecated in TensorRT 10), else the compute capability (Pascal GP100 and Volta on)."""
    answer = getattr(builder, "platform_has_fast_fp16", None)
    if isinstance(answer, bool):
        return answer
    return capability >= (7, 0) or capability in ((5, 3), (6, 0), (6, 2))


def resolve_precision(requested: str | None, fast_fp16: bool) -> str:
    """The precision to build: an explicit request, else fp16 where it is fast, else fp32."""
    if requested is None:
        return "fp16" if fast_fp16 else "fp32"
    if requested == "fp16" and not fast_fp16:
        raise ValueError("this GPU has no fast fp16; build fp32 (or int8)")
    return requested


def shape_profile(
    input_shape: tuple[int, int, int], options: EngineOptions
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) input shapes: dynamic batch, the bundle's fixed C, H, W."""
    return tuple(
        (b, *input_shape) for b in (options.min_batch, options.opt_batch, options.max_batch)
    )  # type: ignore[return-value]


def engine_key(
    onnx_sha256: str,
    trt_version: str,
    gpu_name: str,
    precision: str,
    profile: tuple[tuple[int, ...], ...],
) -> str:
    """A file-name-safe key that changes whenever a cached engine would be invalid."""
    blob = json.dumps(
        {"onnx": onnx_sha256, "trt": trt_version, "gpu": gpu_name, "p": precision, "s": profile},
        sort_keys=True,
    )
    gpu = "".join(c if c.isalnum() else "-" for c in gpu_name).strip("-").lower()[:32]
    return f"{precision}-{gpu}-trt{trt_version}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def buffer_plan(
    io_shapes: dict[str, tuple[int, ...]], max_batch: int
) -> dict[str, tuple[tuple[int, ...], int]]:
    """Device buffers to allocate once, sized for the largest batch: name -> (shape, bytes).

    ``io_shapes`` are the engine's I/O shapes with -1 for the dynamic batch; all tensors of
    this product's graphs are float32.
    """
    plan = {}
    for name, shape in io_shapes.items():
        full = tuple(max_batch if (i == 0 and d == -1) else int(d) for i, d in enumerate(shape))
        if any(d <= 0 for d in full):
            raise ValueError(f"{name}: shape {shape} has a dynamic dimension besides the batch")
        plan[name] = (full, int(np.prod(full)) * 4)
    return plan


def keep_head_in_fp32(trt: Any, network: Any) -> int:
    """Pin every layer outside the backbone to fp32; returns how many were pinned."""
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.name.startswith(REDUCED_PRECISION_PREFIX):
            continue
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float32)
        pinned += 1
    return pinned


def build_engine(
    trt: Any,
    onnx_file: Path,
    options: EngineOptions,
    capability: tuple[int, int],
    timing_cache: Path | None = None,
    calibrator: Any = None,
) -> tuple[bytes, str]:
    """Parse the ONNX file and build a serialised engine; returns (engine bytes, precision)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # TensorRT 10 networks are always explicit-batch; 8.x needs the flag.
    major = int(str(trt.__version__).split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_file.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BundleError(f"{onnx_file}: TensorRT cannot parse it ({errors})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_gb * 2**30))
    precision = resolve_precision(options.precision, has_fast_fp16(trt, builder, capability))
    inp = network.get_input(0)
    profile = builder.create_optimization_profile()
    lo, opt, hi = shape_profile(tuple(inp.shape)[1:], options)
    profile.set_shape(INPUT_NAME, lo, opt, hi)
    config.add_optimization_profile(profile)
    if precision != "fp32":
        config.set_flag(trt.BuilderFlag.FP16)
        if precision == "int8":
            if calibrator is None:
                raise ValueError("int8 needs a calibrator (good images)")
            config.set_flag(trt.BuilderFlag.INT8)
            config.int8_calibrator = calibrator
            config.set_calibration_profile(profile)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        keep_head_in_fp32(trt, network)
    cache = None
    if timing_cache is not None:
        data = timing_cache.read_bytes() if timing_cache.is_file() else b""
        cache = config.create_timing_cache(data)
        config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BundleError(f"{onnx_file}: TensorRT failed to build a {precision} engine")
    if cache is not None and timing_cache is not None:
        _write_atomic(timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized), precision


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def calibration_batches(
    files: list[Path], preprocessing: Any, batch: int = 8, limit: int = 256
) -> Iterator[np.ndarray]:
    """Normalised (B, 3, H, W) float32 batches of good images for INT8 calibration."""
    from inspector.imageio import ImageLoadError, read_image
    from inspector.preprocess import prepare_batch

    images = []
    for path in files[:limit]:
        try:
            images.append(read_image(path))
        except ImageLoadError:
            continue
        if len(images) == batch:
            yield prepare_batch(images, preprocessing)[0]
            images = []
    if images:
        yield prepare_batch(images, preprocessing)[0]


def make_calibrator(trt: Any, batches: Iterator[np.ndarray], cache_file: Path, device: Any) -> Any:
    """An entropy calibrator (TensorRT's documented INT8 path) feeding ``batches``.

    The calibration cache is read back on rebuilds, so calibration runs once per model.
    ``device`` is a ``torch.device`` holding the staging buffer.
    """
    import torch

    class Calibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.batches = batches
            self.buffer: torch.Tensor | None = None
            self.size = 1

        def get_batch_size(self) -> int:
            return self.size

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = next(self.batches, None)
            if batch is None:
                return None
            self.size = batch.shape[0]
            # Kept referenced on the device until TensorRT has read it.
            self.buffer = torch.from_numpy(batch).to(device).contiguous()
            return [int(self.buffer.data_ptr())]

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            _write_atomic(cache_file, bytes(cache))

    return Calibrator()


@dataclass(frozen=True)
class CachedEngine:
    path: Path
    key: str
    precision: str


def gpu_identity(device_index: int = 0) -> tuple[str, tuple[int, int]]:
    import torch

    return torch.cuda.get_device_name(device_index), torch.cuda.get_device_capability(device_index)


def get_or_build(
    trt: Any,
    bundle: Path,
    options: EngineOptions,
    gpu_name: str,
    capability: tuple[int, int],
    calibration_dir: Path | None = None,
    device: Any = None,
) -> CachedEngine:
    """The cached engine for this bundle, GPU, TensorRT version and options; built if absent."""
    from inspector.backends.onnxruntime_backend import onnx_path

    meta = read_meta(bundle)
    onnx_file = onnx_path(bundle, meta)
    c, h, w = 3, *meta.preprocessing.input_size
    builder_probe = trt.Builder(trt.Logger(trt.Logger.WARNING))
    precision = resolve_precision(options.precision, has_fast_fp16(trt, builder_probe, capability))
    profile = shape_profile((c, h, w), options)
    key = engine_key(meta.exports["onnx"]["sha256"], trt.__version__, gpu_name, precision, profile)
    folder = bundle / ENGINES_DIR
    path = folder / f"{key}.engine"
    if path.is_file():
        return CachedEngine(path, key, precision)
    folder.mkdir(exist_ok=True)
    calibrator = None
    if precision == "int8":
        data = calibration_dir or Path(meta.training.get("data", ""))
        from inspector.imageio import iter_image_files

        files = iter_image_files([data]) if data and Path(data).exists() else []
        if not files:
            raise ValueError("int8 calibration needs good images: pass --calibration-dir")
        calibrator = make_calibrator(
            trt,
            calibration_batches(files, meta.preprocessing),
            folder / f"{meta.exports['onnx']['sha256'][:16]}.calib",
            device,
        )
    engine, precision = build_engine(
        trt,
        onnx_file,
        replace(options, precision=precision),
        capability,
        timing_cache=folder / TIMING_CACHE,
        calibrator=calibrator,
    )
    _write_atomic(path, engine)
    sidecar = {
        "key": key,
        "onnx_sha256": meta.exports["onnx"]["sha256"],
        "model_id": meta.model_id,
        "tensorrt": trt.__version__,
        "gpu": gpu_name,
        "compute_capability": list(capability),
        "precision": precision,
        "profile": [list(s) for s in profile],
        "options": asdict(options),
        "engine_sha256": hashlib.sha256(engine).hexdigest(),
    }
    write_text(path.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
    return CachedEngine(path, key, precision)


def build_for_bundle(
    bundle: str | Path, options: EngineOptions, calibration_dir: Path | None = None
) -> tuple[Path, str]:
    """``inspector export --format tensorrt``: build (or reuse) the engine on this GPU."""
    trt = import_tensorrt()
    import torch

    name, capability = gpu_identity()
    cached = get_or_build(
        trt, Path(bundle), options, name, capability, calibration_dir, torch.device("cuda")
    )
    return cached.path, cached.key


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt  # type: ignore[import-not-found]
    except ImportError as exc:
        raise RuntimeError(
            "TensorRT is not installed: pip install 'visual-inspector[tensorrt]' with NVIDIA's "
            "package index reachable (https://pypi.nvidia.com), on a machine with an NVIDIA GPU"
        ) from exc
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("TensorRT needs an NVIDIA GPU; none is visible to CUDA here")
    return trt
