"""Fitting the fusion: each member as its own family fits, then their good-part units and
the weights.

The members are fitted exactly as a run of their own family would fit them (the same
fitters, the fusion's run settings, the settings the fusion shares with them), so a fusion
is never a weaker copy of either. Their maps and image scores on the held-out good images
then set each member's unit (``inspector.models.fusion.good_norm``). Last, the weights: a
``Choose`` function, given the fitted model and candidate weights, returns one figure per
candidate (higher is better) and the best candidate is kept. Without one the fusion keeps
its configured weights (equal by default). A self-validation on synthetic defects plugs in
as ``FITTER = fusion_fitter(choose=..., candidates=...)`` without any change to the model:
``FusionModel.fuse`` recombines the members' outputs under any weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch

from inspector.models.base import InferenceBatch
from inspector.models.fusion import (
    MAP_QUANTILE,
    MEMORY_FAMILY,
    SCORE_QUANTILE,
    FusionModel,
    checked_weights,
    good_norm,
)
from inspector.models.fusion_config import FusionConfig
from inspector.models.spec import as_json
from training.fitters import fitter_of
from training.fitters.context import FitContext, Fitter
from training.loop import seed_everything
from training.progress import Progress
from training.settings import TrainSettings

Weights = tuple[float, float]
# (fitted model, the run's context, candidate weights) -> one figure per candidate, higher
# better; the model's normalisation is fitted, its weights are whatever it holds.
Choose = Callable[[FusionModel, FitContext, Sequence[Weights]], Sequence[float]]

LEARNED_ROLE = "learned"  # the learned member's stages are "learned <stage>", whatever family


def member_settings(s: TrainSettings, family: str) -> TrainSettings:
    """The fusion run's settings as a run of member ``family``: the fusion's run settings,
    the member's own defaults, and the settings the fusion shares with it (the backbone,
    aggregation, map smoothing, score, cached views)."""
    base = dataclasses.replace(TrainSettings.for_family(family), run=s.run)
    own = {f.name for f in dataclasses.fields(base.config)}
    return base.override(**{k: v for k, v in as_json(s.config).items() if k in own})


def member_stages(family: str, role: str) -> tuple[tuple[str, float], ...]:
    return tuple((f"{role} {name}", w) for name, w in fitter_of(family).stages)


class MemberProgress(Progress):
    """A member's stages reported as the fusion's ``"<role> <stage>"`` (stage names must be
    unique in a run's plan, and both members have a ``features`` stage)."""

    def __init__(self, outer: Progress, role: str) -> None:
        # No plan of its own: every call goes to ``outer``'s.
        self.outer, self.role = outer, role

    def __getattr__(self, name: str) -> Any:
        return getattr(self.outer, name)

    def stage(self, name: str, total: int) -> None:
        self.outer.stage(f"{self.role} {name}", total)

    def update(self, done: int, losses: Any = None, force: bool = False) -> None:
        self.outer.update(done, losses, force)


def build_fusion(s: TrainSettings) -> FusionModel:
    cfg: FusionConfig = s.config
    memory = fitter_of(MEMORY_FAMILY).build(member_settings(s, MEMORY_FAMILY))
    learned = fitter_of(cfg.learned).build(member_settings(s, cfg.learned))
    model = FusionModel(
        backbone=memory.backbone_spec.to_dict(),
        input_size=memory.input_size,
        learned_family=cfg.learned,
        weights=checked_weights(cfg.weights),
        load_weights=False,
    )
    model.set_members(memory, learned)
    return model


def fit_member(family: str, role: str, ctx: FitContext) -> tuple[Any, dict[str, Any]]:
    """A model of ``family`` fitted as a run of its own would fit it, its summary."""
    s = member_settings(ctx.settings, family)
    seed_everything(s.run.seed)  # the weight init a run of the family alone would draw
    member = fitter_of(family).build(s).eval()
    member_ctx = dataclasses.replace(
        ctx,
        settings=s,
        workdir=ctx.workdir / role,
        progress=MemberProgress(ctx.progress, role),
    )
    summary = fitter_of(family).fit(member, member_ctx)
    return member.eval(), summary


@torch.no_grad()
def good_outputs(model: FusionModel, ctx: FitContext) -> list[InferenceBatch]:
    """Each member's output (memory first) on every held-out good image, in raw units."""
    model.eval()
    images, batch = ctx.val_images, ctx.settings.run.batch_size
    if len(images) == 0:
        raise ValueError("no held-out good images to measure the fusion's members on")
    ctx.progress.stage("fusion", len(images))
    parts: list[list[InferenceBatch]] = []
    for start in range(0, len(images), batch):
        idx = range(start, min(start + batch, len(images)))
        parts.append(model.member_outputs(torch.from_numpy(images.batch(idx))))
        ctx.progress.update(idx.stop)
    return [
        InferenceBatch(
            pred_score=torch.cat([p[i].pred_score for p in parts]),
            anomaly_map=torch.cat([p[i].anomaly_map for p in parts]),
        )
        for i in range(2)
    ]


def set_good_norms(model: FusionModel, outputs: Sequence[InferenceBatch]) -> None:
    """Each member's map and score units from its outputs on held-out good images."""
    model.map_norms = (
        good_norm(outputs[0].anomaly_map, MAP_QUANTILE),
        good_norm(outputs[1].anomaly_map, MAP_QUANTILE),
    )
    model.score_norms = (
        good_norm(outputs[0].pred_score, SCORE_QUANTILE),
        good_norm(outputs[1].pred_score, SCORE_QUANTILE),
    )


def choose_weights(
    model: FusionModel,
    ctx: FitContext,
    candidates: Sequence[Weights],
    choose: Choose | None,
) -> list[dict[str, Any]]:
    """Keep the candidate with the best figure (the first on a tie); without ``choose`` the
    model keeps its weights. Returns every candidate with its figure."""
    if choose is None:
        return []
    tried = [checked_weights(w) for w in candidates]
    if not tried:
        raise ValueError("choosing the fusion's weights needs at least one candidate")
    figures = [float(f) for f in choose(model, ctx, tried)]
    if len(figures) != len(tried):
        raise ValueError(f"{len(figures)} figures for {len(tried)} candidate weights")
    model.weights = tried[max(range(len(tried)), key=lambda i: (figures[i], -i))]
    return [{"weights": list(w), "figure": f} for w, f in zip(tried, figures, strict=True)]


def fusion_fitter(choose: Choose | None = None, candidates: Sequence[Weights] = ()) -> Fitter:
    """The fusion's ``Fitter``; ``choose`` and ``candidates`` pick the weights (see the
    module's docstring)."""

    def fit(model: FusionModel, ctx: FitContext) -> dict[str, Any]:
        cfg: FusionConfig = ctx.config
        memory, memory_summary = fit_member(MEMORY_FAMILY, MEMORY_FAMILY, ctx)
        learned, learned_summary = fit_member(cfg.learned, LEARNED_ROLE, ctx)
        model.set_members(memory, learned)
        set_good_norms(model, good_outputs(model, ctx))
        tried = choose_weights(model, ctx, candidates, choose)
        return {
            "members": {MEMORY_FAMILY: memory_summary, cfg.learned: learned_summary},
            "map_norms": [list(n) for n in model.map_norms],
            "score_norms": [list(n) for n in model.score_norms],
            "weights": list(model.weights),
            "weight_candidates": tried,
        }

    return Fitter(
        build=build_fusion,
        fit=fit,
        stages=(
            *member_stages(MEMORY_FAMILY, MEMORY_FAMILY),
            *member_stages("feature-ae", LEARNED_ROLE),  # feature-gan's are a subset
            ("fusion", 1.0),
        ),
    )


FITTER = fusion_fitter()
