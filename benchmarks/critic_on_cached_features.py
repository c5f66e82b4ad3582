"""Quick experiments with the feature-gan critic on cached backbone features.

Usage:
    python benchmarks/critic_on_cached_features.py cache CATEGORY CACHE.pt [--set key=JSON ...]
    python benchmarks/critic_on_cached_features.py train CACHE.pt RUN.pt [--seed N]
        [--steps N] [--batch N] [--set key=JSON ...] [--eval-every N] [--ema DECAY]
        [--swap-fraction F] [--distance-critic CENTRES] [--views N]
    python benchmarks/critic_on_cached_features.py combine CACHE.pt RUN.pt [RUN.pt ...] [--ema]

A benchmark run of ``feature-gan`` spends a few minutes on the backbone and about ten on
the critic; an idea about the critic only needs the second part. ``cache`` does the first
part once, exactly as training does (the same hold-out split, intensity reference, cached
augmented views, feature statistics and rarity weights), and keeps the test set's features
beside them. ``train`` then fits a critic for a fixed number of steps with the product's
own training step (``FeatureGANTask``) on positions drawn by rarity, and reports the test
set's image AUROC from the highest patch (top 1, the default score) and the mean of the
top 4, as the model's image score is taken, overall and per defect type. ``combine``
averages the test maps of several runs (an ensemble of critics) and scores that.

Figures from here are exploratory: no early stopping on held-out good images and a fixed
step count, so they show a direction; what ships is measured with mvtec_benchmark.py.
``--eval-every N`` scores the test set every N steps, to see how the critic's ranking
moves with training (a learning curve, never a way to pick the model).

Two ideas live only here, because they did not help (benchmarks/RESULTS.md): ``--ema``
scores a running average of the critic's weights as well, and ``--swap-fraction`` makes
that share of the synthesised anomalies a good patch from another drawn position put in
the place of the patch (its context rings unchanged), where the two differ by more than
``--swap-distance`` standardised units; the rest are the usual noisy copies.
``--distance-critic K`` replaces the MLP critic by a radial-basis one, a verdict falling
with the distance to the nearest of K learned centres started on random good positions
(``DistanceCritic``); ``--steps 0`` scores it as started, a plain memory of K random
good patches. ``--views N`` trains on the first N cached views only (view 0 is the
unaugmented image; 1: no augmentation).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inspector.models.feature_gan import FeatureGANModel
from training.batches import CachedViews, SampledPositions
from training.data import (
    InputImages,
    good_images,
    mvtec_test_set,
    split_holdout,
)
from training.fitters import FitContext
from training.fitters.feature_gan import (
    FeatureGANTask,
    build_feature_gan,
    judged_inputs,
)
from training.fitters.features import cached_feature_sources
from training.loop import seed_everything, warm_up
from training.metrics import auroc
from training.settings import TrainSettings
from training.train import fitted_preprocessing


def parse_changes(pairs: list[str]) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in (p.split("=", 1) for p in pairs)}


def cache(category: Path, out: Path, changes: dict[str, Any]) -> None:
    s = TrainSettings.for_family("feature-gan", tensorboard=False, **changes)
    fit_files, val_files = split_holdout(good_images(category), s.run.holdout, seed=s.run.seed)
    pre = fitted_preprocessing(s, fit_files)
    seed_everything(s.run.seed)
    model = build_feature_gan(s).eval()
    work = out.with_suffix(".work")
    ctx = FitContext(s, pre, fit_files, val_files, workdir=work, show_progress=False)
    t0 = time.perf_counter()
    train, _ = cached_feature_sources(model, ctx)
    tests = mvtec_test_set(category)
    images = InputImages.load([t.path for t in tests], pre, ctx.skipped)
    with torch.inference_mode():
        feats = [
            model.aggregate(torch.from_numpy(images.batch(range(i, min(i + 16, len(images))))))
            for i in range(0, len(images), 16)
        ]
    torch.save(
        {
            "settings": s.to_dict(),
            "feature_stats": (model.feature_mean, model.feature_scale),
            "train": train.data,
            "train_weights": train.weights,
            "test": torch.cat(feats).half(),
            "kinds": [t.defect for t in tests],
        },
        out,
    )
    print(f"cached {tuple(train.data.shape)} training views in {time.perf_counter() - t0:.0f} s")


class SwappingTask(FeatureGANTask):
    """The product's training, with ``fraction`` of the synthesised anomalies a good patch
    from another drawn position in place of the patch (context rings only)."""

    def __init__(
        self, model: FeatureGANModel, s: TrainSettings, fraction: float, distance: float
    ) -> None:
        super().__init__(model, s, torch.zeros(1))
        self.fraction, self.distance = fraction, distance

    def synthesise(
        self, judged: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        dim, n = self.model.dim, round(len(judged) * self.fraction)
        fake = super().synthesise(judged, generator)
        donor = judged[torch.randperm(len(judged))[:n], :dim]
        far = (donor - judged[:n, :dim]).norm(dim=1, keepdim=True) > self.distance
        swapped = judged[:n].clone()
        swapped[:, :dim] = donor
        fake[:n] = torch.where(far, swapped, fake[:n])
        self.monitor.add("swapped_share", far.float())
        return fake


class DistanceCritic(nn.Module):
    """A radial-basis critic: verdict = bias - scale * mean squared distance of the adapted
    patch to the nearest of ``centres`` learned points. Unlike a ReLU network, whose verdict
    keeps growing linearly far from anything it was trained on, its verdict falls for
    every feature far from all centres (the idea of DUQ, van Amersfoort et al. 2020)."""

    def __init__(self, channels: int, centres: int) -> None:
        super().__init__()
        self.centres = nn.Parameter(torch.randn(centres, channels))
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(()))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        c = self.centres
        dot = F.conv2d(x, c[:, :, None, None])
        d2 = (x * x).sum(1, keepdim=True) - 2 * dot + (c * c).sum(1)[None, :, None, None]
        return d2.clamp_min(0).min(1, keepdim=True).values / x.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias - self.log_scale.exp() * self.nearest(x)

    @torch.no_grad()
    def start_from(self, good: torch.Tensor, noise_std: float) -> None:
        """Centres on the first good patches (N, C) given; scale and bias such that the
        median of the rest scores +1 and a noisy copy of it -1."""
        k = len(self.centres)
        self.centres.copy_(good[:k])
        typical = self.nearest(good[k:, :, None, None]).median()
        scale = 2 / noise_std**2
        self.log_scale.fill_(math.log(scale))
        self.bias.fill_(1 + scale * typical)


class DistanceCriticTask(FeatureGANTask):
    """The product's loss with a ``DistanceCritic``; the noise goes on the standardised
    features before the adaptor, so the adaptor cannot win by shrinking the space (after
    it, shrinking would put good patches near the centres and leave the noise far)."""

    def __init__(self, model: FeatureGANModel, s: TrainSettings) -> None:
        super().__init__(model, s, torch.zeros(1))
        critic = model.discriminator
        self.optimizers = [
            torch.optim.AdamW(
                [
                    {"params": model.adaptor.parameters(), "lr": s.run.learning_rate * 0.1},
                    {"params": [critic.centres], "lr": s.run.learning_rate},
                    # Two scalars: a fast rate, or they barely move in a few hundred steps.
                    {"params": [critic.log_scale, critic.bias], "lr": 1e-2, "weight_decay": 0},
                ],
                weight_decay=1e-5,
            )
        ]

    def _scores(
        self, cached: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.judge_noised_before_adaptor(self.model.standardise(cached), generator)


def with_distance_critic(
    model: FeatureGANModel, views: CachedViews, centres: int, seed: int, noise_std: float
) -> None:
    """``model``'s critic replaced by a ``DistanceCritic`` started on random good positions."""
    flat = views.data.permute(0, 1, 3, 4, 2).reshape(-1, model.dim)
    order = torch.randperm(len(flat), generator=torch.Generator().manual_seed(seed))
    good = model.standardise(flat[order[: centres + 4096]].float()[:, :, None, None])
    critic = DistanceCritic(model.dim, centres)
    critic.start_from(good[:, :, 0, 0], noise_std)
    model.discriminator = critic  # type: ignore[assignment]


def test_maps(model: FeatureGANModel, test: CachedViews) -> torch.Tensor:
    """Negated critic verdicts (N, 1, h, w) on the cached test features."""
    model.eval()
    with torch.inference_mode():
        parts = []
        for chunk in test.data[0].split(32):
            judged = chunk.float() if model.context else model.standardise(chunk)
            parts.append(-model.discriminator(model.adaptor(judged)).float())
    return torch.cat(parts)


def scores(maps: torch.Tensor, kinds: list[str]) -> dict[str, Any]:
    labels = np.array([k != "good" for k in kinds])
    kind = np.array(kinds)
    out: dict[str, Any] = {}
    for k in (1, 4):
        score = maps.flatten(1).topk(k, dim=1).values.mean(dim=1).numpy()
        out[f"top{k}"] = round(auroc(score, labels), 4)
        out[f"per_type_top{k}"] = {
            t: round(auroc(score[(kind == t) | ~labels], labels[(kind == t) | ~labels]), 3)
            for t in sorted(set(kinds) - {"good"})
        }
    return out


def views_of(data: torch.Tensor, seed: int) -> CachedViews:
    views = CachedViews.__new__(CachedViews)  # already computed: no source to run
    views.data, views.weights, views.seed = data, None, seed
    return views


@torch.no_grad()
def follow(average: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """One step of an exponential moving average of ``model``'s weights (buffers copied)."""
    pairs = zip(average.state_dict().values(), model.state_dict().values(), strict=True)
    for avg, now in pairs:
        if avg.dtype.is_floating_point:
            avg.lerp_(now, 1 - decay)
        else:
            avg.copy_(now)


def train(cache_file: Path, out: Path, a: argparse.Namespace) -> None:
    torch.set_num_threads(a.threads)
    c = torch.load(cache_file, weights_only=False)
    s = TrainSettings.from_dict(c["settings"]).override(seed=a.seed, **parse_changes(a.set))
    seed_everything(a.seed)
    model = build_feature_gan(s)
    model.set_feature_stats(*c["feature_stats"])
    if a.views:
        c["train"], c["train_weights"] = c["train"][: a.views], c["train_weights"][: a.views]
    train_views, test = views_of(c["train"], a.seed), views_of(c["test"][None], a.seed)
    if model.context:
        judged_inputs(model, train_views)
        judged_inputs(model, test)
    train_views.attach_weights(c["train_weights"])
    task = FeatureGANTask(model, s, torch.zeros(1))
    if a.distance_critic:
        if model.context:
            raise SystemExit("--distance-critic judges the patch alone (context 0)")
        with_distance_critic(model, train_views, a.distance_critic, a.seed, s.config.noise_std)
        task = DistanceCriticTask(model, s)
    if a.swap_fraction:
        if not model.context:
            raise SystemExit("--swap-fraction needs context rings (--set context=[2,8])")
        task = SwappingTask(model, s, a.swap_fraction, a.swap_distance)
    average = copy.deepcopy(model) if a.ema else None
    model.train()
    t0, step, epoch = time.perf_counter(), 0, 0
    source = SampledPositions(train_views)
    while step < a.steps:
        for batch in source.batches(epoch, a.batch):
            for _, loss, optimizer in task.training_step(batch):
                optimizer.zero_grad()
                loss.backward()
                warm_up(optimizer, s.run.warmup_steps)  # as the training loop does
                optimizer.step()
            step += 1
            if average is not None:
                follow(average, model, a.ema)
            if step % 100 == 0:
                print(step, f"{time.perf_counter() - t0:.0f} s", task.scalars(), flush=True)
            if a.eval_every and step % a.eval_every == 0 and step < a.steps:
                now = scores(test_maps(model, test).float(), c["kinds"])
                print(step, "top1", now["top1"], "top4", now["top4"], flush=True)
                model.train()
            if step >= a.steps:
                break
        epoch += 1
    result: dict[str, Any] = {"maps": test_maps(model, test).half()}
    report = {"seed": a.seed, "steps": a.steps, "batch": a.batch, "set": a.set}
    report["last"] = scores(result["maps"].float(), c["kinds"])
    if average is not None:
        result["ema_maps"] = test_maps(average, test).half()
        report["ema"] = scores(result["ema_maps"].float(), c["kinds"])
    report["seconds"] = round(time.perf_counter() - t0)
    result["report"] = report
    torch.save(result, out)
    print(json.dumps(report))


def combine(cache_file: Path, runs: list[Path], ema: bool) -> None:
    kinds = torch.load(cache_file, weights_only=False)["kinds"]
    key = "ema_maps" if ema else "maps"
    maps = [torch.load(r, weights_only=False)[key].float() for r in runs]
    for run, m in zip(runs, maps, strict=True):
        print(run, json.dumps(scores(m, kinds)))
    print("mean of the maps", json.dumps(scores(torch.stack(maps).mean(0), kinds)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache")
    c.add_argument("category", type=Path)
    c.add_argument("out", type=Path)
    c.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON")
    t = sub.add_parser("train")
    t.add_argument("cache", type=Path)
    t.add_argument("out", type=Path)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=600)
    t.add_argument("--batch", type=int, default=16, help="images' worth of positions a step")
    t.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--eval-every", type=int, default=0, help="score the test set every N steps")
    t.add_argument("--ema", type=float, default=0.0, help="also score a weight average")
    t.add_argument("--swap-fraction", type=float, default=0.0)
    t.add_argument("--swap-distance", type=float, default=6.0)
    t.add_argument("--distance-critic", type=int, default=0, metavar="CENTRES")
    t.add_argument("--views", type=int, default=0, help="first N cached views only (0: all)")
    m = sub.add_parser("combine")
    m.add_argument("cache", type=Path)
    m.add_argument("runs", type=Path, nargs="+")
    m.add_argument("--ema", action="store_true")
    a = p.parse_args()
    if a.command == "cache":
        cache(a.category, a.out, parse_changes(a.set))
    elif a.command == "train":
        train(a.cache, a.out, a)
    else:
        combine(a.cache, a.runs, a.ema)


if __name__ == "__main__":
    main()
