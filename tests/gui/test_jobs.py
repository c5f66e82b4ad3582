from __future__ import annotations

from gui.jobs import cli_command, parse_progress


def test_parse_progress_takes_the_last_bar_update() -> None:
    chunk = (
        "features:  10%|#         | 4/40 [00:01<00:09, 4.0img/s]\r"
        "features:  45%|####5     | 18/40 [00:03<00:04, 5.1img/s]"
    )
    assert parse_progress(chunk) == ("features", 45)
    assert parse_progress("coreset: 100%|##########| 500/500") == ("coreset", 100)
    assert parse_progress("model abc saved to out") is None


def test_cli_command_runs_this_python() -> None:
    import sys

    program, args = cli_command("train", "--data", "x")
    assert program == sys.executable
    assert args[:3] == ["-m", "inspector.cli", "train"]
