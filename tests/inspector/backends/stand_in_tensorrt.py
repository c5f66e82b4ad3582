"""STAND-IN for the ``tensorrt`` module, for unit tests only. It is NOT TensorRT.

TensorRT cannot be installed on this project's machines (see issue 4), so the engine-building
logic is exercised against this small imitation of the documented Python API surface it
uses. It records what the code under test asked for (flags, profiles, layer precisions,
timing cache) and "builds" an engine whose bytes describe those requests. The real
integration test (tests/inspector/backends/test_tensorrt_gpu.py) runs where TensorRT and a
GPU exist.
"""

from __future__ import annotations

import enum
import json
from types import SimpleNamespace

__version__ = "10.99.0-stand-in"
float32 = "float32"
float16 = "float16"


class Logger:
    WARNING = 2

    def __init__(self, level: int) -> None:
        self.level = level


class IInt8EntropyCalibrator2:
    """Base class the code under test subclasses (TensorRT's documented INT8 calibrator)."""

    def __init__(self) -> None:
        pass


class BuilderFlag(enum.Enum):
    FP16 = 1
    INT8 = 2
    OBEY_PRECISION_CONSTRAINTS = 3


class MemoryPoolType(enum.Enum):
    WORKSPACE = 0


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0


class _Layer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.precision = None
        self.num_outputs = 1
        self.output_types: dict[int, str] = {}

    def set_output_type(self, index: int, dtype: str) -> None:
        self.output_types[index] = dtype


class _Network:
    def __init__(self) -> None:
        self.layers: list[_Layer] = []
        self.inputs: list[SimpleNamespace] = []

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def get_layer(self, i: int) -> _Layer:
        return self.layers[i]

    def get_input(self, i: int) -> SimpleNamespace:
        return self.inputs[i]


class OnnxParser:
    """Reads the real ONNX file: one layer per node, named like the node."""

    def __init__(self, network: _Network, logger: Logger) -> None:
        self.network = network
        self.errors: list[str] = []

    def parse(self, data: bytes) -> bool:
        import onnx

        try:
            model = onnx.load_from_string(data)
        except Exception as exc:  # noqa: BLE001 - mimics the parser's bool result
            self.errors.append(f"cannot parse: {exc}")
            return False
        inp = model.graph.input[0]
        dims = [d.dim_value if d.dim_value else -1 for d in inp.type.tensor_type.shape.dim]
        self.network.inputs.append(SimpleNamespace(name=inp.name, shape=tuple(dims)))
        self.network.layers = [_Layer(n.name) for n in model.graph.node if n.op_type != "Constant"]
        return True

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, i: int) -> str:
        return self.errors[i]


class _Profile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple] = {}

    def set_shape(self, name: str, lo: tuple, opt: tuple, hi: tuple) -> None:
        self.shapes[name] = (lo, opt, hi)


class _TimingCache:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def serialize(self) -> bytes:
        return b"timing:" + str(len(self.data)).encode()


class _Config:
    def __init__(self) -> None:
        self.flags: set[BuilderFlag] = set()
        self.profiles: list[_Profile] = []
        self.pool: dict = {}
        self.int8_calibrator = None
        self.calibration_profile = None
        self.timing_cache: _TimingCache | None = None

    def set_memory_pool_limit(self, pool: MemoryPoolType, size: int) -> None:
        self.pool[pool] = size

    def set_flag(self, flag: BuilderFlag) -> None:
        self.flags.add(flag)

    def add_optimization_profile(self, profile: _Profile) -> None:
        self.profiles.append(profile)

    def set_calibration_profile(self, profile: _Profile) -> None:
        self.calibration_profile = profile

    def create_timing_cache(self, data: bytes) -> _TimingCache:
        return _TimingCache(data)

    def set_timing_cache(self, cache: _TimingCache, ignore_mismatch: bool) -> None:
        self.timing_cache = cache

    def get_timing_cache(self) -> _TimingCache:
        assert self.timing_cache is not None
        return self.timing_cache


class Builder:
    fast_fp16 = True  # tests flip this
    fail = False
    builds: list[dict] = []

    def __init__(self, logger: Logger) -> None:
        self.platform_has_fast_fp16 = Builder.fast_fp16

    def create_network(self, flags: int) -> _Network:
        return _Network()

    def create_builder_config(self) -> _Config:
        return _Config()

    def create_optimization_profile(self) -> _Profile:
        return _Profile()

    def build_serialized_network(self, network: _Network, config: _Config) -> bytes | None:
        if Builder.fail:
            return None
        calibrated = 0
        if config.int8_calibrator is not None:
            cal = config.int8_calibrator
            if cal.read_calibration_cache() is None:
                while cal.get_batch(["images"]) is not None:
                    calibrated += 1
                cal.write_calibration_cache(b"calibration-table")
        record = {
            "flags": sorted(f.name for f in config.flags),
            "profile": {k: [list(s) for s in v] for k, v in config.profiles[0].shapes.items()},
            "fp32_layers": [lay.name for lay in network.layers if lay.precision == float32],
            "all_layers": [lay.name for lay in network.layers],
            "timing_cache_in": len(config.timing_cache.data) if config.timing_cache else None,
            "calibration_batches": calibrated,
            "workspace": config.pool.get(MemoryPoolType.WORKSPACE),
        }
        Builder.builds.append(record)
        return json.dumps(record).encode()
