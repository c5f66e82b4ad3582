"""The pylon capture source on Basler's camera emulator (PYLON_CAMEMU), playing sample_images.

The emulator cannot receive a pulse on an input line, and lists but never fires its other
trigger sources; it fires ``TriggerSoftware`` whatever ``TriggerSource`` says. A camera set to
hardware trigger (Line1) is checked with that command standing in for the pulse
(`PylonSource.emulate_line_pulse`): no pulse, no frame; one pulse, one frame, in order.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("PYLON_CAMEMU", "2")  # read by pylon when it first lists cameras
pytest.importorskip("pypylon")

from inspector.capture import FrameError, Reconnector, SourceError, open_source  # noqa: E402
from inspector.capture.pylon import CameraFrame, PylonSettings, PylonSource  # noqa: E402
from inspector.imageio import read_image  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images" / "metal_plate" / "test" / "good"


def rgb_files() -> list[np.ndarray]:
    return [read_image(p) for p in sorted(SAMPLES.glob("*.png"))]


def settings(**changes: object) -> PylonSettings:
    base: dict[str, object] = dict(
        serial="0815-0000",
        width=256,
        height=256,
        trigger="software",
        exposure_us=1000.0,
        emulator_images=str(SAMPLES),
    )
    base.update(changes)
    return PylonSettings(**base)  # type: ignore[arg-type]


@contextmanager
def opened(s: PylonSettings) -> Iterator[PylonSource]:
    source = PylonSource(s)
    source.open()
    try:
        yield source
    finally:
        source.close()


def grab(source: PylonSource) -> CameraFrame:
    source.trigger()
    frame = source.read()
    assert isinstance(frame, CameraFrame)
    return frame


def test_software_trigger_plays_the_folder_pixel_exact_in_order() -> None:
    files = rgb_files()
    with opened(settings()) as source:
        frames = [grab(source) for _ in range(len(files) + 2)]
    digest = [hashlib.sha1(f.tobytes()).hexdigest() for f in files]
    got = [hashlib.sha1(f.image.tobytes()).hexdigest() for f in frames]
    assert got == digest + digest[:2]  # sorted order, then round again
    assert [f.frame_number for f in frames] == list(range(1, len(files) + 3))
    assert [f.index for f in frames] == list(range(len(files) + 2))
    assert all(f.image.flags.c_contiguous and f.image.shape == (256, 256, 3) for f in frames)
    assert source.dropped == 0 and source.label == "pylon 0815-0000"


@pytest.mark.parametrize(
    ("fmt", "dtype", "scale"), [("Mono8", np.uint8, 1), ("Mono12", np.uint16, 256)]
)
def test_mono_formats(fmt: str, dtype: type, scale: int) -> None:
    gray = cv2.cvtColor(rgb_files()[0], cv2.COLOR_RGB2GRAY).astype(np.float64)
    with opened(settings(pixel_format=fmt)) as source:
        image = grab(source).image
    assert image.dtype == dtype and image.shape == (256, 256, 3)
    assert np.array_equal(image[..., 0], image[..., 2])  # mono repeated into RGB
    # The emulator converts to grey itself; Mono12 comes scaled to the 16-bit range (x 256
    # against 8 bits). The mean brightness must match within 2 %.
    assert image[..., 0].mean() == pytest.approx(gray.mean() * scale, rel=0.02)


def test_exposure_gain_and_pixel_format_are_set_on_the_camera() -> None:
    with opened(settings(exposure_us=2500.0, gain_db=3.0, pixel_format="Mono8")) as source:
        assert source.feature("ExposureTime") == pytest.approx(2500.0)
        assert source.feature("Gain") == pytest.approx(3.0, abs=0.1)
        assert source.feature("PixelFormat") == "Mono8"
        source.apply(exposure_us=4000.0)
        assert source.feature("ExposureTime") == pytest.approx(4000.0)
        assert source.feature("TriggerMode") == "On"
        assert source.feature("TriggerSource") == "Software"


def test_hardware_trigger_waits_for_the_line_and_takes_one_frame_a_pulse() -> None:
    files = [hashlib.sha1(f.tobytes()).hexdigest() for f in rgb_files()]
    s = settings(trigger="hardware", trigger_source="Line1", timeout_ms=300)
    with opened(s) as source:
        assert source.feature("TriggerSource") == "Line1"
        assert source.feature("TriggerMode") == "On"
        with pytest.raises(FrameError, match="no frame within 300 ms"):
            source.read()  # no pulse on Line1: no frame, and the source stays usable
        with pytest.raises(SourceError, match="trigger='software'"):
            source.trigger()
        source.emulate_line_pulse()
        time.sleep(0.1)  # the camera is ready again after about 15 ms here
        source.emulate_line_pulse()  # a second part arrives before the first is read
        got = [source.read(), source.read()]
        with pytest.raises(FrameError):
            source.read()  # two pulses, two frames, no more
        source.emulate_line_pulse()
        source.emulate_line_pulse()  # during the first one's exposure: lost, as on a camera
        got.append(source.read())
        with pytest.raises(FrameError):
            source.read()
        # a pulse while read() waits on another thread (the PLC's output fires mid-wait)
        threading.Timer(0.1, source.emulate_line_pulse).start()
        got.append(source.read())
    digests = [hashlib.sha1(f.image.tobytes()).hexdigest() for f in got if f is not None]
    assert digests == files[:4]  # the folder in order, one image a pulse


def test_line_pulse_is_refused_where_it_would_not_stand_in_for_a_pulse() -> None:
    with opened(settings()) as source, pytest.raises(SourceError, match="trigger='hardware'"):
        source.emulate_line_pulse()  # software trigger: use trigger()
    closed = PylonSource(settings(trigger="hardware"))
    with pytest.raises(SourceError, match="not open"):
        closed.emulate_line_pulse()


def test_hardware_trigger_camera_closed_and_reopened_keeps_its_settings() -> None:
    """The camera unplugged (emulator closed) under a hardware-trigger reader and plugged in
    again: it comes back on Line1 and answers the next pulse."""
    source = PylonSource(settings(trigger="hardware", timeout_ms=300))
    source.open()
    try:
        source.emulate_line_pulse()
        assert source.read() is not None
        source.close()  # unplugged
        with pytest.raises(SourceError, match="not open"):
            source.read()
        with pytest.raises(SourceError, match="not open"):
            source.emulate_line_pulse()
        source.open()  # plugged in again
        assert source.feature("TriggerSource") == "Line1"
        source.emulate_line_pulse()
        frame = source.read()
        assert isinstance(frame, CameraFrame) and frame.frame_number == 1  # a new acquisition
    finally:
        source.close()


def test_free_run_delivers_frames() -> None:
    with opened(settings(trigger="off")) as source:
        frames = [source.read() for _ in range(5)]
    assert all(f is not None and f.image.shape == (256, 256, 3) for f in frames)


def test_closed_camera_raises_source_error_and_reconnects() -> None:
    reconnector = Reconnector(lambda: PylonSource(settings(trigger="off")), backoff=(0.05, 0.1))
    stop = threading.Event()
    try:
        first = reconnector.next_frame(stop)
        assert first is not None
        source = reconnector.source
        assert source is not None
        source.close()  # the camera goes away under the reader
        with pytest.raises(SourceError, match="not open"):
            source.read()
        again = reconnector.next_frame(stop)  # opens a fresh source
        assert again is not None and reconnector.source is not source
    finally:
        reconnector.close()


def test_factory_and_bad_settings() -> None:
    source = open_source("pylon:0815-0001")
    assert isinstance(source, PylonSource) and source.settings.serial == "0815-0001"
    with pytest.raises(SourceError, match="no such camera; cameras found"):
        PylonSource(PylonSettings(serial="nope")).open()
    with pytest.raises(ValueError, match="pixel_format 'BGR16'"):
        PylonSettings(pixel_format="BGR16")
    with pytest.raises(ValueError, match="trigger 'sometimes'"):
        PylonSettings(trigger="sometimes")
