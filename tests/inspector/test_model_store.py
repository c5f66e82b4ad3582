"""Tests for inspector.model_store: promoted model versions and rollback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from inspector.bundle import (
    WEIGHTS_FILE,
    BundleError,
    BundleMeta,
    ScoreStats,
    Thresholds,
    read_meta,
    save_bundle,
    update_thresholds,
)
from inspector.model_store import HISTORY_FILE, ModelStore, ModelStoreError
from inspector.preprocess import Preprocessing

ROOT = Path(__file__).resolve().parents[2]
MakeBundle = Callable[[str], Path]


@pytest.fixture()
def make_bundle(tmp_path: Path) -> MakeBundle:
    """Writes a real (tiny) bundle with ``save_bundle``; each name gives another model id."""
    import torch

    def make(name: str) -> Path:
        torch.manual_seed(zlib.crc32(name.encode()))
        meta = BundleMeta(
            family="cnn-cluster",
            model_config={"tag": name},
            preprocessing=Preprocessing(input_size=(64, 64)),
            thresholds=Thresholds(image=1.0, pixel=0.5),
            score_stats=ScoreStats(good_median=0.2, good_max=0.8, good_count=10),
        )
        out = tmp_path / "made" / name
        save_bundle(out, torch.nn.Linear(4, 2), meta)
        return out

    return make


@pytest.fixture()
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "store")


def _versions_on_disk(store: ModelStore) -> list[str]:
    return sorted(p.name for p in (store.root / "versions").iterdir())


def test_empty_store(store: ModelStore) -> None:
    assert store.current() is None
    assert store.versions() == []
    with pytest.raises(ModelStoreError, match="no model has been promoted"):
        store.rollback()


def test_promote_copies_the_bundle_in(store: ModelStore, make_bundle: MakeBundle) -> None:
    source = make_bundle("a")
    v = store.promote(source, note="first model")
    assert (v.number, v.note, v.source) == (1, "first model", str(source.resolve()))
    assert v.model_id == read_meta(source).model_id == read_meta(v.path).model_id
    assert v.path.parent == store.root / "versions" and v.path.name == f"v0001-{v.model_id}"
    assert (v.path / WEIGHTS_FILE).read_bytes() == (source / WEIGHTS_FILE).read_bytes()
    assert datetime.fromisoformat(v.promoted_at).tzinfo is not None
    assert store.current() == v
    shutil.rmtree(source)  # the store does not depend on where a bundle came from
    assert read_meta(store.versions()[0].path).model_id == v.model_id


def test_versions_newest_first_and_stepwise_rollback(
    store: ModelStore, make_bundle: MakeBundle
) -> None:
    promoted = [store.promote(make_bundle(name)) for name in "abc"]
    assert [v.number for v in store.versions()] == [3, 2, 1]
    assert store.versions() == promoted[::-1]
    assert store.rollback().number == 2
    assert store.rollback().number == 1
    assert store.current() == promoted[0]
    with pytest.raises(ModelStoreError, match="oldest"):
        store.rollback()
    assert store.activate(3) == promoted[2]
    assert store.rollback(1).number == 1
    with pytest.raises(ModelStoreError, match="not older"):
        store.rollback(3)
    with pytest.raises(ModelStoreError, match=r"no version 9 \(have: v1, v2, v3\)"):
        store.activate(9)
    assert store.current() == promoted[0]


def test_history_persists_with_an_event_log(store: ModelStore, make_bundle: MakeBundle) -> None:
    store.promote(make_bundle("a"))
    store.promote(make_bundle("b"), note="retrained after new lighting")
    store.rollback()
    store.activate(2)
    store.activate(2)  # already current: not an event
    again = ModelStore(store.root)
    assert again.current() == store.current() and again.versions() == store.versions()
    events = [(e["action"], e["version"], e["previous"]) for e in again.events()]
    assert events == [
        ("promote", 1, None),
        ("promote", 2, 1),
        ("rollback", 1, 2),
        ("activate", 2, 1),
    ]
    data = json.loads((store.root / HISTORY_FILE).read_text())
    assert data["current"] == 2 and len(data["versions"]) == 2
    assert sorted(p.name for p in store.root.iterdir()) == [HISTORY_FILE, "versions"]


def test_same_model_with_moved_threshold_is_a_new_version(
    store: ModelStore, make_bundle: MakeBundle
) -> None:
    source = make_bundle("a")
    v1 = store.promote(source)
    update_thresholds(source, image=1.5)
    v2 = store.promote(source, note="threshold 1.5")
    assert v1.model_id == v2.model_id and v1.path != v2.path
    assert read_meta(v1.path).thresholds.image == 1.0
    assert read_meta(v2.path).thresholds.image == 1.5


def _no_meta(b: Path) -> None:
    (b / "bundle.json").unlink()


def _bad_json(b: Path) -> None:
    (b / "bundle.json").write_text("{ half a file")


def _no_weights(b: Path) -> None:
    (b / WEIGHTS_FILE).unlink()


def _garbage_weights(b: Path) -> None:
    (b / WEIGHTS_FILE).write_bytes(b"\0" * 100)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_no_meta, "not a model bundle"),
        (_bad_json, "corrupt JSON"),
        (_no_weights, "missing"),
        (_garbage_weights, "does not match the hash"),
    ],
)
def test_bad_bundle_is_refused_and_nothing_changes(
    store: ModelStore, make_bundle: MakeBundle, damage: Callable[[Path], None], message: str
) -> None:
    good = store.promote(make_bundle("good"))
    bad = make_bundle("bad")
    damage(bad)
    with pytest.raises(BundleError, match=message) as info:
        store.promote(bad)
    assert str(bad) in str(info.value)  # names the source, not the store's temporary copy
    assert store.versions() == [good] and store.current() == good
    assert _versions_on_disk(store) == [good.path.name]


def test_failed_copy_leaves_no_trace(
    store: ModelStore, make_bundle: MakeBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = store.promote(make_bundle("good"))
    real_copy = shutil.copy2

    def failing_copy(src: os.PathLike[str], dst: str) -> object:
        if os.fspath(src).endswith(WEIGHTS_FILE):
            raise OSError(28, "No space left on device")
        return real_copy(src, dst)

    monkeypatch.setattr(shutil, "copy2", failing_copy)
    with pytest.raises(shutil.Error, match="No space left"):
        store.promote(make_bundle("other"))
    assert _versions_on_disk(store) == [good.path.name]
    assert store.current() == good and len(store.events()) == 1


def test_unlisted_directory_keeps_its_number(store: ModelStore, make_bundle: MakeBundle) -> None:
    # What a crash between the rename and the history update leaves behind.
    (store.root / "versions" / "v0004-deadbeef").mkdir()
    assert store.promote(make_bundle("a")).number == 5


def test_damaged_version_is_not_rolled_back_to(store: ModelStore, make_bundle: MakeBundle) -> None:
    v1 = store.promote(make_bundle("a"))
    store.promote(make_bundle("b"))
    (v1.path / WEIGHTS_FILE).write_bytes(b"truncated")
    with pytest.raises(BundleError, match="does not match the hash"):
        store.rollback()
    current = store.current()
    assert current is not None and current.number == 2


def test_concurrent_promotions_get_distinct_numbers(
    store: ModelStore, make_bundle: MakeBundle
) -> None:
    sources = [make_bundle(name) for name in "abcd"]
    threads = [threading.Thread(target=store.promote, args=(s,)) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(v.number for v in store.versions()) == [1, 2, 3, 4]
    assert len(_versions_on_disk(store)) == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "unreadable JSON"),
        ("[]", "not a model history file"),
        ('{"format": "something-else"}', "not a model history file"),
        (
            '{"format": "visual-inspector-model-history", "schema_version": 1, "current": 3,'
            ' "versions": [], "events": []}',
            "current version 3 is not listed",
        ),
        (
            '{"format": "visual-inspector-model-history", "schema_version": 1, "current": null,'
            ' "versions": [{"number": 1}], "events": []}',
            "malformed version entry",
        ),
        (
            '{"format": "visual-inspector-model-history", "schema_version": 1, "current": 1,'
            ' "versions": [{"number": 1, "model_id": "x", "dir": "../../etc", "promoted_at": "",'
            ' "note": "", "source": ""}], "events": []}',
            "not a plain name",
        ),
        (
            '{"format": "visual-inspector-model-history", "schema_version": 99, "current": null,'
            ' "versions": [], "events": []}',
            "newer than this software",
        ),
    ],
)
def test_bad_history_file_names_itself(tmp_path: Path, content: str, message: str) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / HISTORY_FILE).write_text(content)
    with pytest.raises(ModelStoreError, match=message) as info:
        ModelStore(root)
    assert str(root / HISTORY_FILE) in str(info.value)


def test_history_corrupted_after_start_is_reported(
    store: ModelStore, make_bundle: MakeBundle
) -> None:
    store.promote(make_bundle("a"))
    (store.root / HISTORY_FILE).write_bytes(b"\xff\xfe garbage")
    with pytest.raises(ModelStoreError, match="corrupt model history"):
        store.current()


def test_promoting_a_directory_that_holds_the_store_is_refused(
    tmp_path: Path, make_bundle: MakeBundle
) -> None:
    source = make_bundle("a")
    with pytest.raises(ModelStoreError, match="holding the store"):
        ModelStore(source / "store").promote(source)


def test_promoted_trained_bundle_loads_from_the_store(
    store: ModelStore, trained_bundle: Path
) -> None:
    from inspector.bundle import load_bundle

    v = store.promote(trained_bundle, note="from training")
    model, meta = load_bundle(v.path)
    assert meta.model_id == v.model_id == read_meta(trained_bundle).model_id
    assert not model.training


def test_import_does_not_load_torch() -> None:
    code = "import sys, inspector.model_store; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_promoted_by_and_bundle_summary_are_kept(
    store: ModelStore, make_bundle: MakeBundle
) -> None:
    v = store.promote(make_bundle("a"), promoted_by="engineer")
    assert v.promoted_by == "engineer"
    assert (v.summary.family, v.summary.threshold) == ("cnn-cluster", 1.0)
    assert v.summary.image_auroc is None  # never evaluated
    again = ModelStore(store.root).current()
    assert again is not None and again.promoted_by == "engineer" and again.summary == v.summary
    assert store.promote(make_bundle("b")).promoted_by == "operator"


def test_a_store_written_before_promoted_by_still_loads(
    store: ModelStore, make_bundle: MakeBundle
) -> None:
    store.promote(make_bundle("a"), note="old")
    data = json.loads((store.root / HISTORY_FILE).read_text())
    for entry in data["versions"]:
        del entry["promoted_by"]
    (store.root / HISTORY_FILE).write_text(json.dumps(data))
    old = ModelStore(store.root).current()
    assert old is not None and (old.note, old.promoted_by) == ("old", "operator")
    assert old.summary.family == "cnn-cluster"  # read from the version's own bundle.json
    assert ModelStore(store.root).promote(make_bundle("b"), promoted_by="admin").number == 2


def test_a_wrong_promoted_by_names_the_field(store: ModelStore, make_bundle: MakeBundle) -> None:
    store.promote(make_bundle("a"))
    data = json.loads((store.root / HISTORY_FILE).read_text())
    data["versions"][0]["promoted_by"] = 7
    (store.root / HISTORY_FILE).write_text(json.dumps(data))
    with pytest.raises(ModelStoreError, match="version 1: 'promoted_by' must be a str"):
        ModelStore(store.root)


def test_a_version_with_an_unreadable_bundle_is_still_listed(
    store: ModelStore, make_bundle: MakeBundle
) -> None:
    v = store.promote(make_bundle("a"))
    (v.path / "bundle.json").write_text("{")
    listed = store.versions()
    assert [x.number for x in listed] == [1] and listed[0].summary.family == ""
