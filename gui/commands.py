"""``inspector gui``: the operator station from the main command line."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:
    from gui.app import add_arguments

    p = sub.add_parser("gui", help="start the operator station (camera, live heatmap, log)")
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        import PySide6  # noqa: F401
    except ModuleNotFoundError:
        raise ValueError("the station needs PySide6: pip install 'visual-inspector[gui]'") from None
    from gui.app import run

    return run(args)
