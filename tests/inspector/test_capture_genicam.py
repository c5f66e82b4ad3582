"""The GenTL capture source through harvesters, on the Viky GenTL producer that the genicam
wheel ships (a software camera: 400x400 RGBa8 or Mono8 test images, no trigger or exposure
features). Trigger and exposure are checked for the clear error a camera without them gives;
pylon's own transport layers are not GenTL producers, so the pylon emulator cannot stand in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

harvesters = pytest.importorskip("harvesters")
genicam = pytest.importorskip("genicam")

from inspector.capture import SourceError  # noqa: E402
from inspector.capture.genicam import GenICamSource, GenTLSettings  # noqa: E402

CTI = Path(genicam.__file__).parent / "viky.cti"
if not CTI.is_file():
    pytest.skip("the genicam wheel here ships no viky.cti GenTL producer", allow_module_level=True)


@pytest.mark.parametrize("fmt", ["RGBa8", "Mono8"])
def test_frames_through_a_gentl_producer(fmt: str) -> None:
    source = GenICamSource(GenTLSettings(str(CTI), serial="1", pixel_format=fmt))
    source.open()
    try:
        frames = [source.read() for _ in range(3)]
    finally:
        source.close()
    assert source.label == "GenTL 1"
    for i, frame in enumerate(frames):
        assert frame is not None and frame.index == i
        assert frame.image.shape == (400, 400, 3) and frame.image.dtype == np.uint8
        assert frame.image.flags.c_contiguous
    if fmt == "Mono8":
        image = frames[0].image  # type: ignore[union-attr]
        assert np.array_equal(image[..., 0], image[..., 1])


def test_missing_features_and_files_fail_at_open_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="the camera has no TriggerSelector feature"):
        GenICamSource(GenTLSettings(str(CTI), trigger="software")).open()
    with pytest.raises(SourceError, match="has no ExposureTime feature"):
        GenICamSource(GenTLSettings(str(CTI), exposure_us=1000.0)).open()
    with pytest.raises(SourceError, match="no such camera behind viky.cti; found: 0, 1, 2"):
        GenICamSource(GenTLSettings(str(CTI), serial="99")).open()
    with pytest.raises(SourceError, match="no such GenTL producer"):
        GenICamSource(GenTLSettings(str(tmp_path / "none.cti"))).open()
    with pytest.raises(ValueError, match="pixel_format 'YUV'"):
        GenTLSettings(str(CTI), pixel_format="YUV")
    source = GenICamSource(GenTLSettings(str(CTI)))
    source.open()
    source.close()
    with pytest.raises(SourceError, match="not open"):
        source.read()


def test_open_source_takes_a_genicam_spec() -> None:
    from inspector.capture import open_source

    source = open_source(f"genicam:{CTI}:1")
    assert isinstance(source, GenICamSource)
    assert source.settings.cti == str(CTI) and source.settings.serial == "1"
    source.open()
    try:
        frame = source.read()
    finally:
        source.close()
    assert frame is not None and frame.image.shape == (400, 400, 3)


@pytest.mark.parametrize("spec", ["genicam:", "genicam:producer.so", f"genicam:{CTI}x"])
def test_a_genicam_spec_without_a_producer_file_is_refused(spec: str) -> None:
    from inspector.capture import open_source

    with pytest.raises(ValueError, match="genicam:PRODUCER.cti"):
        open_source(spec)
