"""Start the operator station: ``inspector gui`` or ``inspector-station``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gui.settings import Workspace


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="model bundle folder (default: the last one used)")
    p.add_argument(
        "--source",
        help="camera index, video file, rtsp/http URL or image folder (default: last used; "
        "on a first start the sample test images, played as a camera)",
    )
    p.add_argument("--fps", type=float, help="frame rate for an image folder (default 2)")
    p.add_argument("--trigger", choices=["continuous", "triggered"], help="inspection mode")
    p.add_argument(
        "--save-images", choices=["fail", "all", "none"], help="which part images to keep"
    )
    p.add_argument("--output-dir", type=Path, help="where part images are saved")
    p.add_argument(
        "--workspace",
        type=Path,
        help="folder for settings, the inspection log, models and saved images "
        "(default $VISUAL_INSPECTOR_HOME or ~/.local/share/visual-inspector)",
    )
    p.add_argument(
        "--screenshot", type=Path, help=argparse.SUPPRESS
    )  # docs: render after --screenshot-after seconds, save a PNG and quit
    p.add_argument("--screenshot-after", type=float, default=20.0, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    workspace = Workspace(args.workspace)
    settings = workspace.load_settings().override(
        model=str(args.model) if args.model else None,
        source=args.source,
        fps=args.fps,
        trigger_mode=args.trigger,
        save_policy=args.save_images,
        output_dir=str(args.output_dir) if args.output_dir else None,
    )
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(workspace, settings)
    window.show()
    if args.screenshot:

        def shoot() -> None:
            window.grab().save(str(args.screenshot))
            window.close()

        QTimer.singleShot(int(args.screenshot_after * 1000), shoot)
    app.aboutToQuit.connect(window.shutdown)
    return int(app.exec())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inspector-station", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
