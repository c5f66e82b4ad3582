"""The station reads a CLI run's progress from its JSON-lines stderr protocol."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from gui.jobs import Done, Failed, Job, LineBuffer, Progress, cli_command, describe, parse_line

RECORDED = [
    '{"event": "progress", "stage": "features", "stage_index": 0, "stage_count": 4, '
    '"done": 12, "total": 40, "overall": 0.07, "eta_s": 31.5, "losses": {"loss": 0.12}}',
    "features:  45%|####5     | 18/40 [00:03<00:04, 5.1img/s]",  # free text, never parsed
    '{"event": "progress", "stage": "calibrate", "stage_index": 2, "stage_count": 4, '
    '"done": 3, "total": 3, "overall": 0.9, "eta_s": null}',
    '{"event": "done", "bundle": "/tmp/out"}',
    '{"event": "error", "message": "no images in /data"}',
]


def test_recorded_lines_become_typed_events() -> None:
    first, text, calibrate, done, error = (parse_line(line) for line in RECORDED)
    assert first == Progress("features", 0, 4, 12, 40, 0.07, 31.5, {"loss": 0.12})
    assert text is None
    assert calibrate == Progress("calibrate", 2, 4, 3, 3, 0.9, None, {})
    assert done == Done("/tmp/out") and error == Failed("no images in /data")
    assert describe(first) == "stage 1/4: features 12/40  ·  loss 0.12  ·  about 32 s left"
    assert describe(calibrate) == "stage 3/4: calibrate 3/3"


@pytest.mark.parametrize(
    "line",
    [
        "{not json",
        "[1, 2]",
        '{"event": "progress", "stage": "fit"}',  # no overall: not a progress line
        '{"event": "progress", "overall": NaN}',
        '{"event": "something else"}',
        "model abc saved to out",
    ],
)
def test_anything_else_is_free_text(line: str) -> None:
    assert parse_line(line) is None


def test_overall_is_clamped_and_a_negative_estimate_dropped() -> None:
    p = parse_line('{"event": "progress", "stage": "x", "overall": 1.7, "eta_s": -3}')
    assert isinstance(p, Progress) and p.overall == 1.0 and p.eta_s is None


def test_lines_split_across_reads_are_joined() -> None:
    buf = LineBuffer()
    assert buf.feed('{"event": "prog') == []
    assert buf.feed('ress", "overall": 0.5}\nfree\r\npartial') == [
        '{"event": "progress", "overall": 0.5}',
        "free",
    ]
    assert buf.flush() == ["partial"] and buf.flush() == []


def test_train_and_evaluate_ask_for_json_progress() -> None:
    assert Job(["train", "--data", "x"]).args[-2:] == ["--progress", "json"]
    assert Job(["evaluate", "--model", "m", "t"]).args[-2:] == ["--progress", "json"]
    assert "--progress" not in Job(["inspect", "--model", "m", "f"]).args


def test_cli_command_runs_this_python() -> None:
    program, args = cli_command("train", "--data", "x")
    assert program == sys.executable
    assert args[:3] == ["-m", "inspector.cli", "train"]


def fake_cli(tmp_path: Path, body: str) -> tuple[str, list[str]]:
    """A real process that speaks the protocol (stands in for ``inspector train``)."""
    script = tmp_path / "fake_inspector.py"
    script.write_text("import json, sys, time\n" + textwrap.dedent(body))
    return sys.executable, [str(script)]


def test_a_real_process_reports_progress_done_and_free_text(qtbot, tmp_path) -> None:
    program = fake_cli(
        tmp_path,
        """
        def say(**event):
            sys.stderr.write(json.dumps(event) + "\\n"); sys.stderr.flush()
        for i in range(5):
            say(event="progress", stage="features", stage_index=0, stage_count=2,
                done=i + 1, total=5, overall=(i + 1) / 10, eta_s=5 - i)
        sys.stderr.write("a warning from a library\\n")
        say(event="done", bundle="/models/new")
        print("model saved")
        sys.stderr.write('{"event": "progress", "overall": 1.0}')  # no newline at the end
        """,
    )
    job = Job(["train", "--data", "x"], cli=lambda *_a: program)
    seen: list[Progress] = []
    lines: list[str] = []
    codes: list[int] = []
    job.progress.connect(seen.append)
    job.output.connect(lines.append)
    job.finished.connect(codes.append)
    job.start()
    qtbot.waitUntil(lambda: bool(codes), timeout=20_000)
    assert codes == [0] and job.bundle == "/models/new"
    assert [p.done for p in seen[:5]] == [1, 2, 3, 4, 5] and seen[-1].overall == 1.0
    assert "a warning from a library" in lines and "model saved" in lines
    assert not any(line.startswith("{") for line in lines)


def test_retrain_panel_shows_one_bar_with_stage_and_estimate_and_cancel_resets_it(
    qtbot, tmp_path
) -> None:
    from gui.widgets.retrain_panel import BAR_STEPS, RetrainPanel

    program = fake_cli(
        tmp_path,
        """
        sys.stderr.write(json.dumps({"event": "progress", "stage": "fit", "stage_index": 1,
            "stage_count": 4, "done": 3, "total": 10, "overall": 0.4, "eta_s": 95}) + "\\n")
        sys.stderr.flush()
        time.sleep(60)
        """,
    )
    data = tmp_path / "good"
    data.mkdir()
    for i in range(2):
        (data / f"{i}.png").write_bytes(b"")  # counted by name; the fake run reads nothing
    panel = RetrainPanel(data, tmp_path / "candidates", cli=lambda *_a: program)
    qtbot.addWidget(panel)
    texts: list[str] = []
    panel.progress_text.connect(texts.append)
    panel.start_training()
    qtbot.waitUntil(lambda: panel.bar.value() == round(0.4 * BAR_STEPS), timeout=20_000)
    assert panel.stage.text() == "stage 2/4: fit 3/10  ·  about 2 min left"
    assert texts[-1].startswith("40 %")
    panel.cancel()
    qtbot.waitUntil(lambda: panel.train_button.isEnabled(), timeout=20_000)
    assert panel.stage.text() == "cancelled" and panel.bar.value() == 0
    assert not panel.promote_button.isEnabled()


def test_retrain_panel_names_the_error_a_run_reported(qtbot, tmp_path) -> None:
    from gui.widgets.retrain_panel import RetrainPanel

    program = fake_cli(
        tmp_path,
        """
        sys.stderr.write(json.dumps({"event": "error", "message": "no images in /x"}) + "\\n")
        sys.exit(2)
        """,
    )
    data = tmp_path / "good"
    data.mkdir()
    for i in range(2):
        (data / f"{i}.png").write_bytes(b"")
    panel = RetrainPanel(data, tmp_path / "candidates", cli=lambda *_a: program)
    qtbot.addWidget(panel)
    panel.start_training()
    qtbot.waitUntil(lambda: panel.train_button.isEnabled(), timeout=20_000)
    assert panel.stage.text() == "training failed (exit code 2): no images in /x"
    assert "error: no images in /x" in panel.log.toPlainText()
