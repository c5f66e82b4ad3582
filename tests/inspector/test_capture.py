"""Capture sources on real files, plus the reconnector against a stand-in that drops out."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.capture import (
    CameraSource,
    CaptureSource,
    FolderSource,
    Frame,
    FrameError,
    Reconnector,
    SourceError,
    StreamSource,
    VideoFileSource,
    open_source,
    to_rgb,
)

H, W = 24, 32


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def write_video(path: Path, frames: int = 5, fps: float = 20.0) -> Path:
    """An MJPG .avi whose frame i is flat grey at level 40 * i (readable by headless OpenCV)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (W, H))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((H, W, 3), 40 * i, np.uint8))
    writer.release()
    return path


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Colour, grey, 16-bit, RGBA and a nested image, in that sorted order."""
    folder = tmp_path / "images"
    bgr = np.zeros((H, W, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's BGR order
    write_png(folder / "01_color.png", bgr)
    write_png(folder / "02_gray.png", np.full((H, W), 77, np.uint8))
    write_png(folder / "03_deep.png", np.full((H, W, 3), 40000, np.uint16))
    bgra = np.zeros((H, W, 4), np.uint8)
    bgra[..., 2] = 200  # red, fully transparent: the colour must survive, the alpha not
    write_png(folder / "04_rgba.png", bgra)
    write_png(folder / "sub" / "05_nested.png", np.full((H, W, 3), 9, np.uint8))
    (folder / "notes.txt").write_text("not an image suffix: never listed")
    return folder


@pytest.fixture
def two_images(tmp_path: Path) -> Path:
    folder = tmp_path / "two"
    write_png(folder / "a.png", np.full((H, W, 3), 10, np.uint8))
    write_png(folder / "b.png", np.full((H, W, 3), 20, np.uint8))
    return folder


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    """good, zero-byte PNG, text file named .png, good."""
    folder = tmp_path / "bad"
    write_png(folder / "1_good.png", np.full((H, W, 3), 1, np.uint8))
    (folder / "2_empty.png").write_bytes(b"")
    (folder / "3_text.png").write_text("this is a text file, not a PNG\n")
    write_png(folder / "4_good.png", np.full((H, W, 3), 4, np.uint8))
    return folder


def read_n(source: CaptureSource, n: int) -> list[Frame]:
    frames = [source.read() for _ in range(n)]
    assert all(f is not None for f in frames)
    return [f for f in frames if f is not None]


# Folder ------------------------------------------------------------------------------------


def test_folder_converts_every_format_to_rgb(mixed_folder: Path) -> None:
    with FolderSource(mixed_folder, fps=0, loop=False) as source:
        assert source.finite
        frames = read_n(source, 5)
        assert source.read() is None
        assert source.read() is None  # stays ended
    names = [f.name for f in frames]
    assert names == [
        "01_color.png",
        "02_gray.png",
        "03_deep.png",
        "04_rgba.png",
        "sub/05_nested.png",
    ]
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert all(f.source == str(mixed_folder) for f in frames)
    assert all(f.image.shape == (H, W, 3) and f.image.flags.c_contiguous for f in frames)
    color, gray, deep, rgba, _ = (f.image for f in frames)
    assert color[0, 0].tolist() == [0, 0, 255]  # BGR blue arrives as RGB blue
    assert gray.dtype == np.uint8 and gray[0, 0].tolist() == [77, 77, 77]
    assert deep.dtype == np.uint16 and deep[0, 0].tolist() == [40000] * 3
    assert rgba[0, 0].tolist() == [200, 0, 0]
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps) and abs(stamps[0] - time.time()) < 5


def test_bad_file_raises_frame_error_then_next_file_comes(bad_folder: Path) -> None:
    with FolderSource(bad_folder, fps=0, loop=False) as source:
        first = source.read()
        with pytest.raises(FrameError) as empty:
            source.read()
        with pytest.raises(FrameError) as text:
            source.read()
        last = source.read()
        assert source.read() is None
    assert empty.value.path == str(bad_folder / "2_empty.png")
    assert "2_empty.png" in str(empty.value) and "empty" in empty.value.reason
    assert "3_text.png" in str(text.value) and "not an image" in text.value.reason
    assert first is not None and last is not None
    assert (first.name, first.index) == ("1_good.png", 0)
    assert (last.name, last.index) == ("4_good.png", 1)  # bad files take no frame number


def test_folder_loops_and_picks_up_new_files(two_images: Path) -> None:
    with FolderSource(two_images, fps=0) as source:
        assert not source.finite
        names = [f.name for f in read_n(source, 5)]
        write_png(two_images / "c.png", np.zeros((H, W, 3), np.uint8))
        names += [f.name for f in read_n(source, 4)]
    assert names == [
        "a.png",
        "b.png",
        "a.png",
        "b.png",
        "a.png",
        "b.png",
        "a.png",
        "b.png",
        "c.png",
    ]


def test_folder_open_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="no image files"):
        FolderSource(tmp_path / "empty").open()
    with pytest.raises(SourceError, match="folder not found"):
        FolderSource(tmp_path / "missing").open()
    with pytest.raises(SourceError, match="not open"):
        FolderSource(tmp_path / "empty").read()


def test_folder_paced_without_drift(two_images: Path) -> None:
    with FolderSource(two_images, fps=20) as source:
        start = time.monotonic()
        frames = read_n(source, 11)
        elapsed = time.monotonic() - start
    assert 0.45 <= elapsed < 0.9  # 10 periods of 50 ms
    offsets = [f.timestamp - frames[0].timestamp for f in frames]
    # On a grid: frame i near i * 50 ms, not a sum of per-frame errors.
    assert all(abs(off - i * 0.05) < 0.045 for i, off in enumerate(offsets)), offsets


def test_slow_consumer_gets_no_catch_up_burst(two_images: Path) -> None:
    with FolderSource(two_images, fps=20) as source:
        read_n(source, 1)
        time.sleep(0.3)  # six periods late
        late = source.read()
        following = source.read()
    assert late is not None and following is not None
    assert following.timestamp - late.timestamp > 0.035


def test_unpaced_folder_is_fast(two_images: Path) -> None:
    with FolderSource(two_images, fps=0) as source:
        start = time.monotonic()
        read_n(source, 40)
        assert time.monotonic() - start < 0.5


def test_close_from_another_thread_ends_a_paced_wait(two_images: Path) -> None:
    source = FolderSource(two_images, fps=0.5)  # a 2 s period
    source.open()
    read_n(source, 1)
    threading.Timer(0.1, source.close).start()
    start = time.monotonic()
    assert source.read() is None
    assert time.monotonic() - start < 1.0
    source.close()  # idempotent
    with pytest.raises(SourceError, match="not open"):
        source.read()


# Video, camera, stream ---------------------------------------------------------------------


def test_video_played_once(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi")
    with VideoFileSource(video, loop=False, realtime=False) as source:
        assert source.finite
        frames = read_n(source, 5)
        assert source.read() is None
        assert source.read() is None
    assert all(f.image.shape == (H, W, 3) and f.image.dtype == np.uint8 for f in frames)
    levels = [float(f.image.mean()) for f in frames]
    assert levels == pytest.approx([0, 40, 80, 120, 160], abs=6)  # MJPG is lossy
    assert [f.index for f in frames] == [0, 1, 2, 3, 4] and frames[0].name == ""


def test_video_loops(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi")
    with VideoFileSource(video, loop=True, realtime=False) as source:
        frames = read_n(source, 12)
    levels = [round(float(f.image.mean()) / 40) for f in frames]
    assert levels == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert [f.index for f in frames] == list(range(12))


def test_video_paced_to_its_frame_rate(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", fps=20)
    with VideoFileSource(video) as source:
        start = time.monotonic()
        read_n(source, 11)  # loops past the end: pacing carries on across the rewind
        assert 0.45 <= time.monotonic() - start < 0.9


def test_video_open_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        VideoFileSource(tmp_path / "missing.avi").open()
    (tmp_path / "fake.avi").write_text("not a video")
    with pytest.raises(SourceError, match="fake.avi: cannot open as a video"):
        VideoFileSource(tmp_path / "fake.avi").open()


def test_missing_camera_fails_on_open() -> None:
    source = CameraSource(99)
    with pytest.raises(SourceError, match="camera 99: cannot open"):
        source.open()
    source.close()
    source.close()


def test_unreachable_stream_fails_on_open_and_hides_password() -> None:
    source = StreamSource("rtsp://admin:secret@127.0.0.1:9/live", timeout_ms=2000)
    assert source.label == "rtsp://admin:***@127.0.0.1:9/live"
    with pytest.raises(SourceError, match="cannot open stream") as err:
        source.open()
    assert "secret" not in str(err.value)


def test_to_rgb_keeps_depth_and_drops_alpha() -> None:
    mono16 = np.full((H, W), 4095, np.uint16)
    for raw in (mono16, mono16[..., None]):
        rgb = to_rgb(raw)
        assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint16 and rgb.max() == 4095
    bgra = np.zeros((H, W, 4), np.uint16)
    bgra[..., 0] = 1000
    assert to_rgb(bgra)[0, 0].tolist() == [0, 0, 1000]
    with pytest.raises(ValueError, match="pixel type"):
        to_rgb(np.zeros((H, W, 3), np.float32))
    with pytest.raises(ValueError, match="layout"):
        to_rgb(np.zeros((H, W, 2), np.uint8))


def test_open_source_picks_the_kind(tmp_path: Path, two_images: Path) -> None:
    video = write_video(tmp_path / "clip.avi")
    assert isinstance(open_source(0), CameraSource)
    assert open_source(" 2 ").label == "camera 2"
    assert open_source("Camera:3").label == "camera 3"
    assert isinstance(open_source("rtsp://host/stream"), StreamSource)
    assert isinstance(open_source("https://host/cam.mjpg"), StreamSource)
    folder = open_source(str(two_images), fps=5, loop=False)
    assert isinstance(folder, FolderSource) and folder.finite
    assert isinstance(open_source(two_images / "a.png"), FolderSource)
    clip = open_source(str(video), loop=False)
    assert isinstance(clip, VideoFileSource) and clip.finite
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="unsupported URL scheme 'ftp'"):
        open_source("ftp://host/x")
    with pytest.raises(ValueError, match="no source given"):
        open_source("  ")


# Reconnector -------------------------------------------------------------------------------


class DropoutCamera(CaptureSource):
    """Stand-in for a camera that drops out (no camera exists here): `frames` frames, then
    the SourceError an unplugged camera gives; `frames=None` fails already on open."""

    def __init__(self, frames: int | None) -> None:
        super().__init__("test camera")
        self.frames = frames
        self.closed = False

    def _open(self) -> None:
        if self.frames is None:
            raise SourceError("test camera: cannot open")

    def _release(self) -> None:
        self.closed = True

    def read(self) -> Frame | None:
        self._check_open()
        if self.frames == 0:
            raise SourceError("test camera: no frame (camera disconnected?)")
        assert self.frames is not None
        self.frames -= 1
        return self._frame(np.zeros((2, 2, 3), np.uint8))


class Script:
    """A factory that hands out DropoutCameras in a planned order and records the waits."""

    def __init__(self, plan: list[int | None]) -> None:
        self.plan = plan
        self.made: list[DropoutCamera] = []
        self.waits: list[float] = []
        self.states: list[tuple[str, str]] = []

    def factory(self) -> DropoutCamera:
        self.made.append(DropoutCamera(self.plan[len(self.made)]))
        return self.made[-1]

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        return stop.is_set()

    def on_state(self, state: str, message: str) -> None:
        self.states.append((state, message))


def test_reconnector_backs_off_and_resets_after_a_good_frame() -> None:
    script = Script([None, None, None, None, 2, None, 1])
    rec = Reconnector(script.factory, script.on_state, backoff=(1.0, 4.0), wait=script.wait)
    stop = threading.Event()
    assert rec.next_frame(stop) is not None  # four failed opens, then the fifth camera
    assert script.waits == [1.0, 2.0, 4.0, 4.0]  # doubles up to the maximum
    assert rec.state == "live"
    assert rec.next_frame(stop) is not None
    assert rec.next_frame(stop) is not None  # disconnect, one failed open, then the seventh
    assert script.waits[4:] == [1.0, 2.0]  # back to the first wait after good frames
    assert script.states[:3] == [
        ("connecting", "connecting to test camera"),
        ("retrying", "test camera: cannot open; retry in 1.0 s"),
        ("connecting", "connecting to test camera"),
    ]
    assert ("live", "test camera") in script.states
    assert (
        "retrying",
        "test camera: no frame (camera disconnected?); retry in 1.0 s",
    ) in script.states
    assert all(cam.closed for cam in script.made[:-1])
    rec.close()
    assert rec.state == "stopped" and script.made[-1].closed
    assert rec.next_frame(stop) is None


def test_reconnector_retries_a_factory_that_raises(tmp_path: Path) -> None:
    stop = threading.Event()
    waits: list[float] = []

    def wait(event: threading.Event, seconds: float) -> bool:
        waits.append(seconds)
        if len(waits) == 3:
            event.set()
        return event.is_set()

    rec = Reconnector(lambda: open_source(str(tmp_path / "later")), backoff=(0.5, 10), wait=wait)
    assert rec.next_frame(stop) is None
    assert waits == [0.5, 1.0, 2.0] and rec.state == "stopped"


def test_stop_ends_a_backoff_wait_promptly() -> None:
    states: list[tuple[str, str]] = []
    rec = Reconnector(
        lambda: DropoutCamera(None), lambda s, m: states.append((s, m)), backoff=(5.0, 10.0)
    )
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    start = time.monotonic()
    assert rec.next_frame(stop) is None
    assert time.monotonic() - start < 1.0
    assert rec.state == "stopped" and states[-1] == ("stopped", "stopped")
    assert states[-2] == ("retrying", "test camera: cannot open; retry in 5.0 s")


def test_stop_ends_a_paced_folder_wait_promptly(two_images: Path) -> None:
    rec = Reconnector(lambda: FolderSource(two_images, fps=0.5))
    stop = threading.Event()
    assert rec.next_frame(stop) is not None
    threading.Timer(0.1, stop.set).start()
    start = time.monotonic()
    assert rec.next_frame(stop) is None
    assert time.monotonic() - start < 1.0 and rec.state == "stopped"


def test_reconnector_passes_frame_errors_and_ends_finite_sources(bad_folder: Path) -> None:
    made: list[FolderSource] = []

    def factory() -> FolderSource:
        made.append(FolderSource(bad_folder, fps=0, loop=False))
        return made[-1]

    states: list[str] = []
    rec = Reconnector(factory, lambda s, _m: states.append(s))
    stop = threading.Event()
    names = []
    errors = []
    while True:
        try:
            frame = rec.next_frame(stop)
        except FrameError as exc:
            errors.append(Path(exc.path).name)
            assert rec.state == "live"  # one bad file is not a failed source
            continue
        if frame is None:
            break
        names.append(frame.name)
    assert names == ["1_good.png", "4_good.png"]
    assert errors == ["2_empty.png", "3_text.png"]
    assert states == ["connecting", "live", "ended"]
    assert rec.next_frame(stop) is None and len(made) == 1
