"""Rescore a trained feature-ae bundle with other stage choices for its rings' maps.

Usage: python benchmarks/feature_ae_stages.py BUNDLE DATA [--stages all,all 0,1 ...]

Which backbone stage each ring's map reads (``ring_stages``) changes nothing in training:
the networks rebuild every stage either way, and only the rings' error scales, good parts'
level and the thresholds are measured after training. So one trained bundle answers, for
the very same networks, what each choice would have scored: for every choice this sets
the stages, measures scales and level again on the bundle's own held-out good images
(split as in training), calibrates thresholds as training does and evaluates on DATA's
labelled test set. It first checks that, for the bundle's own choice, it measures the
scales and level the bundle holds. A choice is one entry per ring, comma separated:
``all`` (every stage's error) or a stage number (0: the finest).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from inspector.backends.torch_backend import TorchBackend
from inspector.bundle import load_bundle
from inspector.models.feature_ae import FeatureAEModel, stage_choice
from inspector.runtime import Inspector
from inspector.verdict import Thresholds
from training.batches import AugmentedImages, CachedViews
from training.data import InputImages, good_images, split_holdout
from training.evaluate import evaluate
from training.fitters.feature_ae import measure_good_levels
from training.settings import TrainSettings
from training.train import calibrated_meta


def parse_choice(text: str) -> tuple[int | None, ...]:
    return tuple(None if v == "all" else int(v) for v in text.split(","))


Stages = tuple[int | None, ...]


def rescore(
    bundle: Path, data: Path, choices: list[Stages]
) -> tuple[dict[str, Any], list[tuple[Stages, Thresholds, dict[str, Any]]]]:
    """The bundle's own scales and level beside those measured again for its own stages,
    then, per choice, its stages, the thresholds calibrated for it and its evaluation."""
    model, meta = load_bundle(bundle)
    if not isinstance(model, FeatureAEModel):
        raise SystemExit(f"{bundle}: not a feature-ae bundle ({meta.family})")
    model.eval()
    s = TrainSettings.from_file(bundle / "train_settings.json")
    pre = meta.preprocessing
    _, held = split_holdout(good_images(data), s.run.holdout, seed=s.run.seed)
    images = AugmentedImages(InputImages.load(held, pre), (), s.run.seed)

    def features(batch: torch.Tensor) -> torch.Tensor:
        return model.aggregate(batch).cpu()

    val = CachedViews(images, features, 1, s.run.batch_size, s.run.seed)  # as the fit's held-out
    val.attach_weights(torch.ones_like(val.data[:, :, :1]))
    check = {
        "stages": model.ring_stages,
        "saved": (model.ring_scales, model.part_level),
        "thresholds": meta.thresholds,
    }
    measure_good_levels(model, val, s)
    check["measured"] = (model.ring_scales, model.part_level)
    rows = []
    for choice in choices:
        model.ring_stages = stage_choice(choice, model.context, model.extractor.channels)
        measure_good_levels(model, val, s)
        calibrated, _ = calibrated_meta(model, s, pre, held, [])
        result = evaluate(Inspector(TorchBackend(model), calibrated), data)
        rows.append((model.ring_stages, calibrated.thresholds, result))
    return check, rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("data", type=Path, help="MVTec-layout category: train/good and test/")
    p.add_argument("--stages", nargs="+", default=["all,all", "0,all"], type=parse_choice)
    args = p.parse_args(argv)
    check, rows = rescore(args.bundle, args.data, args.stages)
    (scales, level), (again, level_again) = check["saved"], check["measured"]
    print(f"bundle's stages {list(check['stages'])}: scales {scales}, level {level:.4f};")
    print(f"  measured again: scales {again}, level {level_again:.4f}")
    for stages, _, r in rows:
        per = ", ".join(f"{k} {v['image_auroc']:.3f}" for k, v in r["per_defect"].items())
        print(
            f"stages {list(stages)}: image AUROC {r['image_auroc']:.3f}, pixel "
            f"{r['pixel_auroc']:.3f}, AUPRO {r['aupro']:.3f}, F1 {r['f1']:.3f}, "
            f"FRR {r['false_reject_rate']:.3f}, miss {r['miss_rate']:.3f}; {per}"
        )


if __name__ == "__main__":
    main()
