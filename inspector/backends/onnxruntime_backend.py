"""ONNX Runtime backend: the bundle's exported graph on the CPU (or CUDA when present)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from inspector.backends.base import check_input_size
from inspector.backends.onnx_spec import INPUT_NAME, OUTPUT_NAMES
from inspector.bundle import BundleError, BundleMeta, file_sha256, inside_bundle


def onnx_path(bundle_dir: Path, meta: BundleMeta) -> Path:
    """The bundle's ONNX file, checked against the hash recorded when it was exported."""
    info = meta.exports.get("onnx")
    if not info:
        raise BundleError(
            f"{bundle_dir}: no ONNX export in this bundle; create it with "
            f"`inspector export --model {bundle_dir} --format onnx`"
        )
    if not isinstance(info, dict):
        raise BundleError(f"{bundle_dir}: exports.onnx in bundle.json is not an object")
    path = inside_bundle(bundle_dir, info.get("file"), "exports.onnx.file")
    if not path.is_file():
        raise BundleError(f"{path}: ONNX file listed in bundle.json is missing")
    if file_sha256(path) != info.get("sha256"):
        raise BundleError(f"{path}: does not match the hash in bundle.json (stale or corrupt)")
    if info.get("model_id") not in (None, meta.model_id):
        raise BundleError(f"{path}: exported from another model ({info.get('model_id')})")
    return path


class OnnxRuntimeBackend:
    """An ``onnxruntime.InferenceSession`` over the exported graph.

    Args:
        path: the ONNX file.
        device: ``cpu``, or ``cuda``/``cuda:N`` to use the CUDA execution provider when the
            installed onnxruntime has it (falls back to the CPU otherwise, with a warning).
        threads: intra-op threads (0 = ONNX Runtime's default, one per physical core).
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int = 0) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        # Idle worker threads would otherwise spin for a while after every run, burning the
        # cores the station's capture and UI threads (or another model) need; not spinning
        # costs this graph nothing measurable.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list[Any] = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" in ort.get_available_providers():
                index = int(device.split(":")[1]) if ":" in device else 0
                providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
            else:
                import warnings

                warnings.warn(
                    "onnxruntime has no CUDA provider here; running on the CPU", stacklevel=2
                )
        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own types for corrupt graphs
            raise BundleError(f"{self.path}: ONNX Runtime cannot load it ({exc})") from exc
        names_in = [i.name for i in self.session.get_inputs()]
        names_out = [o.name for o in self.session.get_outputs()]
        if names_in != [INPUT_NAME] or tuple(names_out) != OUTPUT_NAMES:
            raise BundleError(
                f"{self.path}: graph has inputs {names_in} / outputs {names_out}, expected "
                f"[{INPUT_NAME!r}] / {list(OUTPUT_NAMES)}"
            )
        self.providers = self.session.get_providers()

    @classmethod
    def load(
        cls, bundle_dir: Path, meta: BundleMeta, device: str = "cpu", precision: str = "fp32"
    ) -> OnnxRuntimeBackend:
        if precision != "fp32":
            raise ValueError("the ONNX Runtime backend runs the fp32 graph (use tensorrt for fp16)")
        threads = int(os.environ.get("INSPECTOR_ORT_THREADS", "0"))
        backend = cls(onnx_path(Path(bundle_dir), meta), device=device, threads=threads)
        # The graph's input size is fixed at export; a bundle.json that says otherwise was
        # edited or mixed up, and every image would fail with ONNX Runtime's own message.
        shape = backend.session.get_inputs()[0].shape
        check_input_size(backend.path, shape[2:], meta.preprocessing.input_size)
        return backend

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        amap, score = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: x})
        return np.asarray(score, np.float32), np.asarray(amap[:, 0], np.float32)

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]

    def __enter__(self) -> OnnxRuntimeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
