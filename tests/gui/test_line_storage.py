"""Images already failing when the station is linked to a PLC: the STORAGE alarm is raised at
once (the PLC and the status bar hear of it), not only at the next change."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from station.alarms import AlarmCode
from station.recipes import Recipe, save_recipe

pytestmark = pytest.mark.slow  # the shared test model is trained once (about 10 s)


def test_storage_alarm_is_raised_when_the_link_attaches_while_images_fail(
    qtbot: Any, tmp_path: Path, model_copy: Path, parts: Path
) -> None:
    from gui.line_link import attach_line
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace
    from station.line.modbus import ModbusServerTransport, ModbusSettings
    from station.line.plc_sim import ModbusPlc

    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the image folder should be")
    settings = StationSettings(
        model=str(model_copy),
        source=str(parts),
        fps=20.0,
        save_policy="all",
        output_dir=str(blocker / "images"),
    )
    ws = Workspace(tmp_path / "ws")
    save_recipe(Recipe(1, "metal_plate", str(model_copy)), ws.root / "recipes")
    win: Any = MainWindow(ws, settings)
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: bool(win.inference.storage_problem), timeout=60_000)
        make = lambda: ModbusServerTransport(ModbusSettings("127.0.0.1", 0))  # noqa: E731
        link = attach_line(win, "modbus", make=make)
        try:
            qtbot.waitUntil(lambda: AlarmCode.STORAGE in link.alarms, timeout=5_000)
            assert "images not saved" in link.alarms[AlarmCode.STORAGE]
            assert link.handshake is not None
            transport: Any = link.handshake.transport
            port = transport.port

            async def plc_alarm() -> int:
                plc = ModbusPlc("127.0.0.1", port)
                await plc.connect()
                try:
                    await plc.select_recipe(1, timeout=30.0)  # UNKNOWN_RECIPE (5) is cleared
                    return int(await plc.read("Alarm"))
                finally:
                    await plc.close()

            assert asyncio.run(plc_alarm()) == AlarmCode.STORAGE
            # the status bar hears of it through queued signals
            qtbot.waitUntil(lambda: win.line_status.health[1].startswith("STORAGE"))
            assert win.line_status.health[0] == "warning"
        finally:
            link.stop()
    finally:
        win.shutdown()
