"""GenICam cameras (GigE Vision, USB3 Vision) through Basler's pylon (`pypylon`).

Exposure, gain, pixel format (Mono8, Mono12, RGB8), free run or a software or hardware
(``TriggerSource`` Line1...) frame trigger, camera timestamps, and a `SourceError` when the
camera is removed so `Reconnector` reopens it. ``PYLON_CAMEMU=N`` in the environment gives N
emulated cameras; `PylonSettings.emulator_images` makes one play a folder of images.

The emulator models no trigger sources: with ``TriggerMode`` On it waits for the
``TriggerSoftware`` command whatever ``TriggerSource`` says (Line1..3, SoftwareSignal1..3,
PeriodicSignal1, Action1, counters and timers are listed but never fire; a UserOutput routed to
a line does not loop back). `PylonSource.emulate_line_pulse` uses that command to stand in for
the electrical pulse on an emulated camera set to hardware trigger; docs/line.md has the details.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspector.capture.base import CaptureSource, Frame, FrameError, SourceError, to_rgb

log = logging.getLogger(__name__)

PIXEL_FORMATS = {  # our name -> the feature values cameras use for it, in order of preference
    "Mono8": ("Mono8",),
    "Mono12": ("Mono12", "Mono12p"),
    "RGB8": ("RGB8", "RGB8Packed"),
}
TRIGGERS = ("off", "software", "hardware")


@dataclass(frozen=True)
class PylonSettings:
    """How to open and set up a pylon camera.

    Attributes:
        serial: serial number of the camera; "" takes the first one found.
        pixel_format: "Mono8", "Mono12" (delivered as 16-bit, scaled to the full range) or
            "RGB8".
        exposure_us: exposure time in microseconds; None keeps the camera's.
        gain_db: gain in dB; None keeps the camera's.
        trigger: "off" (free run), "software" (`trigger()` starts each frame) or "hardware"
            (a pulse on `trigger_source` does).
        trigger_source: input line of the hardware trigger ("Line1", ...).
        timeout_ms: how long `read()` waits for a frame before a FrameError.
        width, height: image size in pixels; None keeps the camera's.
        emulator_images: a folder or image file an emulated camera plays ("" = test pattern);
            real cameras ignore it.
    """

    serial: str = ""
    pixel_format: str = "RGB8"
    exposure_us: float | None = None
    gain_db: float | None = None
    trigger: str = "off"
    trigger_source: str = "Line1"
    timeout_ms: int = 1000
    width: int | None = None
    height: int | None = None
    emulator_images: str = ""

    def __post_init__(self) -> None:
        if self.pixel_format not in PIXEL_FORMATS:
            raise ValueError(
                f"pixel_format {self.pixel_format!r}: use one of {', '.join(PIXEL_FORMATS)}"
            )
        if self.trigger not in TRIGGERS:
            raise ValueError(f"trigger {self.trigger!r}: use one of {', '.join(TRIGGERS)}")
        if self.timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be positive, got {self.timeout_ms}")


@dataclass(frozen=True)
class CameraFrame(Frame):
    """A frame with what the camera said about it.

    Attributes:
        camera_timestamp: the camera's tick counter at exposure (0 where it has none, as the
            emulator).
        frame_number: the camera's image number (1, 2, ...); a gap means frames were lost.
    """

    camera_timestamp: int = 0
    frame_number: int = 0


def _set(camera: Any, names: tuple[str, ...], value: object) -> str:
    """Set the first of `names` the camera has (feature names differ between models)."""
    nodemap = camera.GetNodeMap()
    for name in names:
        try:
            node = nodemap.GetNode(name)
        except Exception:  # genicam raises for names this model does not have
            continue
        if node is None or not hasattr(node, "SetValue"):
            continue
        try:
            node.SetValue(value)
        except Exception as exc:  # genicam's errors name the feature and the limit
            raise SourceError(f"pylon: cannot set {name} = {value!r}: {exc}") from exc
        return name
    raise SourceError(f"pylon: this camera has none of {', '.join(names)}")


class PylonSource(CaptureSource):
    """A pylon camera as a capture source (see `PylonSettings`)."""

    def __init__(self, settings: PylonSettings | None = None) -> None:
        self.settings = settings or PylonSettings()
        super().__init__(f"pylon {self.settings.serial or '(first camera)'}")
        self._camera: Any = None
        self._emulated = False
        self.dropped = 0  # frames the camera numbered but never delivered
        self._last_number = 0

    def _open(self) -> None:
        try:
            from pypylon import pylon
        except ImportError as exc:
            raise SourceError("pylon cameras need pypylon: pip install pypylon") from exc
        factory = pylon.TlFactory.GetInstance()
        devices = factory.EnumerateDevices()
        serial = self.settings.serial
        chosen = [d for d in devices if not serial or d.GetSerialNumber() == serial]
        if not chosen:
            found = ", ".join(d.GetSerialNumber() for d in devices) or "none"
            emu = " (PYLON_CAMEMU is set)" if os.environ.get("PYLON_CAMEMU") else ""
            raise SourceError(f"{self.label}: no such camera; cameras found{emu}: {found}")
        try:
            camera = pylon.InstantCamera(factory.CreateDevice(chosen[0]))
            camera.Open()
        except Exception as exc:  # pylon says why (in use, no access)
            raise SourceError(f"{self.label}: cannot open: {exc}") from exc
        self.label = f"pylon {chosen[0].GetSerialNumber()}"
        self._emulated = chosen[0].GetDeviceClass() == "BaslerCamEmu"
        try:
            self._configure(camera, self._emulated)
            camera.StartGrabbing(pylon.GrabStrategy_OneByOne)
            if self.settings.trigger != "off":
                # A pulse before the camera is armed is lost; open() returns once it is armed.
                timeout = self.settings.timeout_ms
                if not camera.WaitForFrameTriggerReady(timeout, pylon.TimeoutHandling_Return):
                    raise SourceError(f"{self.label}: not armed for a trigger within {timeout} ms")
        except Exception:
            camera.Close()
            raise
        self._camera = camera
        self._last_number = 0

    def _configure(self, camera: Any, emulated: bool) -> None:
        s = self.settings
        if emulated and s.emulator_images:
            _set(camera, ("ImageFilename",), os.fspath(os.path.abspath(s.emulator_images)))
            _set(camera, ("ImageFileMode",), "On")
            _set(camera, ("TestImageSelector",), "Off")
        if s.width is not None:
            _set(camera, ("Width",), s.width)
        if s.height is not None:
            _set(camera, ("Height",), s.height)
        self._set_format(camera)
        self.apply(s.exposure_us, s.gain_db, camera)
        _set(camera, ("TriggerSelector",), "FrameStart")
        _set(camera, ("TriggerMode",), "Off" if s.trigger == "off" else "On")
        if s.trigger != "off":
            source = "Software" if s.trigger == "software" else s.trigger_source
            _set(camera, ("TriggerSource",), source)

    def _set_format(self, camera: Any) -> None:
        available = set(camera.PixelFormat.Symbolics)
        for value in PIXEL_FORMATS[self.settings.pixel_format]:
            if value in available:
                camera.PixelFormat.Value = value
                return
        raise SourceError(
            f"{self.label}: pixel format {self.settings.pixel_format} not offered "
            f"(the camera has {', '.join(sorted(available))})"
        )

    def apply(
        self, exposure_us: float | None = None, gain_db: float | None = None, camera: Any = None
    ) -> None:
        """Change exposure and gain on the open camera (between parts, for a recipe)."""
        camera = camera if camera is not None else self._camera
        if camera is None:
            raise SourceError(f"{self.label}: source is not open")
        if exposure_us is not None:
            _set(camera, ("ExposureTime", "ExposureTimeAbs"), float(exposure_us))
        if gain_db is not None:
            _set(camera, ("Gain", "GainAbs"), float(gain_db))

    def feature(self, name: str) -> object:
        """Current value of a camera feature (for health reports and tests)."""
        with self._lock:
            self._check_open()
            return self._camera.GetNodeMap().GetNode(name).GetValue()

    def trigger(self) -> None:
        """Start one frame in software-trigger mode."""
        if self.settings.trigger != "software":
            raise SourceError(f"{self.label}: trigger() needs trigger='software'")
        with self._lock:
            self._check_open()
            from pypylon import pylon

            try:
                timeout = self.settings.timeout_ms
                if not self._camera.WaitForFrameTriggerReady(timeout, pylon.TimeoutHandling_Return):
                    raise FrameError(self.label, f"not ready for a trigger within {timeout} ms")
                self._camera.ExecuteSoftwareTrigger()
            except FrameError:
                raise
            except Exception as exc:  # the camera went away
                raise SourceError(f"{self.label}: trigger failed: {exc}") from exc

    def emulate_line_pulse(self) -> None:
        """Stand in for a pulse on the trigger line of an emulated camera in hardware trigger.

        Safe to call from another thread while `read()` waits: the pulse must not wait for it.
        As on a real camera, a pulse while the previous frame is still exposed is lost.

        Raises:
            SourceError: the camera is real (its line needs a real pulse), not set to hardware
                trigger, or not open.
        """
        if self.settings.trigger != "hardware":
            raise SourceError(f"{self.label}: a line pulse needs trigger='hardware'")
        camera = self._camera  # no lock: read() holds it while it waits for this very frame
        if camera is None:
            raise SourceError(f"{self.label}: source is not open")
        if not self._emulated:
            raise SourceError(f"{self.label}: a real camera needs a real pulse on its line")
        try:
            camera.TriggerSoftware.Execute()
        except Exception as exc:  # the camera was closed under the pulse
            raise SourceError(f"{self.label}: line pulse failed: {exc}") from exc

    def read(self) -> Frame | None:
        """The next frame; FrameError when none comes within `timeout_ms` (no trigger)."""
        with self._lock:
            self._check_open()
            from pypylon import pylon

            camera = self._camera
            try:
                result = camera.RetrieveResult(
                    self.settings.timeout_ms, pylon.TimeoutHandling_Return
                )
            except Exception as exc:  # pylon raises once the device is gone
                raise SourceError(f"{self.label}: camera lost: {exc}") from exc
            if result is None or not result.IsValid():
                if camera.IsCameraDeviceRemoved() or not camera.IsGrabbing():
                    raise SourceError(f"{self.label}: camera removed")
                raise FrameError(self.label, f"no frame within {self.settings.timeout_ms} ms")
            try:
                if not result.GrabSucceeded():
                    reason = result.GetErrorDescription()
                    raise FrameError(self.label, f"grab failed: {reason}")
                image = self._rgb(result.GetArray())
                number = int(result.ImageNumber)
                stamp = int(result.TimeStamp)
            finally:
                result.Release()
        if self._last_number and number > self._last_number + 1:
            self.dropped += number - self._last_number - 1
        self._last_number = number
        base = self._frame(image)
        return CameraFrame(base.image, base.index, base.timestamp, base.source, "", stamp, number)

    def _rgb(self, raw: np.ndarray) -> np.ndarray:
        if self.settings.pixel_format == "Mono12":
            raw = (raw.astype(np.uint16) << 4).astype(np.uint16)  # 12 bits to the 16-bit range
        if raw.ndim == 3 and raw.shape[2] == 3:
            return np.ascontiguousarray(raw)  # RGB8 is already RGB
        return to_rgb(raw)

    def _release(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.StopGrabbing()
                camera.Close()
            except Exception as exc:  # a removed camera cannot be closed cleanly
                log.debug("pylon: closing %s: %s", self.label, exc)


def parse_spec(text: str) -> PylonSource | None:
    """``pylon`` or ``pylon:SERIAL`` -> a free-running source; None for other specs.

    An emulated camera plays the folder in ``PYLON_CAMEMU_IMAGES`` where that is set.
    """
    head, _, serial = text.partition(":")
    if head.lower() != "pylon":
        return None
    images = os.environ.get("PYLON_CAMEMU_IMAGES", "")
    return PylonSource(PylonSettings(serial=serial.strip(), emulator_images=images))
