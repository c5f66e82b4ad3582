"""Tests for inspector.imageio; every image is created here, nothing is downloaded."""

from __future__ import annotations

import pickle
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from inspector.imageio import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    MIN_SIDE,
    ImageLoadError,
    iter_image_files,
    read_image,
    read_image_bytes,
    to_uint8,
)

RED_RGB = (255, 0, 0)


def write(path: Path, image: np.ndarray, params: tuple[int, ...] = ()) -> Path:
    """Encode with cv2 (BGR order) and write through Python so any file name works."""
    ok, buf = cv2.imencode(path.suffix, image, list(params))
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def red_bgr(h: int = 40, w: int = 60) -> np.ndarray:
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 2] = 255  # cv2 writes BGR, so channel 2 is red
    return image


def noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def expect_error(path: Path, word: str, **kwargs: int) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as info:
        read_image(path, **kwargs)
    message = str(info.value)
    assert path.name in message
    assert word.lower() in message.lower()
    assert info.value.path == str(path)
    return info.value


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tiff", ".webp"])
def test_red_image_round_trip_is_rgb(tmp_path: Path, suffix: str) -> None:
    image = read_image(write(tmp_path / f"red{suffix}", red_bgr()))
    assert image.shape == (40, 60, 3)
    assert image.dtype == np.uint8
    assert image.flags["C_CONTIGUOUS"]
    r, g, b = image[..., 0].mean(), image[..., 1].mean(), image[..., 2].mean()
    assert r > 240 and g < 15 and b < 15


def test_lossless_formats_are_exact(tmp_path: Path) -> None:
    image = noise(33, 47)
    for suffix in (".png", ".bmp", ".tif"):
        loaded = read_image(write(tmp_path / f"n{suffix}", image))
        np.testing.assert_array_equal(loaded, image[..., ::-1])


def test_grayscale_becomes_three_equal_channels(tmp_path: Path) -> None:
    gray = np.arange(20 * 30, dtype=np.uint32).reshape(20, 30).astype(np.uint8)
    image = read_image(write(tmp_path / "gray.png", gray))
    assert image.shape == (20, 30, 3)
    for c in range(3):
        np.testing.assert_array_equal(image[..., c], gray)


def test_16bit_grayscale_png_keeps_values(tmp_path: Path) -> None:
    gray = np.linspace(0, 65535, 25 * 40).astype(np.uint16).reshape(25, 40)
    image = read_image(write(tmp_path / "gray16.png", gray))
    assert image.dtype == np.uint16
    for c in range(3):
        np.testing.assert_array_equal(image[..., c], gray)


def test_16bit_rgb_png_keeps_values(tmp_path: Path) -> None:
    bgr = np.random.default_rng(1).integers(0, 65536, (16, 24, 3), dtype=np.uint16)
    image = read_image(write(tmp_path / "rgb16.png", bgr))
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, bgr[..., ::-1])


def test_rgba_png_drops_alpha_and_keeps_colour(tmp_path: Path) -> None:
    path = tmp_path / "rgba.png"
    Image.new("RGBA", (30, 20), (10, 200, 30, 0)).save(path)  # fully transparent
    image = read_image(path)
    assert image.shape == (20, 30, 3)
    assert tuple(image[0, 0]) == (10, 200, 30)


def test_gray_alpha_png(tmp_path: Path) -> None:
    path = tmp_path / "la.png"
    Image.new("LA", (24, 16), (77, 5)).save(path)
    image = read_image(path)
    assert image.shape == (16, 24, 3)
    assert (image == 77).all()


def float_tiff(path: Path, row: list[float]) -> Path:
    values = np.tile(np.array([row], np.float32), (16, 4))  # 16 rows: above MIN_SIDE
    Image.fromarray(values, "F").save(path)
    return path


def test_float_tiff_in_unit_range_becomes_uint16(tmp_path: Path) -> None:
    image = read_image(float_tiff(tmp_path / "float.tif", [0.0, 0.25, 0.5, 1.0]))
    assert image.dtype == np.uint16
    assert list(image[0, :4, 0]) == [0, 16384, 32768, 65535]


@pytest.mark.parametrize(
    ("row", "word"),
    [([0.0, 12.0, 255.0, 3.0], "outside the [0, 1]"), ([0.0, float("nan"), 0.5, 1.0], "nan")],
)
def test_float_tiff_out_of_range_or_nan_is_refused(
    tmp_path: Path, row: list[float], word: str
) -> None:
    # Clipping 0-255 floats to [0, 1] would turn the part white without a word.
    expect_error(float_tiff(tmp_path / "float.tif", row), word)


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (15, 200)])
def test_image_too_small_to_inspect(tmp_path: Path, size: tuple[int, int]) -> None:
    h, w = size
    expect_error(write(tmp_path / "tiny.png", noise(h, w)), "too small")


def test_smallest_accepted_image(tmp_path: Path) -> None:
    assert read_image(write(tmp_path / "small.png", noise(MIN_SIDE, MIN_SIDE))).shape[:2] == (
        MIN_SIDE,
        MIN_SIDE,
    )


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.touch()
    expect_error(path, "empty")


def test_truncated_png(tmp_path: Path) -> None:
    data = write(tmp_path / "full.png", noise(100, 120)).read_bytes()
    path = tmp_path / "half.png"
    path.write_bytes(data[: len(data) // 2])
    expect_error(path, "truncated")


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = write(tmp_path / "full.jpg", noise(200, 300)).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * 0.7)])
    expect_error(path, "truncated")


def test_jpeg_with_trailing_padding_loads(tmp_path: Path) -> None:
    path = write(tmp_path / "pad.jpg", red_bgr())
    path.write_bytes(path.read_bytes() + b"\x00" * 100 + b"\r\n")
    assert read_image(path).shape == (40, 60, 3)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_data_appended_after_the_end_marker_loads(tmp_path: Path, suffix: str) -> None:
    # Phones (motion photos) and some cameras append data after the image; decoders ignore it.
    path = write(tmp_path / f"trailer{suffix}", red_bgr())
    path.write_bytes(path.read_bytes() + b"CAMERA-META serial=1234 " + bytes(range(256)) * 40)
    assert read_image(path).shape == (40, 60, 3)


def test_truncated_jpeg_with_exif_thumbnail_is_still_truncated(tmp_path: Path) -> None:
    # The thumbnail in the EXIF segment ends with its own FFD9, before the main image's scan.
    thumb = cv2.imencode(".jpg", noise(16, 16))[1].tobytes()
    app1 = b"Exif\x00\x00" + thumb
    segment = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    data = cv2.imencode(".jpg", noise(200, 300))[1].tobytes()
    with_thumb = data[:2] + segment + data[2:]
    path = tmp_path / "cut.jpg"
    path.write_bytes(with_thumb[: int(len(with_thumb) * 0.7)])
    expect_error(path, "truncated")
    path.write_bytes(with_thumb)  # whole, the same file loads
    assert read_image(path).shape == (200, 300, 3)


def test_broken_link_in_a_folder_is_listed_and_named(tmp_path: Path) -> None:
    write(tmp_path / "ok.png", red_bgr())
    (tmp_path / "gone.png").symlink_to(tmp_path / "missing.png")
    files = iter_image_files(tmp_path)
    assert [f.name for f in files] == ["gone.png", "ok.png"]
    expect_error(tmp_path / "gone.png", "broken symbolic link")


def test_one_file_given_twice_is_listed_once(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    write(tmp_path / "ok.png", red_bgr())
    monkeypatch.chdir(tmp_path)
    assert iter_image_files(["ok.png", tmp_path / "ok.png", tmp_path]) == [Path("ok.png")]


def test_jpeg_padded_with_zeros_after_truncation(tmp_path: Path) -> None:
    # A preallocated file that was only partly written ends in zeros, not in FFD9.
    data = write(tmp_path / "full.jpg", noise(200, 300)).read_bytes()
    path = tmp_path / "prealloc.jpg"
    path.write_bytes(data[: len(data) // 2] + b"\x00" * (len(data) // 2))
    expect_error(path, "truncated")


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    expect_error(path, "not an image")


def test_damaged_tiff_header_is_not_called_a_non_image(tmp_path: Path) -> None:
    data = write(tmp_path / "full.tif", noise(50, 50)).read_bytes()
    path = tmp_path / "cut.tif"
    path.write_bytes(data[:200])
    expect_error(path, "TIFF header is damaged or the file is truncated")


def test_corrupt_png_data(tmp_path: Path) -> None:
    data = bytearray(write(tmp_path / "full.png", noise(64, 64)).read_bytes())
    data[100:400] = bytes(300)  # inside IDAT: header and IEND stay intact
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    expect_error(path, "could not decode PNG")


def test_directory_passed_as_file(tmp_path: Path) -> None:
    path = tmp_path / "folder.png"
    path.mkdir()
    expect_error(path, "directory")


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "missing.png", "not found")


def test_unreadable_file(tmp_path: Path, monkeypatch) -> None:
    # Simulated: chmod 0 does not stop root, and CI often runs as root.
    path = write(tmp_path / "locked.png", red_bgr())

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    expect_error(path, "permission denied")


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path / "big.png", noise(300, 300))

    def no_decode(*args: object) -> None:
        raise AssertionError("decoded despite the pixel limit")

    monkeypatch.setattr(cv2, "imdecode", no_decode)
    error = expect_error(path, "above the limit", max_pixels=10_000)
    assert "300x300 = 0.09 MP" in error.reason and "0.01 MP" in error.reason


def test_decompression_bomb_header_is_refused(tmp_path: Path) -> None:
    # A tiny PNG whose header claims 40000x40000 (1.6 GP): PIL itself refuses it.
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 40_000, 40_000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    expect_error(path, "above the limit of 100 MP")
    expect_error(path, "above the limit of 1.0 MP", max_pixels=1_000_000)
    expect_error(path, "above Pillow's limit", max_pixels=2_000_000_000)


def test_large_image_loads_under_default_limit(tmp_path: Path) -> None:
    image = np.zeros((4000, 6000, 3), np.uint8)
    image[:, ::2] = 200
    path = write(tmp_path / "large.jpg", image)
    assert 6000 * 4000 < DEFAULT_MAX_PIXELS
    loaded = read_image(path)
    assert loaded.shape == (4000, 6000, 3) and loaded.dtype == np.uint8


def test_non_ascii_file_name(tmp_path: Path) -> None:
    path = write(tmp_path / "prüfteil_零件_ß.png", red_bgr())
    assert read_image(path)[0, 0, 0] == 255


def test_read_image_bytes_matches_read_image(tmp_path: Path) -> None:
    for suffix in (".png", ".jpg"):
        path = write(tmp_path / f"n{suffix}", noise(31, 17))
        from_file = read_image(path)
        from_bytes = read_image_bytes(path.read_bytes(), name="camera-1")
        np.testing.assert_array_equal(from_bytes, from_file)


def test_read_image_bytes_errors_use_the_name() -> None:
    with pytest.raises(ImageLoadError, match="^camera-1: file is empty"):
        read_image_bytes(b"", name="camera-1")
    with pytest.raises(ImageLoadError, match="^<bytes>: not an image file"):
        read_image_bytes(b"GET / HTTP/1.1\r\n")


def test_error_attributes_and_pickling() -> None:
    error = ImageLoadError("a/b.png", "file is empty (0 bytes)")
    assert isinstance(error, ValueError)
    assert str(error) == "a/b.png: file is empty (0 bytes)"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.reason, str(copy)) == (error.path, error.reason, str(error))


def test_iter_image_files(tmp_path: Path) -> None:
    root = tmp_path / "parts"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".cache").mkdir()
    for rel in ["b.png", "a.JPG", "sub/c.tif", "sub/deeper/d.webp", ".cache/e.png"]:
        (root / rel).write_bytes(b"x")
    for rel in [".hidden.png", "notes.txt", "sub/model.pt", "sub/._c.tif"]:
        (root / rel).write_bytes(b"x")
    explicit = tmp_path / "odd.xyz"
    explicit.write_bytes(b"x")

    found = iter_image_files([root, explicit, root / "b.png"])
    expected = ["a.JPG", "b.png", "sub/c.tif", "sub/deeper/d.webp"]
    assert found == sorted([root / rel for rel in expected] + [explicit])
    assert iter_image_files(root, recursive=False) == [root / "a.JPG", root / "b.png"]
    assert iter_image_files(str(root / "sub" / "deeper")) == [root / "sub/deeper/d.webp"]
    assert ".png" in IMAGE_SUFFIXES and ".jpeg" in IMAGE_SUFFIXES


def test_iter_image_files_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        iter_image_files([tmp_path, missing])


def test_to_uint8() -> None:
    wide = np.array([[[0, 255, 256], [4095, 65280, 65535]]], np.uint16)
    assert to_uint8(wide).tolist() == [[[0, 0, 1], [15, 255, 255]]]
    assert to_uint8(wide).dtype == np.uint8
    narrow = np.full((2, 2, 3), 7, np.uint8)
    assert to_uint8(narrow) is narrow
    with pytest.raises(TypeError):
        to_uint8(np.zeros((2, 2, 3), np.float32))


def test_to_uint8_follows_the_bits_a_16_bit_image_uses() -> None:
    twelve = np.array([[0, 1000, 4095]], np.uint16)
    assert to_uint8(twelve).tolist() == [[0, 1000 >> 4, 255]]  # not [[0, 3, 15]]
    full = np.array([[0, 256, 65535]], np.uint16)
    assert to_uint8(full).tolist() == [[0, 1, 255]]
    dark = np.array([[0, 200]], np.uint16)  # nothing above 8 bits: values kept
    assert to_uint8(dark).tolist() == [[0, 200]]
    eight = np.array([[7, 9]], np.uint8)
    assert to_uint8(eight) is eight
    with pytest.raises(TypeError):
        to_uint8(np.zeros((2, 2), np.float32))
