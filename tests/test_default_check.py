"""benchmarks/default_check.py: every set's change against the stored default, and its flag."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

CHECK = runpy.run_path(str(Path(__file__).parents[1] / "benchmarks" / "default_check.py"))


def _result(path: Path, seed: int, rows: dict[str, tuple[float, float]]) -> Path:
    results = [
        {"category": f"/data/{name}", "image_auroc": img, "pixel_auroc": pix}
        for name, (img, pix) in rows.items()
    ]
    path.write_text(json.dumps({"settings": {"seed": seed}, "results": results}))
    return path


def test_a_loss_beyond_half_a_point_or_the_spread_is_flagged(tmp_path: Path) -> None:
    stored = CHECK["load_runs"](
        [
            _result(
                tmp_path / f"s{seed}.json", seed, {"ad/a": (0.95 + d, 0.98), "ad/b": (0.9, 0.9)}
            )
            for seed, d in ((0, 0.0), (1, 0.002), (2, 0.004))
        ]
    )
    new = {
        "ad/a": {s: {"image_auroc": 0.944, "pixel_auroc": 0.979} for s in (0, 1, 2)},
        "ad/b": {0: {"image_auroc": 0.91, "pixel_auroc": 0.9}},
        "own/c": {0: {"image_auroc": 0.5, "pixel_auroc": 0.5}},
    }
    rows = {r["set"]: r for r in CHECK["compare"](new, stored)}
    a = rows["ad/a"]
    assert a["image_auroc"]["change"] == pytest.approx(-0.008)
    assert a["image_auroc"]["stored_spread"] == pytest.approx(0.004)
    assert a["image_auroc"]["flag"] == "LOSS"  # 0.8 point lost
    assert a["pixel_auroc"]["flag"] == "beyond spread"  # 0.1 point, the default never varied
    assert rows["ad/b"]["image_auroc"]["flag"] == "ok"
    assert rows["own/c"]["pixel_auroc"]["flag"] == "no default"
    table = CHECK["format_table"](list(rows.values()))
    assert "-0.80 pt | LOSS" in table and "Fewer than 3 seeds" in table


def test_the_same_set_and_seed_twice_is_refused(tmp_path: Path) -> None:
    files = [_result(tmp_path / f"{i}.json", 0, {"ad/a": (0.9, 0.9)}) for i in range(2)]
    with pytest.raises(ValueError, match="ad/a seed 0 is already"):
        CHECK["load_runs"](files)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json: not a benchmark result"):
        CHECK["load_runs"]([tmp_path / "bad.json"])


def test_the_stored_defaults_are_readable() -> None:
    stored = CHECK["load_runs"]([p for p in CHECK["STORED_DEFAULTS"]["cnn-cluster"] if p.exists()])
    assert sorted(stored["mvtec_ad/bottle"]) == [0, 1, 2]
