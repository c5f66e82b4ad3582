"""Run trained anomaly-detection models: load a bundle, inspect images, report.

The heavy runtime (torch) is imported only when ``Inspector`` is first used, so light users
of this package (image loading, reports, the GUI process) start fast and stay torch-free.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "BundleError",
    "DefectRegion",
    "ImageLoadError",
    "InspectionResult",
    "Inspector",
    "Verdict",
    "__version__",
]

_LAZY = {
    "BundleError": "inspector.bundle",
    "DefectRegion": "inspector.result",
    "ImageLoadError": "inspector.imageio",
    "InspectionResult": "inspector.result",
    "Inspector": "inspector.runtime",
    "Verdict": "inspector.result",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'inspector' has no attribute {name!r}")
