"""DriftWatch: a recipe's reference is learned from its first good parts and kept beside the
recipes; a stored one is charted against from the first part."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from station.drift import Calibration, Reference
from station.line.drift_watch import DriftWatch


def part(brightness: float, score: float = 1.0) -> dict[str, float]:
    return {"brightness": brightness, "contrast": 30.0, "sharpness": 5.0, "score": score}


def test_reference_is_learned_kept_and_then_charted(tmp_path: Path) -> None:
    watch = DriftWatch(tmp_path, baseline=5)
    for i in range(5):  # learning: nothing is charted yet
        assert watch.good_part("plate", part(120.0 + i % 2)) == []
    stored = json.loads((tmp_path / "plate.json").read_text())
    assert stored["brightness"]["mean"] == pytest.approx(120.4)
    assert watch.good_part("plate", part(120.5)) == []
    warnings = []
    for _ in range(40):  # the lamp ages: much darker parts
        warnings += watch.good_part("plate", part(60.0))
    assert [(w.quantity, w.active) for w in warnings] == [("brightness", True)]
    assert watch.active("plate") == {"brightness"}
    assert watch.active("other") == set()

    again = DriftWatch(tmp_path, baseline=5)  # a restart charts against the kept reference
    assert again.good_part("plate", part(60.0))[0].quantity == "brightness"


def test_a_stored_reference_is_used_and_a_broken_one_relearned(tmp_path: Path) -> None:
    dark = Calibration({"brightness": Reference(50.0, 1.0)})
    (tmp_path / "a.json").write_text(json.dumps(dark.to_json()))
    (tmp_path / "b.json").write_text("{not json")
    watch = DriftWatch(tmp_path, baseline=2)
    assert [w.quantity for w in watch.good_part("a", part(120.0))] == ["brightness"]
    assert watch.good_part("b", part(120.0)) == []  # learning afresh
    assert watch.good_part("b", part(121.0)) == []
    assert json.loads((tmp_path / "b.json").read_text())["brightness"]["mean"] == 120.5
    with pytest.raises(ValueError, match="baseline"):
        DriftWatch(tmp_path, baseline=1)
