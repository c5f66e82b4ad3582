"""The one factory of models, over the family registry (``inspector.families``)."""

from __future__ import annotations

from typing import Any

from inspector.families import family_names, family_spec, resolve
from inspector.models.base import AnomalyModel


def list_models() -> list[str]:
    """Names of every registered model family, sorted."""
    return family_names()


def model_class(name: str) -> type[AnomalyModel]:
    """The torch model class of family ``name`` (ValueError naming the known ones)."""
    cls = resolve(family_spec(name).model)
    if getattr(cls, "family", None) != name:
        raise ValueError(f"{family_spec(name).model} is not the model of family {name!r}")
    return cls


def create_model(name: str, **config: Any) -> AnomalyModel:
    """Build an (unfitted) model of family ``name`` from its config."""
    return model_class(name)(**config)
