from __future__ import annotations

import numpy as np
import pytest

from inspector.preprocess import (
    Geometry,
    Preprocessing,
    content_intensity,
    map_to_image,
    prepare,
    prepare_batch,
)


def test_stretch_output_and_normalisation() -> None:
    spec = Preprocessing(input_size=(32, 48))
    image = np.full((100, 60, 3), 255, np.uint8)
    x, geom = prepare(image, spec)
    assert x.shape == (3, 32, 48) and x.dtype == np.float32 and x.flags.c_contiguous
    want = (1.0 - np.array(spec.mean)) / np.array(spec.std)
    np.testing.assert_allclose(x[:, 0, 0], want, rtol=1e-5)
    assert geom.box == (0, 0, 48, 32) and (geom.height, geom.width) == (100, 60)


def test_sixteen_bit_matches_eight_bit() -> None:
    rng = np.random.default_rng(0)
    img8 = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    img16 = img8.astype(np.uint16) * 257  # exact 8 -> 16 bit scaling
    spec = Preprocessing(input_size=(40, 40))
    np.testing.assert_allclose(prepare(img8, spec)[0], prepare(img16, spec)[0], atol=1e-4)


def test_letterbox_keeps_aspect_and_maps_back() -> None:
    spec = Preprocessing(input_size=(64, 64), resize_mode="letterbox")
    image = np.zeros((50, 100, 3), np.uint8)
    x, geom = prepare(image, spec)
    assert x.shape == (3, 64, 64)
    assert geom.box == (0, 16, 64, 32)
    model_map = np.zeros((64, 64), np.float32)
    model_map[16:48, 32:] = 1.0  # right half of the content
    full = map_to_image(model_map, geom)
    assert full.shape == (50, 100)
    assert full[:, 60:].min() > 0.99 and full[:, :40].max() < 0.01


def test_batch_and_bad_mode() -> None:
    spec = Preprocessing(input_size=(16, 16))
    batch, geoms = prepare_batch([np.zeros((20, 30, 3), np.uint8)] * 3, spec)
    assert batch.shape == (3, 3, 16, 16) and len(geoms) == 3
    with pytest.raises(ValueError, match="resize_mode"):
        Preprocessing(resize_mode="crop")


def test_round_trip_dict() -> None:
    spec = Preprocessing(input_size=(32, 64), resize_mode="letterbox")
    assert Preprocessing.from_dict(spec.to_dict()) == spec


def test_normalize_intensity_removes_brightness_and_contrast() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(60, 120, (32, 32, 3)).astype(np.float32)
    dark = base.astype(np.uint8)
    bright = np.clip((base - 90) * 2 + 170, 0, 255).astype(np.uint8)  # gain 2, offset +80
    spec = Preprocessing(input_size=(32, 32), normalize_intensity=True)
    a, b = prepare(dark, spec)[0], prepare(bright, spec)[0]
    np.testing.assert_allclose(a, b, atol=0.05)
    plain = Preprocessing(input_size=(32, 32))
    assert np.abs(prepare(dark, plain)[0] - prepare(bright, plain)[0]).mean() > 1.0


def test_normalize_intensity_reaches_the_bundle_target_and_ignores_padding() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 200, (40, 20, 3)).astype(np.uint8)  # letterboxed: padded sides
    spec = Preprocessing(
        input_size=(40, 40),
        resize_mode="letterbox",
        normalize_intensity=True,
        intensity_mean=0.3,
        intensity_std=0.05,
    )
    net, geom = prepare(image, spec)
    x, y, w, h = geom.box
    # Undo the ImageNet standardisation: the content is back on the 0..1 scale.
    unit = net * np.asarray(spec.std)[:, None, None] + np.asarray(spec.mean)[:, None, None]
    content = unit[:, y : y + h, x : x + w]
    assert content.mean() == pytest.approx(0.3, abs=1e-4)
    assert content.std() == pytest.approx(0.05, abs=1e-4)


def test_bundles_without_an_intensity_target_keep_the_old_fixed_one() -> None:
    d = Preprocessing(normalize_intensity=True).to_dict()
    del d["intensity_mean"], d["intensity_std"]
    old = Preprocessing.from_dict(d)
    assert (old.intensity_mean, old.intensity_std) == (0.5, 0.16)


def test_content_intensity_on_the_unit_scale() -> None:
    geom = Geometry(4, 4, (0, 0, 4, 4))
    eight = np.full((4, 4, 3), 51, np.uint8)
    sixteen = np.full((4, 4, 3), 13107, np.uint16)
    assert content_intensity(eight, geom) == pytest.approx((0.2, 0.0))
    assert content_intensity(sixteen, geom) == pytest.approx((0.2, 0.0))
