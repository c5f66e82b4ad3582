"""The contract between an exported graph and the runtimes that run it (no torch needed).

Input ``images``: (B, 3, H, W) float32, normalised as the bundle's preprocessing says.
Outputs ``anomaly_map`` (B, 1, H, W) and ``score`` (B,), float32, in the model's raw units.
Thresholds are NOT in the graph: they stay in ``bundle.json`` so they can move without
re-export (the peers that bake them in get asked to undo it).
"""

from __future__ import annotations

INPUT_NAME = "images"
OUTPUT_NAMES = ("anomaly_map", "score")
# Opset 17: new enough for every op the models use (LayerNormalization included), old enough
# that TensorRT 8.6 and 10.x parse it (onnx-tensorrt supports opsets 9-20 / 9-22).
OPSET = 17
ONNX_FILE = "model.onnx"
