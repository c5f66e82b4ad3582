"""Runtime backends, one per file, chosen from a small table."""

from __future__ import annotations

from inspector.backends.base import Backend
from inspector.backends.torch_backend import TorchBackend

BACKENDS: dict[str, type[Backend]] = {"torch": TorchBackend}

__all__ = ["BACKENDS", "Backend", "TorchBackend"]
