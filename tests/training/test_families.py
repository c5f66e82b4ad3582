"""Adding a family is its files and one registration: a tiny family, registered here,
reaches the command line's options, the station's chooser, bundle validation, training and
loading without any other change (docs/families.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from inspector.families import (
    FAMILIES,
    list_families,
    register_family,
    unregister_family,
)
from inspector.models import AnomalyModel, InferenceBatch, list_models
from inspector.models.spec import FamilySpec, setting
from training.data import iter_batches
from training.fitters import FitContext, Fitter
from training.settings import TrainSettings

# -- the whole family: a config, a torch model, a fit function, one registration ---------


@dataclass(frozen=True)
class TinyConfig:
    gain: float = setting(1.0, "scale of the map", minimum=0.0)


class TinyModel(AnomalyModel):
    """Each pixel's distance from the mean good colour."""

    family = "tiny"
    mean: torch.Tensor

    def __init__(self, input_size: Any = (64, 64), gain: float = 1.0, load_weights: bool = True):
        super().__init__()
        self.input_size, self.gain = tuple(input_size), float(gain)
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1))

    def config(self) -> dict[str, Any]:
        return {"input_size": list(self.input_size), "gain": self.gain}

    def forward(self, images: torch.Tensor) -> InferenceBatch:
        amap = (images - self.mean).abs().mean(dim=1, keepdim=True) * self.gain
        return InferenceBatch(pred_score=amap.flatten(1).amax(dim=1), anomaly_map=amap)


def build_tiny(s: TrainSettings) -> TinyModel:
    return TinyModel((s.run.input_size, s.run.input_size), gain=s.config.gain)


def fit_tiny(model: TinyModel, ctx: FitContext) -> dict[str, Any]:
    ctx.progress.stage("mean", len(ctx.fit_files))
    batches = iter_batches(ctx.fit_files, ctx.preprocessing, ctx.settings.run.batch_size, [])
    total, count = torch.zeros(3), 0
    for batch in batches:
        total += torch.from_numpy(batch).mean(dim=(2, 3)).sum(dim=0)
        count += len(batch)
        ctx.progress.update(count)
    model.mean = (total / count).view(1, 3, 1, 1)
    return {"images": count}


FITTER = Fitter(build=build_tiny, fit=fit_tiny, stages=(("mean", 1.0),))
SPEC = FamilySpec(
    name="tiny",
    description="distance from the mean good colour (a test family)",
    config=TinyConfig,
    trained=False,
    model=f"{__name__}:TinyModel",
    fitter=f"{__name__}:FITTER",
)

# ----------------------------------------------------------------------------------------


@pytest.fixture()
def tiny() -> Iterator[None]:
    register_family(SPEC)
    try:
        yield
    finally:
        unregister_family("tiny")


def _parse(*argv: str):
    from inspector.cli import build_parser

    return build_parser().parse_args(["train", "--data", "d", "--out", "o", *argv])


def test_a_registered_family_is_listed_everywhere(tiny: None) -> None:
    assert "tiny" in list_models() and FAMILIES["tiny"] == SPEC.description
    assert ("tiny", SPEC.description) in list_families()
    assert list_families()[0][0] == "cnn-cluster"  # the default leads the chooser
    with pytest.raises(ValueError, match="registered twice"):
        register_family(SPEC)


def test_its_settings_become_command_line_options(tiny: None) -> None:
    from training.settings_cli import settings_from_args

    s = settings_from_args(_parse("--model", "tiny", "--gain", "2.5", "--input-size", "64"))
    assert (s.model, s.config, s.run.input_size) == ("tiny", TinyConfig(gain=2.5), 64)
    assert settings_from_args(_parse("--model", "tiny", "--set", "gain=3")).config.gain == 3.0
    with pytest.raises(ValueError, match="unknown setting 'gain' for model family 'cnn-cluster'"):
        settings_from_args(_parse("--model", "cnn-cluster", "--gain", "2"))
    with pytest.raises(ValueError, match="unknown setting 'strategy' for model family 'tiny'"):
        settings_from_args(_parse("--model", "tiny", "--strategy", "kmeans"))


def test_it_trains_loads_and_its_bundle_is_validated(
    tiny: None, sample_product: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from inspector.bundle import BundleError, load_bundle, read_meta
    from inspector.cli import main
    from inspector.imageio import read_image
    from inspector.runtime import Inspector

    out = tmp_path / "model"
    argv = ["train", "--data", str(sample_product), "--out", str(out), "--model", "tiny"]
    argv += ["--gain", "2", "--input-size", "64", "--export", "none", "--progress", "json"]
    assert main(argv) == 0
    events = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert {e.get("stage") for e in events} >= {"intensity", "mean", "calibration"}
    assert events[-1] == {"event": "done", "bundle": str(out)}
    model, meta = load_bundle(out)
    assert isinstance(model, TinyModel) and model.gain == 2.0 and meta.family == "tiny"
    assert meta.training["fit"] == {"images": meta.training["fit_images"]}
    image = read_image(next((sample_product / "test" / "good").iterdir()))
    with Inspector.load(out) as ins:
        result = ins.inspect(image)
    assert math.isfinite(result.score) and result.anomaly_map.shape == image.shape[:2]
    # Settings of another family in the bundle: refused, naming the key and the family.
    path = out / "bundle.json"
    good = path.read_text()
    data = json.loads(good)
    data["training"]["settings"]["strategy"] = "kmeans"
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="unknown setting 'strategy' for model family 'tiny'"):
        read_meta(out)
    path.write_text(good)
    unregister_family("tiny")
    with pytest.raises(BundleError, match="unknown model family 'tiny'"):
        read_meta(out)
