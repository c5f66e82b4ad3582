"""Checks for the committed synthetic dataset in ``sample_images/`` (MVTec AD layout)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1] / "sample_images"
PRODUCTS = ["metal_plate", "moulded_part"]
SIZE = (256, 256)


def _pngs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


def _defect_dirs(product: str) -> list[Path]:
    return sorted(d for d in (ROOT / product / "test").iterdir() if d.name != "good")


@pytest.mark.parametrize("product", PRODUCTS)
def test_layout(product: str) -> None:
    """Train/test good images exist and every defect kind has images and a mask folder."""
    base = ROOT / product
    assert len(_pngs(base / "train" / "good")) >= 20
    assert len(_pngs(base / "test" / "good")) >= 5
    kinds = [d.name for d in _defect_dirs(product)]
    assert len(kinds) >= 3, kinds
    assert sorted(d.name for d in (base / "ground_truth").iterdir()) == kinds
    for kind in kinds:
        assert _pngs(base / "test" / kind), kind


@pytest.mark.parametrize("product", PRODUCTS)
def test_masks(product: str) -> None:
    """Each defect image has a same-size binary mask with some defect pixels; goods have none."""
    base = ROOT / product
    # In MVTec AD good images simply have no ground-truth entry.
    assert not (base / "ground_truth" / "good").exists()
    for img_path in _pngs(base / "train" / "good") + _pngs(base / "test" / "good"):
        img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[:2] == SIZE, img_path
    for kind_dir in _defect_dirs(product):
        for img_path in _pngs(kind_dir):
            img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
            mask_path = base / "ground_truth" / kind_dir.name / f"{img_path.stem}_mask.png"
            mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
            assert img is not None and mask is not None, mask_path
            assert mask.dtype == np.uint8 and mask.shape == img.shape[:2] == SIZE, mask_path
            assert set(np.unique(mask).tolist()) == {0, 255}, mask_path


@pytest.mark.slow
def test_regeneration_reproduces_the_committed_images(tmp_path: Path) -> None:
    """The generator reproduces the committed pixels exactly.

    Pixels, not bytes: another OpenCV/zlib build may encode the same pixels differently.
    """
    subprocess.run(
        [sys.executable, str(ROOT / "generate.py"), "--out", str(tmp_path)], check=True, timeout=120
    )
    committed = [p for product in PRODUCTS for p in (ROOT / product).rglob("*.png")]
    committed.append(ROOT / "overview.png")
    assert len(committed) > 100
    regenerated = {p.relative_to(tmp_path) for p in tmp_path.rglob("*.png")}
    assert regenerated == {p.relative_to(ROOT) for p in committed}

    def pixels(path: Path) -> np.ndarray:
        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)

    differing = [
        str(p.relative_to(ROOT))
        for p in committed
        if not np.array_equal(pixels(p), pixels(tmp_path / p.relative_to(ROOT)))
    ]
    assert not differing, f"{len(differing)} images differ (cv2 {cv2.__version__}): {differing[:5]}"
