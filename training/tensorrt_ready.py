"""Static checks that an exported ONNX graph is one TensorRT can build, without TensorRT.

TensorRT cannot be installed on every machine that exports (no NVIDIA package index, no
GPU), so the graph is checked against onnx-tensorrt's published operator support matrix
(operators.md, TensorRT 10.x: opsets 9-20) and its shape and type rules instead.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

# Operators marked supported ("Y") in onnx-tensorrt's operators.md for TensorRT 10. Only
# this subset matters for the ops exporters emit for conv nets; anything outside it fails.
TENSORRT_OPS = frozenset(
    """
    Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization
    Cast Ceil Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum
    DepthToSpace DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten
    Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalMaxPool Greater
    GreaterOrEqual GridSample GroupNormalization HardSigmoid HardSwish Identity If
    InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less LessOrEqual Log
    LogSoftmax Loop LRN MatMul Max MaxPool Mean Min Mod Mul Neg NonMaxSuppression NonZero Not
    OneHot Or Pad ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal RandomNormalLike
    RandomUniform RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum
    ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu
    Reshape Resize ReverseSequence RoiAlign Round ScaledTanh Scan Scatter ScatterElements
    ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign
    SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu
    Unsqueeze Upsample Where Xor
    """.split()
)
OPSET_RANGE = (9, 20)
# Tensor element types TensorRT takes at the network boundary for this product's graphs.
FLOAT = 1  # onnx.TensorProto.FLOAT


def tensorrt_problems(path: str | Path) -> list[str]:
    """Reasons TensorRT would refuse (or mis-build) the graph; empty when it is ready."""
    import onnx

    model = onnx.load(str(path))
    problems = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        problems.append(f"opset {opset} outside TensorRT's {OPSET_RANGE[0]}-{OPSET_RANGE[1]}")
    ops = Counter(n.op_type for n in model.graph.node)
    for op in sorted(set(ops) - TENSORRT_OPS):
        problems.append(f"operator {op} ({ops[op]}x) is not supported by TensorRT's ONNX parser")
    for n in model.graph.node:
        if n.domain not in ("", "ai.onnx"):
            problems.append(f"node {n.name}: custom domain {n.domain!r} needs a plugin")
        if n.op_type == "Resize":
            mode = next((a.s.decode() for a in n.attribute if a.name == "mode"), "nearest")
            if mode not in ("nearest", "linear", "cubic"):
                problems.append(f"node {n.name}: Resize mode {mode}")
    for t in model.graph.initializer:
        if t.data_type == 11:  # DOUBLE: TensorRT clamps it to float, silently
            problems.append(f"initializer {t.name} is float64")
    for io in (*model.graph.input, *model.graph.output):
        tt = io.type.tensor_type
        if tt.elem_type != FLOAT:
            problems.append(f"{io.name}: element type {tt.elem_type}, expected float32")
        dims = tt.shape.dim
        if not dims or not dims[0].dim_param:
            problems.append(f"{io.name}: batch dimension is not dynamic")
        for i, d in enumerate(dims[1:], 1):
            if d.dim_param or d.dim_value <= 0:
                problems.append(f"{io.name}: dimension {i} is not static")
    return problems
