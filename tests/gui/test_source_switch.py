"""Switching sources while the old one hangs in OpenCV: the UI never waits for it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import shiboken6

from gui.frame_slot import LatestSlot
from gui.workers import CaptureWorker


@pytest.fixture
def silent_stream() -> Iterator[tuple[str, list[socket.socket]]]:
    """A TCP server that accepts connections and never answers: OpenCV's open blocks on it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/cam", accepted
    srv.close()
    for conn in accepted:
        conn.close()


def test_switching_away_from_a_silent_stream_never_blocks(qtbot, window, parts, silent_stream):
    win = window
    url, accepted = silent_stream
    qtbot.waitUntil(lambda: win.state.counters.total >= 1, timeout=60_000)
    win.connect_source(url)
    qtbot.waitUntil(lambda: len(accepted) == 1, timeout=10_000)  # OpenCV is now blocked
    old = win.capture
    t0 = time.monotonic()
    win.connect_source(str(parts))
    assert time.monotonic() - t0 < 0.5
    assert old in win.sources.retired and old.isRunning()  # still referenced while it runs
    n = win.state.counters.total
    qtbot.waitUntil(lambda: win.state.counters.total >= n + 2, timeout=30_000)
    # Once OpenCV gives up, the old thread ends and is deleted; its late "retrying" state
    # never reaches the status bar, which keeps showing the new source.
    qtbot.waitUntil(lambda: not shiboken6.isValid(old), timeout=20_000)
    assert not win.sources.retired
    assert "live" in win.source_state.text() and "127.0.0.1" not in win.source_state.text()

    # Closing while a thread is still blocked waits for it instead of aborting the process.
    win.connect_source(url)
    qtbot.waitUntil(lambda: len(accepted) == 2, timeout=10_000)
    blocked = win.capture
    win.connect_source(str(parts))
    win.shutdown()
    assert blocked.isFinished() and win.capture is None


def test_a_stopped_worker_never_puts_another_frame(qtbot, tmp_path: Path) -> None:
    """A frame whose read completes after request_stop() must not reach the shared slot."""
    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    data = video.read_bytes()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    asked, answer = threading.Event(), threading.Event()

    def serve() -> None:  # holds OpenCV's open until the test lets it through
        conn, _ = srv.accept()
        conn.recv(4096)
        asked.set()
        answer.wait(10)
        head = f"HTTP/1.0 200 OK\r\nContent-Type: video/x-msvideo\r\nContent-Length: {len(data)}"
        conn.sendall(head.encode() + b"\r\n\r\n" + data)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    slot: LatestSlot = LatestSlot()
    worker = CaptureWorker(f"http://127.0.0.1:{srv.getsockname()[1]}/v.avi", 5.0, slot)
    worker.start()
    assert asked.wait(10), "the worker never opened the stream"
    worker.request_stop()
    answer.set()  # now the blocked open succeeds and its first read gives a frame
    assert worker.wait(10_000)
    srv.close()
    assert slot.get(timeout=0.2) is None
