"""Fit functions, one per model family, in an explicit table.

A fit function takes an unfitted model, the preprocessed training batches and the settings,
fills the model's buffers or weights, and returns a JSON-able summary of what it did.
"""

from __future__ import annotations

from collections.abc import Callable

from training.fitters.cnn_cluster import fit_cnn_cluster

FITTERS: dict[str, Callable] = {"cnn-cluster": fit_cnn_cluster}
