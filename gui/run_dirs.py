"""Names for run folders that never reuse an existing one."""

from __future__ import annotations

import time
from pathlib import Path


def new_run_dir(parent: Path, *siblings: str) -> Path:
    """``parent/<YYYYmmdd_HHMMSS>``, with ``_2``, ``_3``... when that name is taken.

    Names are per second, so two runs started within one second would otherwise share (and
    overwrite) a folder. ``siblings`` are suffixes of companion folders a run also makes
    (e.g. ``_current``), which must be free too. The folder is not created.
    """
    stem = time.strftime("%Y%m%d_%H%M%S")
    n = 1
    while True:
        name = stem if n == 1 else f"{stem}_{n}"
        if not any((parent / (name + s)).exists() for s in ("", *siblings)):
            return parent / name
        n += 1
