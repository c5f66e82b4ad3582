"""Image retention in the running station: real files, the real inspection log.

A tiny disk budget prunes the oldest parts' images while parts go on (their rows kept and
marked); an image folder that cannot be written, or a disk that is really full, never stops
inspection: every part is judged and logged, and the station says why images are missing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gui.record_evidence import load_evidence
from inspector.records import InspectionLog
from station.image_keeper import ImageRemovals
from station.retention import GB, RetentionPolicy

pytestmark = pytest.mark.slow  # the shared test model is trained once (about 10 s)


def open_window(qtbot: Any, tmp_path: Path, model: Path, parts: Path, output: Path) -> Any:
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace

    settings = StationSettings(
        model=str(model), source=str(parts), fps=20.0, save_policy="all", output_dir=str(output)
    )
    win = MainWindow(Workspace(tmp_path / "ws"), settings)
    qtbot.addWidget(win)
    return win


def files(folder: Path) -> list[Path]:
    return [p for p in folder.glob("*/*") if p.is_file()]


def test_a_tiny_budget_prunes_the_oldest_images_while_parts_go_on(
    qtbot: Any, tmp_path: Path, model_copy: Path, parts: Path
) -> None:
    images = tmp_path / "images"
    win = open_window(qtbot, tmp_path, model_copy, parts, images)
    try:
        qtbot.waitUntil(lambda: win.log.count() >= 2, timeout=60_000)
        first = win.log.query(limit=None)[-1]
        part_bytes = sum(Path(p).stat().st_size for p in (first.image_path, first.overlay_path))
        # room for about four parts; one OK part in two is kept
        win.inference.set_retention(RetentionPolicy(2, None, 4 * part_bytes / GB))
        start = win.log.count()
        qtbot.waitUntil(lambda: win.log.count() >= start + 24, timeout=60_000)
        win.state.set_mode("triggered")  # no new part while the folder is checked
        qtbot.wait(300)
        keeper = win.inference.keeper
        assert keeper is not None and keeper.prune_now()
        assert sum(p.stat().st_size for p in files(images)) <= 4 * part_bytes
        rows = win.log.query(limit=None)
        assert all(r.verdict in ("PASS", "FAIL") for r in rows)  # every part judged, logged
        later = [r for r in rows if r.id is not None and r.id > start]
        ok_kept = [r for r in later if r.verdict == "PASS" and r.image_path]
        ok_all = [r for r in later if r.verdict == "PASS"]
        assert 0 < len(ok_kept) <= (len(ok_all) + 1) // 2 + 1  # one OK part in two
        assert all(r.image_path for r in later if r.verdict == "FAIL")  # every NG kept
    finally:
        win.shutdown()
    log = InspectionLog(win.workspace.log_file)
    removals = ImageRemovals(win.workspace.log_file)
    try:
        marked = [log.get(r.id) for r in rows if r.id and removals.get(r.id) is not None]
        assert len(marked) >= 4  # the oldest ones, images removed, rows kept
        assert all(m is not None and not Path(m.image_path).exists() for m in marked)
        oldest = min(r.id for r in rows if r.image_path and r.id)
        mark = removals.get(oldest)
        assert mark is not None  # the oldest went first
        row = log.get(oldest)
        assert row is not None
        evidence = load_evidence(row, mark)  # what the review of that row says
        assert evidence.bare is None and "removed by image retention" in evidence.problem
        assert "GB" in evidence.problem and evidence.item.verdict == row.verdict
        newest = max(r.id for r in rows if r.image_path and r.id)
        kept = log.get(newest)
        assert removals.get(newest) is None and kept is not None
        assert Path(kept.image_path).exists()
    finally:
        removals.close()
        log.close()


def test_an_unwritable_image_folder_never_stops_inspection(
    qtbot: Any, tmp_path: Path, model_copy: Path, parts: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the image folder should be")
    win = open_window(qtbot, tmp_path, model_copy, parts, blocker / "images")
    try:
        qtbot.waitUntil(lambda: win.log.count() >= 6, timeout=60_000)
        qtbot.waitUntil(lambda: win.live.storage.isVisibleTo(win.live))
        assert "images not saved" in win.live.storage.text()
        assert str(blocker / "images") in win.live.storage.text()
        rows = win.log.query(limit=None)
        assert {r.verdict for r in rows} == {"PASS", "FAIL"}  # judged, not ERROR
        assert all(not r.image_path for r in rows)
        blocker.unlink()  # the folder can be written again: images come back, the note goes
        qtbot.waitUntil(lambda: not win.live.storage.isVisibleTo(win.live), timeout=30_000)
        qtbot.waitUntil(lambda: bool(win.log.query(limit=1)[0].image_path), timeout=30_000)
    finally:
        win.shutdown()


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A real, tiny filesystem (tmpfs) at ``path``; skips where it cannot be mounted."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny filesystem needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_really_full_disk_never_stops_inspection(
    qtbot: Any, tmp_path: Path, model_copy: Path, parts: Path
) -> None:
    with small_disk(tmp_path / "small", "400k") as disk:
        win = open_window(qtbot, tmp_path, model_copy, parts, disk / "images")
        try:
            qtbot.waitUntil(lambda: win.live.storage.isVisibleTo(win.live), timeout=60_000)
            start = win.log.count()
            qtbot.waitUntil(lambda: win.log.count() >= start + 6, timeout=60_000)
            rows = win.log.query(limit=None)
            assert {r.verdict for r in rows} == {"PASS", "FAIL"}
            assert any(r.image_path for r in rows) and any(not r.image_path for r in rows)
            assert win.live.storage.isVisibleTo(win.live)
        finally:
            win.shutdown()
