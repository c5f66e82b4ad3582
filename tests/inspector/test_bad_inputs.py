"""Sane limits on what comes in: bombs, damaged JPEGs, float TIFFs, odd files and folders,
formula-like names, a GPU that is not there, memory per batch, linked folders."""

from __future__ import annotations

import csv
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.cli import main
from inspector.imageio import ImageLoadError, iter_image_files, read_image
from inspector.report import ReportRow, write_results_csv
from inspector.result import Verdict

ROOT = Path(__file__).resolve().parents[2]


def _png_bomb(path: Path, side: int = 9000) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = zlib.compress(b"".join(b"\x00" + bytes(side) for _ in range(side)), 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
    path.write_bytes(png + chunk(b"IEND", b""))
    return path


def test_a_small_file_declaring_a_huge_image_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = _png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 100_000  # about 79 KB for 81 MP
    t0 = time.perf_counter()
    with pytest.raises(ImageLoadError, match="9000x9000.*KB.*refused before decoding"):
        read_image(bomb)
    assert time.perf_counter() - t0 < 1.0  # the header only, no 81 MP decode


def test_float_rgb_tiff_in_0_1_reads_correctly(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).random((40, 48, 3), dtype=np.float32)
    path = tmp_path / "float.tiff"
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])  # OpenCV writes BGR
    image = read_image(path)
    assert image.dtype == np.uint16 and image.shape == (40, 48, 3)
    np.testing.assert_allclose(image / 65535.0, rgb, atol=1e-4)


def _damaged_jpeg(path: Path) -> Path:
    noise = np.random.default_rng(1).integers(0, 255, (128, 128, 3), np.uint8)
    data = bytearray(cv2.imencode(".jpg", noise)[1].tobytes())
    mid = len(data) // 2
    data[mid : mid + 40] = bytes(range(40))  # damage inside the scan, end marker kept
    path.write_bytes(bytes(data))
    return path


def test_damaged_jpeg_is_refused_under_strict_decoding(tmp_path: Path) -> None:
    path = _damaged_jpeg(tmp_path / "damaged.jpg")
    assert read_image(path).shape == (128, 128, 3)  # libjpeg guesses the damaged part
    with pytest.raises(ImageLoadError, match="Corrupt JPEG data"):
        read_image(path, strict=True)
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), np.full((64, 64, 3), 90, np.uint8))
    assert read_image(good, strict=True).shape == (64, 64, 3)


def test_inspect_strict_decode_and_odd_entries_become_rows(
    exported_bundle: Path, sample_product: Path, tmp_path: Path, monkeypatch
) -> None:
    folder = tmp_path / "in"
    shutil.copytree(sample_product / "test" / "good", folder / "good")
    _damaged_jpeg(folder / "damaged.jpg")
    _png_bomb(folder / "bomb.png")
    os.mkfifo(folder / "pipe.png")
    locked = folder / "locked"
    shutil.copytree(sample_product / "test" / "good", locked)
    # Simulated, as root reads any folder: listing "locked" is refused by the system call.
    real_scandir = os.scandir

    def scandir(path=".", *a):
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path, *a)

    monkeypatch.setattr(os, "scandir", scandir)
    out = tmp_path / "out"
    args = ["inspect", str(folder), "--model", str(exported_bundle), "--out", str(out)]
    assert main([*args, "--strict-decode"]) == 3
    with (out / "results.csv").open(newline="", encoding="utf-8") as f:
        rows = {os.path.basename(r["path"]): r for r in csv.DictReader(f)}
    n_good = len(list((sample_product / "test" / "good").iterdir()))
    assert len(rows) == n_good + 4
    assert "Corrupt JPEG data" in rows["damaged.jpg"]["error"]
    assert "refused before decoding" in rows["bomb.png"]["error"]
    assert "not a regular file" in rows["pipe.png"]["error"]
    assert "cannot be listed" in rows["locked"]["error"]
    assert "Permission denied" in rows["locked"]["error"]


def test_results_csv_neutralises_formula_like_cells(tmp_path: Path) -> None:
    evil = ['=HYPERLINK("http://x","y")', "+cmd", "-1+2", "@SUM(A1)", "\tx", "\rx"]
    rows = [ReportRow(path=e, verdict=Verdict.ERROR, error=e) for e in evil]
    out = write_results_csv(rows, tmp_path / "results.csv")
    with out.open(newline="", encoding="utf-8") as f:
        read = list(csv.DictReader(f))
    assert [r["path"] for r in read] == ["'" + e for e in evil]  # name kept, made inert
    assert [r["error"] for r in read] == ["'" + e for e in evil]


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(_has_cuda(), reason="checks the refusal on a machine without a GPU")
@pytest.mark.parametrize("command", ["inspect", "train", "evaluate", "benchmark"])
def test_device_cuda_without_a_gpu_is_refused_in_one_line(
    command: str, exported_bundle: Path, sample_product: Path, tmp_path: Path
) -> None:
    args = {
        "inspect": [sample_product / "test", "--model", exported_bundle, "--out", tmp_path / "o"],
        "train": ["--data", sample_product, "--out", tmp_path / "m"],
        "evaluate": ["--model", exported_bundle, sample_product],
        "benchmark": ["--model", exported_bundle, "--backend", "torch"],
    }[command]
    res = subprocess.run(
        [sys.executable, "-m", "inspector.cli", command, *map(str, args), "--device", "cuda"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=300,
    )
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert err.count("\n") == 1 and "no CUDA GPU" in err
    assert not (tmp_path / "m").exists()


def test_memory_is_bounded_per_batch(exported_bundle: Path, tmp_path: Path) -> None:
    from inspector.folder import _batches
    from inspector.runtime import Inspector

    sizes = [(600, 600), (500, 500), (100, 100), (700, 700), (64, 64), (64, 64)]
    files = []
    for n, (h, w) in enumerate(sizes):
        files.append(tmp_path / f"{n}.png")
        cv2.imwrite(str(files[-1]), np.full((h, w, 3), 100, np.uint8))
    limit = 600_000
    with Inspector.load(exported_bundle, backend="onnxruntime") as insp:
        batches = list(_batches(insp, list(enumerate(files)), 8, limit))
    held = [sum(im.shape[0] * im.shape[1] for _, _, im in b) for b, _ in batches]
    assert all(p <= limit or len(b) == 1 for p, (b, _) in zip(held, batches, strict=True))
    assert sorted(i for b, _ in batches for i, _, _ in b) == list(range(len(files)))


def test_inspect_follows_linked_sub_folders(
    exported_bundle: Path, sample_product: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "test").mkdir(parents=True)
    (data / "test" / "good").symlink_to(sample_product / "test" / "good")
    (data / "test" / "loop").symlink_to(data)  # must not recurse forever
    files = iter_image_files([data])
    assert len(files) == len(list((sample_product / "test" / "good").iterdir())) > 0
    out = tmp_path / "out"
    assert main(["inspect", str(data), "--model", str(exported_bundle), "--out", str(out)]) in (
        0,
        1,
    )
