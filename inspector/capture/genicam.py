"""Any GenICam camera through a vendor's GenTL producer (a ``.cti`` file) and `harvesters`.

For cameras whose maker ships a GenTL producer rather than pylon. Settings a camera does not
have (some expose no trigger or exposure) raise a SourceError naming the feature, so a
misconfigured station fails at open, not at the first part.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inspector.capture.base import CaptureSource, Frame, FrameError, SourceError, to_rgb

log = logging.getLogger(__name__)

# GenICam pixel format name -> (channels, shift to the 16-bit range)
FORMATS = {
    "Mono8": (1, 0),
    "Mono10": (1, 6),
    "Mono12": (1, 4),
    "Mono16": (1, 0),
    "RGB8": (3, 0),
    "RGB8Packed": (3, 0),
    "RGBa8": (4, 0),
    "BGR8": (3, 0),
}


@dataclass(frozen=True)
class GenTLSettings:
    """How to open a camera through a GenTL producer.

    Attributes:
        cti: the producer file (``.cti``) the camera maker ships.
        serial: serial number of the camera; "" takes the first one.
        pixel_format: a GenICam PixelFormat value the camera offers ("" keeps the camera's).
        exposure_us, gain_db: None keeps the camera's.
        trigger: "off", "software" or "hardware" (on `trigger_source`).
        trigger_source: input line of the hardware trigger.
        timeout_ms: how long `read()` waits for a frame before a FrameError.
    """

    cti: str
    serial: str = ""
    pixel_format: str = ""
    exposure_us: float | None = None
    gain_db: float | None = None
    trigger: str = "off"
    trigger_source: str = "Line1"
    timeout_ms: int = 1000

    def __post_init__(self) -> None:
        if self.pixel_format and self.pixel_format not in FORMATS:
            raise ValueError(f"pixel_format {self.pixel_format!r}: use one of {', '.join(FORMATS)}")
        if self.trigger not in ("off", "software", "hardware"):
            raise ValueError(f"trigger {self.trigger!r}: use off, software or hardware")


class GenICamSource(CaptureSource):
    """A GenTL camera as a capture source (see `GenTLSettings`)."""

    def __init__(self, settings: GenTLSettings) -> None:
        self.settings = settings
        super().__init__(f"GenTL {settings.serial or '(first camera)'}")
        self._harvester: Any = None
        self._acquirer: Any = None

    def _open(self) -> None:
        try:
            from harvesters.core import Harvester
        except ImportError as exc:
            raise SourceError("GenTL cameras need harvesters: pip install harvesters") from exc
        cti = Path(self.settings.cti)
        if not cti.is_file():
            raise SourceError(f"{cti}: no such GenTL producer (.cti) file")
        harvester = Harvester()
        try:
            harvester.add_file(str(cti), check_existence=True)
            harvester.update()
            serials = [d.serial_number for d in harvester.device_info_list]
            if not serials or (self.settings.serial and self.settings.serial not in serials):
                raise SourceError(
                    f"{self.label}: no such camera behind {cti.name}; found: "
                    f"{', '.join(serials) or 'none'}"
                )
            index = serials.index(self.settings.serial) if self.settings.serial else 0
            acquirer = harvester.create(index)
            self.label = f"GenTL {serials[index]}"
            try:
                self._configure(acquirer.remote_device.node_map)
                acquirer.start()
            except Exception:
                acquirer.destroy()
                raise
        except SourceError:
            harvester.reset()
            raise
        except Exception as exc:  # the producer's own errors say what failed
            harvester.reset()
            raise SourceError(f"{self.label}: cannot open: {exc}") from exc
        self._harvester, self._acquirer = harvester, acquirer

    def _configure(self, nodes: Any) -> None:
        s = self.settings
        wanted: list[tuple[str, object]] = []
        if s.pixel_format:
            wanted.append(("PixelFormat", s.pixel_format))
        if s.exposure_us is not None:
            wanted.append(("ExposureTime", float(s.exposure_us)))
        if s.gain_db is not None:
            wanted.append(("Gain", float(s.gain_db)))
        if s.trigger != "off":
            wanted += [("TriggerSelector", "FrameStart"), ("TriggerMode", "On")]
            wanted.append(
                ("TriggerSource", "Software" if s.trigger == "software" else s.trigger_source)
            )
        elif _has(nodes, "TriggerMode"):
            wanted.append(("TriggerMode", "Off"))
        for name, value in wanted:
            if not _has(nodes, name):
                raise SourceError(f"{self.label}: the camera has no {name} feature")
            try:
                getattr(nodes, name).value = value
            except Exception as exc:
                raise SourceError(f"{self.label}: cannot set {name} = {value!r}: {exc}") from exc

    def trigger(self) -> None:
        """Start one frame in software-trigger mode."""
        if self.settings.trigger != "software":
            raise SourceError(f"{self.label}: trigger() needs trigger='software'")
        with self._lock:
            self._check_open()
            self._acquirer.remote_device.node_map.TriggerSoftware.execute()

    def read(self) -> Frame | None:
        with self._lock:
            self._check_open()
            try:
                buffer = self._acquirer.fetch(timeout=self.settings.timeout_ms / 1000)
            except Exception as exc:
                if type(exc).__name__ == "TimeoutException":
                    raise FrameError(
                        self.label, f"no frame within {self.settings.timeout_ms} ms"
                    ) from exc
                raise SourceError(f"{self.label}: camera lost: {exc}") from exc
            try:
                part = buffer.payload.components[0]
                image = self._rgb(part.data, part.width, part.height, part.data_format)
            finally:
                buffer.queue()
        return self._frame(image)

    def _rgb(self, data: np.ndarray, width: int, height: int, fmt: str) -> np.ndarray:
        if fmt not in FORMATS:
            raise FrameError(self.label, f"pixel format {fmt} is not supported")
        channels, shift = FORMATS[fmt]
        shape = (height, width) if channels == 1 else (height, width, channels)
        image = np.array(data, copy=True).reshape(shape)
        if shift:
            image = (image.astype(np.uint16) << shift).astype(np.uint16)
        if channels == 1:
            return to_rgb(image)
        if fmt == "BGR8":
            return np.ascontiguousarray(image[:, :, ::-1])
        return np.ascontiguousarray(image[:, :, :3])

    def _release(self) -> None:
        acquirer, self._acquirer = self._acquirer, None
        harvester, self._harvester = self._harvester, None
        for step in (
            (lambda: acquirer.stop()) if acquirer else None,
            (lambda: acquirer.destroy()) if acquirer else None,
            (lambda: harvester.reset()) if harvester else None,
        ):
            if step is None:
                continue
            try:
                step()
            except Exception as exc:  # a removed camera cannot be stopped cleanly
                log.debug("GenTL: closing %s: %s", self.label, exc)


def _has(nodes: Any, name: str) -> bool:
    try:
        node = getattr(nodes, name)
        return bool(node.node.is_feature()) if hasattr(node, "node") else True
    except Exception:  # genicam raises for features the camera does not have
        return False


def parse_spec(text: str) -> GenICamSource | None:
    """``genicam:PRODUCER.cti`` or ``genicam:PRODUCER.cti:SERIAL`` as a free-running camera.

    Returns None for any other text, so the factory can try its other kinds of source.
    """
    prefix = "genicam:"
    if not text.lower().startswith(prefix):
        return None
    rest = text[len(prefix) :]
    # The producer path ends at ".cti"; what follows a colon after it is the serial.
    at = rest.lower().rfind(".cti")
    if at < 0:
        raise ValueError(f"{text}: expected genicam:PRODUCER.cti[:SERIAL]")
    cti, tail = rest[: at + 4], rest[at + 4 :]
    if tail and not tail.startswith(":"):
        raise ValueError(f"{text}: expected genicam:PRODUCER.cti[:SERIAL]")
    return GenICamSource(GenTLSettings(cti=cti, serial=tail[1:]))
