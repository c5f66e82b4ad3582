"""The station state driven without Qt, as a PLC link or a recipe would drive it."""

from __future__ import annotations

import math
import shutil
import threading
from pathlib import Path

import pytest

from inspector.bundle import read_meta
from inspector.verdict import Calibration, ScoreStats, Thresholds
from station.events import (
    ActiveThreshold,
    CountersChanged,
    LinkChanged,
    LinkStatus,
    LoadedModel,
    ModeChanged,
    ModelChanged,
    ModelFailed,
    ModelRequested,
    PartJudged,
    PartResult,
    RecipeSelected,
    SavePolicyChanged,
    SetBy,
    SourceChanged,
    SourceStatus,
    StateEvent,
    ThresholdChanged,
    TriggerRequested,
)
from station.state import StationState


def _model(model_id: str = "m1", image: float = 2.0, path: str = "bundle") -> LoadedModel:
    return LoadedModel(
        path=path,
        model_id=model_id,
        family="cnn-cluster",
        backend="onnxruntime",
        thresholds=Thresholds(image=image, pixel=3.0),
        score_stats=ScoreStats(good_median=1.0, good_max=1.8, good_count=20),
        calibration=Calibration(
            images=20,
            image_threshold=image,
            pixel_threshold=3.0,
            target_false_reject_rate=0.01,
            false_reject_rate=0.0,
            good_score_median=1.0,
            good_score_max=1.8,
        ),
    )


def _recorded(state: StationState) -> list[StateEvent]:
    events: list[StateEvent] = []
    state.subscribe(events.append)
    return events


def test_threshold_in_force_and_who_set_it_follow_the_model() -> None:
    state = StationState()
    events = _recorded(state)
    assert state.threshold is None and state.thresholds is None
    with pytest.raises(LookupError, match="no model is loaded"):
        state.set_threshold(1.0)
    state.set_model(_model("m1", 2.0))
    assert state.threshold == ActiveThreshold("m1", 2.0, SetBy.BUNDLE)
    assert isinstance(events[-1], ModelChanged) and events[-1].threshold.by == SetBy.BUNDLE

    state.set_threshold(2.5, by=SetBy.PLC)
    assert state.threshold == ActiveThreshold("m1", 2.5, SetBy.PLC)
    assert state.thresholds == Thresholds(image=2.5, pixel=3.0)  # pixel stays the bundle's
    assert events[-1] == ThresholdChanged(ActiveThreshold("m1", 2.5, SetBy.PLC))
    assert state.threshold_for("m1") == 2.5 and state.overrides == {"m1": 2.5}

    # Another model brings its own threshold; the first one's comes back with it.
    state.set_model(_model("m2", 7.0))
    assert state.threshold == ActiveThreshold("m2", 7.0, SetBy.BUNDLE)
    assert state.threshold_for("m2") is None
    state.set_model(_model("m1", 2.0))
    assert state.threshold == ActiveThreshold("m1", 2.5, SetBy.PLC)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "high", None])
def test_a_threshold_that_is_not_a_finite_number_is_refused(bad: object) -> None:
    state = StationState()
    state.set_model(_model())
    events = _recorded(state)
    with pytest.raises(ValueError, match="image threshold must be a"):
        state.set_threshold(bad)  # type: ignore[arg-type]
    assert state.threshold == ActiveThreshold("m1", 2.0, SetBy.BUNDLE) and events == []


def test_saved_station_thresholds_apply_from_the_first_part() -> None:
    state = StationState(overrides={"m1": 0.5})
    assert state.threshold_for("m1") == 0.5  # what the inference thread asks before loading
    state.set_model(_model("m1", 2.0))
    assert state.threshold == ActiveThreshold("m1", 0.5, SetBy.OPERATOR)


def test_a_trigger_from_another_thread_comes_back_as_a_result_with_its_part_id() -> None:
    """A PLC thread triggers; the side that takes parts answers; the PLC sees the verdict."""
    state = StationState(mode="triggered")
    state.set_model(_model())

    def take_part(event: StateEvent) -> None:  # what the inference thread does for a trigger
        if isinstance(event, TriggerRequested):
            active = state.threshold
            assert active is not None
            verdict = "FAIL" if 3.0 > active.value else "PASS"
            state.record_result(PartResult(event.part_id, verdict, 3.0, active.value, "m1"))

    answers: list[PartJudged] = []
    got = threading.Event()

    def plc(event: StateEvent) -> None:
        if isinstance(event, PartJudged):
            answers.append(event)
            got.set()

    state.subscribe(take_part)
    state.subscribe(plc)
    ids: list[str] = []
    line = threading.Thread(target=lambda: ids.append(state.request_trigger("A17", by="plc")))
    line.start()
    line.join(5)
    assert got.wait(5) and ids == ["A17"]
    (answer,) = answers
    assert answer.result.part_id == "A17" and answer.result.verdict == "FAIL"
    assert answer.counters.failed == 1 and answer.counters.total == 1
    # Without an id the state gives one, and the result carries it too.
    given = state.request_trigger()
    assert given and answers[-1].result.part_id == given


def test_counters_count_every_result_from_many_threads_and_reset() -> None:
    state = StationState()
    events = _recorded(state)
    verdicts = ["PASS", "PASS", "FAIL", "ERROR"]

    def judge(n: int) -> None:
        for i in range(n):
            v = verdicts[i % 4]
            state.record_result(PartResult(f"{i}", v, math.nan if v == "ERROR" else 1.0, 2.0))

    threads = [threading.Thread(target=judge, args=(400,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c = state.counters
    assert (c.passed, c.failed, c.errors, c.total) == (800, 400, 400, 1600)
    assert c.yield_pct == pytest.approx(100 * 800 / 1200)
    assert sum(isinstance(e, PartJudged) for e in events) == 1600
    state.reset_counters(by="engineer")
    assert state.counters.total == 0 and state.counters.yield_pct is None
    assert isinstance(events[-1], CountersChanged) and events[-1].by == "engineer"


def test_mode_source_policy_recipe_role_and_link_are_announced() -> None:
    state = StationState(source="cam0")
    events = _recorded(state)
    state.set_mode("triggered")
    state.set_mode("triggered")  # no change, no event
    state.set_source(" rtsp://10.0.0.5/line1 ")
    state.set_source_status("retrying", "no answer")
    state.set_save_policy("all")
    state.select_recipe("plate-B", by="plc")
    state.set_role("engineer")
    state.set_link_status(LinkStatus("opcua", True, "opc.tcp://127.0.0.1:4840"))
    state.request_model("/models/v3", by="plc")
    state.model_failed("/models/v3", "bundle.json: not found")
    assert events[:4] == [
        ModeChanged("triggered"),
        SourceChanged("rtsp://10.0.0.5/line1"),
        SourceStatus("retrying", "no answer"),
        SavePolicyChanged("all"),
    ]
    assert RecipeSelected("plate-B", "plc") in events
    assert LinkChanged(LinkStatus("opcua", True, "opc.tcp://127.0.0.1:4840")) in events
    assert ModelRequested("/models/v3", "plc") in events
    assert ModelFailed("/models/v3", "bundle.json: not found", None) in events
    assert (state.mode, state.source, state.save_policy) == (
        "triggered",
        "rtsp://10.0.0.5/line1",
        "all",
    )
    assert (state.recipe, state.role, state.link.connected) == ("plate-B", "engineer", True)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.set_mode("sometimes"), "mode must be one of continuous, triggered"),
        (lambda s: s.set_save_policy("most"), "save policy must be one of fail, all, none"),
        (lambda s: s.set_role(""), "role must not be empty"),
    ],
)
def test_bad_requests_name_the_field(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=message):
        call(StationState())


def test_a_failing_listener_does_not_stop_the_others_and_unsubscribe_works() -> None:
    state = StationState()
    seen: list[StateEvent] = []

    def broken(_event: StateEvent) -> None:
        raise RuntimeError("display gone")

    state.subscribe(broken)
    unsubscribe = state.subscribe(seen.append)
    state.set_mode("triggered")
    assert seen == [ModeChanged("triggered")]
    unsubscribe()
    state.set_mode("continuous")
    assert seen == [ModeChanged("triggered")]


@pytest.mark.slow
def test_saving_a_threshold_writes_the_bundle_and_ends_the_override(
    trained_bundle: Path, tmp_path: Path
) -> None:
    bundle = Path(shutil.copytree(trained_bundle, tmp_path / "model"))
    meta = read_meta(bundle)
    model = _model(meta.model_id, meta.thresholds.image, str(bundle))
    state = StationState()
    state.set_model(model)
    state.set_threshold(meta.thresholds.image * 2)
    events = _recorded(state)
    saved = state.save_threshold(meta.thresholds.image * 0.9, by=SetBy.ENGINEER)
    assert read_meta(bundle).thresholds.image == meta.thresholds.image * 0.9
    assert saved == ActiveThreshold(meta.model_id, meta.thresholds.image * 0.9, SetBy.BUNDLE)
    assert state.threshold == saved and state.threshold_for(meta.model_id) is None
    assert state.model is not None and state.model.thresholds.image == saved.value
    assert state.model.calibrated_threshold == meta.thresholds.image  # calibration stays
    assert events == [ThresholdChanged(saved, saved=True)]


def test_a_verdict_that_is_none_of_the_three_is_refused_not_counted() -> None:
    state = StationState()
    events = _recorded(state)
    with pytest.raises(KeyError):
        state.record_result(PartResult("P1", "MAYBE", 1.0, 2.0))
    assert state.counters.total == 0 and events == []
