"""Robust image loading: every bad input gives an ImageLoadError naming the file and the problem.

All images come back as C-contiguous HxWx3 RGB arrays, uint8 for 8-bit sources and uint16 for
16-bit (and float) sources, so the caller can resize before converting to float without losing
precision. EXIF orientation is not applied: pixels are returned as stored, which is what fixed
inspection cameras produce, and training and inspection use the same loader either way.
"""

from __future__ import annotations

import errno
import io
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from inspector.image_checks import decode_strict, size_for_file, tiff_size

DEFAULT_MAX_PIXELS = 100_000_000
# Below this many pixels a side there is nothing to inspect: a thumbnail or an icon stretched
# to the model's input would be scored as if it were a part.
MIN_SIDE = 16
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})

# Writers and copy tools sometimes pad files after the end marker; decoders ignore that.
_PADDING = b"\x00 \t\r\n"
_PNG_END = b"IEND\xaeB`\x82"  # IEND chunk type + its fixed CRC (the chunk has no data)
_JPEG_END = b"\xff\xd9"
# Magic numbers, so a damaged header of a real image is not reported as "not an image".
_MAGIC = {
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"GIF8": "GIF",
}


class ImageLoadError(ValueError):
    """An image could not be loaded; `str()` is "<path>: <reason>".

    Attributes:
        path: the file path (or the name given for in-memory data).
        reason: what is wrong, in words meant for the operator.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        # Both values go to args so the error survives pickling (multiprocessing workers).
        super().__init__(str(path), reason)
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def read_image(
    path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS, strict: bool = False
) -> np.ndarray:
    """Read an image file as an HxWx3 RGB array.

    Args:
        path: image file; non-ASCII names work because the bytes are read by Python, not cv2.
        max_pixels: largest width*height accepted, checked before decoding.
        strict: also refuse JPEGs whose data is corrupt but still decodes (see
            ``read_image_bytes``).

    Returns:
        C-contiguous HxWx3 RGB array, uint8 for 8-bit sources, uint16 for 16-bit and float ones.

    Raises:
        ImageLoadError: the file is missing, unreadable, empty, not an image, too large,
            truncated or corrupt.
    """
    p = Path(path)
    if not p.exists():
        broken = p.is_symlink()
        raise ImageLoadError(p, "broken symbolic link" if broken else "file not found")
    if p.is_dir():
        try:
            with os.scandir(p):
                pass
        except OSError as exc:
            # Listed by iter_image_files so that a folder it cannot open is reported, not lost.
            raise ImageLoadError(
                p, f"folder cannot be listed ({exc.strerror or exc}); its images were not read"
            ) from None
        raise ImageLoadError(p, "is a directory, not an image file")
    if not p.is_file():
        # A FIFO or device would block or stream forever instead of failing.
        raise ImageLoadError(p, "not a regular file")
    try:
        data = p.read_bytes()
    except PermissionError:
        raise ImageLoadError(p, "permission denied (file is not readable)") from None
    except OSError as exc:
        raise ImageLoadError(p, f"could not read file ({exc.strerror or exc})") from exc
    return read_image_bytes(data, name=str(p), max_pixels=max_pixels, strict=strict)


def read_image_bytes(
    data: bytes, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS, strict: bool = False
) -> np.ndarray:
    """Decode an encoded image held in memory, with the same checks and output as read_image.

    Args:
        data: the encoded file contents (PNG, JPEG, BMP, TIFF, WEBP, ...).
        name: what to call the source in error messages.
        max_pixels: largest width*height accepted, checked before decoding.
        strict: refuse JPEGs with corrupt data that libjpeg still decodes (it fills the
            damaged part with guesses, which would be judged as the part).

    Returns:
        C-contiguous HxWx3 RGB array, uint8 for 8-bit sources, uint16 for 16-bit and float ones.

    Raises:
        ImageLoadError: the data is empty, not an image, too large, truncated or corrupt.
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    data = bytes(data)  # accept bytearray/memoryview; no copy for bytes
    if not data:
        raise ImageLoadError(name, "file is empty (0 bytes)")
    fmt, width, height = _read_header(data, name, max_pixels)
    if width <= 0 or height <= 0:
        raise ImageLoadError(name, f"image has no pixels ({width}x{height})")
    check_image_size(width, height, name)
    too_big = size_for_file(width, height, len(data))
    if too_big:
        raise ImageLoadError(name, too_big)
    if width * height > max_pixels:
        raise ImageLoadError(
            name,
            f"image is {width}x{height} = {_mp(width * height)} MP, "
            f"above the limit of {_mp(max_pixels)} MP",
        )
    _check_complete(data, fmt, name)
    buf = np.frombuffer(data, np.uint8)
    damage = ""
    try:
        if strict and fmt in ("JPEG", "MPO"):
            decoded, damage = decode_strict(lambda: cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
        else:
            decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageLoadError(name, f"could not decode {fmt} data ({exc.err})") from exc
    if damage:
        raise ImageLoadError(name, f"JPEG data is damaged (libjpeg: {damage}); strict decoding")
    if decoded is None:
        raise ImageLoadError(name, f"could not decode {fmt} data (corrupt file)")
    if decoded.shape[:2] != (height, width):
        raise ImageLoadError(
            name,
            f"decoded size {decoded.shape[1]}x{decoded.shape[0]} differs from the "
            f"{width}x{height} in the {fmt} header (corrupt file)",
        )
    return _to_rgb(decoded, fmt, name)


def check_image_size(width: int, height: int, name: str) -> None:
    """Raise ImageLoadError for an image too small to inspect (under ``MIN_SIDE`` a side)."""
    if min(width, height) < MIN_SIDE:
        raise ImageLoadError(
            name, f"image is {width}x{height} px, too small to inspect (under {MIN_SIDE} px a side)"
        )


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An 8-bit copy of an image for people to look at (views, thumbnails, overlays).

    16-bit images often hold 10-, 12- or 14-bit data (machine-vision cameras, DICOM), which
    the top 8 bits show almost black. The shift follows the bits the image actually uses
    (its largest value), rounded to whole bits so the brightness of a 12-bit camera does not
    flicker with the content of each frame. For display only: what is saved or inspected
    stays the image itself. uint8 is returned unchanged, not copied.

    Raises:
        TypeError: for a dtype other than uint8 or uint16.
    """
    if image.dtype == np.uint8:
        return image
    if image.dtype != np.uint16:
        raise TypeError(f"to_uint8 expects uint8 or uint16, got {image.dtype}")
    shift = max(8, int(image.max()).bit_length()) - 8
    return (image >> shift).astype(np.uint8)


def iter_image_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], recursive: bool = True
) -> list[Path]:
    """Expand files and folders into a sorted list of image files without duplicates.

    Files given explicitly are kept whatever their suffix, so a wrong file shows up as an
    ERROR row instead of vanishing. In folders only files with a suffix in IMAGE_SUFFIXES
    (any case) are taken, and hidden files and hidden sub-folders are skipped (editor
    backups, .ipynb_checkpoints copies, macOS ._ files). Links to folders are followed, each
    real folder once, so a link loop ends. Other entries with an image suffix (a FIFO, a
    broken link, a sub-folder that cannot be listed) are kept so they become ERROR rows.

    Args:
        paths: one path or several; files and folders may be mixed.
        recursive: also search sub-folders.

    Returns:
        Sorted image file paths.

    Raises:
        FileNotFoundError: a path does not exist.
        OSError: a folder given in ``paths`` could not be listed.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]  # a bare string would otherwise be iterated character by character
    # Keyed by the real location, so one file given as a relative and an absolute path (or
    # through a link) is inspected once; the first spelling given is the one reported.
    found: dict[str, Path] = {}
    for given in paths:
        p = Path(given)
        if p.is_dir():
            listed = _scan_folder(p, recursive)
        elif p.exists():
            listed = [p]
        else:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(p))
        for f in listed:
            found.setdefault(os.path.realpath(f), f)
    return sorted(found.values())


def _scan_folder(folder: Path, recursive: bool) -> list[Path]:
    """Image files under ``folder``, following links to sub-folders.

    Each folder is entered once by its real path, so a link loop ends. A sub-folder that
    cannot be listed is returned itself: reading it gives an ERROR row that names it, where
    the rest of the run goes on.
    """
    files: list[Path] = []
    seen: set[str] = set()
    stack = [folder]
    while stack:
        current = stack.pop()
        real = os.path.realpath(current)
        if real in seen:
            continue
        seen.add(real)
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError:
            if current == folder:
                raise  # the folder asked for: nothing to inspect, a usage error
            files.append(current)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(current, entry.name)
            if _is_dir(entry):
                if recursive:
                    stack.append(path)
            elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                # Whatever it is (a broken link, a FIFO): kept, so it becomes an ERROR row.
                files.append(path)
    return files


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows links
    except OSError:
        return False


def _read_header(data: bytes, name: str, max_pixels: int) -> tuple[str, int, int]:
    """Return (format, width, height) from the header only; PIL decodes no pixels here."""
    try:
        # Warnings here are about the size (we check it ourselves) or metadata we don't use,
        # such as corrupt EXIF; pixels are judged by the decode below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                return str(im.format or "unknown"), im.width, im.height
    except Image.DecompressionBombError as exc:
        # Pillow refuses headers above 2x Image.MAX_IMAGE_PIXELS before telling us the size.
        pil_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        limit = f"the limit of {_mp(max_pixels)} MP"
        if max_pixels > pil_limit:
            limit = f"Pillow's limit of {_mp(pil_limit)} MP (PIL.Image.MAX_IMAGE_PIXELS)"
        raise ImageLoadError(name, f"image is above {limit}: {exc}") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        magic = next((f for m, f in _MAGIC.items() if data.startswith(m)), None)
        size = tiff_size(data) if magic == "TIFF" else None
        if size is not None:
            return "TIFF", *size  # e.g. float RGB, which Pillow cannot open but OpenCV reads
        if magic is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            magic = "WEBP"
        if magic is not None:
            reason = f"{magic} header is damaged or the file is truncated"
            raise ImageLoadError(name, reason) from exc
        raise ImageLoadError(name, "not an image file (format not recognised)") from exc


def _check_complete(data: bytes, fmt: str, name: str) -> None:
    """Reject PNG/JPEG files that stop before their end marker.

    Some libjpeg builds (OpenCV 4.x) decode a truncated JPEG without error and fill the
    missing part with grey, which would be inspected as a real part; the end marker is cheap
    to check and gives a precise message for every build.
    """
    tail = _tail(data)
    # Some cameras and phones append data after the end marker (metadata, a motion-photo
    # video); decoders ignore it, so the marker is looked for where the image data ends,
    # not only at the end of the file.
    if fmt == "PNG" and not tail.endswith(_PNG_END) and _PNG_END not in data:
        raise ImageLoadError(name, "file is truncated (PNG IEND chunk missing)")
    if fmt in ("JPEG", "MPO") and not tail.endswith(_JPEG_END) and not _jpeg_has_end(data):
        raise ImageLoadError(name, "file is truncated (JPEG end-of-image marker FFD9 missing)")


def _jpeg_has_end(data: bytes) -> bool:
    """Whether the end-of-image marker follows the first scan's data.

    The segments before the first scan are skipped by their lengths: an EXIF thumbnail in
    them ends with the same marker, which must not vouch for a truncated main image. Inside
    entropy-coded data a 0xFF byte is always followed by 0x00 or a restart marker, so the
    first FFD9 after the scan starts is the image's own end.
    """
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False  # not a marker where one must be: leave it to the tail check
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # start of scan
            return data.find(_JPEG_END, pos + 2 + length) != -1
        pos += 2 + length
    return False


def _tail(data: bytes, size: int = 16) -> bytes:
    """Last `size` bytes before any trailing padding, without copying a big file."""
    end = len(data)
    while end > 0:
        # Work backwards in chunks: a file preallocated with zeros may end in megabytes of them.
        start = max(0, end - 65536)
        kept = data[start:end].rstrip(_PADDING)
        if kept:
            end = start + len(kept)
            return data[max(0, end - size) : end]
        end = start
    return b""


def _to_rgb(decoded: np.ndarray, fmt: str, name: str) -> np.ndarray:
    if np.issubdtype(decoded.dtype, np.floating):
        # Float TIFFs are expected in [0, 1]; uint16 keeps ~5 decimal digits of precision.
        # Anything else (0-255 floats, NaN holes of a depth sensor) would be clipped into a
        # different picture without a word, so it is refused with what was found.
        if not np.isfinite(decoded).all():
            raise ImageLoadError(name, f"float {fmt} data holds NaN or infinite pixels")
        low, high = float(decoded.min()), float(decoded.max())
        if low < 0.0 or high > 1.0:
            raise ImageLoadError(
                name,
                f"float {fmt} pixels range {low:g} to {high:g}, outside the [0, 1] expected "
                "of float images (save as 8- or 16-bit integers)",
            )
        decoded = np.rint(decoded * 65535.0).astype(np.uint16)
    elif decoded.dtype not in (np.uint8, np.uint16):
        raise ImageLoadError(name, f"unsupported pixel type {decoded.dtype} in {fmt} data")
    channels = 1 if decoded.ndim == 2 else decoded.shape[2]
    if decoded.ndim not in (2, 3) or channels not in (1, 2, 3, 4):
        raise ImageLoadError(name, f"unsupported channel layout {decoded.shape} in {fmt} data")
    # Alpha is dropped, not blended: inspection cameras don't produce alpha, and transparent
    # PNG exports store their real colour under the alpha, which is what we want to inspect.
    if channels in (1, 2):
        gray = decoded if decoded.ndim == 2 else decoded[:, :, 0]
        rgb = cv2.cvtColor(np.ascontiguousarray(gray), cv2.COLOR_GRAY2RGB)
    elif channels == 3:
        rgb = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    else:
        rgb = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGB)
    return np.ascontiguousarray(rgb)


def _mp(pixels: int) -> str:
    """Megapixels with enough digits to tell small limits apart (0.09 vs 0.01)."""
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.1f}" if mp >= 1 else f"{mp:.2g}"
