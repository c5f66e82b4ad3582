from __future__ import annotations

import json

import pytest

from training.settings import TrainSettings


def test_defaults_file_and_overrides(tmp_path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text('input_size = 320\nlayers = [1, 2]\nstrategy = "kmeans"\n')
    s = TrainSettings.from_file(toml)
    assert (s.run.input_size, s.config.layers, s.config.strategy) == (320, (1, 2), "kmeans")
    s2 = s.override(input_size=None, seed=7)  # None means "not given on the command line"
    assert s2.run.input_size == 320 and s2.run.seed == 7
    js = tmp_path / "s.json"
    js.write_text(json.dumps(s2.to_dict()))
    assert TrainSettings.from_file(js) == s2


def test_unknown_setting_is_an_error_naming_key_and_family(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown setting 'colour' for model family 'cnn-cluster'"):
        TrainSettings().override(colour="red")
    # A setting of another family is named as such.
    with pytest.raises(ValueError, match="'strategy' for model family 'cae' .a setting of cnn-"):
        TrainSettings.for_family("cae", strategy="kmeans")
    toml = tmp_path / "s.toml"
    toml.write_text('model = "ganomaly"\ndenoise = false\n')
    with pytest.raises(ValueError, match=r"s\.toml: unknown setting 'denoise' for model fam"):
        TrainSettings.from_file(toml)


def test_values_are_typed_and_checked_by_their_field() -> None:
    with pytest.raises(ValueError, match="'epochs' of run must be int, got 'many'"):
        TrainSettings().override(epochs="many")
    with pytest.raises(ValueError, match="'strategy' of model family 'cnn-cluster': 'best'"):
        TrainSettings().override(strategy="best")
    with pytest.raises(ValueError, match="'input_size' of run must be at least 8"):
        TrainSettings().override(input_size=4)
    typed = TrainSettings().override(epochs="5", normalize_intensity="false", layers="1,2")
    assert (typed.run.epochs, typed.run.normalize_intensity) == (5, False)
    assert typed.config.layers == (1, 2)


def test_aggregation_accepts_one_side_or_one_per_stage() -> None:
    assert TrainSettings().config.aggregation == (1, 3)
    assert TrainSettings().override(aggregation=5).config.aggregation == (5,)
    assert TrainSettings().override(aggregation=[3, 1]).config.aggregation == (3, 1)
    assert TrainSettings().override(aggregation=[3, 1]).to_dict()["aggregation"] == [3, 1]


def test_every_family_has_defaults_of_its_own() -> None:
    from inspector.families import family_names

    for name in family_names():
        s = TrainSettings.for_family(name)
        assert TrainSettings.from_dict(s.to_dict()) == s
    assert TrainSettings.for_family("cae").run.epochs == 60
    assert TrainSettings.for_family("feature-ae").config.context == (2, 8)
    assert TrainSettings.for_family("feature-gan").config.hidden == 1024


def test_every_preset_file_is_listed_loads_and_changes_its_family() -> None:
    from inspector.families import FAMILIES, PRESETS
    from training.settings import PRESETS_DIR, preset_path

    assert sorted(p.stem for p in PRESETS_DIR.glob("*.toml")) == sorted(PRESETS)
    for name in PRESETS:
        s = TrainSettings.from_file(preset_path(name))
        assert s.model in FAMILIES
        assert s != TrainSettings.for_family(s.model), f"preset {name} changes nothing"
    surface = TrainSettings.from_preset("feature-ae-surface")
    assert (surface.model, surface.config.context, surface.config.relative_to_part) == (
        "feature-ae",
        (8,),
        False,
    )
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
    assert (s.model, s.config.context, s.config.relative_to_part, s.run.epochs) == (
        "feature-ae",
        (8,),
        False,
        5,
    )
    with pytest.raises(ValueError, match="preset feature-ae-surface is for model feature-ae"):
        TrainSettings.from_file(js, model="cnn-cluster")
