from __future__ import annotations

import json

import pytest

from training.settings import TrainSettings


def test_defaults_file_and_overrides(tmp_path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text('input_size = 320\nlayers = [1, 2]\nstrategy = "kmeans"\n')
    s = TrainSettings.from_file(toml)
    assert (s.input_size, s.layers, s.strategy) == (320, (1, 2), "kmeans")
    s2 = s.override(input_size=None, seed=7)  # None means "not given on the command line"
    assert s2.input_size == 320 and s2.seed == 7
    js = tmp_path / "s.json"
    js.write_text(json.dumps(s2.to_dict()))
    assert TrainSettings.from_file(js) == s2


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown training settings: colour"):
        TrainSettings().override(colour="red")


def test_aggregation_accepts_one_side_or_one_per_stage() -> None:
    assert TrainSettings().aggregation == (1, 3)
    assert TrainSettings().override(aggregation=5).aggregation == (5,)
    assert TrainSettings().override(aggregation=[3, 1]).aggregation == (3, 1)
    assert TrainSettings().override(aggregation=[3, 1]).to_dict()["aggregation"] == [3, 1]


def test_every_preset_file_is_listed_loads_and_changes_its_family() -> None:
    from inspector.families import FAMILIES, PRESETS
    from training.settings import PRESETS_DIR, preset_path

    assert sorted(p.stem for p in PRESETS_DIR.glob("*.toml")) == sorted(PRESETS)
    for name in PRESETS:
        s = TrainSettings.from_file(preset_path(name))
        assert s.model in FAMILIES
        assert s != TrainSettings.for_family(s.model), f"preset {name} changes nothing"
    surface = TrainSettings.from_preset("feature-ae-surface")
    assert (surface.model, surface.context, surface.relative_to_part) == ("feature-ae", (8,), False)
    assert surface.preset == "feature-ae-surface"


def test_an_unknown_preset_names_the_known_ones() -> None:
    from training.settings import preset_path

    with pytest.raises(ValueError, match="unknown preset 'tiles'; known presets: feature-ae-"):
        preset_path("tiles")


def test_a_settings_file_naming_a_preset_starts_from_it(tmp_path) -> None:
    # A preset model's own train_settings.json names its preset: training again from it
    # keeps the preset's values and its name; a file may also name just the preset.
    dumped = TrainSettings.from_preset("feature-ae-surface").override(seed=3)
    js = tmp_path / "train_settings.json"
    js.write_text(json.dumps(dumped.to_dict()))
    assert TrainSettings.from_file(js) == dumped
    short = tmp_path / "tiles.toml"
    short.write_text('preset = "feature-ae-surface"\nepochs = 5\n')
    s = TrainSettings.from_file(short)
    assert (s.model, s.context, s.relative_to_part, s.epochs) == ("feature-ae", (8,), False, 5)
    with pytest.raises(ValueError, match="preset feature-ae-surface is for model feature-ae"):
        TrainSettings.from_file(js, model="cnn-cluster")
