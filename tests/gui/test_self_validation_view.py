"""The Retrain tab shows how a candidate's settings were chosen, read from bundle.json."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gui.widgets.retrain_panel import RetrainPanel
from gui.widgets.self_validation_view import SelfValidationView


def _candidate(norm: bool, blur: float, combined: float) -> dict:
    figures = {"image_auroc": combined, "pixel_auroc": 0.99, "detected": 0.9}
    return {
        "settings": {"normalize_intensity": norm, "layers": [2, 3], "blur_sigma": blur},
        **figures,
        "false_reject_rate": 0.0,
        "drift_false_reject_rate": 0.25 if not norm else 0.0,
        "combined": combined,
    }


def _block() -> dict:
    cands = [_candidate(True, 4.0, 0.95), _candidate(False, 4.0, 0.97), _candidate(True, 8.0, 0.9)]
    return {
        "family": "cnn-cluster",
        "searched": {"normalize_intensity": [True, False], "blur_sigma": [4.0, 8.0]},
        "explicit": ["score_topk"],
        "check_set": {"good_images": 8, "defective_images": 16, "kinds": {"scratch": 16}},
        "candidates": cands,
        "given": cands[0],
        "chosen": {"normalize_intensity": False, "blur_sigma": 4.0},
        "chosen_figures": {k: v for k, v in cands[1].items() if k != "settings"},
        "changed": ["normalize_intensity"],
        "seconds": 12.5,
    }


def _cell(view: SelfValidationView, row: int, col: int) -> str:
    item = view.table.item(row, col)
    assert item is not None
    return item.text()


def test_view_lists_the_choice_and_the_best_candidates(qtbot) -> None:
    view = SelfValidationView()
    qtbot.addWidget(view)
    view.show_training({"autoconfig": _block()})
    assert not view.isHidden()
    lines = view.shown_lines()
    assert lines[0].startswith("automatic configuration in 12.5 s: 3 candidates on 8 held-out")
    assert "chose normalize_intensity off" in lines[1] and "image AUROC 0.970" in lines[1]
    assert "given explicitly, not searched: score_topk" in lines[2]
    assert view.table.rowCount() == 3
    first = _cell(view, 0, 0)
    assert first.endswith("(chosen)") and "normalize_intensity off" in first
    assert _cell(view, 0, 4) == "25%"  # good parts failed under drifted light
    assert not _cell(view, 1, 0).endswith("(chosen)")


def test_view_hides_without_a_search_and_shows_a_note_alone(qtbot) -> None:
    view = SelfValidationView()
    qtbot.addWidget(view)
    view.show_training({"autoconfig": _block()})
    view.show_training({})  # a model trained with --auto off
    assert view.isHidden() and view.shown_lines() == []
    view.show_training({"autoconfig": {"family": "cae", "note": "no automatic configuration"}})
    assert not view.isHidden() and view.table.isHidden()
    assert view.shown_lines() == ["automatic configuration: no automatic configuration"]


@pytest.mark.slow
def test_retrain_tab_shows_the_trained_candidates_search(
    qtbot, tmp_path: Path, trained_bundle: Path
) -> None:
    candidate = Path(shutil.copytree(trained_bundle, tmp_path / "candidate"))
    panel = RetrainPanel(tmp_path / "good", tmp_path / "candidates")
    qtbot.addWidget(panel)
    panel.show_comparison(candidate)
    assert not panel.self_validation.isHidden()
    assert panel.self_validation.shown_lines()[0].startswith("automatic configuration in")
    assert panel.self_validation.table.rowCount() > 0
