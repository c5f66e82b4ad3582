"""``inspector train``'s settings options, derived from the family registry (no torch).

Every shared run setting and every family's own setting is an option named after its field
(``--memory-fraction``); ``--set KEY=VALUE`` reaches any of them too. Values are typed by the
chosen family's field, so one option serves families whose fields differ in type. Defaults,
then the settings file or preset, then these options: the last given wins.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any

from inspector.families import (
    DEFAULT_FAMILY,
    PRESETS,
    family_names,
    family_spec,
    list_families,
)
from inspector.models.spec import RunSettings, SettingsError
from training.autoconfig import explicit_settings
from training.settings import TrainSettings

DEST = "setting__"  # prefix of the parsed options' attributes, apart from the others


def _option(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _add(group: Any, f: dataclasses.Field, kinds: list[Any], help: str) -> None:
    """One option for field ``f``; ``kinds`` are its types in the families that have it."""
    kw: dict[str, Any] = {"dest": DEST + f.name, "default": None, "help": help}
    if all(k is bool for k in kinds):
        kw["action"] = argparse.BooleanOptionalAction
    else:
        if any(typing.get_origin(k) is tuple for k in kinds):
            kw["nargs"] = "+"
        kw["metavar"] = f.name.upper()
        if f.metadata.get("choices"):
            kw["choices"] = list(f.metadata["choices"])
    group.add_argument(_option(f), **kw)


def add_setting_options(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--config``/``--preset``, ``--set`` and one option per setting."""
    p.add_argument(
        "--model",
        choices=family_names(),
        help="model family: " + "; ".join(f"{name}: {what}" for name, what in list_families()),
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="settings file (.toml or .json)")
    source.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="settings for a kind of product (sets the family too): "
        + "; ".join(f"{name}: {what}" for name, what in PRESETS.items()),
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any setting of the run or of the chosen family, e.g. --set context=2,8",
    )
    hints = typing.get_type_hints(RunSettings)
    trained = ", ".join(n for n in family_names() if family_spec(n).trained)
    g = p.add_argument_group(
        "run settings",
        f"Every family's; those of the gradient loop (epochs to warm-up) matter to the trained "
        f"families only: {trained}.",
    )
    for f in dataclasses.fields(RunSettings):
        tuned = [
            f"{n} {family_spec(n).run_defaults[f.name]}"
            for n in family_names()
            if f.name in family_spec(n).run_defaults
        ]
        default = f"default {_shown(f.default)}" + "".join(f", {t}" for t in tuned)
        _add(g, f, [hints[f.name]], f"{f.metadata['help']} ({default})")
    # A field several families share gets one option; its help names each family's default.
    fields: dict[str, list[tuple[str, dataclasses.Field, Any]]] = {}
    for name in family_names():
        config = family_spec(name).config
        types = typing.get_type_hints(config)
        for f in dataclasses.fields(config):
            fields.setdefault(f.name, []).append((name, f, types[f.name]))
    g = p.add_argument_group("model settings (an error for a family without them)")
    for owners in fields.values():
        helps = {f.metadata["help"] for _, f, _ in owners}
        shown = {_shown(f.default) for _, f, _ in owners}
        defaults = (
            shown.pop()
            if len(shown) == 1
            else ", ".join(f"{n} {_shown(f.default)}" for n, f, _ in owners)
        )
        if len(helps) == 1:
            text = f"{helps.pop()} (default: {defaults})"
        else:
            text = "; ".join(f"{n}: {f.metadata['help']}" for n, f, _ in owners)
            text += f" (default: {defaults})"
        _add(g, owners[0][1], [kind for _, _, kind in owners], text)


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "none"
    return repr(value) if value == "" else str(value)


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    """Defaults of the family, then the settings file or preset, then the options."""
    if args.preset:
        base = TrainSettings.from_preset(args.preset)
        if args.model and args.model != base.model:
            raise SettingsError(
                f"preset {args.preset} is for --model {base.model}, not {args.model}"
            )
    elif args.config:
        base = TrainSettings.from_file(args.config, model=args.model)
    else:
        base = TrainSettings.for_family(args.model or DEFAULT_FAMILY)
    return base.override(**_given(args))


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the options and ``--set`` name, by field name."""
    given = {
        k[len(DEST) :]: v for k, v in vars(args).items() if k.startswith(DEST) and v is not None
    }
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"--set {item!r}: expected KEY=VALUE")
        given[key.strip().replace("-", "_")] = value
    return given


def explicit_from_args(args: argparse.Namespace, settings: TrainSettings) -> frozenset[str]:
    """Settings the user chose, which automatic configuration keeps: every option and
    ``--set`` given (even at its default), and what a file or preset changed."""
    return explicit_settings(settings) | frozenset(_given(args))
