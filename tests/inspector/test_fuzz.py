"""Seeded fuzzing of ``inspector inspect``: mutated images, hostile names and mutated
bundle.json files. Whatever comes in: no traceback, an exit status in {0, 1, 2, 3}, one
row per input, and nothing read outside the bundle.

The counts are printed (``-s``) for the robustness table.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from inspector.cli import main

SEED = 20261207
N_IMAGES, N_NAMES, N_BUNDLES = 200, 60, 60
OK_STATUS = {0, 1, 2, 3}

_watch: list[str] = []  # folders no open() may touch while a fuzz run is active
_touched: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _watch and args and isinstance(args[0], str | bytes):
        path = os.path.realpath(os.fsdecode(args[0]))
        if any(path.startswith(w) for w in _watch):
            _touched.append(path)


sys.addaudithook(_audit)


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(7)
    if kind == 0:  # flip bytes anywhere (headers included)
        for _ in range(rng.randint(1, 20)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:  # truncate
        del b[rng.randrange(1, len(b)) :]
    elif kind == 2:  # zero a block
        start = rng.randrange(len(b))
        b[start : start + rng.randint(1, 4096)] = bytes(min(4096, len(b) - start))
    elif kind == 3:  # insert junk
        pos = rng.randrange(len(b))
        b[pos:pos] = rng.randbytes(rng.randint(1, 512))
    elif kind == 4:  # mutate the header only (sizes, colour type, bit depth)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(min(64, len(b)))] = rng.randrange(256)
    elif kind == 5:  # another format's magic in front
        b[:4] = rng.choice([b"\xff\xd8\xff\xe0", b"II*\x00", b"BM\x00\x00", b"GIF8", b"RIFF"])
    else:
        b = bytearray(rng.randbytes(rng.randint(0, 2048)))
    return bytes(b)


def _name(rng: random.Random, n: int) -> bytes:
    kinds = [
        lambda: b'=HYPERLINK("http://x","y")',
        lambda: b"part\xff\xfe" + rng.randbytes(3).replace(b"/", b"_").replace(b"\x00", b"_"),
        lambda: "d\u00e9faut \u2013 \u5de5\u4ef6 \U0001f600".encode(),
        lambda: b'comma, "quote" <b>html</b> &amp;',
        lambda: b"new\nline\rcr\ttab",
        lambda: b"L" * rng.randint(150, 240),
        lambda: b"-rf --help",
        lambda: b"@SUM(A1)",
    ]
    stem = rng.choice(kinds)()[:240].replace(b"/", b"_")  # a name, not a path
    return b"%03d_" % n + stem + rng.choice([b".png", b".PNG", b".jpg", b".tiff"])


def _mutate_json(rng: random.Random, doc: Any, outside: Path) -> Any:
    doc = copy.deepcopy(doc)
    values = [
        None, -1, 0, 1e308, math.nan, "", "x" * 10000, [], {}, True,
        "../outside/model.onnx", str(outside / "model.onnx"), "/etc/hostname",
        "hf-hub:someone/model", [0, 0], [10**9, 10**9], "cpu", {"file": "../../x"},
    ]  # fmt: skip
    for _ in range(rng.randint(1, 3)):
        node, path = doc, []
        while isinstance(node, dict | list) and node and rng.random() < 0.7:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            path.append(key)
            if not isinstance(node[key], dict | list):
                break
            node = node[key]
        parent: Any = doc
        for key in path[:-1]:
            parent = parent[key]
        if not path:
            continue
        if rng.random() < 0.25 and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = rng.choice(values)
    return doc


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _run(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(args)
    _, err = capfd.readouterr()
    return status, err


def test_fuzz_inspect(exported_bundle: Path, sample_product: Path, tmp_path: Path, capfd) -> None:
    rng = random.Random(SEED)
    seeds = sorted((sample_product / "test").rglob("*.png"))
    tally = {"tried": 0, "handled": 0, "crashes": 0, "rows_lost": 0, "bundles_refused": 0}

    # 1. Mutated images, one run.
    images = tmp_path / "images"
    images.mkdir()
    for n in range(N_IMAGES):
        data = rng.choice(seeds).read_bytes()
        if rng.random() < 0.3:  # also through the JPEG and TIFF decoders
            import cv2

            img = cv2.imread(str(rng.choice(seeds)))
            data = cv2.imencode(rng.choice([".jpg", ".tiff", ".bmp"]), img)[1].tobytes()
        (images / f"{n:03d}.png").write_bytes(_mutate_bytes(rng, data))
    # 2. Hostile names, one run.
    names = tmp_path / "names"
    names.mkdir()
    for n in range(N_NAMES):
        target = os.path.join(os.fsencode(names), _name(rng, n))
        shutil.copy(rng.choice(seeds), target)
    for folder, count in ((images, N_IMAGES), (names, N_NAMES)):
        out = tmp_path / f"out-{folder.name}"
        status, err = _run([
            "inspect", str(folder), "--model", str(exported_bundle), "--out", str(out),
            "--save-maps", "--strict-decode",
        ], capfd)  # fmt: skip
        tally["tried"] += count
        crashed = "Traceback" in err or status not in OK_STATUS
        tally["crashes"] += count if crashed else 0
        rows = _rows(out)
        tally["rows_lost"] += count - len(rows)
        tally["handled"] += len(rows) if not crashed else 0
        assert not crashed, err[-2000:]
        assert len(rows) == count

    # 3. Mutated bundle.json, one run each: refused (2) or judged, never a crash.
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(exported_bundle / "model.onnx", outside / "model.onnx")
    few = tmp_path / "few"
    few.mkdir()
    for s in seeds[:2]:
        shutil.copy(s, few / s.name)
    original = json.loads((exported_bundle / "bundle.json").read_text())
    _watch[:] = [os.path.realpath(outside)]
    try:
        for n in range(N_BUNDLES):
            bundle = tmp_path / f"bundle{n}"
            shutil.copytree(exported_bundle, bundle)
            doc = _mutate_json(rng, original, outside)
            (bundle / "bundle.json").write_text(json.dumps(doc))
            out = tmp_path / f"out-b{n}"
            status, err = _run(
                ["inspect", str(few), "--model", str(bundle), "--out", str(out)], capfd
            )
            tally["tried"] += 1
            tally["bundles_refused"] += status == 2
            crashed = "Traceback" in err or status not in OK_STATUS
            tally["crashes"] += crashed
            written = (out / "results.csv").exists()
            lost = status != 2 and (not written or len(_rows(out)) != 2)
            tally["rows_lost"] += lost
            tally["handled"] += not crashed and not lost
            assert not crashed, (doc, err[-2000:])
            assert not lost, (status, doc, err[-2000:])
            shutil.rmtree(bundle)
    finally:
        _watch.clear()
    assert _touched == [], f"read outside the bundle: {_touched[:3]}"
    print(f"\nfuzz (seed {SEED}): {tally}")
    assert tally["handled"] == tally["tried"] == N_IMAGES + N_NAMES + N_BUNDLES
