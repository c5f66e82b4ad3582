"""Fold batch-norm layers into the convolutions before them, for faster eager inference.

Exported graphs get this from ONNX Runtime / TensorRT; the torch backend does it itself.
It changes module structure (not results), so it runs on a copy after the bundle is loaded.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    mean, var = bn.running_mean, bn.running_var
    assert mean is not None and var is not None  # checked by the caller
    scale = bn.weight / torch.sqrt(var + bn.eps)
    conv.weight.data.mul_(scale.view(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(mean)
    conv.bias = nn.Parameter(bn.bias + (bias - mean) * scale)


def fold_batchnorm(model: M) -> tuple[M, int]:
    """A copy of ``model`` with every Conv2d -> BatchNorm pair (in registration order) merged.

    timm's ``BatchNormAct2d`` (norm, then dropout, then activation) becomes its activation;
    a plain ``BatchNorm2d`` becomes ``Identity``. Only eval-mode use is valid afterwards.

    Returns:
        The folded copy and the number of pairs folded.
    """
    model = copy.deepcopy(model).eval()
    folded = 0
    for parent in model.modules():
        names = list(parent._modules)
        for prev, name in zip(names, names[1:], strict=False):
            conv, bn = parent._modules[prev], parent._modules[name]
            if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
                continue
            if not bn.track_running_stats or bn.running_var is None or not bn.affine:
                continue
            if conv.out_channels != bn.num_features:
                continue
            with torch.no_grad():
                _fold(conv, bn)
            act = getattr(bn, "act", None)
            parent._modules[name] = act if isinstance(act, nn.Module) else nn.Identity()
            folded += 1
    return model, folded
