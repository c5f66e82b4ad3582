"""Fitting the feature GAN: what the discriminator is shown as good and as synthesised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inspector.imageio import read_image
from inspector.models.feature_gan import FeatureGANModel, RingMean
from training.batches import CachedViews
from training.fitters.feature_gan import judged_inputs, with_patch_noise

RANDOM_BACKBONE = {"name": "efficientnet_lite0", "layers": [2, 3], "weights": "none"}


def test_synthesised_anomalies_move_the_patch_and_keep_its_neighbours() -> None:
    judged = torch.randn(4, 30, 5, 5)
    fake = with_patch_noise(judged, dim=10, std=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(fake[:, 10:], judged[:, 10:])
    moved = (fake[:, :10] - judged[:, :10]).std()
    assert 0.4 < float(moved) < 0.6
    again = with_patch_noise(judged, dim=10, std=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(fake, again)


def test_cached_features_become_standardised_patches_with_their_neighbour_means() -> None:
    model = FeatureGANModel(backbone=RANDOM_BACKBONE, input_size=(64, 64), hidden=8, context=[2])
    dim = model.dim
    raw = torch.randn(3, dim, 8, 8)
    model.set_feature_stats(raw.mean(dim=(0, 2, 3)), raw.std(dim=(0, 2, 3)))

    class Source:
        def batches(self, epoch, batch_size, shuffle=True):  # type: ignore[no-untyped-def]
            yield from raw.split(batch_size)

    views = CachedViews(Source(), lambda b: b, views=1, batch_size=2, seed=0)  # type: ignore[arg-type]
    judged_inputs(model, views, chunk=2)
    standardised = model.standardise(raw.half())
    expected = torch.cat([standardised, RingMean(dim, 2)(standardised)], 1)
    assert views.data.shape == (1, 3, 2 * dim, 8, 8) and views.data.dtype == torch.float16
    assert torch.allclose(views.data[0].float(), expected, atol=1e-2)


@pytest.mark.slow
def test_a_feature_gan_with_context_trains_and_exports_to_a_matching_onnx_graph(
    sample_product: Path, tmp_path: Path
) -> None:
    """The context option end to end: fitted on judged inputs, saved, reloaded with its
    rings, and exported (the fixed ring-mean convolution included)."""
    pytest.importorskip("onnxruntime")
    from inspector.bundle import load_bundle
    from inspector.runtime import Inspector
    from training.export import export_onnx
    from training.settings import TrainSettings
    from training.train import train

    settings = TrainSettings.for_family(
        "feature-gan", context=(2, 8), epochs=2, hidden=32, tensorboard=False
    )
    out = tmp_path / "model"
    train(sample_product, out, settings, show_progress=False)
    model, meta = load_bundle(out)
    assert model.context == (2, 8) and meta.model_config["context"] == [2, 8]
    # the export checks its graph against torch on sample inputs and refuses a mismatch
    parity = export_onnx(out)["parity"]
    assert max(parity.values()) < 1e-2
    image = read_image(sorted((sample_product / "test" / "good").iterdir())[0])
    with Inspector.load(out, backend="onnxruntime") as ins:
        assert np.isfinite(ins.inspect(image).score)
