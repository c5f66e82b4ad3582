"""Drift on the station: the trend plot paints each quantity's EWMA against its limits, and a
run whose brightness falls turns the station's health indicator to warning (the statistics
computed on the inference thread, charted against the recipe's drift reference)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from station.drift import Calibration, DriftMonitor, Reference


def monitor_fed(parts: int, fall: float) -> DriftMonitor:
    monitor = DriftMonitor(
        "plate",
        Calibration({"brightness": Reference(120.0, 2.0), "score": Reference(0.3, 0.05)}),
    )
    for i in range(parts):
        monitor.update({"brightness": 120.0 - fall * i, "score": 0.3})
    return monitor


def test_the_plot_holds_each_lane_and_shows_the_warning(qtbot: Any) -> None:
    from gui.widgets.drift_plot import HealthPanel

    panel = HealthPanel()
    qtbot.addWidget(panel)
    panel.resize(400, 260)
    assert panel.plot.points("brightness") == 0
    panel.show_chart("plate", {}, "learning the drift reference: 3/50 good parts")
    assert not panel.plot.grab().isNull() and "3/50" in panel.plot.note

    steady, falling = monitor_fed(80, 0.0), monitor_fed(80, 0.5)
    assert not steady.active and falling.active == {"brightness"}
    panel.show_chart("plate", falling.chart())
    assert panel.plot.points("brightness") == panel.plot.points("score") == 80
    line = panel.plot.lines["brightness"]
    assert line.active and not line.one_sided and line.values[-1] < line.reference - line.limit
    assert panel.plot.lines["score"].one_sided and not panel.plot.lines["score"].active
    image = panel.plot.grab().toImage()
    assert image.width() == 400
    panel.show_health("warning", "DRIFT: plate: brightness drifted from its reference")
    assert panel.health == ("warning", "DRIFT: plate: brightness drifted from its reference")
    assert "warning" in panel.health_label.text()
    panel.show_camera(24.5, 0, 2000.0, 5.25)
    assert panel.camera_label.text() == (
        "camera: 24.5 fps  ·  dropped 0  ·  exposure 2000 µs  ·  focus 5.25"
    )


def test_the_monitor_history_stays_bounded() -> None:
    from station.drift import HISTORY

    monitor = monitor_fed(HISTORY + 50, 0.0)
    assert len(monitor.chart()["brightness"].values) == HISTORY


@pytest.mark.slow
def test_a_falling_brightness_turns_the_station_health_to_warning(
    qtbot: Any, tmp_path: Path, model_copy: Path, sample_product: Path
) -> None:
    from gui.line_link import attach_line, request_recipe
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace
    from gui.view_item import to_display
    from inspector.imageio import read_image
    from station.drift import image_stats
    from station.line.opcua import OpcUaServerSettings, OpcUaServerTransport
    from station.line.plc_sim import free_port
    from station.recipes import Recipe, save_recipe

    good = sorted((sample_product / "test" / "good").glob("*.png"))[0]
    camera = tmp_path / "camera"
    camera.mkdir()
    bgr = np.asarray(cv2.imread(str(good)), np.float32)
    for i in range(60):  # the light fades: 1 % less each part
        cv2.imwrite(str(camera / f"d{i:03d}.png"), (bgr * (1.0 - 0.01 * i)).astype(np.uint8))
    start = image_stats(to_display(read_image(camera / "d000.png"), None)[0])
    ws = Workspace(tmp_path / "ws")
    recipes = ws.root / "recipes"
    save_recipe(Recipe(1, "plate", str(model_copy), image_threshold=1e9), recipes)
    (recipes / "drift").mkdir()
    reference = Calibration({"brightness": Reference(start["brightness"], 2.0)})
    (recipes / "drift" / "plate.json").write_text(json.dumps(reference.to_json()))
    settings = StationSettings(model=str(model_copy), source="", fps=20.0)
    win: Any = MainWindow(ws, settings)
    qtbot.addWidget(win)
    port = free_port()
    link = attach_line(
        win, "opcua", make=lambda: OpcUaServerTransport(OpcUaServerSettings("127.0.0.1", port))
    )
    try:
        qtbot.waitUntil(lambda: win.state.model is not None, timeout=60_000)
        assert win.live.health.isVisibleTo(win.live)  # the line's health, on the Live tab
        assert request_recipe(win, link, 1)  # the engineer (the conftest's) confirms
        qtbot.waitUntil(lambda: link.port.recipe is not None, timeout=30_000)
        qtbot.waitUntil(lambda: win.live.health.health == ("ok", ""))  # no recipe: cleared
        win.state.set_mode("continuous")  # every frame of the fading folder, in order
        win.state.set_source(str(camera))
        qtbot.waitUntil(lambda: win.live.health.health[0] == "warning", timeout=60_000)
        level, reason = win.live.health.health
        assert reason.startswith("DRIFT: plate: brightness")
        plot = win.live.health.plot
        # not at the first darker part: the chart averages (about 10 parts at 1 % a part)
        assert plot.points("brightness") >= 5 and plot.lines["brightness"].active
        assert plot.lines["brightness"].values[-1] < start["brightness"]
        assert win.line_status.health == (level, reason)
        qtbot.waitUntil(lambda: "fps" in win.live.health.camera_label.text(), timeout=5_000)
        assert link.focus is not None  # the focus measure of the inspected parts
    finally:
        link.stop()
        win.shutdown()
    shutil.rmtree(camera)
