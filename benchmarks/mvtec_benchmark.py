"""Train and evaluate a model on every category of MVTec-layout roots; time it; judge it
against the stored default.

Usage:
    python benchmarks/mvtec_benchmark.py ../shared/datasets sample_images \
        [--model feature-ae] [--config settings.toml] [--set input_size=320 ...] \
        [--only screw] [--seeds 0 1 2] [--baseline FILE ... | --baseline none] \
        [--out benchmarks/results/NAME.json] [--keep DIR]

Per category and seed, one process trains and evaluates (so max RSS is that category's) and
a fresh one loads the bundle and times inspection, as a station would (first seed only).
Prints a markdown table (paste it into benchmarks/RESULTS.md), then each set's mean and
spread over the seeds and its change against the family's stored default
(``default_check.py``: a loss over 0.5 point or over the default's seed spread is flagged),
and writes JSON with all of it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

import numpy as np
from default_check import STORED_DEFAULTS, compare, format_table, load_runs, set_name


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def find_categories(root: Path) -> list[Path]:
    return sorted(
        p.parent.parent for p in root.rglob("train/good") if (p.parent.parent / "test").is_dir()
    )


def run_category(category: str, bundle: str, settings_dict: dict, queue: mp.Queue) -> None:
    """Train, then evaluate; in its own process so max RSS is this category's."""
    from inspector.runtime import Inspector
    from training.evaluate import evaluate
    from training.settings import TrainSettings
    from training.train import train

    settings = TrainSettings.from_dict(settings_dict)  # already resolved for its family
    t0 = time.perf_counter()
    meta = train(category, bundle, settings, show_progress=False)
    fit_s = time.perf_counter() - t0
    result = evaluate(Inspector.load(bundle), category)
    queue.put(
        {
            "category": str(category),
            "image_auroc": result["image_auroc"],
            "pixel_auroc": result["pixel_auroc"],
            "aupro": result["aupro"],
            "f1": result["f1"],
            "false_reject_rate": result["false_reject_rate"],
            "miss_rate": result["miss_rate"],
            "per_defect_image_auroc": {
                k: v["image_auroc"] for k, v in result["per_defect"].items()
            },
            "fit_seconds": round(fit_s, 1),
            "fit_images": meta.training["fit_images"],
            "memory_centres": meta.training["fit"].get("centres"),
            "epochs_run": meta.training["fit"].get("epochs_run"),
            "best_epoch": meta.training["fit"].get("best_epoch"),
            # Of fit_seconds, the gradient loop alone (the rest: loading, caching, calibrating).
            "train_loop_seconds": meta.training["fit"].get("train_seconds"),
            "bundle_mb": round(sum(f.stat().st_size for f in Path(bundle).iterdir()) / 1e6, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        }
    )


def run_speed(category: str, bundle: str, queue: mp.Queue) -> None:
    """Latency and throughput in a fresh process, as a station that just loaded the model.

    Latency is host to host from a decoded image: preprocessing, model and postprocessing
    (map at the image's resolution, regions, verdict). Decoding the file is not included.
    """
    import torch

    from inspector.imageio import iter_image_files, read_image
    from inspector.runtime import Inspector

    insp = Inspector.load(bundle)
    images = [read_image(p) for p in iter_image_files([Path(category) / "test"])][:64]
    for im in images[:5]:  # warm-up: first calls allocate and pick kernels
        insp.inspect(im)
    lat = []
    for _ in range(3):  # three passes: a shared VM's speed drifts within a run
        for im in images:
            t = time.perf_counter()
            insp.inspect(im)
            lat.append((time.perf_counter() - t) * 1e3)
    batch = (images * 2)[:16]
    insp.inspect_batch(batch)
    reps = 3
    t = time.perf_counter()
    for _ in range(reps):
        insp.inspect_batch(batch)
    thr = reps * len(batch) / (time.perf_counter() - t)
    queue.put(
        {
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
            "throughput_b1": round(1000.0 / float(np.mean(lat)), 1),
            "throughput_b16": round(thr, 1),
            "torch_threads": torch.get_num_threads(),
        }
    )


def _in_process(ctx, target, *args) -> dict:
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    # Poll, so a child that dies (an exception, the OOM killer) ends the run with its exit
    # code instead of leaving this process waiting on the queue for ever.
    while True:
        try:
            out = q.get(timeout=5)
            break
        except Empty:
            if not p.is_alive():
                raise RuntimeError(f"{target.__name__} died (exit code {p.exitcode})") from None
    p.join()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("roots", type=Path, nargs="+", help="MVTec-layout roots")
    ap.add_argument("--model", help="model family (default cnn-cluster)")
    ap.add_argument("--config", type=Path, help="training settings file (.toml/.json)")
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="setting overrides, JSON values (e.g. input_size=320)",
    )
    ap.add_argument("--only", nargs="*", help="category names to run")
    ap.add_argument("--out", type=Path)
    ap.add_argument(
        "--keep",
        type=Path,
        help="keep each category's bundle as DIR/<category> (to inspect or rescore it later)",
    )
    ap.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="fit with each of these seeds (default: the settings' seed); "
        "a default is judged on 3 (--seeds 0 1 2)",
    )
    ap.add_argument(
        "--baseline",
        nargs="+",
        help="result files of the default to compare with (default: the family's stored "
        "default, default_check.STORED_DEFAULTS); 'none' compares with nothing",
    )
    args = ap.parse_args()
    from training.settings import TrainSettings

    if args.config:
        base = TrainSettings.from_file(args.config, model=args.model)
    else:
        base = TrainSettings.for_family(args.model or TrainSettings.model)
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    settings = base.override(**overrides).to_dict()
    if args.baseline == ["none"]:
        baseline_files = []
    elif args.baseline:
        baseline_files = [Path(p) for p in args.baseline]
    else:
        baseline_files = [p for p in STORED_DEFAULTS.get(settings["model"], []) if p.exists()]
    stored = load_runs(baseline_files)  # read first: a bad file fails before hours of fitting
    cats = [c for root in args.roots for c in find_categories(root)]
    if args.only:
        cats = [c for c in cats if c.name in args.only]
    seeds = args.seeds or [settings["seed"]]
    rows = []
    ctx = mp.get_context("spawn")
    for i, seed in enumerate(seeds):
        for cat in cats:
            with tempfile.TemporaryDirectory() as tmp:
                name = cat.name if len(seeds) == 1 else f"{cat.name}-seed{seed}"
                bundle = str(args.keep / name if args.keep else Path(tmp) / "bundle")
                run_settings = {**settings, "seed": seed}
                row = {
                    "seed": seed,
                    **_in_process(ctx, run_category, str(cat), bundle, run_settings),
                }
                if i == 0:  # latency does not depend on the seed: time the first one only
                    row.update(_in_process(ctx, run_speed, str(cat), bundle))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    new_runs: dict[str, dict[int, dict[str, float]]] = {}
    for r in rows:
        new_runs.setdefault(set_name(r["category"]), {})[r["seed"]] = r
    judged = compare(new_runs, stored)
    record = {
        "date": dt.date.today().isoformat(),
        "machine": f"{_cpu_name()}, {mp.cpu_count()} cores, {platform.machine()}",
        "settings": settings,
        "seeds": seeds,
        "results": rows,
        "baseline": [str(p) for p in baseline_files],
        "against_default": judged,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(
        "| category | image AUROC | pixel AUROC | AUPRO | F1 | FRR | miss | fit s (images) "
        "| p50 / p95 ms | img/s b1 / b16 | bundle MB | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        name = set_name(r["category"])
        if len(seeds) > 1:
            name += f" seed {r['seed']}"
        print(
            f"| {name} | {r['image_auroc']:.3f} | {r['pixel_auroc']:.3f} | {r['aupro']:.3f} "
            f"| {r['f1']:.3f} | {r['false_reject_rate']:.3f} | {r['miss_rate']:.3f} "
            f"| {r['fit_seconds']} ({r['fit_images']}) | {r.get('latency_ms_p50', '-')} / "
            f"{r.get('latency_ms_p95', '-')} | {r.get('throughput_b1', '-')} / "
            f"{r.get('throughput_b16', '-')} | {r['bundle_mb']} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    print(f"\nAgainst the stored default ({', '.join(p.name for p in baseline_files) or 'none'}):")
    print(format_table(judged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
