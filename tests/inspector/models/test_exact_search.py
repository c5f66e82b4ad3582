"""The two-level nearest-centre search is exact wherever a patch lies beyond good texture,
however large the defect, in torch and in the exported ONNX graph."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inspector.models import create_model
from training.fitters.cnn_cluster import coarse_first, fit_coarse_estimate, fit_refine_bound
from training.tensorrt_ready import tensorrt_problems

GRID = 16  # patches per side: 256 per image
REFINE_K = 8


def _fitted_two_level() -> tuple[torch.nn.Module, torch.Tensor]:
    """A two-level model fitted on clustered "good" patches, and those patches."""
    torch.manual_seed(0)
    backbone = {"name": "efficientnet_lite0", "layers": [2, 3], "weights": "none"}
    m = create_model(
        "cnn-cluster",
        backbone=backbone,
        input_size=(64, 64),
        coarse_size=1024,
        refine_k=REFINE_K,
        load_weights=False,
    ).eval()
    d = m.feature_dim
    m.set_feature_stats(torch.zeros(d), torch.ones(d))
    modes = torch.randn(64, d) * 3.0
    good = modes[torch.randint(64, (8_000,))] + torch.randn(8_000, d) * 0.5
    m.set_memory(coarse_first(good[:3000], 1024, seed=0))
    fit_coarse_estimate(m, good[3000:6000], seed=0)
    assert float(m.refine_above) >= 1e30  # off until held-out patches set it
    # Good patches the memory was not fitted on play the held-out calibration images.
    with torch.inference_mode():
        held_out = m._nearest(good[6000:], m.search)
    fit_refine_bound(m, held_out, 1.0)
    assert float(m.refine_above) == pytest.approx(float(held_out.max()))
    return m, good


def _images(good: torch.Tensor, defect_patches: list[int]) -> torch.Tensor:
    """Embeddings (B, D, GRID, GRID) of good patches with a square defect of each given size
    (in patches) in one image each."""
    n = GRID * GRID
    out = []
    for i, size in enumerate(defect_patches):
        x = good[torch.randperm(len(good), generator=torch.Generator().manual_seed(i))[:n]]
        x = x.clone() + torch.randn(n, x.shape[1]) * 0.2
        side = int(size**0.5)
        grid = x.view(GRID, GRID, -1)
        grid[:side, :side] += torch.randn(x.shape[1]) * 1.5 + torch.randn(side, side, 1) * 0.3
        out.append(grid.permute(2, 0, 1))
    return torch.stack(out)


def _exact(m: torch.nn.Module, emb: torch.Tensor) -> torch.Tensor:
    x = emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1])
    return torch.cdist(x.double(), m.memory.double()).amin(1).float().view(emb.shape[0], -1)


def test_large_defect_is_mapped_exactly() -> None:
    m, good = _fitted_two_level()
    emb = _images(good, [0, 16, 144, 256])  # no defect up to one that fills the image
    exact = _exact(m, emb)
    with torch.inference_mode():
        got = m.patch_scores(emb).flatten(1)
    bound = float(m.refine_above)
    beyond = exact > bound
    defect = torch.zeros_like(beyond)
    for b, size in enumerate([0, 16, 144, 256]):
        side = int(size**0.5)
        defect[b].view(GRID, GRID)[:side, :side] = True
    assert defect.sum() > 3 * REFINE_K  # far more defect patches than refine_k per image
    assert bool(beyond[defect].all())
    torch.testing.assert_close(got[beyond], exact[beyond], rtol=1e-4, atol=1e-4)
    # Elsewhere the map never exceeds the bound, and the image score is exact.
    assert bool((got[~beyond] <= bound + 1e-4).all())
    torch.testing.assert_close(got.amax(1), exact.amax(1), rtol=1e-4, atol=1e-4)

    # Without the bound (refine_k per image only) the large defects were estimated.
    m.refine_above = torch.tensor(1e30)
    with torch.inference_mode():
        old = m.patch_scores(emb).flatten(1)
    assert not torch.allclose(old[defect], exact[defect], rtol=1e-3, atol=1e-3)


class _Search(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.model.patch_scores(emb)


def test_onnx_search_matches_torch_whatever_the_defect_size(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    m, good = _fitted_two_level()
    path = tmp_path / "search.onnx"
    with torch.inference_mode():
        torch.onnx.export(
            _Search(m),
            (_images(good, [16]),),
            str(path),
            input_names=["emb"],
            output_names=["patch"],
            dynamic_axes={"emb": {0: "batch"}, "patch": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    assert tensorrt_problems(path) == []
    assert "NonZero" in {n.op_type for n in onnx.load(str(path)).graph.node}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # Traced with one small defect; run with other sizes and batches: the number of
    # refined patches follows the data, it is not frozen at export.
    for sizes in ([256], [0, 144, 256], [4, 64]):
        emb = _images(good, sizes)
        (got,) = session.run(None, {"emb": emb.numpy()})
        with torch.inference_mode():
            want = m.patch_scores(emb)
        torch.testing.assert_close(torch.from_numpy(got), want, rtol=1e-4, atol=1e-4)
        beyond = _exact(m, emb) > float(m.refine_above)
        torch.testing.assert_close(
            torch.from_numpy(got).flatten(1)[beyond], _exact(m, emb)[beyond], rtol=1e-4, atol=1e-4
        )


def test_the_bound_is_off_at_zero_or_without_held_out_patches() -> None:
    m, good = _fitted_two_level()
    assert fit_refine_bound(m, good[:10, 0].abs(), 0.0)["refine_above"] >= 1e30
    assert fit_refine_bound(m, torch.empty(0), 1.0)["refine_above"] >= 1e30
    assert fit_refine_bound(m, torch.tensor([2.0, 4.0]), 1.5)["refine_above"] == 6.0
    with pytest.raises(ValueError, match="exact_beyond"):
        fit_refine_bound(m, torch.tensor([2.0]), -1.0)


def test_weights_without_the_bound_load_with_the_search_off() -> None:
    m, good = _fitted_two_level()
    state = {k: v for k, v in m.state_dict().items() if k != "refine_above"}
    m.load_state_dict(state, strict=True)
    assert float(m.refine_above) >= 1e30


def test_with_the_bound_off_the_graph_keeps_static_shapes(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    import onnx

    m, good = _fitted_two_level()
    m.refine_above = torch.tensor(1e30)
    path = tmp_path / "search.onnx"
    emb = _images(good, [16, 144])
    with torch.inference_mode():
        torch.onnx.export(_Search(m), (emb,), str(path), opset_version=17, dynamo=False)
        want = m.patch_scores(emb).flatten(1)
    assert "NonZero" not in {n.op_type for n in onnx.load(str(path)).graph.node}
    x = emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1])
    coarse = torch.cdist(x, m.memory[:1024]).amin(1).view(2, -1)
    for b in range(2):
        top = coarse[b].topk(REFINE_K).indices
        torch.testing.assert_close(want[b, top], _exact(m, emb)[b, top], rtol=1e-4, atol=1e-4)
