"""``inspector`` command line.

Commands come from an explicit list of modules, each with ``add_commands(subparsers)``. The
training commands are there only when the ``training`` package is installed, so a station that
installs just the runtime still gets a working ``inspector inspect``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = ("inspector.commands", "training.commands", "gui.commands")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspector",
        description="Learn normal appearance from good images; find and localise defects.",
    )
    from inspector import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # optional package not installed
            raise
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError) as exc:
        # User errors (bad paths, bad bundles, bad settings): one clear line, no traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
