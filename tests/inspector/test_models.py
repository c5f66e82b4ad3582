"""Checks every registered model family passes (timm-style parametrisation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inspector.families import DEFAULT_FAMILY, FAMILIES
from inspector.models import InferenceBatch, create_model, list_models

SMALL = {"input_size": (64, 96)}


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, **SMALL).eval()


def test_torch_free_family_list_matches_the_registry() -> None:
    assert sorted(FAMILIES) == sorted(list_models())
    assert DEFAULT_FAMILY in FAMILIES


def test_the_registry_and_the_train_options_import_without_torch() -> None:
    # The station lists families and ``inspector --help`` builds options from them.
    code = (
        "import sys, inspector.families as f, training.settings_cli; f.list_families(); "
        "print('torch' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("name", list_models())
def test_each_family_registers_a_model_and_a_fitter_of_its_own(name: str) -> None:
    from inspector.families import family_spec
    from inspector.models import model_class
    from training.fitters import Fitter, fitter_of

    assert model_class(name).family == name
    assert isinstance(fitter_of(name), Fitter) and fitter_of(name).stages
    spec = family_spec(name)
    assert spec.description and spec.config()  # every config field has a default


def test_registry_lists_default_family() -> None:
    assert "cnn-cluster" in list_models()
    with pytest.raises(ValueError, match="unknown model 'nope'.*cnn-cluster"):
        create_model("nope")


@pytest.mark.parametrize("name", list_models())
def test_forward_returns_inference_batch(name: str) -> None:
    model = _model(name)
    x = torch.randn(3, 3, 64, 96)
    with torch.inference_mode():
        out = model(x)
    assert isinstance(out, InferenceBatch)
    assert out.pred_score.shape == (3,)
    assert out.anomaly_map.shape == (3, 1, 64, 96)
    assert out.pred_score.dtype == torch.float32


@pytest.mark.parametrize("name", list_models())
def test_config_rebuilds_same_state_shapes(name: str) -> None:
    model = _model(name)
    rebuilt = create_model(name, **model.config(), load_weights=False)
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in rebuilt.state_dict().items()
    }
    rebuilt.load_state_dict(model.state_dict())


@pytest.mark.parametrize("name", list_models())
def test_batch_items_are_independent(name: str) -> None:
    model = _model(name)
    x = torch.randn(2, 3, 64, 96)
    with torch.inference_mode():
        both = model(x)
        first = model(x[:1])
    torch.testing.assert_close(both.anomaly_map[:1], first.anomaly_map, rtol=1e-4, atol=1e-4)
