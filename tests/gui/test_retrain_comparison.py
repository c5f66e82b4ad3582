"""The Retrain tab's side-by-side comparison of the current model and a retrained candidate,
on real bundles and real ``inspector evaluate`` JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gui.model_facts import Change
from gui.widgets.comparison_table import CANDIDATE, CHANGE, CURRENT
from gui.widgets.retrain_panel import IDENTICAL, RetrainPanel
from inspector.bundle import read_meta

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evaluated(trained_bundle: Path, sample_product: Path, tmp_path_factory) -> dict:
    """The shared bundle as the current model and a candidate fitted on 12 of the good
    images, each with its real evaluation on the sample product's test set."""
    from inspector.runtime import Inspector
    from training.evaluate import evaluate, write_json
    from training.settings import TrainSettings
    from training.train import train

    root = tmp_path_factory.mktemp("retrain")
    good = root / "good"
    good.mkdir()
    for src in sorted((sample_product / "train" / "good").glob("*.png"))[:12]:
        shutil.copy(src, good)
    candidate = root / "candidate"
    train(good, candidate, TrainSettings(), show_progress=False)
    write_json(evaluate(Inspector.load(candidate), sample_product), candidate / "evaluation.json")
    current = evaluate(Inspector.load(trained_bundle), sample_product)
    return {"current": trained_bundle, "candidate": candidate, "current_evaluation": current}


def _panel(qtbot, tmp_path: Path, current: Path) -> RetrainPanel:
    panel = RetrainPanel(tmp_path / "good", tmp_path / "candidates")
    qtbot.addWidget(panel)
    panel.set_current_model(str(current))
    return panel


def test_comparison_shows_both_models_and_colours_by_direction(
    qtbot, tmp_path: Path, evaluated: dict
) -> None:
    candidate = Path(shutil.copytree(evaluated["candidate"], tmp_path / "candidate"))
    mine = json.loads((candidate / "evaluation.json").read_text())
    current = dict(evaluated["current_evaluation"])
    # Real runs, set apart on purpose: the candidate is better on image AUROC, worse on
    # missed defects, and as fast (within timing noise).
    current["image_auroc"] = mine["image_auroc"] - 0.05
    current["miss_rate"], mine["miss_rate"] = 0.0, 0.25
    current["latency_ms_mean"] = mine["latency_ms_mean"] * 1.05
    (candidate / "evaluation.json").write_text(json.dumps(mine))
    panel = _panel(qtbot, tmp_path, evaluated["current"])
    panel.show_comparison(candidate, current)
    table = panel.comparison

    def cells(key: str) -> tuple[str, str, str]:
        assert table.row_of(key) >= 0, key
        return table.text(key, CURRENT), table.text(key, CANDIDATE), table.text(key, CHANGE)

    assert cells("image_auroc") == (
        f"{current['image_auroc']:.3f}",
        f"{mine['image_auroc']:.3f}",
        "+0.050  better",
    )
    assert table.change_of("image_auroc") is Change.BETTER
    assert cells("miss_rate") == ("0.0 %", "25.0 %", "+25.0 pt  worse")
    assert table.change_of("miss_rate") is Change.WORSE
    assert cells("latency_ms")[2] == "same" and table.change_of("latency_ms") is None
    new_meta, old_meta = read_meta(candidate), read_meta(evaluated["current"])
    assert cells("model") == (old_meta.model_id, new_meta.model_id, "")
    assert cells("family")[1] == "cnn-cluster / efficientnet_lite0"
    assert cells("images") == (
        str(old_meta.training["fit_images"]),
        str(new_meta.training["fit_images"]),
        cells("images")[2],
    )
    assert table.change_of("images") is None  # more images is not judged better by itself
    assert cells("threshold")[:2] == (
        f"{old_meta.thresholds.image:.4g}",
        f"{new_meta.thresholds.image:.4g}",
    )
    assert table.change_of("threshold") is None  # scores differ in scale between models
    assert old_meta.calibration is not None
    assert cells("good_median")[0] == f"{old_meta.calibration.good_score_median:.4g}"
    assert table.row_of("collected_false_reject_rate") == -1  # a test folder was given
    assert not panel.identical.isVisible() and panel.promote_button.isEnabled()
    assert panel.hint.text() == ""


def test_without_a_test_folder_the_current_models_rejects_are_shown(
    qtbot, tmp_path: Path, evaluated: dict
) -> None:
    candidate = Path(shutil.copytree(evaluated["candidate"], tmp_path / "candidate"))
    (candidate / "evaluation.json").unlink()
    panel = _panel(qtbot, tmp_path, evaluated["current"])
    panel.show_comparison(candidate, None, {"total": 12, "pass": 9, "fail": 3, "error": 0})
    table = panel.comparison
    assert table.text("collected_false_reject_rate", CURRENT) == "25.0 %"
    assert table.text("collected_false_reject_rate", CANDIDATE) == "–"
    assert table.row_of("image_auroc") == -1 and table.row_of("latency_ms") == -1
    assert "test folder" in panel.hint.text()


def test_an_identical_candidate_is_said_and_not_offered_for_promotion(
    qtbot, tmp_path: Path, evaluated: dict
) -> None:
    current = evaluated["current"]
    candidate = Path(shutil.copytree(current, tmp_path / "same"))
    panel = _panel(qtbot, tmp_path, current)
    panel.show()
    asked: list[tuple[str, str]] = []
    panel.promote_requested.connect(lambda *a: asked.append(a))
    panel.show_comparison(candidate, evaluated["current_evaluation"])
    model_id = read_meta(current).model_id
    assert panel.identical.isVisible()
    assert panel.identical.text() == IDENTICAL.format(model_id=model_id)
    assert not panel.promote_button.isEnabled()
    assert panel.promote_button.toolTip() == "identical to the current model"
    assert panel.stage.text() == "identical to the current model"
    panel._promote("forced")  # even a direct call adds no duplicate version
    assert asked == []
    other = evaluated["candidate"]
    panel.show_comparison(other, evaluated["current_evaluation"])
    assert not panel.identical.isVisible() and panel.promote_button.isEnabled()
    panel.note.setText("new lighting on line 2")
    panel.promote_button.click()
    assert asked == [(str(other), "new lighting on line 2")]
