"""Nothing judged is lost: per-file failures stay per-file, a killed run keeps its rows and
resumes, and one writer per output folder. Real files, real ONNX Runtime, real kills."""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inspector.bundle import read_meta

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str | Path, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector.cli", *map(str, args)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        timeout=300,
        **kw,
    )


def csv_rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture()
def images(sample_product: Path, tmp_path: Path) -> Path:
    """Twelve test images of the sample product in one folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    src = sorted((sample_product / "test").rglob("*.png"))
    for n in range(12):
        shutil.copy(src[n % len(src)], folder / f"part_{n:02d}.png")
    return folder


def test_bad_names_never_stop_a_run(exported_bundle: Path, images: Path, tmp_path: Path) -> None:
    first = next(images.iterdir())
    bad = os.path.join(os.fsencode(images), b"share_\xff\xfe.png")
    shutil.copy(first, bad)
    long_name = images / ("L" * 250 + ".png")  # 254 bytes: "00013_<name>.npy" would not fit
    shutil.copy(first, long_name)
    os.mkfifo(images / "camera_pipe.png")  # a FIFO would block a reader forever
    out = tmp_path / "out"
    res = cli("inspect", images, "--model", exported_bundle, "--out", out, "--save-maps")
    assert res.returncode == 3, res.stderr.decode()
    rows = csv_rows(out)
    assert len(rows) == 15  # one row per input, none lost
    by_name = {os.path.basename(r["path"]): r for r in rows}
    assert by_name["share_\\xff\\xfe.png"]["verdict"] in ("PASS", "FAIL")  # shown escaped
    assert by_name[long_name.name]["verdict"] in ("PASS", "FAIL")
    assert Path(by_name[long_name.name]["anomaly_map"]).is_file()
    assert "not a regular file" in by_name["camera_pipe.png"]["error"]
    # The journal keeps the exact bytes of the name.
    journal = (out / "results.jsonl").read_text("ascii").splitlines()
    paths = [json.loads(line).get("path") for line in journal[1:]]
    assert os.fsdecode(bad) in paths
    assert (out / "report.html").is_file() and (out / "results.json").is_file()
    assert b"camera_pipe.png" in res.stderr and b"Traceback" not in res.stderr


def _limit_file_size() -> None:
    # Anomaly maps of these images are 262 KB; reports stay far below 200 KB. Python ignores
    # SIGXFSZ, so an oversized write fails with EFBIG as a full disk fails with ENOSPC.
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_outputs_that_cannot_be_written_cost_their_row_only(
    exported_bundle: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    res = cli(
        "inspect", images, "--model", exported_bundle, "--out", out, "--save-maps",
        preexec_fn=_limit_file_size,
    )  # fmt: skip
    assert res.returncode == 3, res.stderr.decode()
    rows = csv_rows(out)
    assert len(rows) == 12
    assert all(r["verdict"] == "ERROR" and "could not be written" in r["error"] for r in rows)
    assert all("OSError" in r["error"] for r in rows), rows[0]["error"]
    # No truncated map left under a final name, and no temporary file either.
    assert list((out / "maps").iterdir()) == []


def test_killed_run_keeps_what_it_judged_and_resume_finishes_it(
    exported_bundle: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ("inspect", images, "--model", exported_bundle, "--out", out, "--batch-size", "2")
    killed = cli(*args, env={"INSPECTOR_KILL_AT": "batch-6"})
    assert killed.returncode == -9  # SIGKILL, nothing ran after it
    before = csv_rows(out)
    assert len(before) == 6
    assert all(r["verdict"] in ("PASS", "FAIL") for r in before)
    assert not (out / "results.json").exists()
    done = cli(*args, "--resume")
    assert done.returncode in (0, 1), done.stderr.decode()
    after = csv_rows(out)
    names = [os.path.basename(r["path"]) for r in after]
    assert sorted(names) == sorted(p.name for p in images.iterdir())  # each input once
    assert after[:6] == before  # the rows judged before the kill are kept as they were
    journal = (out / "results.jsonl").read_text("ascii").splitlines()
    assert len(journal) == 1 + 12  # header + one line per part: nothing judged twice
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert summary["total"] == 12


def test_resume_with_another_model_is_refused(
    exported_bundle: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ("inspect", images, "--model", exported_bundle, "--out", out)
    assert cli(*args, env={"INSPECTOR_KILL_AT": "batch-8"}).returncode == -9
    other = read_meta(exported_bundle).thresholds.image * 0.9  # plausible, but not the run's
    res = cli(*args, "--resume", "--threshold", str(other))
    assert res.returncode == 2
    assert b"cannot resume" in res.stderr


def test_a_second_writer_is_refused_with_the_holder_named(
    exported_bundle: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from inspector.outlock import hold_output_lock; "
         "hold_output_lock(sys.argv[1]); print('held', flush=True); time.sleep(60)", str(out)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        res = cli("inspect", images, "--model", exported_bundle, "--out", out)
        assert res.returncode == 2
        lines = res.stderr.decode().strip().splitlines()
        assert len(lines) == 1
        assert f"pid {holder.pid}" in lines[0] and os.uname().nodename in lines[0]
        assert "started" in lines[0]
        assert not (out / "results.csv").exists()
        train = cli("train", "--data", images, "--out", out)
        assert train.returncode == 2 and f"pid {holder.pid}" in train.stderr.decode()
    finally:
        holder.kill()
        holder.wait()
    # The lock dies with its holder, even killed: the next run goes ahead.
    time.sleep(0.1)
    assert cli("inspect", images, "--model", exported_bundle, "--out", out).returncode in (0, 1)
