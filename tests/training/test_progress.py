"""The JSON-lines progress protocol between the command line and the station."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.progress import Progress

KEYS = {"event", "stage", "stage_index", "stage_count", "done", "total", "overall", "eta_s"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_overall_follows_the_stage_weights_and_never_goes_back() -> None:
    events: list[dict] = []
    clock = Clock()
    p = Progress([("a", 1.0), ("b", 3.0), ("c", 1.0)], events.append, every_s=0, clock=clock)
    p.stage("a", 4)
    assert events[-1] == {
        "event": "progress", "stage": "a", "stage_index": 0, "stage_count": 3,
        "done": 0, "total": 4, "overall": 0.0, "eta_s": None,
    }  # fmt: skip
    clock.now = 2.0
    p.update(2)
    assert events[-1]["overall"] == pytest.approx(0.1)
    assert events[-1]["eta_s"] == pytest.approx(18.0)  # 2 s for a tenth: 18 s to go
    p.update(1)  # a smaller count never moves it back
    assert events[-1]["done"] == 2 and events[-1]["overall"] == pytest.approx(0.1)
    p.stage("c", 2)  # "b" skipped: a finished, then c begins at 0.8
    assert [(e["stage"], e["done"]) for e in events[-2:]] == [("a", 4), ("c", 0)]
    assert events[-1]["overall"] == pytest.approx(0.8)
    p.update(1, {"loss": 0.5, "val_loss": float("nan")})
    assert events[-1]["losses"] == {"loss": 0.5}  # JSON has no NaN
    p.finish(bundle="B")
    assert events[-2]["overall"] == 1.0 and events[-1] == {"event": "done", "bundle": "B"}
    overall = [e["overall"] for e in events if e["event"] == "progress"]
    assert overall == sorted(overall)
    assert all(set(e) - {"losses"} == KEYS for e in events if e["event"] == "progress")


def test_events_within_a_stage_are_thinned_but_its_first_and_last_always_go() -> None:
    events: list[dict] = []
    clock = Clock()
    p = Progress([("a", 1.0)], events.append, every_s=1.0, clock=clock)
    p.stage("a", 100)
    for i in range(1, 100):
        clock.now = i / 100
        p.update(i)
    assert [e["done"] for e in events] == [0]
    p.update(100)
    assert [e["done"] for e in events] == [0, 100]


def test_a_stage_outside_the_plan_is_a_bug_even_unheard() -> None:
    p = Progress([("a", 1.0), ("b", 1.0)])
    p.stage("b", 1)
    with pytest.raises(ValueError, match="stage 'x' is not in the plan"):
        p.stage("x", 1)
    with pytest.raises(ValueError, match="comes before the current 'b'"):
        p.stage("a", 1)
    Progress.silent().stage("anything", 3)  # no plan: nothing to check against


def _events(stderr: str) -> list[dict]:
    # Lines that are not JSON objects are free text (warnings, logs): never parsed.
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def _check_run(events: list[dict], plan_stages: set[str]) -> None:
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and all(set(e) - {"losses"} == KEYS for e in progress)
    assert {e["stage_count"] for e in progress} == {progress[0]["stage_count"]}
    overall = [e["overall"] for e in progress]
    assert overall == sorted(overall) and 0 <= overall[0] and overall[-1] == 1.0
    indices = [e["stage_index"] for e in progress]
    assert indices == sorted(indices)
    assert {e["stage"] for e in progress} == plan_stages
    assert all(0 <= e["done"] <= e["total"] for e in progress)
    assert events[-1]["event"] == "done"


def _cli(*argv: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "inspector.cli", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_train_and_evaluate_report_every_stage_as_json(
    sample_product: Path, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "model"
    run = _cli(
        "train", "--data", str(sample_product), "--out", str(out), "--input-size", "128",
        "--max-memory", "200", "--progress", "json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    events = _events(run.stderr)
    _check_run(events, {"autoconfig", "intensity", "features", "memory", "calibration", "export"})
    assert events[-1] == {"event": "done", "bundle": str(out)}
    assert "model " in run.stdout  # the human summary stays on stdout

    run = _cli("evaluate", str(sample_product), "--model", str(out), "--progress", "json")
    assert run.returncode == 0, run.stderr[-2000:]
    events = _events(run.stderr)
    _check_run(events, {"evaluation", "metrics"})
    assert events[-1]["bundle"] == str(out)


@pytest.mark.slow
def test_a_trained_family_reports_its_epochs_and_losses(
    sample_product: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model"
    run = _cli(
        "train", "--data", str(sample_product), "--out", str(out), "--model", "cae",
        "--input-size", "64", "--base-channels", "4", "--depth", "2", "--latent-dim", "4",
        "--epochs", "3", "--patience", "0", "--no-tensorboard", "--export", "none",
        "--progress", "json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    events = _events(run.stderr)
    _check_run(events, {"intensity", "images", "training", "levels", "calibration"})
    epochs = [e for e in events if e.get("stage") == "training" and e["done"] > 0]
    assert [e["done"] for e in epochs] == [1, 2, 3]
    assert all(set(e["losses"]) == {"loss", "val_loss"} for e in epochs)


def test_a_failing_run_ends_with_an_error_event(sample_product: Path, tmp_path: Path) -> None:
    run = _cli(
        "train", "--data", str(sample_product), "--out", str(tmp_path / "m"), "--model", "cae",
        "--strategy", "kmeans", "--progress", "json",
    )  # fmt: skip
    assert run.returncode == 2
    last = _events(run.stderr)[-1]
    assert last["event"] == "error" and "'strategy' for model family 'cae'" in last["message"]
