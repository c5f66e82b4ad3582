"""Fitting the fusion: members as their own families fit them, good-part units, weights."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from inspector.models.fusion import FusionModel
from training.fitters.context import FitContext
from training.fitters.fusion import (
    FITTER,
    MemberProgress,
    Weights,
    choose_weights,
    fusion_fitter,
    member_settings,
)
from training.progress import Progress
from training.settings import TrainSettings
from training.train import stage_plan

RANDOM_BACKBONE = {"name": "efficientnet_lite0", "layers": [2, 3], "weights": "none"}


def test_members_get_the_fusion_run_and_the_settings_it_shares_with_them() -> None:
    s = TrainSettings.for_family("fusion", epochs=7, cached_views=3, score_topk=2, seed=5)
    learned = member_settings(s, "feature-ae")
    assert learned.model == "feature-ae" and learned.run == s.run
    assert learned.config.cached_views == 3 and learned.config.score_topk == 2
    assert learned.config.context == (2, 8)  # the member's own default
    memory = member_settings(s, "cnn-cluster")
    assert memory.config.score_topk == 2 and memory.run.epochs == 7


def test_member_stages_are_reported_under_the_fusions_names() -> None:
    events: list[dict] = []
    progress = Progress(stage_plan(TrainSettings.for_family("fusion")), emit=events.append)
    MemberProgress(progress, "cnn-cluster").stage("features", 4)
    learned = MemberProgress(progress, "learned")
    learned.stage("features", 2)
    learned.stage("training", 3)
    learned.update(1, {"loss": 0.5})
    names = [e["stage"] for e in events]
    seen = [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]
    assert seen == ["cnn-cluster features", "learned features", "learned training"]
    assert events[-1]["losses"] == {"loss": 0.5}
    assert [n for n, _ in FITTER.stages][-1] == "fusion"


def _model() -> FusionModel:
    return FusionModel(backbone=RANDOM_BACKBONE, input_size=(64, 64), load_weights=False)


def test_the_weights_with_the_best_figure_are_kept() -> None:
    model = _model()
    asked: list[Sequence[Weights]] = []

    def figures(m: FusionModel, ctx: FitContext, candidates: Sequence[Weights]) -> list[float]:
        asked.append(candidates)
        return [w[1] - abs(w[0] - 0.5) for w in candidates]  # best: (0.5, 1)

    tried = choose_weights(model, None, [(1, 1), (0.5, 1), (1, 0)], figures)  # type: ignore[arg-type]
    assert model.weights == (0.5, 1.0)
    assert asked == [[(1.0, 1.0), (0.5, 1.0), (1.0, 0.0)]]
    assert tried[1] == {"weights": [0.5, 1.0], "figure": 1.0}
    assert choose_weights(model, None, [(1, 1)], None) == []  # type: ignore[arg-type]
    assert model.weights == (0.5, 1.0)  # no chooser: the weights stay
    with pytest.raises(ValueError, match="2 figures for 1 candidate"):
        choose_weights(model, None, [(1, 1)], lambda m, c, w: [1.0, 2.0])  # type: ignore[arg-type]
    assert fusion_fitter(figures, [(1, 1)]).stages == FITTER.stages


@pytest.fixture(scope="module")
def fusion_bundle(sample_product: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.train import train

    out = tmp_path_factory.mktemp("fusion") / "model"
    settings = TrainSettings.for_family("fusion", epochs=3, tensorboard=False)
    train(sample_product, out, settings, show_progress=False)
    return out


@pytest.mark.slow
def test_a_fitted_fusion_records_its_members_norms_and_weights(fusion_bundle: Path) -> None:
    from inspector.bundle import load_bundle

    model, meta = load_bundle(fusion_bundle)
    fit = meta.training["fit"]
    assert set(fit["members"]) == {"cnn-cluster", "feature-ae"}
    assert fit["members"]["feature-ae"]["epochs_run"] == 3
    assert fit["weights"] == [1.0, 1.0] == meta.model_config["weights"]
    assert fit["map_norms"] == meta.model_config["map_norms"]
    for centre, scale in meta.model_config["map_norms"] + meta.model_config["score_norms"]:
        assert scale > 0 and (centre, scale) != (0.0, 1.0)
    assert meta.model_config["memory"]["memory_size"] > 1


@pytest.mark.slow
def test_a_defect_scores_above_every_good_part(fusion_bundle: Path, sample_product: Path) -> None:
    from inspector.imageio import iter_image_files
    from inspector.runtime import Inspector

    test = sample_product / "test"
    good = iter_image_files([test / "good"])
    holes = iter_image_files([test / "hole"])
    with Inspector.load(fusion_bundle, backend="torch") as insp:
        good_scores = [r.score for r in insp.inspect_batch(good)]
        hole_scores = [r.score for r in insp.inspect_batch(holes)]
    assert min(hole_scores) > max(good_scores)


@pytest.mark.slow
def test_the_exported_fusion_agrees_with_torch_on_the_sample_parts(
    fusion_bundle: Path, sample_product: Path
) -> None:
    pytest.importorskip("onnxruntime")
    from inspector.imageio import iter_image_files
    from inspector.runtime import Inspector
    from training.export import export_onnx

    export_onnx(fusion_bundle)
    files = iter_image_files([sample_product / "test"])[::4]
    with (
        Inspector.load(fusion_bundle, backend="torch") as ref,
        Inspector.load(fusion_bundle, backend="onnxruntime") as ort,
    ):
        assert ort.backend.name == "onnxruntime"
        a, b = ref.inspect_batch(files), ort.inspect_batch(files)
    assert [r.verdict for r in a] == [r.verdict for r in b]
    for x, y in zip(a, b, strict=True):
        assert abs(x.score - y.score) <= 1e-4 * max(1.0, abs(x.score))
        np.testing.assert_allclose(x.anomaly_map, y.anomaly_map, rtol=1e-4, atol=1e-4)


def test_fusion_settings_take_weights_and_the_learned_family() -> None:
    s = TrainSettings.for_family("fusion").override(weights="1,2", learned="feature-gan")
    assert s.config.weights == (1.0, 2.0) and s.config.learned == "feature-gan"
    assert s.run.epochs == 40
    with pytest.raises(ValueError, match="'cae' is not one of"):
        TrainSettings.for_family("fusion").override(learned="cae")
    assert torch.tensor(s.config.weights).sum() == 3.0


def test_the_fit_line_names_each_member() -> None:
    from training.commands import describe_fit

    memory = {"centres": 300, "strategy": "coreset", "patches": 3000}
    learned = {
        "epochs_run": 3,
        "device": "cpu",
        "stopped": "epochs",
        "best_epoch": 3,
        "best_val_loss": 0.25,
    }
    line = describe_fit({"members": {"cnn-cluster": memory, "feature-ae": learned}})
    assert line.startswith("cnn-cluster: 300 coreset centres from 3000 patches; feature-ae: 3")
