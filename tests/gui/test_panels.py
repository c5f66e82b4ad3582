"""Folder inspection, retraining in a background process, promotion and rollback."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from PySide6.QtCore import Qt

from gui.widgets.comparison_table import CANDIDATE, CURRENT
from inspector.bundle import read_meta


def test_folder_tab_inspects_a_folder_and_writes_the_report(qtbot, window, parts) -> None:
    panel = window.folder_panel
    qtbot.waitUntil(lambda: bool(panel.bundle), timeout=30_000)
    (parts / "not_an_image.png").write_text("hello")
    panel.folder.setText(str(parts))
    panel.run_folder()
    qtbot.waitUntil(lambda: panel.last_run is not None, timeout=120_000)
    run = panel.last_run
    assert (run.out_dir / "report.html").is_file() and (run.out_dir / "results.csv").is_file()
    assert panel.table.rowCount() == 7
    scores = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    numeric = [float(s) for s in scores if s]
    assert numeric == sorted(numeric, reverse=True)  # highest score first
    failed = [
        panel.table.item(r, 3).text()
        for r in range(panel.table.rowCount())
        if panel.table.item(r, 4).text()
    ]
    assert [Path(f).name for f in failed] == ["not_an_image.png"]
    assert run.summary["error"] == 1


def test_retrain_compare_promote_and_roll_back(qtbot, window, sample_product: Path) -> None:
    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    first_id = win.state.model.model_id
    # Promote the running model as version 1 so there is something to roll back to.
    v1 = win.model_panel.promote(win.state.model.path, "initial")
    assert v1 is not None
    data = win.workspace.training_dir
    data.mkdir(parents=True)
    for src in sorted((sample_product / "train" / "good").glob("*.png"))[:12]:
        shutil.copy(src, data)
    panel = win.retrain
    panel.refresh_count()
    stages: list[str] = []
    panel.trained.connect(lambda _candidate: stages.append("done"))
    panel.start_training()
    assert panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: stages == ["done"], timeout=240_000)
    candidate = panel.candidate
    assert read_meta(candidate).training["fit_images"] >= 9
    assert "held-out good images" in panel.result.text()
    rejects = panel.comparison.text("collected_false_reject_rate", CURRENT)
    assert rejects.endswith(" %"), rejects  # the current model on the same good images
    compared = candidate.with_name(candidate.name + "_current") / "results.json"
    assert json.loads(compared.read_text())["summary"]["total"] == 12
    assert panel.promote_button.isEnabled()
    panel.promote_button.click()
    qtbot.waitUntil(lambda: win.state.model.model_id != first_id, timeout=30_000)
    assert win.store.current().number == 2
    win.model_panel.roll_back()
    qtbot.waitUntil(lambda: win.state.model.model_id == first_id, timeout=30_000)
    assert win.store.current().number == 1
    assert win.model_panel.table.rowCount() == 2


def test_training_can_be_cancelled(qtbot, window, sample_product: Path) -> None:
    panel = window.retrain
    panel.data.setText(str(sample_product / "train" / "good"))
    panel.start_training()
    qtbot.waitUntil(lambda: panel.job is not None and panel.job.running(), timeout=10_000)
    panel.cancel()
    assert panel.stage.text() == "cancelling …"
    assert not panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.train_button.isEnabled(), timeout=30_000)
    assert not panel.job.running()
    assert panel.stage.text() == "cancelled"
    assert not panel.promote_button.isEnabled()


def test_retrain_with_a_labelled_test_set_compares_evaluations(
    qtbot, window, sample_product: Path
) -> None:
    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    panel = win.retrain
    panel.data.setText(str(sample_product / "train" / "good"))
    panel.test.setText(str(sample_product))
    done: list[bool] = []
    panel.trained.connect(lambda _candidate: done.append(True))
    panel.start_training()
    qtbot.waitUntil(lambda: bool(done), timeout=240_000)
    for column in (CURRENT, CANDIDATE):  # both models on the same test set
        auroc = panel.comparison.text("image_auroc", column)
        assert re.fullmatch(r"[01]\.\d{3}", auroc), auroc
    assert read_meta(panel.candidate).evaluation["image_auroc"] > 0.9


def test_cancelling_an_autoencoder_keeps_its_last_epoch(qtbot, window, sample_product: Path):
    import torch

    panel = window.retrain
    panel.data.setText(str(sample_product / "train" / "good"))
    panel.family.setCurrentIndex(panel.family.findData("feature-ae"))
    panel.start_training()
    workdir = panel.candidate.with_name(panel.candidate.name + ".training")
    qtbot.waitUntil((workdir / "checkpoint.pt").is_file, timeout=180_000)
    panel.cancel()  # SIGTERM: the loop stops after its batch and exits cleanly
    qtbot.waitUntil(lambda: not panel.job.running(), timeout=30_000)
    assert panel.stage.text() == "cancelled"
    assert panel.job.proc.exitCode() == 130  # not killed: the clean-cancel exit code
    assert torch.load(workdir / "checkpoint.pt", weights_only=True)["epoch"] >= 1
    assert not (panel.candidate / "bundle.json").exists()


def test_retrain_chooser_offers_presets_as_well_as_families(window) -> None:
    panel = window.retrain
    panel.family.setCurrentIndex(panel.family.findData("feature-gan"))
    assert panel.model_arguments() == ["--model", "feature-gan"]
    index = panel.family.findText("feature-ae-surface (preset)")
    assert index >= 0
    panel.family.setCurrentIndex(index)
    assert panel.model_arguments() == ["--preset", "feature-ae-surface"]
    assert "textured surfaces" in panel.family.itemData(index, Qt.ItemDataRole.ToolTipRole)


def test_retraining_keeps_the_preset_of_the_production_model(
    window, model_copy: Path, sample_product: Path, tmp_path: Path
) -> None:
    from training.settings import TrainSettings
    from training.train import train

    bundle = tmp_path / "surface"
    settings = TrainSettings.from_preset("feature-ae-surface").override(epochs=1)
    train(sample_product, bundle, settings.override(tensorboard=False), show_progress=False)
    panel = window.retrain
    panel.set_current_model(str(bundle))
    assert panel.model_arguments() == ["--preset", "feature-ae-surface"]
    panel.set_current_model(str(model_copy))  # trained without a preset: its family
    assert panel.model_arguments() == ["--model", "cnn-cluster"]
    # A preset this version no longer ships: the model's family, not an error.
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["training"]["settings"]["preset"] = "retired-preset"
    (bundle / "bundle.json").write_text(json.dumps(meta))
    panel.set_current_model(str(bundle))
    assert panel.model_arguments() == ["--model", "feature-ae"]
