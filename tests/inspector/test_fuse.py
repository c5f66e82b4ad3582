from __future__ import annotations

import torch

from inspector.backends.fuse import fold_batchnorm
from inspector.models import create_model


def test_folding_keeps_results_and_removes_batchnorm() -> None:
    torch.manual_seed(0)
    model = create_model("cnn-cluster", input_size=(64, 64)).eval()
    model.set_memory(torch.randn(300, model.feature_dim))
    folded, n = fold_batchnorm(model)
    assert n >= 20
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # a copy
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        a, b = model(x), folded(x)
    torch.testing.assert_close(b.anomaly_map, a.anomaly_map, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(b.pred_score, a.pred_score, rtol=1e-4, atol=1e-3)


def test_folding_keeps_the_feature_autoencoders_neighbour_convolution() -> None:
    # A convolution with its own forward (the masked neighbour one) must use the bias that
    # folding gives it, or the torch backend and the exported graph disagree.
    from inspector.models.feature_ae import FeatureAutoencoder

    torch.manual_seed(0)
    ae = FeatureAutoencoder(channels=8, hidden=(16,), latent=4, kernel=1, context=2).eval()
    for m in ae.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.bias.data.normal_()
    folded, n = fold_batchnorm(ae)
    assert n == 2
    x = torch.randn(2, 8, 12, 12)
    with torch.inference_mode():
        torch.testing.assert_close(folded(x), ae(x), rtol=1e-4, atol=1e-5)
