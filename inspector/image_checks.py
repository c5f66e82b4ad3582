"""Checks on encoded images made before (or while) decoding them, for ``inspector.imageio``.

- A size a header declares is weighed against the file's size, so a small file that would
  decode to gigabytes (a decompression bomb or a damaged header) is refused unread.
- TIFF headers Pillow cannot open (float RGB) are read here, so such files reach OpenCV.
- libjpeg decodes many damaged JPEGs with only a warning on stderr ("Corrupt JPEG data"),
  filling the damage with guesses; ``decode_strict`` turns that warning into an error.
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
from collections.abc import Callable

import numpy as np

# Camera images compress to a few pixels a byte; deflate cannot pass ~1,000 bytes a byte,
# so a bomb sits near that. Checked only above ``_RATIO_FLOOR`` pixels, where decoding
# costs real memory: a blank small image may legitimately compress extremely well.
MAX_PIXELS_PER_BYTE = 256
_RATIO_FLOOR = 4_000_000
# Messages libjpeg prints for data it could not decode and replaced with guesses.
_JPEG_DAMAGE = (b"Corrupt JPEG data", b"Premature end of JPEG", b"Invalid JPEG", b"Bogus")
_STDERR_LOCK = threading.Lock()


def size_for_file(width: int, height: int, file_size: int) -> str | None:
    """Why a ``width`` x ``height`` image cannot be held in ``file_size`` bytes, or None."""
    pixels = width * height
    if pixels > _RATIO_FLOOR and pixels > MAX_PIXELS_PER_BYTE * max(file_size, 1):
        return (
            f"header declares {width}x{height} ({pixels / 1e6:.0f} MP) in a file of only "
            f"{file_size / 1e3:.0f} KB (over {MAX_PIXELS_PER_BYTE} pixels a byte): a "
            "decompression bomb or a damaged header; refused before decoding"
        )
    return None


def tiff_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first IFD of a TIFF, or None if it cannot be read."""
    try:
        order = {b"II": "<", b"MM": ">"}[data[:2]]
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        found: dict[int, int] = {}
        for k in range(count):
            tag, kind, _, value = struct.unpack_from(order + "HHI4s", data, ifd + 2 + 12 * k)
            if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
                fmt = order + ("H" if kind == 3 else "I")
                found[tag] = struct.unpack_from(fmt, value)[0]
        return found[256], found[257]
    except (KeyError, struct.error):
        return None


def decode_strict(decode: Callable[[], np.ndarray | None]) -> tuple[np.ndarray | None, str]:
    """Run ``decode`` (a libjpeg decode) and return its result with libjpeg's damage report.

    libjpeg writes its warnings to file descriptor 2; they are caught in a temporary file
    for the length of the decode and anything else found there is written back to stderr.
    """
    with _STDERR_LOCK, tempfile.TemporaryFile() as caught:
        saved = os.dup(2)
        try:
            os.dup2(caught.fileno(), 2)
            result = decode()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        text = caught.read()
    damage = [line for line in text.splitlines() if line.startswith(_JPEG_DAMAGE)]
    other = b"\n".join(line for line in text.splitlines() if line not in damage)
    if other.strip():
        os.write(2, other + b"\n")
    return result, damage[0].decode("ascii", "replace").strip() if damage else ""
