"""Runtime commands: ``inspector inspect``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inspector.arg_types import finite_float, non_negative_int, positive_int

# Exit status of ``inspect``: scripts on a line can branch on it. Every command exits with
# EXIT_USAGE when it cannot do its job (bad arguments, paths, bundles, environment) and with
# EXIT_INTERNAL on a bug.
EXIT_ALL_PASS, EXIT_ANY_FAIL, EXIT_USAGE, EXIT_ANY_ERROR, EXIT_INTERNAL = 0, 1, 2, 3, 4


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="inspect image files or folders with a model bundle",
        description="Inspect images; writes results.csv, results.json and report.html. "
        "Exit status: 0 all PASS, 1 some FAIL, 3 some ERROR (unreadable files), 2 cannot "
        "run (bad arguments, paths or model), 4 internal error.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image files or folders")
    p.add_argument("--model", required=True, type=Path, help="model bundle directory")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument(
        "--save-maps",
        action="store_true",
        help="save each anomaly map as float32 .npy at the image's resolution",
    )
    p.add_argument("--threshold", type=finite_float, help="image threshold for this run only")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--max-pixels", type=positive_int, help="refuse images larger than this")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    add_backend_arguments(p)
    p.set_defaults(func=run_inspect)

    b = sub.add_parser(
        "benchmark",
        help="latency (p50/p95/p99) and throughput per backend and batch size",
        description="Host-to-host timing from decoded images to judged results, with the "
        "stages shown separately; prints a table and optionally writes JSON.",
    )
    b.add_argument("--model", required=True, type=Path, help="model bundle directory")
    b.add_argument(
        "--backend",
        default="all",
        help="comma-separated: torch, onnxruntime, tensorrt, auto; 'all' = every one that "
        "can run here",
    )
    b.add_argument("--batch", default="1,8", help="comma-separated batch sizes (e.g. 1,8,32)")
    b.add_argument("--device", default="cpu")
    b.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "int8"])
    b.add_argument("--images", type=Path, help="images to time with (default: training images)")
    b.add_argument("--warmup", type=non_negative_int, default=5)
    b.add_argument("--iterations", type=positive_int, default=30)
    b.add_argument("--json", type=Path, help="also write the rows as JSON here")
    b.set_defaults(func=run_benchmark_command)


def add_backend_arguments(p: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--precision``, shared by every command that runs a model."""
    p.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "onnxruntime", "tensorrt"],
        help="runtime (auto: TensorRT on a GPU when installed, else ONNX Runtime when the "
        "bundle has an ONNX export, else torch)",
    )
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "fp16", "int8"],
        help="fp16/int8 on a GPU only (torch: fp16; TensorRT: fp16, int8)",
    )


def run_inspect(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from inspector.folder import inspect_files
    from inspector.imageio import iter_image_files
    from inspector.outputs import check_output_folder
    from inspector.runtime import Inspector

    check_output_folder(args.out)
    files = iter_image_files(args.paths)
    if not files:
        print("error: no image files found", file=sys.stderr)
        return EXIT_USAGE
    insp = Inspector.load(
        args.model, device=args.device, backend=args.backend, precision=args.precision
    )
    if args.threshold is not None:
        try:
            insp.set_thresholds(image=args.threshold)
        except ValueError as exc:
            raise ValueError(f"--threshold: {exc}") from None
    if args.max_pixels:
        insp.max_pixels = args.max_pixels
    with tqdm(total=len(files), unit="img", desc="inspect") as bar:
        run = inspect_files(
            insp,
            files,
            args.out,
            save_maps=args.save_maps,
            batch_size=args.batch_size,
            progress=lambda done, total: bar.update(done - bar.n),
        )
    s = run.summary
    # No yield when nothing could be judged (every image unreadable): say so, not crash.
    yld = "n/a" if s["yield_percent"] is None else f"{s['yield_percent']:.1f} %"
    print(
        f"{s['total']} images: {s['pass']} PASS, {s['fail']} FAIL, {s['error']} ERROR "
        f"(yield {yld}) with model {insp.model_id}, "
        f"threshold {insp.thresholds.image:.4g}"
    )
    for row in run.rows:
        if row.error:
            print(f"  ERROR {row.path}: {row.error}", file=sys.stderr)
    print(f"report: {(run.out_dir / 'report.html').resolve()}")
    if s["error"]:
        return EXIT_ANY_ERROR
    return EXIT_ANY_FAIL if s["fail"] else EXIT_ALL_PASS


def run_benchmark_command(args: argparse.Namespace) -> int:
    import importlib.util
    import json

    from inspector.benchmark import environment, format_rows, run_benchmark
    from inspector.bundle import read_meta

    if args.backend == "all":
        meta = read_meta(args.model)
        backends = ["torch"]
        if "onnx" in meta.exports and importlib.util.find_spec("onnxruntime"):
            backends.append("onnxruntime")
        if args.device.startswith("cuda") and importlib.util.find_spec("tensorrt"):
            backends.append("tensorrt")
    else:
        backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    try:
        batches = [positive_int(b.strip()) for b in args.batch.split(",")]
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"--batch {args.batch}: each batch size {exc}") from None
    rows = run_benchmark(
        args.model,
        backends,
        batches,
        device=args.device,
        precision=args.precision,
        images=args.images,
        warmup=args.warmup,
        iterations=args.iterations,
    )
    env = environment()
    print(f"{env['date']}, {env['machine']}, Python {env['python']}")
    print(format_rows(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"environment": env, "rows": rows}, indent=2) + "\n")
    return 0
