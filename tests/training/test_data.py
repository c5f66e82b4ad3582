from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.preprocess import Preprocessing
from training.data import (
    good_images,
    intensity_reference,
    iter_batches,
    mvtec_test_set,
    split_holdout,
)


def test_good_images_from_mvtec_category_or_plain_folder(sample_product: Path) -> None:
    mvtec = good_images(sample_product)
    assert mvtec and all(p.parent.name == "good" and "train" in p.parts for p in mvtec)
    plain = good_images(sample_product / "train" / "good")
    assert plain == mvtec


def test_good_images_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing"):
        good_images(tmp_path / "nothing")
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no images found"):
        good_images(tmp_path)


def test_mvtec_test_set_labels_and_masks(sample_product: Path) -> None:
    items = mvtec_test_set(sample_product)
    good = [i for i in items if not i.is_anomalous]
    bad = [i for i in items if i.is_anomalous]
    assert good and bad
    assert all(i.mask is None for i in good)
    assert all(i.mask is not None and i.mask.is_file() for i in bad)


def test_split_holdout_is_reproducible_and_disjoint() -> None:
    files = [Path(f"{i:03d}.png") for i in range(50)]
    fit, cal = split_holdout(files, 0.2, seed=1)
    assert len(cal) == 10 and len(fit) == 40 and not set(fit) & set(cal)
    assert split_holdout(files, 0.2, seed=1) == (fit, cal)
    assert split_holdout(files, 0.2, seed=2) != (fit, cal)
    with pytest.raises(ValueError, match="at least"):
        split_holdout(files[:1], 0.2)


def test_iter_batches_skips_and_records_unreadable(tmp_path: Path, sample_product: Path):
    files = good_images(sample_product)[:3]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n")
    skipped: list[str] = []
    batches = list(iter_batches([*files, broken], Preprocessing((32, 32)), 2, skipped))
    assert sum(len(b) for b in batches) == 3
    assert batches[0].dtype == np.float32 and batches[0].shape[1:] == (3, 32, 32)
    assert len(skipped) == 1 and "broken.png" in skipped[0]


@pytest.mark.slow
def test_fit_memory_is_bounded_by_max_patches(sample_product: Path, tmp_path: Path) -> None:
    # Thousands of images must not mean unbounded RAM: patches are subsampled per image.
    from training.settings import TrainSettings
    from training.train import train

    s = TrainSettings().override(max_patches=4000, max_memory=300, input_size=128)
    meta = train(sample_product, tmp_path / "m", s, show_progress=False)
    fit = meta.training["fit"]
    assert fit["patches"] <= 4000 and fit["centres"] == 300
    assert meta.model_config["input_size"] == [128, 128]


def test_intensity_reference_is_the_median_good_image(tmp_path: Path) -> None:
    # Half black, half grey: brightness and contrast are both half the grey level.
    files = []
    for i, level in enumerate([100, 200, 160, 250, 180]):
        image = np.full((24, 24, 3), level, np.uint8)
        image[:12] = 0
        files.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(files[-1]), image)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    files.insert(2, tmp_path / "broken.png")  # skipped, not fatal
    spec = Preprocessing(input_size=(16, 16))
    assert intensity_reference(files, spec) == pytest.approx((90 / 255, 90 / 255), abs=1e-6)
    assert intensity_reference(files[2:3], spec) is None


def test_intensity_reference_lifts_low_contrast_parts(tmp_path: Path) -> None:
    path = tmp_path / "flat.png"
    cv2.imwrite(str(path), np.full((24, 24, 3), 60, np.uint8))
    spec = Preprocessing(input_size=(16, 16))
    assert intensity_reference([path], spec) == pytest.approx((60 / 255, 0.0), abs=1e-6)
    assert intensity_reference([path], spec, min_contrast=0.16) == (pytest.approx(60 / 255), 0.16)


def test_intensity_reference_samples_evenly_spaced_images(tmp_path: Path) -> None:
    # Three of five images: the first, the middle and the last, not the first three.
    files = []
    for i, level in enumerate([10, 200, 210, 220, 50]):
        files.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(files[-1]), np.full((16, 16, 3), level, np.uint8))
    mean, _ = intensity_reference(files, Preprocessing(input_size=(16, 16)), sample=3)
    assert mean == pytest.approx(50 / 255, abs=1e-6)  # of 10, 210, 50; the first three: 200


def test_good_images_follow_linked_folders_once(sample_product: Path, tmp_path: Path) -> None:
    # A dataset laid out with links (shared storage): train/good is a link, and a link
    # loop inside must neither hang the walk nor list a file twice.
    root = tmp_path / "product"
    (root / "train").mkdir(parents=True)
    (root / "train" / "good").symlink_to(sample_product / "train" / "good")
    linked = good_images(root)
    assert len(linked) == len(good_images(sample_product)) > 0
    plain = tmp_path / "plain"
    (plain / "a").mkdir(parents=True)
    (plain / "a" / "more").symlink_to(sample_product / "train" / "good")
    (plain / "a" / "loop").symlink_to(plain)
    found = good_images(plain)
    assert len(found) == len(linked)
    assert len({p.resolve() for p in found}) == len(found)


def test_mvtec_test_set_follows_linked_defect_folders(sample_product: Path, tmp_path: Path) -> None:
    root = tmp_path / "product"
    (root / "test").mkdir(parents=True)
    for sub in (sample_product / "test").iterdir():
        (root / "test" / sub.name).symlink_to(sub)
    assert len(mvtec_test_set(root)) == len(mvtec_test_set(sample_product)) > 0
