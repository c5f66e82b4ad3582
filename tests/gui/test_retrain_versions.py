"""The Model tab's versions table (family, data, metrics, threshold, who promoted, a note that
says what changed) and its request signals, on real bundles in a real store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gui.widgets.model_panel import ModelPanel
from inspector.bundle import read_meta, update_evaluation
from inspector.model_store import HISTORY_FILE, ModelStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_models(trained_bundle: Path, sample_product: Path, tmp_path_factory) -> list[Path]:
    """The shared bundle and one fitted on 12 good images, each evaluated on the sample
    product's test set and the result recorded in the bundle (as ``train --test`` does)."""
    from inspector.runtime import Inspector
    from training.evaluate import evaluate
    from training.settings import TrainSettings
    from training.train import train

    root = tmp_path_factory.mktemp("versions")
    good = root / "data" / "line2" / "good"
    good.mkdir(parents=True)
    for src in sorted((sample_product / "train" / "good").glob("*.png"))[:12]:
        shutil.copy(src, good)
    first = Path(shutil.copytree(trained_bundle, root / "first"))
    second = root / "second"
    train(good, second, TrainSettings(), show_progress=False)
    for bundle in (first, second):
        result = evaluate(Inspector.load(bundle), sample_product)
        update_evaluation(bundle, {k: result[k] for k in ("image_auroc", "pixel_auroc")})
    return [first, second]


def _panel(qtbot, root: Path) -> ModelPanel:
    panel = ModelPanel(ModelStore(root))
    qtbot.addWidget(panel)
    return panel


def _current(panel: ModelPanel) -> int | None:
    current = panel.store.current()
    return None if current is None else current.number


def test_versions_table_after_promotions(qtbot, tmp_path: Path, two_models: list[Path]) -> None:
    first, second = two_models
    panel = _panel(qtbot, tmp_path / "store")
    panel.promote(str(first), "", by="engineer")
    panel.promote(str(second), "", by="admin")
    table = panel.table
    assert table.rowCount() == 2
    new, old = table.row_texts(0), table.row_texts(1)
    m1, m2 = read_meta(first), read_meta(second)
    e1, e2 = m1.evaluation, m2.evaluation
    assert new["version"] == "v2  (current)" and old["version"] == "v1"
    assert new["family"] == old["family"] == "cnn-cluster"
    assert new["training data"] == f"line2/good ({m2.training['fit_images']} images)"
    assert old["training data"].endswith(f"({m1.training['fit_images']} images)")
    assert new["image / pixel AUROC"] == f"{e2['image_auroc']:.3f} / {e2['pixel_auroc']:.3f}"
    assert new["threshold"] == f"{m2.thresholds.image:.4g}"
    assert (new["promoted by"], old["promoted by"]) == ("admin", "engineer")
    delta = 100 * (e2["image_auroc"] - e1["image_auroc"])
    change = "same AUROC as v1" if round(delta, 1) == 0 else f"{delta:+.1f} pt AUROC vs v1"
    assert new["note"] == f"retrained on {m2.training['fit_images']} images, {change}"
    assert old["note"] == f"first version, trained on {m1.training['fit_images']} images"
    assert len(new["promoted (UTC)"]) == 16  # 2026-12-07 08:30
    # A note the engineer wrote wins over the derived one.
    panel.promote(str(first), "back to the full data set", by="engineer")
    assert table.row_texts(0)["note"] == "back to the full data set"


def test_buttons_ask_and_the_methods_act(qtbot, tmp_path: Path, two_models: list[Path]) -> None:
    panel = _panel(qtbot, tmp_path / "store")
    for bundle in two_models:
        panel.promote(str(bundle))
    asked: list[object] = []
    panel.rollback_requested.connect(lambda: asked.append("rollback"))
    panel.activate_requested.connect(asked.append)
    panel.rollback_button.click()
    assert asked == ["rollback"] and _current(panel) == 2  # only asked
    switched: list[str] = []
    panel.version_activated.connect(switched.append)
    panel.roll_back()
    assert _current(panel) == 1 and panel.table.row_texts(1)["version"].endswith("(current)")
    panel.table.selectRow(0)
    panel.activate_button.click()
    assert asked == ["rollback", 2] and _current(panel) == 1
    panel.activate(2)
    assert _current(panel) == 2
    assert [Path(p).name for p in switched] == [
        panel.store.versions()[1].path.name,
        panel.store.versions()[0].path.name,
    ]


def test_a_store_without_the_new_fields_loads_in_the_table(
    qtbot, tmp_path: Path, two_models: list[Path]
) -> None:
    root = tmp_path / "store"
    ModelStore(root).promote(two_models[0], "installed by the integrator")
    data = json.loads((root / HISTORY_FILE).read_text())
    for entry in data["versions"]:
        del entry["promoted_by"]
    (root / HISTORY_FILE).write_text(json.dumps(data))
    panel = _panel(qtbot, root)
    row = panel.table.row_texts(0)
    assert row["promoted by"] == "operator"
    assert row["note"] == "installed by the integrator"
    assert row["family"] == "cnn-cluster"


def test_the_window_promotes_with_the_role_at_the_station(
    qtbot, window, two_models: list[Path]
) -> None:
    win = window
    win.state.set_role("engineer")
    win.retrain.promote_requested.emit(str(two_models[1]), "")
    current = win.store.current()
    assert current is not None and current.promoted_by == "engineer"
    assert win.model_panel.table.row_texts(0)["promoted by"] == "engineer"
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    qtbot.waitUntil(
        lambda: win.state.model.model_id == read_meta(two_models[1]).model_id, timeout=30_000
    )
    win.model_panel.promote(str(two_models[0]))
    win.model_panel.rollback_button.click()  # the window carries the request out
    assert _current(win.model_panel) == 1


def test_derived_note_says_what_changed() -> None:
    from gui.widgets.versions_table import derived_note
    from inspector.model_store import BundleSummary, ModelVersion

    def version(n: int, model_id: str, **summary: object) -> ModelVersion:
        return ModelVersion(
            n,
            model_id,
            Path(f"v{n}"),
            "2026-01-01T00:00:00+00:00",
            "",
            "",
            "operator",
            BundleSummary(**summary),  # type: ignore[arg-type]
        )

    v3 = version(3, "a", family="cnn-cluster", images=200, image_auroc=0.950, threshold=2.0)
    v4 = version(4, "b", family="feature-ae", images=243, image_auroc=0.962, threshold=3.0)
    assert (
        derived_note(v4, v3)
        == "retrained on 243 images, cnn-cluster -> feature-ae, +1.2 pt AUROC vs v3"
    )
    assert derived_note(v3, None) == "first version, trained on 200 images"
    same = version(5, "b", family="feature-ae", images=243, threshold=3.5)
    assert derived_note(same, v4) == "same model as v4, threshold 3 -> 3.5"
    unevaluated = version(6, "c", family="feature-ae", images=12)
    assert derived_note(unevaluated, same) == "retrained on 12 images"


def test_a_refused_promotion_is_offered_again(qtbot, tmp_path: Path) -> None:
    from gui.widgets.retrain_panel import RetrainPanel

    panel = RetrainPanel(tmp_path / "good", tmp_path / "candidates")
    qtbot.addWidget(panel)
    panel.promotion_refused()  # nothing trained: nothing to offer
    assert not panel.promote_button.isEnabled()
    panel.candidate = tmp_path / "candidate"
    panel.promotion_refused()
    assert panel.promote_button.isEnabled() and panel.stage.text() == "not promoted"
    panel.promote_button.setEnabled(False)
    panel.identical_id = "d999064a28245c90"  # identical to the current model: never offered
    panel.promotion_refused()
    assert not panel.promote_button.isEnabled()
