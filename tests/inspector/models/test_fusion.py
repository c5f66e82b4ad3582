"""The fusion family: one backbone pass, members normalised by good parts, one graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inspector.bundle import BundleMeta, load_bundle, save_bundle
from inspector.families import family_spec, list_families
from inspector.models import InferenceBatch, create_model
from inspector.models.cnn_cluster import CnnClusterModel
from inspector.models.feature_ae import FeatureAEModel
from inspector.models.fusion import FusionModel, good_norm
from inspector.preprocess import Preprocessing
from inspector.verdict import ScoreStats, Thresholds

RANDOM_BACKBONE = {"name": "efficientnet_lite0", "layers": [2, 3], "weights": "none"}
SIZE = (64, 64)


def fitted_like() -> FusionModel:
    """A fusion with a filled memory, rings with scales and a part level, norms and unequal
    weights: every path of the graph does something."""
    torch.manual_seed(0)
    model = FusionModel(
        backbone=RANDOM_BACKBONE,
        input_size=SIZE,
        memory={"coarse_size": 1024, "refine_k": 8, "score_topk": 4},
        learned={
            "context": [2, 8],
            "ring_stages": [0, None],
            "ring_scales": [0.7, 1.3],
            "part_level": 0.5,
            "hidden": [16],
            "latent_dim": 4,
        },
        map_norms=[[0.5, 2.0], [0.1, 0.3]],
        score_norms=[[1.0, 0.5], [2.0, 4.0]],
        weights=[1.0, 2.0],
    ).eval()
    model.memory.set_memory(torch.randn(2100, model.memory.feature_dim))
    return model


def test_fusion_is_registered_for_the_station_and_the_command_line() -> None:
    assert "fusion" in dict(list_families())
    spec = family_spec("fusion")
    assert spec.trained and spec.config().learned == "feature-ae"
    assert spec.config().weights == (1.0, 1.0)


def test_the_backbone_is_saved_once_and_read_by_both_members() -> None:
    model = fitted_like()
    keys = model.state_dict().keys()
    assert any(k.startswith("extractor.") for k in keys)
    assert not any(".extractor." in k for k in keys)
    assert model.memory.extractor is model.extractor is model.learned.extractor


def test_members_give_what_they_give_alone_and_the_fusion_their_weighted_mean() -> None:
    torch.manual_seed(1)
    memory = CnnClusterModel(backbone=RANDOM_BACKBONE, input_size=SIZE, score_topk=4).eval()
    memory.set_memory(torch.randn(300, memory.feature_dim))
    learned = FeatureAEModel(
        backbone=RANDOM_BACKBONE, input_size=SIZE, context=[2], part_level=0.3, hidden=[16]
    ).eval()
    learned.extractor.load_state_dict(memory.extractor.state_dict())
    x = torch.randn(2, 3, *SIZE)
    with torch.inference_mode():
        alone = [memory(x), learned(x)]
    model = FusionModel(backbone=RANDOM_BACKBONE, input_size=SIZE, load_weights=False).eval()
    model.set_members(memory, learned)
    model.map_norms, model.score_norms = ((1.0, 2.0), (0.0, 0.5)), ((3.0, 1.0), (1.0, 0.25))
    with torch.inference_mode():
        outputs = model.member_outputs(x)
        fused = model(x)
        memory_only = model.fuse(outputs, (1.0, 0.0))
    for got, want in zip(outputs, alone, strict=True):
        torch.testing.assert_close(got.pred_score, want.pred_score)
        torch.testing.assert_close(got.anomaly_map, want.anomaly_map)
    torch.testing.assert_close(memory_only.pred_score, alone[0].pred_score - 3.0)
    want_map = 0.5 * (alone[0].anomaly_map - 1.0) / 2.0 + 0.5 * alone[1].anomaly_map / 0.5
    torch.testing.assert_close(fused.anomaly_map, want_map)
    want_score = 0.5 * (alone[0].pred_score - 3.0) + 0.5 * (alone[1].pred_score - 1.0) / 0.25
    torch.testing.assert_close(fused.pred_score, want_score)


def test_members_fitted_on_different_backbones_are_refused() -> None:
    memory = CnnClusterModel(backbone=RANDOM_BACKBONE, input_size=SIZE)
    learned = FeatureAEModel(backbone=RANDOM_BACKBONE, input_size=SIZE)  # other random init
    model = FusionModel(backbone=RANDOM_BACKBONE, input_size=SIZE, load_weights=False)
    with pytest.raises(ValueError, match="different backbones"):
        model.set_members(memory, learned)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weights": [1.0]}, "give two weights"),
        ({"weights": [1.0, -1.0]}, "none negative"),
        ({"weights": [0.0, 0.0]}, "not both 0"),
        ({"learned_family": "cae"}, "learned member is one of"),
        ({"map_norms": [[0.0, 1.0], [0.0, 0.0]]}, "map_norms .*scales above 0"),
        ({"score_norms": [[0.0, 1.0]]}, "score_norms"),
    ],
)
def test_bad_fusion_configs_say_what_is_wrong(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FusionModel(backbone=RANDOM_BACKBONE, input_size=SIZE, load_weights=False, **change)


def test_good_norm_is_median_and_reach_of_the_good_values() -> None:
    values = torch.arange(101, dtype=torch.float32)
    centre, scale = good_norm(values, 0.9)
    assert centre == 50.0 and scale == pytest.approx(40.0)
    assert good_norm(torch.full((10,), 3.0), 0.9)[1] > 0  # all alike: never divides by 0
    with pytest.raises(ValueError, match="no good values"):
        good_norm(torch.empty(0), 0.9)


def test_the_learned_member_can_be_the_feature_discriminator() -> None:
    model = create_model(
        "fusion", backbone=RANDOM_BACKBONE, input_size=SIZE, learned_family="feature-gan"
    ).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 3, *SIZE))
    assert isinstance(out, InferenceBatch) and out.anomaly_map.shape == (2, 1, *SIZE)
    again = create_model("fusion", **model.config(), load_weights=False)
    again.load_state_dict(model.state_dict(), strict=True)


def _bundle(model: FusionModel, where: Path) -> Path:
    meta = BundleMeta(
        family="fusion",
        model_config=model.config(),
        preprocessing=Preprocessing(input_size=SIZE),
        thresholds=Thresholds(image=2.0, pixel=2.0),
        score_stats=ScoreStats(good_median=0.0, good_max=1.0, good_count=8),
    )
    save_bundle(where, model, meta)
    return where


def test_bundle_round_trip_keeps_norms_weights_and_scores(tmp_path: Path) -> None:
    model = fitted_like()
    loaded, meta = load_bundle(_bundle(model, tmp_path / "fusion"))
    assert meta.model_config["weights"] == [1.0, 2.0]
    assert meta.model_config["map_norms"] == [[0.5, 2.0], [0.1, 0.3]]
    x = torch.randn(2, 3, *SIZE)
    with torch.inference_mode():
        want, got = model(x), loaded(x)
    torch.testing.assert_close(got.pred_score, want.pred_score)
    torch.testing.assert_close(got.anomaly_map, want.anomaly_map)


def test_one_onnx_graph_agrees_with_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import onnx

    from inspector.backends.onnxruntime_backend import OnnxRuntimeBackend
    from training.export import export_onnx

    model = fitted_like()
    bundle = _bundle(model, tmp_path / "fusion")
    info = export_onnx(bundle)  # raises when the graph disagrees with torch
    graph = onnx.load(str(bundle / info["file"]))
    # One backbone: its stem convolution appears once in the graph.
    stem = model.extractor.state_dict()["net.conv_stem.weight"].shape
    stems = [i for i in graph.graph.initializer if tuple(i.dims) == tuple(stem)]
    assert len(stems) == 1
    batch = np.random.default_rng(3).normal(size=(3, 3, *SIZE)).astype(np.float32)
    with torch.inference_mode():
        ref = model(torch.from_numpy(batch))
    with OnnxRuntimeBackend(bundle / info["file"]) as ort:
        score, amap = ort.infer(batch)
    np.testing.assert_allclose(score, ref.pred_score.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(amap, ref.anomaly_map[:, 0].numpy(), rtol=1e-4, atol=1e-4)
