"""Automatic configuration: what it searches, what it keeps, and the figures it judges by."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from training.autoconfig import applies, auto_configure, explicit_settings
from training.autoconfig.cnn_cluster import _choose, axis_values
from training.autoconfig.validation import CheckSet, Separation, separation, small_masks
from training.settings import TrainSettings
from training.settings_cli import add_setting_options, explicit_from_args, settings_from_args
from training.train import stage_plan


def _args(*argv: str) -> tuple[TrainSettings, frozenset[str]]:
    p = argparse.ArgumentParser()
    add_setting_options(p)
    args = p.parse_args(list(argv))
    settings = settings_from_args(args)
    return settings, explicit_from_args(args, settings)


def test_everything_is_searched_when_nothing_is_given() -> None:
    s, explicit = _args()
    assert s.run.auto == "on" and applies(s) and explicit == frozenset()
    axes = axis_values(s, explicit)
    assert set(axes) == {"normalize_intensity", "layers", "blur_sigma", "score_topk"}
    # The settings as given come first on every axis: they are the candidate to beat.
    assert axes["normalize_intensity"] == [True, False]
    assert axes["layers"] == [((2, 3), (1, 3)), ((3,), (3,))]
    assert axes["blur_sigma"][0] == s.config.blur_sigma
    assert axes["score_topk"][0] == s.config.score_topk


@pytest.mark.parametrize(
    ("argv", "kept"),
    [
        (["--set", "normalize_intensity=true"], "normalize_intensity"),  # given at its default
        (["--min-contrast", "0.2"], "normalize_intensity"),  # belongs to normalisation
        (["--no-normalize-intensity"], "normalize_intensity"),
        (["--aggregation", "3", "3"], "layers"),
        (["--backbone", "efficientnet_lite1"], "layers"),
        (["--blur-sigma", "4"], "blur_sigma"),
        (["--set", "score_topk=4"], "score_topk"),
    ],
)
def test_a_setting_given_explicitly_is_not_searched(argv: list[str], kept: str) -> None:
    s, explicit = _args(*argv)
    axes = axis_values(s, explicit)
    assert kept not in axes
    assert len(axes) == 3  # the others still are


def test_a_file_counts_as_explicit_where_it_differs_from_the_defaults(tmp_path) -> None:  # noqa: ANN001
    config = tmp_path / "mine.json"
    config.write_text('{"blur_sigma": 2.0, "score_topk": 4}')
    s, explicit = _args("--config", str(config))
    assert "blur_sigma" in explicit and "blur_sigma" not in axis_values(s, explicit)
    # The library's rule when no command line says: whatever differs from the defaults.
    assert explicit_settings(TrainSettings().override(layers=(3,), aggregation=(3,))) == {
        "layers",
        "aggregation",
    }


def test_auto_off_changes_nothing_and_records_nothing() -> None:
    s, _ = _args("--auto", "off")
    assert not applies(s)
    assert auto_configure(s, [], []) == (s, None)
    assert "autoconfig" not in [name for name, _ in stage_plan(s)]
    assert stage_plan(TrainSettings())[0][0] == "autoconfig"


def test_a_family_without_a_search_says_so() -> None:
    s = TrainSettings.for_family("cae")
    out, record = auto_configure(s, [], [])
    assert out is s and record == {"family": "cae", "note": "no automatic configuration for cae"}
    assert not applies(s)


def _fig(combined: float) -> Separation:
    return Separation(combined, combined, combined, 0.0, 0.0, combined)


def test_the_settings_as_given_win_unless_beaten_clearly() -> None:
    given, other = {"blur_sigma": 4.0}, {"blur_sigma": 8.0}
    assert _choose([(given, _fig(0.950)), (other, _fig(0.958))]) == given
    assert _choose([(given, _fig(0.950)), (other, _fig(0.965))]) == other


def test_separation_of_perfect_and_useless_maps() -> None:
    rng = np.random.default_rng(0)
    masks = np.zeros((4, 32, 32), bool)
    masks[:, 8:16, 8:16] = True
    good_maps = rng.random((6, 32, 32)).astype(np.float32) * 0.5
    bad_maps = np.where(masks, 1.0, 0.2).astype(np.float32)
    good = (good_maps.max(axis=(1, 2)), good_maps)
    steady = good[0] * 0.9  # under drifted light a robust model scores good parts alike
    perfect = separation(good, (bad_maps.max(axis=(1, 2)), bad_maps), steady, masks, 0.01)
    assert perfect == Separation(1.0, 1.0, 1.0, 0.0, 0.0, 1.0)
    # Maps that light up away from the defect: pixel AUROC below chance, image scores low.
    wrong = np.where(masks, 0.0, 0.3).astype(np.float32)
    useless = separation(good, (wrong.max(axis=(1, 2)), wrong), steady, masks, 0.01)
    assert useless.pixel_auroc < 0.5 and useless.detected == 0.0 and useless.combined < 0.6
    # A model that fails good parts when the light drifts loses a quarter of its figure.
    fragile = separation(good, (bad_maps.max(axis=(1, 2)), bad_maps), good[0] + 1, masks, 0.01)
    assert fragile.drift_false_reject_rate == 1.0 and fragile.combined == 0.75


def test_check_set_damages_every_good_image_and_keeps_masks_at_compare_size() -> None:
    rng = np.random.default_rng(1)
    goods = [(rng.random((256, 256, 3)) * 255).astype(np.uint8) for _ in range(3)]
    check = CheckSet.build(goods, goods, per_image=2, seed=0)
    assert len(check.goods) == len(check.drifted) == 3 and sorted(set(check.origins)) == [0, 1, 2]
    assert all(np.array_equal(a, b) for a, b in zip(check.goods, goods, strict=True))
    assert len(check.defective) == len(check.masks) == len(check.kinds) <= 6
    assert check.summary()["good_images"] == 3
    assert small_masks(check.masks).shape == (len(check.masks), 128, 128)


def test_validate_judges_any_way_of_scoring_images() -> None:
    from training.autoconfig.validation import validate
    from training.synthetic import smooth_noise

    shade = smooth_noise((128, 128), 3, np.random.default_rng(0)) * 120 + 60
    goods = [np.repeat(shade[:, :, None], 3, axis=2).astype(np.uint8)] * 6  # one product
    check = CheckSet.build(goods, goods, per_image=2, seed=0)
    reference = goods[0].astype(np.float32)

    def difference(images):  # noqa: ANN001, ANN202 - a family's scoring, in miniature
        maps = np.stack([np.abs(im.astype(np.float32) - reference).mean(axis=2) for im in images])
        return maps.reshape(len(maps), -1).max(axis=1), maps

    figures = validate(difference, check, 0.01)
    assert figures.image_auroc == 1.0 and figures.detected == 1.0
    assert figures.pixel_auroc > 0.95
    # A raw difference calls every drifted good part defective: the figure says so.
    assert figures.drift_false_reject_rate == 1.0 and figures.combined < 0.76
