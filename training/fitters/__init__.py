"""Model families as training sees them: each family's ``Fitter`` (build, fit, stages),
named by its registration (``inspector.families``).

A fit function takes the unfitted model and the run's ``FitContext``, fills the model's
buffers or trains its weights, and returns a JSON-able summary of what it did.
"""

from __future__ import annotations

from inspector.families import family_spec, resolve
from training.fitters.context import FitContext, Fitter


def fitter_of(family: str) -> Fitter:
    """The ``Fitter`` that family ``family`` registered."""
    fitter = resolve(family_spec(family).fitter)
    if not isinstance(fitter, Fitter):
        raise TypeError(f"{family_spec(family).fitter} is not a Fitter")
    return fitter


__all__ = ["FitContext", "Fitter", "fitter_of"]
