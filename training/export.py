"""Export a bundle's model to ONNX (and, through ``training.tensorrt_build``, to TensorRT).

The ONNX file goes into the bundle beside the weights, its hash recorded in ``bundle.json``;
the exported graph is reloaded in ONNX Runtime and compared with the torch model on the spot,
so a bundle never carries a graph that disagrees with its weights.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from inspector.backends.onnx_spec import INPUT_NAME, ONNX_FILE, OPSET, OUTPUT_NAMES
from inspector.bundle import BundleError, file_sha256, load_bundle, update_exports

PARITY_TOLERANCE = 1e-4  # max |difference| of the normalised map, fp32 ONNX vs torch


class ExportWrapper(nn.Module):
    """The model's ``InferenceBatch`` as the plain (anomaly_map, score) tuple ONNX needs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(images)
        return out.anomaly_map, out.pred_score


def export_onnx(bundle: str | Path, opset: int = OPSET, check: bool = True) -> dict[str, Any]:
    """Write ``model.onnx`` into ``bundle`` (dynamic batch, static image size) and record it.

    Returns:
        The export record stored under ``exports.onnx`` in ``bundle.json``.
    """
    bundle = Path(bundle)
    model, meta = load_bundle(bundle)
    h, w = meta.preprocessing.input_size
    example = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(0))
    path = bundle / ONNX_FILE
    # Written under a temporary name and renamed: a kill never leaves half a graph in place.
    tmp = bundle / f".{ONNX_FILE}.{os.getpid()}.tmp"
    try:
        _export_to(model, example, tmp, opset)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    info: dict[str, Any] = {
        "file": ONNX_FILE,
        "sha256": file_sha256(path),
        "model_id": meta.model_id,
        "opset": opset,
        "input": {"name": INPUT_NAME, "shape": ["batch", 3, h, w], "dtype": "float32"},
        "outputs": {OUTPUT_NAMES[0]: ["batch", 1, h, w], OUTPUT_NAMES[1]: ["batch"]},
        "torch": torch.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if check:
        info["parity"] = check_parity(model, path, meta, example.numpy())
    update_exports(bundle, "onnx", info)
    return info


def _export_to(model: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    with warnings.catch_warnings():
        # The TorchScript exporter warns about every Python int it traces (shapes); the
        # graph is checked numerically below, which is the warning that matters.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            ExportWrapper(model).eval(),
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,  # TorchScript exporter: plain static graphs TensorRT parses well
        )
    _declare_output_shapes(path, *example.shape[2:])


def _declare_output_shapes(path: Path, h: int, w: int) -> None:
    """State the outputs' shapes: (batch, 1, H, W) and (batch,).

    The exporter's shape inference loses track of H and W through the map's edge padding
    and names them symbolically; TensorRT and other consumers plan buffers from these
    declarations, so they are set to what the model produces by construction (checked
    numerically by ``check_parity``).
    """
    import onnx

    model = onnx.load(str(path))
    wanted: dict[str, list[str | int]] = {
        OUTPUT_NAMES[0]: ["batch", 1, h, w],
        OUTPUT_NAMES[1]: ["batch"],
    }
    for out in model.graph.output:
        dims = out.type.tensor_type.shape.dim
        del dims[:]
        for d in wanted[out.name]:
            new = dims.add()
            if isinstance(d, str):
                new.dim_param = d
            else:
                new.dim_value = d
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def check_parity(model: nn.Module, path: Path, meta: Any, batch: np.ndarray) -> dict[str, Any]:
    """Run the graph in ONNX Runtime and compare with torch; raise if they disagree."""
    from inspector.backends.onnxruntime_backend import OnnxRuntimeBackend

    with torch.inference_mode():
        ref = model(torch.from_numpy(batch))
    ref_map, ref_score = ref.anomaly_map[:, 0].numpy(), ref.pred_score.numpy()
    with OnnxRuntimeBackend(path) as ort_backend:
        score, amap = ort_backend.infer(batch)
    # Compared on the normalised scale the operator sees (0.5 = threshold), so the tolerance
    # means the same thing for every model whatever its raw units. The spread is floored at
    # a tenth of the threshold: with a handful of calibration images the good median can sit
    # right under the threshold, and fp32 rounding of the distances (|x|^2 - 2x.m + |m|^2)
    # would then look like a disagreement.
    th = meta.thresholds.image
    spread = max(th - meta.score_stats.good_median, 0.1 * abs(th), 1e-12)
    map_diff = float(np.abs(amap - ref_map).max()) * 0.5 / spread
    score_diff = float(np.abs(score - ref_score).max()) * 0.5 / spread
    if map_diff > PARITY_TOLERANCE or score_diff > PARITY_TOLERANCE:
        path.unlink(missing_ok=True)
        raise BundleError(
            f"{path}: exported graph disagrees with the torch model (normalised map diff "
            f"{map_diff:.2e}, score diff {score_diff:.2e} > {PARITY_TOLERANCE}); not kept"
        )
    return {"normalised_map_max_abs_diff": map_diff, "normalised_score_max_abs_diff": score_diff}
