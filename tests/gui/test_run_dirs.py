"""Run folders and collected frames never overwrite an earlier one."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from gui.run_dirs import new_run_dir
from gui.workers import save_frame
from inspector.capture import Frame


def test_runs_in_the_same_second_get_their_own_folders(tmp_path: Path) -> None:
    names = []
    for _ in range(3):
        run = new_run_dir(tmp_path, "_current")
        run.mkdir()
        names.append(run.name)
        if len(names) == 1:
            (tmp_path / f"{run.name}_2_current").mkdir()  # a companion already there
    assert len(set(names)) == 3
    assert f"{names[0]}_2" not in names  # its _current companion was taken


def test_the_same_frame_saved_twice_keeps_both(tmp_path: Path) -> None:
    frame = Frame(np.zeros((4, 4, 3), np.uint8), 7, time.time(), "cam")
    first, second = save_frame(frame, tmp_path), save_frame(frame, tmp_path)
    assert first != second and first.is_file() and second.is_file()
