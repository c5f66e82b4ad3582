from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from inspector.bundle import (
    SCHEMA_VERSION,
    BundleError,
    compute_model_id,
    load_bundle,
    read_meta,
    update_thresholds,
)
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
            "model id .* does not match its weights and model config",
        ),
    ],
)
def test_bad_bundles_give_clear_errors(bundle: Path, damage, message: str) -> None:
    damage(bundle)
    with pytest.raises(BundleError, match=message) as info:
        Inspector.load(bundle)
    assert str(bundle) in str(info.value)


def loaded_config(d: dict) -> dict:
    """The model config as a bundle of schema 2 is loaded: its input size from preprocessing."""
    return {**d["model"]["config"], "input_size": d["preprocessing"]["input_size"]}


def test_weights_rewritten_with_matching_hash_but_garbage(bundle: Path) -> None:
    import hashlib

    garbage = b"\x00" * 64
    (bundle / "weights.safetensors").write_bytes(garbage)
    digest = hashlib.sha256(garbage).hexdigest()

    def rehash(d: dict) -> None:  # as a forger would: weights hash and model id agree
        d["weights"]["sha256"] = digest
        d["model_id"] = compute_model_id(digest, d["model"]["family"], loaded_config(d))

    _edit_json(bundle, rehash)
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

    def rehash(d: dict) -> None:
        d["weights"]["sha256"] = digest
        d["model_id"] = compute_model_id(digest, d["model"]["family"], loaded_config(d))

    _edit_json(bundle, rehash)
    insp = Inspector.load(bundle, backend="torch")
    image = next((sample_product / "test" / "good").iterdir())
    with pytest.raises(ValueError, match="non-finite score"):
        insp.inspect(image)
    assert str(judge(float("nan"), insp.thresholds)) == "FAIL"


SCHEMA_1 = Path(__file__).parent / "data" / "bundle_schema1_cnn_cluster.json"


def test_input_size_is_written_once(bundle: Path) -> None:
    raw = json.loads((bundle / "bundle.json").read_text())
    assert SCHEMA_VERSION == 2
    assert "input_size" not in raw["model"]["config"]
    assert "input_size" not in raw["training"]["settings"]
    assert raw["preprocessing"]["input_size"] == [256, 256]
    # In memory the model config still rebuilds the model (and keeps the model id).
    assert read_meta(bundle).model_config["input_size"] == [256, 256]


def test_a_schema_1_bundle_json_as_written_before_still_reads(tmp_path: Path) -> None:
    # bundle.json of a cnn-cluster model trained by the schema-1 writer, kept verbatim but
    # for the training data path.
    (tmp_path / "bundle.json").write_text(SCHEMA_1.read_text())
    meta = read_meta(tmp_path)
    assert meta.family == "cnn-cluster" and meta.model_config["input_size"] == [256, 256]
    assert meta.model_id == "d999064a28245c90"


def _as_schema_1(data: dict) -> None:
    """What the schema-1 writer made of the same model: the input size three times."""
    size = data["preprocessing"]["input_size"]
    data["schema_version"] = 1
    data["model"]["config"] = {"input_size": size, **data["model"]["config"]}
    data["training"]["settings"]["input_size"] = size[0]


def test_a_schema_1_bundle_loads_with_the_same_model_and_scores(
    bundle: Path, sample_product: Path
) -> None:
    image = next((sample_product / "test" / "good").iterdir())
    before = Inspector.load(bundle).inspect(image)
    meta = read_meta(bundle)
    _edit_json(bundle, _as_schema_1)
    old = read_meta(bundle)
    assert old.model_config == meta.model_config and old.model_id == meta.model_id
    load_bundle(bundle)
    assert Inspector.load(bundle).inspect(image).score == before.score


def test_a_schema_1_bundle_whose_two_input_sizes_differ_is_refused(bundle: Path) -> None:
    def mixed_up(data: dict) -> None:
        _as_schema_1(data)
        data["model"]["config"]["input_size"] = [128, 128]

    _edit_json(bundle, mixed_up)
    with pytest.raises(BundleError, match="input_size .128, 128. differs from preprocessing"):
        read_meta(bundle)


def test_a_schema_2_bundle_with_a_second_input_size_is_refused(bundle: Path) -> None:
    _edit_json(bundle, lambda d: d["model"]["config"].update(input_size=[256, 256]))
    with pytest.raises(BundleError, match="schema 2 keeps it in preprocessing.input_size"):
        read_meta(bundle)


def test_settings_of_another_family_are_refused(bundle: Path) -> None:
    _edit_json(bundle, lambda d: d["training"]["settings"].update(denoise=True))
    with pytest.raises(BundleError, match="unknown setting 'denoise' for model family 'cnn-c"):
        read_meta(bundle)
