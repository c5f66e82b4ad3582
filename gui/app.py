"""Start the operator station: ``inspector gui`` or ``inspector-station``."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from gui.settings import Workspace

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from gui.main_window import MainWindow


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="model bundle folder (default: the last one used)")
    p.add_argument(
        "--source",
        help="camera index, video file, rtsp/http URL or image folder (default: last used; "
        "on a first start the sample test images, played as a camera)",
    )
    p.add_argument(
        "--fps",
        type=float,
        help="frame rate for an image folder (default 2, remembered); given here it also "
        "paces a video file for this run, which otherwise plays at its own rate",
    )
    p.add_argument("--trigger", choices=["continuous", "triggered"], help="inspection mode")
    p.add_argument(
        "--save-images", choices=["fail", "all", "none"], help="which part images to keep"
    )
    p.add_argument("--output-dir", type=Path, help="where part images are saved")
    p.add_argument(
        "--operator-view",
        action="store_const",
        const=True,
        help="start full screen in the operator view (F11 toggles it, remembered)",
    )
    p.add_argument(
        "--workspace",
        type=Path,
        help="folder for settings, the inspection log, models and saved images "
        "(default $VISUAL_INSPECTOR_HOME or ~/.local/share/visual-inspector)",
    )
    p.add_argument(
        "--plc",
        help="link to a line's PLC: opcua[:[HOST:]PORT] (host an OPC UA server), "
        "opcua-client:URL[@NODES.json] (the PLC's server), modbus[:[HOST:]PORT] (Modbus TCP "
        "server); the PLC then triggers parts and selects recipes (docs/line.md)",
    )
    p.add_argument(
        "--recipes",
        type=Path,
        help="recipe folder for --plc (default: the workspace's recipes/ folder)",
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
        operator_view=args.operator_view,
    )
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(workspace, settings, video_fps=args.fps)
    window.show()
    if args.screenshot:
        # The window as context: the timer dies with it instead of keeping it alive.
        shoot = partial(_screenshot, window, args.screenshot)
        QTimer.singleShot(int(args.screenshot_after * 1000), window, shoot)
    if args.plc:
        from gui.line_link import attach_line

        try:
            link = attach_line(window, args.plc, args.recipes)
        except (ValueError, OSError, TimeoutError) as exc:  # bad --plc or recipe, port taken
            print(f"error: {exc}", file=sys.stderr)
            destroy_window(window)
            return 2
        # The link stops before the window: no PLC trigger reaches a stopping station.
        app.aboutToQuit.connect(link.stop)
    app.aboutToQuit.connect(window.shutdown)
    close_on_signals(window)
    code = int(app.exec())
    app.aboutToQuit.disconnect(window.shutdown)
    destroy_window(window)
    del window
    gc.collect()
    return code


def close_on_signals(window: QWidget) -> None:
    """SIGINT (Ctrl-C) and SIGTERM (a service manager) close the station as its window does:
    settings saved, workers joined, log closed, exit status 0."""
    from PySide6.QtCore import QTimer

    def close(_signum: int, _frame: object) -> None:
        window.close()  # Python runs handlers on the main thread, the Qt one

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, close)
    # Python only runs a handler between bytecodes; while Qt waits for events in C++ none
    # run, so a timer hands control back to Python a few times a second.
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(200)


def _screenshot(window: QWidget, path: Path) -> None:
    window.grab().save(str(path))
    window.close()


def destroy_window(window: MainWindow) -> None:
    """Stop the window's threads and delete it while the QApplication still exists.

    Left alive past ``app.exec()`` (the aboutToQuit connection and the screenshot timer held
    it), the window was deleted by PySide's atexit clean-up after Python finalisation had
    begun, with its worker QThreads and their signal receivers freed in whatever order the
    garbage collector chose: 30-40 % of runs ended in a segfault ("shared QObject was
    deleted directly") or a fatal error in the garbage collector.
    """
    from PySide6.QtCore import QCoreApplication, QEvent

    window.shutdown()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inspector-station", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
