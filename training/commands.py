"""Training commands: ``inspector train``, ``inspector evaluate``, ``inspector demo``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from inspector.arg_types import positive_int
from inspector.commands import EXIT_ANY_ERROR, add_backend_arguments
from inspector.self_validation import autoconfig_of
from inspector.self_validation import describe as describe_self_validation
from training.progress import EVALUATION_STAGES, Emit, Progress, json_lines
from training.settings import TrainSettings
from training.settings_cli import add_setting_options, explicit_from_args, settings_from_args

SAMPLE_IMAGES = Path(__file__).resolve().parent.parent / "sample_images"


def add_commands(sub: argparse._SubParsersAction) -> None:
    _add_train(sub)
    _add_evaluate(sub)
    _add_export(sub)
    d = sub.add_parser("demo", help="train on sample_images/, inspect its test images, report")
    d.add_argument("--samples", type=Path, default=SAMPLE_IMAGES)
    d.add_argument("--out", type=Path, default=Path("out/demo"))
    d.set_defaults(func=run_demo)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fit a model on good images and save a calibrated bundle",
        description="DATA is a folder of good images (searched recursively) or an MVTec "
        "category folder (its train/good is used). Settings: the family's defaults, then "
        "--config or --preset, then the options below. Checkpoints and TensorBoard logs of "
        "trained families go to BUNDLE.training/ beside the bundle; Ctrl-C stops cleanly "
        "after the current batch and --resume continues from the last finished epoch.",
    )
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path, help="bundle directory to write")
    p.add_argument("--val-dir", type=Path, help="good images for calibration (else a holdout)")
    p.add_argument(
        "--test",
        type=Path,
        help="labelled MVTec-layout category: evaluate after training and report "
        "the F1-optimal threshold",
    )
    p.add_argument(
        "--export",
        choices=["onnx", "none"],
        default="onnx",
        help="also export the graph into the bundle (default onnx: the fastest CPU runtime)",
    )
    p.add_argument("--workdir", type=Path, help="checkpoints and logs (default BUNDLE.training)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_progress_argument(p)
    # From the torch-free registry: --help must not import torch.
    add_setting_options(p)
    p.set_defaults(func=run_train)


def add_progress_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=["bar", "json"],
        default="bar",
        help="bar: progress bars for people; json: one JSON object per line on stderr "
        "for programs (training.progress)",
    )


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a bundle to ONNX, or build a TensorRT engine from its ONNX"
    )
    p.add_argument("--model", required=True, type=Path, help="model bundle directory")
    p.add_argument("--format", choices=["onnx", "tensorrt"], default="onnx")
    p.add_argument(
        "--precision",
        choices=["fp32", "fp16", "int8"],
        help="TensorRT engine precision (default: fp16 where the GPU has fast fp16)",
    )
    p.add_argument(
        "--calibration-dir",
        type=Path,
        help="good images for INT8 calibration (default: the bundle's training images)",
    )
    p.add_argument("--max-batch", type=positive_int, default=32, help="largest TensorRT batch")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from training.export import export_onnx

    if args.format == "onnx":
        info = export_onnx(args.model)
        parity = info["parity"]["normalised_map_max_abs_diff"]
        print(
            f"{args.model / info['file']}: opset {info['opset']}, dynamic batch, "
            f"{info['input']['shape'][2]}x{info['input']['shape'][3]} input; ONNX Runtime vs "
            f"torch max normalised map difference {parity:.1e}"
        )
        return 0
    from inspector.backends.tensorrt_engine import EngineOptions, build_for_bundle

    if "onnx" not in _meta(args.model).exports:
        export_onnx(args.model)
    path, key = build_for_bundle(
        args.model,
        EngineOptions(precision=args.precision, max_batch=args.max_batch),
        calibration_dir=args.calibration_dir,
    )
    print(f"TensorRT engine {path} (key {key})")
    return 0


def _meta(bundle: Path):  # noqa: ANN202
    from inspector.bundle import read_meta

    return read_meta(bundle)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="image/pixel AUROC, AUPRO, F1 on an MVTec test set")
    p.add_argument("dataset", type=Path, help="MVTec-layout category folder (test/, ground_truth/)")
    p.add_argument("--model", required=True, type=Path, help="model bundle directory")
    p.add_argument(
        "--json",
        type=Path,
        help="write the full result here (default: evaluation.json beside the bundle)",
    )
    p.add_argument("--device", default="cpu")
    add_backend_arguments(p)
    add_progress_argument(p)
    p.set_defaults(func=run_evaluate)


def with_error_event(emit: Emit | None, run: Callable[[], int]) -> int:
    """``run()``, with an ``error`` event on ``emit`` if it raises (the CLI then exits
    non-zero and prints the error as usual)."""
    try:
        return run()
    except BaseException as exc:
        if emit is not None:
            emit({"event": "error", "message": str(exc) or type(exc).__name__})
        raise


def run_train(args: argparse.Namespace) -> int:
    emit = json_lines() if args.progress == "json" else None
    return with_error_event(emit, lambda: _train(args, emit))


def _train(args: argparse.Namespace, emit: Emit | None) -> int:
    from inspector.outlock import claim_output
    from training.loop import TrainingCancelled
    from training.train import stage_plan, train

    settings = settings_from_args(args)
    explicit = explicit_from_args(args, settings)
    claim_output(args.out, settings.run.device)  # one writer per bundle; no GPU means no GPU
    plan = stage_plan(settings, export=args.export == "onnx")
    if args.test:
        plan += EVALUATION_STAGES
    progress = Progress(plan, emit)
    try:
        meta = train(
            args.data,
            args.out,
            settings,
            val_dir=args.val_dir,
            show_progress=not args.quiet and emit is None,
            workdir=args.workdir,
            resume=args.resume,
            progress=progress,
            explicit=explicit,
        )
    except TrainingCancelled as exc:
        progress.fail(str(exc))
        print(f"inspector train: {exc}", file=sys.stderr)
        return 130  # the shell's code for "stopped by Ctrl-C"
    cal = meta.calibration
    assert cal is not None  # train() always records its calibration
    print(f"model {meta.model_id} ({meta.family}) saved to {args.out}")
    if args.export == "onnx":
        from inspector.bundle import BundleError
        from training.export import export_onnx

        progress.stage("export", 1)
        try:
            export_onnx(args.out)
            print(f"  exported {args.out / 'model.onnx'} (checked against torch)")
        except (BundleError, ImportError, RuntimeError) as exc:
            # The trained bundle is complete without it; it runs on the torch backend.
            print(f"  warning: ONNX export skipped: {exc}", file=sys.stderr)
    print(
        f"  fitted on {meta.training['fit_images']} good images in "
        f"{meta.training['fit_seconds']:.1f} s: {describe_fit(meta.training['fit'])}"
    )
    print(
        f"  calibrated on {cal.images} held-out good images: image threshold "
        f"{cal.image_threshold:.4g} for a {cal.target_false_reject_rate:.1%} target "
        f"false-reject rate ({cal.false_reject_rate:.1%} on calibration "
        f"images); pixel threshold {cal.pixel_threshold:.4g}"
    )
    for line in describe_self_validation(autoconfig_of(meta.training)):
        print(f"  {line}")
    for msg in meta.training["skipped_files"]:
        print(f"  skipped {msg}")
    code = 0
    if args.test:
        code = _evaluate_and_print(
            args.out, args.test, args.out / "evaluation.json", "cpu", record=True,
            progress=progress,
        )  # fmt: skip
    return _finish(progress, code, bundle=str(args.out))


def _finish(progress: Progress, code: int, **done: str) -> int:
    """The run's last event: ``done``, or ``error`` before a non-zero exit status."""
    if code == 0:
        progress.finish(**done)
    else:
        progress.fail("some images could not be evaluated (see the errors above)")
    return code


def describe_fit(fit: dict) -> str:
    """One line of what fitting did, for either kind of family (a fusion: each member's)."""
    if "members" in fit:
        return "; ".join(f"{name}: {describe_fit(part)}" for name, part in fit["members"].items())
    if "epochs_run" in fit:  # trained through the shared loop
        why = {"early": "validation loss stopped improving", "epochs": "epoch limit"}
        return (
            f"{fit['epochs_run']} epochs on {fit['device']} ({why.get(fit['stopped'], '')}), "
            f"weights of epoch {fit['best_epoch']} kept (validation loss "
            f"{fit['best_val_loss']:.4g})"
        )
    return f"{fit.get('centres')} {fit.get('strategy')} centres from {fit.get('patches')} patches"


def run_evaluate(args: argparse.Namespace) -> int:
    emit = json_lines() if args.progress == "json" else None
    out = args.json or args.model / "evaluation.json"
    progress = Progress(EVALUATION_STAGES, emit)

    def evaluate() -> int:
        code = _evaluate_and_print(
            args.model, args.dataset, out, args.device, backend=args.backend,
            precision=args.precision, progress=progress,
        )  # fmt: skip
        return _finish(progress, code, bundle=str(args.model), evaluation=str(out))

    return with_error_event(emit, evaluate)


def _evaluate_and_print(
    bundle: Path,
    dataset: Path,
    out: Path,
    device: str,
    record: bool = False,
    backend: str = "auto",
    precision: str = "fp32",
    progress: Progress | None = None,
) -> int:
    """Evaluate, print the table, write the JSON; ``record`` also stores a summary in the
    bundle so the station can show how the model did on labelled parts."""
    from inspector.bundle import update_evaluation
    from inspector.runtime import Inspector
    from training.evaluate import evaluate, format_table, write_json

    insp = Inspector.load(bundle, device=device, backend=backend, precision=precision)
    result = evaluate(insp, dataset, report=progress)
    print(format_table(result))
    if result.get("f1_optimal_threshold") is not None:
        print(
            f"F1-optimal threshold on these labelled images: "
            f"{result['f1_optimal_threshold']:.4g} (F1 {result['f1_optimal']:.3f}); "
            f"the bundle keeps its calibrated {result['threshold']:.4g}"
        )
    for err in result["errors"]:
        print(f"  ERROR {err}")
    for note in result.get("warnings", []):
        print(f"  warning: {note}")
    for line in describe_self_validation(autoconfig_of(insp.meta.training)):
        print(line)
    write_json(result, out)
    if record:
        keys = (
            "image_auroc",
            "pixel_auroc",
            "aupro",
            "f1",
            "false_reject_rate",
            "miss_rate",
            "f1_optimal_threshold",
            "f1_optimal",
            "images",
            "category",
        )
        update_evaluation(bundle, {k: result.get(k) for k in keys})
    print(f"evaluation written to {out}")
    # As ``inspect``: images that could not be judged are not a clean run.
    return EXIT_ANY_ERROR if result["errors"] else 0


def run_demo(args: argparse.Namespace) -> int:
    """Train one model per sample product, inspect its test images, write the reports."""
    import importlib.util

    from inspector.folder import inspect_files
    from inspector.imageio import iter_image_files
    from inspector.runtime import Inspector
    from training.evaluate import evaluate, format_table
    from training.export import export_onnx
    from training.train import train

    products = sorted(p for p in args.samples.iterdir() if (p / "train" / "good").is_dir())
    if not products:
        raise FileNotFoundError(f"no MVTec-layout products in {args.samples}")
    summary = {}
    for product in products:
        print(f"\n== {product.name}: training on {product / 'train' / 'good'}")
        bundle = args.out / "models" / product.name
        meta = train(product, bundle, TrainSettings())
        print(
            f"model {meta.model_id}: fitted in {meta.training['fit_seconds']:.1f} s, "
            f"image threshold {meta.thresholds.image:.4g}"
        )
        if importlib.util.find_spec("onnxruntime") is not None:
            export_onnx(bundle)  # inspection then runs in ONNX Runtime, faster on a CPU
        insp = Inspector.load(bundle)
        print(f"inspecting with the {insp.backend.name} backend")
        run = inspect_files(insp, iter_image_files([product / "test"]), args.out / product.name)
        s = run.summary
        print(
            f"inspected {s['total']} test images: {s['pass']} PASS, {s['fail']} FAIL, "
            f"{s['error']} ERROR -> {run.out_dir / 'report.html'}"
        )
        result = evaluate(insp, product)
        print(format_table(result))
        summary[product.name] = {
            "model_id": meta.model_id,
            **s,
            "image_auroc": result["image_auroc"],
            "pixel_auroc": result["pixel_auroc"],
        }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nreports: {', '.join(str(args.out / p.name / 'report.html') for p in products)}")
    return 0
