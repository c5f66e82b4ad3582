"""Finding training and test images, and reading them for fitting."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.imageio import IMAGE_SUFFIXES, ImageLoadError, iter_image_files, read_image
from inspector.preprocess import (
    Geometry,
    Preprocessing,
    content_intensity,
    fit_to_input,
    normalise_input,
    prepare_batch,
)


@dataclass(frozen=True)
class LabelledImage:
    """A test image with its defect type ('good' for defect-free) and optional mask path."""

    path: Path
    defect: str
    mask: Path | None

    @property
    def is_anomalous(self) -> bool:
        return self.defect != "good"


def good_images(root: str | Path) -> list[Path]:
    """Defect-free training images under ``root``.

    ``root`` is either an MVTec-layout category (its ``train/good`` is used) or any folder of
    good images, searched recursively.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"training data not found: {root}")
    mvtec = root / "train" / "good"
    files = iter_image_files([mvtec if mvtec.is_dir() else root])
    # A sub-folder that cannot be listed stays in, to be reported with the skipped files.
    files = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES or p.is_dir()]
    if not files:
        raise ValueError(f"no images found in {root}")
    return files


def mvtec_test_set(category: str | Path) -> list[LabelledImage]:
    """Labelled test images of an MVTec-layout category (``test/<type>``, ``ground_truth``)."""
    category = Path(category)
    test = category / "test"
    if not test.is_dir():
        raise FileNotFoundError(f"{category}: no test/ folder (MVTec layout expected)")
    items = []
    for defect_dir in sorted(p for p in test.iterdir() if p.is_dir()):
        defect = defect_dir.name
        for img in iter_image_files([defect_dir]):
            mask = category / "ground_truth" / defect / f"{img.stem}_mask.png"
            items.append(LabelledImage(img, defect, mask if mask.is_file() else None))
    if not items:
        raise ValueError(f"{category}: test/ holds no images")
    return items


def split_holdout(
    files: Sequence[Path], fraction: float, seed: int = 0, minimum: int = 1
) -> tuple[list[Path], list[Path]]:
    """Split good images into (fit, calibration) sets, reproducibly.

    Calibration images never enter the model's memory, so their scores are honest estimates
    of how unseen good parts will score.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError("holdout fraction must be between 0 and 1")
    n_hold = max(minimum, round(len(files) * fraction))
    if len(files) - n_hold < 1:
        raise ValueError(f"need at least {n_hold + 1} good images, have {len(files)}")
    order = np.random.default_rng(seed).permutation(len(files))
    hold = sorted(int(i) for i in order[:n_hold])
    keep = sorted(int(i) for i in order[n_hold:])
    return [files[i] for i in keep], [files[i] for i in hold]


def intensity_reference(
    files: Sequence[Path], spec: Preprocessing, min_contrast: float = 0.0, sample: int = 256
) -> tuple[float, float] | None:
    """Brightness and contrast (0..1 scale) that intensity normalisation brings every image
    to: the median good image's, with contrast at least ``min_contrast``.

    A typical good part then reaches the network with its natural look; a fixed target
    would squeeze the contrast of bright, high-contrast parts. ``sample`` evenly spaced
    images are enough for a median and keep the extra reading pass short. None if none can
    be read.
    """
    picks = np.unique(np.linspace(0, len(files) - 1, min(len(files), sample)).round())
    stats = []
    for path in (files[int(i)] for i in picks):
        try:
            stats.append(content_intensity(*fit_to_input(read_image(path), spec)))
        except ImageLoadError:
            continue  # the fitting pass records it
    if not stats:
        return None
    means, stds = zip(*stats, strict=True)
    return float(np.median(means)), max(min_contrast, float(np.median(stds)))


def iter_batches(
    files: Sequence[Path], spec: Preprocessing, batch_size: int = 16, skipped: list | None = None
) -> Iterator[np.ndarray]:
    """Preprocessed (B, 3, H, W) batches; unreadable files are skipped and recorded.

    Raises:
        NoReadableImages: ``files`` is not empty but none of them could be read.
    """
    first_skip = len(skipped) if skipped is not None else 0
    read = 0
    for start in range(0, len(files), batch_size):
        arrays = []
        for path in files[start : start + batch_size]:
            try:
                arrays.append(read_image(path))
            except ImageLoadError as exc:
                if skipped is None:
                    raise
                skipped.append(str(exc))
        if arrays:
            read += len(arrays)
            yield prepare_batch(arrays, spec)[0]
    if files and not read:
        raise NoReadableImages(skipped[first_skip:] if skipped is not None else [])


class NoReadableImages(ValueError):
    """None of the images given could be read (each is named with its reason)."""

    def __init__(self, problems: Sequence[str]) -> None:
        shown = "; ".join(problems[:3]) + (
            f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        super().__init__(f"none of the {len(problems)} images could be read: {shown}")


class InputImages:
    """Training images held in memory at the model's input size, still integer.

    Trained families pass over the same images for many epochs: reading and resizing them
    once keeps an epoch's cost in the network, and augmentation works on the resized image
    (cheaper than on the camera-sized original, same effect on what the model sees).
    """

    def __init__(self, images: list[np.ndarray], geoms: list[Geometry], spec: Preprocessing):
        self.images, self.geoms, self.spec = images, geoms, spec

    @classmethod
    def load(
        cls, files: Sequence[Path], spec: Preprocessing, skipped: list | None = None
    ) -> InputImages:
        """Read and resize ``files``; unreadable ones are skipped and recorded."""
        images, geoms = [], []
        for path in files:
            try:
                image, geom = fit_to_input(read_image(path), spec)
            except ImageLoadError as exc:
                if skipped is None:
                    raise
                skipped.append(str(exc))
                continue
            images.append(image)
            geoms.append(geom)
        if files and not images:
            raise NoReadableImages(skipped[-len(files) :] if skipped else [])
        return cls(images, geoms, spec)

    def __len__(self) -> int:
        return len(self.images)

    def raw(self, idx: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        return [self.images[i] for i in idx]

    def normalise(
        self, images: Sequence[np.ndarray], idx: Sequence[int] | np.ndarray
    ) -> np.ndarray:
        """(B, 3, H, W) float32 network input from (possibly augmented) images ``idx``."""
        return np.stack(
            [
                normalise_input(im, self.geoms[i], self.spec)
                for im, i in zip(images, idx, strict=True)
            ]
        )

    def batch(self, idx: Sequence[int]) -> np.ndarray:
        """Network input of images ``idx`` as they are (validation, statistics)."""
        return self.normalise(self.raw(idx), idx)
