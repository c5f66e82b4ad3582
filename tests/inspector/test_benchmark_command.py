from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.cli import main


def test_benchmark_prints_and_writes_rows_per_backend_and_batch(
    exported_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    argv = ["benchmark", "--model", str(exported_bundle), "--batch", "1,2"]
    argv += ["--warmup", "1", "--iterations", "3", "--json", str(out)]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| torch (cpu, fp32) | 1 |" in table and "| onnxruntime (cpu, fp32) | 2 |" in table
    rows = json.loads(out.read_text())["rows"]
    assert {(r["backend"], r["batch"]) for r in rows} == {
        ("torch", 1),
        ("torch", 2),
        ("onnxruntime", 1),
        ("onnxruntime", 2),
    }
    for r in rows:
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] and r["images_per_s"] > 0
        assert r["model_ms_p50"] > 0


def test_export_command_writes_the_onnx_into_the_bundle(
    trained_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    bundle = Path(shutil.copytree(trained_bundle, tmp_path / "m"))
    assert main(["export", "--model", str(bundle), "--format", "onnx"]) == 0
    assert "max normalised map difference" in capsys.readouterr().out
    assert (bundle / "model.onnx").is_file()


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_inspect_runs_on_the_chosen_backend(
    exported_bundle: Path, sample_product: Path, tmp_path: Path, backend: str
) -> None:
    out = tmp_path / backend
    folder = str(sample_product / "test" / "hole")
    code = main(
        [
            "inspect",
            "--model",
            str(exported_bundle),
            "--out",
            str(out),
            "--backend",
            backend,
            folder,
        ]
    )
    assert code == 1  # every hole is a FAIL
    rows = json.loads((out / "results.json").read_text())["results"]
    assert rows and all(r["verdict"] == "FAIL" for r in rows)
