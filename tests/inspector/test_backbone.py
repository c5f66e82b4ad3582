from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inspector.backbone import (
    BackboneError,
    BackboneSpec,
    FeatureExtractor,
    create_classifier,
    load_embedded_state,
)

skimage_data = pytest.importorskip("skimage.data")

EGYPTIAN_CAT, TABBY, TIGER_CAT = 285, 281, 282
ESPRESSO = 967


def _imagenet_input(rgb: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


@pytest.fixture(scope="module")
def classifier() -> torch.nn.Module:
    return create_classifier(BackboneSpec())


@pytest.mark.parametrize(
    "name",
    [
        "efficientnet_lite0",
        pytest.param("efficientnet_lite1", marks=pytest.mark.slow),
        pytest.param("efficientnet_lite2", marks=pytest.mark.slow),
    ],
)
def test_embedded_weights_classify_real_photos(name: str) -> None:
    # Real photographs shipped with scikit-image: a cat and a cup of espresso. Random or
    # misaligned weights give near-uniform, wrong predictions; the real ones are confident.
    classifier = create_classifier(BackboneSpec(name=name))
    with torch.no_grad():
        cat = classifier(_imagenet_input(skimage_data.chelsea())).softmax(1)[0]
        cup = classifier(_imagenet_input(skimage_data.coffee())).softmax(1)[0]
    assert int(cat.argmax()) in (EGYPTIAN_CAT, TABBY, TIGER_CAT)
    assert float(cat[[EGYPTIAN_CAT, TABBY, TIGER_CAT]].sum()) > 0.8
    assert int(cup.argmax()) == ESPRESSO
    assert float(cup[ESPRESSO]) > 0.5


def test_feature_extractor_uses_the_same_weights(classifier: torch.nn.Module) -> None:
    fe = FeatureExtractor(BackboneSpec(layers=(2, 3)))
    assert fe.channels == [40, 112] and fe.strides == [8, 16]
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        feats = fe(x)
        ref = classifier.forward_intermediates(x, indices=[2, 3], intermediates_only=True)
    assert [tuple(f.shape) for f in feats] == [(2, 40, 16, 16), (2, 112, 8, 8)]
    for got, want in zip(feats, ref, strict=True):
        torch.testing.assert_close(got, want)


def test_local_weights_file(tmp_path) -> None:
    path = tmp_path / "lite0.pth"
    torch.save(load_embedded_state(), path)
    local = FeatureExtractor(BackboneSpec(weights=str(path)))
    embedded = FeatureExtractor(BackboneSpec())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(local(x)[0], embedded(x)[0])


def test_embedded_weights_only_for_the_shipped_backbones() -> None:
    with pytest.raises(BackboneError, match="embedded weights exist only for .*resnet18"):
        FeatureExtractor(BackboneSpec(name="resnet18"))


def test_local_weights_file_errors(tmp_path) -> None:
    with pytest.raises(BackboneError, match="not found"):
        FeatureExtractor(BackboneSpec(weights=str(tmp_path / "missing.pth")))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(BackboneError, match="bad.pth"):
        FeatureExtractor(BackboneSpec(weights=str(bad)))
    wrong = tmp_path / "wrong.pth"
    torch.save({"foo": torch.zeros(3)}, wrong)
    with pytest.raises(BackboneError, match="do not match"):
        FeatureExtractor(BackboneSpec(weights=str(wrong)))


def test_other_timm_backbone_with_local_weights(tmp_path) -> None:
    # Any timm architecture works from a local file (here: weights made on the spot).
    import timm

    path = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18").state_dict(), path)
    fe = FeatureExtractor(BackboneSpec(name="resnet18", layers=(2, 3), weights=str(path)))
    assert fe.channels == [128, 256]


def test_embedded_weights_only_for_lite0() -> None:
    with pytest.raises(BackboneError, match="only for efficientnet_lite0"):
        FeatureExtractor(BackboneSpec(name="resnet18"))


def test_unknown_backbone_name() -> None:
    with pytest.raises(BackboneError, match="no_such_net"):
        FeatureExtractor(BackboneSpec(name="no_such_net", weights="none"))


def test_batchnorm_stays_frozen() -> None:
    fe = FeatureExtractor(BackboneSpec())
    fe.train()
    assert not fe.net.training
