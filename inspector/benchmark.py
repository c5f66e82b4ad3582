"""``inspector benchmark``: latency and throughput of a bundle per backend and batch size.

Host to host: from decoded images in memory to judged results (preprocessing, the model and
postprocessing), as a station sees it; the stages are also reported separately. Each
configuration gets a warm-up first (first calls allocate, compile kernels, fill caches).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from inspector.backends import AUTO, choose_backend
from inspector.bundle import BundleMeta, read_meta
from inspector.imageio import ImageLoadError, iter_image_files, read_image


def benchmark_images(meta: BundleMeta, images: Path | None, limit: int = 64) -> list[np.ndarray]:
    """Images to time with: ``images``, else the bundle's training images if still there,
    else mid-grey noise at the model's input size.

    Raises:
        ValueError: ``images`` was given but holds no readable image (timing noise instead
            would report figures for images the user did not ask for).
    """
    folder = images
    if folder is None:
        data = meta.training.get("data")
        folder = Path(data) if data and Path(data).exists() else None
    out: list[np.ndarray] = []
    if folder is not None:
        for path in iter_image_files([folder])[:limit]:
            try:
                out.append(read_image(path))
            except ImageLoadError:
                continue
    if not out and images is not None:
        raise ValueError(f"{images}: no readable image to time with")
    if not out:
        h, w = meta.preprocessing.input_size
        rng = np.random.default_rng(0)
        out = [rng.integers(96, 160, (h, w, 3), dtype=np.uint8) for _ in range(16)]
    return out


def run_benchmark(
    bundle: str | Path,
    backends: list[str],
    batches: list[int],
    device: str = "cpu",
    precision: str = "fp32",
    images: Path | None = None,
    warmup: int = 5,
    iterations: int = 30,
) -> list[dict[str, Any]]:
    """Time every (backend, batch) pair; returns one row per pair.

    Backends are timed call by call in turn (A, B, A, B, ...) rather than one after the
    other, so a machine whose speed drifts during the run (a shared VM, a CPU heating up)
    slows every backend alike and the comparison stays fair.
    """
    from inspector.runtime import Inspector

    bundle = Path(bundle)
    meta = read_meta(bundle)
    pool = benchmark_images(meta, images)
    names = [choose_backend(meta, device) if n == AUTO else n for n in backends]
    loaded = [Inspector.load(bundle, device=device, backend=n, precision=precision) for n in names]
    rows = []
    try:
        for b in batches:
            calls = [[pool[(i * b + j) % len(pool)] for j in range(b)] for i in range(iterations)]
            lat: list[list[float]] = [[] for _ in loaded]
            stages: list[dict[str, list[float]]] = [
                {"preprocess": [], "model": [], "postprocess": []} for _ in loaded
            ]
            for insp in loaded:
                for c in calls[:warmup]:
                    insp.inspect_batch(c)
            for c in calls:
                for k, insp in enumerate(loaded):
                    t = time.perf_counter()
                    res = insp.inspect_batch(c)
                    lat[k].append((time.perf_counter() - t) * 1e3)
                    for stage, values in stages[k].items():
                        values.append(res[0].timings_ms.get(stage, float("nan")) * b)
            for k, insp in enumerate(loaded):
                ms = np.array(lat[k])
                rows.append(
                    {
                        "backend": insp.backend.name,
                        "device": device,
                        "precision": precision,
                        "batch": b,
                        "p50_ms": round(float(np.percentile(ms, 50)), 2),
                        "p95_ms": round(float(np.percentile(ms, 95)), 2),
                        "p99_ms": round(float(np.percentile(ms, 99)), 2),
                        "images_per_s": round(b * 1e3 / float(np.median(ms)), 1),
                        **{
                            f"{stage}_ms_p50": round(float(np.median(v)), 2)
                            for stage, v in stages[k].items()
                        },
                    }
                )
    finally:
        for insp in loaded:
            insp.close()
    return rows


def environment() -> dict[str, str]:
    import os

    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU threads",
        "python": platform.python_version(),
    }


def format_rows(rows: list[dict[str, Any]]) -> str:
    head = (
        "| backend | batch | p50 ms | p95 ms | p99 ms | images/s | "
        "preprocess ms | model ms | postprocess ms |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['backend']} ({r['device']}, {r['precision']}) | {r['batch']} | {r['p50_ms']} "
            f"| {r['p95_ms']} | {r['p99_ms']} | {r['images_per_s']} | {r['preprocess_ms_p50']} "
            f"| {r['model_ms_p50']} | {r['postprocess_ms_p50']} |"
        )
    return "\n".join(lines)
