"""The registry of model families (no torch: the station's chooser and ``--help`` use it).

Every family is one ``FamilySpec`` (``inspector.models.<family>_config``) listed in
``_BUILT_IN`` below: its name, description, config dataclass, torch model and fitter. The
command line's options, the station's model chooser, the model factory, training and bundle
validation all read this one registry.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from inspector.models import (
    cae_config,
    cnn_cluster_config,
    feature_ae_config,
    feature_gan_config,
    fusion_config,
    ganomaly_config,
)
from inspector.models.spec import FamilySpec, RunSettings, SettingsError

DEFAULT_FAMILY = "cnn-cluster"

_BUILT_IN = (
    cnn_cluster_config.SPEC,
    feature_ae_config.SPEC,
    feature_gan_config.SPEC,
    ganomaly_config.SPEC,
    cae_config.SPEC,
    fusion_config.SPEC,
)
_SPECS: dict[str, FamilySpec] = {}
_DESCRIPTIONS: dict[str, str] = {}
# name -> description of every registered family, kept current by ``register_family``.
FAMILIES: Mapping[str, str] = MappingProxyType(_DESCRIPTIONS)

# Settings files for kinds of product (``training/presets/NAME.toml``; a test keeps the two
# lists equal). Each names its family, so choosing a preset chooses the family too.
PRESETS: dict[str, str] = {
    "feature-ae-surface": "feature-ae for flat textured surfaces (tiles, sheet, fabric) in "
    "about half the training time: only the default's far ring, which predicts each patch "
    "from patches 64 px away",
}


def register_family(spec: FamilySpec) -> FamilySpec:
    """Add a family; its name must be new."""
    if spec.name in _SPECS:
        raise ValueError(f"model family {spec.name!r} is registered twice")
    _SPECS[spec.name] = spec
    _DESCRIPTIONS[spec.name] = spec.description
    return spec


def unregister_family(name: str) -> None:
    """Remove a family (tests that register one of their own)."""
    _SPECS.pop(name, None)
    _DESCRIPTIONS.pop(name, None)


def family_names() -> list[str]:
    """Names of every registered family, sorted."""
    return sorted(_SPECS)


def list_families() -> list[tuple[str, str]]:
    """(name, description) of every registered family, default first: the station's
    model chooser lists these."""
    return sorted(_DESCRIPTIONS.items(), key=lambda item: (item[0] != DEFAULT_FAMILY, item[0]))


def family_spec(name: str) -> FamilySpec:
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; available: {', '.join(family_names())}"
        ) from None


def resolve(reference: str) -> Any:
    """The object a ``"module:attribute"`` reference names (imported on first use)."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def setting_names(name: str) -> set[str]:
    """Every setting a run of family ``name`` takes: the shared run settings and its own."""
    spec = family_spec(name)
    fields = (*dataclasses.fields(RunSettings), *dataclasses.fields(spec.config))
    return {f.name for f in fields}


def check_setting_names(name: str, keys: Iterable[str]) -> None:
    """Raise ``SettingsError`` naming the first key that family ``name`` has no setting for."""
    known = setting_names(name)
    for key in sorted(set(keys) - known):
        owners = [n for n in family_names() if key in setting_names(n)]
        hint = f" (a setting of {', '.join(owners)})" if owners else ""
        raise SettingsError(f"unknown setting {key!r} for model family {name!r}{hint}")


for _spec in _BUILT_IN:
    register_family(_spec)
