"""The exact-search bound learned from held-out good images: a defect covering half the
image is mapped as the exact search maps it, while good images stay cheap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inspector.bundle import load_bundle
from inspector.models.cnn_cluster import FAR, SEARCH_BLOCK
from training.data import iter_batches
from training.settings import TrainSettings
from training.train import train

REFINE_K = 8
SIZE = 128  # 16 x 16 patches an image


@pytest.fixture(scope="module")
def bounded_bundle(sample_product: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Every training patch a centre, so the memory (about 2,600) outgrows the coarse cover
    # (1,024) and the two-level search is on, as with the default's full-size memories.
    settings = TrainSettings.for_family(
        "cnn-cluster",
        input_size=SIZE,
        memory_fraction=1.0,
        coarse_memory=SEARCH_BLOCK,
        refine_patches=REFINE_K,
    )
    out = tmp_path_factory.mktemp("bound") / "model"
    train(sample_product, out, settings, show_progress=False)
    return out


def _half_replaced(sample_product: Path, spec) -> torch.Tensor:
    """A good test image whose left half is replaced by a foreign pattern."""
    good = sorted((sample_product / "test" / "good").iterdir())[0]
    (x,) = iter_batches([good], spec, 1, [])
    rng = np.random.default_rng(0)
    stripes = np.sin(np.arange(SIZE) / 2.0)[None, :, None] * 2.0
    x[..., : SIZE // 2] = stripes.repeat(SIZE, 0).transpose(2, 0, 1)[:, :, : SIZE // 2]
    x[..., : SIZE // 2] += rng.normal(0, 0.5, x[..., : SIZE // 2].shape).astype(x.dtype)
    return torch.from_numpy(np.ascontiguousarray(x))


@pytest.mark.slow
def test_half_image_defect_gets_the_exact_map(bounded_bundle: Path, sample_product: Path):
    model, meta = load_bundle(bounded_bundle)
    model.eval()
    fit = meta.training["fit"]
    assert fit["held_out_patches"] > 0
    assert float(model.refine_above) == pytest.approx(fit["refine_above"], rel=1e-5)
    assert float(model.refine_above) < FAR
    assert 0 < model.coarse_size < model.memory.shape[0]

    images = _half_replaced(sample_product, meta.preprocessing)
    with torch.inference_mode():
        emb = model.embed(images)
        got = model.patch_scores(emb)[0, 0]
        model.coarse_size = 0  # the exact search, as coarse_memory = 0 fits it
        exact = model.patch_scores(emb)[0, 0]
        model.coarse_size = SEARCH_BLOCK
        model.refine_above = torch.tensor(FAR)  # only the refine_k of the image
        old = model.patch_scores(emb)[0, 0]
    h, w = exact.shape
    defect = torch.zeros(h, w, dtype=torch.bool)
    defect[:, : w // 2 - 1] = True  # the half, less the patches that see both sides
    assert int(defect.sum()) > 10 * REFINE_K
    torch.testing.assert_close(got[defect], exact[defect], rtol=1e-4, atol=1e-4)
    # Without the bound most of the defect would get the coarse estimate instead.
    assert not torch.allclose(old[defect], exact[defect], rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_good_images_refine_few_patches_beyond_refine_k(
    bounded_bundle: Path, sample_product: Path
) -> None:
    model, meta = load_bundle(bounded_bundle)
    model.eval()
    files = sorted((sample_product / "test" / "good").iterdir())
    x = torch.from_numpy(np.concatenate(list(iter_batches(files, meta.preprocessing, 8, []))))
    with torch.inference_mode():
        emb = model.embed(x)
        flat = emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1])
        coarse = model._nearest(flat, model.search[:1]).view(len(files), -1)
    beyond = (coarse > model.refine_above).sum(1).float()
    # Calibrated on held-out good images, the bound leaves new good parts (nearly) alone.
    assert float(beyond.mean()) < 0.1 * coarse.shape[1]
