"""Recipe files: round trip, validation errors that name file and field, the index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from station.recipes import (
    AlarmLimits,
    CameraSettings,
    Recipe,
    RecipeBook,
    RecipeError,
    load_recipe,
    save_recipe,
)
from station.retention import RetentionPolicy


def write(folder: Path, name: str, data: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"schema": 1, "index": 1, "product": "plate", "model": "models/p"}
    data.update(changes)
    return data


def test_round_trip_and_book(tmp_path: Path) -> None:
    full = Recipe(
        3,
        "moulded part",
        "models/moulded",
        "abc123",
        0.8,
        CameraSettings(2500.0, 1.5),
        (10, 20, 100, 50),
        RetentionPolicy(5, 7.0, 2.0),
        AlarmLimits(False, 0.1, 50),
    )
    path = save_recipe(full, tmp_path / "recipes")
    assert path.name == "moulded_part.json" and not list(path.parent.glob("*.tmp"))
    assert load_recipe(path) == full
    save_recipe(Recipe(1, "plate", "/abs/plate"), tmp_path / "recipes")
    book = RecipeBook.load(tmp_path)
    assert [r.index for r in book] == [1, 3] and len(book) == 2
    assert book.get(3).product == "moulded part"
    assert book.get(3).model_path(tmp_path) == tmp_path / "models/moulded"
    assert book.get(1).model_path(tmp_path) == Path("/abs/plate")
    with pytest.raises(KeyError, match=r"no recipe with index 2 \(recipes: 1, 3\)"):
        book.get(2)
    defaults = load_recipe(write(tmp_path, "m.json", minimal()))
    assert defaults.save == RetentionPolicy() and defaults.image_threshold is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "the file must be a JSON object"),
        (minimal(schema=2), "field schema is 2; this station reads schema 1"),
        ({"schema": 1, "index": 1, "product": "p"}, "field model is missing"),
        (minimal(index=0), "field index must be 1..65535, got 0"),
        (minimal(index=True), "field index must be int, got True"),
        (minimal(product=" "), "field product is empty"),
        (minimal(colour="red"), "unknown field colour"),
        (minimal(camera={"exposure_us": -5}), "field camera.exposure_us must be positive"),
        (minimal(camera={"exposure": 5}), "unknown field camera.exposure"),
        (minimal(thresholds={"image": "high"}), "field thresholds.image must be int or float"),
        (minimal(roi=[1, 2, 3]), "field roi must be"),
        (minimal(save={"ok_every": -1}), "field save: ok_every must be 0 or more"),
        (minimal(save={"max_gb": 0}), "field save: max_gb must be positive or null"),
        (minimal(alarms={"drift": "yes"}), "field alarms.drift must be bool"),
    ],
)
def test_errors_name_the_file_and_the_field(tmp_path: Path, data: Any, message: str) -> None:
    path = write(tmp_path, "bad.json", data)
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_duplicate_index_names_both_files(tmp_path: Path) -> None:
    folder = tmp_path / "recipes"
    write(folder, "a.json", minimal())
    write(folder, "b.json", minimal(product="other"))
    with pytest.raises(RecipeError, match=r"b.json: field index 1 is already used by .*a.json"):
        RecipeBook.load(tmp_path)
