"""ONNX export reloaded in ONNX Runtime and compared with the torch reference.

Tolerance (fp32): anomaly maps and scores agree within 1e-4 on the normalised scale the
operator sees (0.5 = threshold), and every verdict on the sample test set is identical.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from inspector.backends import choose_backend
from inspector.bundle import BundleError, read_meta
from inspector.imageio import iter_image_files
from inspector.models import list_models
from inspector.runtime import Inspector

pytest.importorskip("onnxruntime")


def _normalised(x: np.ndarray, meta) -> np.ndarray:  # noqa: ANN001
    spread = meta.thresholds.image - meta.score_stats.good_median
    return np.asarray(x, np.float64) * 0.5 / spread


def test_export_is_recorded_in_the_bundle(exported_bundle: Path) -> None:
    meta = read_meta(exported_bundle)
    info = meta.exports["onnx"]
    assert (exported_bundle / info["file"]).is_file()
    assert info["opset"] == 17 and info["input"]["shape"][0] == "batch"
    assert info["parity"]["normalised_map_max_abs_diff"] <= 1e-4
    assert info["model_id"] == meta.model_id


@pytest.mark.parametrize("family", list_models())
def test_onnxruntime_matches_torch_on_the_sample_test_set(
    family_bundles: dict[str, Path], sample_product: Path, family: str
) -> None:
    bundle = family_bundles[family]
    files = iter_image_files([sample_product / "test"])
    with (
        Inspector.load(bundle, backend="torch") as ref,
        Inspector.load(bundle, backend="onnxruntime") as ort,
    ):
        assert ort.backend.name == "onnxruntime"
        meta = ref.meta
        a = ref.inspect_batch(files)
        b = ort.inspect_batch(files)
    assert [r.verdict for r in a] == [r.verdict for r in b]
    for x, y in zip(a, b, strict=True):
        assert abs(_normalised(x.score - y.score, meta)) <= 1e-4
        assert np.abs(_normalised(x.anomaly_map - y.anomaly_map, meta)).max() <= 1e-4


def test_dynamic_batch_gives_the_same_answer_as_one_by_one(exported_bundle: Path) -> None:
    from inspector.backends.onnxruntime_backend import OnnxRuntimeBackend, onnx_path

    meta = read_meta(exported_bundle)
    h, w = meta.preprocessing.input_size
    batch = np.random.default_rng(0).normal(size=(3, 3, h, w)).astype(np.float32)
    with OnnxRuntimeBackend(onnx_path(exported_bundle, meta)) as backend:
        scores, maps = backend.infer(batch)
        single = [backend.infer(batch[i : i + 1]) for i in range(3)]
    assert maps.shape == (3, h, w) and scores.shape == (3,)
    for i, (s, m) in enumerate(single):
        assert np.allclose(s[0], scores[i], atol=1e-5) and np.allclose(m[0], maps[i], atol=1e-4)


def test_auto_backend_prefers_onnxruntime_only_when_exported(
    trained_bundle: Path, exported_bundle: Path
) -> None:
    assert choose_backend(read_meta(exported_bundle)) == "onnxruntime"
    assert choose_backend(read_meta(trained_bundle)) == "torch"
    with Inspector.load(exported_bundle) as insp:
        assert insp.backend.name == "onnxruntime"


def test_missing_or_tampered_onnx_is_refused(exported_bundle: Path, tmp_path: Path) -> None:
    bad = Path(shutil.copytree(exported_bundle, tmp_path / "bad"))
    onnx_file = bad / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:1000])
    with pytest.raises(BundleError, match="does not match the hash"):
        Inspector.load(bad, backend="onnxruntime")
    onnx_file.unlink()
    with pytest.raises(BundleError, match="missing"):
        Inspector.load(bad, backend="onnxruntime")


def test_input_size_edited_away_from_the_graph_is_refused(
    exported_bundle: Path, tmp_path: Path
) -> None:
    import json

    bad = Path(shutil.copytree(exported_bundle, tmp_path / "edited"))
    meta_file = bad / "bundle.json"
    data = json.loads(meta_file.read_text())
    data["preprocessing"]["input_size"] = [224, 224]
    meta_file.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"input_size is \[224, 224\]"):
        Inspector.load(bad, backend="onnxruntime")


def test_bundle_without_export_names_the_command(trained_bundle: Path) -> None:
    with pytest.raises(BundleError, match="inspector export --model"):
        Inspector.load(trained_bundle, backend="onnxruntime")


@pytest.mark.parametrize("family", list_models())
def test_exported_graph_is_tensorrt_ready(family_bundles: dict[str, Path], family: str) -> None:
    from training.tensorrt_ready import tensorrt_problems

    assert tensorrt_problems(family_bundles[family] / "model.onnx") == []


def test_readiness_check_catches_what_tensorrt_refuses(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from training.tensorrt_ready import tensorrt_problems

    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["b", 3])
    node = helper.make_node("Col2Im", ["x"], ["y"])
    model = helper.make_model(
        helper.make_graph([node], "g", [x], [y]), opset_imports=[helper.make_opsetid("", 21)]
    )
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    problems = "\n".join(tensorrt_problems(path))
    assert "opset 21" in problems and "Col2Im" in problems
    assert "x: batch dimension is not dynamic" in problems and "element type 11" in problems
