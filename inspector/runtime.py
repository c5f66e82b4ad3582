"""``Inspector``: the public runtime API, from a bundle to judged results.

from inspector import Inspector
insp = Inspector.load("models/bottle")
result = insp.inspect("part_0001.png")   # or an HxWx3 / HxW numpy array
print(result.verdict, result.score, result.regions)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inspector.backends import AUTO, Backend, open_backend
from inspector.bundle import BundleMeta, read_meta, update_thresholds
from inspector.imageio import DEFAULT_MAX_PIXELS, check_image_size, read_image
from inspector.postprocess import find_regions
from inspector.preprocess import map_to_image, prepare_batch
from inspector.result import InspectionResult
from inspector.verdict import Thresholds, judge, normalized_score

ImageLike = str | Path | np.ndarray


class Inspector:
    """A loaded model with its thresholds, ready to judge images."""

    def __init__(self, backend: Backend, meta: BundleMeta, bundle_dir: Path | None = None):
        self.backend = backend
        self.meta = meta
        self.bundle_dir = bundle_dir
        self.max_pixels = DEFAULT_MAX_PIXELS

    @classmethod
    def load(
        cls,
        bundle: str | Path,
        device: str = "cpu",
        backend: str = AUTO,
        precision: str = "fp32",
    ) -> Inspector:
        """Load a bundle directory (raises ``BundleError`` with the reason if it is bad).

        Args:
            bundle: the bundle directory.
            device: ``cpu`` or ``cuda[:N]``.
            backend: ``torch``, ``onnxruntime``, ``tensorrt`` or ``auto`` (TensorRT on a GPU
                when installed, else ONNX Runtime when the bundle has an ONNX export, else
                torch).
            precision: ``fp32``, or ``fp16``/``int8`` where the backend supports it.
        """
        meta = read_meta(bundle)
        return cls(open_backend(backend, bundle, meta, device, precision), meta, Path(bundle))

    @property
    def thresholds(self) -> Thresholds:
        return self.meta.thresholds

    @property
    def model_id(self) -> str:
        return self.meta.model_id

    def set_thresholds(
        self, save: bool = False, allow_implausible: bool = False, **changes: Any
    ) -> None:
        """Change thresholds for this inspector; with ``save`` also in the bundle on disk.

        An image threshold far above every good score (``inspector.verdict``'s plausibility
        rule) is refused with ValueError, unless ``allow_implausible`` says a person confirmed
        it; a bundle never keeps one, so ``save`` always refuses it.
        """
        if save:
            if self.bundle_dir is None:
                raise ValueError("this inspector was not loaded from a bundle directory")
            self.meta = update_thresholds(self.bundle_dir, **changes)
        else:
            self.meta = self.meta.with_thresholds(allow_implausible, **changes)

    def _as_array(self, image: ImageLike) -> np.ndarray:
        if isinstance(image, np.ndarray):
            if image.dtype not in (np.uint8, np.uint16):
                # Preprocessing scales by the integer range; a float, signed or bool array
                # would be judged at a wrong brightness without any error.
                raise ValueError(
                    f"expected a uint8 or uint16 image array, got {image.dtype} "
                    "(convert floats in [0, 1] with (a * 255).round().astype(np.uint8))"
                )
            if image.ndim == 2:
                image = np.repeat(image[:, :, None], 3, axis=2)
            if image.ndim != 3 or image.shape[2] not in (3, 4):
                raise ValueError(f"expected an HxW or HxWx3 image array, got {image.shape}")
            check_image_size(image.shape[1], image.shape[0], "image array")
            return image[:, :, :3]
        return read_image(image, max_pixels=self.max_pixels)

    def inspect(self, image: ImageLike) -> InspectionResult:
        """Judge one image (path or RGB array)."""
        return self.inspect_batch([image])[0]

    def inspect_batch(self, images: Sequence[ImageLike]) -> list[InspectionResult]:
        """Judge several images in one model call (higher throughput).

        Raises:
            ImageLoadError: a path could not be read (use ``inspect`` per file to isolate it).
        """
        scores, maps, timings = self.score_maps(images)
        bad = [i for i, s in enumerate(scores) if not math.isfinite(s)]
        if bad:
            raise ValueError(
                f"the model returned a non-finite score ({scores[bad[0]]}) for image "
                f"{bad[0]} of the batch: the model bundle is broken"
            )
        t0 = time.perf_counter()
        th, stats = self.meta.thresholds, self.meta.score_stats
        results = [
            InspectionResult(
                score=score,
                normalized_score=normalized_score(score, th, stats),
                verdict=judge(score, th),
                threshold=th.image,
                anomaly_map=amap,
                regions=find_regions(amap, th.pixel, th.min_defect_area_px),
            )
            for score, amap in zip(scores, maps, strict=True)
        ]
        timings["postprocess"] += (time.perf_counter() - t0) * 1e3 / len(results)
        timings["total"] = sum(timings.values())
        for r in results:
            r.timings_ms = dict(timings)
        return results

    def score_maps(
        self, images: Sequence[ImageLike]
    ) -> tuple[list[float], list[np.ndarray], dict[str, float]]:
        """Raw image scores and anomaly maps at each image's resolution, without judging.

        Returns:
            Scores, maps, and per-image milliseconds for preprocess, model and postprocess.
        """
        t0 = time.perf_counter()
        arrays = [self._as_array(im) for im in images]
        batch, geoms = prepare_batch(arrays, self.meta.preprocessing)
        t1 = time.perf_counter()
        scores, maps = self.backend.infer(batch)
        t2 = time.perf_counter()
        full = [map_to_image(m, g) for m, g in zip(maps, geoms, strict=True)]
        t3 = time.perf_counter()
        n = len(arrays)
        timings = {
            "preprocess": (t1 - t0) * 1e3 / n,
            "model": (t2 - t1) * 1e3 / n,
            "postprocess": (t3 - t2) * 1e3 / n,
        }
        return [float(s) for s in scores], full, timings

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Inspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
