"""Explicit registry of model families and the one factory that builds them."""

from __future__ import annotations

from typing import Any

from inspector.models.base import AnomalyModel

_REGISTRY: dict[str, type[AnomalyModel]] = {}


def register_model(cls: type[AnomalyModel]) -> type[AnomalyModel]:
    """Class decorator adding a model family under its ``family`` name."""
    name = cls.family
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"model family {name!r} is registered twice")
    _REGISTRY[name] = cls
    return cls


def list_models() -> list[str]:
    """Names of every registered model family, sorted."""
    return sorted(_REGISTRY)


def model_class(name: str) -> type[AnomalyModel]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None


def create_model(name: str, **config: Any) -> AnomalyModel:
    """Build an (unfitted) model of family ``name`` from its config."""
    return model_class(name)(**config)
