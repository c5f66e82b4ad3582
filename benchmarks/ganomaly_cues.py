"""Which signal in a trained GANomaly bundle ranks defective parts above good ones?

Usage:
    python benchmarks/ganomaly_cues.py BUNDLE CATEGORY [--memory-cells N] [--memory-stage N]
        [--untrained-critic] [--seed N]

The product's GANomaly score adds the reconstruction map's maximum to the latent distance.
On screw and magnetic tile both sit at chance (benchmarks/RESULTS.md). A GAN holds other
signals the score leaves unused; this scores the category's test set by each of them
separately and prints the image AUROC of each, overall and per defect type:

- ``score``: the bundle's own image score; ``map_max`` and ``latent`` its two cues.
- ``critic_residual``: f-AnoGAN's feature residual, the squared distance per cell between
  the critic's features of the image and of its reconstruction (max, mean over cells).
- ``critic_verdict``: how fake the critic finds the image itself (minus its logit; max and
  mean over its patches). The critic learned good images as real.
- ``critic_memory``: the critic's features used as a learned backbone for a patch memory,
  as the default model uses a pretrained one: each test cell's distance to the nearest
  cell of the training images' features (max over cells). Only training images enter
  the memory. ``--memory-stage N`` takes the features after the critic's first N stages
  (finer cells) instead of its last. ``--untrained-critic`` swaps in a freshly initialised
  critic of the same shape (seeded) first: the control that tells whether adversarial
  training is what makes its features useful, or any random convolutional features would.

Exploratory: it reads the test labels to report AUROCs, so it may show a direction, never
pick a model; what ships is measured with mvtec_benchmark.py.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from inspector.bundle import load_bundle
from inspector.models.ganomaly import GANomalyModel, PatchCritic
from inspector.preprocess import Preprocessing
from training.data import good_images, iter_batches, mvtec_test_set
from training.metrics import auroc


def _cells(features: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, h*w, C)."""
    return features.flatten(2).transpose(1, 2)


def critic_stage(model: GANomalyModel, x: torch.Tensor, stage: int) -> torch.Tensor:
    """The critic's features after its first ``stage`` stages (0: all of them)."""
    stages = model.critic.features
    return stages[: stage or len(stages)](x)


@torch.no_grad()
def critic_memory(
    model: GANomalyModel,
    paths: list[Path],
    spec: Preprocessing,
    per_image: int,
    seed: int,
    stage: int,
) -> torch.Tensor:
    """A random sample of critic-feature cells from good training images, (N, C)."""
    g = torch.Generator().manual_seed(seed)
    bank = []
    for batch in iter_batches(paths, spec, batch_size=8):
        cells = _cells(critic_stage(model, torch.from_numpy(batch), stage))
        for c in cells:
            bank.append(c[torch.randperm(c.shape[0], generator=g)[:per_image]])
    return torch.cat(bank)


@torch.no_grad()
def score_cues(
    model: GANomalyModel,
    paths: list[Path],
    spec: Preprocessing,
    bank: torch.Tensor,
    stage: int,
) -> dict[str, np.ndarray]:
    out: dict[str, list[torch.Tensor]] = defaultdict(list)
    for batch in iter_batches(paths, spec, batch_size=8):
        x = torch.from_numpy(batch)
        _, map_max, latent = model.cues(x)
        out["score"].append(model(x).pred_score)
        out["map_max"].append(map_max)
        out["latent"].append(latent)
        rebuilt, _, _ = model.generator(x)
        verdict, feats = model.critic(x)
        _, feats_rebuilt = model.critic(rebuilt)
        residual = (feats - feats_rebuilt).pow(2).mean(1).flatten(1)
        out["critic_residual_max"].append(residual.amax(1))
        out["critic_residual_mean"].append(residual.mean(1))
        fake = -verdict.flatten(1)
        out["critic_verdict_max"].append(fake.amax(1))
        out["critic_verdict_mean"].append(fake.mean(1))
        cells = _cells(critic_stage(model, x, stage) if stage else feats)
        nearest = torch.stack([torch.cdist(c, bank).amin(1) for c in cells])
        out["critic_memory_max"].append(nearest.amax(1))
        out["critic_memory_top4"].append(nearest.topk(4, dim=1).values.mean(1))
    return {k: torch.cat(v).float().numpy() for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bundle")
    ap.add_argument("category")
    ap.add_argument("--memory-cells", type=int, default=256, help="cells kept per training image")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--untrained-critic", action="store_true")
    ap.add_argument("--memory-stage", type=int, default=0, help="critic stages (0: all)")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    model, meta = load_bundle(args.bundle)
    if args.untrained_critic:
        model.critic = PatchCritic(model.base_channels, model.depth)
    model.eval()
    spec = meta.preprocessing
    bank = critic_memory(
        model, good_images(args.category), spec, args.memory_cells, args.seed, args.memory_stage
    )
    test = mvtec_test_set(args.category)
    cues = score_cues(model, [t.path for t in test], spec, bank, args.memory_stage)
    labels = np.array([t.is_anomalous for t in test])
    defects = sorted({t.defect for t in test} - {"good"})
    kind = np.array([t.defect for t in test])
    # Per defect type: that type's images against every good one.
    subsets = [(kind == "good") | (kind == d) for d in defects]
    print(f"{'cue':24s} {'all':>6s} " + " ".join(f"{d[:14]:>14s}" for d in defects))
    for name, s in cues.items():
        per = [auroc(s[keep], labels[keep]) for keep in subsets]
        print(f"{name:24s} {auroc(s, labels):6.3f} " + " ".join(f"{v:14.3f}" for v in per))


if __name__ == "__main__":
    main()
