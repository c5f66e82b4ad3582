"""A video file plays at its own frame rate; the fps setting is for image folders."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from gui.frame_slot import LatestSlot
from gui.workers import CaptureWorker, make_source
from inspector.capture import FolderSource, VideoFileSource


def _video(path: Path, fps: float, frames: int = 60) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i * 4, np.uint8))
    writer.release()
    return path


def _frames_in(worker: CaptureWorker, slot: LatestSlot, seconds: float) -> int:
    worker.start()
    first = slot.get(timeout=10)
    assert first is not None, "no frame from the source"
    time.sleep(seconds)
    last = worker.last_frame()
    worker.stop()
    assert last is not None
    return last.index - first.index


def test_video_plays_at_its_own_rate_not_the_folder_rate(qtbot, tmp_path: Path) -> None:
    video = _video(tmp_path / "line.avi", 25.0)
    slot: LatestSlot = LatestSlot()
    # The station's folder rate is 2 fps; in 1 s the 25 fps video still gives ~25 frames.
    n = _frames_in(CaptureWorker(str(video), 2.0, slot), slot, 1.0)
    assert n >= 12, f"{n} frames in 1 s: the video was paced at the folder rate"


def test_an_explicit_rate_paces_the_video_and_folders_keep_theirs(tmp_path: Path) -> None:
    video = _video(tmp_path / "line.avi", 25.0, frames=3)
    source = make_source(str(video), 2.0, video_fps=5.0)
    assert isinstance(source, VideoFileSource) and source.fps == 5.0
    assert make_source(str(video), 2.0).fps is None  # None: the rate the file states
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((8, 8, 3), np.uint8))
    source = make_source(str(folder), 3.0)
    assert isinstance(source, FolderSource) and source._pacer.period == 1 / 3.0
