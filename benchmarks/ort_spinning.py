"""Does ONNX Runtime's thread spinning slow a torch model in the same process?

Usage: python benchmarks/ort_spinning.py BUNDLE IMAGES_DIR

Times torch and ONNX Runtime call by call in turn on the same images, once with an
``InferenceSession`` that spins its idle threads (ONNX Runtime's default) and once with one
that does not (what ``OnnxRuntimeBackend`` uses).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from inspector.backends.onnxruntime_backend import onnx_path
from inspector.imageio import iter_image_files, read_image
from inspector.runtime import Inspector


def session(bundle: Path, meta, spinning: bool) -> ort.InferenceSession:  # noqa: ANN001
    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(
        str(onnx_path(bundle, meta)), opts, providers=["CPUExecutionProvider"]
    )


def main() -> None:
    bundle, folder = Path(sys.argv[1]), Path(sys.argv[2])
    images = [read_image(p) for p in iter_image_files([folder])[:32]]
    for spinning in (True, False):
        torch_insp = Inspector.load(bundle, backend="torch")
        ort_insp = Inspector.load(bundle, backend="onnxruntime")
        ort_insp.backend.session = session(bundle, ort_insp.meta, spinning)
        times: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
        for _ in range(3):
            for im in images:
                for name, insp in (("torch", torch_insp), ("onnxruntime", ort_insp)):
                    t = time.perf_counter()
                    insp.inspect(im)
                    times[name].append((time.perf_counter() - t) * 1e3)
        label = "spinning" if spinning else "not spinning"
        print(
            f"ONNX Runtime {label}: "
            + ", ".join(f"{k} p50 {np.median(v[5:]):.1f} ms" for k, v in times.items())
        )


if __name__ == "__main__":
    main()
