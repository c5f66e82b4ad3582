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
import traceback

from inspector.commands import EXIT_INTERNAL, EXIT_USAGE

COMMAND_MODULES = ("inspector.commands", "inspector.signing", "training.commands", "gui.commands")


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
    except (OSError, ValueError, RuntimeError) as exc:
        # What a user or the machine got wrong (bad paths, bad bundles, bad settings, an
        # unwritable output folder, no GPU, TensorRT missing): one clear line, and status 2,
        # never 1, which scripts on a line read as "some part FAILed".
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:
        # A bug: the traceback is what a report needs, and the status says it was not a FAIL.
        traceback.print_exc()
        print("internal error: please report the traceback above", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
