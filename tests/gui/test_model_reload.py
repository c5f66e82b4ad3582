"""Loading models again and again in the inference worker does not leak memory."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gui.frame_slot import LatestSlot
from gui.inference_worker import InferenceWorker
from inspector.capture import Frame
from inspector.imageio import read_image
from station.events import LoadedModel, ModelChanged
from station.state import StationState


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def test_reloading_models_does_not_grow_memory(qtbot, tmp_path, model_copy, sample_product) -> None:
    pytest.importorskip("onnxruntime")
    from training.export import export_onnx

    export_onnx(model_copy)  # the backend the review measured the growth with
    slot: LatestSlot[Frame] = LatestSlot()
    state = StationState(save_policy="none")
    worker = InferenceWorker(state, slot, tmp_path / "log.sqlite", tmp_path / "images")
    loaded: list[LoadedModel] = []
    results: list[None] = []  # counts only: a kept ViewItem holds ~6 MB of display image
    state.subscribe(lambda e: loaded.append(e.model) if isinstance(e, ModelChanged) else None)
    worker.result_ready.connect(lambda _item: results.append(None))
    image = read_image(next((sample_product / "test" / "good").glob("*.png")))
    worker.start()
    try:

        def load(n: int) -> None:
            for _ in range(n):
                count = len(loaded)
                state.request_model(str(model_copy))
                qtbot.waitUntil(lambda: len(loaded) > count, timeout=30_000)  # noqa: B023
                # Each model inspects a part: running the model is what grows its memory.
                done = len(results)
                slot.put(Frame(image, done, time.time(), "test"))
                qtbot.waitUntil(lambda: len(results) > done, timeout=30_000)  # noqa: B023

        load(3)  # warm-up: first-load allocations and caches
        before = _rss_mb()
        load(12)
        grown = _rss_mb() - before
    finally:
        worker.stop()
    assert loaded[-1].backend == "onnxruntime"
    # Measured: +2..8 MB over 12 reloads (allocator noise); a leaked ONNX Runtime model
    # with its arena would add ~5 MB or more per reload.
    assert grown < 30, f"{grown:.0f} MB more after 12 reloads"
