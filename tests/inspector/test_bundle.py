from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from inspector.bundle import SCHEMA_VERSION, BundleError, load_bundle, read_meta, update_thresholds
from inspector.runtime import Inspector


@pytest.fixture()
def bundle(trained_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the shared test bundle that a test may damage."""
    return Path(shutil.copytree(trained_bundle, tmp_path / "b"))


def _edit_json(bundle: Path, edit) -> None:
    path = bundle / "bundle.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_round_trip_gives_identical_scores(bundle: Path, sample_product: Path) -> None:
    image = next((sample_product / "test" / "good").iterdir())
    a = Inspector.load(bundle).inspect(image)
    b = Inspector.load(bundle).inspect(image)
    assert a.score == b.score
    np.testing.assert_array_equal(a.anomaly_map, b.anomaly_map)


def test_metadata_contents(bundle: Path) -> None:
    meta = read_meta(bundle)
    raw = json.loads((bundle / "bundle.json").read_text())
    assert raw["schema_version"] == SCHEMA_VERSION
    assert raw["model"]["family"] == "cnn-cluster"
    assert raw["model"]["config"]["backbone"]["name"] == "efficientnet_lite0"
    assert len(meta.model_id) == 16 and meta.created
    assert meta.thresholds.image > meta.score_stats.good_median
    assert meta.training["fit_images"] > 0 and meta.training["calibration_images"] > 0
    assert not list(bundle.glob("*.pt*")) and not list(bundle.glob("*.pkl"))


def test_thresholds_change_without_changing_the_model(bundle: Path) -> None:
    before = read_meta(bundle)
    after = update_thresholds(bundle, image=before.thresholds.image * 2)
    assert after.model_id == before.model_id
    assert read_meta(bundle).thresholds.image == pytest.approx(before.thresholds.image * 2)
    load_bundle(bundle)  # still loads: the weights hash is unaffected


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: (b / "bundle.json").write_text("{not json"), "corrupt JSON"),
        (lambda b: (b / "bundle.json").unlink(), "bundle.json missing"),
        (lambda b: (b / "weights.safetensors").unlink(), "weights.safetensors missing"),
        (
            lambda b: (b / "weights.safetensors").write_bytes(
                (b / "weights.safetensors").read_bytes()[:1000]
            ),
            "does not match the hash",
        ),
        (lambda b: _edit_json(b, lambda d: d.update(format="something-else")), "not a visual"),
        (
            lambda b: _edit_json(b, lambda d: d.update(schema_version=SCHEMA_VERSION + 1)),
            "newer than this software",
        ),
        (lambda b: _edit_json(b, lambda d: d.pop("thresholds")), "incomplete or malformed"),
        (
            lambda b: _edit_json(b, lambda d: d["model"].update(family="no-such-model")),
            "unknown model",
        ),
        # A NaN threshold would pass every part (a comparison with NaN is false).
        (lambda b: _edit_json(b, lambda d: d["thresholds"].update(image=float("nan"))), "finite"),
        (lambda b: _edit_json(b, lambda d: d["thresholds"].update(image=None)), "a number"),
        (lambda b: _edit_json(b, lambda d: d["thresholds"].update(image="15.0")), "a number"),
        (lambda b: _edit_json(b, lambda d: d.update(schema_version=0)), "positive integer"),
        (
            lambda b: _edit_json(b, lambda d: d["preprocessing"].update(input_size=[0, 0])),
            "input_size",
        ),
        (lambda b: _edit_json(b, lambda d: d["preprocessing"].update(mean=[0.5])), "three"),
        (
            lambda b: _edit_json(
                b,
                lambda d: d["model"]["config"].update(
                    memory_size=d["model"]["config"]["memory_size"] + 1
                ),
            ),
            "do not fit",
        ),
    ],
)
def test_bad_bundles_give_clear_errors(bundle: Path, damage, message: str) -> None:
    damage(bundle)
    with pytest.raises(BundleError, match=message) as info:
        Inspector.load(bundle)
    assert str(bundle) in str(info.value)


def test_weights_rewritten_with_matching_hash_but_garbage(bundle: Path) -> None:
    import hashlib

    garbage = b"\x00" * 64
    (bundle / "weights.safetensors").write_bytes(garbage)
    _edit_json(bundle, lambda d: d["weights"].update(sha256=hashlib.sha256(garbage).hexdigest()))
    with pytest.raises(BundleError, match="unreadable weights"):
        load_bundle(bundle)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nothing")
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_image_threshold_is_refused(bundle: Path, value: float) -> None:
    insp = Inspector.load(bundle)
    before = insp.thresholds.image
    with pytest.raises(ValueError, match="finite"):
        insp.set_thresholds(image=value)
    with pytest.raises(ValueError, match="finite"):
        insp.set_thresholds(image=value, save=True)
    assert insp.thresholds.image == before
    assert read_meta(bundle).thresholds.image == before


def test_a_model_that_returns_nan_never_passes_a_part(bundle: Path, sample_product: Path) -> None:
    """Broken weights (a NaN in the memory) whose hash was rewritten to match: the model
    runs, and its NaN score must be an error, not a PASS."""
    import hashlib

    from safetensors.torch import load_file, save_file

    from inspector.verdict import judge

    weights = bundle / "weights.safetensors"
    tensors = load_file(weights)
    tensors["memory"][:] = float("nan")
    save_file(tensors, weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    _edit_json(bundle, lambda d: d["weights"].update(sha256=digest))
    insp = Inspector.load(bundle, backend="torch")
    image = next((sample_product / "test" / "good").iterdir())
    with pytest.raises(ValueError, match="non-finite score"):
        insp.inspect(image)
    assert str(judge(float("nan"), insp.thresholds)) == "FAIL"
