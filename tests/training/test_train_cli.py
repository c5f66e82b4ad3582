"""Training a gradient-trained family through the real CLI: stop with SIGTERM, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from inspector.bundle import read_meta

pytestmark = pytest.mark.slow  # trains a model through the CLI


def test_sigterm_stops_cleanly_and_resume_finishes(sample_product: Path, tmp_path: Path) -> None:
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"base_channels": 4, "depth": 2, "latent_dim": 4}))
    out = tmp_path / "model"
    cmd = [
        sys.executable, "-m", "inspector.cli", "train", "--model", "cae", "--config",
        str(config), "--data", str(sample_product), "--out", str(out), "--input-size", "64",
        "--epochs", "400", "--patience", "0", "--export", "none", "--no-tensorboard",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    checkpoint = tmp_path / "model.training" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert checkpoint.is_file(), proc.communicate()[1].decode()[-2000:]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert "--resume" in err.decode()
    assert not (out / "bundle.json").exists()
    done = torch.load(checkpoint, weights_only=True)["epoch"]
    assert done >= 1

    at = cmd.index("400")
    finish = [*cmd[:at], str(done + 2), *cmd[at + 1 :]]
    result = subprocess.run([*finish, "--resume", "--quiet"], capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    fit = read_meta(out).training["fit"]
    assert fit["resumed_from_epoch"] == done and fit["epochs_run"] == done + 2
