"""The TensorRT module's own logic, against a clearly named STAND-IN for ``tensorrt``.

What is tested here: engine-cache keys, shape profiles, precision choice, fp32 islands after
the backbone, timing-cache reuse, INT8 calibration flow, buffer plan, rebuild on a different
GPU or TensorRT version. What is not: TensorRT itself (see test_tensorrt_gpu.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from inspector.backends import tensorrt_engine as te
from inspector.bundle import BundleError

from . import stand_in_tensorrt as trt

pytest.importorskip("onnx")


@pytest.fixture(autouse=True)
def _reset() -> None:
    trt.Builder.fast_fp16, trt.Builder.fail = True, False
    trt.Builder.builds.clear()


@pytest.fixture
def bundle(exported_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(exported_bundle, tmp_path / "b"))


def test_engine_key_changes_with_everything_an_engine_depends_on() -> None:
    base = ("abc", "10.3", "NVIDIA H100 80GB HBM3", "fp16", ((1, 3, 256, 256),) * 3)
    key = te.engine_key(*base)
    assert key.startswith("fp16-nvidia-h100-80gb-hbm3-trt10.3-") and "/" not in key
    for i, other in enumerate(("abd", "10.4", "NVIDIA L4", "fp32", ((1, 3, 320, 320),) * 3)):
        changed = list(base)
        changed[i] = other
        assert te.engine_key(*changed) != key
    assert te.engine_key(*base) == key


def test_shape_profile_is_dynamic_in_batch_only() -> None:
    opts = te.EngineOptions(min_batch=1, opt_batch=8, max_batch=32)
    assert te.shape_profile((3, 256, 256), opts) == (
        (1, 3, 256, 256),
        (8, 3, 256, 256),
        (32, 3, 256, 256),
    )
    with pytest.raises(ValueError):
        te.EngineOptions(min_batch=4, opt_batch=2)


def test_precision_choice() -> None:
    assert te.resolve_precision(None, fast_fp16=True) == "fp16"
    assert te.resolve_precision(None, fast_fp16=False) == "fp32"
    assert te.resolve_precision("int8", fast_fp16=False) == "int8"
    with pytest.raises(ValueError, match="no fast fp16"):
        te.resolve_precision("fp16", fast_fp16=False)
    no_answer = object()  # TensorRT 10 may not say: fall back to the compute capability
    assert te.has_fast_fp16(trt, no_answer, (8, 9)) is True
    assert te.has_fast_fp16(trt, no_answer, (6, 1)) is False


def test_buffer_plan_sizes_every_tensor_for_the_largest_batch() -> None:
    plan = te.buffer_plan({"images": (-1, 3, 256, 256), "score": (-1,)}, max_batch=32)
    assert plan["images"] == ((32, 3, 256, 256), 32 * 3 * 256 * 256 * 4)
    assert plan["score"] == ((32,), 128)
    with pytest.raises(ValueError, match="dynamic dimension"):
        te.buffer_plan({"anomaly_map": (-1, 1, -1, 256)}, 8)


def test_fp16_build_keeps_everything_after_the_backbone_in_fp32(bundle: Path) -> None:
    cached = te.get_or_build(trt, bundle, te.EngineOptions(), "GPU A", (8, 0))
    assert cached.precision == "fp16"
    (build,) = trt.Builder.builds
    assert build["flags"] == ["FP16", "OBEY_PRECISION_CONSTRAINTS"]
    assert build["profile"]["images"] == [[1, 3, 256, 256], [1, 3, 256, 256], [32, 3, 256, 256]]
    backbone = [n for n in build["all_layers"] if n.startswith("/model/extractor/")]
    head = set(build["all_layers"]) - set(backbone)
    assert backbone and head and set(build["fp32_layers"]) == head
    assert any("MatMul" in n for n in head)  # the distance search stays fp32


def test_every_engine_option_reaches_the_builder(bundle: Path) -> None:
    opts = te.EngineOptions(opt_batch=4, max_batch=16, workspace_gb=0.5)
    te.get_or_build(trt, bundle, opts, "GPU A", (8, 0))
    (build,) = trt.Builder.builds
    assert build["workspace"] == 2**29
    assert build["profile"]["images"] == [[1, 3, 256, 256], [4, 3, 256, 256], [16, 3, 256, 256]]


def test_fp32_build_sets_no_reduced_precision(bundle: Path) -> None:
    trt.Builder.fast_fp16 = False
    cached = te.get_or_build(trt, bundle, te.EngineOptions(), "GPU A", (6, 1))
    assert cached.precision == "fp32"
    assert trt.Builder.builds[0]["flags"] == [] and trt.Builder.builds[0]["fp32_layers"] == []


def test_engines_are_cached_per_gpu_and_tensorrt_version(bundle: Path, monkeypatch) -> None:
    a = te.get_or_build(trt, bundle, te.EngineOptions(), "GPU A", (8, 0))
    again = te.get_or_build(trt, bundle, te.EngineOptions(), "GPU A", (8, 0))
    assert again.path == a.path and len(trt.Builder.builds) == 1  # reused, not rebuilt
    sidecar = json.loads(a.path.with_suffix(".json").read_text())
    assert sidecar["gpu"] == "GPU A" and sidecar["precision"] == "fp16"
    assert sidecar["onnx_sha256"] and sidecar["profile"][2][0] == 32
    b = te.get_or_build(trt, bundle, te.EngineOptions(), "GPU B", (8, 0))
    monkeypatch.setattr(trt, "__version__", "11.0.0")
    c = te.get_or_build(trt, bundle, te.EngineOptions(), "GPU A", (8, 0))
    assert len({a.path, b.path, c.path}) == 3 and len(trt.Builder.builds) == 3
    # The second and later builds start from the timing cache the first one wrote.
    assert trt.Builder.builds[0]["timing_cache_in"] == 0
    assert trt.Builder.builds[1]["timing_cache_in"] > 0


def test_int8_calibrates_once_from_good_images(bundle: Path, sample_product: Path) -> None:
    good = sample_product / "train" / "good"
    opts = te.EngineOptions(precision="int8")
    te.get_or_build(trt, bundle, opts, "GPU A", (8, 0), good, torch.device("cpu"))
    first = trt.Builder.builds[0]
    assert first["flags"] == ["FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS"]
    assert first["calibration_batches"] == 5  # 40 good images in batches of 8
    calib = list((bundle / "engines").glob("*.calib"))
    assert len(calib) == 1
    # Another GPU rebuilds the engine but reuses the calibration table.
    te.get_or_build(trt, bundle, opts, "GPU B", (8, 0), good, torch.device("cpu"))
    assert trt.Builder.builds[1]["calibration_batches"] == 0


def test_int8_without_images_and_failed_builds_are_clear_errors(bundle: Path, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="calibration"):
        te.get_or_build(trt, bundle, te.EngineOptions(precision="int8"), "G", (8, 0), empty, "cpu")
    trt.Builder.fail = True
    with pytest.raises(BundleError, match="failed to build"):
        te.get_or_build(trt, bundle, te.EngineOptions(), "G", (8, 0))
    assert not list((bundle / "engines").glob("*.engine"))


def test_calibration_batches_are_normalised_model_inputs(sample_product: Path) -> None:
    from inspector.imageio import iter_image_files
    from inspector.preprocess import Preprocessing

    files = iter_image_files([sample_product / "train" / "good"])[:10]
    batches = list(te.calibration_batches(files, Preprocessing(input_size=(64, 64)), batch=4))
    assert [b.shape for b in batches] == [(4, 3, 64, 64), (4, 3, 64, 64), (2, 3, 64, 64)]
    assert all(b.dtype == np.float32 for b in batches)
