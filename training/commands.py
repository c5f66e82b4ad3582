"""Training commands: ``inspector train``, ``inspector evaluate``, ``inspector demo``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inspector.arg_types import (
    finite_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from inspector.commands import EXIT_ANY_ERROR, add_backend_arguments
from inspector.families import FAMILIES, PRESETS
from training.settings import TrainSettings

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
        "category folder (its train/good is used).",
    )
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path, help="bundle directory to write")
    # From the torch-free family list: --help must not import torch.
    p.add_argument(
        "--model",
        choices=sorted(FAMILIES),
        help="model family: " + "; ".join(f"{name}: {what}" for name, what in FAMILIES.items()),
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="settings file (.toml or .json)")
    source.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="settings for a kind of product (sets the family too): "
        + "; ".join(f"{name}: {what}" for name, what in PRESETS.items()),
    )
    p.add_argument("--val-dir", type=Path, help="good images for calibration (else a holdout)")
    p.add_argument(
        "--test",
        type=Path,
        help="labelled MVTec-layout category: evaluate after training and report "
        "the F1-optimal threshold",
    )
    g = p.add_argument_group("model")
    g.add_argument("--input-size", type=positive_int)
    g.add_argument("--resize-mode", choices=["stretch", "letterbox"])
    g.add_argument(
        "--normalize-intensity",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bring every image to the same brightness and contrast first",
    )
    g.add_argument("--backbone", help="timm model name")
    g.add_argument("--layers", type=positive_int, nargs="+", help="backbone stages, e.g. 2 3")
    g.add_argument(
        "--backbone-weights",
        help="'embedded' (offline EfficientNet-Lite0/1/2), 'hub', or a weights file",
    )
    g.add_argument("--strategy", choices=["coreset", "kmeans"], help="how centres are chosen")
    g.add_argument("--memory-fraction", type=positive_float)
    g.add_argument("--max-memory", type=positive_int)
    g.add_argument("--latent-dim", type=positive_int, help="autoencoder bottleneck width")
    g = p.add_argument_group(
        "training loop (autoencoder and GAN families)",
        "Checkpoints and TensorBoard logs go to BUNDLE.training/ beside the bundle "
        "(tensorboard --logdir BUNDLE.training/tensorboard). Ctrl-C stops cleanly after the "
        "current batch; --resume continues from the last finished epoch.",
    )
    g.add_argument("--epochs", type=positive_int, help="most passes over the training images")
    g.add_argument("--lr", dest="learning_rate", type=positive_float, help="learning rate")
    g.add_argument(
        "--patience", type=non_negative_int, help="early-stopping epochs (0 = never stop early)"
    )
    g.add_argument("--batch-size", type=positive_int)
    g.add_argument(
        "--augment",
        nargs="+",
        choices=["hflip", "vflip", "rot90", "rotate", "shift"],
        help="geometric augmentations the product allows (photometric jitter is always on)",
    )
    g.add_argument("--device", help="auto (CUDA when present), cpu or cuda[:N]")
    g.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mixed precision on CUDA (default on)",
    )
    g.add_argument("--workdir", type=Path, help="checkpoints and logs (default BUNDLE.training)")
    g.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    g.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write TensorBoard logs (default on)",
    )
    g = p.add_argument_group("calibration")
    g.add_argument(
        "--holdout", type=finite_float, help="share of good images held out (default 0.2)"
    )
    g.add_argument(
        "--target-frr",
        dest="target_false_reject_rate",
        type=finite_float,
        help="good parts allowed to fail (default 0.01)",
    )
    g.add_argument("--min-defect-area", dest="min_defect_area_px", type=non_negative_int)
    p.add_argument(
        "--export",
        choices=["onnx", "none"],
        default="onnx",
        help="also export the graph into the bundle (default onnx: the fastest CPU runtime)",
    )
    p.add_argument("--seed", type=non_negative_int)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_train)


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
    p.set_defaults(func=run_evaluate)


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    if args.preset:
        base = TrainSettings.from_preset(args.preset)
        if args.model and args.model != base.model:
            raise SystemExit(f"preset {args.preset} is for --model {base.model}, not {args.model}")
    elif args.config:
        base = TrainSettings.from_file(args.config, model=args.model)
    else:
        base = TrainSettings.for_family(args.model or TrainSettings.model)
    names = (
        "input_size",
        "resize_mode",
        "backbone",
        "layers",
        "backbone_weights",
        "strategy",
        "memory_fraction",
        "max_memory",
        "holdout",
        "target_false_reject_rate",
        "min_defect_area_px",
        "seed",
        "normalize_intensity",
        "latent_dim",
        "epochs",
        "learning_rate",
        "patience",
        "batch_size",
        "augment",
        "device",
        "amp",
        "tensorboard",
    )
    return base.override(**{n: getattr(args, n) for n in names})


def run_train(args: argparse.Namespace) -> int:
    from training.loop import TrainingCancelled
    from training.train import train

    try:
        meta = train(
            args.data,
            args.out,
            settings_from_args(args),
            val_dir=args.val_dir,
            show_progress=not args.quiet,
            workdir=args.workdir,
            resume=args.resume,
        )
    except TrainingCancelled as exc:
        print(f"inspector train: {exc}", file=sys.stderr)
        return 130  # the shell's code for "stopped by Ctrl-C"
    cal = meta.calibration
    assert cal is not None  # train() always records its calibration
    print(f"model {meta.model_id} ({meta.family}) saved to {args.out}")
    if args.export == "onnx":
        from inspector.bundle import BundleError
        from training.export import export_onnx

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
    for msg in meta.training["skipped_files"]:
        print(f"  skipped {msg}")
    if args.test:
        return _evaluate_and_print(
            args.out, args.test, args.out / "evaluation.json", "cpu", record=True
        )
    return 0


def describe_fit(fit: dict) -> str:
    """One line of what fitting did, for either kind of family."""
    if "epochs_run" in fit:  # trained through the shared loop
        why = {"early": "validation loss stopped improving", "epochs": "epoch limit"}
        return (
            f"{fit['epochs_run']} epochs on {fit['device']} ({why.get(fit['stopped'], '')}), "
            f"weights of epoch {fit['best_epoch']} kept (validation loss "
            f"{fit['best_val_loss']:.4g})"
        )
    return f"{fit.get('centres')} {fit.get('strategy')} centres from {fit.get('patches')} patches"


def run_evaluate(args: argparse.Namespace) -> int:
    out = args.json or args.model / "evaluation.json"
    return _evaluate_and_print(
        args.model, args.dataset, out, args.device, backend=args.backend, precision=args.precision
    )


def _evaluate_and_print(
    bundle: Path,
    dataset: Path,
    out: Path,
    device: str,
    record: bool = False,
    backend: str = "auto",
    precision: str = "fp32",
) -> int:
    """Evaluate, print the table, write the JSON; ``record`` also stores a summary in the
    bundle so the station can show how the model did on labelled parts."""
    from inspector.bundle import update_evaluation
    from inspector.runtime import Inspector
    from training.evaluate import evaluate, format_table, write_json

    insp = Inspector.load(bundle, device=device, backend=backend, precision=precision)
    result = evaluate(insp, dataset)
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
