"""Model families: the torch models and their factory, ``create_model(name, **config)``.

The names below load on first use, so that the torch-free family specs kept beside each
model (``<family>_config.py``) import without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inspector.models.base import AnomalyModel, InferenceBatch
    from inspector.models.registry import create_model, list_models, model_class

_LAZY = {
    "AnomalyModel": "inspector.models.base",
    "InferenceBatch": "inspector.models.base",
    "create_model": "inspector.models.registry",
    "list_models": "inspector.models.registry",
    "model_class": "inspector.models.registry",
}

__all__ = ["AnomalyModel", "InferenceBatch", "create_model", "list_models", "model_class"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
