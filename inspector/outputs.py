"""Checks on where a command will write, made before it starts its work."""

from __future__ import annotations

import os
from pathlib import Path


def check_output_folder(out: Path) -> None:
    """Raise ValueError if ``out`` cannot become a folder this process writes into.

    Called before the work starts, so an --out that is a file or lies in a read-only place
    costs one line, not a training run or a folder of inspections.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder; choose another --out")
    parent = next((p for p in (out, *out.parents) if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{out}: cannot be written ({parent} is not a writable folder)")
