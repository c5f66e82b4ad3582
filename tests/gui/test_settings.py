from __future__ import annotations

from gui.settings import StationSettings, Workspace


def test_settings_round_trip(tmp_path) -> None:
    ws = Workspace(tmp_path)
    s = StationSettings().override(source="0", fps=5.0, threshold_overrides={"abc": 1.5})
    ws.save_settings(s)
    assert ws.load_settings() == s


def test_first_start_plays_the_sample_images(tmp_path) -> None:
    s = Workspace(tmp_path).load_settings()
    assert s.source.endswith("sample_images/metal_plate/test")
    assert s.trigger_mode == "continuous" and s.save_policy == "fail"


def test_damaged_settings_file_falls_back_to_defaults_and_is_kept(tmp_path) -> None:
    ws = Workspace(tmp_path)
    ws.settings_file.write_text("{not json")
    assert ws.load_settings() == StationSettings()
    assert (tmp_path / "settings.json.bad").read_text() == "{not json"


def test_changes_are_saved_without_a_clean_shutdown(qtbot, window, tmp_path) -> None:
    """What a kill -9 or a power cut would leave: the file as written while running."""
    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    model_id = win.state.model.model_id
    win.set_threshold(12.5)
    win.state.set_mode("triggered")
    other = tmp_path / "other_camera"
    win.connect_source(str(other))

    def saved() -> bool:
        s = win.workspace.load_settings() if win.workspace.settings_file.exists() else None
        return (
            s is not None
            and s.threshold_overrides.get(model_id) == 12.5
            and s.trigger_mode == "triggered"
            and s.source == str(other)
        )

    qtbot.waitUntil(saved, timeout=5_000)  # no shutdown() was called
