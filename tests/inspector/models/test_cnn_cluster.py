from __future__ import annotations

import pytest
import torch

from inspector.models import create_model


def _model(**kwargs) -> torch.nn.Module:
    backbone = {"name": "efficientnet_lite0", "layers": [2, 3], "weights": "none"}
    return create_model("cnn-cluster", backbone=backbone, input_size=(64, 64), **kwargs).eval()


def _fitted(projection_dim: int = 0) -> torch.nn.Module:
    torch.manual_seed(0)
    m = create_model("cnn-cluster", input_size=(64, 64), projection_dim=projection_dim).eval()
    d = m.feature_dim
    raw_dim = m.feature_mean.numel()
    proj = torch.linalg.qr(torch.randn(raw_dim, d))[0] if projection_dim else None
    m.set_feature_stats(torch.randn(raw_dim), torch.rand(raw_dim) + 0.5, proj)
    m.set_memory(torch.randn(50, d))
    return m


def test_patch_scores_are_nearest_centre_distances() -> None:
    m = _fitted()
    emb = torch.randn(2, m.feature_dim, 8, 8)
    got = m.patch_scores(emb)
    flat = emb.permute(0, 2, 3, 1).reshape(-1, m.feature_dim)
    want = torch.cdist(flat, m.memory).min(dim=1).values.view(2, 1, 8, 8)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)


def test_patch_in_memory_scores_zero() -> None:
    m = _fitted()
    emb = m.memory[:4].view(1, 4, 1, m.feature_dim).permute(0, 3, 1, 2)
    assert float(m.patch_scores(emb).max()) < 1e-2


def test_projection_is_applied() -> None:
    m = _fitted(projection_dim=16)
    assert m.feature_dim == 16 and m.memory.shape == (50, 16)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        raw = m.aggregate(x)
        emb = m.embed(x)
    std = (raw - m.feature_mean.view(1, -1, 1, 1)) / m.feature_scale.view(1, -1, 1, 1)
    want = torch.einsum("bdhw,dp->bphw", std, m.projection)
    torch.testing.assert_close(emb, want)


@pytest.mark.slow
def test_image_score_is_max_of_patch_scores() -> None:
    m = _fitted()
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        out = m(x)
        patch = m.patch_scores(m.embed(x))
    torch.testing.assert_close(out.pred_score, patch.flatten(1).amax(dim=1))
    # Smoothing never raises the map above the highest patch score.
    assert bool((out.anomaly_map.flatten(1).amax(1) <= out.pred_score + 1e-4).all())


def test_shift_map_moves_content() -> None:
    from inspector.models.head import shift_map

    x = torch.zeros(1, 1, 10, 10)
    x[0, 0, 5, 5] = 1.0
    moved = shift_map(x, -2, 3)
    assert moved.shape == x.shape
    assert moved[0, 0, 3, 8] == 1.0 and float(moved.sum()) == 1.0


@pytest.mark.slow
def test_receptive_field_shift_of_default_backbone() -> None:
    from inspector.models.features import receptive_field_shift

    m = create_model("cnn-cluster", input_size=(128, 128)).eval()
    dy, dx = receptive_field_shift(m)
    # Strided convolutions with symmetric padding look up-left of the painted cell centre.
    assert -16 <= dy <= -4 and -16 <= dx <= -4


def test_aggregation_is_per_stage() -> None:
    from inspector.models.features import per_stage

    assert per_stage(3, 2) == (3, 3)
    assert per_stage([1, 3], 2) == (1, 3)
    assert per_stage((5,), 3) == (5, 5, 5)
    with pytest.raises(ValueError, match="2 odd sides"):
        per_stage([1, 2], 2)
    with pytest.raises(ValueError, match="2 odd sides"):
        per_stage([1, 3, 3], 2)


def test_unaggregated_stage_keeps_single_patch_detail() -> None:
    """With side 1 the finest stage is used as extracted; with 3 it is a 3x3 mean."""
    model = _model(aggregation=[1, 1])
    img = torch.randn(1, 3, 64, 64)
    raw = model.extractor(img)[0]
    assert torch.allclose(model.aggregate(img)[:, : raw.shape[1]], raw)
    model3 = _model(aggregation=[3, 1])
    model3.load_state_dict(model.state_dict())
    mean3 = torch.nn.functional.avg_pool2d(raw, 3, 1, 1, count_include_pad=False)
    assert torch.allclose(model3.aggregate(img)[:, : raw.shape[1]], mean3, atol=1e-6)


def _two_level(refine_k: int = 8) -> torch.nn.Module:
    torch.manual_seed(0)
    m = _model(coarse_size=1024, refine_k=refine_k)
    d = m.feature_dim
    m.set_feature_stats(torch.zeros(d), torch.ones(d))
    m.set_memory(torch.randn(3000, d))
    m.coarse_fit = torch.tensor([0.9, 0.1])
    return m


def test_two_level_search_is_exact_where_it_decides_the_verdict() -> None:
    m = _two_level(refine_k=8)
    emb = torch.randn(2, m.feature_dim, 4, 4) * 1.5
    got = m.patch_scores(emb).flatten(1)
    x = emb.permute(0, 2, 3, 1).reshape(-1, m.feature_dim)
    exact = torch.cdist(x, m.memory).amin(1).view(2, -1)
    coarse = torch.cdist(x, m.memory[:1024]).amin(1).view(2, -1)
    for b in range(2):
        top = coarse[b].topk(8).indices
        rest = torch.ones(16, dtype=torch.bool)
        rest[top] = False
        assert torch.allclose(got[b, top], exact[b, top], atol=1e-3)
        assert torch.allclose(got[b, rest], 0.9 * coarse[b, rest] + 0.1, atol=1e-3)
    # The image score is the exact maximum whenever the worst patch is among the refined.
    assert torch.allclose(got.amax(1), exact.amax(1), atol=1e-3)


def test_small_memories_fall_back_to_the_exact_search() -> None:
    m = _model(coarse_size=1024, refine_k=8)
    d = m.feature_dim
    m.set_feature_stats(torch.zeros(d), torch.ones(d))
    m.set_memory(torch.randn(900, d))  # fits in the coarse cover: nothing to refine
    emb = torch.randn(1, d, 4, 4)
    x = emb.permute(0, 2, 3, 1).reshape(-1, d)
    assert torch.allclose(
        m.patch_scores(emb).flatten(), torch.cdist(x, m.memory).amin(1), atol=1e-3
    )
    with pytest.raises(ValueError, match="multiple of 1024"):
        _model(coarse_size=1000)
